//! An agent worker's output read as it streams: each whole line goes to
//! the agent's reader (its annotation, results, session, spending), and a
//! result with nothing left open starts the grace in which it should exit.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::agent::AgentReader;

use super::lifecycle::Grace;

/// The longest agent line read whole (an image read can be megabytes);
/// its bytes stream on either way.
const MAX_AGENT_LINE: usize = 64 * 1024 * 1024;

/// One attempt's watch over an agent.
#[derive(Debug)]
pub struct AgentWatch {
    reader: Box<dyn AgentReader>,
    line: Vec<u8>,
    /// The current line passed MAX_AGENT_LINE: it is not read.
    too_long: bool,
    /// Results already taken into account for the exit grace.
    results_seen: u32,
    grace: Duration,
}

impl AgentWatch {
    pub fn new(reader: Box<dyn AgentReader>, grace: Duration) -> AgentWatch {
        AgentWatch {
            reader,
            line: Vec::new(),
            too_long: false,
            results_seen: 0,
            grace,
        }
    }

    pub fn reader(&self) -> &dyn AgentReader {
        self.reader.as_ref()
    }

    pub fn reader_mut(&mut self) -> &mut dyn AgentReader {
        self.reader.as_mut()
    }

    /// A framed chunk of its stdout; the annotation when it completes a line.
    pub fn push(&mut self, chunk: &[u8]) -> Option<Value> {
        if !self.too_long {
            if self.line.len() + chunk.len() > MAX_AGENT_LINE {
                self.too_long = true;
                self.line = Vec::new();
            } else {
                self.line.extend_from_slice(chunk);
            }
        }
        if chunk.last() != Some(&b'\n') {
            return None;
        }
        let note = if self.too_long {
            None
        } else {
            self.reader.line(&self.line)
        };
        self.line.clear();
        self.too_long = false;
        note
    }

    /// After its lines were read at `now`: a result written while no task
    /// it started is open (re)starts the grace in which it should exit; a
    /// task opened meanwhile stops it. Interim results (Claude Code writes
    /// one while a background shell or subagent still runs) start nothing.
    pub fn grace(&mut self, now: Instant) -> Grace {
        let (results, settled) = (self.reader.results(), self.reader.settled());
        let new_result = results > self.results_seen;
        self.results_seen = results;
        if !settled {
            Grace::Stop
        } else if new_result {
            Grace::Start(now + self.grace)
        } else {
            Grace::Keep
        }
    }

    /// Its verdict, from its last result: `ok`, `error`, or `missing` (no
    /// result at all).
    pub fn verdict(&self) -> &'static str {
        match self.reader.result() {
            Some(true) => "ok",
            Some(false) => "error",
            None => "missing",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader of lines `result ok`, `result error`, `open`, `closed`.
    #[derive(Debug, Default)]
    struct Lines {
        results: u32,
        result: Option<bool>,
        open: bool,
        read: Vec<Vec<u8>>,
    }

    impl AgentReader for Lines {
        fn line(&mut self, line: &[u8]) -> Option<Value> {
            self.read.push(line.to_vec());
            match line {
                b"result ok\n" | b"result error\n" => {
                    self.results += 1;
                    self.result = Some(line == b"result ok\n");
                }
                b"open\n" => self.open = true,
                b"closed\n" => self.open = false,
                _ => return None,
            }
            Some(Value::from(self.results))
        }
        fn result(&self) -> Option<bool> {
            self.result
        }
        fn results(&self) -> u32 {
            self.results
        }
        fn settled(&self) -> bool {
            self.results > 0 && !self.open
        }
    }

    fn watch() -> AgentWatch {
        AgentWatch::new(Box::<Lines>::default(), Duration::from_secs(10))
    }

    #[test]
    fn a_line_in_pieces_is_read_once_whole() {
        let mut w = watch();
        assert_eq!(w.push(b"resu"), None);
        assert_eq!(w.push(b"lt o"), None);
        assert_eq!(w.push(b"k\n"), Some(Value::from(1)));
        assert_eq!(w.verdict(), "ok");
        assert_eq!(w.push(b"result error\n"), Some(Value::from(2)));
        assert_eq!(w.verdict(), "error");
    }

    #[test]
    fn a_line_past_the_bound_is_not_read_and_the_next_one_is() {
        let mut w = watch();
        let big = vec![b'x'; MAX_AGENT_LINE];
        assert_eq!(w.push(&big), None);
        assert_eq!(w.push(b"more\n"), None);
        assert_eq!(w.verdict(), "missing");
        assert_eq!(w.push(b"result ok\n"), Some(Value::from(1)));
    }

    #[test]
    fn only_a_new_settled_result_starts_the_grace() {
        let now = Instant::now();
        let mut w = watch();
        w.push(b"open\n");
        w.push(b"result ok\n");
        // An interim result: work is open.
        assert_eq!(w.grace(now), Grace::Stop);
        w.push(b"closed\n");
        // The result was seen already: closing alone starts nothing.
        assert_eq!(w.grace(now), Grace::Keep);
        w.push(b"result ok\n");
        assert_eq!(w.grace(now), Grace::Start(now + Duration::from_secs(10)));
        assert_eq!(w.grace(now), Grace::Keep);
    }
}
