//! Resource limits of a worker, applied at launch: niceness, CPU seconds
//! (RLIMIT_CPU), and memory — a cgroup v2 of its own where one can be made
//! (it counts the whole process tree and the kernel ends it on excess),
//! RLIMIT_DATA otherwise (per process: allocations beyond it fail).

use std::fs::{self, OpenOptions};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Command;

use sc_events::Limits;

/// How the memory limit is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemoryBy {
    Cgroup,
    RlimitData,
}

impl MemoryBy {
    pub fn as_str(self) -> &'static str {
        match self {
            MemoryBy::Cgroup => "cgroup v2 memory.max",
            MemoryBy::RlimitData => "RLIMIT_DATA",
        }
    }
}

/// Limits set up for one launch.
#[derive(Debug, Default)]
pub struct Applied {
    pub memory_by: Option<MemoryBy>,
    /// The worker's cgroup, to read its OOM kills and remove at the end.
    pub cgroup: Option<PathBuf>,
    /// The cgroup's `cgroup.procs`, open until the child has joined:
    /// [`Applied::launched`] closes it.
    procs: Option<OwnedFd>,
}

impl Applied {
    /// The kernel ended a process of the worker for its memory limit.
    pub fn oom_killed(&self) -> bool {
        let Some(dir) = &self.cgroup else {
            return false;
        };
        fs::read_to_string(dir.join("memory.events")).is_ok_and(|events| {
            events
                .lines()
                .filter_map(|l| l.strip_prefix("oom_kill "))
                .any(|n| n.trim().parse::<u64>().is_ok_and(|n| n > 0))
        })
    }

    /// The child is started: the parent's part is done.
    pub fn launched(&mut self) {
        self.procs = None;
    }

    /// Remove the worker's cgroup (it must be empty: call after the end).
    pub fn cleanup(&mut self) {
        if let Some(dir) = self.cgroup.take() {
            let _ = fs::remove_dir(dir);
        }
    }
}

/// Arrange `limits` for the process `command` starts.
pub fn apply(command: &mut Command, limits: &Limits) -> Applied {
    let mut applied = Applied::default();
    let mut data_bytes = None;
    if let Some(mib) = limits.max_rss_mib {
        match make_cgroup(mib) {
            Some((dir, procs)) => {
                applied.memory_by = Some(MemoryBy::Cgroup);
                applied.cgroup = Some(dir);
                applied.procs = Some(procs);
            }
            None => {
                applied.memory_by = Some(MemoryBy::RlimitData);
                data_bytes = Some(mib.saturating_mul(1024 * 1024));
            }
        }
    }
    let nice = limits.nice.map(|n| n.clamp(0, 19));
    let cpu = limits.cpu_s;
    let procs_fd = applied.procs.as_ref().map(AsRawFd::as_raw_fd);
    // SAFETY: only async-signal-safe system calls on plain values and a
    // descriptor the parent opened; nothing is allocated after the fork.
    unsafe {
        command.pre_exec(move || {
            if let Some(fd) = procs_fd {
                // "0" moves the writing process itself into the cgroup.
                if libc::write(fd, b"0".as_ptr().cast(), 1) != 1 {
                    return Err(io::Error::last_os_error());
                }
            }
            if let Some(nice) = nice
                && libc::setpriority(libc::PRIO_PROCESS, 0, nice) != 0
            {
                return Err(io::Error::last_os_error());
            }
            if let Some(cpu) = cpu {
                // SIGXCPU at the limit; SIGKILL five seconds later for a
                // process that ignores it.
                let limit = libc::rlimit {
                    rlim_cur: cpu,
                    rlim_max: cpu.saturating_add(5),
                };
                if libc::setrlimit(libc::RLIMIT_CPU, &limit) != 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            if let Some(bytes) = data_bytes {
                let limit = libc::rlimit {
                    rlim_cur: bytes,
                    rlim_max: bytes,
                };
                if libc::setrlimit(libc::RLIMIT_DATA, &limit) != 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    applied
}

/// A cgroup v2 of the worker's own, beside sc's, with `memory.max` set; its
/// `cgroup.procs` opened for the child to join. None where cgroup v2 is not
/// mounted, or not delegated to us (then nothing is left behind).
fn make_cgroup(mib: u64) -> Option<(PathBuf, OwnedFd)> {
    const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;
    let root = PathBuf::from("/sys/fs/cgroup");
    let fs = nix::sys::statfs::statfs(&root).ok()?;
    if fs.filesystem_type().0 as i64 != CGROUP2_SUPER_MAGIC {
        return None;
    }
    let own = fs::read_to_string("/proc/self/cgroup").ok()?;
    let path = own
        .lines()
        .find_map(|l| l.strip_prefix("0::"))?
        .trim_start_matches('/');
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = root
        .join(path)
        .join(format!("sc-{}-{n}", std::process::id()));
    fs::create_dir(&dir).ok()?;
    let setup = fs::write(dir.join("memory.max"), (mib * 1024 * 1024).to_string()).and_then(|()| {
        OpenOptions::new()
            .write(true)
            .open(dir.join("cgroup.procs"))
    });
    match setup {
        Ok(procs) => Some((dir, OwnedFd::from(procs))),
        Err(_) => {
            let _ = fs::remove_dir(&dir);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_with(limits: Limits, script: &str) -> (std::process::Output, Applied) {
        let mut command = Command::new("sh");
        command.args(["-c", script]);
        let mut applied = apply(&mut command, &limits);
        let out = command.output().unwrap();
        applied.launched();
        (out, applied)
    }

    #[test]
    fn nice_and_cpu_limits_reach_the_process() {
        let limits = Limits {
            nice: Some(7),
            cpu_s: Some(30),
            max_rss_mib: None,
        };
        let (out, applied) = run_with(limits, "ps -o ni= -p $$; ulimit -t");
        let text = String::from_utf8(out.stdout).unwrap();
        let mut lines = text.lines().map(str::trim);
        assert_eq!(lines.next(), Some("7"));
        assert_eq!(lines.next(), Some("30"));
        assert_eq!(applied.memory_by, None);
    }

    #[test]
    fn a_memory_limit_holds() {
        let limits = Limits {
            max_rss_mib: Some(64),
            ..Limits::default()
        };
        // 256 MiB in one allocation: refused under either mechanism.
        let (out, mut applied) = run_with(
            limits,
            "python3 -c 'b = bytearray(256 * 1024 * 1024); print(len(b))'",
        );
        assert!(
            !out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
        assert!(applied.memory_by.is_some());
        applied.cleanup();
    }
}
