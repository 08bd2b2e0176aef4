//! The terminal view where people look at it: in tmux, sized small and
//! large, read back from tmux's own screen and scrollback (what a person
//! sees, and what they scroll up to after the run).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::util::*;

/// A tmux server of the test's own (its own socket), running one pane.
pub struct Tmux {
    socket: PathBuf,
    /// Where the pane's shell writes the command's exit status (tmux's own
    /// `pane_dead_status` is sometimes never filled in).
    status: PathBuf,
}

/// A word for `sh -c`.
pub fn quote(word: &str) -> String {
    shlex::try_quote(word).expect("no NUL").into_owned()
}

/// The path of one of the workspace's binaries, as a shell word.
pub fn bin(name: &str) -> String {
    let path = match name {
        "sc-plan" => env!("CARGO_BIN_EXE_sc-plan"),
        "sc-spawn" => env!("CARGO_BIN_EXE_sc-spawn"),
        "sc-view" => env!("CARGO_BIN_EXE_sc-view"),
        other => panic!("no binary {other}"),
    };
    quote(path)
}

impl Tmux {
    /// `command` (for `sh -c`) in a `cols` × `rows` pane; None (said
    /// skipped) where tmux is not installed.
    pub fn start(dir: &Path, cols: u16, rows: u16, command: &str) -> Option<Tmux> {
        if Command::new("tmux").arg("-V").output().is_err() {
            engine_missing("the tmux terminal tests", "tmux", "tmux");
            return None;
        }
        let config = dir.join("tmux.conf");
        // The pane stays when its command ends, so the end can be read.
        std::fs::write(
            &config,
            "set -g remain-on-exit on\nset -g history-limit 50000\nset -g status off\n",
        )
        .unwrap();
        let tmux = Tmux {
            socket: dir.join("tmux.sock"),
            status: dir.join("status"),
        };
        let _ = std::fs::remove_file(&tmux.status);
        let written = dir.join("status.part");
        let command = format!(
            "{command}; echo $? > {part} && mv {part} {status}",
            part = quote(&written.display().to_string()),
            status = quote(&tmux.status.display().to_string())
        );
        let status = Command::new("tmux")
            .arg("-S")
            .arg(&tmux.socket)
            .arg("-f")
            .arg(&config)
            .args(["new-session", "-d", "-s", "t", "-x"])
            .arg(cols.to_string())
            .arg("-y")
            .arg(rows.to_string())
            .args(["-e", "TERM=tmux-256color", "-e", "NO_COLOR="])
            .arg(&command)
            .status()
            .expect("run tmux");
        assert!(status.success(), "tmux new-session failed");
        Some(tmux)
    }

    fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("run tmux");
        assert!(
            out.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The visible screen, trailing blank lines left out.
    pub fn screen(&self) -> String {
        trimmed(&self.tmux(&["capture-pane", "-p", "-t", "t"]))
    }

    /// Everything the pane holds: its scrollback and its screen (without
    /// the line tmux writes when the command has ended).
    pub fn scrollback(&self) -> String {
        let all = self.tmux(&["capture-pane", "-p", "-J", "-S", "-", "-E", "-", "-t", "t"]);
        let kept: Vec<&str> = all
            .lines()
            .filter(|l| !l.starts_with("Pane is dead"))
            .collect();
        trimmed(&kept.join("\n"))
    }

    /// The window made `cols` × `rows` (the view gets SIGWINCH).
    pub fn resize(&self, cols: u16, rows: u16) {
        self.tmux(&[
            "resize-window",
            "-t",
            "t",
            "-x",
            &cols.to_string(),
            "-y",
            &rows.to_string(),
        ]);
    }

    /// Keys typed into the pane (tmux's key names: `C-c`, `Enter`).
    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "t"];
        args.extend_from_slice(keys);
        self.tmux(&args);
    }

    /// Wait (bounded) until the screen shows what `want` looks for.
    pub fn until(&self, what: &str, want: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let screen = self.screen();
            if want(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "the screen never showed {what}:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Wait (bounded) for the pane's command to end: its exit status.
    pub fn ended(&self) -> i32 {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Ok(status) = std::fs::read_to_string(&self.status) {
                return status.trim().parse().expect("a status");
            }
            assert!(
                Instant::now() < deadline,
                "the pane's command never ended:\n{}",
                self.screen()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .arg("kill-server")
            .output();
    }
}

fn trimmed(text: &str) -> String {
    let lines: Vec<&str> = text.lines().map(str::trim_end).collect();
    let end = lines
        .iter()
        .rposition(|l| !l.is_empty())
        .map_or(0, |i| i + 1);
    lines[..end].join("\n")
}

/// A plan of `n` shell jobs `job01`… that each wait for `dir/go`, then say
/// two lines (and `job` fails when `fail` names it).
fn gated_jobs(dir: &Path, n: usize, fail: Option<&str>) -> String {
    let script = dir.join("job.sh");
    let fail = fail.unwrap_or("none");
    executable(
        &script,
        &format!(
            "#!/bin/sh\nwhile [ ! -e {go} ]; do sleep 0.02; done\necho \"one $1\"\necho \"two $1\"\n[ \"$1\" != {fail} ] || {{ echo \"error: $1 broke\" >&2; exit 3; }}\n",
            go = quote(&dir.join("go").display().to_string()),
        ),
    );
    let names: Vec<String> = (1..=n).map(|i| format!("job{i:02}")).collect();
    format!(
        "{} --kind shell {} ::: {}",
        bin("sc-plan"),
        quote(&format!("{} {{}}", script.display())),
        names.join(" ")
    )
}

fn dir(name: &str) -> PathBuf {
    temp_dir(&format!("tmux-{name}"))
}

/// Rows on the screen that show a running worker of the gated plan.
fn running_rows(screen: &str) -> usize {
    screen
        .lines()
        .filter(|l| l.contains("job") && !l.contains('✔') && !l.contains("running"))
        .filter(|l| !l.trim_start().starts_with("one") && !l.trim_start().starts_with("two"))
        .count()
}

#[test]
fn a_small_terminal_shows_every_running_worker_and_ends_with_one_line_each() {
    let dir = dir("small");
    let plan = gated_jobs(&dir, 20, None);
    let command = format!("{plan} | {} -j 8 | {}", bin("sc-spawn"), bin("sc-view"));
    let Some(tmux) = Tmux::start(&dir, 100, 20, &command) else {
        return;
    };
    // 8 running in 20 lines: a row each (their last lines give way).
    let screen = tmux.until("8 running", |s| s.contains("running 8"));
    assert_eq!(
        running_rows(&screen),
        8,
        "a row for each running worker:\n{screen}"
    );
    assert!(screen.lines().count() <= 20, "{screen}");
    std::fs::write(dir.join("go"), "").unwrap();
    assert_eq!(tmux.ended(), 0);
    let all = tmux.scrollback();
    for i in 1..=20 {
        let id = format!("job{i:02}");
        let said = all.lines().filter(|l| l.contains(&id)).count();
        assert_eq!(said, 1, "{id} is said once at the end:\n{all}");
    }
    assert!(!all.contains("COST/TOKENS"), "no empty columns:\n{all}");
    assert!(
        all.lines().count() <= 24,
        "20 passing jobs take a line each and a total:\n{all}"
    );
    assert!(all.contains("20 workers, 20 ok"), "{all}");
}

#[test]
fn a_tiny_terminal_counts_the_workers_it_has_no_row_for() {
    let dir = dir("tiny");
    let plan = gated_jobs(&dir, 8, None);
    let command = format!("{plan} | {} -j 8 | {}", bin("sc-spawn"), bin("sc-view"));
    let Some(tmux) = Tmux::start(&dir, 80, 7, &command) else {
        return;
    };
    let screen = tmux.until("8 running", |s| s.contains("running 8"));
    let rows = running_rows(&screen);
    assert!((4..8).contains(&rows), "as many rows as fit:\n{screen}");
    assert!(
        screen.contains(&format!("{} without a row", 8 - rows)),
        "the rest counted:\n{screen}"
    );
    // Made larger, it gives every running worker its row.
    tmux.resize(80, 30);
    let screen = tmux.until("a row each", |s| {
        s.contains("running 8") && !s.contains("without a row")
    });
    assert_eq!(running_rows(&screen), 8, "{screen}");
    std::fs::write(dir.join("go"), "").unwrap();
    assert_eq!(tmux.ended(), 0);
}

#[test]
fn a_large_terminal_shows_each_running_workers_last_lines() {
    let dir = dir("large");
    let script = dir.join("talk.sh");
    executable(
        &script,
        &format!(
            "#!/bin/sh\necho \"first $1\"\necho \"second $1\"\nwhile [ ! -e {} ]; do sleep 0.02; done\n",
            quote(&dir.join("go").display().to_string())
        ),
    );
    let command = format!(
        "{} --kind shell {} ::: a1 a2 a3 | {} -j 3 | {}",
        bin("sc-plan"),
        quote(&format!("{} {{}}", script.display())),
        bin("sc-spawn"),
        bin("sc-view")
    );
    let Some(tmux) = Tmux::start(&dir, 120, 40, &command) else {
        return;
    };
    tmux.until("each worker's lines", |s| {
        s.contains("running 3")
            && ["a1", "a2", "a3"]
                .iter()
                .all(|id| s.contains(&format!("first {id}")) && s.contains(&format!("second {id}")))
    });
    std::fs::write(dir.join("go"), "").unwrap();
    assert_eq!(tmux.ended(), 0);
}

#[test]
fn failures_only_leaves_out_the_workers_that_passed() {
    let dir = dir("quiet");
    std::fs::write(dir.join("go"), "").unwrap();
    let plan = gated_jobs(&dir, 5, Some("job03"));
    let command = format!("{plan} | {} -j 2 | {} -q", bin("sc-spawn"), bin("sc-view"));
    let Some(tmux) = Tmux::start(&dir, 100, 30, &command) else {
        return;
    };
    assert_eq!(tmux.ended(), 1);
    let all = tmux.scrollback();
    for passed in ["job01", "job02", "job04", "job05"] {
        assert!(!all.contains(passed), "{passed} passed: not said\n{all}");
    }
    assert!(all.contains("error: job03 broke"), "{all}");
    assert!(all.contains("5 workers, 4 ok, 1 failed"), "{all}");
}

/// The spinner's frames: none may stay on the screen once the view ended.
const SPINNER: &[char] = &['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏', '⠿'];

/// Ctrl-C in a terminal running `sc-plan … | sc-spawn | sc-view`: one
/// worker ends at once, one ignores SIGINT until sc-spawn's kill grace is
/// over. Returns the pane, once the view shows the run ending.
fn interrupted_run(dir: &Path, grace: &str) -> Option<Tmux> {
    let script = dir.join("w.sh");
    executable(
        &script,
        "#!/bin/sh\necho \"up $1\"\n[ \"$1\" = quick ] || trap '' INT\nwhile :; do sleep 0.05; done\n",
    );
    let command = format!(
        "{} --kind shell {} ::: quick slow | {} --kill-grace {grace} | {}",
        bin("sc-plan"),
        quote(&format!("{} {{}}", script.display())),
        bin("sc-spawn"),
        bin("sc-view")
    );
    let tmux = Tmux::start(dir, 100, 20, &command)?;
    tmux.until("both running", |s| {
        s.contains("running 2") && s.contains("up quick") && s.contains("up slow")
    });
    tmux.keys(&["C-c"]);
    tmux.until("the run ending", |s| s.contains("Ctrl-C again"));
    Some(tmux)
}

/// The screen after the run: each worker's end said once, no spinner row
/// left over, nothing drawn over.
fn assert_ended_clean(all: &str) {
    assert!(!all.contains(SPINNER), "a spinner row stayed:\n{all}");
    assert!(!all.contains("no exit"), "every exit seen:\n{all}");
    for id in ["quick", "slow"] {
        let ends = all
            .lines()
            .filter(|l| l.starts_with(id) && l.contains("after"))
            .count();
        assert_eq!(ends, 1, "{id}'s end said once:\n{all}");
    }
}

#[test]
fn ctrl_c_ends_the_run_and_leaves_a_clean_screen() {
    let dir = dir("ctrl-c");
    let Some(tmux) = interrupted_run(&dir, "1s") else {
        return;
    };
    assert_eq!(tmux.ended(), 130);
    let all = tmux.scrollback();
    assert_ended_clean(&all);
    assert!(all.contains("quick    ✖ killed by SIGINT"), "{all}");
    assert!(
        all.contains("slow     ✖ killed by SIGKILL after 1."),
        "{all}"
    );
    assert!(all.contains("interrupted (SIGINT)"), "{all}");
}

#[test]
fn a_second_ctrl_c_ends_the_workers_at_once_and_still_reports_them() {
    let dir = dir("ctrl-c-twice");
    // Without the second Ctrl-C, the slow worker would have a minute.
    let Some(tmux) = interrupted_run(&dir, "60s") else {
        return;
    };
    tmux.keys(&["C-c"]);
    assert_eq!(tmux.ended(), 130);
    let all = tmux.scrollback();
    assert_ended_clean(&all);
    let slow = all
        .lines()
        .find(|l| l.starts_with("slow     ✖ killed by SIGKILL after "))
        .unwrap_or_else(|| panic!("{all}"));
    assert!(!slow.contains("after 1m"), "ended at once: {slow}");
}
