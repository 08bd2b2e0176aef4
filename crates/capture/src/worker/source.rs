//! One of a worker's outputs (stdout, stderr, its terminal): its pipe,
//! how its bytes are framed and encoded, and where it stands.

use mio::Token;
use mio::unix::pipe::Receiver;
use sc_events::{OutputEncoder, Stream};

use crate::output::framer::Framer;
use crate::output::nest::Nest;

/// One output of a worker.
#[derive(Debug)]
pub(super) struct Source {
    pub stream: Stream,
    /// None once closed: the descriptor is given back at once.
    pub rx: Option<Receiver>,
    pub token: Token,
    pub framer: Framer,
    pub encoder: OutputEncoder,
    pub readable: bool,
    /// The last byte emitted was not a newline: a line is unfinished.
    pub mid_line: bool,
    /// For a nested worker's stdout: the events it carries.
    pub nest: Option<Nest>,
    /// An agent's stdout: its lines go to the agent's watch.
    pub tapped: bool,
}

impl Source {
    pub fn is_open(&self) -> bool {
        self.rx.is_some()
    }
}
