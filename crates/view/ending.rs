//! How long sc-view reads on after SIGINT, SIGTERM or SIGHUP before it
//! writes its reports: until the run has ended — while a worker the
//! stream started has not ended, the producer is still ending it
//! (sc-spawn's kill grace) — then until the stream has been quiet a
//! moment; and never past one hard deadline from the signal, however much
//! keeps coming.

use std::time::{Duration, Instant};

/// How long the stream may be quiet, once no worker runs, before the
/// reports are written.
const QUIET: Duration = Duration::from_secs(2);

/// The reports are written this long after the first signal at the latest:
/// past sc-spawn's default kill grace (5 s), before a CI runner's SIGKILL
/// (GitHub Actions sends it 10 s after its SIGINT).
const HARD: Duration = Duration::from_secs(7);

/// After a second signal (sc-spawn now ends its workers at once), their
/// exits are waited for this long at most.
const AGAIN: Duration = Duration::from_secs(1);

/// An interrupted view, reading on.
#[derive(Debug, Clone, Copy)]
pub struct Ending {
    quiet_at: Instant,
    hard_at: Instant,
    /// A second signal came.
    again: bool,
}

impl Ending {
    /// The signal came at `now`.
    pub fn heard(now: Instant) -> Ending {
        Ending {
            quiet_at: now + QUIET,
            hard_at: now + HARD,
            again: false,
        }
    }

    /// Another signal came at `now`: the producer ends its workers at once,
    /// so their exits are waited for a moment only. False for a third:
    /// the person wants out now.
    pub fn again(&mut self, now: Instant) -> bool {
        if self.again {
            return false;
        }
        self.again = true;
        self.hard_at = self.hard_at.min(now + AGAIN);
        self.quiet_at = self.quiet_at.min(self.hard_at);
        true
    }

    /// Something came: the quiet moment starts again (not past the hard
    /// deadline).
    pub fn data(&mut self, now: Instant) {
        self.quiet_at = (now + QUIET).min(self.hard_at);
    }

    /// Until when to wait for the next chunk (`running`: a worker has not
    /// ended).
    pub fn wait_until(&self, running: bool) -> Instant {
        if running { self.hard_at } else { self.quiet_at }
    }

    /// Time to write the reports.
    pub fn over(&self, now: Instant, running: bool) -> bool {
        now >= self.hard_at || (now >= self.quiet_at && !running)
    }
}

pub(crate) fn signal_name(signal: i32) -> &'static str {
    match signal {
        libc::SIGINT => "SIGINT",
        libc::SIGTERM => "SIGTERM",
        libc::SIGHUP => "SIGHUP",
        _ => "a signal",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_running_worker_is_waited_for_until_the_hard_deadline() {
        let t = Instant::now();
        let mut ending = Ending::heard(t);
        assert!(!ending.over(t + QUIET, true), "still ending its workers");
        assert!(ending.over(t + QUIET, false), "quiet, and nothing runs");
        ending.data(t + Duration::from_secs(6));
        assert_eq!(
            ending.wait_until(false),
            t + HARD,
            "never past the hard deadline"
        );
        assert!(ending.over(t + HARD, true));
    }

    #[test]
    fn a_second_signal_waits_a_moment_and_a_third_none() {
        let t = Instant::now();
        let mut ending = Ending::heard(t);
        assert!(ending.again(t + Duration::from_millis(100)));
        assert!(!ending.over(t + Duration::from_millis(500), true));
        assert!(ending.over(t + Duration::from_millis(1100), true));
        assert!(
            !ending.again(t + Duration::from_millis(200)),
            "a third: now"
        );
    }
}
