//! A line's head as routing needs it, in a form that can be read on one
//! thread and used on another: where the worker id lies in the line (or the
//! id itself, when the line spells it with escapes), and its `seq`.

use std::borrow::Cow;

use sc_events::{Head, ReadError, parse_first_head, parse_head};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineHead {
    worker: Worker,
    pub seq: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Worker {
    /// `line[from..to]`, as written.
    At { from: usize, to: usize },
    /// Unescaped (the line wrote it with escapes).
    Owned(String),
}

impl LineHead {
    /// Read the head of `line` (see [`parse_head`]).
    pub fn read(line: &[u8]) -> Result<LineHead, ReadError> {
        Ok(LineHead::new(line, parse_head(line)?))
    }

    /// The head of the first line of `run` (whole lines) and the line's
    /// length, when the fast path reads it (see [`parse_first_head`]).
    pub fn read_first(run: &[u8]) -> Option<(LineHead, usize)> {
        let (head, len) = parse_first_head(run)?;
        Some((LineHead::new(run, head), len))
    }

    fn new(line: &[u8], head: Head<'_>) -> LineHead {
        let worker = match head.worker {
            Cow::Borrowed(id) => {
                // The id is a slice of the line: its place in it.
                let from = id.as_ptr() as usize - line.as_ptr() as usize;
                Worker::At {
                    from,
                    to: from + id.len(),
                }
            }
            Cow::Owned(id) => Worker::Owned(id),
        };
        LineHead {
            worker,
            seq: head.seq,
        }
    }

    /// The worker id of `line` as bytes (no UTF-8 check: the routing's
    /// common case compares it with the line before's).
    pub fn worker_bytes<'a>(&'a self, line: &'a [u8]) -> &'a [u8] {
        match &self.worker {
            Worker::At { from, to } => line.get(*from..*to).unwrap_or_default(),
            Worker::Owned(id) => id.as_bytes(),
        }
    }

    /// The worker id of `line`, the line this head was read from.
    pub fn worker<'a>(&'a self, line: &'a [u8]) -> &'a str {
        match &self.worker {
            // Within a line that was valid UTF-8, between two quotes.
            Worker::At { from, to } => std::str::from_utf8(&line[*from..*to]).unwrap_or_default(),
            Worker::Owned(id) => id,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worker_id_is_found_again_in_its_line() {
        let line = br#"{"type":"stall","worker":"w\u00e9","seq":4,"ts":1,"idle_ms":5}"#;
        let head = LineHead::read(line).unwrap();
        assert_eq!((head.worker(line), head.seq), ("w\u{e9}", 4));
        let line =
            "{\"type\":\"stall\",\"worker\":\"b\u{e9}/1\",\"seq\":0,\"ts\":1,\"idle_ms\":5}\n";
        let head = LineHead::read(line.as_bytes()).unwrap();
        assert_eq!((head.worker(line.as_bytes()), head.seq), ("b\u{e9}/1", 0));
        assert!(LineHead::read(b"plain text\n").is_err());
    }
}
