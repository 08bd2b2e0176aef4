//! JSON string literals, written sixteen bytes at a time.
//!
//! The `text` of an output event is most of what sc-spawn writes, and
//! serde_json escapes a string a byte at a time through a table: a third of
//! sc-spawn's CPU on a verbose build log (`perf record` on
//! `sc-spawn -- cat` of 1M lines). Here sixteen bytes are checked at once
//! (the reader's own search, SSE2 on x86_64, eight bytes a step elsewhere)
//! for the three
//! kinds of byte JSON escapes (`"`, `\` and controls below 0x20), and the
//! runs between them copied whole. The bytes written are
//! serde_json's own, escape for escape (a test holds them to it): what a
//! consumer reads does not depend on which wrote a line.

/// What a byte is written as, when JSON escapes it.
#[inline]
fn escape_of(byte: u8) -> Option<&'static [u8]> {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    static CONTROLS: [[u8; 6]; 32] = {
        let mut table = [[0u8; 6]; 32];
        let mut i = 0;
        while i < 32 {
            table[i] = [b'\\', b'u', b'0', b'0', HEX[i >> 4], HEX[i & 15]];
            i += 1;
        }
        table
    };
    Some(match byte {
        b'"' => b"\\\"",
        b'\\' => b"\\\\",
        b'\n' => b"\\n",
        b'\r' => b"\\r",
        b'\t' => b"\\t",
        0x08 => b"\\b",
        0x0c => b"\\f",
        0..=0x1f => &CONTROLS[byte as usize],
        _ => return None,
    })
}

/// Append `s` as a JSON string literal (quotes included) to `out`.
pub fn push_json_str(out: &mut Vec<u8>, s: &str) {
    out.reserve(s.len() + 2);
    out.push(b'"');
    escape_into::<false>(out, s.as_bytes());
    out.push(b'"');
}

/// Append `bytes` escaped as the inside of a JSON string (no quotes) to
/// `out` when they are UTF-8, which is checked on the way: the text they
/// are, or None with `out` as it was. One pass instead of a check and then
/// an escape.
pub(crate) fn push_escaped_utf8<'a>(out: &mut Vec<u8>, bytes: &'a [u8]) -> Option<&'a str> {
    if !escape_into::<true>(out, bytes) {
        return None;
    }
    debug_assert!(std::str::from_utf8(bytes).is_ok());
    // SAFETY: `escape_into::<true>` accepted them: every byte of 0x80 or
    // more lies in a run that from_utf8 accepted, bounded by ASCII bytes
    // or the ends; the rest is ASCII.
    Some(unsafe { std::str::from_utf8_unchecked(bytes) })
}

/// Append `bytes` escaped (no quotes) to `out`, the runs between escaped
/// bytes copied whole. With `CHECK`, the search also stops at the bytes of
/// multi-byte characters, and each run of them (which starts and ends on a
/// character's boundary, since ASCII bytes are never inside one) is checked
/// whole as UTF-8: false, with `out` as it was, when it is not.
#[inline(always)]
fn escape_into<const CHECK: bool>(out: &mut Vec<u8>, bytes: &[u8]) -> bool {
    let mark = out.len();
    out.reserve(bytes.len());
    // Bytes before `start` are written; the search goes on from `at`.
    let (mut start, mut at) = (0, 0);
    loop {
        // The reader's search (sixteen bytes a step): where the next
        // escaped byte (or, checking, multi-byte character) may be.
        at = crate::find::next_special::<CHECK>(bytes, at);
        let Some(&byte) = bytes.get(at) else {
            break;
        };
        if CHECK && byte >= 0x80 {
            let end = crate::find::next_ascii(bytes, at);
            if std::str::from_utf8(&bytes[at..end]).is_err() {
                out.truncate(mark);
                return false;
            }
            at = end;
            continue;
        }
        if let Some(escaped) = escape_of(byte) {
            out.extend_from_slice(&bytes[start..at]);
            out.extend_from_slice(escaped);
            start = at + 1;
        }
        at += 1;
    }
    out.extend_from_slice(&bytes[start..]);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serde(s: &str) -> Vec<u8> {
        serde_json::to_vec(s).unwrap()
    }

    fn ours(s: &str) -> Vec<u8> {
        let mut out = Vec::new();
        push_json_str(&mut out, s);
        out
    }

    #[test]
    fn every_byte_is_written_as_serde_json_writes_it() {
        for byte in 0u8..0x80 {
            for at in 0..20 {
                let s = format!("{}{}{}", "a".repeat(at), byte as char, "b".repeat(19 - at));
                assert_eq!(ours(&s), serde(&s), "{byte:#x} at {at}");
            }
        }
    }

    fn ours_checked(bytes: &[u8]) -> Option<Vec<u8>> {
        let mut out = b"before".to_vec();
        let text = push_escaped_utf8(&mut out, bytes);
        match text {
            Some(text) => {
                assert_eq!(text.as_bytes(), bytes);
                Some([b"\"", &out[6..], b"\""].concat())
            }
            None => {
                assert_eq!(out, b"before", "left as it was");
                None
            }
        }
    }

    /// The checked escape takes exactly what from_utf8 takes, and writes
    /// what serde_json writes, whatever mix of bytes and wherever.
    #[test]
    fn the_checked_escape_takes_what_from_utf8_takes() {
        let parts: [&[u8]; 14] = [
            b"a",
            b"\"",
            b"\\",
            b"\n",
            b"\x01",
            "é".as_bytes(),
            "日".as_bytes(),
            "😀".as_bytes(),
            b"\xff",
            b"\xc3",
            b"\xed\xa0\x80",
            b"\xc0\x80",
            b"\x80",
            b"\xf4\x90\x80\x80",
        ];
        let mut bytes = Vec::new();
        for i in 0..4000usize {
            bytes.extend_from_slice(parts[(i * 7 + i / 5) % parts.len()]);
            // Text that stays valid for a while, then one bad piece.
            let sample: Vec<u8> = if i % 3 == 0 {
                String::from_utf8_lossy(&bytes).into_owned().into_bytes()
            } else {
                bytes[bytes.len().saturating_sub(i % 40)..].to_vec()
            };
            match std::str::from_utf8(&sample) {
                Ok(text) => assert_eq!(ours_checked(&sample), Some(serde(text)), "{sample:?}"),
                Err(_) => assert_eq!(ours_checked(&sample), None, "{sample:?}"),
            }
        }
        for byte in 0u8..=255 {
            for at in 0..20 {
                let mut sample = vec![b'a'; 20];
                sample[at] = byte;
                match std::str::from_utf8(&sample) {
                    Ok(text) => assert_eq!(ours_checked(&sample), Some(serde(text))),
                    Err(_) => assert_eq!(ours_checked(&sample), None),
                }
            }
        }
    }

    #[test]
    fn mixed_text_is_written_as_serde_json_writes_it() {
        let samples = [
            "",
            "x",
            "line 0000001 xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n",
            "\"\\\"\\\n\r\t\u{8}\u{c}\u{0}\u{1f}\u{7f}",
            "héllo wörld ✓ 日本語 \u{1b}[31mred\u{1b}[0m\r\n",
            "progress 42%\r",
            "\u{80}\u{7ff}\u{800}\u{ffff}\u{10000}\u{10ffff}",
        ];
        for s in samples {
            assert_eq!(ours(s), serde(s), "{s:?}");
        }
        // Every mix of a few interesting characters, at every alignment.
        let parts = ["a", "\"", "\\", "\n", "\u{1}", "é", "日", " ", "\u{7f}"];
        let mut s = String::new();
        for i in 0..3000usize {
            s.push_str(parts[(i * 7 + i / 3) % parts.len()]);
            if i % 13 == 0 {
                assert_eq!(ours(&s), serde(&s), "{s:?}");
            }
        }
        assert_eq!(ours(&s), serde(&s));
    }
}
