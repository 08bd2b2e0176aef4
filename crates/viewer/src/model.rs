//! What a stream says about its workers, built up event by event.
//!
//! The model reads; renderers show. [`Model::apply`] updates a worker and
//! reports what happened as [`Change`]s, which the plain and terminal
//! renderers turn into lines or rows.

use std::collections::HashMap;

use crate::event::ViewEvent;
use crate::text::{Safety, safe};

mod apply;
mod worker;

pub use worker::{ExitInfo, Kept, OpenAsk, Status, Usage, Worker, Worktree};

/// What an event did, for a renderer.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    Queued(usize),
    Started(usize),
    /// A finished line (made safe), and bytes of it dropped for length.
    Line {
        worker: usize,
        stderr: bool,
        text: String,
        dropped: usize,
    },
    /// The unfinished line changed (a redraw, a prompt).
    Partial(usize),
    Progress(usize),
    Stalled {
        worker: usize,
        idle_ms: u64,
    },
    Error {
        worker: usize,
        message: String,
    },
    /// Events went missing (seq `from` to `to`, inclusive).
    Lost {
        worker: usize,
        from: u64,
        to: u64,
    },
    Ended(usize),
    Skipped(usize),
}

/// Every worker of a stream, in order of first appearance.
#[derive(Debug)]
pub struct Model {
    pub workers: Vec<Worker>,
    index: HashMap<String, usize>,
    /// The worker of the event before: most events follow one of the same
    /// worker, and comparing its id is cheaper than hashing it.
    last: usize,
    /// The view was interrupted (by this signal) before the stream ended.
    pub interrupted: Option<String>,
    pub safety: Safety,
    pub tail_lines: usize,
    /// Lines that were not events, and the first one's reason.
    pub malformed: u64,
    pub first_malformed: Option<String>,
    pub last_ts: f64,
}

impl Model {
    pub fn new(safety: Safety, tail_lines: usize) -> Model {
        Model {
            workers: Vec::new(),
            index: HashMap::new(),
            last: 0,
            interrupted: None,
            safety,
            tail_lines,
            malformed: 0,
            first_malformed: None,
            last_ts: 0.0,
        }
    }

    /// A line that was not an event.
    pub fn malformed(&mut self, reason: String) {
        self.malformed += 1;
        self.first_malformed.get_or_insert(reason);
    }

    fn worker_index(&mut self, id: &str, ts: f64) -> usize {
        if self.workers.get(self.last).is_some_and(|w| w.id == id) {
            return self.last;
        }
        self.last = match self.index.get(id) {
            Some(&index) => index,
            None => {
                self.workers.push(Worker::new(id, ts));
                self.index.insert(id.to_owned(), self.workers.len() - 1);
                self.workers.len() - 1
            }
        };
        self.last
    }

    pub fn get(&self, id: &str) -> Option<&Worker> {
        self.index.get(id).map(|&i| &self.workers[i])
    }

    /// Apply one event; `changes` gets what it did.
    pub fn apply(&mut self, event: &ViewEvent<'_>, changes: &mut Vec<Change>) {
        let index = self.worker_index(&event.worker, event.ts);
        if event.ts > self.last_ts {
            self.last_ts = event.ts;
        }
        let cx = apply::Cx {
            index,
            safety: self.safety,
            tail_lines: self.tail_lines,
        };
        let worker = &mut self.workers[index];
        worker.last_ts = worker.last_ts.max(event.ts);
        if event.seq > worker.next_seq {
            worker.lost += event.seq - worker.next_seq;
            changes.push(Change::Lost {
                worker: index,
                from: worker.next_seq,
                to: event.seq - 1,
            });
        }
        worker.next_seq = worker.next_seq.max(event.seq + 1);

        match event.type_name.as_ref() {
            "task" => apply::on_task(worker, event, cx, changes),
            "start" => apply::on_start(worker, event, cx, changes),
            "output" => apply::on_output(worker, event, cx, changes),
            "progress" => apply::on_progress(worker, event, cx, changes),
            "stall" => apply::on_stall(worker, event, cx, changes),
            "skip" => apply::on_skip(worker, event, cx, changes),
            "retry" => apply::on_retry(worker, event, cx, changes),
            "ask" => apply::on_ask(worker, event, cx, changes),
            "sandbox" => apply::on_sandbox(worker, event, cx, changes),
            "say" => apply::on_say(worker, event, cx, changes),
            "stop" => apply::on_stop(worker, event, cx, changes),
            "answer" => apply::on_answer(worker, event, cx, changes),
            "error" => apply::on_error(worker, event, cx, changes),
            "exit" => apply::on_exit(worker, event, cx, changes),
            _ => {} // heartbeats and types this version does not know
        }
    }

    /// Flush a worker's unfinished lines (a prompt nobody answered, a stall).
    pub fn flush_partial(&mut self, index: usize, changes: &mut Vec<Change>) {
        let safety = self.safety;
        let keep = self.tail_lines > 0;
        self.workers[index].take_partials(index, safety, keep, changes);
    }

    /// Every worker ended (and there was at least one).
    /// The oldest open ask that names where to answer it (`--ask`).
    pub fn oldest_ask(&self) -> Option<&OpenAsk> {
        self.workers
            .iter()
            .flat_map(|w| w.asking.first())
            .find(|ask| ask.control.is_some())
    }

    /// Whether worker `id` is an agent (its output read as one).
    pub fn is_agent(&self, id: &str) -> bool {
        self.get(id).is_some_and(|w| w.agent.is_some())
    }

    /// When the plan should be done, in seconds from `now`, as GNU
    /// parallel's --eta reckons it: the finished tasks' mean duration for
    /// each waiting task and what is left of each running one, over the
    /// slots in use. None until a task has finished, or with nothing left.
    pub fn eta(&self, now: f64) -> Option<f64> {
        let ran = |w: &&Worker| {
            w.exit.is_some()
                && !w.done_before
                && matches!(
                    w.status,
                    Status::Succeeded | Status::Failed | Status::TimedOut
                )
        };
        let finished: Vec<f64> = self
            .workers
            .iter()
            .filter(ran)
            .map(Worker::elapsed)
            .collect();
        if finished.is_empty() {
            return None;
        }
        let mean = finished.iter().sum::<f64>() / finished.len() as f64;
        let waiting = self
            .workers
            .iter()
            .filter(|w| w.status == Status::Queued)
            .count();
        let running: Vec<&Worker> = self
            .workers
            .iter()
            .filter(|w| w.status == Status::Running && w.start_ts.is_some())
            .collect();
        if waiting == 0 && running.is_empty() {
            return None;
        }
        let left: f64 = running
            .iter()
            .map(|w| (mean - (now - w.start_ts.unwrap_or(now))).max(0.0))
            .sum::<f64>()
            + waiting as f64 * mean;
        Some(left / running.len().max(1) as f64)
    }

    /// A worker has started and not ended.
    pub fn any_running(&self) -> bool {
        self.workers.iter().any(|w| w.status == Status::Running)
    }

    /// The view ends before these workers did (interrupted): they ran
    /// until `ts`, as far as it knows.
    pub fn unfinished_until(&mut self, ts: f64) {
        for w in &mut self.workers {
            if w.status == Status::Running && w.start_ts.is_some() {
                w.last_ts = w.last_ts.max(ts);
            }
        }
    }

    pub fn all_ended(&self) -> bool {
        !self.workers.is_empty() && self.workers.iter().all(|w| w.status.is_final())
    }

    /// 0 when every worker succeeded; 1 otherwise (a stream with no worker
    /// at all is a failure too: something upstream broke).
    pub fn exit_code(&self) -> i32 {
        let mut ran = self.workers.iter().filter(|w| w.status != Status::Noted);
        if ran.clone().next().is_some() && ran.all(Worker::succeeded) {
            0
        } else {
            1
        }
    }

    /// Totals of agent cost and tokens, when any worker reported them.
    pub fn total_usage(&self) -> Usage {
        let mut total = Usage::default();
        for worker in &self.workers {
            let u = worker.usage;
            if let Some(c) = u.cost_usd {
                *total.cost_usd.get_or_insert(0.0) += c;
            }
            if let Some(t) = u.input_tokens {
                *total.input_tokens.get_or_insert(0) += t;
            }
            if let Some(t) = u.output_tokens {
                *total.output_tokens.get_or_insert(0) += t;
            }
        }
        total
    }
}

/// A line of sc's own about the worker (not its output), shown with its
/// output and counted with its lines.
fn said(worker: &mut Worker, index: usize, text: String, changes: &mut Vec<Change>) {
    worker.lines += 1;
    changes.push(Change::Line {
        worker: index,
        stderr: false,
        text,
        dropped: 0,
    });
}

/// ` (via sc-ctl)`, or nothing: the tool a person used.
fn via_of(via: Option<&str>, safety: Safety) -> String {
    via.map(|v| format!(" (via {})", safe(v, safety)))
        .unwrap_or_default()
}

fn note_agent(worker: &mut Worker, note: &serde_json::Value) {
    if worker.usage.ok.is_none() {
        note_running_usage(worker, note);
    }
    if note["kind"] == "result" {
        // Agents report cumulative figures in their result: the last wins.
        worker.usage = Usage {
            cost_usd: note["cost_usd"].as_f64().or(worker.usage.cost_usd),
            input_tokens: note["input_tokens"].as_u64().or(worker.usage.input_tokens),
            output_tokens: note["output_tokens"]
                .as_u64()
                .or(worker.usage.output_tokens),
            ok: note["ok"].as_bool().or(worker.usage.ok),
        };
    }
}

/// Tokens and cost as the agent goes, before its result: Claude's
/// per-message usage (counted once per message id, though its lines repeat
/// it), aider's running `usage`. A result's own figures replace them.
fn note_running_usage(worker: &mut Worker, note: &serde_json::Value) {
    if let Some(usage) = note.get("usage").filter(|u| u.is_object()) {
        let id = usage["message"].as_str().unwrap_or("").to_owned();
        let tokens = (
            usage["input_tokens"].as_u64().unwrap_or(0),
            usage["output_tokens"].as_u64().unwrap_or(0),
        );
        worker.message_usage.insert(id, tokens);
        worker.usage.input_tokens = Some(worker.message_usage.values().map(|t| t.0).sum());
        worker.usage.output_tokens = Some(worker.message_usage.values().map(|t| t.1).sum());
    } else if note["kind"] == "usage" {
        worker.usage.input_tokens = note["input_tokens"].as_u64().or(worker.usage.input_tokens);
        worker.usage.output_tokens = note["output_tokens"]
            .as_u64()
            .or(worker.usage.output_tokens);
        worker.usage.cost_usd = note["cost_usd"].as_f64().or(worker.usage.cost_usd);
    }
}

#[cfg(test)]
mod tests;
