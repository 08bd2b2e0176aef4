//! Reading the stream: stdin or files, in a thread of their own, so that the
//! view can redraw while no data comes; `--follow` waits for a growing file
//! with inotify instead of polling it.

use std::fs::File;
use std::io::{self, Read};
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread;

use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};

/// What the reader thread sends.
pub enum Chunk {
    Data(Vec<u8>),
    /// An input that could not be read; the others go on.
    Error(String),
    /// Everything is read (never sent when following).
    End,
}

/// Start reading `files` (stdin when empty) in order.
pub fn spawn(files: Vec<PathBuf>, follow: bool) -> Receiver<Chunk> {
    // A few chunks in flight: the reader stays ahead without holding the
    // whole stream in memory when the view is slower.
    let (tx, rx) = sync_channel(16);
    thread::spawn(move || {
        if files.is_empty() {
            let _ = pump(&mut io::stdin().lock(), &tx);
        } else {
            for path in files {
                let result = if follow {
                    follow_file(&path, &tx)
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

fn read_file(path: &PathBuf, tx: &SyncSender<Chunk>) -> io::Result<()> {
    pump(&mut File::open(path)?, tx)
}

/// Send everything `reader` has until its end; Err(BrokenPipe) when the
/// view is gone.
fn pump(reader: &mut impl Read, tx: &SyncSender<Chunk>) -> io::Result<()> {
    loop {
        let mut buf = vec![0; 256 * 1024];
        match reader.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => {
                buf.truncate(n);
                tx.send(Chunk::Data(buf))
                    .map_err(|_| io::ErrorKind::BrokenPipe)?;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Read to the end, then wait for the file to grow, for ever: the view
/// stops when every worker in the stream has exited.
fn follow_file(path: &PathBuf, tx: &SyncSender<Chunk>) -> io::Result<()> {
    // Watch before the first read, so no write can slip between them.
    let inotify = Inotify::init(InitFlags::IN_CLOEXEC)?;
    inotify.add_watch(
        path,
        AddWatchFlags::IN_MODIFY | AddWatchFlags::IN_CLOSE_WRITE | AddWatchFlags::IN_ATTRIB,
    )?;
    let mut file = File::open(path)?;
    loop {
        pump(&mut file, tx)?;
        inotify.read_events()?;
    }
}
