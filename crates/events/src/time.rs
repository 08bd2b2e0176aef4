//! Event timestamps: Unix seconds with microsecond precision.

use std::time::{SystemTime, UNIX_EPOCH};

/// The current time as an event `ts`.
pub fn now_ts() -> f64 {
    to_ts(SystemTime::now())
}

/// `time` as an event `ts`, rounded to the microsecond.
pub fn to_ts(time: SystemTime) -> f64 {
    // Before the epoch only on a broken clock; 0 is then the honest answer.
    let micros = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros());
    micros as f64 / 1e6
}

/// The longest span sc accepts from a number of seconds in its input (a
/// task's `timeout_s`, a pause between recorded events): about 31 years.
/// Beyond it, and for negative, NaN or infinite values, there is no
/// [`Duration`](std::time::Duration) to give, rather than a panic.
pub const MAX_SECS: f64 = 1e9;

/// `secs` as a duration, when it is a number from 0 to [`MAX_SECS`].
pub fn duration_from_secs(secs: f64) -> Option<std::time::Duration> {
    if (0.0..=MAX_SECS).contains(&secs) {
        std::time::Duration::try_from_secs_f64(secs).ok()
    } else {
        None
    }
}

/// `secs` as a duration, clamped into 0 ..= [`MAX_SECS`] (NaN is 0): for
/// pauses, where a wild value should wait long, never panic.
pub fn clamped_duration(secs: f64) -> std::time::Duration {
    let secs = if secs.is_nan() {
        0.0
    } else {
        secs.clamp(0.0, MAX_SECS)
    };
    std::time::Duration::from_secs_f64(secs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn wild_seconds_are_no_panic() {
        assert_eq!(duration_from_secs(1.5), Some(Duration::from_millis(1500)));
        for wild in [1e300, -1.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            assert_eq!(duration_from_secs(wild), None, "{wild}");
            let _ = clamped_duration(wild);
        }
        assert_eq!(clamped_duration(-5.0), Duration::ZERO);
        assert_eq!(clamped_duration(1e300), Duration::from_secs(1_000_000_000));
    }
}
