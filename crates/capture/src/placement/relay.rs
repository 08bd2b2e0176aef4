//! A worker that runs on another host (`sc-spawn --host`, a task's `host`):
//! the remote side is an sc-spawn running it under the same id, and its
//! stream is this worker's own. Its events pass on as they are, their `seq`
//! kept, with `host` added to the `start`; a gap in what the remote sent is
//! said as an `error`, never renumbered away. Its `exit` is the worker's.

use sc_events::{
    Body, EndedBy, ErrorEvent, Event, Exit, encode, now_ts, parse_head, parse_line, rename_line,
};
use serde_json::Value;

use crate::output::lines::{LineSplitter, Piece};

/// The longest remote event line kept whole.
const MAX_LINE: usize = 8 * 1024 * 1024;

#[derive(Debug)]
pub struct Relay {
    splitter: LineSplitter,
    host: String,
    /// The seq expected next from the remote for this worker.
    expected: u64,
    /// Added to the remote's seqs (1 in a plan, where the `task` event took
    /// seq 0 here).
    offset: u64,
    /// The remote worker's `exit`, once it came.
    pub exit: Option<Exit>,
    /// The remote worker's pid, from its `start`.
    pub remote_pid: Option<u32>,
    /// Lines that were not events (said once as an error).
    pub noise: Vec<u8>,
    /// Payload bytes and lines of this worker's output events, for an exit
    /// sc writes itself when the connection is lost.
    pub bytes: u64,
    pub lines: u64,
    /// Bytes of the remote stream taken in (whole lines): where a follower
    /// picks up again after the connection was lost.
    pub taken: u64,
    /// `--ask`: the asks of the remote worker not answered yet, as events.
    pub open_asks: Vec<Value>,
    /// What tells this side what the worker spends, since last taken.
    pub spending: Vec<Spent>,
    /// Why this side asked the worker to end (a plan's budget, say): the
    /// remote side, asked over the connection, says `interrupted`, and
    /// its exit is said with this reason instead.
    pub ended_here: Option<EndedBy>,
}

/// What the relayed stream says of the worker's spending.
#[derive(Debug, Clone, PartialEq)]
pub enum Spent {
    /// An attempt started: what the next annotations say counts anew.
    Attempt,
    /// An agent annotation of its output.
    Note(Value),
}

impl Relay {
    pub fn new(host: &str, offset: u64) -> Relay {
        Relay {
            splitter: LineSplitter::new(MAX_LINE),
            host: host.to_owned(),
            expected: 0,
            offset,
            exit: None,
            remote_pid: None,
            noise: Vec::new(),
            bytes: 0,
            lines: 0,
            taken: 0,
            open_asks: Vec::new(),
            spending: Vec::new(),
            ended_here: None,
        }
    }

    /// A relay that goes on where an earlier one stopped (the connection
    /// came back): the remote seq expected next, and the counts so far;
    /// `next_seq` is the seq here of the next event (events written here
    /// meanwhile moved it on).
    pub fn resume(host: &str, next_seq: u64, from: &Relay) -> Relay {
        let offset = next_seq.saturating_sub(from.expected);
        Relay {
            expected: from.expected,
            remote_pid: from.remote_pid,
            bytes: from.bytes,
            lines: from.lines,
            taken: from.taken,
            open_asks: from.open_asks.clone(),
            ended_here: from.ended_here.clone(),
            ..Relay::new(host, offset)
        }
    }

    /// The seq this worker's next own event takes.
    pub fn next_seq(&self) -> u64 {
        self.expected + self.offset
    }

    /// An event of this side's own is written for the worker now (a
    /// person stopped it here): its seq, the remote's later events moved
    /// on by one, so that the worker's seqs stay one unbroken count.
    pub fn written_here(&mut self) -> u64 {
        let seq = self.next_seq();
        self.offset += 1;
        seq
    }

    /// `line` as this worker's, at its seq here.
    fn pass(&self, line: &[u8], seq: u64, id: &str, out: &mut Vec<u8>) {
        if self.offset == 0 {
            out.extend_from_slice(line);
        } else {
            let mark = out.len();
            if rename_line(line, id, seq + self.offset, out).is_err() {
                out.truncate(mark);
                out.extend_from_slice(line);
            }
        }
    }

    /// Feed what ssh read from the remote sc-spawn.
    pub fn push(&mut self, data: &[u8], id: &str, out: &mut Vec<u8>) {
        let mut pieces = Vec::new();
        self.splitter
            .push(data, &mut |piece| pieces.push(piece_bytes(piece)));
        for (line, whole) in pieces {
            self.taken += line.len() as u64;
            self.line(&line, whole, id, out);
        }
    }

    /// The connection ended: what is left of a line is noise.
    pub fn finish(&mut self, id: &str, out: &mut Vec<u8>) {
        let mut pieces = Vec::new();
        self.splitter
            .finish(&mut |piece| pieces.push(piece_bytes(piece)));
        for (line, whole) in pieces {
            self.line(&line, whole, id, out);
        }
    }

    fn line(&mut self, line: &[u8], whole: bool, id: &str, out: &mut Vec<u8>) {
        let head = match parse_head(line) {
            Ok(head) if whole => head,
            _ => {
                // Not an event: the remote side is not an sc-spawn (or it
                // printed before starting); kept for the error message.
                if self.noise.len() < 4096 {
                    self.noise.extend_from_slice(&line[..line.len().min(4096)]);
                }
                return;
            }
        };
        if head.worker != id {
            // A nested worker of the remote one (`id/inner`): as it is.
            out.extend_from_slice(line);
            return;
        }
        let seq = head.seq;
        if seq > self.expected {
            // The error takes the first missing number: the rest of the gap
            // stays visible.
            let message = format!(
                "seq gap in the stream from {}: events {} to {} of this worker are missing (lost on the way)",
                self.host,
                self.expected,
                seq - 1
            );
            encode(
                &Event::new(
                    id,
                    self.expected + self.offset,
                    now_ts(),
                    ErrorEvent { message },
                ),
                out,
            );
        }
        self.expected = seq.max(self.expected) + 1;
        let type_name = head.type_name.to_string();
        match type_name.as_str() {
            "start" => {
                self.spending.push(Spent::Attempt);
                self.start(line, seq, out);
            }
            "exit" => {
                let Ok(Event {
                    body: Body::Exit(mut exit),
                    ts,
                    ..
                }) = parse_line(line)
                else {
                    self.pass(line, seq, id, out);
                    return;
                };
                let asked = exit.ended_by == Some(EndedBy::Interrupted);
                match self.ended_here.clone().filter(|_| asked) {
                    Some(reason) if reason != EndedBy::Interrupted => {
                        exit.timed_out |= reason == EndedBy::Timeout;
                        exit.ended_by = Some(reason);
                        let event = Event::new(id, seq + self.offset, ts, exit.clone());
                        encode(&event, out);
                    }
                    _ => self.pass(line, seq, id, out),
                }
                self.exit = Some(exit);
            }
            "output" => {
                if let Ok(Event {
                    body: Body::Output(output),
                    ..
                }) = parse_line(line)
                {
                    let payload = output.payload.as_bytes();
                    self.bytes += payload.len() as u64;
                    self.lines += u64::from(payload.ends_with(b"\n"));
                    if let Some(note) = output.agent {
                        self.spending.push(Spent::Note(note));
                    }
                }
                self.pass(line, seq, id, out);
            }
            "ask" | "answer" => {
                self.track_ask(line);
                self.pass(line, seq, id, out);
            }
            _ => self.pass(line, seq, id, out),
        }
    }

    /// An ask of the remote worker opens, or its answer closes it: what
    /// this side lists and answers (over the connection).
    fn track_ask(&mut self, line: &[u8]) {
        let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(line) else {
            return;
        };
        let Some(ask) = fields.get("ask").and_then(Value::as_str).map(str::to_owned) else {
            return;
        };
        match fields.get("type").and_then(Value::as_str) {
            Some("ask") => {
                let mut event = Value::Object(fields);
                // Answered here, through this run's own control socket.
                if let Some(object) = event.as_object_mut() {
                    object.remove("control");
                }
                self.open_asks.push(event);
            }
            _ => self.open_asks.retain(|open| open["ask"] != ask.as_str()),
        }
    }

    /// The remote `start`, with the host it runs on.
    fn start(&mut self, line: &[u8], seq: u64, out: &mut Vec<u8>) {
        let text = line.strip_suffix(b"\n").unwrap_or(line);
        match serde_json::from_slice::<Value>(text) {
            Ok(Value::Object(mut fields)) => {
                self.remote_pid = fields
                    .get("pid")
                    .and_then(Value::as_u64)
                    .and_then(|p| u32::try_from(p).ok());
                // A Slurm step names its node itself; ssh's host is ours.
                if !fields.get("host").is_some_and(Value::is_string) {
                    fields.insert("host".into(), self.host.clone().into());
                }
                fields.insert("seq".into(), (seq + self.offset).into());
                out.extend_from_slice(Value::Object(fields).to_string().as_bytes());
                out.push(b'\n');
            }
            _ => out.extend_from_slice(line),
        }
    }
}

fn piece_bytes(piece: Piece<'_>) -> (Vec<u8>, bool) {
    match piece {
        Piece::Line(line) => (line.to_vec(), true),
        Piece::Fragment { bytes, .. } | Piece::Unterminated(bytes) => (bytes.to_vec(), false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_pass_with_their_seq_a_gap_is_said_and_start_gets_the_host() {
        let mut relay = Relay::new("lab", 0);
        let mut out = Vec::new();
        let stream = concat!(
            r#"{"type":"start","worker":"w","seq":0,"ts":1,"argv":["x"],"pid":77,"cwd":"/","kind":"shell","pty":false,"schema":1}"#,
            "\n",
            r#"{"type":"output","worker":"w","seq":1,"ts":1,"stream":"stdout","text":"a\n"}"#,
            "\n",
            r#"{"type":"output","worker":"w","seq":4,"ts":1,"stream":"stdout","text":"b\n"}"#,
            "\n",
            r#"{"type":"exit","worker":"w","seq":5,"ts":2,"code":3,"signal":null,"duration_ms":1,"timed_out":false,"lines":2,"bytes":4}"#,
            "\n",
        );
        relay.push(stream.as_bytes(), "w", &mut out);
        relay.finish("w", &mut out);
        let events: Vec<Event> = out
            .split_inclusive(|b| *b == b'\n')
            .map(|l| parse_line(l).unwrap())
            .collect();
        let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
        assert_eq!(
            seqs,
            [0, 1, 2, 4, 5],
            "the gap's error takes 2; 3 stays missing"
        );
        assert!(matches!(&events[2].body, Body::Error(e) if e.message.contains("events 2 to 3")));
        let text = String::from_utf8_lossy(&out);
        assert!(text.contains(r#""host":"lab""#), "{text}");
        assert_eq!(relay.remote_pid, Some(77));
        assert_eq!(relay.exit.as_ref().and_then(|e| e.code), Some(3));
        assert_eq!(relay.next_seq(), 6);
    }

    #[test]
    fn spending_is_relayed_and_an_end_asked_here_says_why() {
        let mut relay = Relay::new("lab", 1);
        relay.ended_here = Some(EndedBy::Budget);
        let mut out = Vec::new();
        let stream = concat!(
            r#"{"type":"start","worker":"w","seq":0,"ts":1,"argv":["x"],"pid":77,"cwd":"/","kind":"claude-code","pty":false,"schema":1}"#,
            "\n",
            r#"{"type":"output","worker":"w","seq":1,"ts":1,"stream":"stdout","text":"{}\n","agent":{"kind":"result","ok":true,"cost_usd":0.5}}"#,
            "\n",
            r#"{"type":"exit","worker":"w","seq":2,"ts":2,"code":null,"signal":"SIGTERM","duration_ms":1,"timed_out":false,"lines":1,"bytes":3,"ended_by":"interrupted","cost_usd":0.5}"#,
            "\n",
        );
        relay.push(stream.as_bytes(), "w", &mut out);
        assert_eq!(relay.spending.len(), 2);
        assert_eq!(relay.spending[0], Spent::Attempt);
        assert!(matches!(&relay.spending[1], Spent::Note(n) if n["cost_usd"] == 0.5));
        let events: Vec<Event> = out
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| parse_line(l).unwrap())
            .collect();
        let exit = events.last().unwrap();
        assert_eq!(exit.seq, 3, "its seq here");
        let Body::Exit(exit) = &exit.body else {
            panic!("{exit:?}")
        };
        assert_eq!(exit.ended_by, Some(EndedBy::Budget));
        assert_eq!(relay.exit.as_ref().unwrap().ended_by, Some(EndedBy::Budget));
    }

    #[test]
    fn a_resumed_relay_goes_on_after_the_events_written_meanwhile() {
        let a = r#"{"type":"output","worker":"w","seq":0,"ts":1,"stream":"stdout","text":"a\n"}"#;
        let b = r#"{"type":"output","worker":"w","seq":1,"ts":1,"stream":"stdout","text":"b\n"}"#;
        let mut first = Relay::new("lab", 0);
        let mut out = Vec::new();
        // The connection breaks in the middle of b's line.
        first.push(format!("{a}\n{}", &b[..20]).as_bytes(), "w", &mut out);
        assert_eq!(
            first.taken,
            a.len() as u64 + 1,
            "only whole lines are taken"
        );
        // One event (the error saying so) was written here meanwhile: seq 1.
        let mut again = Relay::resume("lab", 2, &first);
        let mut out = Vec::new();
        again.push(format!("{b}\n").as_bytes(), "w", &mut out);
        let event = parse_line(&out).unwrap();
        assert_eq!(event.seq, 2);
        assert_eq!((again.lines, again.next_seq()), (2, 3));
    }
}
