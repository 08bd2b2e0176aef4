//! The stream's way out: a buffer of whole event lines and the file they go to.
//!
//! On a pipe or socket the file is made non-blocking and watched by the
//! poller, so a slow reader never stops sc from handling timers and signals;
//! while the buffer is over its high-water mark the capture stops reading
//! workers (they block on their own writes), which is backpressure without
//! loss and without unbounded memory. Terminals and regular files keep
//! blocking writes: switching a terminal to non-blocking would change it for
//! every other process that shares it (the user's shell among them).

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};
use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::sys::stat::{SFlag, fstat};

/// Reading workers pauses while this many bytes wait to be written.
pub const HIGH_WATER: usize = 256 * 1024;

/// The capacity asked for the pipe to the reader.
const PIPE_SIZE: i32 = 1024 * 1024;

#[derive(Debug)]
pub struct Sink {
    file: File,
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
    /// `--log FILE`: every line written to stdout goes here too.
    log: Option<File>,
    /// How much of `buf` is already in the log.
    logged: usize,
}

impl Sink {
    /// A sink on a duplicate of `fd` (sc's stdout), registered with `registry`
    /// under `token` when it is a pipe or a socket.
    pub fn new(fd: BorrowedFd<'_>, registry: &Registry, token: Token) -> io::Result<Sink> {
        let owned: OwnedFd = fd.try_clone_to_owned()?;
        let kind =
            fstat(owned.as_fd()).map(|st| SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT);
        let pollable = matches!(kind, Ok(k) if k == SFlag::S_IFIFO || k == SFlag::S_IFSOCK);
        let mut sink = Sink {
            file: File::from(owned),
            buf: Vec::with_capacity(64 * 1024),
            written: 0,
            polled: false,
            blocked: false,
            closed: false,
            restore: None,
            log: None,
            logged: 0,
        };
        if pollable {
            if kind == Ok(SFlag::S_IFIFO) {
                // A larger pipe to the reader means fewer wake-ups for both
                // sides at full speed; best effort (the limit may be lower).
                let _ = fcntl(&sink.file, FcntlArg::F_SETPIPE_SZ(PIPE_SIZE));
            }
            let flags = OFlag::from_bits_truncate(fcntl(&sink.file, FcntlArg::F_GETFL)?);
            if !flags.contains(OFlag::O_NONBLOCK) {
                fcntl(&sink.file, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
                sink.restore = Some(flags);
            }
            registry.register(
                &mut SourceFd(&sink.file.as_raw_fd()),
                token,
                Interest::WRITABLE,
            )?;
            sink.polled = true;
        }
        Ok(sink)
    }

    /// Also write the stream to `file` (for `sc-view --follow` elsewhere).
    pub fn set_log(&mut self, file: File) {
        self.log = Some(file);
    }

    /// Where to append whole event lines.
    pub fn buffer(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    /// Bytes waiting to be written.
    pub fn pending(&self) -> usize {
        self.buf.len() - self.written
    }

    /// Over the high-water mark: stop reading workers.
    pub fn is_full(&self) -> bool {
        self.pending() >= HIGH_WATER
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
        if let Some(log) = self.log.as_mut()
            && self.logged < self.buf.len()
        {
            // A regular file: this write does not wait on any reader.
            let result = log.write_all(&self.buf[self.logged..]);
            self.logged = self.buf.len();
            if let Err(e) = result {
                self.log = None;
                return Err(io::Error::new(e.kind(), format!("writing the log: {e}")));
            }
        }
        while self.pending() > 0 && !self.blocked && !self.closed {
            match self.file.write(&self.buf[self.written..]) {
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
            self.buf.clear();
            self.written = 0;
            self.logged = 0;
        } else if self.written >= HIGH_WATER {
            // Keep the buffer from creeping: move the unwritten tail to the front.
            self.buf.drain(..self.written);
            self.logged = self.logged.saturating_sub(self.written);
            self.written = 0;
        }
        Ok(())
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        if let Some(flags) = self.restore {
            let _ = fcntl(&self.file, FcntlArg::F_SETFL(flags));
        }
    }
}
