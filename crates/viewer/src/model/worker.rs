//! One worker as the model knows it: where it stands, what it said, what
//! it cost.

use std::collections::{HashMap, VecDeque};

use super::Change;
use crate::agent::AgentState;
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
    /// Never a worker: only `error` events under its id, sc's own notes
    /// about the run (a side log that cannot be kept) or an input's.
    Noted,
}

impl Status {
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Status::Succeeded | Status::Failed | Status::TimedOut | Status::Skipped | Status::Noted
        )
    }

    /// Nothing to look into: what `--failures-only` leaves out.
    pub fn passed(self) -> bool {
        matches!(self, Status::Succeeded | Status::Noted)
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

pub use crate::usage::Usage;

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
    /// The tasks it waits for (its task's `depends_on`).
    pub depends_on: Vec<String>,
    /// The host it ran on, when not here (its `start` says).
    pub host: Option<String>,
    /// What confines it (`bwrap`), when it runs confined.
    pub sandbox: Option<String>,
    /// Its git worktree (`--worktree`), from its start, and what it
    /// changed from its exit.
    pub worktree: Option<Worktree>,
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
    pub(super) message_usage: HashMap<String, (u64, u64)>,
    pub(super) stdout: LineAssembler,
    pub(super) stderr: LineAssembler,
    /// An agent worker: its annotations are shown, its JSON lines are not.
    pub agent: Option<AgentState>,
    /// `--ask`: what it asked and waits for, oldest first.
    pub asking: Vec<OpenAsk>,
    /// Its asks that were denied (tool, in a few words), for reports.
    pub denied: Vec<String>,
    /// The terminal view: its last attempt's last lines, said at the end
    /// if it failed (given back when it succeeds).
    pub kept: Kept,
}

/// A worker's last lines of each stream, bounded: what the terminal view
/// prints of a failed worker at the end, as cargo test and nextest do,
/// so that nobody runs it again to see why.
#[derive(Debug, Default)]
pub struct Kept {
    pub stderr: VecDeque<String>,
    pub stdout: VecDeque<String>,
}

impl Kept {
    /// Lines kept of each stream.
    pub const LINES: usize = 20;
    /// A kept line's length at most, in characters.
    const WIDTH: usize = 400;

    pub fn push(&mut self, stderr: bool, line: &str) {
        let lines = if stderr {
            &mut self.stderr
        } else {
            &mut self.stdout
        };
        // A line of no more bytes than the width has no more characters
        // either: copied whole, not a character at a time.
        let cut = (line.len() > Self::WIDTH)
            .then(|| line.char_indices().nth(Self::WIDTH))
            .flatten();
        match cut {
            Some((cut, _)) => {
                push_tail(lines, Self::LINES, &line[..cut]);
                if let Some(kept) = lines.back_mut() {
                    kept.push('…');
                }
            }
            None => push_tail(lines, Self::LINES, line),
        }
    }

    /// Given back: the worker starts again, or succeeded.
    pub fn clear(&mut self) {
        *self = Kept::default();
    }
}

/// `line` as the newest of `tail`'s last `cap` lines, the oldest's buffer
/// reused once it is full (no allocation a line).
pub(super) fn push_tail(tail: &mut VecDeque<String>, cap: usize, line: &str) {
    let mut slot = match tail.len() >= cap {
        true => tail.pop_front().unwrap_or_default(),
        false => String::new(),
    };
    slot.clear();
    slot.push_str(line);
    tail.push_back(slot);
}

/// A worker's git worktree (`--worktree`), as its `start` and `exit`
/// say it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
pub struct Worktree {
    pub path: String,
    pub branch: String,
    /// What the branch started from.
    pub base: String,
    /// A diff stat of what it changed, once it ended.
    #[serde(default)]
    pub diff: Option<String>,
    /// Committing its changes failed: why.
    #[serde(default)]
    pub error: Option<String>,
}

impl Worker {
    pub(super) fn new(id: &str, ts: f64) -> Worker {
        Worker {
            attempt: 1,
            resumes: None,
            done_before: false,
            id: id.to_owned(),
            kind: None,
            role: None,
            depends_on: Vec::new(),
            argv: Vec::new(),
            host: None,
            sandbox: None,
            worktree: None,
            status: Status::Running,
            first_ts: ts,
            start_ts: None,
            last_ts: ts,
            lines: 0,
            bytes: 0,
            latest: String::new(),
            tail: VecDeque::new(),
            kept: Kept::default(),
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
    pub(super) fn take_partials(
        &mut self,
        index: usize,
        safety: Safety,
        keep: bool,
        changes: &mut Vec<Change>,
    ) {
        for stderr in [false, true] {
            let assembler = if stderr {
                &mut self.stderr
            } else {
                &mut self.stdout
            };
            if let Some((line, dropped)) = assembler.take_partial() {
                self.lines += 1;
                let text = safe(&line, safety);
                if keep {
                    self.kept.push(stderr, &text);
                }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_lines_are_cut_at_their_width_in_characters() {
        let mut kept = Kept::default();
        let exactly = "é".repeat(Kept::WIDTH);
        let longer = "é".repeat(Kept::WIDTH + 1);
        kept.push(false, &exactly);
        kept.push(false, &longer);
        kept.push(true, "short\n");
        assert_eq!(kept.stdout[0], exactly);
        assert_eq!(kept.stdout[1], format!("{exactly}…"));
        assert_eq!(kept.stderr[0], "short\n");
        for i in 0..Kept::LINES + 5 {
            kept.push(true, &i.to_string());
        }
        assert_eq!(kept.stderr.len(), Kept::LINES);
        assert_eq!(kept.stderr.back().map(String::as_str), Some("24"));
    }
}
