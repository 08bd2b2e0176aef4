//! A worker's one `exit` event: its status, how long all its attempts
//! took, what ended it, its agent's verdict and cost; for a worker placed
//! elsewhere, the remote side's exit relayed (or, the connection lost for
//! good, sc's own).

use std::os::unix::process::ExitStatusExt;
use std::time::Instant;

use sc_events::{EndedBy, ErrorEvent, Exit, WorktreeReport};

use crate::process::signals::name;

use super::Worker;
use super::exit::{self, millis};
use super::watch::AgentWatch;

impl Worker {
    /// The worktree is committed: write the `exit` event.
    pub fn finish_with(&mut self, worktree: WorktreeReport, out: &mut Vec<u8>) {
        self.finish(out, Some(worktree));
    }

    pub(super) fn finish(&mut self, out: &mut Vec<u8>, worktree: Option<WorktreeReport>) {
        self.abandon_asks(out);
        if let Some(relayed) = &mut self.relayed {
            relayed.let_go();
            if !self.launch_failed {
                return self.finish_remote(out);
            }
        }
        let status = self.status;
        let ended = self.life.exited_at().unwrap_or_else(Instant::now);
        let ended_by = self
            .life
            .reason()
            .cloned()
            .or_else(|| exit::limit_hit(self.limits.as_ref(), &self.applied, status));
        let exit = Exit {
            code: if self.launch_failed {
                Some(127)
            } else {
                status.and_then(|s| s.code())
            },
            signal: status.and_then(|s| s.signal()).map(name),
            // Every attempt's, and the pauses between them.
            duration_ms: millis(ended.saturating_duration_since(self.first_started)),
            timed_out: self.timed_out(),
            lines: self.lines,
            bytes: self.bytes,
            leaked: self.leaked,
            ended_by,
            agent_result: self.agent_result().map(str::to_owned),
            worktree,
            cost_usd: self
                .opts
                .agent
                .as_ref()
                .and_then(|_| self.spending.total().usd)
                .map(|usd| (usd * 1e6).round() / 1e6),
        };
        self.exit_code = Some(self.compute_exit_code());
        self.emit(out, exit);
        self.applied.cleanup();
        self.life.finished();
        // Give everything back now: the parser's state, buffers.
        self.sources = Vec::new();
    }

    /// A remote worker ends with the remote side's `exit`, already relayed;
    /// without one the connection was lost: said, and an `exit` of sc's.
    pub(super) fn finish_remote(&mut self, out: &mut Vec<u8>) {
        let Some(relayed) = &self.relayed else {
            return;
        };
        self.sources = Vec::new();
        if let Some(code) = relayed.exit_code() {
            self.exit_code = Some(code);
            self.life.finished();
            return;
        }
        let message = relayed.lost_message();
        self.emit(out, ErrorEvent { message });
        let status = self.status;
        let ended = self.life.exited_at().unwrap_or_else(Instant::now);
        let exit = Exit {
            code: status.and_then(|s| s.code()),
            signal: status.and_then(|s| s.signal()).map(name),
            duration_ms: millis(ended.saturating_duration_since(self.first_started)),
            timed_out: self.timed_out(),
            lines: self.lines,
            bytes: self.bytes,
            leaked: false,
            ended_by: Some(
                self.life
                    .reason()
                    .cloned()
                    .unwrap_or(EndedBy::ConnectionLost),
            ),
            agent_result: None,
            worktree: None,
            cost_usd: None,
        };
        self.exit_code = Some(if self.timed_out() { 124 } else { 255 });
        self.emit(out, exit);
        self.life.finished();
    }

    pub(super) fn timed_out(&self) -> bool {
        self.life.reason() == Some(&EndedBy::Timeout)
    }

    /// An agent's verdict (`ok`, `error`, `missing`); None for no agent.
    pub(super) fn agent_result(&self) -> Option<&'static str> {
        self.opts.agent.as_ref()?;
        if self.launch_failed {
            return None;
        }
        Some(self.watch.as_ref().map_or("missing", AgentWatch::verdict))
    }

    /// The exit status sc-spawn reports for this worker (DESIGN.md): the
    /// worker's code, 128+N for signal N, 124 for a timeout, 127 when it
    /// could not be launched; 1 for a task that never ran. Known once it
    /// has finished.
    pub fn exit_code(&self) -> i32 {
        self.exit_code.unwrap_or(1)
    }

    pub(super) fn compute_exit_code(&self) -> i32 {
        exit::status_code(
            self.status,
            self.launch_failed,
            self.life.reason(),
            self.agent_result(),
        )
    }
}
