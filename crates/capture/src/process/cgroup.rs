//! A worker's cgroup v2 of its own, where one can be made (cgroup2 is
//! mounted and the folder of sc's own cgroup is writable: root, or a
//! folder systemd delegates). Everything the worker starts stays in it,
//! whatever session or process group it makes for itself: a `setsid`
//! daemon that left the worker's process group is still found at the
//! worker's end and ended (`cgroup.kill`). A memory limit is its
//! `memory.max` where the memory controller is there.
//!
//! Made next to sc's own (`sc-PID-N`), made by sc and never another's: a
//! name that is taken is passed over, not used. An empty one is kept for
//! the next worker rather than removed and made again (a mkdir and rmdir
//! cost ~100 µs, a tenth of a short task's launch); all are removed at the
//! run's end ([`sweep`]). Where none can be made, nothing is left behind
//! and a worker is ended by its process group alone, as before.

use std::fs::{self, OpenOptions};
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use nix::sys::signal::Signal;

/// A worker's cgroup.
#[derive(Debug)]
pub struct Cgroup {
    dir: PathBuf,
    /// It has a `memory.max` of its own (its counters are its worker's
    /// alone): removed at its end, never kept for another.
    limited: bool,
}

/// This run's cgroups: where they are made, and the empty ones kept.
#[derive(Debug, Default)]
struct Pool {
    /// None: not looked yet; Some(None): none can be made here.
    base: Option<Option<PathBuf>>,
    next: u64,
    /// Made and empty, ready for the next worker.
    free: Vec<PathBuf>,
    /// Every one made and not removed yet (for the sweep).
    made: Vec<PathBuf>,
}

static POOL: Mutex<Pool> = Mutex::new(Pool {
    base: None,
    next: 0,
    free: Vec::new(),
    made: Vec::new(),
});

fn pool() -> MutexGuard<'static, Pool> {
    POOL.lock().unwrap_or_else(|e| e.into_inner())
}

/// The folder of this process's own cgroup v2: the cgroup2 mount (pure v2
/// at /sys/fs/cgroup, a hybrid's at /sys/fs/cgroup/unified) joined with
/// the path /proc/self/cgroup gives.
fn own_folder() -> Option<PathBuf> {
    let mounts = fs::read_to_string("/proc/self/mountinfo").ok()?;
    let mount = mounts.lines().find_map(|line| {
        let (left, right) = line.split_once(" - ")?;
        (right.split(' ').next() == Some("cgroup2")).then(|| left.split(' ').nth(4))?
    })?;
    let own = fs::read_to_string("/proc/self/cgroup").ok()?;
    let path = own.lines().find_map(|l| l.strip_prefix("0::"))?;
    // A path with `..` or a deleted cgroup's ` (deleted)` is none to use.
    if path.contains("..") || path.contains(' ') {
        return None;
    }
    Some(Path::new(mount).join(path.trim_start_matches('/')))
}

impl Pool {
    fn base(&mut self) -> Option<PathBuf> {
        if self.base.is_none() {
            let base = own_folder();
            if let Some(dir) = &base {
                remove_stale(dir);
            }
            self.base = Some(base);
        }
        self.base.clone().flatten()
    }

    /// A new folder of sc's, or None.
    fn make(&mut self) -> Option<PathBuf> {
        let base = self.base()?;
        for _ in 0..16 {
            self.next += 1;
            let dir = base.join(format!("sc-{}-{}", std::process::id(), self.next));
            match fs::create_dir(&dir) {
                Ok(()) => {
                    self.made.push(dir.clone());
                    return Some(dir);
                }
                // Someone else's (or a leftover of an earlier sc-spawn of
                // this pid): not ours to use.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(_) => break,
            }
        }
        // Not delegated to us: not tried again in this run.
        if self.made.is_empty() {
            self.base = Some(None);
        }
        None
    }

    fn forget(&mut self, dir: &Path) {
        self.made.retain(|d| d != dir);
    }
}

impl Cgroup {
    /// A cgroup for a worker about to launch, and its `cgroup.procs` open
    /// for the child to join (write "0" in the child, before exec). With
    /// `memory_max` (bytes) it is a new one with that `memory.max`; None
    /// when that cannot be set (then the caller holds memory another way).
    pub fn take(memory_max: Option<u64>) -> Option<(Cgroup, OwnedFd)> {
        let mut pool = pool();
        let (dir, limited) = match memory_max {
            Some(bytes) => {
                let dir = pool.make()?;
                if fs::write(dir.join("memory.max"), bytes.to_string()).is_err() {
                    pool.forget(&dir);
                    let _ = fs::remove_dir(&dir);
                    return None;
                }
                (dir, true)
            }
            None => {
                // A kept one is reused only while it is empty.
                let kept = pool.free.iter().position(|d| !populated(d));
                match kept {
                    Some(at) => (pool.free.swap_remove(at), false),
                    None => (pool.make()?, false),
                }
            }
        };
        drop(pool);
        let cgroup = Cgroup { dir, limited };
        match OpenOptions::new()
            .write(true)
            .open(cgroup.dir.join("cgroup.procs"))
        {
            Ok(procs) => Some((cgroup, OwnedFd::from(procs))),
            Err(_) => {
                cgroup.give_back();
                None
            }
        }
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// The kernel ended a process of it for its memory limit.
    pub fn oom_killed(&self) -> bool {
        fs::read_to_string(self.dir.join("memory.events")).is_ok_and(|events| {
            events
                .lines()
                .filter_map(|l| l.strip_prefix("oom_kill "))
                .any(|n| n.trim().parse::<u64>().is_ok_and(|n| n > 0))
        })
    }

    /// Something of the worker still runs in it.
    pub fn is_populated(&self) -> bool {
        populated(&self.dir)
    }

    /// The processes in it now.
    pub fn pids(&self) -> Vec<i32> {
        pids(&self.dir)
    }

    /// `signal` to every process in it (then SIGCONT, so that a stopped
    /// one hears it).
    pub fn signal(&self, signal: Signal) {
        for pid in self.pids() {
            let pid = nix::unistd::Pid::from_raw(pid);
            let _ = nix::sys::signal::kill(pid, signal);
            let _ = nix::sys::signal::kill(pid, Signal::SIGCONT);
        }
    }

    /// SIGKILL to everything in it at once (`cgroup.kill`, Linux 5.14;
    /// each process by itself before that).
    pub fn kill(&self) {
        kill(&self.dir);
    }

    /// Its worker is done with it: kept for the next worker when empty,
    /// removed when it had a limit of its own; one that is not empty yet
    /// (ended a moment ago) is kept until it is, or until the sweep.
    pub fn give_back(self) {
        let mut pool = pool();
        if self.limited {
            if fs::remove_dir(&self.dir).is_ok() {
                pool.forget(&self.dir);
            }
            return;
        }
        pool.free.push(self.dir);
    }
}

/// The cgroups an sc-spawn that was killed (SIGKILL: no sweep) left in
/// `base`: `sc-PID-N` folders of this user's whose process is gone. Only
/// an empty one can be removed (rmdir), so nothing running is touched.
fn remove_stale(base: &Path) {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = fs::read_dir(base) else {
        return;
    };
    let me = nix::unistd::getuid().as_raw();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("sc-"))
            .and_then(|n| n.split_once('-'))
            .filter(|(_, n)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|(pid, _)| pid.parse::<u32>().ok())
        else {
            continue;
        };
        let ours = entry.metadata().is_ok_and(|m| m.is_dir() && m.uid() == me);
        if ours && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = fs::remove_dir(entry.path());
        }
    }
}

fn populated(dir: &Path) -> bool {
    fs::read_to_string(dir.join("cgroup.events"))
        .is_ok_and(|events| events.lines().any(|l| l == "populated 1"))
}

fn pids(dir: &Path) -> Vec<i32> {
    fs::read_to_string(dir.join("cgroup.procs"))
        .map(|text| text.lines().filter_map(|l| l.trim().parse().ok()).collect())
        .unwrap_or_default()
}

fn kill(dir: &Path) {
    if fs::write(dir.join("cgroup.kill"), "1").is_err() {
        for pid in pids(dir) {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
}

/// The run's end: what is left in any of its cgroups is ended (SIGTERM,
/// then SIGKILL after `grace`, waited for on pidfds, not polled), and
/// every one of them is removed.
pub fn sweep(grace: std::time::Duration) {
    let made = std::mem::take(&mut pool().made);
    pool().free.clear();
    let left: Vec<i32> = made.iter().flat_map(|d| pids(d)).collect();
    if !left.is_empty() {
        for &pid in &left {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), Signal::SIGTERM);
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), Signal::SIGCONT);
        }
        super::gone::wait_gone(&left, Instant::now() + grace);
        for dir in &made {
            kill(dir);
        }
        let rest: Vec<i32> = made.iter().flat_map(|d| pids(d)).collect();
        super::gone::wait_gone(&rest, Instant::now() + std::time::Duration::from_secs(1));
    }
    for dir in made {
        let _ = fs::remove_dir(&dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_killed_runs_empty_cgroups_go_and_nothing_else() {
        let base = std::env::temp_dir().join(format!("sc-cgroup-stale-{}", std::process::id()));
        let _ = fs::remove_dir_all(&base);
        let gone = 4_194_305; // above any pid_max: no such process
        let mine = std::process::id();
        for name in [
            format!("sc-{gone}-1"),
            format!("sc-{gone}-2"),
            format!("sc-{mine}-1"),
            "sc-other".into(),
            format!("sc-{gone}-x"),
        ] {
            fs::create_dir_all(base.join(name)).unwrap();
        }
        // Not empty: in use by something still, or not a cgroup of sc's.
        fs::write(base.join(format!("sc-{gone}-2")).join("held"), "").unwrap();
        remove_stale(&base);
        let mut left: Vec<String> = fs::read_dir(&base)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        let mut want = vec![
            format!("sc-{gone}-2"),
            format!("sc-{gone}-x"),
            format!("sc-{mine}-1"),
            "sc-other".to_owned(),
        ];
        want.sort();
        assert_eq!(left, want);
        fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn the_own_folder_is_under_a_cgroup2_mount_or_none() {
        // Whatever this machine has: a folder that exists, or none.
        if let Some(dir) = own_folder() {
            assert!(dir.join("cgroup.procs").exists(), "{}", dir.display());
        }
    }
}
