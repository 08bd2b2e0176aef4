//! Cutting a byte stream into output events, per the lossless rule.
//!
//! An event ends right after a `\n`; after a `\r` that is not part of `\r\n`
//! (progress bars redraw with `\r`, and each redraw should show up live); when
//! a partial line has waited the flush interval (a `Continue? ` prompt must be
//! seen before the newline that never comes); or at the maximum event size.
//! Concatenating the emitted chunks always gives back exactly the input.
//!
//! Complete lines are handed out as slices of the read buffer without a copy;
//! only an unfinished line is kept, and never more than the maximum size.

use std::time::{Duration, Instant};

/// How long a `\r` that ends a read waits for a `\n` that would make it a
/// `\r\n`. A CRLF is written in one go, so its `\n` is split off only by a
/// full pipe and is readable at once; a progress redraw should not wait the
/// whole flush interval.
const CR_HOLD: Duration = Duration::from_millis(2);

/// The smallest maximum event size: room for any UTF-8 character, so that a
/// cut can always step back to a character boundary.
pub const MIN_EVENT_BYTES: usize = 16;

#[derive(Debug)]
pub struct Framer {
    pending: Vec<u8>,
    pending_since: Option<Instant>,
    max: usize,
    flush: Duration,
    /// A timer flush already held back an incomplete UTF-8 character once.
    held_tail: bool,
    /// When the unfinished line came to end in `\r`.
    cr_at: Option<Instant>,
}

impl Framer {
    pub fn new(max_event_bytes: usize, flush: Duration) -> Framer {
        let max = max_event_bytes.max(MIN_EVENT_BYTES);
        Framer {
            pending: Vec::new(),
            pending_since: None,
            max,
            flush,
            held_tail: false,
            cr_at: None,
        }
    }

    /// Feed bytes just read; `emit` is called for each finished chunk.
    pub fn push(&mut self, data: &[u8], now: Instant, emit: &mut impl FnMut(&[u8])) {
        let mut rest = data;
        if !rest.is_empty() {
            self.held_tail = false;
        }
        while !rest.is_empty() {
            if self.pending.is_empty() {
                match boundary(rest) {
                    Some(end) if end <= self.max => {
                        emit(&rest[..end]);
                        rest = &rest[end..];
                    }
                    found => {
                        if found.is_some() || rest.len() >= self.max {
                            let cut = nonzero_cut(rest, self.max);
                            emit(&rest[..cut]);
                            rest = &rest[cut..];
                        } else {
                            self.pending.extend_from_slice(rest);
                            self.pending_since = Some(now);
                            self.note_cr(now);
                            return;
                        }
                    }
                }
                continue;
            }
            if self.pending.last() == Some(&b'\r') {
                // The read ended on `\r`; now we know whether `\n` follows.
                if rest[0] == b'\n' {
                    self.pending.push(b'\n');
                    rest = &rest[1..];
                }
                self.emit_pending(emit);
                continue;
            }
            let room = self.max - self.pending.len();
            match boundary(rest) {
                Some(end) if end <= room => {
                    self.pending.extend_from_slice(&rest[..end]);
                    rest = &rest[end..];
                    self.emit_pending(emit);
                }
                found => {
                    if found.is_some() || rest.len() >= room {
                        self.pending.extend_from_slice(&rest[..room]);
                        rest = &rest[room..];
                        let cut = nonzero_cut(&self.pending, self.max);
                        emit(&self.pending[..cut]);
                        self.pending.drain(..cut);
                        self.cr_at = None;
                        if self.pending.is_empty() {
                            self.pending_since = None;
                        }
                    } else {
                        self.pending.extend_from_slice(rest);
                        self.note_cr(now);
                        return;
                    }
                }
            }
        }
    }

    fn note_cr(&mut self, now: Instant) {
        self.cr_at = (self.pending.last() == Some(&b'\r')).then_some(now);
    }

    /// When the unfinished line must be flushed, if there is one.
    pub fn deadline(&self) -> Option<Instant> {
        let flush = self.pending_since.map(|since| since + self.flush);
        match self.cr_at.map(|at| at + CR_HOLD.min(self.flush)) {
            Some(cr) => Some(flush.map_or(cr, |f| f.min(cr))),
            None => flush,
        }
    }

    /// Flush the unfinished line if it has waited the flush interval.
    pub fn on_timer(&mut self, now: Instant, emit: &mut impl FnMut(&[u8])) {
        match self.deadline() {
            Some(deadline) if deadline <= now => {}
            _ => return,
        }
        if self.cr_at.is_some() {
            // No `\n` came: the `\r` ends the event (a progress redraw).
            self.emit_pending(emit);
            return;
        }
        let cut = utf8_cut(&self.pending, self.pending.len());
        if cut > 0 {
            // Hold back a character cut in half by the worker's write: the
            // rest of it is most likely already on its way.
            emit(&self.pending[..cut]);
            self.pending.drain(..cut);
            self.pending_since = (!self.pending.is_empty()).then_some(now);
            self.held_tail = !self.pending.is_empty();
        } else if self.held_tail {
            // Waited twice for the rest of the character: it is not coming.
            self.emit_pending(emit);
        } else {
            self.held_tail = true;
            self.pending_since = Some(now);
        }
    }

    /// The stream ended: emit whatever is left.
    pub fn finish(&mut self, emit: &mut impl FnMut(&[u8])) {
        if !self.pending.is_empty() {
            self.emit_pending(emit);
        }
    }

    /// When the unfinished line's first byte came.
    pub fn pending_since(&self) -> Option<Instant> {
        self.pending_since
    }

    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    fn emit_pending(&mut self, emit: &mut impl FnMut(&[u8])) {
        emit(&self.pending);
        self.pending.clear();
        self.pending_since = None;
        self.held_tail = false;
        self.cr_at = None;
    }
}

/// The end of the first event in `buf`: just after a `\n`, or after a `\r`
/// not followed by `\n`. None when there is none yet, including a `\r` at the
/// very end, which may turn out to be half of a `\r\n`.
fn boundary(buf: &[u8]) -> Option<usize> {
    let i = sc_events::find::find2(b'\n', b'\r', buf)?;
    if buf[i] == b'\n' {
        return Some(i + 1);
    }
    match buf.get(i + 1) {
        Some(b'\n') => Some(i + 2),
        Some(_) => Some(i + 1),
        None => None,
    }
}

/// `cut`, moved back to the start of a UTF-8 character that `cut` would split.
/// Bytes that are not UTF-8 are cut where asked.
fn utf8_cut(buf: &[u8], cut: usize) -> usize {
    if cut == 0 || cut > buf.len() {
        return cut.min(buf.len());
    }
    for back in 1..=3.min(cut) {
        let i = cut - back;
        let byte = buf[i];
        if byte & 0xC0 == 0x80 {
            continue; // a continuation byte: keep looking for the lead
        }
        let len = match byte {
            0xC2..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF4 => 4,
            _ => return cut,
        };
        return if i + len > cut { i } else { cut };
    }
    cut
}

/// A size cut: at a character boundary, but never empty (a chunk of at least
/// MIN_EVENT_BYTES always has a boundary after its first character).
fn nonzero_cut(buf: &[u8], max: usize) -> usize {
    match utf8_cut(buf, max) {
        0 => max,
        cut => cut,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(max: usize, reads: &[&[u8]]) -> Vec<Vec<u8>> {
        let mut framer = Framer::new(max, Duration::from_millis(50));
        let mut out = Vec::new();
        let now = Instant::now();
        for read in reads {
            framer.push(read, now, &mut |c: &[u8]| out.push(c.to_vec()));
        }
        framer.finish(&mut |c: &[u8]| out.push(c.to_vec()));
        out
    }

    fn strs(chunks: &[Vec<u8>]) -> Vec<String> {
        chunks
            .iter()
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect()
    }

    #[test]
    fn lines_end_after_newline() {
        assert_eq!(strs(&run(64, &[b"a\nbb\nccc"])), ["a\n", "bb\n", "ccc"]);
    }

    #[test]
    fn carriage_returns_redraw_as_separate_events() {
        assert_eq!(
            strs(&run(64, &[b"10%\r20%\r30%\r\ndone\r\n"])),
            ["10%\r", "20%\r", "30%\r\n", "done\r\n"]
        );
    }

    #[test]
    fn crlf_split_across_reads_stays_one_event() {
        assert_eq!(
            strs(&run(64, &[b"abc\r", b"\ndef\r", b"x"])),
            ["abc\r\n", "def\r", "x"]
        );
    }

    #[test]
    fn line_split_across_reads_is_joined() {
        assert_eq!(
            strs(&run(64, &[b"hel", b"lo", b" world\nnext"])),
            ["hello world\n", "next"]
        );
    }

    #[test]
    fn long_lines_are_cut_at_the_maximum() {
        let line = vec![b'x'; 50];
        let chunks = run(16, &[&line, b"\n"]);
        assert_eq!(
            chunks.iter().map(Vec::len).collect::<Vec<_>>(),
            [16, 16, 16, 3]
        );
        assert_eq!(chunks.concat(), [line, b"\n".to_vec()].concat());
    }

    #[test]
    fn cuts_never_split_a_character() {
        // 15 ASCII bytes then a 3-byte character: the cut at 16 would split it.
        let mut data = vec![b'a'; 15];
        data.extend_from_slice("€€€€€€".as_bytes());
        data.push(b'\n');
        for reads in [vec![data.as_slice()], data.chunks(1).collect::<Vec<_>>()] {
            let chunks = run(16, &reads);
            for chunk in &chunks {
                assert!(std::str::from_utf8(chunk).is_ok(), "{chunk:?}");
                assert!(chunk.len() <= 16);
            }
            assert_eq!(chunks.concat(), data);
        }
    }

    #[test]
    fn partial_line_flushes_after_the_interval() {
        let mut framer = Framer::new(64, Duration::from_millis(50));
        let t0 = Instant::now();
        let mut out: Vec<Vec<u8>> = Vec::new();
        framer.push(b"Continue? ", t0, &mut |c: &[u8]| out.push(c.to_vec()));
        assert!(out.is_empty());
        assert_eq!(framer.deadline(), Some(t0 + Duration::from_millis(50)));
        framer.on_timer(t0 + Duration::from_millis(49), &mut |c: &[u8]| {
            out.push(c.to_vec())
        });
        assert!(out.is_empty());
        framer.on_timer(t0 + Duration::from_millis(50), &mut |c: &[u8]| {
            out.push(c.to_vec())
        });
        assert_eq!(strs(&out), ["Continue? "]);
        assert_eq!(framer.deadline(), None);
        framer.push(b"y\n", t0, &mut |c: &[u8]| out.push(c.to_vec()));
        assert_eq!(strs(&out), ["Continue? ", "y\n"]);
    }

    #[test]
    fn a_trailing_carriage_return_waits_only_briefly_for_its_newline() {
        let mut framer = Framer::new(64, Duration::from_millis(50));
        let t0 = Instant::now();
        let mut out: Vec<Vec<u8>> = Vec::new();
        framer.push(b"[1/5] step\r", t0, &mut |c: &[u8]| out.push(c.to_vec()));
        assert_eq!(framer.deadline(), Some(t0 + CR_HOLD));
        framer.on_timer(t0 + CR_HOLD, &mut |c: &[u8]| out.push(c.to_vec()));
        assert_eq!(strs(&out), ["[1/5] step\r"]);
        assert_eq!(framer.deadline(), None);
    }

    #[test]
    fn timer_flush_holds_back_half_a_character_once() {
        let mut framer = Framer::new(64, Duration::from_millis(10));
        let t0 = Instant::now();
        let mut out: Vec<Vec<u8>> = Vec::new();
        let euro = "€".as_bytes();
        framer.push(
            &[b"ok ".as_slice(), &euro[..2]].concat(),
            t0,
            &mut |c: &[u8]| out.push(c.to_vec()),
        );
        let t1 = t0 + Duration::from_millis(10);
        framer.on_timer(t1, &mut |c: &[u8]| out.push(c.to_vec()));
        assert_eq!(strs(&out), ["ok "]);
        framer.push(&euro[2..], t1, &mut |c: &[u8]| out.push(c.to_vec()));
        framer.finish(&mut |c: &[u8]| out.push(c.to_vec()));
        assert_eq!(strs(&out), ["ok ", "€"]);

        // The rest never comes: emitted (as is) after a second interval.
        let mut out: Vec<Vec<u8>> = Vec::new();
        framer.push(&euro[..1], t0, &mut |c: &[u8]| out.push(c.to_vec()));
        framer.on_timer(t1, &mut |c: &[u8]| out.push(c.to_vec()));
        assert!(out.is_empty());
        framer.on_timer(t1 + Duration::from_millis(10), &mut |c: &[u8]| {
            out.push(c.to_vec())
        });
        assert_eq!(out, [euro[..1].to_vec()]);
    }

    #[test]
    fn any_split_of_any_input_is_lossless_and_bounded() {
        let mut state: u32 = 7;
        let mut next = || {
            state = state.wrapping_mul(1664525).wrapping_add(1013904223);
            state >> 8
        };
        let alphabet: &[&[u8]] = &[
            b"a",
            b"\n",
            b"\r",
            b"\r\n",
            "é".as_bytes(),
            "😀".as_bytes(),
            b"\xff",
            b"\0",
        ];
        for _ in 0..500 {
            let data: Vec<u8> = (0..next() % 300)
                .flat_map(|_| alphabet[next() as usize % alphabet.len()].to_vec())
                .collect();
            let mut reads = Vec::new();
            let mut at = 0;
            while at < data.len() {
                let len = (1 + next() as usize % 40).min(data.len() - at);
                reads.push(&data[at..at + len]);
                at += len;
            }
            let max = MIN_EVENT_BYTES + next() as usize % 20;
            let chunks = run(max, &reads);
            assert_eq!(chunks.concat(), data);
            for chunk in &chunks {
                assert!(!chunk.is_empty() && chunk.len() <= max);
                // A newline only ever ends an event.
                let nl = chunk.iter().position(|&b| b == b'\n');
                assert!(nl.is_none() || nl == Some(chunk.len() - 1), "{chunk:?}");
            }
        }
    }
}
