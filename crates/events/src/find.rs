//! Finding one of two or three bytes in a short run of text, sixteen bytes
//! at a time.
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
