//! `--check`: prove a stream is whole.
//!
//! Per worker: seq from 0 without gaps, exactly one `start` and one `exit`
//! (a skipped task has neither; a worker that could not be launched has an
//! `error` and an `exit` but no `start`), nothing after its `exit`, and
//! output byte totals equal to the `exit` event's `bytes`, and every `ask`
//! answered exactly once before its `exit`. And no line of the stream that
//! is not an event. A log several runs appended to holds a worker more
//! than once: one that ended and begins again at seq 0 (its `task` or
//! `start`) is its next run, checked as a stream of its own.

use std::collections::HashMap;

use crate::event::ViewEvent;
use crate::fmt;

#[derive(Debug, Default)]
struct Seen {
    id: String,
    /// Which run of the worker this is, in a log several runs wrote
    /// (`sc-spawn --resume LOG --log LOG` appends): from 1.
    run: u32,
    events: u64,
    next_seq: u64,
    problems: Vec<String>,
    starts: u32,
    /// Attempts that ended in a `retry`: each allows one more `start`.
    retries: u32,
    exits: u32,
    tasks: u32,
    skips: u32,
    errors: u64,
    payload_bytes: u64,
    exit_bytes: Option<u64>,
    after_exit: u64,
    /// Asks not answered yet.
    open_asks: Vec<String>,
}

/// A worker as the report names it: its id, and which run in a log of
/// several.
fn named(seen: &Seen) -> String {
    match seen.run {
        0 => seen.id.clone(),
        run => format!("{} (run {run})", seen.id),
    }
}

#[derive(Debug, Default)]
pub struct Checker {
    workers: Vec<Seen>,
    /// Earlier runs of workers that ran again later in the stream.
    earlier_runs: Vec<Seen>,
    index: HashMap<String, usize>,
    malformed: Vec<(u64, String)>,
    malformed_count: u64,
    lines: u64,
}

impl Checker {
    /// Check one event.
    pub fn event(&mut self, event: &ViewEvent<'_>) {
        self.lines += 1;
        let index = match self.index.get(event.worker.as_ref()) {
            Some(&i) => i,
            None => {
                self.workers.push(Seen {
                    id: event.worker.to_string(),
                    ..Seen::default()
                });
                self.index
                    .insert(event.worker.to_string(), self.workers.len() - 1);
                self.workers.len() - 1
            }
        };
        // A worker that ended and begins again at seq 0 (its task, or its
        // start) is the next run of it in a log that holds several: each
        // run is checked as a stream of its own.
        let ended = {
            let seen = &self.workers[index];
            seen.exits > 0 || seen.skips > 0
        };
        if ended && event.seq == 0 && matches!(event.type_name.as_ref(), "task" | "start") {
            let next = Seen {
                id: event.worker.to_string(),
                run: self.workers[index].run.max(1) + 1,
                ..Seen::default()
            };
            let mut earlier = std::mem::replace(&mut self.workers[index], next);
            earlier.run = earlier.run.max(1);
            self.earlier_runs.push(earlier);
        }
        let seen = &mut self.workers[index];
        seen.events += 1;
        if event.seq != seen.next_seq {
            let problem = if event.seq > seen.next_seq {
                format!("seq gap: {} to {} missing", seen.next_seq, event.seq - 1)
            } else {
                format!(
                    "seq went back from {} to {}",
                    seen.next_seq.saturating_sub(1),
                    event.seq
                )
            };
            seen.problems.push(problem);
        }
        seen.next_seq = event.seq + 1;
        if seen.exits > 0 {
            seen.after_exit += 1;
        }
        match event.type_name.as_ref() {
            "start" => {
                if seen.starts > seen.retries {
                    seen.problems
                        .push(format!("start seq {} without a retry before it", event.seq));
                }
                seen.starts += 1;
            }
            "retry" => seen.retries += 1,
            "task" => seen.tasks += 1,
            "skip" => seen.skips += 1,
            "error" => seen.errors += 1,
            "exit" => {
                seen.exits += 1;
                seen.exit_bytes = event.bytes_count();
                for ask in std::mem::take(&mut seen.open_asks) {
                    seen.problems
                        .push(format!("ask {ask} was never answered before the exit"));
                }
            }
            "ask" => match event.ask.as_deref() {
                Some(ask) if seen.open_asks.iter().any(|a| a == ask) => seen
                    .problems
                    .push(format!("ask {ask} asked twice (seq {})", event.seq)),
                Some(ask) => seen.open_asks.push(ask.to_owned()),
                None => seen
                    .problems
                    .push(format!("ask event seq {} has no ask id", event.seq)),
            },
            "answer" => {
                let ask = event.ask.as_deref().unwrap_or("");
                match seen.open_asks.iter().position(|a| a == ask) {
                    Some(at) => {
                        seen.open_asks.remove(at);
                    }
                    None => seen.problems.push(format!(
                        "answer seq {} to ask {ask:?}, which is not open",
                        event.seq
                    )),
                }
            }
            "output" => match event.payload() {
                Some(payload) => seen.payload_bytes += payload.len() as u64,
                None => seen.problems.push(format!(
                    "output event seq {} has neither text nor valid base64 bytes",
                    event.seq
                )),
            },
            _ => {}
        }
    }

    /// A line that is not an event.
    pub fn malformed(&mut self, reason: String) {
        self.lines += 1;
        self.malformed_count += 1;
        if self.malformed.len() < 5 {
            self.malformed.push((self.lines, reason));
        }
    }

    /// The verdict per worker, and whether everything holds.
    pub fn report(&self) -> (Vec<String>, bool) {
        let mut out = Vec::new();
        let mut all_ok = true;
        let mut all: Vec<&Seen> = self.earlier_runs.iter().chain(&self.workers).collect();
        // Each worker's runs together, in order.
        all.sort_by_key(|s| (self.index.get(&s.id).copied(), s.run));
        for seen in all {
            let mut problems = seen.problems.clone();
            let skipped = seen.skips > 0 && seen.starts == 0 && seen.exits == 0;
            // Only `error` events: sc's own notes about the run, no worker.
            let noted = seen.errors == seen.events;
            if !skipped && !noted {
                if seen.exits != 1 {
                    problems.push(format!("{} exit events (want 1)", seen.exits));
                }
                // A worker that could not be launched has no start; one run
                // again has a start per attempt, each after a retry.
                if seen.starts == 0 && seen.exits == 0 {
                    problems.push("no start event".to_owned());
                }
            }
            if seen.after_exit > 0 {
                problems.push(format!("{} events after its exit", seen.after_exit));
            }
            if let Some(exit_bytes) = seen.exit_bytes
                && exit_bytes != seen.payload_bytes
            {
                problems.push(format!(
                    "output holds {} bytes but exit says {exit_bytes}",
                    seen.payload_bytes
                ));
            }
            if problems.is_empty() {
                let what = if noted {
                    format!(
                        "{} error{} said, no worker",
                        seen.errors,
                        if seen.errors == 1 { "" } else { "s" }
                    )
                } else if skipped {
                    "skipped, never started".to_owned()
                } else {
                    format!("{} of output, all there", fmt::bytes(seen.payload_bytes))
                };
                out.push(format!(
                    "✔ {}: {} events, seq 0 to {}, {what}",
                    named(seen),
                    seen.events,
                    seen.next_seq.saturating_sub(1)
                ));
            } else {
                all_ok = false;
                out.push(format!("✖ {}: {}", named(seen), problems.join("; ")));
            }
        }
        if self.malformed_count > 0 {
            all_ok = false;
            for (line, reason) in &self.malformed {
                out.push(format!("✖ line {line}: {reason}"));
            }
            if self.malformed_count > self.malformed.len() as u64 {
                out.push(format!(
                    "✖ … {} malformed lines in all",
                    self.malformed_count
                ));
            }
        }
        if self.workers.is_empty() {
            all_ok = false;
            out.push("✖ the stream has no events".into());
        }
        let verdict = if all_ok {
            format!(
                "✔ stream verified: {}, {}, nothing lost",
                crate::fmt::plural(self.workers.len() as u64, "worker"),
                crate::fmt::plural(self.lines, "line")
            )
        } else {
            "✖ stream check failed".to_owned()
        };
        out.push(verdict);
        (out, all_ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(lines: &[&str]) -> (Vec<String>, bool) {
        let mut checker = Checker::default();
        for line in lines {
            match ViewEvent::parse(line.as_bytes()) {
                Ok(event) => checker.event(&event),
                Err(e) => checker.malformed(e.to_string()),
            }
        }
        checker.report()
    }

    const START: &str = r#"{"type":"start","worker":"w","seq":0,"ts":1,"argv":["x"],"pid":1,"cwd":"/","kind":"shell","pty":false,"schema":1}"#;
    const OUT: &str =
        r#"{"type":"output","worker":"w","seq":1,"ts":1,"stream":"stdout","text":"hi\n"}"#;
    const EXIT: &str = r#"{"type":"exit","worker":"w","seq":2,"ts":1,"code":0,"signal":null,"duration_ms":1,"timed_out":false,"lines":1,"bytes":3}"#;

    #[test]
    fn a_whole_stream_passes() {
        let (report, ok) = check(&[START, OUT, EXIT]);
        assert!(ok, "{report:?}");
    }

    #[test]
    fn loss_is_caught() {
        assert!(!check(&[START, EXIT]).1, "gap and byte mismatch");
        assert!(!check(&[START, OUT]).1, "no exit");
        assert!(!check(&[START, OUT, EXIT, "junk"]).1, "malformed line");
        let (report, ok) = check(&[START, OUT, EXIT, EXIT]);
        assert!(!ok);
        assert!(report[0].contains("2 exit events"), "{report:?}");
    }

    #[test]
    fn skipped_and_unlaunchable_workers_are_whole_too() {
        let (report, ok) = check(&[
            r#"{"type":"task","worker":"t","seq":0,"ts":1,"id":"t"}"#,
            r#"{"type":"skip","worker":"t","seq":1,"ts":1,"reason":"dep failed"}"#,
            r#"{"type":"error","worker":"n","seq":0,"ts":1,"message":"not found"}"#,
            r#"{"type":"exit","worker":"n","seq":1,"ts":1,"code":127,"signal":null,"duration_ms":0,"timed_out":false,"lines":0,"bytes":0}"#,
        ]);
        assert!(ok, "{report:?}");
    }

    #[test]
    fn every_ask_is_answered_once_before_the_exit() {
        const ASK: &str = r#"{"type":"ask","worker":"w","seq":1,"ts":1,"ask":"w/1","tool":"Bash","input":{"command":"touch x"},"choices":["allow","deny"]}"#;
        const ANSWER: &str = r#"{"type":"answer","worker":"w","seq":2,"ts":1,"ask":"w/1","decision":"deny","by":"timeout"}"#;
        const END: &str = r#"{"type":"exit","worker":"w","seq":3,"ts":1,"code":0,"signal":null,"duration_ms":1,"timed_out":false,"lines":0,"bytes":0}"#;
        let (report, ok) = check(&[START, ASK, ANSWER, END]);
        assert!(ok, "{report:?}");
        let unanswered = END.replace("\"seq\":3", "\"seq\":2");
        let (report, ok) = check(&[START, ASK, &unanswered]);
        assert!(!ok);
        assert!(report[0].contains("never answered"), "{report:?}");
        let stray = ANSWER.replace("\"seq\":2", "\"seq\":1");
        let (report, ok) = check(&[
            START,
            &stray,
            END.replace("\"seq\":3", "\"seq\":2").as_str(),
        ]);
        assert!(!ok);
        assert!(report[0].contains("not open"), "{report:?}");
    }
}
