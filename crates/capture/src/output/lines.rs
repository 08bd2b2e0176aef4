//! Splitting an input of event lines, with bounded memory.
//!
//! Complete lines are handed out as slices of the read buffer without a copy;
//! only an unfinished line is kept, and never more than the maximum line
//! length: a longer line is handed out in fragments as it arrives, so that
//! its bytes are kept and memory stays bounded whatever an input sends.

/// A piece of input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Piece<'a> {
    /// A whole line, with its `\n`.
    Line(&'a [u8]),
    /// Part of a line longer than the maximum; `first` on its first part.
    /// The last part ends with the line's `\n` (or the input ended).
    Fragment { bytes: &'a [u8], first: bool },
    /// The input ended in the middle of a line (no final `\n`).
    Unterminated(&'a [u8]),
}

/// What [`LineSplitter::push_runs`] hands out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Split<'a> {
    Piece(Piece<'a>),
    /// Whole lines, as a range of the bytes just fed.
    Lines(std::ops::Range<usize>),
}

#[derive(Debug)]
pub struct LineSplitter {
    buf: Vec<u8>,
    max: usize,
    /// Inside a line longer than `max`, until its newline.
    oversized: bool,
}

impl LineSplitter {
    pub fn new(max_line: usize) -> LineSplitter {
        LineSplitter {
            buf: Vec::new(),
            max: max_line.max(1),
            oversized: false,
        }
    }

    /// Feed bytes just read.
    pub fn push(&mut self, data: &[u8], emit: &mut impl FnMut(Piece<'_>)) {
        let mut rest = data;
        while !rest.is_empty() {
            let newline = memchr::memchr(b'\n', rest);
            if self.oversized {
                let end = newline.map_or(rest.len(), |i| i + 1);
                emit(Piece::Fragment {
                    bytes: &rest[..end],
                    first: false,
                });
                self.oversized = newline.is_none();
                rest = &rest[end..];
                continue;
            }
            match newline {
                Some(i) if self.buf.is_empty() && i < self.max => {
                    emit(Piece::Line(&rest[..=i]));
                    rest = &rest[i + 1..];
                }
                Some(i) if self.buf.len() + i < self.max => {
                    self.buf.extend_from_slice(&rest[..=i]);
                    emit(Piece::Line(&self.buf));
                    self.buf.clear();
                    rest = &rest[i + 1..];
                }
                None if self.buf.len() + rest.len() <= self.max => {
                    self.buf.extend_from_slice(rest);
                    return;
                }
                _ => {
                    // Too long: what is kept goes out first, then the rest
                    // of the line continues as fragments.
                    let first = if self.buf.is_empty() {
                        true
                    } else {
                        emit(Piece::Fragment {
                            bytes: &self.buf,
                            first: true,
                        });
                        self.buf.clear();
                        false
                    };
                    let end = newline.map_or(rest.len(), |i| i + 1);
                    emit(Piece::Fragment {
                        bytes: &rest[..end],
                        first,
                    });
                    self.oversized = newline.is_none();
                    rest = &rest[end..];
                }
            }
        }
    }

    /// Feed bytes just read, with the whole lines that lie within `data`
    /// handed out together, as one range of consecutive lines each ending
    /// in `\n` (a consumer can then take many lines at a time, or hand them
    /// to another thread). A line begun by an earlier read, a partial line
    /// and over-long lines come as pieces, as from [`Self::push`]; the order
    /// of everything is the order of the bytes.
    pub fn push_runs(&mut self, data: &[u8], emit: &mut impl FnMut(Split<'_>)) {
        let mut at = 0;
        if !self.buf.is_empty() || self.oversized {
            // Finish what an earlier read began, the piece-wise way.
            at = memchr::memchr(b'\n', data).map_or(data.len(), |i| i + 1);
            self.push(&data[..at], &mut |piece| emit(Split::Piece(piece)));
        }
        let whole = memchr::memrchr(b'\n', &data[at..]).map_or(0, |i| i + 1);
        // No longer than the maximum as a whole: nor is any line in it.
        if whole > 0 && whole <= self.max {
            emit(Split::Lines(at..at + whole));
            at += whole;
        }
        self.push(&data[at..], &mut |piece| emit(Split::Piece(piece)));
    }

    /// The input ended: hand out an unfinished line.
    pub fn finish(&mut self, emit: &mut impl FnMut(Piece<'_>)) {
        if !self.buf.is_empty() {
            emit(Piece::Unterminated(&self.buf));
            self.buf.clear();
        }
        self.oversized = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    enum Owned {
        Line(String),
        Fragment(String, bool),
        Unterminated(String),
    }

    fn split(max: usize, reads: &[&str]) -> Vec<Owned> {
        let mut splitter = LineSplitter::new(max);
        let mut out = Vec::new();
        let mut emit = |piece: Piece<'_>| {
            let s = |b: &[u8]| String::from_utf8(b.to_vec()).unwrap();
            out.push(match piece {
                Piece::Line(l) => Owned::Line(s(l)),
                Piece::Fragment { bytes, first } => Owned::Fragment(s(bytes), first),
                Piece::Unterminated(l) => Owned::Unterminated(s(l)),
            })
        };
        for read in reads {
            splitter.push(read.as_bytes(), &mut emit);
        }
        splitter.finish(&mut emit);
        out
    }

    #[test]
    fn lines_across_reads() {
        use Owned::*;
        assert_eq!(
            split(100, &["a\nb", "c\n", "d"]),
            [
                Line("a\n".into()),
                Line("bc\n".into()),
                Unterminated("d".into())
            ]
        );
    }

    #[test]
    fn long_lines_become_fragments_and_bounded() {
        use Owned::*;
        assert_eq!(
            split(4, &["abcdefg\nhi\n"]),
            [Fragment("abcdefg\n".into(), true), Line("hi\n".into())]
        );
        assert_eq!(
            split(4, &["ab", "cdef", "gh\nxy\n"]),
            [
                Fragment("ab".into(), true),
                Fragment("cdef".into(), false),
                Fragment("gh\n".into(), false),
                Line("xy\n".into())
            ]
        );
        // A line of exactly the maximum (newline included) is still a line.
        assert_eq!(split(4, &["abc\n"]), [Line("abc\n".into())]);
    }

    /// What `push_runs` hands out, with runs cut into their lines.
    fn split_runs(max: usize, reads: &[&str]) -> (Vec<Owned>, usize) {
        let mut splitter = LineSplitter::new(max);
        let mut out = Vec::new();
        let mut runs = 0;
        let s = |b: &[u8]| String::from_utf8(b.to_vec()).unwrap();
        let owned = |piece: Piece<'_>, out: &mut Vec<Owned>| {
            out.push(match piece {
                Piece::Line(l) => Owned::Line(s(l)),
                Piece::Fragment { bytes, first } => Owned::Fragment(s(bytes), first),
                Piece::Unterminated(l) => Owned::Unterminated(s(l)),
            })
        };
        for read in reads {
            splitter.push_runs(read.as_bytes(), &mut |split| match split {
                Split::Piece(piece) => owned(piece, &mut out),
                Split::Lines(range) => {
                    runs += 1;
                    for line in read.as_bytes()[range].split_inclusive(|b| *b == b'\n') {
                        owned(Piece::Line(line), &mut out);
                    }
                }
            });
        }
        splitter.finish(&mut |piece| owned(piece, &mut out));
        (out, runs)
    }

    #[test]
    fn runs_of_whole_lines_come_together() {
        use Owned::*;
        let (pieces, runs) = split_runs(100, &["a\nb", "c\nd\ne\nf", "\n"]);
        assert_eq!(
            pieces,
            [
                Line("a\n".into()),
                Line("bc\n".into()),
                Line("d\n".into()),
                Line("e\n".into()),
                Line("f\n".into())
            ]
        );
        assert_eq!(
            runs, 2,
            "a; then d and e (bc and f were begun by an earlier read)"
        );
    }

    #[test]
    fn runs_hand_out_what_push_does() {
        let data = "x\nlonger line here\n\n1234567\nend";
        for max in 1..12 {
            for cut in 0..data.len() {
                for second in cut..data.len() {
                    let reads = [&data[..cut], &data[cut..second], &data[second..]];
                    assert_eq!(
                        split_runs(max, &reads).0,
                        split(max, &reads),
                        "max {max} cuts {cut} {second}"
                    );
                }
            }
        }
    }

    #[test]
    fn every_byte_comes_out_once_in_order() {
        let data = "x\nlonger line here\n\n1234567\nend";
        for max in 1..12 {
            for cut in 0..data.len() {
                let pieces = split(max, &[&data[..cut], &data[cut..]]);
                let joined: String = pieces
                    .iter()
                    .map(|p| match p {
                        Owned::Line(s) | Owned::Fragment(s, _) | Owned::Unterminated(s) => {
                            s.as_str()
                        }
                    })
                    .collect();
                assert_eq!(joined, data, "max {max} cut {cut}");
            }
        }
    }
}
