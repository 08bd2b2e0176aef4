//! Slow, blocking work taken off the poller's thread: git. Making a
//! worktree, and committing what a worker changed in it, can take seconds on
//! a large repository; meanwhile every other worker's output, its timers and
//! Ctrl-C must still be served. One helper thread does the git chores in
//! order (git locks its repository anyway); making a host ready (its ssh
//! connection opened, a copy of sc-spawn there with `--transfer`) runs on a
//! thread of its own, since a host that does not answer must hold up only
//! the tasks placed there. Each wakes the poller
//! (a mio `Waker`) as it is done.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::thread::JoinHandle;

use crate::plan::worktree::{self, Worktree};

/// Something to do off the poller's thread, for the worker at `key`.
#[derive(Debug)]
pub enum Job {
    MakeWorktree {
        key: usize,
        here: PathBuf,
        id: String,
        base: Option<String>,
        /// Work on this existing branch again (`--resume`).
        reuse: Option<String>,
    },
    CommitWorktree {
        key: usize,
        worktree: Worktree,
        id: String,
    },
    /// A host made ready, once per host: its one connection opened, and
    /// sc-spawn copied there (`--transfer`); then the command line of the
    /// task that waits for it made (`run` there, of its `argv`), now that
    /// the host's ssh configuration is known.
    PrepareHost {
        key: usize,
        remote: crate::placement::ssh::Remote,
        run: Box<crate::placement::run::RemoteRun>,
        argv: Vec<std::ffi::OsString>,
    },
    /// `--ask-cmd`: the policy command run for an ask.
    Policy {
        key: usize,
        job: crate::worker::converse::PolicyJob,
    },
}

/// A chore done.
#[derive(Debug)]
pub enum Done {
    Worktree {
        key: usize,
        result: Result<Worktree, String>,
    },
    /// The host is ready: the task's command line.
    HostReady {
        key: usize,
        result: Result<Vec<std::ffi::OsString>, String>,
    },
    Committed {
        key: usize,
        report: sc_events::WorktreeReport,
    },
    /// A policy command's first line (its decision), or None when it said
    /// nothing (the ask is left to the default).
    Policy {
        key: usize,
        ask: String,
        decision: Option<String>,
    },
}

pub struct Chores {
    waker: Arc<mio::Waker>,
    jobs: Option<Sender<Job>>,
    done_tx: Sender<Done>,
    done: Receiver<Done>,
    thread: Option<JoinHandle<()>>,
    pending: usize,
}

impl Chores {
    /// Chores that wake the poller through `waker` when one is done. The
    /// git thread starts with the first git job.
    pub fn new(waker: Arc<mio::Waker>) -> Chores {
        let (done_tx, done) = channel();
        Chores {
            waker,
            jobs: None,
            done_tx,
            done,
            thread: None,
            pending: 0,
        }
    }

    pub fn submit(&mut self, job: Job) {
        self.pending += 1;
        if let Job::Policy { key, job } = job {
            // Each on a thread of its own: a slow policy holds up only its
            // ask (whose time still runs out).
            let (done, waker) = (self.done_tx.clone(), Arc::clone(&self.waker));
            let ask = job.ask.clone();
            let spawned = std::thread::Builder::new()
                .name("sc-ask-cmd".into())
                .spawn(move || {
                    let decision = run_policy(&job);
                    let _ = done.send(Done::Policy {
                        key,
                        ask: job.ask,
                        decision,
                    });
                    let _ = waker.wake();
                });
            if spawned.is_err() {
                let _ = self.done_tx.send(Done::Policy {
                    key,
                    ask,
                    decision: None,
                });
                let _ = self.waker.wake();
            }
            return;
        }
        if let Job::PrepareHost { key, .. } = job {
            let (done, waker) = (self.done_tx.clone(), Arc::clone(&self.waker));
            let spawned = std::thread::Builder::new()
                .name("sc-host".into())
                .spawn(move || {
                    let _ = done.send(run(job));
                    let _ = waker.wake();
                });
            if let Err(e) = spawned {
                let result = Err(format!("cannot start a thread to make the host ready: {e}"));
                let _ = self.done_tx.send(Done::HostReady { key, result });
                let _ = self.waker.wake();
            }
            return;
        }
        if self.jobs.is_none() {
            let (job_tx, job_rx) = channel::<Job>();
            let (done, waker) = (self.done_tx.clone(), Arc::clone(&self.waker));
            self.thread = std::thread::Builder::new()
                .name("sc-chores".into())
                .spawn(move || {
                    for job in job_rx {
                        if done.send(run(job)).is_err() {
                            return;
                        }
                        let _ = waker.wake();
                    }
                })
                .ok();
            self.jobs = Some(job_tx);
        }
        match (&self.thread, &self.jobs) {
            (Some(_), Some(jobs)) => {
                let _ = jobs.send(job);
            }
            // No thread could be made: do it here rather than not at all.
            _ => {
                let _ = self.done_tx.send(run(job));
                let _ = self.waker.wake();
            }
        }
    }

    /// Chores done since the last call.
    pub fn take_done(&mut self) -> Vec<Done> {
        let done: Vec<Done> = self.done.try_iter().collect();
        self.pending -= done.len();
        done
    }

    /// Chores submitted and not yet taken back.
    pub fn pending(&self) -> usize {
        self.pending
    }
}

impl Drop for Chores {
    fn drop(&mut self) {
        self.jobs = None; // ends the thread's loop
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Run a policy command for an ask: the `ask` event on its stdin, its
/// first line the decision (the worker reads it); a command that fails to
/// run leaves the ask open.
fn run_policy(job: &crate::worker::converse::PolicyJob) -> Option<String> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(&job.command)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .ok()?;
    if let Some(mut stdin) = child.stdin.take() {
        let mut line = job.event.clone();
        line.push(b'\n');
        let _ = stdin.write_all(&line);
    }
    let output = child.wait_with_output().ok()?;
    first_line(&String::from_utf8_lossy(&output.stdout))
}

fn run(job: Job) -> Done {
    match job {
        Job::MakeWorktree {
            key,
            here,
            id,
            base,
            reuse,
        } => Done::Worktree {
            key,
            result: match reuse {
                Some(branch) => worktree::reuse(&here, &branch)
                    .or_else(|_| worktree::create(&here, &id, base.as_deref())),
                None => worktree::create(&here, &id, base.as_deref()),
            },
        },
        Job::CommitWorktree { key, worktree, id } => Done::Committed {
            key,
            report: worktree.finish(&id),
        },
        Job::Policy { key, job } => Done::Policy {
            key,
            decision: run_policy(&job),
            ask: job.ask,
        },
        Job::PrepareHost {
            key,
            remote,
            run,
            argv,
        } => Done::HostReady {
            key,
            result: {
                crate::placement::ssh::open_master(&remote);
                match &remote.transfer {
                    Some(transfer) => transfer.to_once(&remote),
                    None => Ok(()),
                }
                .map(|()| crate::placement::Elsewhere::command(&remote, &run, &argv))
            },
        },
    }
}

/// A policy command's first line, if it said anything.
fn first_line(text: &str) -> Option<String> {
    let line = text.lines().next()?.trim();
    (!line.is_empty()).then(|| line.to_owned())
}

#[cfg(test)]
mod tests {
    use super::first_line;

    #[test]
    fn a_policy_decides_with_its_first_line_or_not_at_all() {
        assert_eq!(first_line("allow\n").as_deref(), Some("allow"));
        assert_eq!(
            first_line("deny no writes outside src/\nmore").as_deref(),
            Some("deny no writes outside src/")
        );
        assert_eq!(first_line(""), None);
        assert_eq!(first_line("\nallow"), None, "the first line decides");
    }
}
