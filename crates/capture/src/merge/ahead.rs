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
            let mut start = run.start;
            let lines = memchr::memchr_iter(b'\n', &data[run.clone()])
                .map(|newline| {
                    let end = run.start + newline + 1;
                    let line = &data[start..end];
                    start = end;
                    ReadLine {
                        end,
                        head: LineHead::read(line),
                    }
                })
                .collect();
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
