//! The single poller: workers' outputs, event-stream inputs, the sink,
//! signals and timers, all in one mio loop that sleeps until one of them
//! needs it.
//!
//! There is no busy polling: the loop blocks in `poll` until an output or an
//! input is readable, the sink writable, a signal arrives (SIGCHLD included,
//! through signal-hook's self-pipe), a chore done off the thread wakes it,
//! or the earliest deadline comes. Nothing slow runs here: git runs on the
//! [`Chores`] thread, and what tasks run when is the [`Scheduler`]'s call.
//!
//! Only live workers are kept (a slab, so a finished worker's slot, its
//! descriptors and buffers are given back the moment its `exit` is
//! written); each turn costs time in proportion to what is running, not to
//! what has run.

use std::io;
use std::os::fd::BorrowedFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::{Events, Interest, Poll, Token, Waker};
use nix::sys::signal::Signal;
use signal_hook::consts::{SIGCHLD, SIGHUP, SIGINT, SIGTERM};
use signal_hook_mio::v1_0::Signals;
use slab::Slab;

use crate::merge::input::{Input, InputSpec, Turn};
use crate::merge::pool::ReadAheadThreads;
use crate::merge::router::{Naming, Router};
use crate::output::lines::Piece;
use crate::output::sink::Sink;
use crate::plan::chores::{Chores, Done, Job};
use crate::plan::scheduler::{How, Launch, Line, PlanOptions, Scheduler};
use crate::process::launch::Spec;
use crate::process::signals::Leftover;
use crate::worker::{Settle, Worker, is_out_of_descriptors};

mod control;
mod inputs;
mod notes;
mod plan;

pub use crate::plan::scheduler::sibling;

const SIGNALS: Token = Token(0);
const SINK: Token = Token(1);
const WAKER: Token = Token(2);
/// Chunks of files read ahead routed per turn of the loop (4 MiB).
const FILE_TURNS: usize = 16;
/// Inputs' tokens start here.
const FIRST_INPUT: usize = 3;
/// The control socket's listener, then its clients.
const FIRST_CONTROL: usize = usize::MAX / 8;
/// Workers' tokens start here: four per slot of the slab.
const FIRST_WORKER: usize = usize::MAX / 4;

/// The longest input line kept whole by default; longer ones are passed on
/// in pieces as output of the input's own worker.
pub const DEFAULT_MAX_LINE: usize = 8 * 1024 * 1024;

/// What happened to the stream itself.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RunReport {
    /// The reader of the stream went away (EPIPE) before the end.
    pub downstream_closed: bool,
    /// The first interrupting signal sc received, if any.
    pub interrupted: Option<i32>,
    /// Writing the stream failed for a reason other than a closed reader.
    pub write_error: Option<String>,
    /// Plan mode: whether every task succeeded.
    pub plan_succeeded: Option<bool>,
    /// Plan mode: sc-spawn ran out of file descriptors with nothing running
    /// to give one back, and stopped the plan.
    pub out_of_descriptors: bool,
    /// Inputs that could not be read to their end: what was said of each
    /// (an `error` event in the stream, too).
    pub unreadable_inputs: Vec<String>,
    /// Plan mode: the input had lines and no event among them (command
    /// lines, not a plan).
    pub no_plan: bool,
}

/// A worker that has not finished, with what the supervisor keeps for it.
struct Active {
    worker: Worker,
    /// Its number, in launch order (for [`Supervisor::exit_code`]).
    number: usize,
    /// Plan mode: its task.
    task: Option<usize>,
    /// While its worktree is being made: how to launch it then.
    spec: Option<Spec>,
    /// Interrupted while its worktree was being made: not to be launched.
    cancelled: Option<&'static str>,
}

/// Plan mode: tasks read from an input, a worker each.
struct Plan {
    scheduler: Scheduler,
    /// The input the plan is read from (none for single-worker mode's
    /// plan of one).
    input: Option<usize>,
}

pub struct Supervisor {
    poll: Poll,
    events: Events,
    signals: Signals,
    sink: Sink,
    chores: Chores,
    /// Threads to read files ahead on.
    read_ahead: ReadAheadThreads,
    /// Inputs refused a file descriptor, in order, until others end.
    waiting: std::collections::VecDeque<inputs::Waiting>,
    /// How many inputs were open when the last was refused one.
    open_when_refused: usize,
    /// What was said of the waiting inputs that could not be opened.
    unopened: Vec<String>,
    workers: Slab<Active>,
    /// Exit codes of finished workers, by number (None while running).
    codes: Vec<Option<i32>>,
    inputs: Vec<Input>,
    /// The file read ahead whose turn it is (see [`Input::take_turn`]).
    file_turn: usize,
    /// More of the files read ahead may be waiting.
    files_ready: bool,
    router: Router,
    max_line: usize,
    scratch: Vec<u8>,
    /// Turns of the loop: who is served first rotates with it.
    turn: usize,
    keys: Vec<usize>,
    interrupts: u32,
    /// After an interrupt: when to stop waiting for inputs to end by
    /// themselves (files and FIFOs cannot be signalled).
    stop_inputs_at: Option<Instant>,
    grace: Duration,
    report: RunReport,
    notices: Option<&'static str>,
    view_downstream: bool,
    plan: Option<Plan>,
    /// Process groups that outlived their worker: SIGTERM was sent, SIGKILL
    /// is due then.
    leftovers: Vec<Leftover>,
    /// `--budget-usd`: the most the plan's workers may spend together.
    budget_usd: Option<f64>,
    /// What finished workers spent.
    spent_usd: f64,
    budget_spent: bool,
    /// `--fail-fast`: the first failure ends the plan; and whether one did.
    fail_fast: bool,
    failed_fast: bool,
    /// `--ask`: where a person answers the run's asks.
    control: Option<crate::control::server::ControlServer>,
    /// Where the stream is also written (`--log`, or the run's own for
    /// `sc-view --attach`).
    log_path: Option<std::path::PathBuf>,
    /// The next seq of sc-spawn's own events ([`Supervisor::say_error`]).
    own_seq: u64,
    /// Wakes the poller from other threads (the log's among them).
    waker: Arc<Waker>,
    /// When the run started (Unix seconds), for `sc-ctl runs`.
    started: f64,
}

impl Supervisor {
    /// A supervisor writing the stream to `out`. Signal handlers are
    /// installed here, before any worker starts, so no SIGCHLD is missed.
    pub fn new(out: BorrowedFd<'_>) -> io::Result<Supervisor> {
        let poll = Poll::new()?;
        let mut signals = Signals::new([SIGCHLD, SIGINT, SIGTERM, SIGHUP])?;
        poll.registry()
            .register(&mut signals, SIGNALS, Interest::READABLE)?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let sink = Sink::new(out, poll.registry(), SINK)?;
        Ok(Supervisor {
            poll,
            events: Events::with_capacity(1024),
            signals,
            sink,
            chores: Chores::new(waker.clone()),
            read_ahead: ReadAheadThreads::new(waker.clone()),
            waker,
            started: sc_events::now_ts(),
            waiting: Default::default(),
            open_when_refused: 0,
            unopened: Vec::new(),
            workers: Slab::new(),
            codes: Vec::new(),
            inputs: Vec::new(),
            file_turn: 0,
            files_ready: false,
            router: Router::new(Naming::Unique),
            max_line: DEFAULT_MAX_LINE,
            scratch: vec![0; 64 * 1024],
            turn: 0,
            keys: Vec::new(),
            interrupts: 0,
            stop_inputs_at: None,
            grace: Duration::from_secs(5),
            report: RunReport::default(),
            notices: None,
            view_downstream: false,
            plan: None,
            leftovers: Vec::new(),
            budget_usd: None,
            spent_usd: 0.0,
            budget_spent: false,
            fail_fast: false,
            failed_fast: false,
            control: None,
            log_path: None,
            own_seq: 0,
        })
    }

    /// Tell the person at the terminal, on stderr, what an interrupt did,
    /// as `program`.
    pub fn set_notices(&mut self, program: &'static str) {
        self.notices = Some(program);
    }

    /// A view draws on the terminal our notices would go to (the stream
    /// is piped on while stderr is a terminal, as in `sc-spawn | sc-view`):
    /// what happens on Ctrl-C is said by the view, which got the signal
    /// too, not by a line of ours that its rows would draw over.
    pub fn set_view_downstream(&mut self, drawn: bool) {
        self.view_downstream = drawn;
    }

    /// How inputs' worker ids are named in the merged stream.
    pub fn set_naming(&mut self, naming: Naming) {
        self.router = Router::new(naming);
    }

    /// The longest input line kept whole.
    pub fn set_max_line(&mut self, bytes: usize) {
        self.max_line = bytes;
    }

    /// From an interrupt to SIGKILL (producer commands), and how long
    /// inputs get to end by themselves after an interrupt.
    pub fn set_grace(&mut self, grace: Duration) {
        self.grace = grace;
    }

    /// A worker's tokens: its two outputs, and its stdin when sc writes
    /// to it (a conversing agent).
    fn worker_tokens(key: usize) -> crate::worker::Tokens {
        [0, 1, 2, 3].map(|i| Token(FIRST_WORKER + 4 * key + i))
    }

    /// The exit status of the worker numbered `number` (DESIGN.md); 1 while
    /// it has not finished.
    pub fn exit_code(&self, number: usize) -> i32 {
        self.codes.get(number).copied().flatten().unwrap_or(1)
    }

    /// Run until every worker has finished, every input has ended, and the
    /// stream is written (or its reader is gone).
    pub fn run(&mut self) -> io::Result<RunReport> {
        loop {
            self.flush_sink();
            let now = Instant::now();
            if self.stop_inputs_at.is_some_and(|at| at <= now) {
                self.stop_inputs(true);
            }
            self.take_chores();
            self.serve_workers(now);
            self.take_file_turns();
            self.pump_inputs();
            self.open_waiting();
            self.check_plan_budget(now);
            self.plan_turn();
            self.end_leftovers_due(Instant::now());
            self.flush_sink();
            let now = Instant::now();
            let all_done = self.workers.is_empty()
                && self.chores.pending() == 0
                && self.inputs.iter().all(|i| i.is_done(now))
                && self.waiting.is_empty()
                && self.plan.as_ref().is_none_or(|p| p.scheduler.is_resolved());
            if all_done && (self.sink.pending() == 0 || self.sink.is_closed()) {
                break;
            }
            let wants_read = self.workers.iter().any(|(_, a)| a.worker.wants_read())
                || self.inputs.iter().any(Input::wants_read)
                || self.files_ready;
            let timeout = if !self.sink.is_full() && wants_read {
                Some(Duration::ZERO)
            } else if all_done {
                None // only the sink is left: wait until it is writable
            } else {
                self.workers
                    .iter()
                    .filter_map(|(_, a)| a.worker.deadline())
                    .chain(self.inputs.iter().filter_map(Input::deadline))
                    .chain(self.stop_inputs_at)
                    .chain(self.leftovers.iter().map(|l| l.at))
                    .min()
                    .map(|d| d.saturating_duration_since(Instant::now()))
            };
            match self.poll.poll(&mut self.events, timeout) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            self.dispatch();
        }
        // What outlived its worker is ended together, each within its own
        // kill grace, not one after another.
        crate::process::signals::end_leftovers(std::mem::take(&mut self.leftovers));
        // The stream's copy written whole before the run says it is done.
        if let Err(e) = self.sink.finish_log() {
            self.report.write_error.get_or_insert(e.to_string());
        }
        // And what is left in any worker's cgroup; the cgroups go.
        crate::process::cgroup::sweep(self.grace);
        for input in &mut self.inputs {
            input.end_command(self.grace);
        }
        self.report.unreadable_inputs = std::mem::take(&mut self.unopened);
        self.report.unreadable_inputs.extend(
            self.inputs
                .iter()
                .filter_map(|i| i.failure().map(str::to_owned)),
        );
        if let Some(plan) = &self.plan {
            self.report.plan_succeeded = Some(plan.scheduler.all_succeeded());
            self.report.no_plan = plan.scheduler.no_plan_in_input();
        }
        Ok(self.report.clone())
    }

    /// One turn for every live worker: timers, reading, the end. Who is
    /// served first rotates, so that when the sink fills up it is not
    /// always the same worker's output that gets through.
    fn serve_workers(&mut self, now: Instant) {
        self.turn = self.turn.wrapping_add(1);
        self.keys.clear();
        self.keys.extend(self.workers.iter().map(|(key, _)| key));
        let count = self.keys.len();
        if count == 0 {
            return;
        }
        let first = self.turn % count;
        let mut ended = Vec::new();
        for i in 0..count {
            let key = self.keys[(first + i) % count];
            let registry = self.poll.registry();
            let held = self.sink.is_full();
            let active = &mut self.workers[key];
            let worker = &mut active.worker;
            worker.hold(held, now);
            worker.on_timers(now, self.sink.buffer(), registry);
            if !self.sink.is_full() {
                worker.pump(&mut self.scratch, &mut self.sink, registry);
            }
            for job in worker.take_policy_jobs() {
                self.chores.run_policy(key, job);
            }
            self.chores.end_policies(&worker.take_settled_asks());
            match worker.settle(self.sink.buffer()) {
                Settle::NotYet => {}
                Settle::Retrying => {
                    // The attempt's leftovers are ended now, not at the end.
                    if let Some((pgid, cgroup)) = worker.take_leftover() {
                        self.leftovers.push(Leftover {
                            pgid,
                            cgroup,
                            at: now + worker.kill_grace(),
                        });
                    }
                }
                Settle::Finished => ended.push(key),
                Settle::Worktree(worktree) => {
                    let id = worker.id().to_owned();
                    self.chores
                        .submit(Job::CommitWorktree { key, worktree, id });
                }
            }
        }
        for key in ended {
            self.retire(key);
        }
    }

    /// Serve a control socket at `path` (`--ask`, `--control`): where a
    /// person answers the run's asks.
    pub fn set_control(&mut self, path: &std::path::Path) -> io::Result<()> {
        let server =
            crate::control::server::ControlServer::bind(path, self.poll.registry(), FIRST_CONTROL)?;
        self.control = Some(server);
        Ok(())
    }

    /// A worker finished: its slot, descriptors and buffers are given back,
    /// its exit code kept, and its task's dependents told.
    fn retire(&mut self, key: usize) {
        let mut active = self.workers.remove(key);
        self.chores.end_policies(&active.worker.take_settled_asks());
        self.spent_usd += active.worker.spent_usd().unwrap_or(0.0);
        let code = active.worker.exit_code();
        self.codes[active.number] = Some(code);
        if code != 0 && active.task.is_some() {
            self.fail_fast_after(active.worker.id(), Instant::now());
        }
        if let Some((pgid, cgroup)) = active.worker.take_leftover() {
            self.leftovers.push(Leftover {
                pgid,
                cgroup,
                at: Instant::now() + active.worker.kill_grace(),
            });
        }
        if let (Some(task), Some(plan)) = (active.task, self.plan.as_mut()) {
            plan.scheduler.ended(task, code == 0, self.sink.buffer());
        }
    }

    /// Groups that outlived their worker and had their grace: SIGKILL.
    fn end_leftovers_due(&mut self, now: Instant) {
        let (due, later) = std::mem::take(&mut self.leftovers)
            .into_iter()
            .partition(|l| l.at <= now);
        self.leftovers = later;
        for leftover in due {
            leftover.kill();
        }
    }

    fn dispatch(&mut self) {
        let now = Instant::now();
        let mut got_signals = false;
        let mut control_ready = Vec::new();
        for event in self.events.iter() {
            match event.token() {
                SIGNALS => got_signals = true,
                SINK => self.sink.on_writable(),
                // Chores are taken, and files read ahead routed, at the top
                // of the loop.
                WAKER => {}
                Token(t) if (FIRST_CONTROL..FIRST_WORKER).contains(&t) => control_ready.push(t),
                Token(t) if t >= FIRST_WORKER => {
                    if let Some(active) = self.workers.get_mut((t - FIRST_WORKER) / 4) {
                        active.worker.on_readable(Token(t));
                    }
                }
                Token(t) => {
                    if let Some(input) = self.inputs.get_mut(t - FIRST_INPUT) {
                        input.on_readable();
                    }
                }
            }
        }
        for token in control_ready {
            self.serve_control(Token(token));
        }
        if !got_signals {
            return;
        }
        let pending: Vec<i32> = self.signals.pending().collect();
        for signal in pending {
            if signal == SIGCHLD {
                for (_, active) in self.workers.iter_mut() {
                    active.worker.on_child(now, self.sink.buffer());
                }
                for input in &mut self.inputs {
                    input.check_exit(self.sink.buffer(), &mut self.router);
                }
                continue;
            }
            self.interrupt(signal, now, true);
        }
    }

    /// A signal to the run, or a person's stop (`notice` false: said by
    /// the caller, its own way).
    fn interrupt(&mut self, signal: i32, now: Instant, notice: bool) {
        self.interrupts += 1;
        self.report.interrupted.get_or_insert(signal);
        let signal = Signal::try_from(signal).unwrap_or(Signal::SIGTERM);
        let escalate = self.interrupts > 1;
        // A policy command deciding an ask never holds the run up.
        self.chores.end_all_policies();
        for (_, active) in self.workers.iter_mut() {
            if active.worker.is_preparing() {
                active.cancelled = Some("interrupted before it started");
            }
            active.worker.interrupt(signal, escalate, now);
        }
        for input in &mut self.inputs {
            input.interrupt(signal, escalate);
        }
        self.stop_plan("interrupted before it started");
        if escalate {
            self.stop_inputs(false);
        } else if self.inputs.iter().any(|i| !i.is_done(now)) {
            self.stop_inputs_at.get_or_insert(now + self.grace);
        }
        // A person presses Ctrl-C; SIGTERM and SIGHUP come from programs,
        // which need no notice on the terminal.
        if let Some(program) = self
            .notices
            .filter(|_| notice && signal == Signal::SIGINT && !self.view_downstream)
        {
            let running =
                self.workers.len() + self.inputs.iter().filter(|i| !i.is_done(now)).count();
            let what = if self.inputs.is_empty() {
                "worker(s)"
            } else {
                "worker(s) and input(s)"
            };
            if escalate {
                eprintln!("{program}: {signal} again: ending {running} {what} now");
            } else {
                eprintln!(
                    "{program}: {signal}: passed on to {running} {what}; send it again to end them at once"
                );
            }
        }
    }

    fn flush_sink(&mut self) {
        let was_closed = self.sink.is_closed();
        if let Err(e) = self.sink.flush() {
            self.report.write_error.get_or_insert(e.to_string());
        }
        if let Some(failure) = self.sink.take_log_failure() {
            self.log_path = None;
            self.say_error(format!(
                "{failure}: the stream goes on here, but `sc-view --attach` cannot follow this run from its start"
            ));
        }
        if self.sink.is_closed() && !was_closed {
            // The reader is gone (`| head`): nobody will see what the workers
            // write, so end them now rather than let them run on unseen.
            self.report.downstream_closed = true;
            let now = Instant::now();
            for (_, active) in self.workers.iter_mut() {
                if active.worker.is_preparing() {
                    active.cancelled = Some("the reader of the stream went away");
                }
                active
                    .worker
                    .terminate(sc_events::EndedBy::DownstreamClosed, now);
            }
            for input in &mut self.inputs {
                input.interrupt(Signal::SIGTERM, false);
            }
            self.stop_plan("the reader of the stream went away");
            self.stop_inputs(false);
        }
    }
}
