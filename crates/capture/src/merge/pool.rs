//! The threads that read files ahead: at most [`THREADS`], each serving
//! the files given to it in turn, so that no file is ever read on the
//! poller's thread however many a run names.
//!
//! Memory is bounded per thread: at most [`CHUNKS`] chunks of a file not
//! yet taken, at most [`BUDGET`] of all its files together. A thread reads
//! its files in turn, as the poller takes them (strict turns, see
//! `Input::take_turn`), so the budget is spent on the files the poller
//! takes next; and the one file the poller waits on is read even past it,
//! so that no order of events can leave the merge waiting for good on a
//! budget spent elsewhere. A thread with nothing it may read waits in the
//! kernel for a chunk to come back, a file to be wanted or a new file, not
//! spinning.

use std::collections::VecDeque;
use std::io;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, TryRecvError, channel};

use mio::Waker;

use crate::merge::ahead::{Ahead, Chunk, FileReader};

/// Threads at most: enough to keep the cores busy and a slow disk from
/// holding up the others.
const THREADS: usize = 8;

/// Chunks of one file read and not yet taken, at most.
const CHUNKS: usize = 4;

/// Chunks of all of a thread's files read and not yet taken, at most
/// (beyond one for a file the poller waits on).
const BUDGET: usize = 8;

/// A run's read-ahead threads, started as files come.
pub struct ReadAheadThreads {
    waker: Arc<Waker>,
    threads: Vec<Sender<ToThread>>,
    /// Files given out so far: each one's id, and which thread is next.
    files: u64,
}

/// What the poller tells a thread.
enum ToThread {
    /// A file to read, with where its chunks go.
    File {
        id: u64,
        reader: FileReader,
        give: Sender<Ahead>,
    },
    /// A chunk of file `id` taken and given back to be read into again.
    Spent { id: u64, chunk: Chunk },
    /// The poller waits on file `id`: read it even past the budget.
    Wanted { id: u64 },
    /// File `id`'s input was closed: nothing more of it is taken.
    Closed { id: u64 },
}

impl ReadAheadThreads {
    /// The threads wake the poller through `waker`.
    pub fn new(waker: Arc<Waker>) -> ReadAheadThreads {
        ReadAheadThreads {
            waker,
            threads: Vec::new(),
            files: 0,
        }
    }

    /// Read `reader` ahead: on a thread of its own while there are fewer
    /// than [`THREADS`], then on the existing ones in turn.
    pub fn start(&mut self, reader: FileReader) -> io::Result<ReadAhead> {
        let id = self.files;
        self.files += 1;
        let at = (id % THREADS as u64) as usize;
        if at == self.threads.len() {
            let (tell, told) = channel();
            let waker = Arc::clone(&self.waker);
            std::thread::Builder::new()
                .name("sc-read-ahead".into())
                .spawn(move || serve(&told, &waker))?;
            self.threads.push(tell);
        }
        let (give, chunks) = channel();
        let thread = self.threads[at].clone();
        thread
            .send(ToThread::File { id, reader, give })
            .map_err(|_| io::Error::other("the thread reading files ahead stopped unexpectedly"))?;
        Ok(ReadAhead { id, chunks, thread })
    }
}

/// The poller's side of a file being read ahead.
pub struct ReadAhead {
    id: u64,
    chunks: Receiver<Ahead>,
    thread: Sender<ToThread>,
}

impl ReadAhead {
    /// What the thread has handed over, without waiting; None when nothing
    /// is there yet (the thread is then told the poller waits for it, and
    /// wakes the poller when it comes).
    pub fn try_take(&mut self) -> Option<Ahead> {
        match self.chunks.try_recv() {
            Ok(ahead) => Some(ahead),
            Err(TryRecvError::Empty) => {
                let _ = self.thread.send(ToThread::Wanted { id: self.id });
                None
            }
            // The thread is gone without saying why: it panicked.
            Err(TryRecvError::Disconnected) => Some(Ahead::Failed(io::Error::other(
                "the thread reading it stopped unexpectedly",
            ))),
        }
    }

    /// Give a chunk back to be read into again.
    pub fn recycle(&mut self, chunk: Chunk) {
        let _ = self.thread.send(ToThread::Spent { id: self.id, chunk });
    }
}

impl Drop for ReadAhead {
    fn drop(&mut self) {
        let _ = self.thread.send(ToThread::Closed { id: self.id });
    }
}

/// One file on a thread.
struct File {
    id: u64,
    /// None once its end (or failure) was handed over: the file is closed.
    reader: Option<FileReader>,
    give: Sender<Ahead>,
    /// Chunks handed over and not given back.
    out: usize,
    wanted: bool,
}

/// A thread's work: its files read in turn, within the budget, until the
/// poller's side is gone.
fn serve(told: &Receiver<ToThread>, waker: &Waker) {
    let mut files: VecDeque<File> = VecDeque::new();
    let mut spare: Vec<Chunk> = Vec::new();
    let mut held = 0;
    loop {
        while let Ok(message) = told.try_recv() {
            hear(message, &mut files, &mut spare, &mut held);
        }
        // The next file it may read, taking them in turn.
        let next = files
            .iter()
            .position(|f| f.reader.is_some() && (f.wanted || (f.out < CHUNKS && held < BUDGET)));
        let Some(at) = next else {
            // Nothing it may read: wait to be told something.
            match told.recv() {
                Ok(m) => hear(m, &mut files, &mut spare, &mut held),
                Err(_) => return, // the run is over
            }
            continue;
        };
        // To the back: the others' turn next.
        let mut file = files.remove(at).expect("a position in it");
        if let Some(reader) = file.reader.as_mut() {
            let ahead = reader.read_chunk(spare.pop().unwrap_or_default());
            if matches!(ahead, Ahead::Chunk(_)) {
                file.out += 1;
                held += 1;
            } else {
                // Closed before its end is said: an input waiting for a
                // descriptor may take this one then.
                file.reader = None;
            }
            file.wanted = false;
            if file.give.send(ahead).is_ok() {
                let _ = waker.wake();
            }
        }
        files.push_back(file);
    }
}

/// What the poller said, applied to the thread's files.
fn hear(message: ToThread, files: &mut VecDeque<File>, spare: &mut Vec<Chunk>, held: &mut usize) {
    let find = |files: &mut VecDeque<File>, id| files.iter().position(|f| f.id == id);
    match message {
        ToThread::File { id, reader, give } => files.push_back(File {
            id,
            reader: Some(reader),
            give,
            out: 0,
            wanted: false,
        }),
        ToThread::Spent { id, chunk } => {
            if let Some(at) = find(files, id) {
                files[at].out -= 1;
                *held -= 1;
            }
            if spare.len() < BUDGET {
                spare.push(chunk);
            }
        }
        ToThread::Wanted { id } => {
            if let Some(at) = find(files, id) {
                files[at].wanted = true;
            }
        }
        ToThread::Closed { id } => {
            if let Some(at) = find(files, id) {
                let file = files.remove(at).expect("found");
                *held -= file.out;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merge::ahead::Part;
    use std::time::Duration;

    /// A chunk's bytes, in order, as they were in the file.
    fn bytes_of(chunk: &Chunk) -> Vec<u8> {
        let mut out = Vec::new();
        for part in &chunk.parts {
            match part {
                Part::Lines { start, lines } => {
                    let end = lines.last().map_or(*start, |l| l.end);
                    out.extend_from_slice(&chunk.data[*start..end]);
                }
                Part::Kept { range, .. }
                | Part::Fragment { range, .. }
                | Part::Unterminated(range) => out.extend_from_slice(&chunk.kept[range.clone()]),
            }
        }
        out
    }

    #[test]
    fn more_files_than_threads_taken_in_strict_turns_arrive_whole() {
        let dir = std::env::temp_dir().join(format!("sc-pool-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut poll = mio::Poll::new().unwrap();
        let waker = Arc::new(Waker::new(poll.registry(), mio::Token(0)).unwrap());
        let mut threads = ReadAheadThreads::new(waker);
        // 80 files over 8 threads, each of a few chunks: more files on a
        // thread than its budget has chunks, and still every file comes.
        let files: Vec<Vec<u8>> = (0..80)
            .map(|f| {
                (0..25_000)
                    .flat_map(|l| format!("file {f} line {l}\n").into_bytes())
                    .collect()
            })
            .collect();
        let mut ahead: Vec<ReadAhead> = files
            .iter()
            .enumerate()
            .map(|(f, data)| {
                let path = dir.join(f.to_string());
                std::fs::write(&path, data).unwrap();
                let file = std::fs::File::open(&path).unwrap();
                threads.start(FileReader::new(file, 1 << 20)).unwrap()
            })
            .collect();
        let mut got = vec![Vec::new(); files.len()];
        let mut ended = vec![false; files.len()];
        let mut events = mio::Events::with_capacity(8);
        let mut turn = 0;
        while ended.iter().any(|e| !e) {
            if ended[turn] {
                turn = (turn + 1) % files.len();
                continue;
            }
            match ahead[turn].try_take() {
                None => {
                    // Bounded: a hang is a failure, not a stuck test.
                    poll.poll(&mut events, Some(Duration::from_secs(10)))
                        .unwrap();
                    assert!(!events.is_empty(), "file {turn} never came");
                }
                Some(Ahead::Chunk(chunk)) => {
                    got[turn].extend(bytes_of(&chunk));
                    ahead[turn].recycle(chunk);
                    turn = (turn + 1) % files.len();
                }
                Some(Ahead::End) => ended[turn] = true,
                Some(Ahead::Failed(e)) => panic!("file {turn}: {e}"),
            }
        }
        for (f, data) in files.iter().enumerate() {
            assert!(got[f] == *data, "file {f} not whole");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
