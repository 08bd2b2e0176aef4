//! `--ask-cmd`: a policy command run for an ask, off the poller's thread,
//! on a short leash. It gets the `ask` event on its stdin and decides
//! with its first line. It runs in a process group of its own, until the
//! ask's deadline at most, and is ended (the whole group) as soon as the
//! ask is decided otherwise, its worker ends or the run is interrupted:
//! a policy can never hold a run up. What it says on stderr is kept
//! (bounded) for an `error` event instead of garbling the terminal.
//!
//! A policy that cannot run, exits non-zero or prints no decision fails
//! closed: the ask is denied and the failure said (never left to a default
//! that may allow).

use std::collections::HashMap;
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use crate::worker::converse::PolicyJob;

/// What a policy's stdout and stderr are read for, at most.
const KEPT: usize = 8 * 1024;

/// How a policy command went.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Its first line, having exited 0.
    Decided(String),
    /// It could not run, exited non-zero or said nothing: why, for the
    /// `error` event; the ask is denied.
    Failed(String),
    /// The ask's time ran out first: it was ended, and the ask's own
    /// deadline decides it (`--ask-default`, `by: "timeout"`).
    TimedOut,
    /// Ended because its ask was decided otherwise, or its worker ended.
    Ended,
}

/// What the policy said on stderr, if anything, beside its outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct Ran {
    pub outcome: Outcome,
    pub stderr: String,
}

impl Ran {
    /// It did not run (or not to its end): why.
    pub fn failed(message: String) -> Ran {
        Ran {
            outcome: Outcome::Failed(message),
            stderr: String::new(),
        }
    }
}

/// The policies running, by ask: their process groups, and the write end
/// of a pipe whose closing wakes their thread. Shared by the poller (which
/// ends them) and their threads.
#[derive(Debug, Default, Clone)]
pub struct Running {
    inner: Arc<Mutex<HashMap<String, (Pid, OwnedFd)>>>,
}

impl Running {
    /// End the policy of ask `ask`, if one runs.
    pub fn end(&self, ask: &str) {
        let taken = self.lock().remove(ask);
        if let Some((pgid, wake)) = taken {
            let _ = killpg(pgid, Signal::SIGKILL);
            drop(wake);
        }
    }

    /// End every policy running (the run is interrupted, or over).
    pub fn end_all(&self) {
        let all: Vec<(Pid, OwnedFd)> = self.lock().drain().map(|(_, v)| v).collect();
        for (pgid, wake) in all {
            let _ = killpg(pgid, Signal::SIGKILL);
            drop(wake);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Pid, OwnedFd)>> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Run `job`'s policy command: blocking, on a thread of its own.
pub fn run(job: &PolicyJob, running: &Running) -> Ran {
    let (wake_rx, wake_tx) = match nix::unistd::pipe() {
        Ok(pair) => pair,
        Err(e) => return Ran::failed(format!("cannot make a pipe for it: {e}")),
    };
    let mut child = match Command::new("sh")
        .arg("-c")
        .arg(&job.command)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
    {
        Ok(child) => child,
        Err(e) => return Ran::failed(format!("it could not be run: {e}")),
    };
    let pgid = Pid::from_raw(child.id() as i32);
    running.lock().insert(job.ask.clone(), (pgid, wake_tx));
    if let Some(mut stdin) = child.stdin.take() {
        let mut line = job.event.clone();
        line.push(b'\n');
        // A policy that reads nothing: its stdin closes, no harm.
        let _ = stdin.write_all(&line);
    }
    let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        return Ran::failed("its outputs could not be read".into());
    };
    let read = read_until(
        [OwnedFd::from(stdout), OwnedFd::from(stderr)],
        &wake_rx,
        job.deadline,
    );
    // Whatever it left running in its group goes with it.
    let _ = killpg(pgid, Signal::SIGKILL);
    let still_listed = running.lock().remove(&job.ask).is_some();
    let status = child.wait();
    let stderr = String::from_utf8_lossy(&read.outputs[1]).trim().to_owned();
    // Taken off the list by `Running::end` (which also woke the read): its
    // ask was decided otherwise.
    let outcome = if !still_listed {
        Outcome::Ended
    } else if read.timed_out {
        Outcome::TimedOut
    } else {
        let first = String::from_utf8_lossy(&read.outputs[0])
            .lines()
            .next()
            .map(|l| l.trim().to_owned())
            .unwrap_or_default();
        match status {
            Ok(status) if !status.success() => Outcome::Failed(format!("it failed ({status})")),
            Err(e) => Outcome::Failed(format!("it could not be waited for: {e}")),
            Ok(_) if first.is_empty() => {
                Outcome::Failed("it printed no decision (allow, deny, or an option)".into())
            }
            Ok(_) => Outcome::Decided(first),
        }
    };
    Ran { outcome, stderr }
}

struct Gathered {
    outputs: [Vec<u8>; 2],
    timed_out: bool,
}

/// Read both outputs (each up to KEPT, the rest drained) until both end,
/// `wake` closes, or `deadline`.
fn read_until(fds: [OwnedFd; 2], wake: &OwnedFd, deadline: Option<Instant>) -> Gathered {
    let mut read = Gathered {
        outputs: [Vec::new(), Vec::new()],
        timed_out: false,
    };
    let mut open = [true, true];
    let mut files = fds.map(std::fs::File::from);
    let mut buf = [0u8; 4096];
    while open.iter().any(|o| *o) {
        let timeout = match deadline {
            None => PollTimeout::NONE,
            Some(at) => {
                let left = at.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    read.timed_out = true;
                    break;
                }
                PollTimeout::try_from(left.as_millis().min(60_000) as i32 + 1)
                    .unwrap_or(PollTimeout::MAX)
            }
        };
        let [out, err] = &files;
        // An output that ended is polled no more: the wake pipe stands in
        // its place, asked for nothing.
        let mut polled = [
            PollFd::new(out.as_fd(), PollFlags::POLLIN),
            PollFd::new(err.as_fd(), PollFlags::POLLIN),
            PollFd::new(wake.as_fd(), PollFlags::POLLIN),
        ];
        if !open[0] {
            polled[0] = PollFd::new(wake.as_fd(), PollFlags::empty());
        }
        if !open[1] {
            polled[1] = PollFd::new(wake.as_fd(), PollFlags::empty());
        }
        match poll(&mut polled, timeout) {
            Ok(0) => continue,
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => break,
        }
        let ready: Vec<bool> = polled
            .iter()
            .map(|p| p.revents().is_some_and(|r| !r.is_empty()))
            .collect();
        // Woken: its ask was decided otherwise (`Running::end`).
        if ready[2] {
            break;
        }
        for i in 0..2 {
            if !open[i] || !ready[i] {
                continue;
            }
            match files[i].read(&mut buf) {
                Ok(0) => open[i] = false,
                Ok(n) => {
                    let room = KEPT.saturating_sub(read.outputs[i].len());
                    read.outputs[i].extend_from_slice(&buf[..n.min(room)]);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => open[i] = false,
            }
        }
    }
    read
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn job(command: &str, deadline: Option<Duration>) -> PolicyJob {
        PolicyJob {
            ask: "w/1".into(),
            command: command.into(),
            event: br#"{"type":"ask","ask":"w/1","tool":"Bash"}"#.to_vec(),
            deadline: deadline.map(|d| Instant::now() + d),
        }
    }

    #[test]
    fn a_policy_decides_with_its_first_line_or_fails_closed() {
        let running = Running::default();
        let ran = run(
            &job("grep -q Bash && echo allow; echo noise >&2", None),
            &running,
        );
        assert_eq!(ran.outcome, Outcome::Decided("allow".into()));
        assert_eq!(ran.stderr, "noise");
        let ran = run(&job("printf 'deny not that\\nmore'", None), &running);
        assert_eq!(ran.outcome, Outcome::Decided("deny not that".into()));
        for broken in [
            "cat >/dev/null",
            "echo allow; exit 3",
            "exec /nonexistent/policy",
        ] {
            let ran = run(&job(broken, None), &running);
            assert!(
                matches!(ran.outcome, Outcome::Failed(_)),
                "{broken}: {ran:?}"
            );
        }
        assert!(running.is_empty());
    }

    #[test]
    fn a_policy_is_ended_at_its_deadline_with_everything_it_started() {
        let running = Running::default();
        let started = Instant::now();
        // A grandchild holding stdout open: its group goes with it.
        let ran = run(
            &job("sleep 30 & sleep 30", Some(Duration::from_millis(300))),
            &running,
        );
        assert_eq!(ran.outcome, Outcome::TimedOut);
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn a_policy_is_ended_when_its_ask_is_decided_otherwise() {
        let running = Running::default();
        let ender = running.clone();
        let thread = std::thread::spawn(move || run(&job("sleep 30", None), &ender));
        while running.is_empty() {
            std::thread::yield_now();
        }
        let started = Instant::now();
        running.end("w/1");
        let ran = thread.join().unwrap();
        assert_eq!(ran.outcome, Outcome::Ended);
        assert!(started.elapsed() < Duration::from_secs(10));
    }
}
