//! A fast path for reading an event's head: one pass over the line that
//! checks it is a single, well-formed JSON object in UTF-8 and picks out
//! `type`, `worker`, `seq` and `ts`, without building anything.
//!
//! Routing tools (sc-merge, nesting) read every line's head and nothing
//! else; serde_json spent most of that time skipping the long `text`
//! string a byte at a time. Here strings are skipped sixteen bytes at a
//! step (a search for `"`, `\`, control characters and bytes of multi-byte
//! characters, whose runs are then checked as UTF-8: a line needs no pass
//! of its own for that), the head as sc writes it is read by comparing its
//! keys whole, the rest of the grammar is a small iterative state machine,
//! and anything out of the ordinary (a `\u` escape that is a surrogate, an
//! escaped head field, a duplicate head field, nesting past 64, a number
//! serde would reject, bytes that are not UTF-8) answers `None`: the caller
//! then takes serde_json's path, which is the reference, and which names
//! the problem of a bad line. The fast path only ever accepts what that
//! path accepts (property tests hold it to it).

mod grammar;
mod written;

use grammar::{number, skip_value, string, ws};
pub use written::{OutputLine, read_output_line};
use written::{ScHead, sc_head};

/// The head of a line that the fast path read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FastHead<'a> {
    pub type_name: &'a str,
    pub worker: &'a str,
    pub seq: u64,
    /// The `ts` number as written.
    pub ts: &'a str,
}

/// The head of `b` (one line, without its newline), when it is a
/// well-formed JSON object in UTF-8 whose head fields are plain; None
/// otherwise. Every byte is looked at once: outside strings only ASCII
/// fits the grammar, and strings are checked as they are skipped.
pub(crate) fn scan_head(b: &[u8]) -> Option<FastHead<'_>> {
    let (head, end) = scan_object(b)?;
    (ws(b, end) == b.len()).then_some(head)
}

/// The head of the first line of `run` (lines, each with its `\n`), and
/// that line's length with its newline, when it is a line [`scan_head`]
/// reads: the line's end is found by the same pass, with no search of its
/// own. The scan never passes a newline (strings refuse control
/// characters, and whitespace here is never one), so what it reads lies
/// within the first line.
pub(crate) fn scan_first_line(run: &[u8]) -> Option<(FastHead<'_>, usize)> {
    let (head, mut end) = scan_object(run)?;
    end = ws(run, end);
    (run.get(end) == Some(&b'\n')).then_some((head, end + 1))
}

/// An object from the start of `b`, read as [`scan_head`] says: its head,
/// and the index past its closing brace.
fn scan_object(b: &[u8]) -> Option<(FastHead<'_>, usize)> {
    let mut slots = Slots::default();
    // Where the next key is, or (after the head sc writes) a separator.
    let (mut i, mut at_key) = match sc_head(b) {
        Some(ScHead { head, after, .. }) => {
            slots = Slots {
                type_name: Some(head.type_name),
                worker: Some(head.worker),
                seq: Some(head.seq),
                ts: Some(head.ts),
            };
            (after, false)
        }
        None => {
            let i = ws(b, 0);
            if b.get(i) != Some(&b'{') {
                return None;
            }
            let i = ws(b, i + 1);
            if b.get(i) == Some(&b'}') {
                return None; // `{}`: no head at all
            }
            (i, true)
        }
    };
    loop {
        if at_key {
            let (after_key, escaped) = string(b, i)?;
            let key = &b[i + 1..after_key - 1];
            i = ws(b, after_key);
            if b.get(i) != Some(&b':') {
                return None;
            }
            // An escaped key may spell a head field: leave it to serde.
            if escaped {
                return None;
            }
            i = slots.value(b, key, ws(b, i + 1))?;
        }
        at_key = true;
        i = ws(b, i);
        match b.get(i) {
            Some(b',') => i = ws(b, i + 1),
            Some(b'}') => return Some((slots.head()?, i + 1)),
            _ => return None,
        }
    }
}

/// The head fields an object gave so far.
#[derive(Default)]
struct Slots<'a> {
    type_name: Option<&'a str>,
    worker: Option<&'a str>,
    seq: Option<u64>,
    ts: Option<&'a str>,
}

impl<'a> Slots<'a> {
    /// The value of `key` at `i`, kept when it is a head field (once:
    /// a second is left to serde), skipped otherwise: the index past it.
    fn value(&mut self, b: &'a [u8], key: &[u8], i: usize) -> Option<usize> {
        match key {
            b"type" | b"worker" => {
                let (end, escaped) = string(b, i)?;
                let slot = if key == b"type" {
                    &mut self.type_name
                } else {
                    &mut self.worker
                };
                if escaped || slot.is_some() {
                    return None;
                }
                *slot = Some(slice(b, i + 1, end - 1));
                Some(end)
            }
            b"seq" => {
                let end = number(b, i)?;
                if self.seq.is_some() {
                    return None;
                }
                self.seq = Some(seq_value(&b[i..end])?);
                Some(end)
            }
            b"ts" => {
                let end = number(b, i)?;
                if self.ts.is_some() {
                    return None;
                }
                self.ts = Some(slice(b, i, end));
                Some(end)
            }
            // Most values skipped are strings (an output's text).
            _ if b.get(i) == Some(&b'"') => Some(string(b, i)?.0),
            _ => skip_value(b, i),
        }
    }

    /// The head, when every field was given.
    fn head(self) -> Option<FastHead<'a>> {
        Some(FastHead {
            type_name: self.type_name?,
            worker: self.worker?,
            seq: self.seq?,
            ts: self.ts?,
        })
    }
}

/// A `seq` as written, by JSON's grammar: digits only (no sign, fraction
/// or exponent), within u64.
fn seq_value(number: &[u8]) -> Option<u64> {
    let mut value: u64 = 0;
    for &c in number {
        if !c.is_ascii_digit() {
            return None;
        }
        value = value.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    Some(value)
}

/// `b[from..to]`, the inside of a string or a number the scan accepted.
#[inline]
fn slice(b: &[u8], from: usize, to: usize) -> &str {
    debug_assert!(std::str::from_utf8(&b[from..to]).is_ok());
    // SAFETY: `string` checked the bytes of the string as UTF-8 (and a
    // number is ASCII digits); both ends are next to an ASCII byte of the
    // syntax (a quote, a digit), never inside a character.
    unsafe { std::str::from_utf8_unchecked(&b[from..to]) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_heads_sc_writes() {
        let line = r#"{"type":"output","worker":"build","seq":12,"ts":1764056142.00452,"stream":"stdout","text":"compiling \"x\"\n\t\u00e9","progress":{"percent":45.0,"message":"[45%]"},"agent":{"kind":"tool_call","input":{"a":[1,2,{"b":null}],"c":true}}}"#;
        assert_eq!(
            scan_head(line.as_bytes()),
            Some(FastHead {
                type_name: "output",
                worker: "build",
                seq: 12,
                ts: "1764056142.00452",
            })
        );
    }

    #[test]
    fn leaves_anything_unusual_to_the_reference_path() {
        for line in [
            "",
            "{}",
            "[]",
            r#"{"type":"x","worker":"w","seq":1,"ts":1"#,
            r#"{"type":"x","worker":"w","seq":1,"ts":1,}"#,
            r#"{"type":"x","worker":"w","seq":1,"ts":1} x"#,
            r#"{"type":"x","worker":"w","seq":01,"ts":1}"#,
            r#"{"type":"x","worker":"w","seq":1.0,"ts":1}"#,
            r#"{"type":"x","worker":"w","seq":-1,"ts":1}"#,
            r#"{"type":"x","worker":"w","seq":18446744073709551616,"ts":1}"#,
            r#"{"type":"x","worker":"w","seq":1,"ts":"1"}"#,
            r#"{"type":"x","worker":"w","seq":1,"ts":1.}"#,
            r#"{"type":"x","worker":"w","seq":1,"ts":1e}"#,
            r#"{"type":"x","worker":"w\u0041","seq":1,"ts":1}"#,
            r#"{"type":"x","worker":"w","worker":"v","seq":1,"ts":1}"#,
            r#"{"type":"x","worker":"w","seq":1,"ts":1,"t":"\ud800"}"#,
            r#"{"type":"x","worker":"w","seq":1,"ts":1,"t":"\x"}"#,
            "{\"type\":\"x\",\"worker\":\"w\",\"seq\":1,\"ts\":1,\"t\":\"\u{1}\"}",
            r#"{"type":"x","worker":"w","seq":1,"ts":1,"t":[1,]}"#,
            r#"{"type":"x","worker":"w","seq":1,"ts":1,"t":{"a"}}"#,
            r#"{"type":"x","worker":"w","seq":1,"ts":1,"t":tru}"#,
            r#"{"type":"x","worker":"w","seq":1,"ts":1,"t":[}"#,
        ] {
            assert_eq!(scan_head(line.as_bytes()), None, "{line}");
        }
    }

    /// The first line of a run is read with its length; the scan stops at
    /// its newline, and a line it does not take is left to the caller.
    #[test]
    fn the_first_line_of_a_run_is_read_to_its_newline() {
        let event = r#"{"type":"x","worker":"w","seq":1,"ts":1}"#;
        for (run, expected) in [
            (format!("{event}\n{event}\n"), Some(event.len() + 1)),
            (format!("{event} \r\nnext\n"), Some(event.len() + 3)),
            (format!("{event}\n"), Some(event.len() + 1)),
            (event.to_owned(), None),
            (format!("{event} x\n"), None),
            (format!("{}\n}}\n", &event[..event.len() - 1]), None),
            (format!("\n{event}\n"), None),
        ] {
            let read = scan_first_line(run.as_bytes());
            assert_eq!(read.map(|(_, len)| len), expected, "{run:?}");
            if let Some((head, _)) = read {
                assert_eq!((head.worker, head.seq), ("w", 1));
            }
        }
    }

    /// The scan checks UTF-8 as it goes: a line it takes needs no other
    /// check, so anything that is not UTF-8, anywhere, is left to the
    /// reference path (which names the byte).
    #[test]
    fn takes_no_line_that_is_not_utf8() {
        let head = |rest: &[u8]| {
            let mut line = br#"{"type":"x","worker":"w","seq":1,"ts":1,"#.to_vec();
            line.extend_from_slice(rest);
            line
        };
        let broken: [&[u8]; 8] = [
            b"\xff",
            b"\xc3",                // a lead byte alone
            b"\xc0\x80",            // an overlong NUL
            b"\xed\xa0\x80",        // a surrogate
            b"\xf4\x90\x80\x80",    // past U+10FFFF
            b"\xe6\x97",            // cut short before the quote
            b"ok \xe6\x97\xa5\x80", // a stray continuation after a character
            b"\x80",
        ];
        for bad in broken {
            for at in [0usize, 3, 17] {
                let mut text = b"t\":\"".to_vec();
                text.extend(std::iter::repeat_n(b'a', at));
                text.extend_from_slice(bad);
                text.extend_from_slice(b"\"}");
                let mut line = head(b"\"");
                line.extend_from_slice(&text);
                assert!(std::str::from_utf8(&line).is_err());
                assert_eq!(scan_head(&line), None, "{line:?}");
            }
        }
        // In a key, the head's own values, and outside any string.
        for line in [
            b"{\"type\":\"x\xff\",\"worker\":\"w\",\"seq\":1,\"ts\":1}".as_slice(),
            b"{\"type\":\"x\",\"worker\":\"\xc3(\",\"seq\":1,\"ts\":1}",
            b"{\"type\":\"x\",\"worker\":\"w\",\"seq\":1,\"ts\":1,\"k\xff\":1}",
            b"{\"type\":\"x\",\"worker\":\"w\",\"seq\":1,\"ts\":1}\xff",
            b"\xef\xbb\xbf{\"type\":\"x\",\"worker\":\"w\",\"seq\":1,\"ts\":1}",
        ] {
            assert_eq!(scan_head(line), None, "{line:?}");
        }
        // Characters of every width, at every alignment, are taken.
        for at in 0..40 {
            let text = format!("{}é日😀\u{10ffff}a日", "x".repeat(at));
            let line = format!(r#"{{"type":"é","worker":"日/{at}","seq":1,"ts":1,"t":"{text}"}}"#);
            let fast = scan_head(line.as_bytes()).expect("valid UTF-8 is taken");
            let worker = format!("日/{at}");
            assert_eq!((fast.type_name, fast.worker), ("é", worker.as_str()));
        }
    }

    mod agreement {
        use super::super::scan_head;
        use crate::reader::SerdeHead as Reference;
        use crate::{OutputEncoder, Stream, TsText};
        use proptest::prelude::*;

        fn jsonish() -> impl Strategy<Value = String> {
            let atoms = vec![
                "{",
                "}",
                "[",
                "]",
                ":",
                ",",
                "\"",
                "\\",
                "\\u0041",
                "\\ud83d\\ude00",
                "\\n",
                "\"type\"",
                "\"worker\"",
                "\"seq\"",
                "\"ts\"",
                "\"x\"",
                ",\"stream\":\"stdout\",\"text\":",
                "\"stream\"",
                "\"pty\"",
                "\"text\"",
                "1",
                "0",
                "-2.5e3",
                "01",
                "1.",
                "true",
                "null",
                " ",
                "\u{e9}",
                "\u{1}",
            ];
            prop::collection::vec(prop::sample::select(atoms), 0..40).prop_map(|p| p.concat())
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2000))]

            /// The fast path accepts only what serde_json accepts, with the
            /// same head.
            #[test]
            fn the_fast_path_agrees_with_serde(body in jsonish()) {
                // Most generated lines are not objects: give some a head.
                for text in [
                    body.clone(),
                    format!(r#"{{"type":"t","worker":"w","seq":3,"ts":1.5,{body}}}"#),
                    format!(r#"{{"x":{body},"type":"t","worker":"w","seq":3,"ts":1.5}}"#),
                    // Right after the head, where an output's stream may be.
                    format!(r#"{{"type":"t","worker":"w","seq":3,"ts":1.5{body}}}"#),
                ] {
                    if let Some(fast) = scan_head(text.as_bytes()) {
                        let reference = serde_json::from_str::<Reference<'_>>(&text);
                        prop_assert!(reference.is_ok(), "fast path took {text:?}");
                        let reference = reference.unwrap();
                        prop_assert_eq!(fast.type_name, reference.type_name.as_ref());
                        prop_assert_eq!(fast.worker, reference.worker.as_ref());
                        prop_assert_eq!(fast.seq, reference.seq);
                        prop_assert_eq!(fast.ts, reference.ts_text.get());
                    }
                }
            }

            /// Bytes that are not UTF-8 (lone, overlong, surrogate, cut
            /// short) anywhere in a line: the fast path takes a line only
            /// when it is UTF-8 and serde_json takes it too.
            #[test]
            fn the_fast_path_takes_only_utf8(
                body in jsonish(),
                raw in prop::collection::vec(prop::sample::select(vec![
                    &b"\xff"[..], b"\xc3", b"\xc3\xa9", b"\xc0\x80", b"\xed\xa0\x80",
                    b"\xe6\x97\xa5", b"\xe6\x97", b"\x80", b"\xf0\x9f\x98\x80", b"\xf4\x90\x80\x80",
                ]), 0..4),
                at in any::<prop::sample::Index>(),
            ) {
                let text = format!(r#"{{"type":"t","worker":"w","seq":3,"ts":1.5,"t":"{body}"}}"#);
                let mut line = text.into_bytes();
                let place = at.index(line.len() + 1);
                let raw: Vec<u8> = raw.concat();
                line.splice(place..place, raw);
                if let Some(fast) = scan_head(&line) {
                    let text = std::str::from_utf8(&line);
                    prop_assert!(text.is_ok(), "fast path took {line:?}");
                    let reference = serde_json::from_str::<Reference<'_>>(text.unwrap());
                    prop_assert!(reference.is_ok(), "fast path took {line:?}");
                    let reference = reference.unwrap();
                    prop_assert_eq!(fast.worker, reference.worker.as_ref());
                }
            }

            /// What sc writes is read by the fast path.
            #[test]
            fn lines_sc_writes_take_the_fast_path(
                data in prop::collection::vec(any::<u8>(), 0..200),
                worker in "[a-z/0-9-]{1,12}",
                seq in any::<u64>(),
            ) {
                let mut line = Vec::new();
                OutputEncoder::new(&worker, Stream::Stdout)
                    .encode(&mut line, seq, &TsText::new(1764056142.5), &data, None);
                let text = std::str::from_utf8(&line).unwrap().trim_end();
                let fast = scan_head(text.as_bytes());
                prop_assert!(fast.is_some(), "{text}");
                let fast = fast.unwrap();
                prop_assert_eq!(fast.worker, worker.as_str());
                prop_assert_eq!(fast.seq, seq);
            }
        }
    }
}
