//! The stream's way out: a buffer of whole event lines and the file they go to.
//!
//! On a pipe or socket the file is made non-blocking and watched by the
//! poller, so a slow reader never stops sc from handling timers and signals;
//! while the buffer is over its high-water mark the capture stops reading
//! workers (they block on their own writes), which is backpressure without
//! loss and without unbounded memory. Terminals and regular files keep
//! blocking writes: switching a terminal to non-blocking would change it for
//! every other process that shares it (the user's shell among them). For
//! the same reason a pipe is reopened and a socket written with
//! MSG_DONTWAIT rather than have O_NONBLOCK set on a shared file.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;

use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};
use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::sys::socket::{MsgFlags, send};
use nix::sys::stat::{SFlag, fstat};

/// Reading workers pauses while this many bytes wait to be written.
pub const HIGH_WATER: usize = 256 * 1024;

/// The capacity asked for the pipe to the reader.
const PIPE_SIZE: i32 = 1024 * 1024;

#[derive(Debug)]
pub struct Sink {
    file: File,
    /// A socket: written with MSG_DONTWAIT rather than made non-blocking.
    socket: bool,
    buf: Vec<u8>,
    /// How much of `buf` is already written.
    written: usize,
    /// Registered with the poller (non-blocking mode).
    polled: bool,
    /// The last write would have blocked; wait for the poller to say writable.
    blocked: bool,
    /// The reader went away: everything from now on is discarded.
    closed: bool,
    /// Flags to put back on exit (we made the file non-blocking).
    restore: Option<OFlag>,
    /// `--log FILE`: every line written to stdout goes here too, by a
    /// thread of its own.
    log: Option<super::log::Log>,
    /// The log is the user's (`--log`): failing to write it fails the run.
    /// Otherwise (the run's own, for `sc-view --attach`) the failure is
    /// kept for an `error` event and the stream goes on.
    log_required: bool,
    log_failure: Option<String>,
}

impl Sink {
    /// A sink writing to `fd` (sc's stdout), registered with `registry`
    /// under `token` when it is a pipe or a socket.
    ///
    /// The non-blocking writes never change the file that sc shares with
    /// other processes (`(sc-spawn ...; echo done) | cat`: the echo must not
    /// see EAGAIN): a pipe is opened afresh through /proc/self/fd, which
    /// gives sc a file description of its own; a socket is written with
    /// MSG_DONTWAIT, which needs no flag on the file at all.
    pub fn new(fd: BorrowedFd<'_>, registry: &Registry, token: Token) -> io::Result<Sink> {
        let owned: OwnedFd = fd.try_clone_to_owned()?;
        let kind =
            fstat(owned.as_fd()).map(|st| SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT);
        let mut sink = Sink {
            file: File::from(owned),
            socket: false,
            buf: Vec::with_capacity(64 * 1024),
            written: 0,
            polled: false,
            blocked: false,
            closed: false,
            restore: None,
            log: None,
            log_required: false,
            log_failure: None,
        };
        match kind {
            Ok(k) if k == SFlag::S_IFIFO => {
                match reopen_nonblocking(fd) {
                    Ok(file) => sink.file = file,
                    // ENXIO: no reader is left on the pipe.
                    Err(e) if e.raw_os_error() == Some(libc::ENXIO) => sink.closed = true,
                    // No /proc: the shared description it is, put back at the end.
                    Err(_) => {
                        let flags =
                            OFlag::from_bits_truncate(fcntl(&sink.file, FcntlArg::F_GETFL)?);
                        if !flags.contains(OFlag::O_NONBLOCK) {
                            fcntl(&sink.file, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
                            sink.restore = Some(flags);
                        }
                    }
                }
                // A larger pipe to the reader means fewer wake-ups for both
                // sides at full speed; best effort (the limit may be lower).
                let _ = fcntl(&sink.file, FcntlArg::F_SETPIPE_SZ(PIPE_SIZE));
            }
            Ok(k) if k == SFlag::S_IFSOCK => sink.socket = true,
            _ => return Ok(sink),
        }
        registry.register(
            &mut SourceFd(&sink.file.as_raw_fd()),
            token,
            Interest::WRITABLE,
        )?;
        sink.polled = true;
        Ok(sink)
    }

    /// Also write the stream to `file` (for `sc-view --follow` elsewhere),
    /// on a thread that wakes the poller through `waker`; `required`: a
    /// failure to write it is the run's (see `log_required`).
    pub fn set_log(
        &mut self,
        file: File,
        required: bool,
        waker: std::sync::Arc<mio::Waker>,
    ) -> io::Result<()> {
        // The user's log is theirs to bound; sc's own copy is bounded here.
        let cap = if required { u64::MAX } else { keep_max() };
        self.log = Some(super::log::Log::start_capped(file, waker, cap)?);
        self.log_required = required;
        Ok(())
    }

    /// The log written whole (the run's end); Err when the user's log
    /// (`--log`) could not be.
    pub fn finish_log(&mut self) -> io::Result<()> {
        let failure = self.log.as_mut().and_then(|log| log.finish());
        self.log = None;
        match failure {
            Some(e) => self.log_failed(e),
            None => Ok(()),
        }
    }

    fn log_failed(&mut self, e: io::Error) -> io::Result<()> {
        self.log = None;
        let message = format!("writing the log: {e}");
        if self.log_required {
            return Err(io::Error::new(e.kind(), message));
        }
        self.log_failure = Some(message);
        Ok(())
    }

    /// Why the run's own log stopped being written, once.
    pub fn take_log_failure(&mut self) -> Option<String> {
        self.log_failure.take()
    }

    /// Where to append whole event lines.
    pub fn buffer(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    /// Bytes waiting to be written.
    pub fn pending(&self) -> usize {
        self.buf.len() - self.written
    }

    /// Over the high-water mark, or the log's: stop reading workers.
    pub fn is_full(&self) -> bool {
        self.pending() >= HIGH_WATER
            || self
                .log
                .as_ref()
                .is_some_and(|log| log.backlog() >= super::log::HIGH_WATER)
    }

    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Waiting for the poller to say the file is writable again.
    pub fn is_blocked(&self) -> bool {
        self.blocked && self.pending() > 0
    }

    /// The poller said the file is writable.
    pub fn on_writable(&mut self) {
        self.blocked = false;
    }

    /// Write what can be written without blocking (everything, in blocking
    /// mode). Returns an error only for a failure other than the reader
    /// going away, which is recorded and reported by [`Sink::is_closed`].
    pub fn flush(&mut self) -> io::Result<()> {
        while self.pending() > 0 && !self.blocked && !self.closed {
            match self.write_some() {
                Ok(0) => {
                    self.closed = true;
                }
                Ok(n) => self.written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.blocked = self.polled,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => self.closed = true,
                Err(e) => {
                    self.closed = true;
                    return Err(e);
                }
            }
        }
        if self.closed || self.pending() == 0 {
            // The log takes what was written (all of it, when the reader
            // went away) as it is: the buffer itself changes hands, and
            // one it wrote comes back to be filled.
            match &self.log {
                Some(log) => {
                    let empty = log.empty();
                    log.send_owned(std::mem::replace(&mut self.buf, empty));
                }
                None => self.buf.clear(),
            }
            self.written = 0;
        } else if self.written >= HIGH_WATER {
            // Keep the buffer from creeping: what was written goes to the
            // log, and the unwritten tail to the front.
            if let Some(log) = &self.log {
                log.send(&self.buf[..self.written]);
            }
            self.buf.drain(..self.written);
            self.written = 0;
        }
        if let Some(e) = self.log.as_ref().and_then(|log| log.take_failure()) {
            self.log_failed(e)?;
        }
        Ok(())
    }
}

impl Sink {
    /// One write that never blocks (on a pollable file).
    fn write_some(&mut self) -> io::Result<usize> {
        let data = &self.buf[self.written..];
        if self.socket {
            let flags = MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL;
            return send(self.file.as_raw_fd(), data, flags).map_err(io::Error::from);
        }
        self.file.write(data)
    }
}

/// The most of a run's stream sc keeps on disk for `sc-view --attach`:
/// `SC_KEEP_MAX` bytes (a number, or with K, M or G), else 1 GiB.
pub fn keep_max() -> u64 {
    std::env::var("SC_KEEP_MAX")
        .ok()
        .and_then(|v| parse_size(v.trim()))
        .unwrap_or(1 << 30)
}

fn parse_size(text: &str) -> Option<u64> {
    let (digits, unit) = match text.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((at, _)) => text.split_at(at),
        None => (text, ""),
    };
    let n: u64 = digits.parse().ok()?;
    let shift = match unit.to_ascii_uppercase().as_str() {
        "" => 0,
        "K" | "KB" | "KIB" => 10,
        "M" | "MB" | "MIB" => 20,
        "G" | "GB" | "GIB" => 30,
        _ => return None,
    };
    n.checked_mul(1 << shift)
}

/// A pipe opened afresh for writing, non-blocking, with a file description
/// of its own.
fn reopen_nonblocking(fd: BorrowedFd<'_>) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

impl Drop for Sink {
    fn drop(&mut self) {
        if let Some(flags) = self.restore {
            let _ = fcntl(&self.file, FcntlArg::F_SETFL(flags));
        }
    }
}
