//! Regular files are read ahead, off the poller's thread (see
//! [`super::pool`]): a chunk at a time, split into lines with their heads.
//!
//! epoll cannot watch a regular file, and a read of one can block (a cold
//! disk, a network file system) where nothing may block: the poller's
//! thread. Reading the heads of its lines is also most of a merge's work,
//! so the thread that reads a file splits it into lines and reads their
//! heads too, and the poller's thread only routes what it is handed. Files
//! merged together are then read side by side, on as many cores as there
//! are.

use std::fs::File;
use std::io::{self, Read};
use std::ops::Range;

use sc_events::ReadError;

use crate::merge::heads::LineHead;
use crate::output::lines::{LineSplitter, Piece, Split};

/// How much one read takes.
const CHUNK_BYTES: usize = 256 * 1024;

/// What the thread read: its bytes, and their pieces in order.
#[derive(Debug, Default)]
pub struct Chunk {
    /// The bytes as read.
    pub data: Vec<u8>,
    /// Bytes of pieces that do not lie whole within `data`: a line begun by
    /// an earlier read, a partial line at the end, an over-long line.
    pub kept: Vec<u8>,
    pub parts: Vec<Part>,
}

/// A piece of a chunk; ranges are into `data`, or `kept` where it says so.
#[derive(Debug)]
pub enum Part {
    /// Whole lines in `data` from `start`, with their heads.
    Lines { start: usize, lines: Vec<ReadLine> },
    /// One whole line in `kept`.
    Kept {
        range: Range<usize>,
        head: Result<LineHead, ReadError>,
    },
    /// Part of an over-long line, in `kept`.
    Fragment { range: Range<usize>, first: bool },
    /// The file ended in the middle of a line: the rest, in `kept`.
    Unterminated(Range<usize>),
}

/// A whole line in a chunk's `data`, ending at `end`.
#[derive(Debug)]
pub struct ReadLine {
    pub end: usize,
    pub head: Result<LineHead, ReadError>,
}

/// What comes from the thread.
#[derive(Debug)]
pub enum Ahead {
    Chunk(Chunk),
    /// The file ended (after its last chunk).
    End,
    /// Reading failed; nothing more comes.
    Failed(io::Error),
}

/// A file read a chunk at a time, split into lines with their heads.
pub struct FileReader {
    file: File,
    splitter: LineSplitter,
    /// The end was read, and what the splitter held handed out.
    ended: bool,
}

impl FileReader {
    pub fn new(file: File, max_line: usize) -> FileReader {
        FileReader {
            file,
            splitter: LineSplitter::new(max_line),
            ended: false,
        }
    }

    /// Read the next chunk into `chunk` (a used one, or a new one); after
    /// the last one, [`Ahead::End`].
    pub fn read_chunk(&mut self, mut chunk: Chunk) -> Ahead {
        if self.ended {
            return Ahead::End;
        }
        chunk.kept.clear();
        chunk.parts.clear();
        chunk.data.resize(CHUNK_BYTES, 0);
        let n = match read(&mut self.file, &mut chunk.data) {
            Ok(n) => n,
            Err(e) => return Ahead::Failed(e),
        };
        chunk.data.truncate(n);
        if n == 0 {
            self.ended = true;
            self.splitter.finish(&mut |piece| keep(piece, &mut chunk));
            if chunk.parts.is_empty() {
                return Ahead::End;
            }
        } else {
            split(&mut self.splitter, &mut chunk);
        }
        Ahead::Chunk(chunk)
    }
}

fn read(file: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match file.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            result => return result,
        }
    }
}

/// Split what was read into the chunk's parts, reading each line's head.
fn split(splitter: &mut LineSplitter, chunk: &mut Chunk) {
    let Chunk { data, kept, parts } = chunk;
    splitter.push_runs(data, &mut |split| match split {
        Split::Piece(piece) => keep_piece(piece, kept, parts),
        Split::Lines(run) => {
            let mut lines = Vec::with_capacity(run.len() / 128);
            let mut start = run.start;
            while start < run.end {
                let rest = &data[start..run.end];
                // The fast path finds the line's end as it reads it; any
                // other line is cut at its newline and read in full.
                let (head, len) = match LineHead::read_first(rest) {
                    Some((head, len)) => (Ok(head), len),
                    None => {
                        let len = memchr::memchr(b'\n', rest).map_or(rest.len(), |at| at + 1);
                        (LineHead::read(&rest[..len]), len)
                    }
                };
                start += len;
                lines.push(ReadLine { end: start, head });
            }
            parts.push(Part::Lines {
                start: run.start,
                lines,
            });
        }
    });
}

fn keep(piece: Piece<'_>, chunk: &mut Chunk) {
    keep_piece(piece, &mut chunk.kept, &mut chunk.parts);
}

/// A piece that is not within the read buffer, copied into `kept`.
fn keep_piece(piece: Piece<'_>, kept: &mut Vec<u8>, parts: &mut Vec<Part>) {
    let bytes = match piece {
        Piece::Line(bytes) | Piece::Fragment { bytes, .. } | Piece::Unterminated(bytes) => bytes,
    };
    let range = kept.len()..kept.len() + bytes.len();
    kept.extend_from_slice(bytes);
    parts.push(match piece {
        Piece::Line(line) => Part::Kept {
            range,
            head: LineHead::read(line),
        },
        Piece::Fragment { first, .. } => Part::Fragment { range, first },
        Piece::Unterminated(_) => Part::Unterminated(range),
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lines read in one pass, their ends found by the scan, come out as
    /// cutting each at its newline and reading it alone: events of every
    /// kind, `\r\n`, trailing spaces, lines that are not events or not
    /// UTF-8, an object with more after it, and one cut in two.
    #[test]
    fn a_run_is_read_as_its_lines_one_by_one() {
        let lines: [&[u8]; 12] = [
            br#"{"type":"output","worker":"w1","seq":0,"ts":1.5,"stream":"stdout","text":"a\n"}"#,
            br#"{"type":"stall","worker":"w\u00e9","seq":1,"ts":2,"idle_ms":5}"#,
            br#"{"type":"output","worker":"w1","seq":1,"ts":1.5,"stream":"stdout","text":"b"}  "#,
            br#"{"type":"exit","worker":"w1","seq":2,"ts":3,"code":0}"#,
            b"plain text, not an event",
            br#"{"type":"exit","worker":"w1","seq":2,"ts":3} trailing"#,
            b"{\"type\":\"x\",\"worker\":\"\xff\",\"seq\":1,\"ts\":1}",
            br#"{"type":"output","worker":"w2","seq":0,"ts":1,"stream":"pty","text":"\r"}"#,
            b"",
            br#"{"type":"x","worker":"w","seq":1,"ts":1,"a":[1,{"b":null}]}"#,
            // An object cut in two by a newline is two lines, neither an event.
            br#"{"type":"x","worker":"w","seq":1,"ts":1"#,
            b"}",
        ];
        let mut data = Vec::new();
        let mut expected = Vec::new();
        for (i, line) in lines.iter().enumerate() {
            let start = data.len();
            data.extend_from_slice(line);
            data.extend_from_slice(if i % 3 == 1 { b"\r\n" } else { b"\n" });
            expected.push((data.len(), LineHead::read(&data[start..])));
        }
        let mut chunk = Chunk {
            data,
            ..Chunk::default()
        };
        split(&mut LineSplitter::new(1 << 20), &mut chunk);
        let [Part::Lines { start: 0, lines }] = chunk.parts.as_slice() else {
            panic!("one run of lines: {:?}", chunk.parts);
        };
        let read: Vec<_> = lines.iter().map(|l| (l.end, l.head.clone())).collect();
        assert_eq!(read, expected);
        assert!(read[0].1.is_ok() && read[4].1.is_err() && read[5].1.is_err());
    }
}
