//! Regular files are read ahead, on a thread of their own per file.
//!
//! epoll cannot watch a regular file, and a read of one can block (a cold
//! disk, a network file system) where nothing may block: the poller's
//! thread. Reading the heads of its lines is also most of a merge's work,
//! so the thread that reads a file splits it into lines and reads their
//! heads too, and the poller's thread only routes what it is handed. Files
//! merged together are then read side by side, on as many cores as there
//! are.
//!
//! Memory is bounded: the thread hands over at most [`CHUNKS`] chunks not
//! yet taken, and waits (in the kernel, not spinning) until one is; the
//! buffers come back to it to be read into again.

use std::fs::File;
use std::io::{self, Read};
use std::ops::Range;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, sync_channel};

use mio::Waker;
use sc_events::ReadError;

use crate::merge::heads::LineHead;
use crate::output::lines::{LineSplitter, Piece, Split};

/// How much one read takes.
const CHUNK_BYTES: usize = 256 * 1024;

/// Chunks read and not yet taken, per file.
const CHUNKS: usize = 4;

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

/// Files read ahead at once, at most, each on a thread of its own: enough
/// to keep the cores busy and a slow disk from holding up the poller.
/// Memory stays bounded (a few chunks each) however many files a run
/// names: the files past these are read on the poller's thread, in their
/// turn, as before there were threads.
const THREADS: usize = 8;

/// What is left of a run's read-ahead threads.
pub struct ReadAheadThreads {
    waker: Arc<Waker>,
    left: usize,
}

impl ReadAheadThreads {
    /// The threads wake the poller through `waker`.
    pub fn new(waker: Arc<Waker>) -> ReadAheadThreads {
        ReadAheadThreads {
            waker,
            left: THREADS,
        }
    }

    /// One more file gets a thread, if any is left.
    pub fn take(&mut self) -> Option<Arc<Waker>> {
        self.left = self.left.checked_sub(1)?;
        Some(self.waker.clone())
    }
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

/// The poller's side of a file being read ahead.
pub struct ReadAhead {
    chunks: Receiver<Ahead>,
    /// Used chunks go back to be read into again.
    spent: SyncSender<Chunk>,
}

impl ReadAhead {
    /// Start reading on a thread of its own, which wakes the poller through
    /// `waker` whenever it hands something over.
    pub fn start(mut reader: FileReader, waker: Arc<Waker>) -> io::Result<ReadAhead> {
        let (give, chunks) = sync_channel(CHUNKS);
        let (spent, recycled) = sync_channel::<Chunk>(CHUNKS + 1);
        std::thread::Builder::new()
            .name("sc-read-ahead".into())
            .spawn(move || {
                loop {
                    let chunk = recycled.try_recv().unwrap_or_default();
                    let ahead = reader.read_chunk(chunk);
                    let last = !matches!(ahead, Ahead::Chunk(_));
                    if last {
                        // The file closed before its end is said: an input
                        // waiting for a descriptor may take this one then.
                        drop(reader);
                        let _ = give.send(ahead);
                        let _ = waker.wake();
                        return;
                    }
                    // Nobody takes it any more: the input was closed.
                    if give.send(ahead).is_err() {
                        return;
                    }
                    let _ = waker.wake();
                }
            })?;
        Ok(ReadAhead { chunks, spent })
    }

    /// What the thread has handed over, without waiting; None when nothing
    /// is waiting yet.
    pub fn try_take(&mut self) -> Option<Ahead> {
        match self.chunks.try_recv() {
            Ok(ahead) => Some(ahead),
            Err(TryRecvError::Empty) => None,
            // The thread is gone without saying why: it panicked.
            Err(TryRecvError::Disconnected) => Some(Ahead::Failed(io::Error::other(
                "the thread reading it stopped unexpectedly",
            ))),
        }
    }

    /// Give a chunk back to be read into again.
    pub fn recycle(&mut self, chunk: Chunk) {
        let _ = self.spent.try_send(chunk);
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
