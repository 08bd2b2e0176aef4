//! Signal names and sending signals to a worker's process group.

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
