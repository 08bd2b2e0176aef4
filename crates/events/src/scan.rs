//! A fast path for reading an event's head: one pass over the line that
//! checks it is a single, well-formed JSON object and picks out `type`,
//! `worker`, `seq` and `ts`, without building anything.
//!
//! Routing tools (sc-merge, nesting) read every line's head and nothing
//! else; serde_json spent most of that time skipping the long `text`
//! string a byte at a time. Here strings are skipped eight bytes at a step
//! (a SWAR test for `"`, `\` and control characters), the rest of the
//! grammar is a small iterative state machine, and anything out of the
//! ordinary (a `\u` escape that is a surrogate, an escaped head field, a
//! duplicate head field, nesting past 64, a number serde would reject)
//! answers `None`: the caller then takes serde_json's path, which is the
//! reference, and which names the problem of a bad line. The fast path only
//! ever accepts what that path accepts (a property test holds it to it).

/// The head of a line that the fast path read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FastHead<'a> {
    pub type_name: &'a str,
    pub worker: &'a str,
    pub seq: u64,
    /// The `ts` number as written.
    pub ts: &'a str,
}

/// The head of `text` (one line, without its newline), when it is a
/// well-formed JSON object whose head fields are plain; None otherwise.
pub(crate) fn scan_head(text: &str) -> Option<FastHead<'_>> {
    let b = text.as_bytes();
    let mut i = ws(b, 0);
    if b.get(i) != Some(&b'{') {
        return None;
    }
    i += 1;
    let (mut type_name, mut worker, mut seq, mut ts) = (None, None, None, None);
    i = ws(b, i);
    if b.get(i) == Some(&b'}') {
        return None; // `{}`: no head at all
    }
    loop {
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
                *slot = Some(slice(text, i + 1, end - 1));
                i = end;
            }
            b"seq" => {
                let end = number(b, i)?;
                if seq.is_some() {
                    return None;
                }
                // Digits only (no sign, fraction or exponent), within u64.
                let mut value: u64 = 0;
                for &c in &b[i..end] {
                    if !c.is_ascii_digit() {
                        return None;
                    }
                    value = value.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
                }
                seq = Some(value);
                i = end;
            }
            b"ts" => {
                if ts.is_some() || !matches!(b.get(i), Some(b'-' | b'0'..=b'9')) {
                    return None;
                }
                let end = number(b, i)?;
                ts = Some(slice(text, i, end));
                i = end;
            }
            _ => i = skip_value(b, i)?,
        }
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
    if ws(b, i) != b.len() {
        return None;
    }
    Some(FastHead {
        type_name: type_name?,
        worker: worker?,
        seq: seq?,
        ts: ts?,
    })
}

/// `text[from..to]` where both ends are next to an ASCII byte of JSON's
/// syntax (a quote, a digit), so on character boundaries.
#[inline]
fn slice(text: &str, from: usize, to: usize) -> &str {
    debug_assert!(text.is_char_boundary(from) && text.is_char_boundary(to));
    // SAFETY: the scanner only cuts next to ASCII bytes of the syntax, which
    // are never inside a multi-byte character, and within the text.
    unsafe { text.get_unchecked(from..to) }
}

/// Past JSON whitespace.
#[inline]
fn ws(b: &[u8], mut i: usize) -> usize {
    while let Some(b' ' | b'\t' | b'\n' | b'\r') = b.get(i) {
        i += 1;
    }
    i
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// The high bit of each byte of `v` that is zero (exact for the lowest
/// one, which is all that is used).
fn zero_bytes(v: u64) -> u64 {
    v.wrapping_sub(ONES) & !v & HIGHS
}

/// Whether any of 8 bytes is `"`, `\` or a control character (< 0x20).
fn special(chunk: u64) -> u64 {
    let quote = zero_bytes(chunk ^ (ONES * u64::from(b'"')));
    let backslash = zero_bytes(chunk ^ (ONES * u64::from(b'\\')));
    let control = chunk.wrapping_sub(ONES * 0x20) & !chunk & HIGHS;
    quote | backslash | control
}

/// From `j`, the index of the next `"`, `\` or control character, many
/// bytes at a step (or a position from which to go on a byte at a time).
#[inline(always)]
pub(crate) fn next_special(b: &[u8], mut j: usize) -> usize {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{
            __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_max_epu8, _mm_movemask_epi8,
            _mm_or_si128, _mm_set1_epi8,
        };
        // SAFETY: SSE2 is part of every x86_64 processor; each load reads
        // 16 bytes that lie within `b` (checked by the loop's condition),
        // unaligned loads being what _mm_loadu_si128 is for.
        unsafe {
            let quote = _mm_set1_epi8(b'"' as i8);
            let backslash = _mm_set1_epi8(b'\\' as i8);
            let control = _mm_set1_epi8(0x1F);
            while j + 16 <= b.len() {
                let chunk = _mm_loadu_si128(b.as_ptr().add(j).cast::<__m128i>());
                let hits = _mm_or_si128(
                    _mm_or_si128(
                        _mm_cmpeq_epi8(chunk, quote),
                        _mm_cmpeq_epi8(chunk, backslash),
                    ),
                    // max(byte, 0x1F) == 0x1F exactly when byte <= 0x1F.
                    _mm_cmpeq_epi8(_mm_max_epu8(chunk, control), control),
                );
                let mask = _mm_movemask_epi8(hits);
                if mask != 0 {
                    return j + mask.trailing_zeros() as usize;
                }
                j += 16;
            }
        }
    }
    while j + 8 <= b.len() {
        let chunk = u64::from_le_bytes(b[j..j + 8].try_into().expect("8 bytes"));
        let hits = special(chunk);
        if hits != 0 {
            return j + (hits.trailing_zeros() / 8) as usize;
        }
        j += 8;
    }
    j
}

/// A string starting at `b[i] == '"'`: the index past its closing quote,
/// and whether it held an escape. The text is already valid UTF-8.
#[inline]
fn string(b: &[u8], i: usize) -> Option<(usize, bool)> {
    if b.get(i) != Some(&b'"') {
        return None;
    }
    let mut j = i + 1;
    let mut escaped = false;
    loop {
        j = next_special(b, j);
        match *b.get(j)? {
            b'"' => return Some((j + 1, escaped)),
            b'\\' => {
                escaped = true;
                match *b.get(j + 1)? {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => j += 2,
                    b'u' => {
                        let hex = b.get(j + 2..j + 6)?;
                        let text = std::str::from_utf8(hex).ok()?;
                        let unit = u16::from_str_radix(text, 16).ok()?;
                        if !hex.iter().all(u8::is_ascii_hexdigit) {
                            return None; // from_str_radix takes a sign
                        }
                        // Surrogates must pair up: serde knows the rules.
                        if (0xD800..=0xDFFF).contains(&unit) {
                            return None;
                        }
                        j += 6;
                    }
                    _ => return None,
                }
            }
            c if c < 0x20 => return None,
            _ => j += 1,
        }
    }
}

/// A number starting at `i`, by JSON's grammar: the index past it.
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

fn digits(b: &[u8], mut i: usize) -> usize {
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
            scan_head(line),
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
            assert_eq!(scan_head(line), None, "{line}");
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
                ] {
                    if let Some(fast) = scan_head(&text) {
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
                let fast = scan_head(text);
                prop_assert!(fast.is_some(), "{text}");
                let fast = fast.unwrap();
                prop_assert_eq!(fast.worker, worker.as_str());
                prop_assert_eq!(fast.seq, seq);
            }
        }
    }
}
