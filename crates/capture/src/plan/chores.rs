//! Slow, blocking work taken off the poller's thread: git. Making a
//! worktree, and committing what a worker changed in it, can take seconds on
//! a large repository; meanwhile every other worker's output, its timers and
//! Ctrl-C must still be served. One helper thread does the git chores in
//! order (git locks its repository anyway); making a host ready (its ssh
//! connection opened, a copy of sc-spawn there with `--transfer`) runs on a
//! thread of its own, since a host that does not answer must hold up only
//! the tasks placed there; so does each `--ask-cmd` policy (see
//! [`policy`]), ended with its ask. Each wakes the poller (a mio `Waker`)
//! as it is done.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::thread::JoinHandle;

use crate::plan::policy;
use crate::plan::worktree::{self, Worktree};
use crate::worker::converse::PolicyJob;

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
        place: std::sync::Arc<dyn crate::placement::Elsewhere>,
        run: Box<crate::placement::run::RemoteRun>,
        argv: Vec<std::ffi::OsString>,
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
    /// How a policy command went.
    Policy {
        key: usize,
        ask: String,
        ran: policy::Ran,
    },
}

pub struct Chores {
    waker: Arc<mio::Waker>,
    jobs: Option<Sender<Job>>,
    done_tx: Sender<Done>,
    done: Receiver<Done>,
    thread: Option<JoinHandle<()>>,
    pending: usize,
    /// The policy commands running, to end them.
    policies: policy::Running,
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
            policies: policy::Running::default(),
        }
    }

    /// `--ask-cmd`: the policy command for an ask of the worker at `key`,
    /// each on a thread of its own: a slow policy holds up only its ask
    /// (whose time still runs out), and is ended with it.
    pub fn run_policy(&mut self, key: usize, job: PolicyJob) {
        self.pending += 1;
        let (done, waker) = (self.done_tx.clone(), Arc::clone(&self.waker));
        let ask = job.ask.clone();
        let running = self.policies.clone();
        let spawned = std::thread::Builder::new()
            .name("sc-ask-cmd".into())
            .spawn(move || {
                let ran = policy::run(&job, &running);
                let _ = done.send(Done::Policy {
                    key,
                    ask: job.ask,
                    ran,
                });
                let _ = waker.wake();
            });
        if let Err(e) = spawned {
            let ran = policy::Ran::failed(format!("no thread could be started for it: {e}"));
            let _ = self.done_tx.send(Done::Policy { key, ask, ran });
            let _ = self.waker.wake();
        }
    }

    pub fn submit(&mut self, job: Job) {
        self.pending += 1;
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

    /// End the policy command of each ask in `asks` (decided otherwise,
    /// or their worker ended).
    pub fn end_policies(&self, asks: &[String]) {
        for ask in asks {
            self.policies.end(ask);
        }
    }

    /// End every policy command running (the run is interrupted).
    pub fn end_all_policies(&self) {
        self.policies.end_all();
    }
}

impl Drop for Chores {
    fn drop(&mut self) {
        self.policies.end_all();
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
        Job::PrepareHost {
            key,
            place,
            run,
            argv,
        } => Done::HostReady {
            key,
            result: place.make_ready().map(|()| place.command(&run, &argv)),
        },
    }
}
