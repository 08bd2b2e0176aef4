//! One worker's life as events: launch, output, heartbeats, stalls, the
//! timeout, signals, draining its pipes, and its one `exit` event.
//!
//! A [`Worker`] does no waiting of its own. The [`crate::supervisor`] tells it
//! when its outputs are readable, when a child exited, when a signal came and
//! what time it is; the worker answers with events and with the next moment
//! it needs to be woken ([`Worker::deadline`]).

use std::io::{self, Read};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

use mio::unix::pipe::Receiver;
use mio::{Interest, Registry, Token};
use nix::sys::signal::Signal;
use sc_events::{
    Body, ErrorEvent, Event, Exit, Heartbeat, Limits, OutputEncoder, SCHEMA_VERSION, Stall, Start,
    Stream, TsText, encode, now_ts,
};

use sc_agents::{AgentKind, Parser};
use serde_json::Value;

use crate::framer::Framer;
use crate::launch::{Launched, PtyMode, Spec, launch};
use crate::limits::{Applied, MemoryBy};
use crate::nest::Nest;
use crate::proctree::ProcessTree;
use crate::signals::{end_group, name, signal_group};
use crate::sink::Sink;
use crate::worktree::Worktree;

/// How a worker is watched. Durations of `None` turn a timer off.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    pub id: String,
    /// `shell` for a plain command; agent kinds come later.
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
    /// process (a grandchild) still holds its outputs open.
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
    pub agent: Option<AgentKind>,
    /// How long an agent may run on after its result before it is ended.
    pub agent_grace: Duration,
    /// The worker's own git worktree (`--worktree`), finished at its exit.
    pub worktree: Option<Worktree>,
}

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
        }
    }
}

/// Reads of one output per turn of the poller, so that one chatty worker
/// cannot starve the others (or timers) of attention.
const READS_PER_TURN: usize = 16;

/// After SIGKILL to a group that held the outputs, how long to wait for end
/// of file before closing them: a holder outside the group would keep them
/// open for ever.
const CLOSE_AFTER_KILL: Duration = Duration::from_millis(200);

#[derive(Debug)]
struct Source {
    stream: Stream,
    rx: Receiver,
    token: Token,
    framer: Framer,
    encoder: OutputEncoder,
    open: bool,
    readable: bool,
    /// The last byte emitted was not a newline: a line is unfinished.
    mid_line: bool,
    /// For a nested worker's stdout: the events it carries.
    nest: Option<Nest>,
    /// For an agent's stdout: its lines, read as they complete.
    tap: Option<AgentTap>,
}

/// The longest agent line read whole (an image read can be megabytes);
/// its bytes stream on either way.
const MAX_AGENT_LINE: usize = 64 * 1024 * 1024;

/// Reads an agent's output lines as the framer hands them out.
#[derive(Debug)]
struct AgentTap {
    parser: Parser,
    line: Vec<u8>,
    /// The current line passed MAX_AGENT_LINE: it is not read.
    too_long: bool,
    /// The agent's result, when it said one: whether it succeeded.
    result: Option<bool>,
}

impl AgentTap {
    fn new(kind: AgentKind) -> AgentTap {
        AgentTap {
            parser: Parser::new(kind),
            line: Vec::new(),
            too_long: false,
            result: None,
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
            self.parser.line(&self.line)
        };
        self.line.clear();
        self.too_long = false;
        if let Some(note) = &note
            && note["kind"] == "result"
        {
            self.result = note["ok"].as_bool();
        }
        note
    }
}

#[derive(Debug)]
pub struct Worker {
    opts: WorkerOptions,
    seq: u64,
    child: Option<Child>,
    pid: u32,
    sources: Vec<Source>,
    started: Instant,
    last_output: Instant,
    lines: u64,
    bytes: u64,
    status: Option<ExitStatus>,
    exited_at: Option<Instant>,
    launch_failed: bool,
    timed_out: bool,
    ended_by: Option<&'static str>,
    leaked: bool,
    timeout_at: Option<Instant>,
    kill_at: Option<Instant>,
    drain_until: Option<Instant>,
    close_at: Option<Instant>,
    next_heartbeat: Option<Instant>,
    stalled: bool,
    finished: bool,
    /// Processes of the group outlived the worker and its outputs; they were
    /// sent SIGTERM and are ended for good by [`Worker::end_leftovers`].
    leftovers: bool,
    tree: ProcessTree,
    /// When an agent's result came (it should exit soon after).
    result_at: Option<Instant>,
    limits: Option<Limits>,
    applied: Applied,
}

impl Worker {
    /// Launch a worker and write its `start` event (or `error` and `exit`
    /// when it cannot be launched). Its outputs are registered with
    /// `registry` under `tokens[0..]`.
    pub fn spawn(
        opts: WorkerOptions,
        spec: &Spec,
        registry: &Registry,
        tokens: [Token; 2],
        out: &mut Vec<u8>,
    ) -> Worker {
        let mut worker = Worker::blank(opts);
        worker.limits = spec.limits.clone();
        match launch(spec).and_then(|launched| worker.adopt(launched, registry, tokens)) {
            Ok(()) => {
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
                    pid: worker.pid,
                    cwd,
                    kind: worker.opts.kind.clone(),
                    pty: spec.pty != PtyMode::Off,
                    schema: SCHEMA_VERSION,
                    limits: worker.limits_report(),
                };
                worker.emit(out, start);
            }
            Err(e) => {
                let program = spec
                    .argv
                    .first()
                    .map(|p| p.to_string_lossy())
                    .unwrap_or_default();
                worker.refused(launch_error_message(&program, &e), out);
            }
        }
        worker
    }

    /// A worker that cannot be launched at all (an unknown kind, a task
    /// without a command): its `error`, then its `exit` with code 127.
    pub fn refuse(opts: WorkerOptions, message: String, out: &mut Vec<u8>) -> Worker {
        let mut worker = Worker::blank(opts);
        worker.refused(message, out);
        worker
    }

    fn refused(&mut self, message: String, out: &mut Vec<u8>) {
        self.emit(out, ErrorEvent { message });
        self.launch_failed = true;
        self.exited_at = Some(Instant::now());
        self.finish(out);
    }

    fn blank(opts: WorkerOptions) -> Worker {
        let now = Instant::now();
        Worker {
            seq: opts.first_seq,
            child: None,
            pid: 0,
            sources: Vec::new(),
            started: now,
            last_output: now,
            lines: 0,
            bytes: 0,
            status: None,
            exited_at: None,
            launch_failed: false,
            timed_out: false,
            ended_by: None,
            leaked: false,
            timeout_at: opts.timeout.map(|t| now + t),
            kill_at: None,
            drain_until: None,
            close_at: None,
            next_heartbeat: opts.heartbeat.map(|h| now + h),
            stalled: false,
            finished: false,
            leftovers: false,
            tree: ProcessTree::default(),
            result_at: None,
            limits: None,
            applied: Applied::default(),
            opts,
        }
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
        for ((stream, fd), token) in launched.outputs.into_iter().zip(tokens) {
            let mut rx = Receiver::from(fd);
            rx.set_nonblocking(true)?;
            registry.register(&mut rx, token, Interest::READABLE)?;
            self.sources.push(Source {
                stream,
                rx,
                token,
                framer: Framer::new(self.opts.max_event_bytes, self.opts.flush),
                encoder: OutputEncoder::new(&self.opts.id, stream),
                open: true,
                // Read once before the first readiness event: cheap, and it
                // catches output written before registration.
                readable: true,
                mid_line: false,
                nest: (self.opts.nested && stream != Stream::Stderr).then(Nest::default),
                tap: self
                    .opts
                    .agent
                    .filter(|_| stream != Stream::Stderr)
                    .map(AgentTap::new),
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

    /// The exit event has been written.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// An output of this worker has data (or end of file) waiting.
    pub fn wants_read(&self) -> bool {
        self.sources.iter().any(|s| s.open && s.readable)
    }

    /// The poller reported `token` readable.
    pub fn on_readable(&mut self, token: Token) {
        if let Some(source) = self.sources.iter_mut().find(|s| s.token == token) {
            source.readable = true;
        }
    }

    /// Read what is waiting on the worker's outputs (a bounded amount) and
    /// turn it into output events, unless the sink is over its high-water
    /// mark: then the worker is left to block on its own writes.
    pub fn pump(&mut self, scratch: &mut [u8], sink: &mut Sink, registry: &Registry) {
        let now = Instant::now();
        for index in 0..self.sources.len() {
            let mut reads = 0;
            while self.sources[index].open && self.sources[index].readable {
                if sink.is_full() || reads == READS_PER_TURN {
                    return;
                }
                let source = &mut self.sources[index];
                match (&source.rx).read(scratch) {
                    Ok(0) => self.close_source(index, sink.buffer(), registry),
                    Ok(n) => {
                        reads += 1;
                        self.last_output = now;
                        self.stalled = false;
                        self.frame(index, &scratch[..n], now, sink.buffer());
                        self.note_result(now);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => source.readable = false,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    // A pseudo-terminal's master reads EIO once every process
                    // holding the terminal has closed it: that is its end of file.
                    Err(e)
                        if source.stream != Stream::Stderr
                            && e.raw_os_error() == Some(libc::EIO) =>
                    {
                        self.close_source(index, sink.buffer(), registry)
                    }
                    Err(e) => {
                        let message =
                            format!("reading the worker's {}: {e}", source.stream.as_str());
                        self.emit(sink.buffer(), ErrorEvent { message });
                        self.close_source(index, sink.buffer(), registry);
                    }
                }
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

    fn close_source(&mut self, index: usize, out: &mut Vec<u8>, registry: &Registry) {
        self.flush_partial(index, Instant::now(), out, true);
        let source = &mut self.sources[index];
        if source.mid_line {
            // A last line without a newline is still a line.
            self.lines += 1;
            source.mid_line = false;
        }
        source.open = false;
        source.readable = false;
        let _ = registry.deregister(&mut source.rx);
    }

    /// Check whether the worker process has exited (after SIGCHLD).
    pub fn check_exit(&mut self, now: Instant) {
        if self.status.is_some() {
            return;
        }
        let Some(child) = self.child.as_mut() else {
            return;
        };
        if let Ok(Some(status)) = child.try_wait() {
            self.status = Some(status);
            self.exited_at = Some(now);
            self.timeout_at = None;
            if self.sources.iter().any(|s| s.open) {
                self.drain_until = Some(now + self.opts.drain);
            }
        }
    }

    /// sc-spawn got an interrupting signal: pass it to the worker's group,
    /// or SIGKILL on the second one.
    pub fn interrupt(&mut self, signal: Signal, escalate: bool, now: Instant) {
        if self.finished || self.pid == 0 {
            return;
        }
        self.ended_by.get_or_insert("interrupted");
        if escalate {
            signal_group(self.pid, Signal::SIGKILL);
            self.kill_at = None;
            self.close_at.get_or_insert(now + CLOSE_AFTER_KILL);
        } else {
            signal_group(self.pid, signal);
            self.kill_at.get_or_insert(now + self.opts.kill_grace);
        }
    }

    /// End the worker's group politely: SIGTERM now, SIGKILL after the grace.
    pub fn terminate(&mut self, reason: &'static str, now: Instant) {
        if self.finished || self.pid == 0 {
            return;
        }
        self.ended_by.get_or_insert(reason);
        signal_group(self.pid, Signal::SIGTERM);
        self.kill_at.get_or_insert(now + self.opts.kill_grace);
    }

    /// The next moment this worker needs attention, if any.
    pub fn deadline(&self) -> Option<Instant> {
        if self.finished {
            return None;
        }
        let alive = self.status.is_none();
        let flush = self
            .sources
            .iter()
            .filter(|s| s.open)
            .filter_map(|s| s.framer.deadline());
        let stall = match (alive && !self.stalled, self.opts.stall) {
            (true, Some(stall)) => Some(self.last_output + stall),
            _ => None,
        };
        let heartbeat = self.next_heartbeat.filter(|_| alive);
        [
            self.timeout_at,
            self.kill_at,
            self.drain_until,
            self.close_at,
            stall,
            heartbeat,
        ]
        .into_iter()
        .flatten()
        .chain(flush)
        .min()
    }

    /// Do what is due at `now`: flush partial lines, time out, escalate,
    /// give up on leaked outputs, heartbeat, report a stall.
    pub fn on_timers(&mut self, now: Instant, out: &mut Vec<u8>, registry: &Registry) {
        if self.finished {
            return;
        }
        for index in 0..self.sources.len() {
            if self.sources[index].open {
                self.flush_partial(index, now, out, false);
            }
        }
        if self.timeout_at.is_some_and(|t| t <= now) {
            self.timeout_at = None;
            self.timed_out = true;
            self.terminate("timeout", now);
        }
        if self.status.is_none()
            && self.ended_by.is_none()
            && self
                .result_at
                .is_some_and(|at| at + self.opts.agent_grace <= now)
        {
            // The agent said its result but does not exit (an MCP server or
            // a background shell keeps it alive): end it like a timeout.
            self.terminate("result without exit", now);
        }
        if self.drain_until.is_some_and(|t| t <= now) {
            // The worker is gone but something it started still holds its
            // outputs: name it, and end the group like the worker's own.
            self.drain_until = None;
            self.leaked = true;
            self.terminate("leaked output", now);
        }
        if self.kill_at.is_some_and(|t| t <= now) {
            self.kill_at = None;
            signal_group(self.pid, Signal::SIGKILL);
            if self.sources.iter().any(|s| s.open) {
                self.close_at.get_or_insert(now + CLOSE_AFTER_KILL);
            }
        }
        if self.close_at.is_some_and(|t| t <= now) && self.status.is_some() {
            self.close_at = None;
            for index in 0..self.sources.len() {
                if self.sources[index].open {
                    self.close_source(index, out, registry);
                }
            }
        }
        if self.status.is_none() {
            if let (Some(at), Some(every)) = (self.next_heartbeat, self.opts.heartbeat)
                && at <= now
            {
                self.next_heartbeat = Some(now + every);
                self.heartbeat(now, out);
            }
            if let Some(stall) = self.opts.stall
                && !self.stalled
                && now.duration_since(self.last_output) >= stall
            {
                self.stalled = true;
                let idle_ms = millis(now.duration_since(self.last_output));
                self.emit(out, Stall { idle_ms });
            }
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

    /// Write the `exit` event once the worker has exited and its outputs are
    /// closed. Returns true when it did.
    pub fn try_finish(&mut self, out: &mut Vec<u8>) -> bool {
        if self.finished || self.status.is_none() || self.sources.iter().any(|s| s.open) {
            return false;
        }
        self.finish(out);
        if signal_group(self.pid, Signal::SIGTERM) {
            // Something of the group outlived the worker without holding its
            // outputs (a daemon it forgot): sc leaves no orphans behind.
            self.leftovers = true;
        }
        true
    }

    fn finish(&mut self, out: &mut Vec<u8>) {
        let status = self.status;
        let ended = self.exited_at.unwrap_or_else(Instant::now);
        let exit = Exit {
            code: if self.launch_failed {
                Some(127)
            } else {
                status.and_then(|s| s.code())
            },
            signal: status.and_then(|s| s.signal()).map(name),
            duration_ms: millis(ended.duration_since(self.started)),
            timed_out: self.timed_out,
            lines: self.lines,
            bytes: self.bytes,
            leaked: self.leaked,
            ended_by: self
                .ended_by
                .or_else(|| self.limit_hit(status))
                .map(str::to_owned),
            agent_result: self.agent_result().map(str::to_owned),
            worktree: match (&self.opts.worktree, self.launch_failed) {
                (Some(worktree), false) => Some(worktree.finish(&self.opts.id)),
                _ => None,
            },
        };
        self.emit(out, exit);
        self.applied.cleanup();
        self.finished = true;
        self.kill_at = None;
        self.close_at = None;
        self.drain_until = None;
    }

    /// An agent's verdict: `ok`, `error`, or `missing` (no result at all).
    fn agent_result(&self) -> Option<&'static str> {
        self.opts.agent?;
        if self.launch_failed {
            return None;
        }
        let result = self
            .sources
            .iter()
            .find_map(|s| s.tap.as_ref())
            .and_then(|t| t.result);
        Some(match result {
            Some(true) => "ok",
            Some(false) => "error",
            None => "missing",
        })
    }

    /// The agent's result, when one was seen: when it came.
    fn note_result(&mut self, now: Instant) {
        if self.result_at.is_none()
            && self
                .sources
                .iter()
                .any(|s| s.tap.as_ref().is_some_and(|t| t.result.is_some()))
        {
            self.result_at = Some(now);
        }
    }

    /// The limits as the start event reports them.
    fn limits_report(&self) -> Option<serde_json::Value> {
        let limits = self.limits.as_ref()?;
        let mut report = serde_json::to_value(limits).ok()?;
        if let (Some(by), Some(map)) = (self.applied.memory_by, report.as_object_mut()) {
            map.insert("memory_by".into(), by.as_str().into());
        }
        Some(report)
    }

    /// Which limit ended the worker, if one did. CPU: the kernel's SIGXCPU,
    /// or its SIGKILL at the hard limit. Memory: the cgroup's OOM kill; with
    /// RLIMIT_DATA, a death by SIGABRT, SIGSEGV or SIGBUS or a SIGKILL sc did
    /// not send (a failed allocation ends most programs so).
    fn limit_hit(&self, status: Option<ExitStatus>) -> Option<&'static str> {
        let limits = self.limits.as_ref()?;
        let signal = status.and_then(|s| s.signal());
        if limits.cpu_s.is_some()
            && (signal == Some(libc::SIGXCPU) || signal == Some(libc::SIGKILL))
        {
            return Some("cpu limit");
        }
        match self.applied.memory_by? {
            MemoryBy::Cgroup => self.applied.oom_killed().then_some("memory limit"),
            MemoryBy::RlimitData => matches!(
                signal,
                Some(libc::SIGABRT | libc::SIGSEGV | libc::SIGBUS | libc::SIGKILL)
            )
            .then_some("memory limit"),
        }
    }

    /// After the stream is written: give processes that outlived the worker
    /// the grace period to go after SIGTERM, then SIGKILL them.
    pub fn end_leftovers(&mut self) {
        if !self.leftovers {
            return;
        }
        end_group(self.pid, self.opts.kill_grace);
        self.leftovers = false;
    }

    /// The exit status sc-spawn reports for this worker (DESIGN.md): the
    /// worker's code, 128+N for signal N, 124 for a timeout, 127 when it
    /// could not be launched.
    pub fn exit_code(&self) -> i32 {
        if self.launch_failed {
            return 127;
        }
        if self.timed_out {
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
                    crate::progress::detect(text)
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
        _ => format!("cannot run `{program}`: {e}"),
    }
}
