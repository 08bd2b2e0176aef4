//! Slow, blocking work taken off the poller's thread: git. Making a
//! worktree, and committing what a worker changed in it, can take seconds on
//! a large repository; meanwhile every other worker's output, its timers and
//! Ctrl-C must still be served. One helper thread does these chores in
//! order and wakes the poller (a mio `Waker`) as each is done.

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
    /// `--transfer`: sc-spawn copied to the host, once per host.
    Transfer {
        key: usize,
        remote: crate::placement::ssh::Remote,
    },
}

/// A chore done.
#[derive(Debug)]
pub enum Done {
    Worktree {
        key: usize,
        result: Result<Worktree, String>,
    },
    Transferred {
        key: usize,
        result: Result<(), String>,
    },
    Committed {
        key: usize,
        report: sc_events::WorktreeReport,
    },
}

pub struct Chores {
    waker: Arc<mio::Waker>,
    jobs: Option<Sender<Job>>,
    done: Option<Receiver<Done>>,
    thread: Option<JoinHandle<()>>,
    pending: usize,
}

impl Chores {
    /// Chores that wake the poller through `waker` when one is done. The
    /// thread starts with the first job.
    pub fn new(waker: Arc<mio::Waker>) -> Chores {
        Chores {
            waker,
            jobs: None,
            done: None,
            thread: None,
            pending: 0,
        }
    }

    pub fn submit(&mut self, job: Job) {
        if self.jobs.is_none() {
            let (job_tx, job_rx) = channel::<Job>();
            let (done_tx, done_rx) = channel();
            let waker = Arc::clone(&self.waker);
            let thread = std::thread::Builder::new()
                .name("sc-chores".into())
                .spawn(move || {
                    for job in job_rx {
                        if done_tx.send(run(job)).is_err() {
                            return;
                        }
                        let _ = waker.wake();
                    }
                })
                .ok();
            self.thread = thread;
            self.jobs = Some(job_tx);
            self.done = Some(done_rx);
        }
        match self.thread {
            Some(_) => {
                self.pending += 1;
                if let Some(jobs) = &self.jobs {
                    let _ = jobs.send(job);
                }
            }
            // No thread could be made: do it here rather than not at all.
            None => {
                let done = run(job);
                self.pending += 1;
                let (tx, rx) = channel();
                let _ = tx.send(done);
                self.done = Some(rx);
                let _ = self.waker.wake();
            }
        }
    }

    /// Chores done since the last call.
    pub fn take_done(&mut self) -> Vec<Done> {
        let done: Vec<Done> = match &self.done {
            Some(rx) => rx.try_iter().collect(),
            None => Vec::new(),
        };
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
        Job::Transfer { key, remote } => Done::Transferred {
            key,
            result: match &remote.transfer {
                Some(transfer) => transfer.to_once(&remote),
                None => Ok(()),
            },
        },
    }
}
