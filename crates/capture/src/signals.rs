//! Signal names and sending signals to a worker's process group.

use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

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

/// Whether any process of group `pgid` is still alive.
pub fn group_alive(pgid: u32) -> bool {
    let Ok(pgid) = i32::try_from(pgid) else {
        return false;
    };
    pgid > 1 && killpg(Pid::from_raw(pgid), None).is_ok()
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
}
