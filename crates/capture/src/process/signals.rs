//! Signal names and sending signals to a worker's process group.

use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::sys::wait::{Id, WaitPidFlag, WaitStatus, waitid};
use nix::unistd::Pid;

/// What a child process is doing, as far as waiting for it tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    Running,
    /// Stopped by this signal (SIGTTIN: it read a terminal it does not own).
    Stopped(i32),
    /// Exited or killed; not reaped.
    Exited,
}

/// Look at child `pid` without reaping it (WNOWAIT): while it is a zombie
/// its pid, and so its process group's id, cannot be given to another
/// process, so signals sent to the group until it is reaped reach no
/// stranger. `stops`: also report a stop.
pub fn peek_child(pid: u32, stops: bool) -> Seen {
    let Ok(pid) = i32::try_from(pid) else {
        return Seen::Running;
    };
    let mut flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
    if stops {
        flags |= WaitPidFlag::WSTOPPED;
    }
    match waitid(Id::Pid(Pid::from_raw(pid)), flags) {
        Ok(WaitStatus::Stopped(_, signal)) => Seen::Stopped(signal as i32),
        Ok(WaitStatus::Exited(..) | WaitStatus::Signaled(..)) => Seen::Exited,
        // ECHILD: reaped already (by us); nothing else reaps our children.
        Err(nix::errno::Errno::ECHILD) => Seen::Exited,
        _ => Seen::Running,
    }
}

/// The name of signal `number` (`SIGTERM`), or `SIG<number>` for one without.
pub fn name(number: i32) -> String {
    match Signal::try_from(number) {
        Ok(signal) => signal.as_str().to_owned(),
        Err(_) => format!("SIG{number}"),
    }
}

/// Send `signal` to every process of group `pgid`. Returns false when the
/// group is gone (nothing left to signal).
pub fn signal_group(pgid: u32, signal: Signal) -> bool {
    let Ok(pgid) = i32::try_from(pgid) else {
        return false;
    };
    // pgid 0 or 1 would mean our own group or init: never signal those.
    if pgid <= 1 {
        return false;
    }
    killpg(Pid::from_raw(pgid), signal).is_ok()
}

/// Whether any process of group `pgid` is still alive. A zombie is not: an
/// orphan waits for init to reap it, and an init that is slow to (a
/// container's) would otherwise hold up the exit for nothing (srun leaves
/// such a zombie behind for about two seconds).
pub fn group_alive(pgid: u32) -> bool {
    let Ok(pgid) = i32::try_from(pgid) else {
        return false;
    };
    if pgid <= 1 || killpg(Pid::from_raw(pgid), None).is_err() {
        return false;
    }
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return true;
    };
    entries
        .flatten()
        .any(|entry| live_in(&entry).is_some_and(|(_, group)| group == pgid))
}

/// A /proc entry's pid and process group, if it is a process that has not
/// exited (a zombie is gone for this purpose).
fn live_in(entry: &std::fs::DirEntry) -> Option<(i32, i32)> {
    let pid: i32 = entry.file_name().to_str()?.parse().ok()?;
    let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
    // `pid (comm) state ppid pgrp …`: comm may hold anything, so from its
    // closing parenthesis on.
    let mut fields = stat.rsplit_once(')')?.1.split_whitespace();
    let state = fields.next()?;
    let group: i32 = fields.nth(1)?.parse().ok()?;
    (!matches!(state, "Z" | "X")).then_some((pid, group))
}

/// Wait up to `grace` for group `pgid` to be gone (after a SIGTERM), then
/// SIGKILL what is left.
pub fn end_group(pgid: u32, grace: Duration) {
    end_groups(&[(pgid, Instant::now() + grace)]);
}

/// What outlived its worker, SIGTERM sent: its process group, and its
/// cgroup where it had one (which holds a daemon that left the group).
#[derive(Debug)]
pub struct Leftover {
    pub pgid: u32,
    pub cgroup: Option<crate::process::cgroup::Cgroup>,
    /// When its grace is over.
    pub at: Instant,
}

impl Leftover {
    /// Its grace is over: SIGKILL to what is left, and its cgroup given
    /// back (kept until it is empty).
    pub fn kill(self) {
        if group_alive(self.pgid) {
            signal_group(self.pgid, Signal::SIGKILL);
        }
        if let Some(cgroup) = self.cgroup {
            cgroup.kill();
            cgroup.give_back();
        }
    }
}

/// Groups that outlived their workers (SIGTERM sent), ended together: each
/// may take until its own deadline (its `--kill-grace`).
pub fn end_groups(groups: &[(u32, Instant)]) {
    end_leftovers(
        groups
            .iter()
            .map(|&(pgid, at)| Leftover {
                pgid,
                cgroup: None,
                at,
            })
            .collect(),
    );
}

/// What outlived its workers, ended together: the wait ends as soon as
/// every member (of their groups and cgroups) has gone, or at the last
/// deadline; then what is left gets SIGKILL.
pub fn end_leftovers(left: Vec<Leftover>) {
    let Some(last) = left.iter().map(|l| l.at).max() else {
        return;
    };
    let pgids: Vec<i32> = left
        .iter()
        .filter_map(|l| i32::try_from(l.pgid).ok())
        .filter(|&pgid| pgid > 1)
        .collect();
    let mut pids = members(&pgids);
    for cgroup in left.iter().filter_map(|l| l.cgroup.as_ref()) {
        pids.extend(cgroup.pids());
    }
    pids.sort_unstable();
    pids.dedup();
    super::gone::wait_gone(&pids, last);
    for leftover in left {
        leftover.kill();
    }
}

/// The live processes of these groups (one look at /proc).
fn members(pgids: &[i32]) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| live_in(&entry))
        .filter(|(_, group)| pgids.contains(group))
        .map(|(pid, _)| pid)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(name(15), "SIGTERM");
        assert_eq!(name(9), "SIGKILL");
        assert_eq!(name(200), "SIG200");
    }

    #[test]
    fn refuses_dangerous_groups() {
        assert!(!signal_group(0, Signal::SIGTERM));
        assert!(!signal_group(1, Signal::SIGTERM));
        assert!(!group_alive(0));
    }

    /// A group whose only member is a zombie is gone for this purpose; a
    /// group with a live member is not.
    #[test]
    fn a_group_of_zombies_is_not_alive() {
        use nix::sys::wait::{Id, WaitPidFlag, waitid};
        use std::os::unix::process::CommandExt;
        let mut zombie = std::process::Command::new("true")
            .process_group(0)
            .spawn()
            .unwrap();
        // Exited, and not reaped: a zombie, still in its group.
        waitid(
            Id::Pid(Pid::from_raw(zombie.id() as i32)),
            WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT,
        )
        .unwrap();
        assert!(killpg(Pid::from_raw(zombie.id() as i32), None).is_ok());
        assert!(!group_alive(zombie.id()));
        zombie.wait().unwrap();
        let mut live = std::process::Command::new("sleep")
            .arg("30")
            .process_group(0)
            .spawn()
            .unwrap();
        assert!(group_alive(live.id()));
        live.kill().unwrap();
        live.wait().unwrap();
    }
}
