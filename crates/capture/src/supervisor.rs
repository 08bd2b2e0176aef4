//! The single poller: workers' outputs, the sink, signals and timers, all in
//! one mio loop that sleeps until one of them needs it.
//!
//! There is no busy polling: the loop blocks in `poll` until an output is
//! readable, the sink writable, a signal arrives (SIGCHLD included, through
//! signal-hook's self-pipe) or the earliest worker deadline comes.

use std::io;
use std::os::fd::BorrowedFd;
use std::time::Instant;

use mio::{Events, Interest, Poll, Token};
use nix::sys::signal::Signal;
use signal_hook::consts::{SIGCHLD, SIGHUP, SIGINT, SIGTERM};
use signal_hook_mio::v1_0::Signals;

use crate::launch::Spec;
use crate::sink::Sink;
use crate::worker::{Worker, WorkerOptions};

const SIGNALS: Token = Token(0);
const SINK: Token = Token(1);
/// Tokens from here on belong to workers' outputs, two per worker.
const FIRST_WORKER_TOKEN: usize = 2;

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
    workers: Vec<Worker>,
    scratch: Vec<u8>,
    interrupts: u32,
    report: RunReport,
    notices: bool,
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
            events: Events::with_capacity(256),
            signals,
            sink,
            workers: Vec::new(),
            scratch: vec![0; 64 * 1024],
            interrupts: 0,
            report: RunReport::default(),
            notices: false,
        })
    }

    /// Tell the person at the terminal, on stderr, what an interrupt did.
    pub fn set_notices(&mut self, on: bool) {
        self.notices = on;
    }

    /// Launch a worker now; its `start` (or `error` and `exit`) is written.
    pub fn spawn(&mut self, opts: WorkerOptions, spec: &Spec) -> usize {
        let index = self.workers.len();
        let base = FIRST_WORKER_TOKEN + 2 * index;
        let worker = Worker::spawn(
            opts,
            spec,
            self.poll.registry(),
            [Token(base), Token(base + 1)],
            self.sink.buffer(),
        );
        self.workers.push(worker);
        index
    }

    pub fn worker(&self, index: usize) -> &Worker {
        &self.workers[index]
    }

    /// Run until every worker has finished and the stream is written (or its
    /// reader is gone).
    pub fn run(&mut self) -> io::Result<RunReport> {
        loop {
            self.flush_sink();
            let now = Instant::now();
            let registry = self.poll.registry();
            for worker in &mut self.workers {
                worker.on_timers(now, self.sink.buffer(), registry);
                if !self.sink.is_full() {
                    worker.pump(&mut self.scratch, &mut self.sink, registry);
                }
                worker.try_finish(self.sink.buffer());
            }
            self.flush_sink();
            let all_done = self.workers.iter().all(Worker::is_finished);
            if all_done && (self.sink.pending() == 0 || self.sink.is_closed()) {
                break;
            }
            let timeout = if !self.sink.is_full() && self.workers.iter().any(Worker::wants_read) {
                Some(std::time::Duration::ZERO)
            } else if all_done {
                None // only the sink is left: wait until it is writable
            } else {
                self.workers
                    .iter()
                    .filter_map(Worker::deadline)
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
        Ok(self.report.clone())
    }

    fn dispatch(&mut self) {
        let now = Instant::now();
        let mut got_signals = false;
        for event in self.events.iter() {
            match event.token() {
                SIGNALS => got_signals = true,
                SINK => self.sink.on_writable(),
                Token(t) => {
                    if let Some(worker) = self.workers.get_mut((t - FIRST_WORKER_TOKEN) / 2) {
                        worker.on_readable(Token(t));
                    }
                }
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
                continue;
            }
            self.interrupts += 1;
            self.report.interrupted.get_or_insert(signal);
            let signal = Signal::try_from(signal).unwrap_or(Signal::SIGTERM);
            let escalate = self.interrupts > 1;
            for worker in &mut self.workers {
                worker.interrupt(signal, escalate, now);
            }
            if self.notices {
                let running = self.workers.iter().filter(|w| !w.is_finished()).count();
                if escalate {
                    eprintln!("sc-spawn: {signal} again: killing {running} worker(s) (SIGKILL)");
                } else {
                    eprintln!(
                        "sc-spawn: {signal}: passed on to {running} worker(s); send it again to kill them"
                    );
                }
            }
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
        }
    }
}
