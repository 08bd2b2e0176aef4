//! CPU time and memory of a worker's whole process tree, from /proc.
//!
//! An agent CLI is a node process that starts shells, compilers and test
//! runners: its own numbers say little. The tree is walked from the worker
//! down through each thread's `children` file, which costs a few reads per
//! process instead of a scan of all of /proc.

use std::fs;

/// What a sample of the tree found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TreeUsage {
    /// User and system time of the live processes, plus what they collected
    /// from children they already reaped.
    pub cpu_ms: u64,
    pub rss_kib: u64,
    pub processes: u32,
}

/// Reads process trees; holds the kernel's units.
#[derive(Debug, Clone, Copy)]
pub struct ProcessTree {
    ticks_per_sec: u64,
    page_kib: u64,
}

impl Default for ProcessTree {
    fn default() -> Self {
        use nix::unistd::{SysconfVar, sysconf};
        let ticks = sysconf(SysconfVar::CLK_TCK).ok().flatten().unwrap_or(100);
        let page = sysconf(SysconfVar::PAGE_SIZE)
            .ok()
            .flatten()
            .unwrap_or(4096);
        ProcessTree {
            ticks_per_sec: ticks.max(1) as u64,
            page_kib: (page.max(1024) / 1024) as u64,
        }
    }
}

impl ProcessTree {
    /// The usage of `root` and all its descendants; None when `root` is gone
    /// or /proc cannot be read.
    pub fn sample(&self, root: u32) -> Option<TreeUsage> {
        let mut usage = TreeUsage {
            cpu_ms: 0,
            rss_kib: 0,
            processes: 0,
        };
        let mut ticks = 0u64;
        let mut todo = vec![root];
        // A bound on the walk: a pid reused into a cycle must not hang it.
        let mut budget = 100_000u32;
        while let Some(pid) = todo.pop() {
            budget = budget.checked_sub(1)?;
            let Some(stat) = read_stat(pid) else {
                if pid == root {
                    return None;
                }
                continue; // exited while we walked
            };
            ticks += stat.ticks;
            usage.rss_kib += stat.rss_pages * self.page_kib;
            usage.processes += 1;
            push_children(pid, &mut todo);
        }
        usage.cpu_ms = ticks * 1000 / self.ticks_per_sec;
        Some(usage)
    }
}

struct Stat {
    ticks: u64,
    rss_pages: u64,
}

fn read_stat(pid: u32) -> Option<Stat> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&text)
}

/// Fields after the command name, which is in parentheses and may itself hold
/// spaces and parentheses: split after the last `)`.
fn parse_stat(text: &str) -> Option<Stat> {
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_ascii_whitespace().collect();
    let num = |i: usize| fields.get(i)?.parse::<u64>().ok();
    // rest[0] is field 3 (state): utime 14, stime 15, cutime 16, cstime 17,
    // rss 24 in proc(5)'s numbering.
    Some(Stat {
        ticks: num(11)? + num(12)? + num(13)? + num(14)?,
        rss_pages: num(21)?,
    })
}

fn push_children(pid: u32, todo: &mut Vec<u32>) {
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return;
    };
    for task in tasks.flatten() {
        let path = task.path().join("children");
        if let Ok(children) = fs::read_to_string(path) {
            todo.extend(
                children
                    .split_ascii_whitespace()
                    .filter_map(|c| c.parse::<u32>().ok()),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_with_spaces_and_parens() {
        let line = "42 (a b) c)) S 1 42 42 0 -1 4194560 100 0 0 0 7 3 2 1 20 0 1 0 100 1000 55 18446744073709551615";
        let stat = parse_stat(line).unwrap();
        assert_eq!((stat.ticks, stat.rss_pages), (13, 55));
        assert!(parse_stat("garbage").is_none());
    }

    #[test]
    fn samples_this_process_and_its_children() {
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        let tree = ProcessTree::default();
        let usage = tree.sample(std::process::id()).unwrap();
        assert!(usage.processes >= 2, "{usage:?}");
        assert!(usage.rss_kib > 0);
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(tree.sample(u32::MAX - 1).is_none());
    }
}
