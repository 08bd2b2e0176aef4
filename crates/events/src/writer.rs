//! Writing events as NDJSON lines.
//!
//! [`encode`] serializes any event. [`OutputEncoder`] is the hot path of a
//! capture: it writes `output` events for one worker and stream straight into
//! a buffer, with the worker id escaped once and the timestamp formatted once
//! per read. Both produce the same bytes for the same event (a unit test holds
//! them to it), so consumers cannot tell which wrote a line.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::Value;

use crate::blocks::{Block, Piece, decimal};
use crate::event::{Body, Event, Progress, Stream};

impl Serialize for Event {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // `type` first, then the other three, then the body: a person reading
        // the raw stream sees what and whose before the payload.
        #[derive(serde::Serialize)]
        struct Wire<'a> {
            #[serde(rename = "type")]
            type_name: &'a str,
            worker: &'a str,
            seq: u64,
            ts: f64,
            #[serde(flatten)]
            body: &'a Body,
        }
        let wire = Wire {
            type_name: self.body.type_name(),
            worker: &self.worker,
            seq: self.seq,
            ts: self.ts,
            body: &self.body,
        };
        // Serialize through a map so that an unknown event's own `type`
        // field (kept in its map) cannot be written twice.
        if let Body::Other { fields, .. } = &self.body {
            let mut map = serializer.serialize_map(None)?;
            map.serialize_entry("type", wire.type_name)?;
            map.serialize_entry("worker", wire.worker)?;
            map.serialize_entry("seq", &wire.seq)?;
            map.serialize_entry("ts", &wire.ts)?;
            for (key, value) in fields {
                if !matches!(key.as_str(), "type" | "worker" | "seq" | "ts") {
                    map.serialize_entry(key, value)?;
                }
            }
            return map.end();
        }
        wire.serialize(serializer)
    }
}

/// Append `event` to `out` as one NDJSON line (with its `\n`).
pub fn encode(event: &Event, out: &mut Vec<u8>) {
    // Serializing into a Vec cannot fail for these types: every map key is a
    // string and every float is finite or written as null.
    serde_json::to_writer(&mut *out, event).expect("event serializes");
    out.push(b'\n');
}

/// The event as one NDJSON line.
pub fn to_line(event: &Event) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    encode(event, &mut out);
    out
}

pub use crate::escape::push_json_str;

/// A timestamp formatted once for all the events of one read.
#[derive(Debug, Clone)]
pub struct TsText {
    /// `,"ts":TS`
    field: Block<48>,
}

impl TsText {
    pub fn new(ts: f64) -> TsText {
        let mut text = Vec::with_capacity(32);
        text.extend_from_slice(br#","ts":"#);
        serde_json::to_writer(&mut text, &ts).expect("f64 serializes");
        // An f64 is written in at most 24 bytes (ryu's longest form).
        let field = Block::new(&text).expect("a timestamp fits its block");
        TsText { field }
    }
}

/// Writes `output` events of one worker and one stream.
#[derive(Debug, Clone)]
pub struct OutputEncoder {
    /// `{"type":"output","worker":"ID","seq":`
    head: Piece<64>,
    /// `,"stream":"stdout",`
    stream: Block<32>,
}

/// Room for an event's head ([`OutputEncoder::head`]'s blocks: head, seq,
/// ts, stream) and its payload's key, quotes and end, besides the payload.
const ROOM: usize = 64 + 24 + 48 + 32 + 16;

impl OutputEncoder {
    pub fn new(worker: &str, stream: Stream) -> OutputEncoder {
        let mut head = Vec::with_capacity(worker.len() + 40);
        head.extend_from_slice(br#"{"type":"output","worker":"#);
        push_json_str(&mut head, worker);
        head.extend_from_slice(br#","seq":"#);
        let stream: &[u8] = match stream {
            Stream::Stdout => br#","stream":"stdout","#,
            Stream::Stderr => br#","stream":"stderr","#,
            Stream::Pty => br#","stream":"pty","#,
        };
        OutputEncoder {
            head: Piece::new(&head),
            stream: Block::new(stream).expect("the stream's field fits its block"),
        }
    }

    /// Append one output event for `data` to `out`: `text` when `data` is
    /// valid UTF-8, `bytes` otherwise. Returns whether it was text.
    pub fn encode(
        &self,
        out: &mut Vec<u8>,
        seq: u64,
        ts: &TsText,
        data: &[u8],
        progress: Option<&Progress>,
    ) -> bool {
        self.encode_checked(out, seq, ts, data, |_| progress.cloned(), None)
    }

    /// Append one output event for `data`: `text` when it is UTF-8
    /// (checked as it is escaped, one pass), with the progress `progress`
    /// finds in that text; `bytes` otherwise. Returns whether it was text.
    pub fn encode_checked(
        &self,
        out: &mut Vec<u8>,
        seq: u64,
        ts: &TsText,
        data: &[u8],
        progress: impl FnOnce(&str) -> Option<Progress>,
        agent: Option<&Value>,
    ) -> bool {
        let mark = out.len();
        // Room for all but the text's escapes: the blocks copy whole.
        out.reserve(ROOM + data.len());
        self.head(out, seq, ts);
        out.extend_from_slice(br#""text":""#);
        match crate::escape::push_escaped_utf8(out, data) {
            Some(text) => {
                out.push(b'"');
                Self::tail(out, progress(text).as_ref(), agent);
                true
            }
            None => {
                out.truncate(mark);
                self.encode_bytes(out, seq, ts, data, agent);
                false
            }
        }
    }

    /// Append an output event with a `bytes` payload (for bytes that are not
    /// valid UTF-8).
    fn encode_bytes(
        &self,
        out: &mut Vec<u8>,
        seq: u64,
        ts: &TsText,
        data: &[u8],
        agent: Option<&Value>,
    ) {
        self.head(out, seq, ts);
        out.extend_from_slice(br#""bytes":""#);
        let start = out.len();
        out.resize(
            start + base64::encoded_len(data.len(), true).unwrap_or(0),
            0,
        );
        let written = BASE64
            .encode_slice(data, &mut out[start..])
            .expect("buffer sized by encoded_len");
        out.truncate(start + written);
        out.push(b'"');
        Self::tail(out, None, agent);
    }

    /// `{"type":"output","worker":"ID","seq":N,"ts":TS,"stream":"S",`, its
    /// pieces appended as blocks (see [`crate::blocks`]).
    #[inline(always)]
    fn head(&self, out: &mut Vec<u8>, seq: u64, ts: &TsText) {
        self.head.append_to(out);
        decimal(seq).append_to(out);
        ts.field.append_to(out);
        self.stream.append_to(out);
    }

    fn tail(out: &mut Vec<u8>, progress: Option<&Progress>, agent: Option<&Value>) {
        if let Some(progress) = progress {
            out.extend_from_slice(br#","progress":"#);
            serde_json::to_writer(&mut *out, progress).expect("progress serializes");
        }
        if let Some(agent) = agent {
            out.extend_from_slice(br#","agent":"#);
            serde_json::to_writer(&mut *out, agent).expect("a JSON value serializes");
        }
        out.extend_from_slice(b"}\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Exit, Output, Payload};

    fn general(worker: &str, seq: u64, ts: f64, stream: Stream, data: &[u8]) -> Vec<u8> {
        to_line(&Event::new(
            worker,
            seq,
            ts,
            Output {
                stream,
                payload: Payload::from_bytes(data),
                progress: None,
                agent: None,
            },
        ))
    }

    #[test]
    fn fast_output_matches_general_encoding() {
        let cases: &[&[u8]] = &[
            b"hello\n",
            b"",
            b"tab\tquote\"back\\slash\x01\x1f\x7f\r\n",
            "caf\u{e9} \u{1F600}\n".as_bytes(),
            b"\xff\xfe not utf8\n",
            b"nul\0byte",
            b"\xe2\x82",
        ];
        let ts = 1764056142.123456;
        for (i, data) in cases.iter().enumerate() {
            for stream in [Stream::Stdout, Stream::Stderr, Stream::Pty] {
                let enc = OutputEncoder::new("w\"/1", stream);
                let mut fast = Vec::new();
                enc.encode(&mut fast, i as u64, &TsText::new(ts), data, None);
                assert_eq!(
                    String::from_utf8_lossy(&fast),
                    String::from_utf8_lossy(&general("w\"/1", i as u64, ts, stream, data))
                );
            }
        }
    }

    proptest::proptest! {
        /// Byte for byte what the general encoder writes, for any bytes,
        /// worker id (long ones too, past the head's block), seq and time.
        #[test]
        fn fast_output_matches_general_for_any_bytes(
            data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
            worker in "\\PC{0,80}",
            seq in proptest::prelude::any::<u64>(),
            ts in 0.0f64..4e9,
        ) {
            let mut fast = b"before".to_vec();
            OutputEncoder::new(&worker, Stream::Pty).encode(&mut fast, seq, &TsText::new(ts), &data, None);
            let general = general(&worker, seq, ts, Stream::Pty, &data);
            proptest::prop_assert_eq!(&fast[6..], &general[..]);
        }
    }

    #[test]
    fn fast_output_with_progress_matches_general() {
        let progress = Progress {
            percent: Some(42.5),
            message: "[3/10] building".into(),
        };
        let enc = OutputEncoder::new("cargo", Stream::Stderr);
        let mut fast = Vec::new();
        enc.encode(
            &mut fast,
            7,
            &TsText::new(1.5),
            b"x 42.5%\n",
            Some(&progress),
        );
        let slow = to_line(&Event::new(
            "cargo",
            7,
            1.5,
            Output {
                stream: Stream::Stderr,
                payload: Payload::Text("x 42.5%\n".into()),
                progress: Some(progress),
                agent: None,
            },
        ));
        assert_eq!(fast, slow);
    }

    #[test]
    fn fast_output_with_agent_matches_general() {
        let agent = serde_json::json!({"kind": "text", "text": "hi", "delta": true});
        let enc = OutputEncoder::new("claude", Stream::Stdout);
        let mut fast = Vec::new();
        enc.encode_checked(
            &mut fast,
            3,
            &TsText::new(2.5),
            b"{}\n",
            |_| None,
            Some(&agent),
        );
        let slow = to_line(&Event::new(
            "claude",
            3,
            2.5,
            Output {
                stream: Stream::Stdout,
                payload: Payload::Text("{}\n".into()),
                progress: None,
                agent: Some(agent),
            },
        ));
        assert_eq!(fast, slow);
    }

    #[test]
    fn type_and_header_come_first() {
        let line = to_line(&Event::new(
            "make",
            9,
            2.0,
            Exit {
                code: Some(0),
                signal: None,
                duration_ms: 12,
                timed_out: false,
                lines: 3,
                bytes: 40,
                leaked: false,
                ended_by: None,
                agent_result: None,
                worktree: None,
                cost_usd: None,
            },
        ));
        assert_eq!(
            String::from_utf8(line).unwrap(),
            "{\"type\":\"exit\",\"worker\":\"make\",\"seq\":9,\"ts\":2.0,\"code\":0,\"signal\":null,\
             \"duration_ms\":12,\"timed_out\":false,\"lines\":3,\"bytes\":40}\n"
        );
    }

    #[test]
    fn timestamps_keep_microseconds() {
        let mut out = Vec::new();
        OutputEncoder::new("w", Stream::Stdout).encode(
            &mut out,
            0,
            &TsText::new(1764056142.000001),
            b"x",
            None,
        );
        assert!(
            String::from_utf8(out)
                .unwrap()
                .contains("\"ts\":1764056142.000001,")
        );
    }
}
