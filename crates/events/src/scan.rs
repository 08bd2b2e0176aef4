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

use crate::find::{ONES, next_ascii, next_special};

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
    let (mut type_name, mut worker, mut seq, mut ts) = (None, None, None, None);
    // Where the next key is, or (after the head sc writes) a separator.
    let (mut i, mut at_key) = match sc_head(b) {
        Some(ScHead { head, after, .. }) => {
            type_name = Some(head.type_name);
            worker = Some(head.worker);
            seq = Some(head.seq);
            ts = Some(head.ts);
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
            i = ws(b, i + 1);
            // An escaped key may spell a head field: leave it to serde.
            if escaped {
                return None;
            }
            match key {
                b"type" | b"worker" => {
                    let (end, escaped) = string(b, i)?;
                    let slot = if key == b"type" {
                        &mut type_name
                    } else {
                        &mut worker
                    };
                    if escaped || slot.is_some() {
                        return None;
                    }
                    *slot = Some(slice(b, i + 1, end - 1));
                    i = end;
                }
                b"seq" => {
                    let end = number(b, i)?;
                    if seq.is_some() {
                        return None;
                    }
                    seq = Some(seq_value(&b[i..end])?);
                    i = end;
                }
                b"ts" => {
                    let end = number(b, i)?;
                    if ts.is_some() {
                        return None;
                    }
                    ts = Some(slice(b, i, end));
                    i = end;
                }
                // Most values skipped are strings (an output's text).
                _ if b.get(i) == Some(&b'"') => i = string(b, i)?.0,
                _ => i = skip_value(b, i)?,
            }
        }
        at_key = true;
        i = ws(b, i);
        match b.get(i) {
            Some(b',') => i = ws(b, i + 1),
            Some(b'}') => {
                i += 1;
                break;
            }
            _ => return None,
        }
    }
    let head = FastHead {
        type_name: type_name?,
        worker: worker?,
        seq: seq?,
        ts: ts?,
    };
    Some((head, i))
}

/// The head as sc writes it, `{"type":"…","worker":"…","seq":N,"ts":T`
/// with no space, escape or multi-byte character in it, read by comparing
/// the keys whole: the head and the index past `ts`'s number (or past an
/// output's text, when `"stream"` and `"text"` follow as sc writes them).
/// None when the line starts any other way (the general path reads it
/// then).
#[inline]
fn sc_head(b: &[u8]) -> Option<ScHead<'_>> {
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
struct ScHead<'a> {
    head: FastHead<'a>,
    after: usize,
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

/// Past JSON whitespace, but never past a newline: a line read alone has
/// none (it was cut there), and in a run of lines it is the line's end.
#[inline]
fn ws(b: &[u8], mut i: usize) -> usize {
    while let Some(b' ' | b'\t' | b'\r') = b.get(i) {
        i += 1;
    }
    i
}

/// A string starting at `b[i] == '"'`: the index past its closing quote,
/// and whether it held an escape. Its bytes are checked to be UTF-8 on the
/// way (a run of multi-byte characters at a time), so a line the scan
/// accepts needs no check of its own.
#[inline(always)]
fn string(b: &[u8], i: usize) -> Option<(usize, bool)> {
    if b.get(i) != Some(&b'"') {
        return None;
    }
    let mut j = i + 1;
    let mut escaped = false;
    loop {
        j = next_special::<true>(b, j);
        match *b.get(j)? {
            b'"' => return Some((j + 1, escaped)),
            b'\\' => {
                escaped = true;
                j = escape(b, j)?;
            }
            c if c >= 0x80 => {
                // A run of multi-byte characters ends at an ASCII byte,
                // which is never inside one.
                let end = next_ascii(b, j);
                std::str::from_utf8(&b[j..end]).ok()?;
                j = end;
            }
            _ => return None, // a control character
        }
    }
}

/// An escape at `b[j] == '\'`: the index past it.
fn escape(b: &[u8], j: usize) -> Option<usize> {
    match *b.get(j + 1)? {
        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => Some(j + 2),
        b'u' => {
            let hex = b.get(j + 2..j + 6)?;
            if !hex.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            let unit = hex.iter().fold(0u32, |unit, &c| {
                (unit << 4) | (c as char).to_digit(16).unwrap_or(0)
            });
            // Surrogates must pair up: serde knows the rules.
            if (0xD800..=0xDFFF).contains(&unit) {
                return None;
            }
            Some(j + 6)
        }
        _ => None,
    }
}

/// A number starting at `i`, by JSON's grammar: the index past it.
#[inline]
fn number(b: &[u8], mut i: usize) -> Option<usize> {
    if b.get(i) == Some(&b'-') {
        i += 1;
    }
    match *b.get(i)? {
        b'0' => i += 1,
        b'1'..=b'9' => i = digits(b, i),
        _ => return None,
    }
    if b.get(i) == Some(&b'.') {
        let end = digits(b, i + 1);
        if end == i + 1 {
            return None;
        }
        i = end;
    }
    if let Some(b'e' | b'E') = b.get(i) {
        i += 1;
        if let Some(b'+' | b'-') = b.get(i) {
            i += 1;
        }
        let end = digits(b, i);
        if end == i {
            return None;
        }
        i = end;
    }
    Some(i)
}

/// Past the ASCII digits from `i`, eight at a step.
#[inline]
fn digits(b: &[u8], mut i: usize) -> usize {
    const NIBBLES: u64 = 0xF0F0_F0F0_F0F0_F0F0;
    const THREES: u64 = ONES * 0x30;
    while let Some(eight) = b.get(i..i + 8) {
        let v = u64::from_le_bytes(eight.try_into().expect("8 bytes"));
        // A digit is 0x30..=0x39: its high nibble is 3, and stays 3 when 6
        // is added. A carry out of a byte that is not a digit can only
        // spoil the bytes after it: the lowest non-digit is found exactly.
        let not_digit = ((v & NIBBLES) ^ THREES) | ((v.wrapping_add(ONES * 6) & NIBBLES) ^ THREES);
        if not_digit != 0 {
            return i + (not_digit.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while b.get(i).is_some_and(u8::is_ascii_digit) {
        i += 1;
    }
    i
}

/// An object key and its colon, from `i`: the index past the colon.
fn key_colon(b: &[u8], i: usize) -> Option<usize> {
    let (end, _) = string(b, i)?;
    let i = ws(b, end);
    (b.get(i) == Some(&b':')).then(|| ws(b, i + 1))
}

/// Skip any JSON value starting at `i`: the index past it. Iterative,
/// with the open containers as bits (1 = object), 64 deep at most.
fn skip_value(b: &[u8], mut i: usize) -> Option<usize> {
    let mut open: u64 = 0;
    let mut depth = 0u32;
    loop {
        // At the start of a value.
        i = ws(b, i);
        match *b.get(i)? {
            c @ (b'{' | b'[') => {
                let close = if c == b'{' { b'}' } else { b']' };
                i = ws(b, i + 1);
                if b.get(i) == Some(&close) {
                    i += 1;
                } else {
                    if depth == 64 {
                        return None;
                    }
                    open = (open << 1) | u64::from(c == b'{');
                    depth += 1;
                    if c == b'{' {
                        i = key_colon(b, i)?;
                    }
                    continue;
                }
            }
            b'"' => i = string(b, i)?.0,
            b't' => i = literal(b, i, b"true")?,
            b'f' => i = literal(b, i, b"false")?,
            b'n' => i = literal(b, i, b"null")?,
            b'-' | b'0'..=b'9' => i = number(b, i)?,
            _ => return None,
        }
        // After a value: the next one, or the end of containers.
        loop {
            if depth == 0 {
                return Some(i);
            }
            i = ws(b, i);
            let in_object = open & 1 == 1;
            match *b.get(i)? {
                b',' => {
                    i += 1;
                    if in_object {
                        i = key_colon(b, ws(b, i))?;
                    }
                    break;
                }
                b'}' if in_object => {}
                b']' if !in_object => {}
                _ => return None,
            }
            i += 1;
            open >>= 1;
            depth -= 1;
        }
    }
}

fn literal(b: &[u8], i: usize, word: &[u8]) -> Option<usize> {
    (b.get(i..i + word.len())? == word).then_some(i + word.len())
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

    /// Output lines as sc writes them are read whole; anything more or
    /// else after the text, or another type, is not.
    #[test]
    fn output_lines_as_sc_writes_them_are_read_whole() {
        use crate::{OutputEncoder, Progress, Stream, TsText, read_output_line};
        for (data, stream) in [
            (&b"x\n"[..], Stream::Stdout),
            (b"\"quoted\" \xc3\xa9\r", Stream::Stderr),
            (b"", Stream::Pty),
        ] {
            let mut line = Vec::new();
            OutputEncoder::new("w1", stream).encode(&mut line, 7, &TsText::new(1.25), data, None);
            let read = read_output_line(&line).expect("read whole");
            assert_eq!((read.worker, read.seq, read.ts), ("w1", 7, "1.25"));
            assert_eq!(read.stream, stream.as_str());
            let text: String = serde_json::from_str(read.text_json).unwrap();
            assert_eq!(text.as_bytes(), data);
        }
        let mut with_progress = Vec::new();
        let progress = Progress {
            percent: Some(1.0),
            message: "1%".into(),
        };
        OutputEncoder::new("w", Stream::Stdout).encode(
            &mut with_progress,
            1,
            &TsText::new(1.0),
            b"1%",
            Some(&progress),
        );
        let mut not_utf8 = Vec::new();
        OutputEncoder::new("w", Stream::Stdout).encode(
            &mut not_utf8,
            1,
            &TsText::new(1.0),
            b"\xff",
            None,
        );
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

    #[test]
    fn digits_end_where_a_byte_at_a_time_would() {
        for len in 0..30 {
            for stop in 0..=len {
                for byte in [b'/', b':', b'.', b'e', 0xb0, 0xff, 0x30 + 0x80] {
                    let mut b: Vec<u8> = (0..len).map(|i| b'0' + (i % 10) as u8).collect();
                    if stop < len {
                        b[stop] = byte;
                    }
                    for from in 0..=len {
                        let naive = (from..len).find(|&j| !b[j].is_ascii_digit()).unwrap_or(len);
                        assert_eq!(digits(&b, from), naive, "{b:?} from {from}");
                    }
                }
            }
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
