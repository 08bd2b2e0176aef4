//! The stream's copy in a file (`--log FILE`, or the run's own, kept for
//! `sc-view --attach`), written by a thread of its own: a write to a
//! file may wait on the disk, and nothing that may wait runs on the
//! poller's thread. What the thread has yet to write counts against the
//! sink's high-water mark, so a slow disk holds the workers back (they
//! block on their own writes) rather than losing lines or growing
//! without bound; when it has caught up it wakes the poller.

use std::fs::File;
use std::io::{self, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use mio::Waker;

/// Past this many bytes not yet written, reading workers pauses.
pub const HIGH_WATER: usize = 4 * 1024 * 1024;

#[derive(Debug, Default)]
struct Shared {
    /// Bytes handed over and not yet written.
    queued: AtomicUsize,
    /// The first write that failed; nothing more is written after it.
    failure: Mutex<Option<io::Error>>,
}

/// A file written behind the stream by a thread of its own.
#[derive(Debug)]
pub struct Log {
    tx: Option<Sender<Vec<u8>>>,
    /// Buffers written, handed back to be filled again (no allocation,
    /// no copy, at full speed).
    spent: Receiver<Vec<u8>>,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Log {
    /// `file` written by a new thread, which wakes the poller through
    /// `waker` when it has caught up after holding it back, or fails.
    pub fn start(file: File, waker: Arc<Waker>) -> io::Result<Log> {
        Log::start_capped(file, waker, u64::MAX)
    }

    /// [`Log::start`], writing at most `cap` bytes (whole lines): the run's
    /// own copy is bounded on disk; past the cap it is no longer written.
    pub fn start_capped(mut file: File, waker: Arc<Waker>, cap: u64) -> io::Result<Log> {
        let (tx, rx) = channel::<Vec<u8>>();
        let (give_back, spent) = channel::<Vec<u8>>();
        let shared = Arc::new(Shared::default());
        let theirs = shared.clone();
        let thread = std::thread::Builder::new()
            .name("sc-log".into())
            .spawn(move || {
                let mut failed = false;
                let mut room = cap;
                for mut chunk in rx {
                    // Past the cap, up to the last whole line that fits.
                    let fits = if (chunk.len() as u64) <= room {
                        chunk.len()
                    } else {
                        let budget = room as usize;
                        room = 0;
                        chunk[..budget]
                            .iter()
                            .rposition(|b| *b == b'\n')
                            .map_or(0, |at| at + 1)
                    };
                    room = room.saturating_sub(fits as u64);
                    if !failed
                        && fits > 0
                        && let Err(e) = file.write_all(&chunk[..fits])
                    {
                        failed = true;
                        *theirs.failure.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                        let _ = waker.wake();
                    }
                    let len = chunk.len();
                    chunk.clear();
                    let _ = give_back.send(chunk);
                    let before = theirs.queued.fetch_sub(len, Ordering::AcqRel);
                    if before >= HIGH_WATER && before - len < HIGH_WATER {
                        let _ = waker.wake();
                    }
                }
            })?;
        Ok(Log {
            tx: Some(tx),
            spent,
            shared,
            thread: Some(thread),
        })
    }

    /// Hands `bytes` over to be written (copied).
    pub fn send(&self, bytes: &[u8]) {
        if !bytes.is_empty() {
            let mut chunk = self.empty();
            chunk.extend_from_slice(bytes);
            self.send_owned(chunk);
        }
    }

    /// Hands `chunk` over to be written, as it is.
    pub fn send_owned(&self, chunk: Vec<u8>) {
        let len = chunk.len();
        if len == 0 {
            return;
        }
        if let Some(tx) = &self.tx {
            self.shared.queued.fetch_add(len, Ordering::AcqRel);
            if tx.send(chunk).is_err() {
                self.shared.queued.fetch_sub(len, Ordering::AcqRel);
            }
        }
    }

    /// An empty buffer: one written already if there is one, else new.
    pub fn empty(&self) -> Vec<u8> {
        self.spent
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(64 * 1024))
    }

    /// Bytes handed over and not yet written.
    pub fn backlog(&self) -> usize {
        self.shared.queued.load(Ordering::Acquire)
    }

    /// The write that failed, once.
    pub fn take_failure(&self) -> Option<io::Error> {
        self.shared
            .failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }

    /// Everything handed over written (the run's end): waits for the
    /// thread. The failure, if a write failed.
    pub fn finish(&mut self) -> Option<io::Error> {
        self.tx = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        self.take_failure()
    }
}

impl Drop for Log {
    fn drop(&mut self) {
        self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_handed_over_is_written_in_order_and_finished() {
        let poll = mio::Poll::new().unwrap();
        let waker = Arc::new(Waker::new(poll.registry(), mio::Token(9)).unwrap());
        let path = std::env::temp_dir().join(format!("sc-log-test-{}", std::process::id()));
        let mut log = Log::start(File::create(&path).unwrap(), waker).unwrap();
        for i in 0..1000 {
            log.send(format!("{i}\n").as_bytes());
        }
        assert!(log.finish().is_none());
        assert_eq!(log.backlog(), 0);
        let text = std::fs::read_to_string(&path).unwrap();
        let expected: String = (0..1000).map(|i| format!("{i}\n")).collect();
        assert_eq!(text, expected);
        let _ = std::fs::remove_file(path);
    }

    #[test]
    fn a_capped_log_keeps_whole_lines_up_to_its_cap() {
        let poll = mio::Poll::new().unwrap();
        let waker = Arc::new(Waker::new(poll.registry(), mio::Token(9)).unwrap());
        let path = std::env::temp_dir().join(format!("sc-log-cap-{}", std::process::id()));
        let mut log = Log::start_capped(File::create(&path).unwrap(), waker, 10).unwrap();
        log.send(b"abc\n");
        log.send(b"defg\nhij\n");
        log.send(b"k\n");
        assert!(log.finish().is_none());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "abc\ndefg\n");
        let _ = std::fs::remove_file(path);
    }

    #[test]
    fn a_failed_write_is_kept_and_nothing_blocks() {
        let poll = mio::Poll::new().unwrap();
        let waker = Arc::new(Waker::new(poll.registry(), mio::Token(9)).unwrap());
        // /dev/full fails every write with ENOSPC.
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let mut log = Log::start(full, waker).unwrap();
        log.send(b"a line\n");
        log.send(b"another\n");
        let failure = log.finish().expect("the failure");
        assert_eq!(failure.raw_os_error(), Some(libc::ENOSPC));
        assert_eq!(log.backlog(), 0);
    }
}
