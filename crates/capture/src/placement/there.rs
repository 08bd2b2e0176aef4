//! The remote side of a placement: the sc-spawn there, told by the local
//! side what to do. `--end-on-stdin-eof` ([`end_on_stdin_eof`]): the
//! connection's stdin carries `end SIGNAL` and forwarded answers. A worker
//! that outlives a dropped connection (`--reconnect`): `--spool DIR` runs
//! it detached there ([`spooled`]), its stream written to DIR, and
//! `--attach DIR --from-byte N` ([`attach`]) follows that stream from a
//! byte on, for each connection from the local side. These flags are the
//! local side's, hidden from people.
//!
//! DIR holds `stream.ndjson` (the stream), `pid` (the spooling sc-spawn's),
//! `stderr` (its own complaints) and `attached` (touched while someone
//! follows: the lease). A follower passes `end SIGNAL` lines on its standard
//! input to the spooling sc-spawn as that signal (ssh forwards none); end of
//! file is not a request, since a dropped connection looks just the same:
//! the follower leaves, and the worker runs on while the lease holds (the
//! local side may connect again), and ends when it runs out.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use super::run::{Request, read_requests};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use nix::sys::signal::{Signal, kill, raise};
use nix::unistd::Pid;
use sc_events::parse_head;

/// How often a follower renews the lease, and the spooler looks at it.
const LEASE_TICK: Duration = Duration::from_secs(1);

fn touch(path: &Path) {
    let _ = File::create(path);
}

/// The followed worker's exit was written to the local side.
static EXIT_WRITTEN: AtomicBool = AtomicBool::new(false);

/// Set when the lease ran out: nobody is coming back for the stream.
static LEASE_RAN_OUT: AtomicBool = AtomicBool::new(false);

/// A spooling run is over: its spool goes when nobody will read it (the
/// lease ran out); otherwise the follower removes it after the exit.
fn spool_done(dir: &Path) {
    if LEASE_RAN_OUT.load(Ordering::SeqCst) {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// `--spool DIR --lease SECS`: the spooling sc-spawn ends its worker (as
/// on SIGTERM) once nobody has followed it for the lease.
fn watch_lease(dir: PathBuf, lease: Duration) {
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(LEASE_TICK);
            let idle = std::fs::metadata(dir.join("attached"))
                .and_then(|m| m.modified())
                .ok()
                .and_then(|at| SystemTime::now().duration_since(at).ok());
            // A clock step backwards reads as "just renewed".
            if idle.is_some_and(|idle| idle > lease) || !dir.exists() {
                LEASE_RAN_OUT.store(true, Ordering::SeqCst);
                let _ = raise(Signal::SIGTERM);
                return;
            }
        }
    });
}

/// Spools of finished runs whose exit never reached their local side (the
/// connection was lost as it was sent) and that nobody came back for
/// within the lease: removed as spooled run `mine` starts, so that they do
/// not pile up. Only beside it, and only its owner's. On a thread of its
/// own: the directory it looks in is often a crowded /tmp, and the worker
/// does not wait for the housekeeping (the run joins it as it ends).
fn sweep(mine: &Path, lease: Duration) -> std::thread::JoinHandle<()> {
    let mine = mine.to_owned();
    std::thread::spawn(move || sweep_now(&mine, lease))
}

fn sweep_now(mine: &Path, lease: Duration) {
    use std::os::unix::fs::MetadataExt;
    let (Some(parent), Ok(me)) = (mine.parent(), std::fs::metadata(mine).map(|m| m.uid())) else {
        return;
    };
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        // The name first: nothing else there is so much as looked into.
        if !entry
            .file_name()
            .as_encoded_bytes()
            .starts_with(b"sc-spool-")
        {
            continue;
        }
        let dir = entry.path();
        if dir == mine || !entry.metadata().is_ok_and(|m| m.is_dir() && m.uid() == me) {
            continue;
        }
        let running = spooler(&dir).is_some_and(|pid| kill(pid, None).is_ok());
        let idle = std::fs::metadata(dir.join("attached"))
            .and_then(|m| m.modified())
            .ok()
            .and_then(|at| SystemTime::now().duration_since(at).ok());
        if !running && idle.is_some_and(|idle| idle > lease) {
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
}

fn spooler(dir: &Path) -> Option<Pid> {
    std::fs::read_to_string(dir.join("pid"))
        .ok()
        .and_then(|p| p.trim().parse::<i32>().ok())
        .map(Pid::from_raw)
}

/// `--attach DIR --from-byte N --id ID`: write the spooled stream from
/// byte N on, following it until ID's `exit`, then remove the spool once
/// the local side says it has that exit (`done`). The
/// exit status is 0 when the exit was written, 3 when there is nothing
/// (more) to follow.
pub fn attach(dir: &Path, id: &str, from_byte: u64) -> i32 {
    let path = dir.join("stream.ndjson");
    let Ok(mut file) = File::open(&path) else {
        eprintln!(
            "sc-spawn: no run to attach to in {} (it ended, or its lease ran out)",
            dir.display()
        );
        return 3;
    };
    touch(&dir.join("attached"));
    renew_lease(dir.to_owned());
    let done = serve_requests(dir.to_owned());
    // Watched before the first read: nothing written after it is missed.
    let inotify = match Inotify::init(InitFlags::IN_CLOEXEC | InitFlags::IN_NONBLOCK)
        .and_then(|i| i.add_watch(&path, AddWatchFlags::IN_MODIFY).map(|_| i))
    {
        Ok(inotify) => inotify,
        Err(e) => {
            eprintln!("sc-spawn: cannot watch {}: {e}", path.display());
            return 3;
        }
    };
    if let Err(e) = file.seek(SeekFrom::Start(from_byte)) {
        eprintln!("sc-spawn: cannot seek {}: {e}", path.display());
        return 3;
    }
    follow(&mut file, &inotify, dir, id, &done)
}

/// The lease renewed while this follower lives.
fn renew_lease(dir: PathBuf) {
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(LEASE_TICK);
            touch(&dir.join("attached"));
        }
    });
}

/// The local side's requests, read on a thread: `end SIGNAL` goes to the
/// spooler as that signal; `done` (its exit arrived there) lets the spool
/// go (true on the channel); an answer goes to the spooled run's control
/// socket.
fn serve_requests(dir: PathBuf) -> std::sync::mpsc::Receiver<bool> {
    let (done_tx, done) = std::sync::mpsc::channel::<bool>();
    std::thread::spawn(move || {
        read_requests(&mut io::stdin().lock(), |request| match request {
            Request::End(signal) => {
                if let Some(pid) = spooler(&dir) {
                    let _ = kill(pid, signal);
                }
            }
            Request::Done => {
                let _ = done_tx.send(true);
            }
            Request::Answer(request) => {
                super::run::forward_answer(&dir.join("control.sock"), &request);
            }
        });
        // The local side keeps this open while it follows: its end is a
        // lost connection (or a local side gone for good). Stop renewing
        // the lease now, not at the next write that fails — unless the
        // exit was written and waits to be confirmed.
        if !EXIT_WRITTEN.load(Ordering::SeqCst) {
            std::process::exit(0);
        }
        let _ = done_tx.send(false);
    });
    done
}

/// Write the spooled stream from where `file` stands, following it until
/// worker `id`'s exit.
fn follow(
    file: &mut File,
    inotify: &Inotify,
    dir: &Path,
    id: &str,
    done: &std::sync::mpsc::Receiver<bool>,
) -> i32 {
    let path = dir.join("stream.ndjson");
    let mut out = io::stdout().lock();
    let mut partial: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => {
                if !wait_for_more(inotify, dir) {
                    // The spooler is gone and wrote no exit: say what it said.
                    let said = std::fs::read_to_string(dir.join("stderr")).unwrap_or_default();
                    eprintln!(
                        "sc-spawn: the run in {} ended without an exit: {}",
                        dir.display(),
                        said.trim()
                    );
                    return 3;
                }
                continue;
            }
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                eprintln!("sc-spawn: reading {}: {e}", path.display());
                return 3;
            }
        };
        partial.extend_from_slice(&buf[..n]);
        let Some(last) = partial.iter().rposition(|b| *b == b'\n') else {
            continue;
        };
        let whole: Vec<u8> = partial.drain(..=last).collect();
        let ended = whole
            .split_inclusive(|b| *b == b'\n')
            .any(|line| parse_head(line).is_ok_and(|h| h.worker == id && h.type_name == "exit"));
        // Said before the write: the local side may answer at once.
        EXIT_WRITTEN.store(ended, Ordering::SeqCst);
        if out.write_all(&whole).and_then(|()| out.flush()).is_err() {
            return 0; // the connection went again: the next follower goes on
        }
        if ended {
            // The spool goes once the local side says it has the exit; a
            // connection lost before that leaves it for the next follower
            // (or, nobody coming, for the next spooled run's sweep).
            if done.recv().unwrap_or(false) {
                let _ = std::fs::remove_dir_all(dir);
            }
            return 0;
        }
    }
}

/// Wait until the stream grows; false when its writer is gone (checked
/// each second, as a vanished process sends no inotify event).
fn wait_for_more(inotify: &Inotify, dir: &Path) -> bool {
    loop {
        let mut fds = [PollFd::new(inotify.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::from(1000u16)) {
            Ok(0) => {
                if spooler(dir).is_none_or(|pid| kill(pid, None).is_err()) {
                    return false;
                }
            }
            Ok(_) => {
                let _ = inotify.read_events();
                return true;
            }
            Err(nix::errno::Errno::EINTR) => {}
            Err(_) => return false,
        }
    }
}

/// `--spool DIR`: `run` (the worker, or the plan of one) with its stream
/// spooled in DIR — the lease watched while it runs, the spools of
/// earlier runs whose leases ran out swept beside it (off the poller's
/// thread), DIR let go when it ends.
pub fn spooled(dir: &Path, lease: Duration, run: impl FnOnce() -> i32) -> i32 {
    let sweeping = sweep(dir, lease);
    watch_lease(dir.to_path_buf(), lease);
    let code = run();
    let _ = sweeping.join();
    spool_done(dir);
    code
}

/// `--end-on-stdin-eof`: a thread that reads the connection's stdin. An
/// `end SIGINT` line (the local side's Ctrl-C) is raised here as that
/// signal, so that the worker ends as it would have there; end of file
/// with no request asks this process to end as SIGTERM would (the local
/// side is gone). The poller serves either as ever. An answer decided on
/// the local side goes to this run's own control socket, `control`.
pub fn end_on_stdin_eof(control: PathBuf) {
    std::thread::spawn(move || {
        let asked = read_requests(&mut io::stdin().lock(), |request| match request {
            Request::End(signal) => {
                let _ = raise(signal);
            }
            Request::Answer(answer) => super::run::forward_answer(&control, &answer),
            Request::Done => {}
        });
        if !asked {
            let _ = raise(Signal::SIGTERM);
        }
    });
}
