//! One worker's life as events: launch, output, heartbeats, stalls, the
//! timeout, signals, draining its pipes, and its one `exit` event.
//!
//! A [`Worker`] does no waiting of its own. The [`crate::supervisor`] tells it
//! when its outputs are readable, when a child exited, when a signal came and
//! what time it is; the worker answers with events and with the next moment
//! it needs to be woken ([`Worker::deadline`]), which its
//! [`Lifecycle`](crate::worker::lifecycle::Lifecycle) state machine derives from the
//! state it is in.

use std::io::{self, Read};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

use mio::unix::pipe::Receiver;
use mio::{Interest, Registry, Token};
use nix::sys::signal::Signal;
use sc_events::{
    Body, EndedBy, ErrorEvent, Event, Exit, Heartbeat, Limits, LimitsReport, OutputEncoder,
    SCHEMA_VERSION, Skip, Stall, Start, Stream, TsText, WorktreeReport, encode, now_ts,
};

use serde_json::Value;

use crate::agent::{Agent, AgentReader, Spend};
use crate::output::framer::Framer;
use crate::process::launch::{Launched, PtyMode, Spec, launch};
pub mod lifecycle;

use crate::output::nest::Nest;
use crate::output::sink::Sink;
use crate::plan::worktree::Worktree;
use crate::process::limits::{Applied, MemoryBy};
use crate::process::proctree::ProcessTree;
use crate::process::signals::{Seen, name, peek_child, signal_group};
use lifecycle::{Lifecycle, Pausable, Phase, Running};

/// How a worker is watched. Durations of `None` turn a timer off.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    pub id: String,
    /// `shell` for a plain command, `sc` for a nested stream, or an agent kind.
    pub kind: String,
    /// How long a partial line may wait before it is emitted.
    pub flush: Duration,
    pub max_event_bytes: usize,
    pub heartbeat: Option<Duration>,
    pub stall: Option<Duration>,
    pub timeout: Option<Duration>,
    /// From SIGTERM to SIGKILL.
    pub kill_grace: Duration,
    /// How long to keep reading after the worker exited while another
    /// process (a grandchild) still holds its outputs open. The clock stops
    /// while sc itself holds output back (its own reader is slow).
    pub drain: Duration,
    /// Annotate output events with detected progress.
    pub progress: bool,
    /// The seq of the first event written (1 when the plan's `task` event
    /// already took 0).
    pub first_seq: u64,
    /// The worker's stdout is itself an sc stream (kind `sc`): re-emit its
    /// events as `ID/inner` instead of wrapping them as output.
    pub nested: bool,
    /// An agent CLI: its output lines are read into `agent` annotations.
    pub agent: Option<std::sync::Arc<dyn Agent>>,
    /// How long an agent may run on after its result before it is ended.
    pub agent_grace: Duration,
    /// The worker's own git worktree (`--worktree`), finished at its exit.
    pub worktree: Option<Worktree>,
    /// Run a failed attempt again (`--retries`).
    pub retry: Option<Retry>,
    /// The first attempt resumes this agent session (`--resume`): said in
    /// its `start`.
    pub resumes: Option<String>,
    /// An agent's spending: counted always, capped when asked.
    pub budget: Option<Budget>,
    /// It runs on this host: the command is ssh running a remote sc-spawn,
    /// whose stream is this worker's own (see [`crate::placement::relay`]).
    pub remote: Option<String>,
    /// `--reconnect`: the remote worker is spooled there, and a lost
    /// connection is made again.
    pub reconnect: Option<Reconnect>,
    /// The node this worker runs on, said in its `start` (a Slurm job
    /// step's sc-spawn names it for the side that launched the step).
    pub node: Option<String>,
}

/// How a remote worker is followed again after its connection was lost.
#[derive(Debug, Clone)]
pub struct Reconnect {
    /// The host, the ssh command, and how many times to connect again.
    pub remote: crate::placement::remote::Remote,
    /// Its spool there.
    pub dir: String,
}

/// The first pause before connecting again (doubled each time after).
const RECONNECT_DELAY: Duration = Duration::from_secs(1);

/// What an agent worker may spend, and how its spending is counted.
#[derive(Debug, Clone)]
pub struct Budget {
    /// Ended (`ended_by: "budget"`) when its running cost reaches this.
    pub max_usd: Option<f64>,
    /// Ended when its tokens reach this (for models with no known price).
    pub max_tokens: Option<u64>,
    /// The model it was asked to use, when the agent does not say.
    pub model: Option<String>,
}

/// When and how a failed attempt runs again.
#[derive(Clone)]
pub struct Retry {
    /// Attempts after the first, at most.
    pub retries: u32,
    /// The first pause; each next one doubles, with jitter.
    pub delay: Duration,
    /// Any failure is retried, not only those that may pass by themselves
    /// (an agent's overloaded API or lost network, an agent that exited
    /// without a result).
    pub on_any: bool,
    /// For an agent: the command line that resumes its session (the
    /// session id, why the last attempt ended), so that the work done and
    /// paid for is kept.
    pub resume: Option<Resume>,
}

/// Builds the argv and extra environment that resume an agent's session.
pub type Resume = std::sync::Arc<
    dyn Fn(&str, &str) -> Result<(Vec<std::ffi::OsString>, EnvPairs), String> + Send + Sync,
>;

type EnvPairs = Vec<(std::ffi::OsString, std::ffi::OsString)>;

impl std::fmt::Debug for Retry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Retry")
            .field("retries", &self.retries)
            .field("delay", &self.delay)
            .field("on_any", &self.on_any)
            .field("resume", &self.resume.is_some())
            .finish()
    }
}

/// The longest pause between attempts.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(300);

impl Default for WorkerOptions {
    fn default() -> Self {
        WorkerOptions {
            id: "worker".into(),
            kind: "shell".into(),
            flush: Duration::from_millis(50),
            max_event_bytes: 64 * 1024,
            heartbeat: Some(Duration::from_secs(5)),
            stall: Some(Duration::from_secs(120)),
            timeout: None,
            kill_grace: Duration::from_secs(5),
            drain: Duration::from_millis(1000),
            progress: true,
            first_seq: 0,
            nested: false,
            agent: None,
            agent_grace: Duration::from_secs(10),
            worktree: None,
            retry: None,
            resumes: None,
            budget: None,
            remote: None,
            reconnect: None,
            node: None,
        }
    }
}

/// Reads of one output per turn of the poller, so that one chatty worker
/// cannot starve the others (or timers) of attention.
const READS_PER_TURN: usize = 16;

/// When outputs are closed by force (after SIGKILL, a holder outside the
/// group keeps them open), what is already in the pipe is still read, up
/// to this much, so that nothing written before the end is lost.
const FINAL_READ: usize = 4 * 1024 * 1024;

#[derive(Debug)]
struct Source {
    stream: Stream,
    /// None once closed: the descriptor is given back at once.
    rx: Option<Receiver>,
    token: Token,
    framer: Framer,
    encoder: OutputEncoder,
    readable: bool,
    /// The last byte emitted was not a newline: a line is unfinished.
    mid_line: bool,
    /// For a nested worker's stdout: the events it carries.
    nest: Option<Nest>,
    /// For an agent's stdout: its lines, read as they complete.
    tap: Option<AgentTap>,
    /// For a remote worker's stdout: the remote sc-spawn's stream.
    relay: Option<crate::placement::relay::Relay>,
}

impl Source {
    fn is_open(&self) -> bool {
        self.rx.is_some()
    }
}

/// The longest agent line read whole (an image read can be megabytes);
/// its bytes stream on either way.
const MAX_AGENT_LINE: usize = 64 * 1024 * 1024;

/// Reads an agent's output lines as the framer hands them out.
#[derive(Debug)]
struct AgentTap {
    reader: Box<dyn AgentReader>,
    line: Vec<u8>,
    /// The current line passed MAX_AGENT_LINE: it is not read.
    too_long: bool,
}

impl AgentTap {
    fn new(reader: Box<dyn AgentReader>) -> AgentTap {
        AgentTap {
            reader,
            line: Vec::new(),
            too_long: false,
        }
    }

    /// A framed chunk; the annotation when it completes a line.
    fn push(&mut self, chunk: &[u8]) -> Option<Value> {
        if !self.too_long {
            if self.line.len() + chunk.len() > MAX_AGENT_LINE {
                self.too_long = true;
                self.line = Vec::new();
            } else {
                self.line.extend_from_slice(chunk);
            }
        }
        if chunk.last() != Some(&b'\n') {
            return None;
        }
        let note = if self.too_long {
            None
        } else {
            self.reader.line(&self.line)
        };
        self.line.clear();
        self.too_long = false;
        note
    }
}

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
    last_output: Instant,
    lines: u64,
    bytes: u64,
    status: Option<ExitStatus>,
    launch_failed: bool,
    /// Results of the agent taken into account for its exit grace.
    results_seen: u32,
    /// The agent's reader, kept when its outputs are given back.
    final_watch: Option<Box<dyn AgentReader>>,
    /// Which attempt runs (1 for the first).
    attempt: u32,
    /// When the first attempt started (`duration_ms` covers them all).
    first_started: Instant,
    /// How the first attempt was launched, to launch the next ones so.
    spec: Option<Spec>,
    tokens: Option<[Token; 2]>,
    /// The agent's session, from any attempt: what a retry resumes.
    session: Option<String>,
    /// The session the attempt being launched resumes.
    resuming: Option<String>,
    /// The running attempt was launched to resume a session.
    attempt_resumed: bool,
    /// Spent by earlier attempts, and by this one so far.
    spent_before: Spend,
    spent: Spend,
    /// The worker's model has no known price: said once.
    unpriced_said: bool,
    /// `StdinMode::Held`: the write end of its stdin, let go to ask a
    /// remote worker to end.
    stdin_hold: Option<std::os::fd::OwnedFd>,
    /// A remote worker: its exit as the remote side wrote it, and what ssh
    /// said on stderr (for the message when the connection is lost).
    remote_exit: Option<Exit>,
    ssh_said: Vec<u8>,
    /// Connections made again so far (`--reconnect`).
    reconnects: u32,
    /// The next launch follows the spooled worker again.
    reconnecting: bool,
    /// The relay of the connection that was lost: where the next one
    /// picks up.
    relay_kept: Option<crate::placement::relay::Relay>,
    /// Asked to end while the link was down: said to the remote side as
    /// soon as it is connected again.
    end_on_reconnect: Option<EndedBy>,
    leaked: bool,
    /// A stop (SIGTTIN) was reported.
    stop_seen: bool,
    /// After the exit: the process group outlived the worker (a daemon it
    /// started), was sent SIGTERM, and is to be ended for good.
    leftover: Option<u32>,
    tree: ProcessTree,
    limits: Option<Limits>,
    applied: Applied,
    exit_code: Option<i32>,
}

impl Worker {
    /// A worker not launched yet.
    pub fn new(opts: WorkerOptions) -> Worker {
        let now = Instant::now();
        Worker {
            seq: opts.first_seq,
            life: Lifecycle::preparing(),
            child: None,
            pid: 0,
            sources: Vec::new(),
            first_source: 0,
            started: now,
            last_output: now,
            lines: 0,
            bytes: 0,
            status: None,
            launch_failed: false,
            results_seen: 0,
            final_watch: None,
            attempt: 1,
            first_started: now,
            spec: None,
            tokens: None,
            session: None,
            resuming: opts.resumes.clone(),
            attempt_resumed: opts.resumes.is_some(),
            spent_before: Default::default(),
            spent: Default::default(),
            unpriced_said: false,
            stdin_hold: None,
            remote_exit: None,
            ssh_said: Vec::new(),
            reconnects: 0,
            reconnecting: false,
            relay_kept: None,
            end_on_reconnect: None,
            leaked: false,
            stop_seen: false,
            leftover: None,
            tree: ProcessTree::default(),
            limits: None,
            applied: Applied::default(),
            exit_code: None,
            opts,
        }
    }

    /// Launch the process and write its `start` event. On failure nothing
    /// is written and the worker is still unlaunched: the caller says so
    /// with [`Worker::refuse_launch`], or tries again later (out of file
    /// descriptors while other workers run).
    pub fn launch(
        &mut self,
        spec: &Spec,
        registry: &Registry,
        tokens: [Token; 2],
        out: &mut Vec<u8>,
    ) -> io::Result<()> {
        debug_assert!(matches!(
            self.life.phase,
            Phase::Preparing | Phase::Backoff { .. }
        ));
        self.limits = spec.limits.clone();
        let launched = launch(spec)?;
        if let Err(e) = self.adopt(launched, registry, tokens) {
            // Registered nothing that stays: end what was started.
            self.abandon();
            return Err(e);
        }
        let now = Instant::now();
        if self.attempt == 1 && self.reconnects == 0 {
            self.first_started = now;
        }
        self.started = now;
        self.last_output = now;
        // Later attempts start from the first one's command line (a resumed
        // one's is made anew from it each time).
        self.spec.get_or_insert_with(|| spec.clone());
        self.tokens = Some(tokens);
        // A remote worker's heartbeats, stalls and start come from the
        // remote sc-spawn.
        let local = self.opts.remote.is_none();
        self.life.phase = Phase::Running(Running {
            timeout_at: self.opts.timeout.map(|t| now + t),
            result_grace_at: None,
            heartbeat_at: self.opts.heartbeat.filter(|_| local).map(|h| now + h),
            stall_at: self.opts.stall.filter(|_| local).map(|s| now + s),
        });
        if !local {
            return Ok(());
        }
        let cwd = spec
            .cwd
            .clone()
            .or_else(|| std::env::current_dir().ok())
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        let start = Start {
            argv: spec
                .argv
                .iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect(),
            pid: self.pid,
            cwd,
            kind: self.opts.kind.clone(),
            pty: spec.pty != PtyMode::Off,
            schema: SCHEMA_VERSION,
            limits: self.limits_report(),
            attempt: (self.attempt > 1).then_some(self.attempt),
            resumes: self.resuming.take(),
            host: self.opts.node.clone(),
        };
        self.emit(out, start);
        Ok(())
    }

    /// A launch that failed: its `error`, then its `exit` with code 127.
    pub fn refuse_launch(&mut self, spec: &Spec, e: &io::Error, out: &mut Vec<u8>) {
        let program = spec
            .argv
            .first()
            .map(|p| p.to_string_lossy())
            .unwrap_or_default();
        let message = match &spec.cwd {
            // ENOENT names no file: say which was missing.
            Some(cwd) if e.kind() == io::ErrorKind::NotFound && !cwd.is_dir() => format!(
                "cannot run `{program}` in {}: no such directory (check the task's `cwd`, or --cwd)",
                cwd.display()
            ),
            _ => launch_error_message(&program, e),
        };
        self.refused(message, out);
    }

    /// A launch half done (registering its outputs failed): kill it and
    /// give everything back.
    fn abandon(&mut self) {
        if let Some(mut child) = self.child.take() {
            signal_group(self.pid, Signal::SIGKILL);
            let _ = child.wait();
        }
        self.sources.clear();
        self.applied.cleanup();
        self.pid = 0;
    }

    /// This worker, not launched, cannot be: its `error`, then its `exit`
    /// with code 127.
    pub fn refuse_now(&mut self, message: String, out: &mut Vec<u8>) {
        self.refused(message, out);
    }

    fn refused(&mut self, message: String, out: &mut Vec<u8>) {
        self.emit(out, ErrorEvent { message });
        self.launch_failed = true;
        self.finish(out, None);
    }

    /// Not launched after all (interrupted while it was being prepared):
    /// a `skip` with the reason.
    pub fn cancel(&mut self, reason: &str, out: &mut Vec<u8>) {
        if self.life.phase != Phase::Preparing {
            return;
        }
        self.emit(
            out,
            Skip {
                reason: reason.to_owned(),
                done: false,
            },
        );
        self.exit_code = Some(1);
        self.life.phase = Phase::Finished;
    }

    fn adopt(
        &mut self,
        launched: Launched,
        registry: &Registry,
        tokens: [Token; 2],
    ) -> io::Result<()> {
        self.pid = launched.pid;
        self.applied = launched.limits;
        self.child = Some(launched.child);
        self.stdin_hold = launched.stdin;
        for ((stream, fd), token) in launched.outputs.into_iter().zip(tokens) {
            let mut rx = Receiver::from(fd);
            rx.set_nonblocking(true)?;
            registry.register(&mut rx, token, Interest::READABLE)?;
            self.sources.push(Source {
                stream,
                rx: Some(rx),
                token,
                framer: Framer::new(self.opts.max_event_bytes, self.opts.flush),
                encoder: OutputEncoder::new(&self.opts.id, stream),
                // Read once before the first readiness event: cheap, and it
                // catches output written before registration.
                readable: true,
                mid_line: false,
                nest: (self.opts.nested && stream != Stream::Stderr).then(Nest::default),
                tap: self
                    .opts
                    .agent
                    .as_ref()
                    .filter(|_| stream != Stream::Stderr && self.opts.remote.is_none())
                    .map(|agent| AgentTap::new(agent.reader())),
                relay: self
                    .opts
                    .remote
                    .as_deref()
                    .filter(|_| stream != Stream::Stderr)
                    .map(|host| match self.relay_kept.take() {
                        // Connected again: on from where the last one broke,
                        // after the events written here meanwhile.
                        Some(kept) => crate::placement::relay::Relay::resume(host, self.seq, &kept),
                        None => crate::placement::relay::Relay::new(host, self.opts.first_seq),
                    }),
            });
        }
        Ok(())
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
        self.life.phase == Phase::Preparing
    }

    /// An output of this worker has data (or end of file) waiting.
    pub fn wants_read(&self) -> bool {
        self.sources.iter().any(|s| s.is_open() && s.readable)
    }

    /// The poller reported `token` readable.
    pub fn on_readable(&mut self, token: Token) {
        if let Some(source) = self.sources.iter_mut().find(|s| s.token == token) {
            source.readable = true;
        }
    }

    /// Read what is waiting on the worker's outputs (a bounded amount) and
    /// turn it into output events, unless the sink is over its high-water
    /// mark: then the worker is left to block on its own writes. The
    /// outputs take turns at being read first, so that a chatty stdout
    /// cannot starve stderr.
    pub fn pump(&mut self, scratch: &mut [u8], sink: &mut Sink, registry: &Registry) {
        let now = Instant::now();
        let count = self.sources.len();
        if count == 0 {
            return;
        }
        self.first_source = (self.first_source + 1) % count;
        for turn in 0..count {
            let index = (self.first_source + turn) % count;
            for _ in 0..READS_PER_TURN {
                if sink.is_full() {
                    return;
                }
                if !self.read_once(index, scratch, sink.buffer(), registry, now) {
                    break;
                }
            }
        }
    }

    /// One read of source `index`; false when there is nothing more to read
    /// now (it would block, or the source closed).
    fn read_once(
        &mut self,
        index: usize,
        scratch: &mut [u8],
        out: &mut Vec<u8>,
        registry: &Registry,
        now: Instant,
    ) -> bool {
        let source = &mut self.sources[index];
        if !source.readable {
            return false;
        }
        let Some(rx) = source.rx.as_ref() else {
            return false;
        };
        let mut rx: &Receiver = rx;
        match rx.read(scratch) {
            Ok(0) => {
                self.close_source(index, out, registry);
                false
            }
            Ok(n) if self.opts.remote.is_some() => {
                self.last_output = now;
                self.remote_data(index, &scratch[..n], out);
                true
            }
            Ok(n) => {
                self.last_output = now;
                if let Phase::Running(r) = &mut self.life.phase {
                    r.stall_at = self.opts.stall.map(|s| now + s);
                }
                self.frame(index, &scratch[..n], now, out);
                self.note_agent(now);
                self.check_budget(now, out);
                true
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                source.readable = false;
                false
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => true,
            // A pseudo-terminal's master reads EIO once every process
            // holding the terminal has closed it: that is its end of file.
            Err(e) if source.stream != Stream::Stderr && e.raw_os_error() == Some(libc::EIO) => {
                self.close_source(index, out, registry);
                false
            }
            Err(e) => {
                let message = format!("reading the worker's {}: {e}", source.stream.as_str());
                self.emit(out, ErrorEvent { message });
                self.close_source(index, out, registry);
                false
            }
        }
    }

    /// What ssh read from the remote sc-spawn (stdout), or said itself
    /// (stderr, kept for the message if the connection is lost).
    fn remote_data(&mut self, index: usize, data: &[u8], out: &mut Vec<u8>) {
        let id = self.opts.id.clone();
        let source = &mut self.sources[index];
        match source.relay.as_mut() {
            Some(relay) => {
                relay.push(data, &id, out);
                self.seq = relay.next_seq();
                self.bytes = relay.bytes;
                self.lines = relay.lines;
            }
            None => {
                let room = 16 * 1024usize.saturating_sub(self.ssh_said.len());
                self.ssh_said
                    .extend_from_slice(&data[..data.len().min(room)]);
            }
        }
    }

    fn frame(&mut self, index: usize, data: &[u8], now: Instant, out: &mut Vec<u8>) {
        self.framed(index, out, now_ts(), |route, chunks, out| {
            match route.nest {
                // What is not an event stays this worker's own output.
                Some(nest) => nest.push(data, route.id, out, &mut |bytes, out| {
                    chunks.emit(out, bytes)
                }),
                None => route
                    .framer
                    .push(data, now, &mut |chunk| chunks.emit(out, chunk)),
            }
        });
    }

    fn flush_partial(&mut self, index: usize, now: Instant, out: &mut Vec<u8>, at_eof: bool) {
        // A partial line is stamped with when its first byte was read, not
        // when the flush interval ran out.
        let waited = self.sources[index]
            .framer
            .pending_since()
            .map_or(0.0, |since| {
                now.saturating_duration_since(since).as_secs_f64()
            });
        let ts = now_ts() - waited;
        self.framed(index, out, ts, |route, chunks, out| {
            if let (true, Some(nest)) = (at_eof, route.nest) {
                nest.finish(route.id, out, &mut |bytes, out| chunks.emit(out, bytes));
            }
            let mut emit = |chunk: &[u8]| chunks.emit(out, chunk);
            if at_eof {
                route.framer.finish(&mut emit);
            } else {
                route.framer.on_timer(now, &mut emit);
            }
        });
    }

    /// Run `step` on a source's way in (its framer, or its nested stream)
    /// with what it emits turned into output events of this worker (one
    /// timestamp for all of them: one observation).
    fn framed(
        &mut self,
        index: usize,
        out: &mut Vec<u8>,
        ts: f64,
        step: impl FnOnce(Route<'_>, &mut Chunks<'_>, &mut Vec<u8>),
    ) {
        let ts = TsText::new((ts * 1e6).round() / 1e6);
        let Worker {
            sources,
            seq,
            lines,
            bytes,
            opts,
            ..
        } = self;
        let source = &mut sources[index];
        let mut chunks = Chunks {
            encoder: &source.encoder,
            tap: source.tap.as_mut(),
            seq,
            lines,
            bytes,
            ts: &ts,
            // Lines a nested stream could not route are not progress.
            progress: opts.progress && source.nest.is_none(),
            mid_line: &mut source.mid_line,
        };
        let route = Route {
            framer: &mut source.framer,
            nest: source.nest.as_mut(),
            id: &opts.id,
        };
        step(route, &mut chunks, out);
    }

    /// End of an output: what is pending is emitted, and its descriptor is
    /// given back now, not when the plan ends.
    fn close_source(&mut self, index: usize, out: &mut Vec<u8>, registry: &Registry) {
        if let Some(mut relay) = self.sources[index].relay.take() {
            let id = self.opts.id.clone();
            // A line cut off by a lost connection comes again whole with the
            // next one; otherwise it is what the remote side said last.
            if relay.exit.is_some() || !self.may_reconnect(relay.taken) {
                relay.finish(&id, out);
            }
            self.seq = relay.next_seq();
            self.remote_exit = relay.exit.take();
            self.bytes = relay.bytes;
            self.lines = relay.lines;
            if !relay.noise.is_empty() {
                self.ssh_said.extend_from_slice(&relay.noise);
                relay.noise.clear();
            }
            self.relay_kept = Some(relay);
        }
        self.flush_partial(index, Instant::now(), out, true);
        let source = &mut self.sources[index];
        if source.mid_line {
            // A last line without a newline is still a line.
            self.lines += 1;
            source.mid_line = false;
        }
        source.readable = false;
        if let Some(mut rx) = source.rx.take() {
            let _ = registry.deregister(&mut rx);
        }
    }

    /// Close an output that will not end by itself (after SIGKILL, held
    /// by a process outside the group): what is already in it is read
    /// first, within a bound.
    fn close_by_force(&mut self, index: usize, out: &mut Vec<u8>, registry: &Registry) {
        let mut scratch = vec![0; 64 * 1024];
        let mut read = 0;
        let now = Instant::now();
        self.sources[index].readable = true;
        while read < FINAL_READ && self.sources[index].is_open() {
            let before = self.bytes;
            if !self.read_once(index, &mut scratch, out, registry, now) {
                break;
            }
            read += usize::try_from(self.bytes - before).unwrap_or(usize::MAX);
        }
        if self.sources[index].is_open() {
            self.close_source(index, out, registry);
        }
    }

    /// After SIGCHLD: has the worker process exited (or stopped)? It is not
    /// reaped until its `exit` is written: the zombie keeps its process
    /// group's id from being reused while sc may still signal the group.
    pub fn on_child(&mut self, now: Instant, out: &mut Vec<u8>) {
        if !matches!(self.life.phase, Phase::Running(_)) || self.pid == 0 {
            return;
        }
        match peek_child(self.pid, !self.stop_seen) {
            Seen::Running => {}
            Seen::Exited => {
                let drain = Pausable::started(self.opts.drain, now);
                self.life.phase = Phase::Draining {
                    exited_at: now,
                    drain,
                };
            }
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
        if self.end_backoff(EndedBy::Interrupted, now) {
            return;
        }
        if self.opts.remote.is_some() && escalate {
            // A spooled worker outlives its connection: the second `end`
            // has its sc-spawn kill it.
            self.ask_remote_end();
        }
        if self.opts.remote.is_some() && !escalate {
            // ssh forwards no signal: letting go of its stdin asks the
            // remote sc-spawn to end its worker (it then writes its exit).
            self.ask_remote_end();
            self.life
                .ask_to_end(EndedBy::Interrupted, self.opts.kill_grace, now);
            return;
        }
        if self.pid == 0 || !matches!(self.life.phase, Phase::Running(_) | Phase::Draining { .. }) {
            return;
        }
        if escalate {
            signal_group(self.pid, Signal::SIGKILL);
            self.life.killed(EndedBy::Interrupted, now);
        } else if self
            .life
            .ask_to_end(EndedBy::Interrupted, self.opts.kill_grace, now)
        {
            signal_group(self.pid, signal);
            // A stopped group would not see the signal until continued.
            signal_group(self.pid, Signal::SIGCONT);
        } else {
            // Already being ended: pass the signal on all the same.
            signal_group(self.pid, signal);
        }
    }

    /// Ask the remote side to end its worker: a spooled one (`--reconnect`)
    /// gets an `end` line, since the end of its input may be a lost
    /// connection; otherwise its input ends.
    fn ask_remote_end(&mut self) {
        if self.opts.reconnect.is_none() {
            self.stdin_hold = None;
            return;
        }
        if let Some(fd) = &self.stdin_hold {
            // Five bytes into an empty pipe: this does not block.
            let _ = nix::unistd::write(fd, b"end\n");
        }
    }

    /// A lost connection may still be made again (`--reconnect`): one that
    /// brought something (a connection that never came up is not lost;
    /// it failed, and ssh said why).
    fn may_reconnect(&self, taken: u64) -> bool {
        taken > 0
            && self
                .opts
                .reconnect
                .as_ref()
                .is_some_and(|r| self.reconnects < r.remote.reconnect)
            && self.life.ending.is_none()
            && !self.launch_failed
    }

    /// The connection ended before the remote worker's exit came: connect
    /// again after a pause, if that may be done.
    fn schedule_reconnect(&mut self, out: &mut Vec<u8>) -> bool {
        let taken = self.relay_kept.as_ref().map_or(0, |r| r.taken);
        if self.remote_exit.is_some() || !self.may_reconnect(taken) {
            return false;
        }
        self.reconnects += 1;
        let delay = RECONNECT_DELAY
            .saturating_mul(1 << (self.reconnects - 1).min(5))
            .min(MAX_RETRY_DELAY);
        let host = self.opts.remote.clone().unwrap_or_default();
        let said = String::from_utf8_lossy(&self.ssh_said).trim().to_owned();
        let said = if said.is_empty() {
            String::new()
        } else {
            format!(" ({})", first_line(&said))
        };
        let limit = self
            .opts
            .reconnect
            .as_ref()
            .map_or(0, |r| r.remote.reconnect);
        let message = format!(
            "the connection to {host} was lost{said}; the worker runs on there: connecting again in {:.1} s ({} of {limit})",
            delay.as_secs_f64(),
            self.reconnects
        );
        self.emit(out, ErrorEvent { message });
        self.ssh_said.clear();
        self.reconnecting = true;
        self.life.phase = Phase::Backoff {
            until: Instant::now() + delay,
        };
        true
    }

    /// End the worker's group politely: SIGTERM now, SIGKILL after the grace.
    pub fn terminate(&mut self, reason: EndedBy, now: Instant) {
        if self.end_backoff(reason.clone(), now) {
            return;
        }
        if self.opts.remote.is_some() {
            self.ask_remote_end();
            self.life.ask_to_end(reason, self.opts.kill_grace, now);
            return;
        }
        if self.pid != 0 && self.life.ask_to_end(reason, self.opts.kill_grace, now) {
            signal_group(self.pid, Signal::SIGTERM);
            signal_group(self.pid, Signal::SIGCONT);
        }
    }

    /// Waiting for its next attempt: there is nothing to signal; the next
    /// attempt is not launched and the worker ends with the last one's
    /// outcome. True when it was waiting.
    fn end_backoff(&mut self, reason: EndedBy, now: Instant) -> bool {
        if !matches!(self.life.phase, Phase::Backoff { .. }) {
            return false;
        }
        if self.reconnecting {
            // The worker runs on there while the link is down: connect now,
            // not after the pause, and the `end` goes with the connection
            // (see on_timers); its own exit then comes back.
            self.end_on_reconnect.get_or_insert(reason);
            self.life.phase = Phase::Backoff { until: now };
            return true;
        }
        self.life
            .ending
            .get_or_insert(crate::worker::lifecycle::Ending {
                reason,
                stage: crate::worker::lifecycle::Stage::Asked { kill_at: now },
            });
        true
    }

    /// Stop or restart the drain clock: it only runs while sc reads.
    pub fn hold(&mut self, held: bool, now: Instant) {
        if let Phase::Draining { drain, .. } = &mut self.life.phase {
            if held {
                drain.pause(now);
            } else {
                drain.resume(now);
            }
        }
    }

    /// The next moment this worker needs attention, if any.
    pub fn deadline(&self) -> Option<Instant> {
        let flush = self
            .sources
            .iter()
            .filter(|s| s.is_open())
            .filter_map(|s| s.framer.deadline());
        self.life.deadline().into_iter().chain(flush).min()
    }

    /// Do what is due at `now`: flush partial lines, time out, escalate,
    /// give up on leaked outputs, heartbeat, report a stall.
    pub fn on_timers(&mut self, now: Instant, out: &mut Vec<u8>, registry: &Registry) {
        if let Phase::Backoff { until } = self.life.phase {
            if until <= now && self.life.ending.is_none() {
                self.relaunch(registry, out);
                if let Some(reason) = self.end_on_reconnect.take()
                    && matches!(self.life.phase, Phase::Running(_))
                {
                    self.ask_remote_end();
                    self.life.ask_to_end(reason, self.opts.kill_grace, now);
                }
            }
            return;
        }
        if matches!(
            self.life.phase,
            Phase::Preparing | Phase::Finished | Phase::Settled { .. }
        ) {
            return;
        }
        for index in 0..self.sources.len() {
            if self.sources[index].is_open() {
                self.flush_partial(index, now, out, false);
            }
        }
        let mut beat = false;
        let mut stall = false;
        let mut timed_out = false;
        let mut result_grace = false;
        let mut leaked = false;
        match &mut self.life.phase {
            Phase::Running(r) => {
                if r.timeout_at.is_some_and(|t| t <= now) {
                    r.timeout_at = None;
                    timed_out = true;
                }
                if r.result_grace_at.is_some_and(|t| t <= now) {
                    r.result_grace_at = None;
                    result_grace = true;
                }
                if let (Some(at), Some(every)) = (r.heartbeat_at, self.opts.heartbeat)
                    && at <= now
                {
                    r.heartbeat_at = Some(now + every);
                    beat = true;
                }
                if r.stall_at.is_some_and(|t| t <= now) {
                    r.stall_at = None;
                    stall = true;
                }
            }
            Phase::Draining { drain, .. } if drain.expired(now) => {
                // The leak is reported once.
                drain.spend();
                leaked = true;
            }
            _ => {}
        }
        if timed_out {
            self.terminate(EndedBy::Timeout, now);
        }
        if result_grace {
            // The agent said its result but does not exit (an MCP server or
            // a background shell keeps it alive): end it like a timeout.
            self.terminate(EndedBy::ResultWithoutExit, now);
        }
        if leaked {
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
        if beat {
            self.heartbeat(now, out);
        }
        if stall {
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
        if let Phase::Backoff { .. } = self.life.phase
            && self.life.ending.is_some()
        {
            // Ended while waiting for its next attempt: the last attempt's
            // outcome is the worker's.
            return self.close_up(out);
        }
        let Phase::Draining { exited_at, .. } = self.life.phase else {
            return Settle::NotYet;
        };
        if self.sources.iter().any(Source::is_open) {
            return Settle::NotYet;
        }
        if let Some(mut child) = self.child.take() {
            self.status = child.wait().ok();
        }
        // Reaped this instant; if the group still exists, its other members
        // keep its id from being reused. Something of it outlived the
        // worker without holding its outputs (a daemon it forgot): sc
        // leaves no orphans behind.
        if crate::process::signals::group_alive(self.pid) && signal_group(self.pid, Signal::SIGTERM)
        {
            signal_group(self.pid, Signal::SIGCONT);
            self.leftover = Some(self.pid);
        }
        // The verdict outlives the outputs.
        self.final_watch = self
            .sources
            .iter_mut()
            .find_map(|s| s.tap.take())
            .map(|t| t.reader);
        self.sources.clear();
        match self.watch().and_then(|w| w.session()) {
            Some(session) => self.session = Some(session.to_owned()),
            // It was to resume a session and never opened it (the CLI had
            // not saved it: Gemini keeps none when its first request
            // failed): the next attempt starts anew.
            None if self.attempt_resumed => self.session = None,
            None => {}
        }
        self.life.phase = Phase::Settled { exited_at };
        if self.schedule_reconnect(out) {
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

    /// Why the attempt that just ended should run again, if it should:
    /// it failed, attempts are left, nobody ended it on purpose, and the
    /// failure may pass (or `--retry-on any`).
    fn retry_reason(&self) -> Option<String> {
        let retry = self.opts.retry.as_ref()?;
        if self.attempt > retry.retries || self.launch_failed || self.life.ending.is_some() {
            return None;
        }
        let code = self.compute_exit_code();
        if code == 0 {
            return None;
        }
        if self.opts.agent.is_some() {
            let watch = self.watch();
            if let Some(trouble) = watch.and_then(|w| w.trouble()) {
                return Some(format!("the agent reported: {}", first_line(trouble)));
            }
            if watch.and_then(|w| w.result()).is_none() {
                return Some(format!(
                    "the agent exited ({}) without a result",
                    describe(code)
                ));
            }
        }
        retry
            .on_any
            .then(|| format!("the attempt failed ({})", describe(code)))
    }

    /// Say the attempt's end and when the next begins: exponential backoff
    /// with jitter (so that many workers hit by one outage do not all come
    /// back at once).
    fn schedule_retry(&mut self, reason: String, exited_at: Instant, out: &mut Vec<u8>) {
        let retry = self.opts.retry.as_ref().expect("a retry policy");
        let doubled = retry
            .delay
            .saturating_mul(1 << (self.attempt - 1).min(16))
            .min(MAX_RETRY_DELAY);
        let delay = doubled.mul_f64(0.75 + 0.5 * jitter());
        let status = self.status;
        let event = sc_events::Retry {
            attempt: self.attempt,
            reason,
            code: status.and_then(|s| s.code()),
            signal: status.and_then(|s| s.signal()).map(name),
            duration_ms: millis(exited_at.saturating_duration_since(self.started)),
            delay_ms: millis(delay),
        };
        self.emit(out, event);
        self.spent_before = self.total_spend();
        self.spent = Default::default();
        self.applied.cleanup();
        self.leaked = false;
        self.stop_seen = false;
        self.results_seen = 0;
        self.life.phase = Phase::Backoff {
            until: Instant::now() + delay,
        };
    }

    /// The next attempt: the same command, or for an agent whose session
    /// is known, the command that resumes it.
    fn relaunch(&mut self, registry: &Registry, out: &mut Vec<u8>) {
        let (Some(mut spec), Some(tokens)) = (self.spec.clone(), self.tokens) else {
            return;
        };
        if std::mem::take(&mut self.reconnecting)
            && let Some(reconnect) = &self.opts.reconnect
        {
            // The same attempt, followed again from where it broke off.
            let from = self.relay_kept.as_ref().map_or(0, |r| r.taken);
            spec.argv = crate::placement::remote::attach_argv(
                &reconnect.remote,
                &reconnect.dir,
                &self.opts.id,
                from,
            );
            if let Err(e) = self.launch(&spec, registry, tokens, out) {
                self.refuse_launch(&spec, &e, out);
            }
            return;
        }
        // A new attempt starts a new stream there.
        self.relay_kept = None;
        let mut resumes = None;
        let resume = self.opts.retry.as_ref().and_then(|r| r.resume.clone());
        if let (Some(resume), Some(session)) = (resume, self.session.clone()) {
            match resume(&session, "the previous attempt failed") {
                Ok((argv, env)) => {
                    spec.argv = argv;
                    spec.env.extend(env);
                    resumes = Some(session);
                }
                Err(message) => self.emit(
                    out,
                    ErrorEvent {
                        message: format!(
                            "cannot resume session {session}: {message}; starting anew"
                        ),
                    },
                ),
            }
        }
        self.attempt += 1;
        self.attempt_resumed = resumes.is_some();
        self.resuming = resumes;
        self.final_watch = None;
        if let Err(e) = self.launch(&spec, registry, tokens, out) {
            self.refuse_launch(&spec, &e, out);
        }
    }

    /// The worktree is committed: write the `exit` event.
    pub fn finish_with(&mut self, worktree: WorktreeReport, out: &mut Vec<u8>) {
        self.finish(out, Some(worktree));
    }

    /// A process group that outlived the worker and was sent SIGTERM: to be
    /// ended for good after the grace.
    pub fn take_leftover(&mut self) -> Option<u32> {
        self.leftover.take()
    }

    pub fn kill_grace(&self) -> Duration {
        self.opts.kill_grace
    }

    fn finish(&mut self, out: &mut Vec<u8>, worktree: Option<WorktreeReport>) {
        if self.opts.remote.is_some() && !self.launch_failed {
            return self.finish_remote(out);
        }
        let status = self.status;
        let ended = self.life.exited_at().unwrap_or_else(Instant::now);
        let ended_by = self
            .life
            .reason()
            .cloned()
            .or_else(|| self.limit_hit(status));
        let exit = Exit {
            code: if self.launch_failed {
                Some(127)
            } else {
                status.and_then(|s| s.code())
            },
            signal: status.and_then(|s| s.signal()).map(name),
            // Every attempt's, and the pauses between them.
            duration_ms: millis(ended.saturating_duration_since(self.first_started)),
            timed_out: self.timed_out(),
            lines: self.lines,
            bytes: self.bytes,
            leaked: self.leaked,
            ended_by,
            agent_result: self.agent_result().map(str::to_owned),
            worktree,
            cost_usd: self
                .opts
                .agent
                .as_ref()
                .and_then(|_| self.total_spend().usd)
                .map(|usd| (usd * 1e6).round() / 1e6),
        };
        self.exit_code = Some(self.compute_exit_code());
        self.emit(out, exit);
        self.applied.cleanup();
        self.life.phase = Phase::Finished;
        // Give everything back now: the parser's state, buffers.
        self.sources = Vec::new();
    }

    /// A remote worker ends with the remote side's `exit`, already relayed;
    /// without one the connection was lost: said, and an `exit` of sc's.
    fn finish_remote(&mut self, out: &mut Vec<u8>) {
        self.stdin_hold = None;
        if let Some(exit) = &self.remote_exit {
            let code = match (exit.code, &exit.signal) {
                _ if exit.timed_out => 124,
                (Some(code), _) => code,
                (None, Some(signal)) => signal.parse::<Signal>().map_or(1, |s| 128 + s as i32),
                (None, None) => 1,
            };
            let agent_failed = exit.agent_result.as_deref().is_some_and(|r| r != "ok");
            self.exit_code = Some(if code == 0 && agent_failed { 1 } else { code });
            self.life.phase = Phase::Finished;
            self.sources = Vec::new();
            return;
        }
        let host = self.opts.remote.clone().unwrap_or_default();
        let said = String::from_utf8_lossy(&self.ssh_said);
        let said = said.trim();
        let message = if said.is_empty() {
            format!("the connection to {host} was lost before the worker's exit came")
        } else {
            format!(
                "the connection to {host} was lost before the worker's exit came: {}",
                first_line(said)
            )
        };
        self.emit(out, ErrorEvent { message });
        let status = self.status;
        let ended = self.life.exited_at().unwrap_or_else(Instant::now);
        let ended_by = match self.life.reason() {
            Some(reason) => reason.clone(),
            None => EndedBy::ConnectionLost,
        };
        let exit = Exit {
            code: status.and_then(|s| s.code()),
            signal: status.and_then(|s| s.signal()).map(name),
            duration_ms: millis(ended.saturating_duration_since(self.first_started)),
            timed_out: self.timed_out(),
            lines: self.lines,
            bytes: self.bytes,
            leaked: false,
            ended_by: Some(ended_by),
            agent_result: None,
            worktree: None,
            cost_usd: None,
        };
        self.exit_code = Some(if self.timed_out() { 124 } else { 255 });
        self.emit(out, exit);
        self.life.phase = Phase::Finished;
        self.sources = Vec::new();
    }

    fn timed_out(&self) -> bool {
        self.life.reason() == Some(&EndedBy::Timeout)
    }

    /// An agent's verdict, from its last result: `ok`, `error`, or
    /// `missing` (no result at all).
    fn agent_result(&self) -> Option<&'static str> {
        self.opts.agent.as_ref()?;
        if self.launch_failed {
            return None;
        }
        Some(match self.watch().and_then(|w| w.result()) {
            Some(true) => "ok",
            Some(false) => "error",
            None => "missing",
        })
    }

    fn watch(&self) -> Option<&dyn AgentReader> {
        self.sources
            .iter()
            .find_map(|s| s.tap.as_ref())
            .map(|t| t.reader.as_ref())
            .or(self.final_watch.as_deref())
    }

    /// After an agent's line: a result written while no task it started
    /// is open (re)starts the grace in which it should exit; a task opened
    /// meanwhile stops it. Interim results (Claude Code writes one while a
    /// background shell or subagent still runs) start nothing.
    fn note_agent(&mut self, now: Instant) {
        let Some(watch) = self.watch() else {
            return;
        };
        let (results, settled) = (watch.results(), watch.settled());
        let grace = self.opts.agent_grace;
        let new_result = results > self.results_seen;
        self.results_seen = results;
        if self.life.ending.is_some() {
            return;
        }
        if let Phase::Running(r) = &mut self.life.phase {
            if !settled {
                r.result_grace_at = None;
            } else if new_result {
                r.result_grace_at = Some(now + grace);
            }
        }
    }

    /// What the worker has spent, over every attempt, in USD (None when
    /// its model has no known price, or it is no agent).
    pub fn spent_usd(&self) -> Option<f64> {
        if self.opts.remote.is_some() {
            // Counted there, over every attempt; known here with its exit.
            return self.remote_exit.as_ref().and_then(|e| e.cost_usd);
        }
        self.total_spend().usd
    }

    fn total_spend(&self) -> Spend {
        self.spent_before.plus(self.spent)
    }

    /// After an agent's line: count what it has spent; at its cap, end it
    /// (`ended_by: "budget"`).
    fn check_budget(&mut self, now: Instant, out: &mut Vec<u8>) {
        let Some(budget) = self.opts.budget.as_ref() else {
            return;
        };
        let Some(watch) = self.watch() else {
            return;
        };
        let spent = watch.spend(budget.model.as_deref());
        let model = watch.model().or(budget.model.as_deref()).map(str::to_owned);
        let (max_usd, max_tokens) = (budget.max_usd, budget.max_tokens);
        self.spent = spent;
        let total = self.total_spend();
        if max_usd.is_some() && total.usd.is_none() && total.tokens > 0 && !self.unpriced_said {
            self.unpriced_said = true;
            let model = model.unwrap_or_else(|| "(the agent did not name it)".into());
            let message = format!(
                "no price is known for model {model}: its cost cannot be counted, so its USD cap \
                 cannot hold it; give the model's price with --prices FILE, or cap its tokens with \
                 --max-tokens"
            );
            self.emit(out, ErrorEvent { message });
        }
        let over_usd = max_usd.zip(total.usd).is_some_and(|(max, usd)| usd >= max);
        let over_tokens = max_tokens.is_some_and(|max| total.tokens >= max);
        if over_usd || over_tokens {
            self.terminate(EndedBy::Budget, now);
        }
    }

    /// The limits as the start event reports them.
    fn limits_report(&self) -> Option<LimitsReport> {
        let limits = self.limits.clone()?;
        Some(LimitsReport {
            limits,
            memory_by: self.applied.memory_by.map(|by| by.as_str().to_owned()),
        })
    }

    /// Which limit ended the worker, if one did. CPU: the kernel's SIGXCPU,
    /// or its SIGKILL at the hard limit. Memory: the cgroup's OOM kill; with
    /// RLIMIT_DATA, a death by SIGABRT, SIGSEGV or SIGBUS or a SIGKILL sc did
    /// not send (a failed allocation ends most programs so).
    fn limit_hit(&self, status: Option<ExitStatus>) -> Option<EndedBy> {
        let limits = self.limits.as_ref()?;
        let signal = status.and_then(|s| s.signal());
        if limits.cpu_s.is_some()
            && (signal == Some(libc::SIGXCPU) || signal == Some(libc::SIGKILL))
        {
            return Some(EndedBy::CpuLimit);
        }
        match self.applied.memory_by? {
            MemoryBy::Cgroup => self.applied.oom_killed().then_some(EndedBy::MemoryLimit),
            MemoryBy::RlimitData => matches!(
                signal,
                Some(libc::SIGABRT | libc::SIGSEGV | libc::SIGBUS | libc::SIGKILL)
            )
            .then_some(EndedBy::MemoryLimit),
        }
    }

    /// The exit status sc-spawn reports for this worker (DESIGN.md): the
    /// worker's code, 128+N for signal N, 124 for a timeout, 127 when it
    /// could not be launched; 1 for a task that never ran. Known once it
    /// has finished.
    pub fn exit_code(&self) -> i32 {
        self.exit_code.unwrap_or(1)
    }

    fn compute_exit_code(&self) -> i32 {
        if self.launch_failed {
            return 127;
        }
        if self.timed_out() {
            return 124;
        }
        let code = match self.status {
            Some(status) => status
                .code()
                .or_else(|| status.signal().map(|n| 128 + n))
                .unwrap_or(1),
            None => 1,
        };
        // An agent that exits 0 without a successful result did not succeed.
        if code == 0 && self.agent_result().is_some_and(|r| r != "ok") {
            return 1;
        }
        code
    }

    fn emit(&mut self, out: &mut Vec<u8>, body: impl Into<Body>) {
        let event = Event::new(self.opts.id.clone(), self.seq, now_ts(), body);
        self.seq += 1;
        encode(&event, out);
    }
}

/// Where a source's bytes go before they become events.
struct Route<'a> {
    framer: &'a mut Framer,
    /// Set for a nested worker's stdout: its events are routed, not framed.
    nest: Option<&'a mut Nest>,
    /// The worker's id, which nested ids are prefixed with.
    id: &'a str,
}

/// Turns framed chunks into output events for one source.
struct Chunks<'a> {
    encoder: &'a OutputEncoder,
    tap: Option<&'a mut AgentTap>,
    seq: &'a mut u64,
    lines: &'a mut u64,
    bytes: &'a mut u64,
    ts: &'a TsText,
    progress: bool,
    mid_line: &'a mut bool,
}

impl Chunks<'_> {
    fn emit(&mut self, out: &mut Vec<u8>, chunk: &[u8]) {
        // The framer ends every event right after a newline, so a chunk holds
        // at most one, as its last byte.
        let ends_line = chunk.last() == Some(&b'\n');
        *self.lines += u64::from(ends_line);
        *self.mid_line = !ends_line;
        *self.bytes += chunk.len() as u64;
        let agent = self.tap.as_mut().and_then(|tap| tap.push(chunk));
        match std::str::from_utf8(chunk) {
            Ok(text) => {
                let progress = if self.progress {
                    crate::output::progress::detect(text)
                } else {
                    None
                };
                self.encoder.encode_text(
                    out,
                    *self.seq,
                    self.ts,
                    text,
                    progress.as_ref(),
                    agent.as_ref(),
                );
            }
            Err(_) => {
                self.encoder
                    .encode_bytes(out, *self.seq, self.ts, chunk, None, agent.as_ref())
            }
        }
        *self.seq += 1;
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn launch_error_message(program: &str, e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::NotFound => format!(
            "cannot run `{program}`: command not found (check the name, or give its full path; PATH is searched)"
        ),
        io::ErrorKind::PermissionDenied => format!(
            "cannot run `{program}`: permission denied (is it executable? `chmod +x {program}`)"
        ),
        _ if is_out_of_descriptors(e) => format!(
            "cannot run `{program}`: {e}: sc-spawn is out of file descriptors (each running worker \
             holds two); raise the limit with `ulimit -n`, or run fewer at once with -j"
        ),
        _ => format!("cannot run `{program}`: {e}"),
    }
}

/// The process (EMFILE) or the system (ENFILE) has no file descriptor left.
pub fn is_out_of_descriptors(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE))
}

/// A number in [0, 1) that differs from call to call and process to
/// process (std's hasher keys are random), for retry jitter.
fn jitter() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// An exit status as words.
fn describe(code: i32) -> String {
    match code {
        c if c > 128 => format!("exit {c}, {}", name(c - 128)),
        c => format!("exit {c}"),
    }
}

fn first_line(text: &str) -> &str {
    let line = text.lines().next().unwrap_or("");
    match line.char_indices().nth(200) {
        Some((at, _)) => &line[..at],
        None => line,
    }
}
