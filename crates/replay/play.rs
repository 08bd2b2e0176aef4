//! Playing a recording: one worker's output written as it was, at its
//! recorded pace; under `--converse`, waiting at each recorded ask for its
//! answer.

use std::io::{self, BufRead, Write};
use std::time::{Duration, Instant};

use sc_events::{Body, Event, Stream, parse_line};

use crate::cli::Cli;

const EXIT_USAGE: i32 = 2;

pub fn run(cli: Cli) -> i32 {
    if let Some(what) = cli.generate {
        return sc_clikit::generate::<Cli>("sc-replay", what);
    }
    let Some(file) = cli.file else {
        eprintln!("sc-replay: no FILE: name the recording to play (see --help)");
        return EXIT_USAGE;
    };
    let data = match std::fs::read(&file) {
        Ok(data) => data,
        Err(e) => {
            eprintln!("sc-replay: {}: {e}", file.display());
            return EXIT_USAGE;
        }
    };
    let lines: Vec<&[u8]> = data.split_inclusive(|b| *b == b'\n').collect();
    let events: Vec<Event> = lines.iter().filter_map(|l| parse_line(l).ok()).collect();
    let mut answers = Answers::new(cli.converse);
    if events.is_empty() {
        return raw(&lines, cli.speed, &mut answers);
    }
    let id = cli.worker.or_else(|| {
        events
            .iter()
            .find(|e| matches!(e.body, Body::Output(_) | Body::Start(_)))
            .map(|e| e.worker.clone())
    });
    let Some(id) = id else {
        eprintln!(
            "sc-replay: {}: no worker with output in the stream",
            file.display()
        );
        return EXIT_USAGE;
    };
    // The same run with its ask denied, recorded beside it: played from
    // the ask on when the answer here denies.
    let denied = cli.converse.then(|| denied_branch(&file, &id)).flatten();
    replay_stream(&events, &id, cli.speed, &mut answers, denied)
}

/// `NAME.denied.ndjson` beside `NAME.ndjson`: the worker's events after
/// its first ask there, and that ask's moment.
fn denied_branch(file: &std::path::Path, id: &str) -> Option<(f64, Vec<Event>)> {
    let stem = file.file_stem()?.to_str()?;
    let path = file.with_file_name(format!("{stem}.denied.ndjson"));
    let data = std::fs::read(path).ok()?;
    let events: Vec<Event> = data
        .split_inclusive(|b| *b == b'\n')
        .filter_map(|l| parse_line(l).ok())
        .filter(|e| e.worker == id)
        .collect();
    let ask = events.iter().position(|e| match &e.body {
        Body::Output(output) => asks_in(output.payload.as_bytes()) > 0,
        _ => false,
    })?;
    let at = events[ask].ts;
    Some((at, events[ask + 1..].to_vec()))
}

/// Requests for a decision (Claude Code's `control_request`) in `written`.
fn asks_in(written: &[u8]) -> usize {
    written
        .split(|b| *b == b'\n')
        .filter(|line| line.starts_with(b"{\"type\":\"control_request\""))
        .count()
}

/// `--converse`: the answers on stdin, waited for after each recorded ask.
struct Answers {
    on: bool,
    /// Time spent waiting for answers: the recording's clock runs on
    /// after it.
    waited: Duration,
}

impl Answers {
    fn new(on: bool) -> Answers {
        Answers {
            on,
            waited: Duration::ZERO,
        }
    }

    /// After `written`: when it held a request for a decision, wait for a
    /// line on stdin (its answer; the end of stdin is an answer too).
    /// True when an answer denied.
    fn after(&mut self, written: &[u8]) -> bool {
        if !self.on {
            return false;
        }
        let asks = asks_in(written);
        let started = Instant::now();
        let mut stdin = io::stdin().lock();
        let mut denied = false;
        for _ in 0..asks {
            let mut answer = String::new();
            if stdin.read_line(&mut answer).unwrap_or(0) == 0 {
                break;
            }
            denied |= answer.contains("\"behavior\":\"deny\"");
        }
        self.waited += started.elapsed();
        denied
    }
}

/// Wait until `at` seconds (recorded time from the start) have passed.
fn wait_until(started: Instant, at: f64, speed: f64) {
    let due = started + sc_events::clamped_duration(at / speed);
    let now = Instant::now();
    if due > now {
        std::thread::sleep(due - now);
    }
}

fn replay_stream(
    events: &[Event],
    id: &str,
    speed: f64,
    answers: &mut Answers,
    mut denied: Option<(f64, Vec<Event>)>,
) -> i32 {
    let mut script: Vec<Event> = events.iter().filter(|e| e.worker == id).cloned().collect();
    let mut next = 0;
    // The recording's clock: this moment of it is now.
    let mut started = Instant::now();
    let mut first_ts = None;
    let (mut stdout, mut stderr) = (io::stdout().lock(), io::stderr().lock());
    while let Some(event) = script.get(next) {
        next += 1;
        let first = *first_ts.get_or_insert(event.ts);
        wait_until(started + answers.waited, event.ts - first, speed);
        match &event.body {
            Body::Output(output) => {
                let target: &mut dyn Write = if output.stream == Stream::Stderr {
                    &mut stderr
                } else {
                    &mut stdout
                };
                if target
                    .write_all(output.payload.as_bytes())
                    .and_then(|()| target.flush())
                    .is_err()
                {
                    return 0; // the reader is gone
                }
                if answers.after(output.payload.as_bytes())
                    && let Some((at, rest)) = denied.take()
                {
                    // Denied: the run goes on as it did when it was denied.
                    script = rest;
                    next = 0;
                    started = Instant::now();
                    first_ts = Some(at);
                    answers.waited = Duration::ZERO;
                }
            }
            Body::Exit(exit) => {
                return exit.code.unwrap_or(1);
            }
            _ => {}
        }
    }
    0
}

/// Raw lines: a Gemini-style `timestamp` paces them; else 40 ms apiece.
fn raw(lines: &[&[u8]], speed: f64, answers: &mut Answers) -> i32 {
    let started = Instant::now();
    let mut first: Option<f64> = None;
    let mut stdout = io::stdout().lock();
    for (i, line) in lines.iter().enumerate() {
        let stamp = serde_json::from_slice::<serde_json::Value>(line)
            .ok()
            .and_then(|v| v.get("timestamp")?.as_str().and_then(seconds_of));
        let at = match (stamp, first) {
            (Some(s), Some(f)) => s - f,
            (Some(s), None) => {
                first = Some(s);
                0.0
            }
            _ => i as f64 * 0.04,
        };
        wait_until(started + answers.waited, at, speed);
        if stdout
            .write_all(line)
            .and_then(|()| stdout.flush())
            .is_err()
        {
            return 0;
        }
        let _ = answers.after(line);
    }
    0
}

/// Seconds of an RFC 3339 time's clock (enough to pace lines of one run).
fn seconds_of(stamp: &str) -> Option<f64> {
    let time = stamp.split('T').nth(1)?.trim_end_matches('Z');
    let mut parts = time.split(':');
    let h: f64 = parts.next()?.parse().ok()?;
    let m: f64 = parts.next()?.parse().ok()?;
    let s: f64 = parts.next()?.parse().ok()?;
    Some(h * 3600.0 + m * 60.0 + s)
}
