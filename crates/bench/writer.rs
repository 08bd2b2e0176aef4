//! A worker that stamps each line (or prompt) with the time it is written.

use std::io::Write;
use std::time::Duration;

use crate::{flag, now_ns};

pub fn main(args: &[String]) -> i32 {
    let count: u64 = flag(args, "--count", 1000);
    let interval = Duration::from_micros(flag(args, "--interval-us", 1000));
    let partial = args.iter().any(|a| a == "--partial");
    let mut stdout = std::io::stdout().lock();
    for i in 0..count {
        // One write per line, unbuffered: what a live worker does.
        let line = if partial {
            format!("stamp {} {i} continue? ", now_ns())
        } else {
            format!("stamp {} {i}\n", now_ns())
        };
        if stdout
            .write_all(line.as_bytes())
            .and_then(|()| stdout.flush())
            .is_err()
        {
            return 1;
        }
        std::thread::sleep(interval);
    }
    0
}
