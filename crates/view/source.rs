//! Reading the stream: stdin or files, in a thread of their own, so that the
//! view can redraw while no data comes; `--follow` waits for a growing file
//! with inotify instead of polling it.

use std::fs::File;
use std::io::{self, Read};
use std::path::PathBuf;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread;

use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};

/// What the reader thread sends.
pub enum Chunk {
    Data(Vec<u8>),
    /// An input that could not be read; the others go on.
    Error(String),
    /// Following: one file has been read to its end once (the view may
    /// stop when every file has, and every worker seen has ended).
    CaughtUp,
    /// Everything is read (never sent when following).
    End,
    /// sc-view got this signal (SIGINT, SIGTERM, SIGHUP).
    Signal(i32),
}

/// Start reading `files` (stdin when empty): in order, or with `follow`,
/// all at once, each in a thread of its own (every file named is followed,
/// none waits for another to end).
pub fn spawn(files: Vec<PathBuf>, follow: bool) -> Receiver<Chunk> {
    // A few chunks in flight: the reader stays ahead without holding the
    // whole stream in memory when the view is slower.
    let (tx, rx) = sync_channel(16);
    signals(tx.clone());
    if follow && files.len() > 1 {
        for path in files {
            let tx = tx.clone();
            thread::spawn(move || {
                // Lines of different files must not interleave mid-line.
                let mut lines = WholeLines::new(&tx);
                if let Err(e) = follow_file(&path, &tx, &mut |chunk| lines.send(chunk)) {
                    let _ = tx.send(Chunk::Error(format!("{}: {e}", path.display())));
                    let _ = tx.send(Chunk::CaughtUp);
                }
            });
        }
        return rx;
    }
    thread::spawn(move || {
        if files.is_empty() {
            let _ = pump(&mut io::stdin().lock(), &mut |chunk| send(&tx, chunk));
        } else {
            for path in files {
                let result = if follow {
                    follow_file(&path, &tx, &mut |chunk| send(&tx, chunk))
                } else {
                    read_file(&path, &tx)
                };
                if let Err(e) = result {
                    let _ = tx.send(Chunk::Error(format!("{}: {e}", path.display())));
                }
            }
        }
        let _ = tx.send(Chunk::End);
    });
    rx
}

/// The last of those signals, noted the moment it came: the stream may end
/// (the producer got it too) before its chunk is read.
static SIGNALLED: AtomicI32 = AtomicI32::new(0);

/// The signal that came, if one did.
pub fn signalled() -> Option<i32> {
    Some(SIGNALLED.load(Ordering::Relaxed)).filter(|&s| s != 0)
}

/// SIGINT, SIGTERM and SIGHUP, as chunks among the input's: the view
/// writes its reports and summary, then ends as the signal would have
/// ended it (its handler replaces the default, which would lose them).
fn signals(tx: SyncSender<Chunk>) {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    for signal in [SIGINT, SIGTERM, SIGHUP] {
        // SAFETY: the action only stores to an atomic: async-signal-safe.
        let _ = unsafe {
            signal_hook::low_level::register(signal, move || {
                SIGNALLED.store(signal, Ordering::Relaxed)
            })
        };
    }
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) else {
        return;
    };
    thread::spawn(move || {
        for signal in signals.forever() {
            if tx.send(Chunk::Signal(signal)).is_err() {
                return;
            }
        }
    });
}

fn send(tx: &SyncSender<Chunk>, chunk: Vec<u8>) -> io::Result<()> {
    tx.send(Chunk::Data(chunk))
        .map_err(|_| io::ErrorKind::BrokenPipe.into())
}

/// Passes on whole lines only, keeping a partial last line until its end
/// comes (files followed at once share one channel).
struct WholeLines<'a> {
    tx: &'a SyncSender<Chunk>,
    partial: Vec<u8>,
}

impl<'a> WholeLines<'a> {
    fn new(tx: &'a SyncSender<Chunk>) -> WholeLines<'a> {
        WholeLines {
            tx,
            partial: Vec::new(),
        }
    }

    fn send(&mut self, chunk: Vec<u8>) -> io::Result<()> {
        let Some(last) = chunk.iter().rposition(|&b| b == b'\n') else {
            self.partial.extend_from_slice(&chunk);
            return Ok(());
        };
        let mut whole = std::mem::take(&mut self.partial);
        whole.extend_from_slice(&chunk[..=last]);
        self.partial.extend_from_slice(&chunk[last + 1..]);
        send(self.tx, whole)
    }
}

fn read_file(path: &PathBuf, tx: &SyncSender<Chunk>) -> io::Result<()> {
    let mut last = None;
    pump(&mut File::open(path)?, &mut |chunk| {
        last = chunk.last().copied();
        send(tx, chunk)
    })?;
    // A file that ends without a newline must not glue its last line to
    // the next file's first.
    if last.is_some_and(|b| b != b'\n') {
        send(tx, b"\n".to_vec())?;
    }
    Ok(())
}

/// Hand everything `reader` has to `sink` until its end; Err(BrokenPipe)
/// when the view is gone.
fn pump(
    reader: &mut impl Read,
    sink: &mut impl FnMut(Vec<u8>) -> io::Result<()>,
) -> io::Result<()> {
    loop {
        let mut buf = vec![0; 256 * 1024];
        match reader.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => {
                buf.truncate(n);
                sink(buf)?;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Read to the end, then wait for the file to grow, for ever: the view
/// stops when every worker in the stream has exited.
fn follow_file(
    path: &PathBuf,
    tx: &SyncSender<Chunk>,
    sink: &mut impl FnMut(Vec<u8>) -> io::Result<()>,
) -> io::Result<()> {
    // Watch before the first read, so no write can slip between them.
    let inotify = Inotify::init(InitFlags::IN_CLOEXEC)?;
    inotify.add_watch(
        path,
        AddWatchFlags::IN_MODIFY | AddWatchFlags::IN_CLOSE_WRITE | AddWatchFlags::IN_ATTRIB,
    )?;
    let mut file = File::open(path)?;
    pump(&mut file, sink)?;
    tx.send(Chunk::CaughtUp)
        .map_err(|_| io::Error::from(io::ErrorKind::BrokenPipe))?;
    loop {
        inotify.read_events()?;
        pump(&mut file, sink)?;
    }
}

/// `--attach RUN` taken: the run's kept stream becomes the file followed;
/// the run's socket (gone when the run is over). Err: said why not.
pub(crate) fn attach_to(cli: &mut crate::cli::Cli) -> Result<Option<std::path::PathBuf>, ()> {
    let Some(run) = cli.attach.take() else {
        return Ok(None);
    };
    match attach(&run) {
        Ok((socket, log)) => {
            cli.files = vec![log];
            cli.follow = true;
            Ok(Some(socket))
        }
        Err(message) => {
            eprintln!("sc-view: --attach: {message}");
            Err(())
        }
    }
}

/// `--attach RUN`: the run's socket, and the file its stream goes to.
pub(crate) fn attach(run: &str) -> Result<(std::path::PathBuf, std::path::PathBuf), String> {
    use sc_capture::control::{Request, find_ended, find_run, request};
    let socket = match find_run(Some(run)) {
        Ok(socket) => socket,
        // A detached run that ended: its kept stream, read to its end
        // (no socket: the run is over).
        Err(why) => match (!run.is_empty()).then(|| find_ended(run)).flatten() {
            Some(kept) => return Ok((kept.with_extension("gone"), kept)),
            None => return Err(why),
        },
    };
    let reply = request(&socket, &Request::Log)
        .map_err(|e| format!("cannot reach {}: {e} (the run ended?)", socket.display()))?;
    match reply.log {
        Some(log) => Ok((socket, log.into())),
        None => Err(reply.error.unwrap_or_else(|| "the run keeps no log".into())),
    }
}
