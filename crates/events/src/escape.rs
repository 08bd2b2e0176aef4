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
    let bytes = s.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    // Bytes before `start` are written; the search goes on from `at`.
    let (mut start, mut at) = (0, 0);
    loop {
        // The reader's search (sixteen bytes a step): where the next
        // escaped byte may be.
        at = crate::find::next_special::<false>(bytes, at);
        let Some(&byte) = bytes.get(at) else {
            break;
        };
        if let Some(escaped) = escape_of(byte) {
            out.extend_from_slice(&bytes[start..at]);
            out.extend_from_slice(escaped);
            start = at + 1;
        }
        at += 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
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
