//! A worker's stdin held open and written without blocking: what the pipe
//! does not take now (the agent is not reading) waits, and the poller says
//! when it takes more — registered only while bytes wait, so that an agent
//! reading its stdin wakes nobody otherwise. Without a poller (its stdin
//! could not be registered), it is written again a little later.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};

/// Without the poller, what the pipe did not take is written again this
/// much later.
const WRITE_AGAIN: Duration = Duration::from_millis(5);

#[derive(Debug)]
pub struct HeldStdin {
    stdin: Option<OwnedFd>,
    /// The poller that says when the pipe takes bytes again, and its token.
    poller: Option<(Registry, Token)>,
    /// Registered with the poller (while bytes wait).
    watched: bool,
    /// Bytes not written yet.
    pending: Vec<u8>,
    retry_at: Option<Instant>,
}

impl HeldStdin {
    /// `stdin`, non-blocking from here on.
    pub fn new(stdin: OwnedFd, poller: Option<(&Registry, Token)>) -> HeldStdin {
        let _ = set_nonblocking(&stdin);
        HeldStdin {
            stdin: Some(stdin),
            poller: poller.and_then(|(registry, token)| Some((registry.try_clone().ok()?, token))),
            watched: false,
            pending: Vec::new(),
            retry_at: None,
        }
    }

    pub fn is_open(&self) -> bool {
        self.stdin.is_some()
    }

    /// Bytes wait for the pipe.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// When what waits is written again (no poller).
    pub fn retry_at(&self) -> Option<Instant> {
        self.retry_at
    }

    /// Whether `token` is its.
    pub fn owns(&self, token: Token) -> bool {
        self.poller.as_ref().is_some_and(|(_, t)| *t == token)
    }

    /// Closed, taken off the poller first; what waited is dropped.
    pub fn close(&mut self) {
        self.watch(false);
        self.stdin = None;
        self.pending.clear();
    }

    /// The pipe takes bytes again: what waited is written, and the poller
    /// no longer asked once nothing waits.
    pub fn on_writable(&mut self, now: Instant) {
        if self.has_pending() {
            self.write(&[], now);
        }
        if !self.has_pending() {
            self.watch(false);
        }
    }

    /// Write what waits again, if it is time (no poller): whether it was.
    pub fn on_timer(&mut self, now: Instant) -> bool {
        let due = self.retry_at.is_some_and(|t| t <= now);
        if due {
            self.write(&[], now);
        }
        due
    }

    /// Write `bytes` after what waits, as much as the pipe takes now.
    pub fn write(&mut self, bytes: &[u8], now: Instant) {
        self.pending.extend_from_slice(bytes);
        self.retry_at = None;
        while !self.pending.is_empty() {
            let Some(stdin) = &self.stdin else {
                self.pending.clear();
                return;
            };
            match nix::unistd::write(stdin.as_fd(), &self.pending) {
                Ok(n) => {
                    self.pending.drain(..n);
                }
                Err(nix::errno::Errno::EINTR) => {}
                // The poller says when it takes more; without one, later.
                Err(nix::errno::Errno::EAGAIN) => {
                    if !self.watch(true) {
                        self.retry_at = Some(now + WRITE_AGAIN);
                    }
                    return;
                }
                // It closed its stdin (it is ending): nothing more reaches it.
                Err(_) => return self.close(),
            }
        }
    }

    /// Have the poller say when the pipe takes bytes again (`on`), or no
    /// longer; true when that holds.
    fn watch(&mut self, on: bool) -> bool {
        let (Some(stdin), Some((registry, token))) = (&self.stdin, &self.poller) else {
            return false;
        };
        if self.watched == on {
            return true;
        }
        let raw = stdin.as_raw_fd();
        let done = match on {
            true => registry.register(&mut SourceFd(&raw), *token, Interest::WRITABLE),
            false => registry.deregister(&mut SourceFd(&raw)),
        };
        self.watched = on && done.is_ok();
        done.is_ok()
    }
}

fn set_nonblocking(fd: &OwnedFd) -> nix::Result<()> {
    use nix::fcntl::{FcntlArg, OFlag, fcntl};
    let flags = OFlag::from_bits_truncate(fcntl(fd, FcntlArg::F_GETFL)?);
    fcntl(fd, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK)).map(|_| ())
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    #[test]
    fn what_a_full_pipe_does_not_take_waits_for_the_poller_not_a_timer() {
        let (mut read, write) = os_pipe::pipe().unwrap();
        let mut poll = mio::Poll::new().unwrap();
        let token = Token(7);
        let big = vec![b'x'; 1 << 20];
        let now = Instant::now();
        let mut stdin = HeldStdin::new(OwnedFd::from(write), Some((poll.registry(), token)));
        stdin.write(&big, now);
        assert!(stdin.has_pending(), "a pipe takes less than a MiB");
        assert_eq!(stdin.retry_at(), None, "no timer: the poller says when");
        let mut events = mio::Events::with_capacity(4);
        let mut got = Vec::new();
        let mut chunk = vec![0u8; 1 << 16];
        while got.len() < big.len() {
            let n = read.read(&mut chunk).unwrap();
            got.extend_from_slice(&chunk[..n]);
            if stdin.has_pending() {
                poll.poll(&mut events, Some(Duration::from_millis(10)))
                    .unwrap();
                if events.iter().any(|e| e.token() == token && e.is_writable()) {
                    stdin.on_writable(now);
                }
            }
        }
        assert_eq!(got.len(), big.len());
        assert!(!stdin.has_pending());
    }
}
