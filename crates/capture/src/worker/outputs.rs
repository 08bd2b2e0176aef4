//! A worker's outputs on their way in: read without blocking, a bounded
//! amount per turn, framed into output events (or routed as a nested
//! stream, or relayed from a remote sc-spawn), and closed as soon as they
//! end so that their descriptors are given back.

use std::io::{self, Read};
use std::time::Instant;

use mio::Registry;
use mio::unix::pipe::Receiver;
use sc_events::{ErrorEvent, OutputEncoder, Stream, TsText, now_ts};

use crate::output::framer::Framer;
use crate::output::nest::Nest;
use crate::output::sink::Sink;

use super::Worker;
use super::watch::AgentWatch;

/// Reads of one output per turn of the poller, so that one chatty worker
/// cannot starve the others (or timers) of attention.
const READS_PER_TURN: usize = 16;

/// When outputs are closed by force (after SIGKILL, a holder outside the
/// group keeps them open), what is already in the pipe is still read, up
/// to this much, so that nothing written before the end is lost.
const FINAL_READ: usize = 4 * 1024 * 1024;

impl Worker {
    /// Read what is waiting on the worker's outputs (a bounded amount) and
    /// turn it into output events, unless the sink is over its high-water
    /// mark: then the worker is left to block on its own writes. The
    /// outputs take turns at being read first, so that a chatty stdout
    /// cannot starve stderr.
    pub fn pump(&mut self, scratch: &mut [u8], sink: &mut Sink, registry: &Registry) {
        let now = Instant::now();
        // What the sandbox refused is said before what the worker then
        // wrote about it (the proxy reports before it answers).
        if let Some(net) = &mut self.net {
            for note in net.take() {
                self.emit(sink.buffer(), note);
            }
        }
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
            Ok(n) => {
                self.last_output = now;
                self.take_in(index, &scratch[..n], now, out);
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

    /// Bytes read from source `index`: a remote sc-spawn's stream is
    /// relayed (and what ssh says itself kept for messages); a local
    /// worker's are framed into events, and an agent's read by its watch.
    fn take_in(&mut self, index: usize, data: &[u8], now: Instant, out: &mut Vec<u8>) {
        if let Some(relayed) = &mut self.relayed {
            if self.sources[index].stream == Stream::Stderr {
                relayed.said(data);
                return;
            }
            relayed.push(data, &self.opts.id, out);
            if let Some((seq, lines, bytes)) = relayed.position() {
                (self.seq, self.lines, self.bytes) = (seq, lines, bytes);
            }
            return;
        }
        self.life.output_seen(now, self.opts.stall);
        self.frame(index, data, now, out);
        self.after_agent_lines(now, out);
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

    pub(super) fn flush_partial(
        &mut self,
        index: usize,
        now: Instant,
        out: &mut Vec<u8>,
        at_eof: bool,
    ) {
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
            watch,
            ..
        } = self;
        let source = &mut sources[index];
        let mut chunks = Chunks {
            encoder: &source.encoder,
            tap: watch.as_mut().filter(|_| source.tapped),
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
    pub(super) fn close_source(&mut self, index: usize, out: &mut Vec<u8>, registry: &Registry) {
        let ending = self.life.is_ending();
        if let Some(relayed) = &mut self.relayed
            && self.sources[index].stream != Stream::Stderr
        {
            relayed.closed(&self.opts.id, out, ending, self.launch_failed);
            if let Some((seq, lines, bytes)) = relayed.position() {
                (self.seq, self.lines, self.bytes) = (seq, lines, bytes);
            }
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
    pub(super) fn close_by_force(&mut self, index: usize, out: &mut Vec<u8>, registry: &Registry) {
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
    tap: Option<&'a mut AgentWatch>,
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
        let progress = self.progress;
        self.encoder.encode_checked(
            out,
            *self.seq,
            self.ts,
            chunk,
            |text| {
                progress
                    .then(|| crate::output::progress::detect(text))
                    .flatten()
            },
            agent.as_ref(),
        );
        *self.seq += 1;
    }
}
