//! Reading events for display: one flat, borrowed view of any event line.
//!
//! A viewer reads hundreds of thousands of lines and looks at a few fields
//! of each. Deserializing into one flat struct of optional, borrowed fields
//! skips building a typed event (and its owned strings) for every line.

use std::borrow::Cow;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use sc_events::{OutputLine, ReadError, parse_line, read_output_line};
use serde::Deserialize;
use serde_json::value::RawValue;

/// The fields of any event type that a viewer looks at.
#[derive(Debug, Default, Deserialize)]
pub struct ViewEvent<'a> {
    #[serde(rename = "type", borrow)]
    pub type_name: Cow<'a, str>,
    #[serde(borrow)]
    pub worker: Cow<'a, str>,
    pub seq: u64,
    pub ts: f64,

    // output
    #[serde(borrow, default)]
    pub stream: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub text: Option<Cow<'a, str>>,
    /// `bytes` is base64 in output events and a count in heartbeat and
    /// exit events: read according to the type.
    #[serde(borrow, default)]
    pub bytes: Option<&'a RawValue>,
    #[serde(default)]
    pub progress: Option<ProgressInfo>,
    #[serde(borrow, default)]
    pub agent: Option<&'a RawValue>,

    // start and task
    #[serde(default)]
    pub argv: Option<Vec<String>>,
    #[serde(default)]
    pub pid: Option<u32>,
    /// start: the host it runs on, when not here.
    #[serde(borrow, default)]
    pub host: Option<Cow<'a, str>>,
    /// start: what confines it (a kind, as a string); a task's is `true` or
    /// an object: kept raw, read for a start only.
    #[serde(borrow, default)]
    pub sandbox: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub kind: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub role: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub prompt: Option<Cow<'a, str>>,
    #[serde(default)]
    pub depends_on: Option<Vec<String>>,

    // progress, error, skip
    #[serde(default)]
    pub percent: Option<f64>,
    #[serde(borrow, default)]
    pub message: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub reason: Option<Cow<'a, str>>,

    // heartbeat, stall, exit
    #[serde(default)]
    pub idle_ms: Option<u64>,
    #[serde(default)]
    pub lines: Option<u64>,
    #[serde(default)]
    pub cpu_ms: Option<u64>,
    #[serde(default)]
    pub rss_kib: Option<u64>,
    #[serde(default)]
    pub code: Option<i64>,
    #[serde(borrow, default)]
    pub signal: Option<Cow<'a, str>>,
    #[serde(default)]
    pub duration_ms: Option<u64>,
    #[serde(default)]
    pub timed_out: Option<bool>,
    #[serde(default)]
    pub leaked: Option<bool>,
    #[serde(borrow, default)]
    pub agent_result: Option<Cow<'a, str>>,
    /// exit: what an agent worker spent over every attempt.
    #[serde(default)]
    pub cost_usd: Option<f64>,

    // start and retry (`--retries`)
    #[serde(default)]
    pub attempt: Option<u32>,
    #[serde(borrow, default)]
    pub resumes: Option<Cow<'a, str>>,
    #[serde(default)]
    pub delay_ms: Option<u64>,
    /// skip: done by an earlier run (`--resume`).
    #[serde(default)]
    pub done: Option<bool>,

    // ask and answer (`--ask`): the ask's id; a task's `ask` is a flag.
    #[serde(borrow, default, deserialize_with = "ask_id")]
    pub ask: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub tool: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub decision: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub by: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub input: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub control: Option<Cow<'a, str>>,
    /// sandbox: the host:port refused.
    #[serde(borrow, default)]
    pub net: Option<Cow<'a, str>>,
    /// answer, say, stop: the tool a person used.
    #[serde(borrow, default)]
    pub via: Option<Cow<'a, str>>,
    /// start and exit (`--worktree`): the worker's git worktree, kept raw,
    /// read for those two only.
    #[serde(borrow, default)]
    pub worktree: Option<&'a RawValue>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ProgressInfo {
    pub percent: Option<f64>,
    #[serde(default)]
    pub message: String,
}

impl<'a> ViewEvent<'a> {
    /// Parse a line; a line that is not an event gets the reader's precise
    /// reason.
    pub fn parse(line: &'a [u8]) -> Result<ViewEvent<'a>, ReadError> {
        if let Some(event) = read_output_line(line).and_then(Self::from_output) {
            return Ok(event);
        }
        let text = std::str::from_utf8(line.strip_suffix(b"\n").unwrap_or(line));
        match text.map(serde_json::from_str::<ViewEvent<'a>>) {
            Ok(Ok(event)) => Ok(event),
            // The typed reader says exactly what is wrong.
            _ => Err(parse_line(line)
                .err()
                .unwrap_or_else(|| ReadError::NotJson("unreadable event".into()))),
        }
    }

    /// An output event as sc writes it, most of a stream's lines, read by
    /// the reader's one pass instead of serde's map (a third of sc-view's
    /// CPU in plain mode, `perf record`); only an escaped text is built.
    fn from_output(line: OutputLine<'a>) -> Option<ViewEvent<'a>> {
        let inside = &line.text_json[1..line.text_json.len() - 1];
        let text = if inside.contains('\\') {
            Cow::Owned(serde_json::from_str::<String>(line.text_json).ok()?)
        } else {
            Cow::Borrowed(inside)
        };
        Some(ViewEvent {
            type_name: Cow::Borrowed("output"),
            worker: Cow::Borrowed(line.worker),
            seq: line.seq,
            ts: line.ts.parse().ok()?,
            stream: Some(Cow::Borrowed(line.stream)),
            text: Some(text),
            ..ViewEvent::default()
        })
    }

    /// The payload of an output event, decoded: `text`, or `bytes` from
    /// base64. None for other events, or a `bytes` that is not base64.
    pub fn payload(&self) -> Option<Cow<'_, [u8]>> {
        if let Some(text) = &self.text {
            return Some(Cow::Borrowed(text.as_bytes()));
        }
        let raw = self.bytes?.get();
        let encoded = raw.strip_prefix('"')?.strip_suffix('"')?;
        BASE64.decode(encoded).ok().map(Cow::Owned)
    }

    /// The payload as text for display: `text` as it is, `bytes` decoded
    /// with invalid sequences replaced. With its length in bytes.
    pub fn payload_text(&self) -> Option<(Cow<'_, str>, usize)> {
        if let Some(text) = &self.text {
            return Some((Cow::Borrowed(text.as_ref()), text.len()));
        }
        let bytes = self.payload()?;
        let len = bytes.len();
        Some((
            Cow::Owned(String::from_utf8_lossy(&bytes).into_owned()),
            len,
        ))
    }

    /// A count field (`bytes` of heartbeat and exit events).
    pub fn bytes_count(&self) -> Option<u64> {
        self.bytes?.get().parse().ok()
    }

    pub fn is_stderr(&self) -> bool {
        self.stream.as_deref() == Some("stderr")
    }
}

/// An ask event's (and an answer's) `ask`, its id; a plan task's `ask` is
/// `true` or `false` (whether it asks), which names no ask.
fn ask_id<'de: 'a, 'a, D>(deserializer: D) -> Result<Option<Cow<'a, str>>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Ask<'a> {
        Id(#[serde(borrow)] Cow<'a, str>),
        Flag(#[allow(dead_code)] bool),
    }
    Ok(match Option::<Ask<'a>>::deserialize(deserializer)? {
        Some(Ask::Id(id)) => Some(id),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_each_type_flat() {
        let out = ViewEvent::parse(
            br#"{"type":"output","worker":"w","seq":1,"ts":2.5,"stream":"stderr","bytes":"/w==","progress":{"percent":5.0,"message":"x"}}"#,
        )
        .unwrap();
        assert_eq!(out.payload().unwrap().as_ref(), [0xff]);
        assert!(out.is_stderr());
        assert_eq!(out.progress.unwrap().percent, Some(5.0));
        let exit = ViewEvent::parse(
            br#"{"type":"exit","worker":"w","seq":2,"ts":3,"code":null,"signal":"SIGKILL","duration_ms":5,"timed_out":true,"lines":1,"bytes":40}"#,
        )
        .unwrap();
        assert_eq!(exit.bytes_count(), Some(40));
        assert_eq!(exit.payload(), None);
        assert_eq!(exit.signal.as_deref(), Some("SIGKILL"));
    }

    /// The output lines read by the fast path are read as serde reads
    /// them; any other line is left to serde.
    #[test]
    fn output_lines_read_fast_read_as_serde_reads_them() {
        use sc_events::{OutputEncoder, Stream, TsText};
        let samples: [&[u8]; 9] = [
            b"plain line\n",
            b"",
            b"quote \" back \\ tab \t cr \r\n",
            "caf\u{e9} \u{1F600} \u{1b}[31mred\n".as_bytes(),
            b"nul\0 and \x7f",
            b"progress 45%\r",
            b"\xff not UTF-8\n",
            b"\xe2\x82",
            b"</script><b>x</b>",
        ];
        for (i, data) in samples.iter().enumerate() {
            for stream in [Stream::Stdout, Stream::Stderr, Stream::Pty] {
                let mut line = Vec::new();
                OutputEncoder::new("w/\u{e9}1", stream).encode(
                    &mut line,
                    i as u64 * 1000,
                    &TsText::new(1764056142.123456 + i as f64),
                    data,
                    None,
                );
                let fast = ViewEvent::parse(&line).unwrap();
                let text = std::str::from_utf8(&line).unwrap().trim_end();
                let slow: ViewEvent<'_> = serde_json::from_str(text).unwrap();
                assert_eq!(fast.type_name, slow.type_name);
                assert_eq!(fast.worker, slow.worker);
                assert_eq!((fast.seq, fast.ts), (slow.seq, slow.ts));
                assert_eq!(fast.stream, slow.stream);
                assert_eq!(fast.text, slow.text);
                assert_eq!(fast.payload(), slow.payload(), "{text}");
                assert_eq!(fast.payload().unwrap().as_ref(), *data);
            }
        }
        // With progress after the text: serde's path, the progress kept.
        let mut line = Vec::new();
        let progress = sc_events::Progress {
            percent: Some(45.0),
            message: "45%".into(),
        };
        OutputEncoder::new("w", Stream::Stdout).encode(
            &mut line,
            1,
            &TsText::new(2.0),
            b"45%\n",
            Some(&progress),
        );
        let event = ViewEvent::parse(&line).unwrap();
        assert_eq!(event.progress.unwrap().percent, Some(45.0));
    }

    #[test]
    fn bad_lines_get_reasons() {
        let err = ViewEvent::parse(b"hello").unwrap_err().to_string();
        assert!(err.contains("not a JSON object"), "{err}");
        let err = ViewEvent::parse(br#"{"type":"x","worker":"w","ts":1}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("`seq` is missing"), "{err}");
    }
}
