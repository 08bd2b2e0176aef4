//! Events as sc writes them, read by comparing their keys whole: the head
//! (`{"type":"…","worker":"…","seq":N,"ts":T`) and an output's stream and
//! text. Most lines of a stream are these; anything else is read by the
//! general scan.

use super::grammar::{number, string};
use super::{FastHead, seq_value, slice};
use crate::find::next_special;

/// The head as sc writes it, `{"type":"…","worker":"…","seq":N,"ts":T`
/// with no space, escape or multi-byte character in it, read by comparing
/// the keys whole: the head and the index past `ts`'s number (or past an
/// output's text, when `"stream"` and `"text"` follow as sc writes them).
/// None when the line starts any other way (the general path reads it
/// then).
#[inline]
pub(super) fn sc_head(b: &[u8]) -> Option<ScHead<'_>> {
    /// `b[at..]` starts with `expected`: the index past it.
    fn expect(b: &[u8], at: usize, expected: &[u8]) -> Option<usize> {
        let end = at + expected.len();
        (b.get(at..end)? == expected).then_some(end)
    }
    /// A string's inside from `at`, with nothing to unescape or check:
    /// the index of its closing quote.
    fn plain(b: &[u8], at: usize) -> Option<usize> {
        let end = next_special::<true>(b, at);
        (b.get(end) == Some(&b'"')).then_some(end)
    }
    let type_at = expect(b, 0, b"{\"type\":\"")?;
    let type_end = plain(b, type_at)?;
    let worker_at = expect(b, type_end, b"\",\"worker\":\"")?;
    let worker_end = plain(b, worker_at)?;
    let seq_at = expect(b, worker_end, b"\",\"seq\":")?;
    let seq_end = number(b, seq_at)?;
    let ts_at = expect(b, seq_end, b",\"ts\":")?;
    let ts_end = number(b, ts_at)?;
    let head = FastHead {
        type_name: slice(b, type_at, type_end),
        worker: slice(b, worker_at, worker_end),
        seq: seq_value(&b[seq_at..seq_end])?,
        ts: slice(b, ts_at, ts_end),
    };
    // Most lines are output: their stream and text as sc writes them
    // (neither is a head field, so nothing else is to be checked of them).
    let text_at = expect(b, ts_end, b",\"stream\":\"")
        .and_then(|at| {
            ["stdout", "stderr", "pty"]
                .into_iter()
                .find_map(|stream| Some((stream, expect(b, at, stream.as_bytes())?)))
        })
        .and_then(|(stream, at)| Some((stream, expect(b, at, b"\",\"text\":")?)));
    Some(match text_at {
        Some((stream, at)) => {
            let after = string(b, at)?.0;
            ScHead {
                head,
                after,
                output: Some(OutputPart {
                    stream,
                    text: slice(b, at, after),
                }),
            }
        }
        None => ScHead {
            head,
            after: ts_end,
            output: None,
        },
    })
}

/// What [`sc_head`] read: the head, the index past what it read, and an
/// output's stream and text when they follow the head as sc writes them.
pub(super) struct ScHead<'a> {
    pub(super) head: FastHead<'a>,
    pub(super) after: usize,
    output: Option<OutputPart<'a>>,
}

struct OutputPart<'a> {
    stream: &'static str,
    /// The text's JSON string, quotes included.
    text: &'a str,
}

/// An output event exactly as sc writes it, read without building anything
/// (see [`read_output_line`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputLine<'a> {
    pub worker: &'a str,
    pub seq: u64,
    /// `ts` as written.
    pub ts: &'a str,
    /// `stdout`, `stderr` or `pty`.
    pub stream: &'static str,
    /// The `text` as a JSON string, quotes and escapes included.
    pub text_json: &'a str,
}

/// The line (with or without its newline) when it is an output event as
/// sc writes it: its head, then `stream` and `text`, and nothing else. The
/// whole line is checked as it is read (JSON's grammar, UTF-8). None for
/// any other line, which the general reader then reads: viewers take this
/// path for the lines that are most of a stream.
pub fn read_output_line(line: &[u8]) -> Option<OutputLine<'_>> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let read = sc_head(line)?;
    let output = read.output?;
    (read.head.type_name == "output" && &line[read.after..] == b"}").then_some(OutputLine {
        worker: read.head.worker,
        seq: read.head.seq,
        ts: read.head.ts,
        stream: output.stream,
        text_json: output.text,
    })
}

#[cfg(test)]
mod tests {
    /// Output lines as sc writes them are read whole; anything more or
    /// else after the text, or another type, is not.
    #[test]
    fn output_lines_as_sc_writes_them_are_read_whole() {
        use super::read_output_line;
        use crate::{OutputEncoder, Progress, Stream, TsText};
        let encoded = |stream: Stream, data: &[u8], progress: Option<&Progress>| {
            let mut line = Vec::new();
            OutputEncoder::new("w1", stream).encode(
                &mut line,
                7,
                &TsText::new(1.25),
                data,
                progress,
            );
            line
        };
        for (data, stream) in [
            (&b"x\n"[..], Stream::Stdout),
            (b"\"quoted\" \xc3\xa9\r", Stream::Stderr),
            (b"", Stream::Pty),
        ] {
            let line = encoded(stream, data, None);
            let read = read_output_line(&line).expect("read whole");
            assert_eq!((read.worker, read.seq, read.ts), ("w1", 7, "1.25"));
            assert_eq!(read.stream, stream.as_str());
            let text: String = serde_json::from_str(read.text_json).unwrap();
            assert_eq!(text.as_bytes(), data);
        }
        let progress = Progress {
            percent: Some(1.0),
            message: "1%".into(),
        };
        let with_progress = encoded(Stream::Stdout, b"1%", Some(&progress));
        let not_utf8 = encoded(Stream::Stdout, b"\xff", None);
        for line in [
            with_progress.as_slice(),
            &not_utf8,
            br#"{"type":"stall","worker":"w","seq":1,"ts":1,"stream":"stdout","text":"x"}"#,
            br#"{"type":"output","worker":"w","seq":1,"ts":1,"stream":"stdout","text":"x"} "#,
            br#"{"type":"output","worker":"w","seq":1,"ts":1,"stream":"stdout","text":"x","text":"y"}"#,
            br#"{"type":"output","worker":"w","seq":1,"ts":1,"stream":"stdout","text":"x\q"}"#,
            br#"{"type":"output","worker":"w","seq":1,"ts":1,"stream":"other","text":"x"}"#,
        ] {
            assert_eq!(read_output_line(line), None, "{}", String::from_utf8_lossy(line));
        }
    }
}
