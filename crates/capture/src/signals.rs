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
    entries.flatten().any(|entry| {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            return false;
        };
        // `pid (comm) state ppid pgrp …`: comm may hold anything, so
        // from its closing parenthesis on.
        let mut fields = stat
            .rsplit_once(')')
            .map_or("", |(_, rest)| rest)
            .split_whitespace();
        let state = fields.next().unwrap_or("Z");
        let group = fields.nth(1).and_then(|g| g.parse::<i32>().ok());
        group == Some(pgid) && !matches!(state, "Z" | "X")
    })
}

/// Wait up to `grace` for group `pgid` to be gone (after a SIGTERM), then
/// SIGKILL what is left. The group is not our child, so nothing signals its
/// end: this looks every few milliseconds, and is only used at exit.
pub fn end_group(pgid: u32, grace: Duration) {
    let give_up = Instant::now() + grace;
    while group_alive(pgid) && Instant::now() < give_up {
        std::thread::sleep(Duration::from_millis(10));
    }
    signal_group(pgid, Signal::SIGKILL);
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
