//! One worker's life as events: launch, output, heartbeats, stalls, the
//! timeout, signals, draining its pipes, and its one `exit` event.
//!
//! A [`Worker`] does no waiting of its own. The [`crate::supervisor`] tells it
//! when its outputs are readable, when a child exited, when a signal came and
//! what time it is; the worker answers with events and with the next moment
//! it needs to be woken ([`Worker::deadline`]), which its
//! [`Lifecycle`](lifecycle::Lifecycle) state machine derives from the state
//! it is in.
//!
//! The worker is the wiring. What it does is in its parts, each a small
//! type with its own tests: [`lifecycle`] (its states and their
//! transitions), [`outputs`] (reading and framing), [`retry`] (attempts and
//! resumed sessions), [`budget`] (spending and its cap), [`watch`] (an
//! agent's lines, verdict and result grace), [`converse`] (a conversing
//! agent's open asks, written to its stdin held open by `held_stdin`), [`relayed`] (everything that differs
//! for a worker placed elsewhere), [`exit`] (its status). Its launch, its
//! outputs, its asks and its exit are `impl Worker` blocks of their own
//! (`start.rs`, `outputs.rs`, `asking.rs`, `finish.rs`).

mod asking;
pub mod budget;
pub mod converse;
pub mod exit;
mod finish;
mod held_stdin;
pub mod lifecycle;
mod options;
mod outputs;
mod refusals;
pub mod relayed;
pub mod retry;
mod source;
mod start;
pub mod watch;

use std::os::unix::process::ExitStatusExt;
use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

use mio::{Registry, Token};
use nix::sys::signal::Signal;
use sc_events::{Body, EndedBy, ErrorEvent, Event, Heartbeat, Limits, Stall, encode, now_ts};

use crate::plan::worktree::Worktree;
use crate::process::launch::Spec;
use crate::process::limits::Applied;
use crate::process::proctree::ProcessTree;
use crate::process::signals::{Seen, name, peek_child, signal_group};

use budget::Spending;
use converse::{Conversation, PolicyJob};
use exit::millis;
use lifecycle::Lifecycle;
pub use options::{AskPolicy, Budget, Reconnect, Resume, Retry, WorkerOptions};
use relayed::Relayed;
use retry::{AgentOutcome, Attempts, Outcome};
use source::Source;
use watch::AgentWatch;

pub use exit::is_out_of_descriptors;

/// What [`Worker::settle`] found.
#[derive(Debug)]
pub enum Settle {
    /// Still running, or outputs still open.
    NotYet,
    /// The `exit` event is written.
    Finished,
    /// Its worktree is to be committed (off the poller's thread); then
    /// [`Worker::finish_with`] writes the `exit` event.
    Worktree(Worktree),
    /// The attempt failed in a way that may pass: a `retry` event is
    /// written and the next attempt waits its delay.
    Retrying,
}

#[derive(Debug)]
pub struct Worker {
    opts: WorkerOptions,
    life: Lifecycle,
    seq: u64,
    child: Option<Child>,
    pid: u32,
    sources: Vec<Source>,
    /// Which source is read first this turn (they take turns).
    first_source: usize,
    started: Instant,
    /// When the first attempt started (`duration_ms` covers them all).
    first_started: Instant,
    last_output: Instant,
    lines: u64,
    bytes: u64,
    status: Option<ExitStatus>,
    launch_failed: bool,
    /// How the first attempt was launched, to launch the next ones so.
    spec: Option<Spec>,
    tokens: Option<Tokens>,
    attempts: Attempts,
    spending: Spending,
    /// An agent's watch over its running (or last) attempt.
    watch: Option<AgentWatch>,
    /// Placed elsewhere: the connection's side of it.
    relayed: Option<Relayed>,
    /// `--ask`: a conversing agent's stdin, and its open asks.
    conversation: Option<Conversation>,
    /// Policy commands to run for asks, taken by the supervisor.
    policy_jobs: Vec<PolicyJob>,
    /// Asks so far, over every attempt: each ask's id is the worker's and
    /// this number, so that no two asks of a run share an id and an answer
    /// given for one can never reach another (a retry's asks included).
    asks_made: u64,
    /// Asks answered since the supervisor last looked (whose policy
    /// commands, if any still run, it ends).
    settled_asks: Vec<String>,
    leaked: bool,
    /// A stop (SIGTTIN) was reported.
    stop_seen: bool,
    /// After the exit: the process group or the cgroup outlived the
    /// worker (a daemon it started), was sent SIGTERM, and is to be ended
    /// for good.
    leftover: Option<(u32, Option<crate::process::cgroup::Cgroup>)>,
    tree: ProcessTree,
    limits: Option<Limits>,
    applied: Applied,
    /// `--sandbox`: what the sandbox holds while the worker runs (where
    /// its session is learnt, for polite signals: bubblewrap itself would
    /// kill it outright; a container's guard).
    sandbox: Option<crate::process::wrap::Confined>,
    /// `--sandbox-net`: its proxy, and the refusals it reports.
    net: Option<refusals::NetWatch>,
    exit_code: Option<i32>,
}

/// A worker's poller tokens: its two outputs, its stdin when sc writes to
/// it (a conversing agent), and its sandbox's refusals.
pub type Tokens = [Token; 4];

impl Worker {
    /// A worker not launched yet.
    pub fn new(mut opts: WorkerOptions) -> Worker {
        let now = Instant::now();
        let relayed = opts.remote.clone().map(|host| {
            let model = opts.budget.as_ref().and_then(|b| b.model.clone());
            Relayed::new(host, opts.reconnect.take(), opts.agent.clone(), model)
        });
        Worker {
            seq: opts.first_seq,
            life: Lifecycle::preparing(),
            child: None,
            pid: 0,
            sources: Vec::new(),
            first_source: 0,
            started: now,
            first_started: now,
            last_output: now,
            lines: 0,
            bytes: 0,
            status: None,
            launch_failed: false,
            spec: None,
            tokens: None,
            attempts: Attempts::new(opts.retry.take(), opts.resumes.take()),
            spending: Spending::new(opts.budget.take()),
            watch: None,
            relayed,
            conversation: None,
            policy_jobs: Vec::new(),
            asks_made: 0,
            settled_asks: Vec::new(),
            leaked: false,
            stop_seen: false,
            leftover: None,
            tree: ProcessTree::default(),
            limits: None,
            applied: Applied::default(),
            sandbox: None,
            net: None,
            exit_code: None,
            opts,
        }
    }

    pub fn id(&self) -> &str {
        &self.opts.id
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Its git worktree, if it has one.
    pub fn worktree(&self) -> Option<&Worktree> {
        self.opts.worktree.as_ref()
    }

    /// Give it its worktree before launch (made off the poller's thread).
    pub fn set_worktree(&mut self, worktree: Worktree) {
        self.opts.worktree = Some(worktree);
    }

    /// The exit (or skip) event has been written.
    pub fn is_finished(&self) -> bool {
        self.life.is_finished()
    }

    /// Not launched yet.
    pub fn is_preparing(&self) -> bool {
        self.life.is_preparing()
    }

    /// An output of this worker has data (or end of file) waiting.
    pub fn wants_read(&self) -> bool {
        self.sources.iter().any(|s| s.is_open() && s.readable)
            || self
                .net
                .as_ref()
                .is_some_and(refusals::NetWatch::wants_read)
    }

    /// The poller reported `token` ready: an output readable, or a
    /// conversing agent's stdin writable.
    pub fn on_readable(&mut self, token: Token) {
        if let Some(talk) = self.conversation.as_mut().filter(|t| t.owns(token)) {
            talk.on_writable(Instant::now());
            return;
        }
        if let Some(source) = self.sources.iter_mut().find(|s| s.token == token) {
            source.readable = true;
        }
        if let Some(net) = self.net.as_mut().filter(|n| n.owns(token)) {
            net.on_readable();
        }
    }

    /// After SIGCHLD: has the worker process exited (or stopped)? It is not
    /// reaped until its `exit` is written: the zombie keeps its process
    /// group's id from being reused while sc may still signal the group.
    pub fn on_child(&mut self, now: Instant, out: &mut Vec<u8>) {
        if !self.life.is_running() || self.pid == 0 {
            return;
        }
        match peek_child(self.pid, !self.stop_seen) {
            Seen::Running => {}
            Seen::Exited => self.life.exited(now, self.opts.drain),
            Seen::Stopped(signal) => {
                self.stop_seen = true;
                if signal == libc::SIGTTIN || signal == libc::SIGTTOU {
                    let message = format!(
                        "the worker was stopped by {}: it tried to use the terminal, which belongs to \
                         another process group; give it input through a pipe (or --stdin), or run it \
                         on a pseudo-terminal (--pty); it is ended",
                        name(signal)
                    );
                    self.emit(out, ErrorEvent { message });
                    self.terminate(EndedBy::StoppedOnTheTerminal, now);
                }
            }
        }
    }

    /// sc-spawn got an interrupting signal: pass it to the worker's group,
    /// or SIGKILL on the second one.
    pub fn interrupt(&mut self, signal: Signal, escalate: bool, now: Instant) {
        if self.end_waiting(EndedBy::Interrupted, signal, now) {
            return;
        }
        if let Some(relayed) = &mut self.relayed {
            // ssh forwards no signal: the remote side is asked over the
            // connection (a second `end` has a spooled worker killed, and
            // the connection here is killed below).
            relayed.ask_end(signal, EndedBy::Interrupted);
            if !escalate {
                self.life
                    .ask_to_end(EndedBy::Interrupted, self.opts.kill_grace, now);
                return;
            }
        }
        if self.pid == 0 || !self.life.is_alive_or_draining() {
            return;
        }
        if escalate {
            signal_group(self.pid, Signal::SIGKILL);
            self.life.killed(EndedBy::Interrupted, now);
        } else if self
            .life
            .ask_to_end(EndedBy::Interrupted, self.opts.kill_grace, now)
        {
            self.cancel_turn(now);
            self.polite(signal);
        } else {
            // Already being ended: pass the signal on all the same.
            self.polite(signal);
        }
    }

    /// A signal that asks the worker to end: to its group (a stopped group
    /// continued, or it would not see it), or for a sandboxed worker to the
    /// sandbox's own session.
    fn polite(&mut self, signal: Signal) {
        let sandboxed = self.sandbox.as_mut().and_then(|s| s.session());
        let group = sandboxed.map_or(self.pid, |child| child as u32);
        signal_group(group, signal);
        signal_group(group, Signal::SIGCONT);
    }

    /// End the worker's group politely: SIGTERM now, SIGKILL after the grace.
    pub fn terminate(&mut self, reason: EndedBy, now: Instant) {
        if self.end_waiting(reason.clone(), Signal::SIGTERM, now) {
            return;
        }
        if let Some(relayed) = &mut self.relayed {
            relayed.ask_end(Signal::SIGTERM, reason.clone());
            self.life.ask_to_end(reason, self.opts.kill_grace, now);
            return;
        }
        if self.pid != 0 && self.life.ask_to_end(reason, self.opts.kill_grace, now) {
            self.cancel_turn(now);
            self.polite(Signal::SIGTERM);
        }
    }

    /// A conversing agent is told first, in its protocol, that its turn is
    /// cancelled (ACP's `session/cancel`): one that heeds it ends its turn
    /// and saves its session rather than dying mid-write.
    fn cancel_turn(&mut self, now: Instant) {
        if let (Some(talk), Some(watch)) = (&mut self.conversation, &mut self.watch) {
            talk.cancel(watch.reader_mut(), now);
        }
    }

    /// Waiting for its next attempt: there is nothing to signal; the next
    /// attempt is not launched and the worker ends with the last one's
    /// outcome. A remote worker whose link is down runs on there: the link
    /// is made now, not after its pause, and the `end` goes with it (its
    /// own exit then comes back). True when it was waiting.
    fn end_waiting(&mut self, reason: EndedBy, signal: Signal, now: Instant) -> bool {
        if !self.life.is_waiting() {
            return false;
        }
        match &mut self.relayed {
            Some(relayed) if relayed.is_reconnecting() => {
                relayed.end_when_connected(reason, signal);
                self.life.hurry(now);
            }
            _ => {
                self.life.end_waiting(reason, now);
            }
        }
        true
    }

    /// Stop or restart the drain clock: it only runs while sc reads.
    pub fn hold(&mut self, held: bool, now: Instant) {
        self.life.hold(held, now, self.opts.stall);
    }

    /// The next moment this worker needs attention, if any.
    pub fn deadline(&self) -> Option<Instant> {
        let flush = self
            .sources
            .iter()
            .filter(|s| s.is_open())
            .filter_map(|s| s.framer.deadline());
        let talk = self.conversation.as_ref().and_then(Conversation::deadline);
        self.life
            .deadline()
            .into_iter()
            .chain(flush)
            .chain(talk)
            .min()
    }

    /// Do what is due at `now`: flush partial lines, time out, escalate,
    /// give up on leaked outputs, heartbeat, report a stall.
    pub fn on_timers(&mut self, now: Instant, out: &mut Vec<u8>, registry: &Registry) {
        if self.life.is_waiting() {
            if self.life.relaunch_due(now) {
                self.relaunch(registry, out);
                let end = self
                    .relayed
                    .as_mut()
                    .and_then(Relayed::take_end_when_connected);
                if let (Some((reason, signal)), Some(relayed)) = (end, &mut self.relayed)
                    && self.life.is_running()
                {
                    relayed.ask_end(signal, reason.clone());
                    self.life.ask_to_end(reason, self.opts.kill_grace, now);
                }
            }
            return;
        }
        if !self.life.is_alive_or_draining() {
            return;
        }
        for index in 0..self.sources.len() {
            if self.sources[index].is_open() {
                self.flush_partial(index, now, out, false);
            }
        }
        let timed_out: Vec<(String, &'static str)> = match &mut self.conversation {
            Some(talk) => {
                talk.on_timer(now);
                let due = talk.timed_out(now);
                due.into_iter()
                    .map(|ask| {
                        let decision = talk.default_for(&ask);
                        (ask, decision)
                    })
                    .collect()
            }
            None => Vec::new(),
        };
        for (ask, decision) in timed_out {
            let message = Some("no answer in time (--ask-timeout)".to_owned());
            let _ = self.decide(&ask, decision, "timeout", message, out);
        }
        let due = self.life.take_due(now, self.opts.heartbeat);
        if due.timed_out {
            self.terminate(EndedBy::Timeout, now);
        }
        if due.result_grace {
            // The agent said its result but does not exit (an MCP server or
            // a background shell keeps it alive): end it like a timeout.
            self.terminate(EndedBy::ResultWithoutExit, now);
        }
        if due.leaked {
            // The worker is gone but something it started still holds its
            // outputs: name it, and end the group like the worker's own.
            self.leaked = true;
            self.terminate(EndedBy::LeakedOutput, now);
        }
        if self.life.kill_due(now) {
            signal_group(self.pid, Signal::SIGKILL);
            let reason = self.life.reason().cloned().unwrap_or(EndedBy::Interrupted);
            self.life.killed(reason, now);
        }
        if self.life.close_due(now) {
            for index in 0..self.sources.len() {
                if self.sources[index].is_open() {
                    self.close_by_force(index, out, registry);
                }
            }
        }
        if due.heartbeat {
            self.heartbeat(now, out);
        }
        if due.stall {
            let idle_ms = millis(now.duration_since(self.last_output));
            self.emit(out, Stall { idle_ms });
        }
    }

    fn heartbeat(&mut self, now: Instant, out: &mut Vec<u8>) {
        let usage = self.tree.sample(self.pid);
        let beat = Heartbeat {
            idle_ms: millis(now.duration_since(self.last_output)),
            lines: self.lines,
            bytes: self.bytes,
            cpu_ms: usage.map(|u| u.cpu_ms),
            rss_kib: usage.map(|u| u.rss_kib),
        };
        self.emit(out, beat);
    }

    /// Once the worker has exited and its outputs are closed: reap it, end
    /// what of its group outlived it, and write the `exit` event (or hand
    /// its worktree over to be committed first).
    pub fn settle(&mut self, out: &mut Vec<u8>) -> Settle {
        if self.life.ended_while_waiting() {
            // The last attempt's outcome is the worker's.
            return self.close_up(out);
        }
        if !self.life.has_exited() || self.sources.iter().any(Source::is_open) {
            return Settle::NotYet;
        }
        let Some(exited_at) = self.life.settle() else {
            return Settle::NotYet;
        };
        if let Some(mut child) = self.child.take() {
            self.status = child.wait().ok();
        }
        // The attempt's sandbox ends with it (a container left by a
        // killed `podman run` is removed); what its proxy refused last is
        // said.
        self.sandbox = None;
        if let Some(net) = self.net.take() {
            for note in net.close() {
                self.emit(out, note);
            }
        }
        // Reaped this instant; if the group still exists, its other members
        // keep its id from being reused. Something of it outlived the
        // worker without holding its outputs (a daemon it forgot): sc
        // leaves no orphans behind.
        let group_left = crate::process::signals::group_alive(self.pid)
            && signal_group(self.pid, Signal::SIGTERM);
        if group_left {
            signal_group(self.pid, Signal::SIGCONT);
        }
        // What left the group (`setsid`) is still in the worker's cgroup.
        let cgroup_left = self.applied.take_leftover();
        if group_left || cgroup_left.is_some() {
            self.leftover = Some((self.pid, cgroup_left));
        }
        self.sources.clear();
        if let Some(watch) = &mut self.watch {
            // What it left to be read at its exit (Copilot's usage file)
            // counts before the verdict and the cost.
            watch.reader_mut().exited();
            self.spending.count(watch.reader());
        }
        let session = self.watch.as_ref().and_then(|w| w.reader().session());
        self.attempts.session_seen(session);
        let (ending, failed) = (self.life.is_ending(), self.launch_failed);
        if let Some((delay, message)) = self
            .relayed
            .as_mut()
            .and_then(|r| r.plan_reconnect(ending, failed))
        {
            self.emit(out, ErrorEvent { message });
            self.life.back_off(Instant::now() + delay);
            return Settle::Retrying;
        }
        if let Some(reason) = self.retry_reason() {
            self.schedule_retry(reason, exited_at, out);
            return Settle::Retrying;
        }
        self.close_up(out)
    }

    /// The exit, or first the worktree's commit.
    fn close_up(&mut self, out: &mut Vec<u8>) -> Settle {
        match self.opts.worktree.take() {
            Some(worktree) => Settle::Worktree(worktree),
            None => {
                self.finish(out, None);
                Settle::Finished
            }
        }
    }

    /// Why the attempt that just ended should run again, if it should.
    fn retry_reason(&self) -> Option<String> {
        let outcome = Outcome {
            code: self.compute_exit_code(),
            on_purpose: self.life.is_ending(),
            launch_failed: self.launch_failed,
            agent: self.watch.as_ref().map(|w| AgentOutcome {
                trouble: w.reader().trouble(),
                has_result: w.reader().result().is_some(),
            }),
        };
        self.attempts.reason(&outcome)
    }

    /// Say the attempt's end and when the next begins.
    fn schedule_retry(&mut self, reason: String, exited_at: Instant, out: &mut Vec<u8>) {
        let delay = self.attempts.delay(exit::jitter());
        let status = self.status;
        let event = sc_events::Retry {
            attempt: self.attempts.number(),
            reason,
            code: status.and_then(|s| s.code()),
            signal: status.and_then(|s| s.signal()).map(name),
            duration_ms: millis(exited_at.saturating_duration_since(self.started)),
            delay_ms: millis(delay),
        };
        self.emit(out, event);
        self.abandon_asks(out);
        self.spending.next_attempt();
        self.applied.cleanup();
        self.leaked = false;
        self.stop_seen = false;
        self.life.back_off(Instant::now() + delay);
    }

    /// A process group that outlived the worker and was sent SIGTERM: to be
    /// ended for good after the grace.
    pub fn take_leftover(&mut self) -> Option<(u32, Option<crate::process::cgroup::Cgroup>)> {
        self.leftover.take()
    }

    pub fn kill_grace(&self) -> Duration {
        self.opts.kill_grace
    }

    /// What the worker has spent, over every attempt, in USD (None when
    /// its model has no known price, or it is no agent).
    pub fn spent_usd(&self) -> Option<f64> {
        match &self.relayed {
            // Counted there, over every attempt; known here with its exit.
            Some(relayed) => relayed.spent_usd(),
            None => self.spending.total().usd,
        }
    }

    pub(super) fn emit(&mut self, out: &mut Vec<u8>, body: impl Into<Body>) {
        let event = Event::new(self.opts.id.clone(), self.seq, now_ts(), body);
        // Every ask gets exactly one answer, whoever gives it (a person,
        // the clock, the agent withdrawing it, its attempt ending): its
        // policy command, if one still runs, is to be ended.
        if let Body::Answer(answer) = &event.body {
            self.settled_asks.push(answer.ask.clone());
        }
        self.seq += 1;
        encode(&event, out);
    }
}
