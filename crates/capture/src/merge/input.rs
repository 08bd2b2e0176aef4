//! Inputs of event lines: files, FIFOs, `/dev/fd/N`, stdin, and producer
//! commands, all read without blocking in the one poller.

use std::ffi::OsStr;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};
use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::sys::signal::Signal;

use crate::merge::ahead::{Ahead, Chunk, FileReader, Part};
use crate::merge::pool::{ReadAhead, ReadAheadThreads};
use crate::merge::router::Router;
use crate::output::lines::{LineSplitter, Piece};
use crate::output::sink::Sink;
use crate::process::signals::{end_group, signal_group};

/// Where an input comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputSpec {
    /// A file, a FIFO, `/dev/fd/N`, a device.
    Path(PathBuf),
    /// sc's own stdin (`-`).
    Stdin,
    /// A producer command run with `sh -c`; its stdout is the input.
    Command(String),
}

impl InputSpec {
    /// The label an input is known by in messages and renamed ids: the file
    /// name without `.ndjson`/`.jsonl`, `fdN` for `/dev/fd/N`, `stdin`, or
    /// `cmdN` for the Nth command (from 1).
    pub fn label(&self, command_number: usize) -> String {
        match self {
            InputSpec::Stdin => "stdin".into(),
            InputSpec::Command(_) => format!("cmd{command_number}"),
            InputSpec::Path(path) => {
                let name = path
                    .file_name()
                    .map(OsStr::to_string_lossy)
                    .unwrap_or_default();
                let parent = path.parent().map(Path::as_os_str);
                if parent.is_some_and(|p| p == "/dev/fd" || p == "/proc/self/fd") {
                    return format!("fd{name}");
                }
                let stem = [".ndjson", ".jsonl", ".json", ".log"]
                    .iter()
                    .find_map(|ext| name.strip_suffix(ext))
                    .unwrap_or(&name);
                if stem.is_empty() {
                    "input".into()
                } else {
                    stem.to_owned()
                }
            }
        }
    }
}

/// What [`Input::take_turn`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Turn {
    /// Routed a chunk, or the file's end.
    Taken,
    /// Its thread has nothing to hand over yet.
    NotYet,
}

enum Reader {
    /// Watched by the poller: pipes, FIFOs, sockets, terminals.
    Polled(OwnedFd),
    /// Regular files, and devices the poller cannot watch: read ahead on
    /// the run's read-ahead threads.
    Ahead(ReadAhead),
}

/// How long a producer command may run on after closing its output before
/// its group is ended.
const COMMAND_LINGER: Duration = Duration::from_millis(1000);

/// Reads of one input per turn of the poller, so that a file read at full
/// speed leaves room for the others.
const READS_PER_TURN: usize = 16;

pub struct Input {
    label: String,
    route: usize,
    /// None once closed: dropping it tells a writer that nobody reads.
    reader: Option<Reader>,
    token: Token,
    splitter: LineSplitter,
    command: Option<String>,
    child: Option<Child>,
    status: Option<ExitStatus>,
    open: bool,
    readable: bool,
    closed_at: Option<Instant>,
    /// A signal was already passed to the producer command's group.
    signalled: bool,
    /// Plan mode: whole lines are kept here for the planner instead of
    /// being routed.
    queue: Option<Vec<Vec<u8>>>,
    /// Reading it failed: what was said.
    failure: Option<String>,
}

impl Input {
    /// Open an input and register it with the poller under `token`. `route`
    /// is its number in the router.
    pub fn open(
        spec: &InputSpec,
        label: String,
        route: usize,
        registry: &Registry,
        token: Token,
        max_line: usize,
        threads: &mut ReadAheadThreads,
    ) -> io::Result<Input> {
        let (file, waits_for_writer, child) = match spec {
            InputSpec::Path(path) => {
                let file = open_nonblocking(path)?;
                let named_fifo =
                    file.metadata()?.file_type().is_fifo() && !is_anonymous_pipe(&file);
                (file, named_fifo, None)
            }
            InputSpec::Stdin => (open_stdin()?, false, None),
            InputSpec::Command(command) => {
                let (read, write) = os_pipe::pipe()?;
                let child = Command::new("sh")
                    .arg("-c")
                    .arg(command)
                    .stdin(Stdio::null())
                    .stdout(write)
                    .process_group(0)
                    .spawn()?;
                let file = File::from(OwnedFd::from(read));
                fcntl(&file, FcntlArg::F_SETFL(OFlag::O_NONBLOCK))?;
                (file, false, Some(child))
            }
        };
        let mut ahead = |file: File| -> io::Result<Reader> {
            // Its reads may block (on a thread of its own, that is what it
            // is there for).
            fcntl(&file, FcntlArg::F_SETFL(OFlag::empty()))?;
            Ok(Reader::Ahead(
                threads.start(FileReader::new(file, max_line))?,
            ))
        };
        let reader = if file.metadata()?.is_file() {
            ahead(file)?
        } else {
            match registry.register(&mut SourceFd(&file.as_raw_fd()), token, Interest::READABLE) {
                Ok(()) => Reader::Polled(OwnedFd::from(file)),
                // epoll refuses some devices (EPERM).
                Err(e) if e.raw_os_error() == Some(libc::EPERM) => ahead(file)?,
                Err(e) => return Err(e),
            }
        };
        Ok(Input {
            label,
            route,
            reader: Some(reader),
            token,
            splitter: LineSplitter::new(max_line),
            command: match spec {
                InputSpec::Command(command) => Some(command.clone()),
                _ => None,
            },
            child,
            status: None,
            open: true,
            // A named FIFO reads end-of-file until a writer opens it: wait for
            // the poller to say a writer came (and wrote, or left).
            readable: !waits_for_writer,
            closed_at: None,
            signalled: false,
            queue: None,
            failure: None,
        })
    }

    pub fn label(&self) -> &str {
        &self.label
    }

    /// Why reading it failed, if it did.
    pub fn failure(&self) -> Option<&str> {
        self.failure.as_deref()
    }

    /// Keep whole lines for [`Input::take_lines`] instead of routing them.
    pub fn keep_lines(&mut self) {
        self.queue = Some(Vec::new());
    }

    /// The whole lines read since the last call (plan mode).
    pub fn take_lines(&mut self) -> Vec<Vec<u8>> {
        self.queue.as_mut().map(std::mem::take).unwrap_or_default()
    }

    pub fn is_open(&self) -> bool {
        self.open
    }

    /// Its number in the router (for its own worker's messages).
    pub fn route(&self) -> usize {
        self.route
    }

    pub fn token(&self) -> Token {
        self.token
    }

    /// Readable, as far as the poller said (files read ahead: see
    /// [`Input::take_turn`]).
    pub fn wants_read(&self) -> bool {
        self.open && self.readable && matches!(self.reader, Some(Reader::Polled(_)))
    }

    pub fn on_readable(&mut self) {
        self.readable = true;
    }

    /// Read what is waiting (a bounded amount) and route its lines. Files
    /// read ahead are not read here: see [`Input::take_turn`].
    pub fn pump(
        &mut self,
        scratch: &mut [u8],
        sink: &mut Sink,
        router: &mut Router,
        registry: &Registry,
    ) {
        let mut reads = 0;
        while self.open && self.readable {
            if sink.is_full() || reads == READS_PER_TURN {
                return;
            }
            let fd = match &mut self.reader {
                Some(Reader::Polled(fd)) => fd,
                Some(Reader::Ahead(_)) => return,
                None => return self.close(sink.buffer(), router, registry),
            };
            match nix::unistd::read(fd.as_fd(), scratch).map_err(io::Error::from) {
                Ok(0) => self.close(sink.buffer(), router, registry),
                Ok(n) => {
                    reads += 1;
                    let route = self.route;
                    let out = sink.buffer();
                    let queue = &mut self.queue;
                    self.splitter
                        .push(&scratch[..n], &mut |piece| match (piece, queue.as_mut()) {
                            (Piece::Line(line), Some(queue)) => queue.push(line.to_vec()),
                            (piece, _) => router.route(route, piece, out),
                        });
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.readable = false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => self.failed(&e, sink, router, registry),
            }
        }
    }

    /// A file read ahead, still open: it takes turns with the others.
    pub fn takes_turns(&self) -> bool {
        self.open && matches!(self.reader, Some(Reader::Ahead(_)))
    }

    /// Route the next chunk its thread has handed over, if one is there.
    /// Files take turns, a chunk each in the order they were named, so
    /// that which of two files owns a worker id is the same on every run
    /// however fast each is read.
    pub fn take_turn(&mut self, sink: &mut Sink, router: &mut Router, registry: &Registry) -> Turn {
        let next = match &mut self.reader {
            Some(Reader::Ahead(ahead)) if self.open => ahead.try_take(),
            _ => return Turn::Taken,
        };
        match next {
            // Its thread wakes the poller when it hands something over.
            None => return Turn::NotYet,
            Some(Ahead::Chunk(chunk)) => {
                self.route_chunk(&chunk, sink.buffer(), router);
                if let Some(Reader::Ahead(ahead)) = &mut self.reader {
                    ahead.recycle(chunk);
                }
            }
            Some(Ahead::End) => self.close(sink.buffer(), router, registry),
            Some(Ahead::Failed(e)) => self.failed(&e, sink, router, registry),
        }
        Turn::Taken
    }

    fn route_chunk(&mut self, chunk: &Chunk, out: &mut Vec<u8>, router: &mut Router) {
        let route = self.route;
        for part in &chunk.parts {
            match (part, self.queue.as_mut()) {
                (Part::Lines { start, lines }, None) => {
                    router.route_lines(route, &chunk.data, *start, lines, out)
                }
                (Part::Lines { start, lines }, Some(queue)) => {
                    let mut at = *start;
                    for line in lines {
                        queue.push(chunk.data[at..line.end].to_vec());
                        at = line.end;
                    }
                }
                (Part::Kept { range, .. }, Some(queue)) => {
                    queue.push(chunk.kept[range.clone()].to_vec())
                }
                (Part::Kept { range, head }, None) => {
                    router.route_read(route, &chunk.kept[range.clone()], head, out)
                }
                (Part::Fragment { range, first }, _) => {
                    let bytes = &chunk.kept[range.clone()];
                    router.route(
                        route,
                        Piece::Fragment {
                            bytes,
                            first: *first,
                        },
                        out,
                    )
                }
                (Part::Unterminated(range), queue) => {
                    self::unterminated(&chunk.kept[range.clone()], queue, route, router, out)
                }
            }
        }
    }

    fn failed(&mut self, e: &io::Error, sink: &mut Sink, router: &mut Router, registry: &Registry) {
        let message = format!("reading input {}: {e}", self.label);
        router.own_error(self.route, message.clone(), sink.buffer());
        self.failure = Some(message);
        self.close(sink.buffer(), router, registry);
    }

    /// End of input (or sc gave up on it): route what is left.
    pub fn close(&mut self, out: &mut Vec<u8>, router: &mut Router, registry: &Registry) {
        if !self.open {
            return;
        }
        let route = self.route;
        let queue = &mut self.queue;
        self.splitter
            .finish(&mut |piece| match (piece, queue.as_mut()) {
                (Piece::Line(line), Some(queue)) => queue.push(line.to_vec()),
                (Piece::Unterminated(line), queue) => unterminated(line, queue, route, router, out),
                (piece, _) => router.route(route, piece, out),
            });
        router.finish_input(route, out);
        if let Some(Reader::Polled(fd)) = self.reader.take() {
            let _ = registry.deregister(&mut SourceFd(&fd.as_raw_fd()));
        }
        self.open = false;
        self.readable = false;
        self.closed_at = Some(Instant::now());
        self.report_command(out, router);
    }

    /// After SIGCHLD: note the producer command's exit.
    pub fn check_exit(&mut self, out: &mut Vec<u8>, router: &mut Router) {
        if self.status.is_some() {
            return;
        }
        if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
            self.status = Some(status);
            self.report_command(out, router);
        }
    }

    /// A producer that failed before writing a single event would otherwise
    /// vanish without a trace in the stream.
    fn report_command(&mut self, out: &mut Vec<u8>, router: &mut Router) {
        let (Some(status), Some(command)) = (self.status, &self.command) else {
            return;
        };
        if self.open || status.success() || router.counts(self.route).events > 0 {
            return;
        }
        let how = match (status.code(), status.signal()) {
            (Some(code), _) => format!("exited with code {code}"),
            (None, Some(signal)) => {
                format!("was killed by {}", crate::process::signals::name(signal))
            }
            _ => "failed".into(),
        };
        let message = format!(
            "input {} (`{command}`) {how} without writing any event",
            self.label
        );
        router.own_error(self.route, message, out);
        self.command = None; // said once
    }

    /// Done: the stream ended, and a producer command has exited (or had
    /// its linger time).
    pub fn is_done(&self, now: Instant) -> bool {
        !self.open
            && (self.child.is_none()
                || self.status.is_some()
                || self.closed_at.is_some_and(|at| now >= at + COMMAND_LINGER))
    }

    pub fn deadline(&self) -> Option<Instant> {
        match (&self.child, self.status, self.closed_at) {
            (Some(_), None, Some(at)) => Some(at + COMMAND_LINGER),
            _ => None,
        }
    }

    /// Pass an interrupt to a producer command's group.
    pub fn interrupt(&mut self, signal: Signal, escalate: bool) {
        if let (Some(child), None) = (&self.child, self.status) {
            signal_group(child.id(), if escalate { Signal::SIGKILL } else { signal });
            self.signalled = true;
        }
    }

    pub fn is_command(&self) -> bool {
        self.child.is_some()
    }

    /// At the end: a producer still running after its output ended is
    /// ended with its group, and reaped.
    pub fn end_command(&mut self, grace: Duration) {
        let Some(child) = self.child.as_mut() else {
            return;
        };
        if self.status.is_none() {
            // One signal is a request to finish; a second one would tell an
            // sc-spawn producer to kill its workers at once.
            if !self.signalled {
                signal_group(child.id(), Signal::SIGTERM);
            }
            end_group(child.id(), grace);
        }
        let _ = child.wait();
    }
}

/// The end of an input that lacks its newline.
fn unterminated(
    line: &[u8],
    queue: Option<&mut Vec<Vec<u8>>>,
    route: usize,
    router: &mut Router,
    out: &mut Vec<u8>,
) {
    match queue {
        // A plan whose last line lacks its newline (a hand-written file,
        // `printf`) still means that line, when it is a whole event.
        Some(queue) if sc_events::parse_line(line).is_ok() => queue.push(line.to_vec()),
        _ => router.route(route, Piece::Unterminated(line), out),
    }
}

fn open_nonblocking(path: &Path) -> io::Result<File> {
    // O_NONBLOCK: opening a FIFO must not wait for its writer here, where
    // it would stall every other input.
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
}

/// stdin, without making sc's own stdin non-blocking: a fresh open of
/// /proc/self/fd/0 gets its own file status flags, so the terminal or pipe
/// that sc shares with its parent is left as it was.
fn open_stdin() -> io::Result<File> {
    let stdin = File::from(io::stdin().as_fd().try_clone_to_owned()?);
    if stdin.metadata()?.is_file() {
        return Ok(stdin);
    }
    match open_nonblocking(Path::new("/proc/self/fd/0")) {
        Ok(file) => Ok(file),
        Err(_) => {
            let flags = OFlag::from_bits_truncate(fcntl(&stdin, FcntlArg::F_GETFL)?);
            fcntl(&stdin, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
            Ok(stdin)
        }
    }
}

/// A pipe made by pipe(2) (a shell's `|` or `<(...)`), as opposed to a named
/// FIFO: its writer existed before we could open it.
fn is_anonymous_pipe(file: &File) -> bool {
    // PIPEFS_MAGIC, which neither libc nor nix names.
    let pipefs = nix::sys::statfs::FsType(0x5049_5045);
    nix::sys::statfs::fstatfs(file).is_ok_and(|fs| fs.filesystem_type() == pipefs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        let path = |p: &str| InputSpec::Path(p.into());
        assert_eq!(path("runs/a.ndjson").label(0), "a");
        assert_eq!(path("/dev/fd/63").label(0), "fd63");
        assert_eq!(path("build.log").label(0), "build");
        assert_eq!(path("plain").label(0), "plain");
        assert_eq!(InputSpec::Stdin.label(0), "stdin");
        assert_eq!(InputSpec::Command("x".into()).label(2), "cmd2");
    }
}
