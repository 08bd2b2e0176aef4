//! What a stream says about its workers, built up event by event.
//!
//! The model reads; renderers show. [`Model::apply`] updates a worker and
//! reports what happened as [`Change`]s, which the plain and terminal
//! renderers turn into lines or rows.

use std::collections::{HashMap, VecDeque};

use crate::agent::{AgentState, is_agent_kind};
use crate::event::ViewEvent;
use crate::text::{LineAssembler, Safety, safe};

/// Where a worker stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Seen as a task, not started.
    Queued,
    Running,
    Succeeded,
    Failed,
    TimedOut,
    Skipped,
}

impl Status {
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Status::Succeeded | Status::Failed | Status::TimedOut | Status::Skipped
        )
    }
}

/// How a worker ended, from its `exit` event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExitInfo {
    pub code: Option<i64>,
    pub signal: Option<String>,
    pub duration_ms: Option<u64>,
    pub timed_out: bool,
    pub bytes: Option<u64>,
    pub leaked: bool,
}

/// Cost and tokens an agent reported in its result.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Usage {
    pub cost_usd: Option<f64>,
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    /// The agent's own verdict (a result with is_error is a failure).
    pub ok: Option<bool>,
}

/// An ask waiting for its answer.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenAsk {
    pub id: String,
    /// What is asked, in a few words (made safe).
    pub what: String,
    /// Where an answer can be sent.
    pub control: Option<String>,
}

#[derive(Debug)]
pub struct Worker {
    pub id: String,
    /// Which attempt runs (from 1; more with `--retries`), and the agent
    /// session it resumes.
    pub attempt: u32,
    pub resumes: Option<String>,
    /// An earlier run did it (`sc-spawn --resume`): not run again.
    pub done_before: bool,
    pub kind: Option<String>,
    pub role: Option<String>,
    pub argv: Vec<String>,
    pub status: Status,
    pub first_ts: f64,
    pub start_ts: Option<f64>,
    pub last_ts: f64,
    /// Output lines and payload bytes seen.
    pub lines: u64,
    pub bytes: u64,
    /// The newest line, finished or not, made safe for display.
    pub latest: String,
    /// The last finished lines, made safe, for the terminal view.
    pub tail: VecDeque<String>,
    pub progress: Option<f64>,
    pub next_seq: u64,
    /// Events missing by seq.
    pub lost: u64,
    pub errors: Vec<String>,
    pub skip_reason: Option<String>,
    pub exit: Option<ExitInfo>,
    pub usage: Usage,
    /// Claude's usage per message id, for running totals.
    message_usage: HashMap<String, (u64, u64)>,
    stdout: LineAssembler,
    stderr: LineAssembler,
    /// An agent worker: its annotations are shown, its JSON lines are not.
    pub agent: Option<AgentState>,
    /// `--ask`: what it asked and waits for, oldest first.
    pub asking: Vec<OpenAsk>,
    /// Its asks that were denied (tool, in a few words), for reports.
    pub denied: Vec<String>,
}

impl Worker {
    fn new(id: &str, ts: f64) -> Worker {
        Worker {
            attempt: 1,
            resumes: None,
            done_before: false,
            id: id.to_owned(),
            kind: None,
            role: None,
            argv: Vec::new(),
            status: Status::Running,
            first_ts: ts,
            start_ts: None,
            last_ts: ts,
            lines: 0,
            bytes: 0,
            latest: String::new(),
            tail: VecDeque::new(),
            progress: None,
            next_seq: 0,
            lost: 0,
            errors: Vec::new(),
            skip_reason: None,
            exit: None,
            usage: Usage::default(),
            message_usage: HashMap::new(),
            stdout: LineAssembler::default(),
            stderr: LineAssembler::default(),
            agent: None,
            asking: Vec::new(),
            denied: Vec::new(),
        }
    }

    /// Seconds from start (or first sight) to exit (or the newest event).
    pub fn elapsed(&self) -> f64 {
        if let Some(ms) = self.exit.as_ref().and_then(|e| e.duration_ms) {
            return ms as f64 / 1000.0;
        }
        (self.last_ts - self.start_ts.unwrap_or(self.first_ts)).max(0.0)
    }

    pub fn succeeded(&self) -> bool {
        self.status == Status::Succeeded
    }

    /// End the unfinished lines of both streams, as if they had ended.
    fn take_partials(&mut self, index: usize, safety: Safety, changes: &mut Vec<Change>) {
        for stderr in [false, true] {
            let assembler = if stderr {
                &mut self.stderr
            } else {
                &mut self.stdout
            };
            if let Some((line, dropped)) = assembler.take_partial() {
                self.lines += 1;
                let text = safe(&line, safety);
                changes.push(Change::Line {
                    worker: index,
                    stderr,
                    text,
                    dropped,
                });
            }
        }
    }
}

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
                let (lines, tail, latest) =
                    (&mut worker.lines, &mut worker.tail, &mut worker.latest);
                // Only the terminal view shows the newest and last lines.
                let live = tail_lines > 0;
                assembler.push(&text, &mut |line: &str, dropped: usize| {
                    finished = true;
                    *lines += 1;
                    let text = safe(line, safety);
                    if live {
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
                worker.lines += 1;
                changes.push(Change::Line {
                    worker: index,
                    stderr: false,
                    text: format!(
                        "↻ attempt {attempt} ended: {reason}; attempt {} in {delay}",
                        attempt + 1
                    ),
                    dropped: 0,
                });
            }
            "ask" => {
                let id = event.ask.as_deref().unwrap_or("?").to_owned();
                let input: Option<serde_json::Value> = event
                    .input
                    .and_then(|raw| serde_json::from_str(raw.get()).ok());
                let tool = safe(event.tool.as_deref().unwrap_or("a tool"), safety);
                let what = safe(&crate::agent::summary(input.as_ref()), safety);
                let what = format!("{tool} {what}").trim().to_owned();
                worker.lines += 1;
                changes.push(Change::Line {
                    worker: index,
                    stderr: false,
                    text: format!("? needs input: {what} (sc-ctl answer {id} allow|deny)"),
                    dropped: 0,
                });
                worker.asking.push(OpenAsk {
                    id,
                    what,
                    control: event.control.as_deref().map(str::to_owned),
                });
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
                worker.lines += 1;
                changes.push(Change::Line {
                    worker: index,
                    stderr: false,
                    text: format!("{mark} by {}: {what}{message}", safe(by, safety)),
                    dropped: 0,
                });
            }
            "error" => {
                let message = safe(event.message.as_deref().unwrap_or("(no message)"), safety);
                worker.errors.push(message.clone());
                changes.push(Change::Error {
                    worker: index,
                    message,
                });
            }
            "exit" => {
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
                        worker.lines += 1;
                        let text = safe(&line, safety);
                        changes.push(Change::Line {
                            worker: index,
                            stderr: false,
                            text,
                            dropped: 0,
                        });
                    }
                }
                worker.take_partials(index, safety, changes);
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
                worker.exit = Some(exit);
                changes.push(Change::Ended(index));
            }
            _ => {} // heartbeats and types this version does not know
        }
    }

    /// Flush a worker's unfinished lines (a prompt nobody answered, a stall).
    pub fn flush_partial(&mut self, index: usize, changes: &mut Vec<Change>) {
        let safety = self.safety;
        self.workers[index].take_partials(index, safety, changes);
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

    pub fn all_ended(&self) -> bool {
        !self.workers.is_empty() && self.workers.iter().all(|w| w.status.is_final())
    }

    /// 0 when every worker succeeded; 1 otherwise (a stream with no worker
    /// at all is a failure too: something upstream broke).
    pub fn exit_code(&self) -> i32 {
        if !self.workers.is_empty() && self.workers.iter().all(Worker::succeeded) {
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
mod tests {
    use super::*;

    #[test]
    fn running_usage_counts_each_message_once() {
        let mut model = Model::new(Safety::default(), 0);
        let out = |seq: u64, agent: &str| {
            format!(
                r#"{{"type":"output","worker":"a","seq":{seq},"ts":1,"stream":"stdout","text":"{{}}\n","agent":{agent}}}"#
            )
        };
        let lines = [
            r#"{"type":"start","worker":"a","seq":0,"ts":1,"argv":["claude"],"pid":1,"cwd":"/","kind":"claude-code","pty":false,"schema":1}"#.to_owned(),
            out(1, r#"{"kind":"text","text":"x","delta":false,"usage":{"message":"m1","input_tokens":10,"output_tokens":5}}"#),
            out(2, r#"{"kind":"tool_call","id":"t","tool":"Bash","input":{},"usage":{"message":"m1","input_tokens":10,"output_tokens":7}}"#),
            out(3, r#"{"kind":"text","text":"y","delta":false,"usage":{"message":"m2","input_tokens":20,"output_tokens":3}}"#),
        ];
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        apply_all(&mut model, &refs);
        let usage = model.get("a").unwrap().usage;
        assert_eq!(
            (usage.input_tokens, usage.output_tokens),
            (Some(30), Some(10))
        );
    }

    fn apply_all(model: &mut Model, lines: &[&str]) -> Vec<Change> {
        let mut changes = Vec::new();
        for line in lines {
            let event = ViewEvent::parse(line.as_bytes()).unwrap();
            model.apply(&event, &mut changes);
        }
        changes
    }

    #[test]
    fn a_worker_from_start_to_exit() {
        let mut model = Model::new(Safety::default(), 2);
        let changes = apply_all(
            &mut model,
            &[
                r#"{"type":"start","worker":"w","seq":0,"ts":10,"argv":["make"],"pid":1,"cwd":"/","kind":"shell","pty":false,"schema":1}"#,
                r#"{"type":"output","worker":"w","seq":1,"ts":11,"stream":"stdout","text":"a\nb\nc\n"}"#,
                r#"{"type":"output","worker":"w","seq":2,"ts":12,"stream":"stderr","text":"50%\r"}"#,
                r#"{"type":"output","worker":"w","seq":5,"ts":12,"stream":"stdout","text":"late"}"#,
                r#"{"type":"exit","worker":"w","seq":6,"ts":13,"code":0,"signal":null,"duration_ms":3000,"timed_out":false,"lines":4,"bytes":14}"#,
            ],
        );
        let w = model.get("w").unwrap();
        assert_eq!(w.status, Status::Succeeded);
        assert_eq!(w.tail, ["b", "c"]);
        assert_eq!((w.lines, w.bytes, w.lost), (5, 14, 2));
        assert_eq!(w.elapsed(), 3.0);
        assert!(changes.contains(&Change::Lost {
            worker: 0,
            from: 3,
            to: 4
        }));
        assert!(changes.contains(&Change::Line {
            worker: 0,
            stderr: true,
            text: "50%".into(),
            dropped: 0
        }));
        assert_eq!(model.exit_code(), 0);
        assert!(model.all_ended());
    }

    #[test]
    fn failures_timeouts_and_skips() {
        let mut model = Model::new(Safety::default(), 0);
        apply_all(
            &mut model,
            &[
                r#"{"type":"exit","worker":"a","seq":0,"ts":1,"code":2,"signal":null,"duration_ms":1,"timed_out":false,"lines":0,"bytes":0}"#,
                r#"{"type":"exit","worker":"b","seq":0,"ts":1,"code":null,"signal":"SIGTERM","duration_ms":1,"timed_out":true,"lines":0,"bytes":0}"#,
                r#"{"type":"task","worker":"c","seq":0,"ts":1,"id":"c"}"#,
                r#"{"type":"skip","worker":"c","seq":1,"ts":1,"reason":"a failed"}"#,
            ],
        );
        let status: Vec<Status> = model.workers.iter().map(|w| w.status).collect();
        assert_eq!(status, [Status::Failed, Status::TimedOut, Status::Skipped]);
        assert_eq!(model.exit_code(), 1);
    }

    #[test]
    fn agent_results_carry_cost_and_verdict() {
        let mut model = Model::new(Safety::default(), 0);
        apply_all(
            &mut model,
            &[
                r#"{"type":"output","worker":"a","seq":0,"ts":1,"stream":"stdout","text":"{}\n","agent":{"kind":"result","ok":false,"cost_usd":0.25,"input_tokens":100,"output_tokens":20,"turns":2}}"#,
                r#"{"type":"exit","worker":"a","seq":1,"ts":1,"code":0,"signal":null,"duration_ms":1,"timed_out":false,"lines":1,"bytes":3}"#,
            ],
        );
        let w = model.get("a").unwrap();
        assert_eq!(w.usage.cost_usd, Some(0.25));
        assert_eq!(
            w.status,
            Status::Failed,
            "a result with is_error fails even with exit 0"
        );
        assert_eq!(model.total_usage().input_tokens, Some(100));
    }
}
