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
    replay_stream(&events, &id, cli.speed, &mut answers)
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
    fn after(&mut self, written: &[u8]) {
        if !self.on {
            return;
        }
        let asks = written
            .split(|b| *b == b'\n')
            .filter(|line| line.starts_with(b"{\"type\":\"control_request\""))
            .count();
        let started = Instant::now();
        let mut stdin = io::stdin().lock();
        for _ in 0..asks {
            let mut answer = String::new();
            if stdin.read_line(&mut answer).unwrap_or(0) == 0 {
                break;
            }
        }
        self.waited += started.elapsed();
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

fn replay_stream(events: &[Event], id: &str, speed: f64, answers: &mut Answers) -> i32 {
    let started = Instant::now();
    let mut first_ts = None;
    let (mut stdout, mut stderr) = (io::stdout().lock(), io::stderr().lock());
    for event in events.iter().filter(|e| e.worker == id) {
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
                answers.after(output.payload.as_bytes());
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
        answers.after(line);
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
