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
