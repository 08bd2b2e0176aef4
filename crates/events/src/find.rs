//! Finding bytes in a short run of text, sixteen bytes at a time: one of
//! two or three, or the next one JSON must escape.
//!
//! sc-spawn looks for the end of each line (`\n`, `\r`) and for signs of
//! progress (`%`, `/`, `[`) in every line a worker writes: a few dozen
//! bytes a call, a million calls a second. memchr is built for long
//! haystacks; on a line of 80 bytes its dispatch and set-up were a tenth of
//! sc-spawn's CPU (`perf record` of `sc-spawn -- cat` on 1M lines). Here the
//! loop is inline SSE2, which every x86_64 has; a byte at a time elsewhere.

/// The first of `needles` (two or three bytes) in `hay`.
#[inline]
fn find_any<const N: usize>(hay: &[u8], needles: [u8; N]) -> Option<usize> {
    let mut at = 0;
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::*;
        // SAFETY: SSE2 is part of x86_64; each load reads the 16 bytes at
        // `at`, within `hay` (`at + 16 <= len`), unaligned loads allowed.
        unsafe {
            let wanted = needles.map(|n| _mm_set1_epi8(n as i8));
            while at + 16 <= hay.len() {
                let v = _mm_loadu_si128(hay.as_ptr().add(at).cast());
                let mut hits = _mm_cmpeq_epi8(v, wanted[0]);
                for w in &wanted[1..] {
                    hits = _mm_or_si128(hits, _mm_cmpeq_epi8(v, *w));
                }
                let mask = _mm_movemask_epi8(hits) as u32;
                if mask != 0 {
                    return Some(at + mask.trailing_zeros() as usize);
                }
                at += 16;
            }
        }
    }
    hay[at..]
        .iter()
        .position(|b| needles.contains(b))
        .map(|i| at + i)
}

pub(crate) const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// The high bit of each byte of `v` that is zero (exact for the lowest
/// one, which is all that is used).
fn zero_bytes(v: u64) -> u64 {
    v.wrapping_sub(ONES) & !v & HIGHS
}

/// The bytes of 8 that are `"`, `\` or a control character (< 0x20), and
/// when `HIGH` any byte of a multi-byte character (>= 0x80), as the high
/// bit of each (exact for the lowest one).
fn special<const HIGH: bool>(chunk: u64) -> u64 {
    let quote = zero_bytes(chunk ^ (ONES * u64::from(b'"')));
    let backslash = zero_bytes(chunk ^ (ONES * u64::from(b'\\')));
    let below = chunk.wrapping_sub(ONES * 0x20);
    // A byte below 0x20 borrows its high bit; one of 0x80 or more has it.
    let control = if HIGH { below | chunk } else { below & !chunk } & HIGHS;
    quote | backslash | control
}

/// From `j`, the index of the next `"`, `\` or control character (and
/// when `HIGH`, of the next byte of a multi-byte character): `b.len()` when
/// there is none. Sixteen bytes a step.
#[inline(always)]
pub(crate) fn next_special<const HIGH: bool>(b: &[u8], mut j: usize) -> usize {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{
            __m128i, _mm_cmpeq_epi8, _mm_cmplt_epi8, _mm_loadu_si128, _mm_max_epu8,
            _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8,
        };
        // The bytes of the 16 at `at` that are sought, as a bit mask.
        // SAFETY (of the callers): SSE2 is part of every x86_64 processor;
        // each load reads 16 bytes that lie within `b`, unaligned loads
        // being what _mm_loadu_si128 is for.
        let hits = |at: usize| unsafe {
            let chunk = _mm_loadu_si128(b.as_ptr().add(at).cast::<__m128i>());
            let quotes = _mm_or_si128(
                _mm_cmpeq_epi8(chunk, _mm_set1_epi8(b'"' as i8)),
                _mm_cmpeq_epi8(chunk, _mm_set1_epi8(b'\\' as i8)),
            );
            let control = if HIGH {
                // As signed bytes, those of 0x80 or more are negative: one
                // comparison finds them and the controls.
                _mm_cmplt_epi8(chunk, _mm_set1_epi8(0x20))
            } else {
                // max(byte, 0x1F) == 0x1F exactly when byte <= 0x1F.
                let top = _mm_set1_epi8(0x1F);
                _mm_cmpeq_epi8(_mm_max_epu8(chunk, top), top)
            };
            _mm_movemask_epi8(_mm_or_si128(quotes, control)) as u32
        };
        while j + 16 <= b.len() {
            let mask = hits(j);
            if mask != 0 {
                return j + mask.trailing_zeros() as usize;
            }
            j += 16;
        }
        // The last few bytes: the line's last sixteen, those before `j`
        // (already looked at) shifted out.
        if j < b.len() && b.len() >= 16 {
            let last = b.len() - 16;
            let mask = hits(last) >> (j - last);
            return j + mask.trailing_zeros().min((b.len() - j) as u32) as usize;
        }
    }
    while j + 8 <= b.len() {
        let chunk = u64::from_le_bytes(b[j..j + 8].try_into().expect("8 bytes"));
        let hits = special::<HIGH>(chunk);
        if hits != 0 {
            return j + (hits.trailing_zeros() / 8) as usize;
        }
        j += 8;
    }
    while let Some(&c) = b.get(j) {
        if c == b'"' || c == b'\\' || c < 0x20 || (HIGH && c >= 0x80) {
            break;
        }
        j += 1;
    }
    j
}

/// From `j`, the index of the next ASCII byte (or `b.len()`).
#[inline]
pub(crate) fn next_ascii(b: &[u8], mut j: usize) -> usize {
    while j + 8 <= b.len() {
        let chunk = u64::from_le_bytes(b[j..j + 8].try_into().expect("8 bytes"));
        let ascii = !chunk & HIGHS;
        if ascii != 0 {
            return j + (ascii.trailing_zeros() / 8) as usize;
        }
        j += 8;
    }
    while b.get(j).is_some_and(|&c| c >= 0x80) {
        j += 1;
    }
    j
}

/// The first `a` or `b` in `hay`.
pub fn find2(a: u8, b: u8, hay: &[u8]) -> Option<usize> {
    find_any(hay, [a, b])
}

/// The first `a`, `b` or `c` in `hay`.
pub fn find3(a: u8, b: u8, c: u8, hay: &[u8]) -> Option<usize> {
    find_any(hay, [a, b, c])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The search stops where a byte at a time would, at every length and
    /// place (the last sixteen bytes are looked at again, shifted).
    #[test]
    fn the_search_stops_where_a_byte_at_a_time_would() {
        let naive = |b: &[u8], from: usize, high: bool| {
            (from..b.len())
                .find(|&j| matches!(b[j], b'"' | b'\\' | 0..=0x1f) || (high && b[j] >= 0x80))
                .unwrap_or(b.len())
        };
        for len in 0..48 {
            for hit in 0..=len {
                for byte in [b'"', b'\\', 0, 0x1f, 0x80, 0xff, b'x'] {
                    let mut b = vec![b'a'; len];
                    if hit < len {
                        b[hit] = byte;
                    }
                    for from in 0..=len {
                        assert_eq!(next_special::<true>(&b, from), naive(&b, from, true));
                        assert_eq!(next_special::<false>(&b, from), naive(&b, from, false));
                    }
                }
            }
        }
    }

    #[test]
    fn finds_what_memchr_finds_at_every_place() {
        for len in 0..70 {
            for at in 0..=len {
                let mut hay = vec![b'x'; len];
                if at < len {
                    hay[at] = b'\r';
                }
                if at + 3 < len {
                    hay[at + 3] = b'\n';
                }
                assert_eq!(
                    find2(b'\n', b'\r', &hay),
                    memchr::memchr2(b'\n', b'\r', &hay)
                );
                assert_eq!(
                    find3(b'%', b'\n', b'[', &hay),
                    memchr::memchr3(b'%', b'\n', b'[', &hay)
                );
            }
        }
        let high: Vec<u8> = (0..=255u8).cycle().take(600).collect();
        assert_eq!(find2(0xff, 0x80, &high), memchr::memchr2(0xff, 0x80, &high));
        assert_eq!(
            find3(0, 1, 2, &high[3..]),
            memchr::memchr3(0, 1, 2, &high[3..])
        );
    }
}
