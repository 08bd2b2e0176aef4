//! What a stream says about its workers, built up event by event.
//!
//! The model reads; renderers show. [`Model::apply`] updates a worker and
//! reports what happened as [`Change`]s, which the plain and terminal
//! renderers turn into lines or rows.

use std::collections::HashMap;

use crate::agent::{AgentState, is_agent_kind};
use crate::event::ViewEvent;
use crate::text::{Safety, safe};

mod worker;

pub use worker::{ExitInfo, Kept, OpenAsk, Status, Usage, Worker};

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
        if let Some(&index) = self.index.get(id) {
            return index;
        }
        self.workers.push(Worker::new(id, ts));
        self.index.insert(id.to_owned(), self.workers.len() - 1);
        self.workers.len() - 1
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
        let (safety, tail_lines) = (self.safety, self.tail_lines);
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
            "task" => {
                worker.status = Status::Queued;
                worker.kind = event.kind.as_deref().map(str::to_owned);
                worker.role = event.role.as_deref().map(str::to_owned);
                if worker.kind.as_deref().is_some_and(is_agent_kind) {
                    worker.agent.get_or_insert_with(AgentState::default);
                }
                if let Some(argv) = &event.argv {
                    worker.argv = argv.clone();
                }
                changes.push(Change::Queued(index));
            }
            "start" => {
                worker.status = Status::Running;
                if let Some(host) = &event.host {
                    worker.host = Some(host.to_string());
                }
                worker.sandbox = event
                    .sandbox
                    .and_then(|raw| serde_json::from_str::<String>(raw.get()).ok())
                    .map(|kind| crate::text::safe(&kind, self.safety));
                // What is said of a failure is its last attempt's.
                worker.kept.clear();
                worker.attempt = event.attempt.unwrap_or(1);
                worker.resumes = event.resumes.as_deref().map(str::to_owned);
                // `duration` spans every attempt.
                worker.start_ts.get_or_insert(event.ts);
                if let Some(kind) = &event.kind {
                    worker.kind = Some(kind.to_string());
                    if is_agent_kind(kind) {
                        worker.agent.get_or_insert_with(AgentState::default);
                    }
                }
                if let Some(argv) = &event.argv {
                    worker.argv = argv.clone();
                }
                changes.push(Change::Started(index));
            }
            "output" => {
                let Some((text, len)) = event.payload_text() else {
                    return;
                };
                worker.bytes += len as u64;
                if let Some(progress) = event.progress.as_ref().and_then(|p| p.percent) {
                    worker.progress = Some(progress);
                    changes.push(Change::Progress(index));
                }
                // The annotation, read once for the figures and the lines.
                let note: Option<serde_json::Value> =
                    event.agent.and_then(|a| serde_json::from_str(a.get()).ok());
                if let Some(note) = &note {
                    note_agent(worker, note);
                }
                let stderr = event.is_stderr();
                if !stderr && let Some(state) = worker.agent.as_mut() {
                    // The agent's JSON lines are transport: what they say is
                    // shown instead; plain text it prints is shown as usual.
                    let json = state.in_json_line || text.trim_start().starts_with('{');
                    if event.agent.is_some() || json {
                        state.in_json_line = !text.ends_with('\n') && event.agent.is_none();
                        let shown = note.as_ref().map(|n| state.lines(n)).unwrap_or_default();
                        let live = tail_lines > 0;
                        for line in shown {
                            worker.lines += 1;
                            let text = safe(&line, safety);
                            if live {
                                worker.kept.push(false, &text);
                                worker.latest = text.clone();
                                if worker.tail.len() == tail_lines {
                                    worker.tail.pop_front();
                                }
                                worker.tail.push_back(text.clone());
                            }
                            changes.push(Change::Line {
                                worker: index,
                                stderr: false,
                                text,
                                dropped: 0,
                            });
                        }
                        if live && !state.streaming().is_empty() {
                            worker.latest = safe(state.streaming(), safety);
                        }
                        changes.push(Change::Partial(index));
                        return;
                    }
                }
                let assembler = if stderr {
                    &mut worker.stderr
                } else {
                    &mut worker.stdout
                };
                let mut finished = false;
                let (lines, tail, latest, kept) = (
                    &mut worker.lines,
                    &mut worker.tail,
                    &mut worker.latest,
                    &mut worker.kept,
                );
                // Only the terminal view shows the newest and last lines.
                let live = tail_lines > 0;
                assembler.push(&text, &mut |line: &str, dropped: usize| {
                    finished = true;
                    *lines += 1;
                    let text = safe(line, safety);
                    if live {
                        kept.push(stderr, &text);
                        latest.clear();
                        latest.push_str(&text);
                        if tail.len() == tail_lines {
                            tail.pop_front();
                        }
                        tail.push_back(text.clone());
                    }
                    changes.push(Change::Line {
                        worker: index,
                        stderr,
                        text,
                        dropped,
                    });
                });
                let partial = assembler.partial();
                if !partial.is_empty() {
                    if live {
                        *latest = safe(partial, safety);
                    }
                    changes.push(Change::Partial(index));
                } else if !finished {
                    changes.push(Change::Partial(index));
                }
            }
            "progress" => {
                if let Some(percent) = event.percent {
                    worker.progress = Some(percent);
                }
                if let Some(message) = &event.message {
                    worker.latest = safe(message, safety);
                }
                changes.push(Change::Progress(index));
            }
            "stall" => changes.push(Change::Stalled {
                worker: index,
                idle_ms: event.idle_ms.unwrap_or(0),
            }),
            "skip" => {
                // Done by an earlier run (`--resume`): that counts as success.
                worker.done_before = event.done == Some(true);
                worker.status = if worker.done_before {
                    Status::Succeeded
                } else {
                    Status::Skipped
                };
                worker.skip_reason = event.reason.as_deref().map(|r| safe(r, safety));
                changes.push(Change::Skipped(index));
            }
            "retry" => {
                let attempt = event.attempt.unwrap_or(worker.attempt);
                let reason = safe(event.reason.as_deref().unwrap_or("it failed"), safety);
                let delay = crate::fmt::duration(event.delay_ms.unwrap_or(0) as f64 / 1000.0);
                said(
                    worker,
                    index,
                    format!(
                        "↻ attempt {attempt} ended: {reason}; attempt {} in {delay}",
                        attempt + 1
                    ),
                    changes,
                );
            }
            "ask" => {
                let id = event.ask.as_deref().unwrap_or("?").to_owned();
                let input: Option<serde_json::Value> = event
                    .input
                    .and_then(|raw| serde_json::from_str(raw.get()).ok());
                let tool = safe(event.tool.as_deref().unwrap_or("a tool"), safety);
                let what = safe(&crate::agent::summary(input.as_ref()), safety);
                let what = format!("{tool} {what}").trim().to_owned();
                said(
                    worker,
                    index,
                    format!("? needs input: {what} (sc-ctl answer {id} allow|deny)"),
                    changes,
                );
                worker.asking.push(OpenAsk {
                    id,
                    what,
                    control: event.control.as_deref().map(str::to_owned),
                });
            }
            "sandbox" => {
                let what = match &event.net {
                    Some(net) => format!("{} (not on its --sandbox-net)", safe(net, safety)),
                    None => safe(event.message.as_deref().unwrap_or("?"), safety),
                };
                let decision = safe(event.decision.as_deref().unwrap_or("refused"), safety);
                said(
                    worker,
                    index,
                    format!("⊘ sandbox {decision}: {what}"),
                    changes,
                );
            }
            "say" => {
                let text = safe(event.text.as_deref().unwrap_or(""), safety);
                let via = via_of(event.via.as_deref(), safety);
                said(worker, index, format!("» said{via}: {text}"), changes);
            }
            "stop" => {
                let via = via_of(event.via.as_deref(), safety);
                said(worker, index, format!("■ stopped{via}"), changes);
            }
            "answer" => {
                let id = event.ask.as_deref().unwrap_or("?");
                let what = match worker.asking.iter().position(|a| a.id == id) {
                    Some(at) => worker.asking.remove(at).what,
                    None => id.to_owned(),
                };
                let decision = event.decision.as_deref().unwrap_or("?");
                let by = event.by.as_deref().unwrap_or("?");
                let message = event
                    .message
                    .as_deref()
                    .map(|m| format!(": {}", safe(m, safety)))
                    .unwrap_or_default();
                let mark = if decision == "allow" {
                    "✔ allowed"
                } else {
                    "✘ denied"
                };
                if decision != "allow" {
                    worker.denied.push(what.clone());
                }
                let via = via_of(event.via.as_deref(), safety);
                said(
                    worker,
                    index,
                    format!("{mark} by {}{via}: {what}{message}", safe(by, safety)),
                    changes,
                );
            }
            "error" => {
                if worker.status == Status::Running
                    && worker.start_ts.is_none()
                    && worker.exit.is_none()
                    && worker.lines == 0
                {
                    worker.status = Status::Noted;
                }
                let message = safe(event.message.as_deref().unwrap_or("(no message)"), safety);
                worker.errors.push(message.clone());
                changes.push(Change::Error {
                    worker: index,
                    message,
                });
            }
            "exit" => {
                // sc's count over every attempt: a retried agent's result
                // says only its last attempt's.
                // (A zero where nothing was priced says nothing new.)
                if let Some(usd) = event
                    .cost_usd
                    .filter(|&usd| usd > 0.0 || worker.usage.cost_usd.is_some())
                {
                    worker.usage.cost_usd = Some(usd);
                }
                let exit = ExitInfo {
                    code: event.code,
                    signal: event.signal.as_deref().map(str::to_owned),
                    duration_ms: event.duration_ms,
                    timed_out: event.timed_out.unwrap_or(false),
                    bytes: event.bytes_count(),
                    leaked: event.leaked.unwrap_or(false),
                };
                // Unfinished lines end with the worker.
                if let Some(state) = worker.agent.as_mut() {
                    let mut streamed = Vec::new();
                    state.flush(&mut streamed);
                    for line in streamed {
                        said(worker, index, safe(&line, safety), changes);
                    }
                }
                worker.take_partials(index, safety, tail_lines > 0, changes);
                worker.status = if exit.timed_out {
                    Status::TimedOut
                } else if exit.code == Some(0)
                    && worker.usage.ok != Some(false)
                    && event.agent_result.as_deref().is_none_or(|r| r == "ok")
                {
                    Status::Succeeded
                } else {
                    Status::Failed
                };
                if worker.status == Status::Succeeded {
                    worker.kept.clear();
                }
                worker.exit = Some(exit);
                changes.push(Change::Ended(index));
            }
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
