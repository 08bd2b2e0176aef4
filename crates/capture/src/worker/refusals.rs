//! A sandboxed worker's network allow-list, seen from the worker: its
//! proxy kept for as long as the attempt runs, and the refusals the proxy
//! reports, read off their pipe and said as `sandbox` events.

use std::io::{self, Read};

use mio::unix::pipe::Receiver;
use mio::{Interest, Registry, Token};
use sc_events::SandboxNote;

use crate::process::proxy::{Proxy, Refusal};

#[derive(Debug)]
pub(super) struct NetWatch {
    /// Ended (its socket removed) when this is dropped.
    _proxy: Proxy,
    rx: Receiver,
    token: Token,
    readable: bool,
    partial: Vec<u8>,
}

impl NetWatch {
    pub fn new(
        proxy: Proxy,
        fd: std::os::fd::OwnedFd,
        registry: &Registry,
        token: Token,
    ) -> io::Result<NetWatch> {
        let mut rx = Receiver::from(fd);
        registry.register(&mut rx, token, Interest::READABLE)?;
        Ok(NetWatch {
            _proxy: proxy,
            rx,
            token,
            // Read once before the first readiness event.
            readable: true,
            partial: Vec::new(),
        })
    }

    pub fn owns(&self, token: Token) -> bool {
        self.token == token
    }

    pub fn on_readable(&mut self) {
        self.readable = true;
    }

    pub fn wants_read(&self) -> bool {
        self.readable
    }

    /// The refusals reported since the last call, as events. Read whether
    /// or not the poller has said the pipe is readable yet: the proxy
    /// reports a refusal before it answers the worker, so when the worker's
    /// complaint is read, the refusal is already in the pipe, though its
    /// readiness may come later in the same batch of events (it did, under
    /// load: the complaint came first). One read that finds nothing costs
    /// a syscall, for a confined worker only.
    pub fn take(&mut self) -> Vec<SandboxNote> {
        let mut buf = [0u8; 4096];
        loop {
            match (&self.rx).read(&mut buf) {
                Ok(0) => break,
                Ok(n) => self.partial.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        self.readable = false;
        let end = self
            .partial
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        let lines: Vec<u8> = self.partial.drain(..end).collect();
        lines
            .split(|&b| b == b'\n')
            .filter_map(|line| serde_json::from_slice::<Refusal>(line).ok())
            .map(|refusal| note(&refusal.net))
            .collect()
    }

    /// Stop watching: what is left read, the pipe given back (closing it
    /// takes it out of the poller: no other descriptor shares it), the
    /// proxy ended.
    pub fn close(mut self) -> Vec<SandboxNote> {
        self.readable = true;
        self.take()
    }
}

fn note(net: &str) -> SandboxNote {
    SandboxNote {
        decision: "refused".to_owned(),
        net: Some(net.to_owned()),
        message: format!(
            "{net} is not on the worker's network allow-list: allow it with --sandbox-net {net} \
             (in a task: \"sandbox\": {{\"net\": [\"{net}\"]}})"
        ),
    }
}
