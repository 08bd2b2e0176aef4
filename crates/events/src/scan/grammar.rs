//! JSON's grammar, a value at a time, for the head scan: whitespace,
//! strings (their UTF-8 checked on the way), numbers, literals, and any
//! value skipped whole. Each piece takes the bytes and an index, and
//! answers the index past what it read, or None when the bytes are not
//! that (the scan then leaves the line to the reference path).

use crate::find::{ONES, next_ascii, next_special};

/// Past JSON whitespace, but never past a newline: a line read alone has
/// none (it was cut there), and in a run of lines it is the line's end.
#[inline]
pub(super) fn ws(b: &[u8], mut i: usize) -> usize {
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
pub(super) fn string(b: &[u8], i: usize) -> Option<(usize, bool)> {
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
pub(super) fn number(b: &[u8], mut i: usize) -> Option<usize> {
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
pub(super) fn skip_value(b: &[u8], mut i: usize) -> Option<usize> {
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
}
