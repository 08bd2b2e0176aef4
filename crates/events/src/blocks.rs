//! Appending the small pieces of an event's line as blocks of fixed size.
//!
//! Around its text, an output event is four short pieces (its head, seq,
//! ts and stream) whose lengths are not known when the code is compiled,
//! and copying each was a call to memmove: a quarter of the time spent
//! encoding a line of 80 bytes (`perf record` of a loop of
//! `OutputEncoder::encode_checked`), and `itoa`'s call another eighth.
//! Here each piece lies at the start of a block of fixed size which is
//! copied whole, a few vector moves inline; only the piece's own length is
//! added to the vector, and what the block wrote past it is overwritten by
//! the next piece, or lies past the vector's end.

/// A piece of at most `N` bytes, at the start of `N`.
#[derive(Debug, Clone)]
pub(crate) struct Block<const N: usize> {
    bytes: [u8; N],
    len: usize,
}

impl<const N: usize> Block<N> {
    /// `piece` as a block; None when it is longer than `N`.
    pub(crate) fn new(piece: &[u8]) -> Option<Block<N>> {
        let mut bytes = [0; N];
        bytes.get_mut(..piece.len())?.copy_from_slice(piece);
        Some(Block {
            bytes,
            len: piece.len(),
        })
    }

    #[cfg(test)]
    fn as_slice(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    /// Append the piece to `out`.
    #[inline(always)]
    pub(crate) fn append_to(&self, out: &mut Vec<u8>) {
        let at = out.len();
        if out.capacity() - at < N {
            out.reserve(N);
        }
        // SAFETY: there is room for N bytes past `at` (made sure of just
        // above); the copy writes N initialised bytes there, of which the
        // first `len` (at most N) become part of the vector.
        unsafe {
            std::ptr::copy_nonoverlapping(self.bytes.as_ptr(), out.as_mut_ptr().add(at), N);
            out.set_len(at + self.len);
        }
    }
}

/// A piece that is mostly short (a worker's event head, whose id may be
/// long): a block when it fits one, else its bytes.
#[derive(Debug, Clone)]
pub(crate) enum Piece<const N: usize> {
    Short(Block<N>),
    Long(Box<[u8]>),
}

impl<const N: usize> Piece<N> {
    pub(crate) fn new(piece: &[u8]) -> Piece<N> {
        Block::new(piece).map_or_else(|| Piece::Long(piece.into()), Piece::Short)
    }

    /// Append the piece to `out`.
    #[inline(always)]
    pub(crate) fn append_to(&self, out: &mut Vec<u8>) {
        match self {
            Piece::Short(block) => block.append_to(out),
            Piece::Long(bytes) => out.extend_from_slice(bytes),
        }
    }
}

/// `n` in decimal (at most 20 digits), two digits a step.
#[inline]
pub(crate) fn decimal(mut n: u64) -> Block<24> {
    const PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
        2021222324252627282930313233343536373839\
        4041424344454647484950515253545556575859\
        6061626364656667686970717273747576777879\
        8081828384858687888990919293949596979899";
    let len = n.checked_ilog10().unwrap_or(0) as usize + 1;
    let mut bytes = [0u8; 24];
    let mut end = len;
    while n >= 100 {
        let pair = (n % 100) as usize * 2;
        n /= 100;
        bytes[end - 2..end].copy_from_slice(&PAIRS[pair..pair + 2]);
        end -= 2;
    }
    if n >= 10 {
        let pair = n as usize * 2;
        bytes[end - 2..end].copy_from_slice(&PAIRS[pair..pair + 2]);
    } else {
        bytes[end - 1] = b'0' + n as u8;
    }
    Block { bytes, len }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_are_written_as_itoa_writes_them() {
        let mut n = 1u64;
        let mut samples = vec![0, 9, 10, 99, 100, 101, 999, 1000, u64::MAX, u64::MAX - 1];
        while let Some(next) = n.checked_mul(10) {
            samples.extend([n - 1, n, n + 1]);
            n = next;
        }
        samples.extend((0..5000).map(|i| i * 7919));
        for n in samples {
            assert_eq!(
                decimal(n).as_slice(),
                itoa::Buffer::new().format(n).as_bytes()
            );
        }
    }

    #[test]
    fn only_the_piece_is_added_and_blocks_follow_on() {
        let mut out = b"x".to_vec();
        let a = Block::<16>::new(b"abc").unwrap();
        let b = Block::<16>::new(b"").unwrap();
        let c = Block::<16>::new(b"0123456789abcdef").unwrap();
        for _ in 0..100 {
            a.append_to(&mut out);
            b.append_to(&mut out);
            c.append_to(&mut out);
        }
        let expected = format!("x{}", "abc0123456789abcdef".repeat(100));
        assert_eq!(out, expected.as_bytes());
        assert!(Block::<4>::new(b"12345").is_none());
    }
}
