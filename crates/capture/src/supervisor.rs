//! The single poller: workers' outputs, event-stream inputs, the sink,
//! signals and timers, all in one mio loop that sleeps until one of them
//! needs it.
//!
//! There is no busy polling: the loop blocks in `poll` until an output or an
//! input is readable, the sink writable, a signal arrives (SIGCHLD included,
//! through signal-hook's self-pipe) or the earliest deadline comes.

use std::io;
use std::os::fd::BorrowedFd;
use std::time::{Duration, Instant};

use mio::{Events, Interest, Poll, Token};
use nix::sys::signal::Signal;
use signal_hook::consts::{SIGCHLD, SIGHUP, SIGINT, SIGTERM};
use signal_hook_mio::v1_0::Signals;

use crate::input::{Input, InputSpec};
use crate::launch::Spec;
use crate::router::{Naming, Router};
use crate::sink::Sink;
use crate::worker::{Worker, WorkerOptions};

const SIGNALS: Token = Token(0);
const SINK: Token = Token(1);
/// Tokens from here on are looked up in `owners`.
const FIRST_TOKEN: usize = 2;

/// The longest input line kept whole by default; longer ones are passed on
/// in pieces as output of the input's own worker.
pub const DEFAULT_MAX_LINE: usize = 8 * 1024 * 1024;

/// What a token belongs to.
#[derive(Debug, Clone, Copy)]
enum Owner {
    Worker(usize),
    Input(usize),
}

/// What happened to the stream itself.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RunReport {
    /// The reader of the stream went away (EPIPE) before the end.
    pub downstream_closed: bool,
    /// The first interrupting signal sc received, if any.
    pub interrupted: Option<i32>,
    /// Writing the stream failed for a reason other than a closed reader.
    pub write_error: Option<String>,
}

pub struct Supervisor {
    poll: Poll,
    events: Events,
    signals: Signals,
    sink: Sink,
    owners: Vec<Owner>,
    workers: Vec<Worker>,
    inputs: Vec<Input>,
    router: Router,
    max_line: usize,
    scratch: Vec<u8>,
    interrupts: u32,
    /// After an interrupt: when to stop waiting for inputs to end by
    /// themselves (files and FIFOs cannot be signalled).
    stop_inputs_at: Option<Instant>,
    grace: Duration,
    report: RunReport,
    notices: Option<&'static str>,
}

impl Supervisor {
    /// A supervisor writing the stream to `out`. Signal handlers are
    /// installed here, before any worker starts, so no SIGCHLD is missed.
    pub fn new(out: BorrowedFd<'_>) -> io::Result<Supervisor> {
        let poll = Poll::new()?;
        let mut signals = Signals::new([SIGCHLD, SIGINT, SIGTERM, SIGHUP])?;
        poll.registry()
            .register(&mut signals, SIGNALS, Interest::READABLE)?;
        let sink = Sink::new(out, poll.registry(), SINK)?;
        Ok(Supervisor {
            poll,
            events: Events::with_capacity(1024),
            signals,
            sink,
            owners: Vec::new(),
            workers: Vec::new(),
            inputs: Vec::new(),
            router: Router::new(Naming::Unique),
            max_line: DEFAULT_MAX_LINE,
            scratch: vec![0; 64 * 1024],
            interrupts: 0,
            stop_inputs_at: None,
            grace: Duration::from_secs(5),
            report: RunReport::default(),
            notices: None,
        })
    }

    /// Tell the person at the terminal, on stderr, what an interrupt did,
    /// as `program`.
    pub fn set_notices(&mut self, program: &'static str) {
        self.notices = Some(program);
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

    fn next_token(&mut self, owner: Owner) -> Token {
        self.owners.push(owner);
        Token(FIRST_TOKEN + self.owners.len() - 1)
    }

    /// Launch a worker now; its `start` (or `error` and `exit`) is written.
    pub fn spawn(&mut self, opts: WorkerOptions, spec: &Spec) -> usize {
        let index = self.workers.len();
        let tokens = [
            self.next_token(Owner::Worker(index)),
            self.next_token(Owner::Worker(index)),
        ];
        let worker = Worker::spawn(opts, spec, self.poll.registry(), tokens, self.sink.buffer());
        self.workers.push(worker);
        index
    }

    pub fn worker(&self, index: usize) -> &Worker {
        &self.workers[index]
    }

    /// Open an input of event lines. When it cannot be opened, an `error`
    /// event of a worker named after it says so, and the error is returned.
    pub fn add_input(&mut self, spec: &InputSpec, label: String) -> io::Result<usize> {
        let route = self.router.add_input(&label);
        let index = self.inputs.len();
        let token = self.next_token(Owner::Input(index));
        let registry = self.poll.registry();
        match Input::open(spec, label.clone(), route, registry, token, self.max_line) {
            Ok(input) => {
                self.inputs.push(input);
                Ok(index)
            }
            Err(e) => {
                let message = match spec {
                    InputSpec::Command(command) => {
                        format!("cannot run input {label} (`{command}`): {e}")
                    }
                    InputSpec::Path(path) => format!("cannot open input {}: {e}", path.display()),
                    InputSpec::Stdin => format!("cannot read stdin: {e}"),
                };
                self.router.own_error(route, message, self.sink.buffer());
                Err(e)
            }
        }
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
            let registry = self.poll.registry();
            for worker in &mut self.workers {
                worker.on_timers(now, self.sink.buffer(), registry);
                if !self.sink.is_full() {
                    worker.pump(&mut self.scratch, &mut self.sink, registry);
                }
                worker.try_finish(self.sink.buffer());
            }
            for input in &mut self.inputs {
                if !self.sink.is_full() {
                    input.pump(
                        &mut self.scratch,
                        &mut self.sink,
                        &mut self.router,
                        registry,
                    );
                }
            }
            self.flush_sink();
            let now = Instant::now();
            let all_done = self.workers.iter().all(Worker::is_finished)
                && self.inputs.iter().all(|i| i.is_done(now));
            if all_done && (self.sink.pending() == 0 || self.sink.is_closed()) {
                break;
            }
            let wants_read = self.workers.iter().any(Worker::wants_read)
                || self.inputs.iter().any(Input::wants_read);
            let timeout = if !self.sink.is_full() && wants_read {
                Some(Duration::ZERO)
            } else if all_done {
                None // only the sink is left: wait until it is writable
            } else {
                self.workers
                    .iter()
                    .filter_map(Worker::deadline)
                    .chain(self.inputs.iter().filter_map(Input::deadline))
                    .chain(self.stop_inputs_at)
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
        for worker in &mut self.workers {
            worker.end_leftovers();
        }
        for input in &mut self.inputs {
            input.end_command(self.grace);
        }
        Ok(self.report.clone())
    }

    fn dispatch(&mut self) {
        let now = Instant::now();
        let mut got_signals = false;
        for event in self.events.iter() {
            match event.token() {
                SIGNALS => got_signals = true,
                SINK => self.sink.on_writable(),
                Token(t) => match self.owners.get(t - FIRST_TOKEN) {
                    Some(Owner::Worker(w)) => self.workers[*w].on_readable(Token(t)),
                    Some(Owner::Input(i)) => {
                        if let Some(input) = self.inputs.get_mut(*i) {
                            input.on_readable();
                        }
                    }
                    None => {}
                },
            }
        }
        if !got_signals {
            return;
        }
        let pending: Vec<i32> = self.signals.pending().collect();
        for signal in pending {
            if signal == SIGCHLD {
                for worker in &mut self.workers {
                    worker.check_exit(now);
                }
                for input in &mut self.inputs {
                    input.check_exit(self.sink.buffer(), &mut self.router);
                }
                continue;
            }
            self.interrupt(signal, now);
        }
    }

    fn interrupt(&mut self, signal: i32, now: Instant) {
        self.interrupts += 1;
        self.report.interrupted.get_or_insert(signal);
        let signal = Signal::try_from(signal).unwrap_or(Signal::SIGTERM);
        let escalate = self.interrupts > 1;
        for worker in &mut self.workers {
            worker.interrupt(signal, escalate, now);
        }
        for input in &mut self.inputs {
            input.interrupt(signal, escalate);
        }
        if escalate {
            self.stop_inputs(false);
        } else if self.inputs.iter().any(|i| !i.is_done(now)) {
            self.stop_inputs_at.get_or_insert(now + self.grace);
        }
        // A person presses Ctrl-C; SIGTERM and SIGHUP come from programs,
        // which need no notice on the terminal.
        if let Some(program) = self.notices.filter(|_| signal == Signal::SIGINT) {
            let running = self.workers.iter().filter(|w| !w.is_finished()).count()
                + self.inputs.iter().filter(|i| !i.is_done(now)).count();
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

    /// Stop reading inputs that did not end by themselves after an
    /// interrupt; what they had is still routed.
    fn stop_inputs(&mut self, graceful: bool) {
        self.stop_inputs_at = None;
        let registry = self.poll.registry();
        for input in &mut self.inputs {
            if graceful && input.is_command() {
                input.interrupt(Signal::SIGKILL, true);
            }
            input.close(self.sink.buffer(), &mut self.router, registry);
        }
    }

    fn flush_sink(&mut self) {
        let was_closed = self.sink.is_closed();
        if let Err(e) = self.sink.flush() {
            self.report.write_error.get_or_insert(e.to_string());
        }
        if self.sink.is_closed() && !was_closed {
            // The reader is gone (`| head`): nobody will see what the workers
            // write, so end them now rather than let them run on unseen.
            self.report.downstream_closed = true;
            let now = Instant::now();
            for worker in &mut self.workers {
                worker.terminate("downstream closed", now);
            }
            for input in &mut self.inputs {
                input.interrupt(Signal::SIGTERM, false);
            }
            self.stop_inputs(false);
        }
    }
}
