//! A worker's life as a state machine whose states carry their own
//! deadlines, so that no timer can be set in one place and forgotten in
//! another: the next moment a worker needs attention is a function of the
//! state it is in ([`Lifecycle::deadline`]).
//!
//! ```text
//! Preparing ──▶ Running ──exit seen──▶ Draining ──outputs closed──▶ Settled ──▶ Finished
//!    │            │ timeout, result grace, heartbeat, stall     ▲  │          (worktree
//!    │            └── outputs closed first: exit seen ───────────┘  │           committed)
//!    │               ▲                                              ▼
//!    │               └──────── relaunched ◀──── Backoff (a failure that may pass, --retries)
//!    └── cancelled (interrupt before launch) ───────────────────────────────▶ Finished
//! ```
//!
//! Ending a worker (a timeout, an interrupt, a reader gone, a leak) is a
//! second, orthogonal record: the reason and how far it has gone (SIGTERM
//! sent and when SIGKILL is due; SIGKILL sent and when to stop waiting for
//! outputs a process outside the group holds).

use std::time::{Duration, Instant};

use sc_events::EndedBy;

/// After SIGKILL to a group that held the outputs, how long to wait for end
/// of file before closing them: a holder outside the group would keep them
/// open for ever.
pub const CLOSE_AFTER_KILL: Duration = Duration::from_millis(200);

/// Where a worker is in its life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    /// Not launched yet: what it needs first (its git worktree) is being
    /// made off the poller's thread.
    Preparing,
    /// The process runs.
    Running(Running),
    /// The process exited (seen, not yet reaped, so its pid and process
    /// group id cannot be reused while sc may still signal the group) and
    /// something it started still holds its outputs.
    Draining { exited_at: Instant, drain: Pausable },
    /// Exited and outputs closed; the `exit` event waits for work done off
    /// the poller's thread (committing its worktree).
    Settled { exited_at: Instant },
    /// An attempt failed in a way that may pass (`--retries`): the next one
    /// is launched then. An ending recorded meanwhile (an interrupt) ends
    /// the worker instead.
    Backoff { until: Instant },
    /// The `exit` (or `skip`) event is written.
    Finished,
}

/// The timers of a running process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Running {
    pub timeout_at: Option<Instant>,
    /// An agent said its result: it is ended if it has not exited by then.
    pub result_grace_at: Option<Instant>,
    pub heartbeat_at: Option<Instant>,
    /// When the silence becomes a stall (None once reported, until output
    /// comes again).
    pub stall_at: Option<Instant>,
    /// sc holds the worker's output back (its own reader is slow): the
    /// stall clock is stopped; whether it was running.
    pub stall_held: Option<bool>,
}

/// A clock that can be stopped: the drain period only runs while sc is
/// reading, never while sc itself holds the worker's output back because
/// its own reader is slow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pausable {
    left: Duration,
    /// Running since then; None while paused.
    since: Option<Instant>,
    /// It ran out and was acted on: it never runs again.
    spent: bool,
}

impl Pausable {
    pub fn started(length: Duration, now: Instant) -> Pausable {
        Pausable {
            left: length,
            since: Some(now),
            spent: false,
        }
    }

    /// It ran out and was acted on: stop it for good.
    pub fn spend(&mut self) {
        self.spent = true;
        self.since = None;
    }

    pub fn pause(&mut self, now: Instant) {
        if let Some(since) = self.since.take() {
            self.left = self
                .left
                .saturating_sub(now.saturating_duration_since(since));
        }
    }

    pub fn resume(&mut self, now: Instant) {
        if !self.spent {
            self.since.get_or_insert(now);
        }
    }

    /// When it runs out; None while paused.
    pub fn deadline(&self) -> Option<Instant> {
        self.since.map(|since| since + self.left)
    }

    pub fn expired(&self, now: Instant) -> bool {
        self.deadline().is_some_and(|at| at <= now)
    }
}

/// How far ending the worker has gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// SIGTERM (or the interrupting signal) was sent; SIGKILL is due then.
    Asked { kill_at: Instant },
    /// SIGKILL was sent; outputs still open then are closed.
    Killed { close_at: Instant },
}

/// Why and how far a worker is being ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ending {
    /// `ended_by` in the exit event.
    pub reason: EndedBy,
    pub stage: Stage,
}

/// A worker's phase and its ending, with the one place deadlines come from.
/// Its fields are its own: every change of state is one of the transitions
/// below, each checking that it starts from a state it may leave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lifecycle {
    phase: Phase,
    ending: Option<Ending>,
}

/// The timers a running attempt is given at its launch.
#[derive(Debug, Clone, Copy, Default)]
pub struct Timers {
    pub timeout: Option<Duration>,
    pub heartbeat: Option<Duration>,
    pub stall: Option<Duration>,
}

/// What [`Lifecycle::take_due`] found due (each reported once).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Due {
    pub timed_out: bool,
    /// An agent said its result and has not exited within its grace.
    pub result_grace: bool,
    pub heartbeat: bool,
    pub stall: bool,
    /// The worker exited, but its outputs stayed open past the drain.
    pub leaked: bool,
}

/// What an agent's latest line means for its result grace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grace {
    /// Nothing changes.
    Keep,
    /// A result with no background work open: it should exit by then.
    Start(Instant),
    /// Work opened again: no grace runs.
    Stop,
}

impl Lifecycle {
    pub fn preparing() -> Lifecycle {
        Lifecycle {
            phase: Phase::Preparing,
            ending: None,
        }
    }

    pub fn phase(&self) -> &Phase {
        &self.phase
    }

    pub fn is_finished(&self) -> bool {
        self.phase == Phase::Finished
    }

    pub fn is_preparing(&self) -> bool {
        self.phase == Phase::Preparing
    }

    pub fn is_running(&self) -> bool {
        matches!(self.phase, Phase::Running(_))
    }

    /// Waiting for its next attempt (or to connect again).
    pub fn is_waiting(&self) -> bool {
        matches!(self.phase, Phase::Backoff { .. })
    }

    /// Something (a timeout, an interrupt, a cap) is ending it.
    pub fn is_ending(&self) -> bool {
        self.ending.is_some()
    }

    /// Preparing or waiting → Running: an attempt was launched now.
    pub fn launched(&mut self, now: Instant, timers: Timers) {
        debug_assert!(matches!(
            self.phase,
            Phase::Preparing | Phase::Backoff { .. }
        ));
        self.phase = Phase::Running(Running {
            timeout_at: timers.timeout.map(|t| now + t),
            result_grace_at: None,
            heartbeat_at: timers.heartbeat.map(|h| now + h),
            stall_at: timers.stall.map(|s| now + s),
            stall_held: None,
        });
    }

    /// Running → Draining: the process was seen to exit now; its outputs
    /// are read on for up to `drain`.
    pub fn exited(&mut self, now: Instant, drain: Duration) {
        if self.is_running() {
            self.phase = Phase::Draining {
                exited_at: now,
                drain: Pausable::started(drain, now),
            };
        }
    }

    /// Draining → Settled, once its outputs are closed: when it exited.
    pub fn settle(&mut self) -> Option<Instant> {
        let Phase::Draining { exited_at, .. } = self.phase else {
            return None;
        };
        self.phase = Phase::Settled { exited_at };
        Some(exited_at)
    }

    /// Settled → Backoff: the next attempt (or connection) is due then.
    pub fn back_off(&mut self, until: Instant) {
        debug_assert!(matches!(self.phase, Phase::Settled { .. }));
        self.phase = Phase::Backoff { until };
    }

    /// The next attempt is due now: waited long enough, nobody ended it.
    pub fn relaunch_due(&self, now: Instant) -> bool {
        matches!(self.phase, Phase::Backoff { until } if until <= now) && self.ending.is_none()
    }

    /// Ended while waiting for its next attempt: the last attempt's
    /// outcome is the worker's.
    pub fn ended_while_waiting(&self) -> bool {
        self.is_waiting() && self.ending.is_some()
    }

    /// Waiting: the next launch is due now rather than after its pause
    /// (a link to make again at once, to say `end` over it).
    pub fn hurry(&mut self, now: Instant) {
        if self.is_waiting() {
            self.phase = Phase::Backoff { until: now };
        }
    }

    /// Waiting: ended for `reason` without a next attempt. False when it
    /// was not waiting.
    pub fn end_waiting(&mut self, reason: EndedBy, now: Instant) -> bool {
        if !self.is_waiting() {
            return false;
        }
        self.ending.get_or_insert(Ending {
            reason,
            stage: Stage::Asked { kill_at: now },
        });
        true
    }

    /// Preparing → Finished: never launched (interrupted first). False
    /// when it had left Preparing.
    pub fn cancel(&mut self) -> bool {
        if self.phase != Phase::Preparing {
            return false;
        }
        self.phase = Phase::Finished;
        true
    }

    /// Its `exit` event is written.
    pub fn finished(&mut self) {
        self.phase = Phase::Finished;
    }

    /// Output came now: the silence that makes a stall starts again.
    pub fn output_seen(&mut self, now: Instant, stall: Option<Duration>) {
        if let Phase::Running(r) = &mut self.phase {
            match &mut r.stall_held {
                // Held: its clock starts again when sc reads again.
                Some(running) => *running = true,
                None => r.stall_at = stall.map(|s| now + s),
            }
        }
    }

    /// An agent's result grace starts or stops (not once it is being ended).
    pub fn result_grace(&mut self, grace: Grace) {
        if self.ending.is_some() {
            return;
        }
        if let Phase::Running(r) = &mut self.phase {
            match grace {
                Grace::Keep => {}
                Grace::Start(at) => r.result_grace_at = Some(at),
                Grace::Stop => r.result_grace_at = None,
            }
        }
    }

    /// Stop or restart the clocks that only run while sc reads: the drain,
    /// and a running worker's stall (a worker sc does not read because its
    /// own reader is slow is not silent; its silence starts again, `stall`
    /// long, when sc reads again).
    pub fn hold(&mut self, held: bool, now: Instant, stall: Option<Duration>) {
        match &mut self.phase {
            Phase::Draining { drain, .. } if held => drain.pause(now),
            Phase::Draining { drain, .. } => drain.resume(now),
            Phase::Running(r) => match (held, r.stall_held) {
                (true, None) => r.stall_held = Some(r.stall_at.take().is_some()),
                (false, Some(was_running)) => {
                    r.stall_held = None;
                    if was_running {
                        r.stall_at = stall.map(|s| now + s);
                    }
                }
                _ => {}
            },
            _ => {}
        }
    }

    /// The timers due at `now`, each taken so that it is acted on once (a
    /// heartbeat is due again `heartbeat` later).
    pub fn take_due(&mut self, now: Instant, heartbeat: Option<Duration>) -> Due {
        let mut due = Due::default();
        match &mut self.phase {
            Phase::Running(r) => {
                let take = |at: &mut Option<Instant>| {
                    let hit = at.is_some_and(|t| t <= now);
                    if hit {
                        *at = None;
                    }
                    hit
                };
                due.timed_out = take(&mut r.timeout_at);
                due.result_grace = take(&mut r.result_grace_at);
                due.stall = take(&mut r.stall_at);
                if let (Some(at), Some(every)) = (r.heartbeat_at, heartbeat)
                    && at <= now
                {
                    r.heartbeat_at = Some(now + every);
                    due.heartbeat = true;
                }
            }
            Phase::Draining { drain, .. } if drain.expired(now) => {
                // The leak is reported once.
                drain.spend();
                due.leaked = true;
            }
            _ => {}
        }
        due
    }

    /// The process has been seen to exit.
    pub fn has_exited(&self) -> bool {
        matches!(
            self.phase,
            Phase::Draining { .. } | Phase::Settled { .. } | Phase::Finished
        )
    }

    pub fn exited_at(&self) -> Option<Instant> {
        match self.phase {
            Phase::Draining { exited_at, .. } | Phase::Settled { exited_at } => Some(exited_at),
            _ => None,
        }
    }

    /// The earliest moment one of this state's timers is due (output
    /// flushes aside, which the worker's framers know).
    pub fn deadline(&self) -> Option<Instant> {
        let own = match &self.phase {
            Phase::Running(r) => [r.timeout_at, r.result_grace_at, r.heartbeat_at, r.stall_at]
                .into_iter()
                .flatten()
                .min(),
            Phase::Draining { drain, .. } => drain.deadline(),
            // Ended while waiting to retry: at once.
            Phase::Backoff { .. } if self.ending.is_some() => Some(Instant::now()),
            Phase::Backoff { until } => Some(*until),
            Phase::Preparing | Phase::Settled { .. } | Phase::Finished => None,
        };
        let ending = match (&self.phase, self.ending.as_ref().map(|e| e.stage)) {
            (Phase::Running(_) | Phase::Draining { .. }, Some(Stage::Asked { kill_at })) => {
                Some(kill_at)
            }
            // Closing outputs only means something once the process is gone;
            // until then SIGCHLD is what comes next.
            (Phase::Draining { .. }, Some(Stage::Killed { close_at })) => Some(close_at),
            _ => None,
        };
        own.into_iter().chain(ending).min()
    }

    /// Begin ending the worker for `reason`, unless it is already being
    /// ended: the first reason is the one reported. Returns true when the
    /// caller should send SIGTERM now.
    pub fn ask_to_end(&mut self, reason: EndedBy, grace: Duration, now: Instant) -> bool {
        if self.ending.is_some() || !self.is_alive_or_draining() {
            return false;
        }
        self.ending = Some(Ending {
            reason,
            stage: Stage::Asked {
                kill_at: now + grace,
            },
        });
        true
    }

    /// SIGKILL was sent now.
    pub fn killed(&mut self, reason: EndedBy, now: Instant) {
        let reason = self.ending.take().map_or(reason, |e| e.reason);
        self.ending = Some(Ending {
            reason,
            stage: Stage::Killed {
                close_at: now + CLOSE_AFTER_KILL,
            },
        });
    }

    /// SIGKILL is due.
    pub fn kill_due(&self, now: Instant) -> bool {
        self.is_alive_or_draining()
            && matches!(self.ending, Some(Ending { stage: Stage::Asked { kill_at }, .. }) if kill_at <= now)
    }

    /// Outputs still open after SIGKILL are to be closed.
    pub fn close_due(&self, now: Instant) -> bool {
        matches!(self.phase, Phase::Draining { .. })
            && matches!(self.ending, Some(Ending { stage: Stage::Killed { close_at }, .. }) if close_at <= now)
    }

    pub fn is_alive_or_draining(&self) -> bool {
        matches!(self.phase, Phase::Running(_) | Phase::Draining { .. })
    }

    pub fn reason(&self) -> Option<&EndedBy> {
        self.ending.as_ref().map(|e| &e.reason)
    }
}

#[cfg(test)]
mod tests;
