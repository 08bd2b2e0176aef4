//! Attempts of one worker: which one runs, whether a failed one runs
//! again (`--retries`, `--retry-on`), after what pause, and for an agent
//! the session the next one resumes, so that the work done and paid for
//! is kept.

use std::time::Duration;

use crate::process::launch::Spec;

use super::options::Retry;

/// The longest pause between attempts.
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(300);

/// How an attempt ended, as far as retrying it is concerned.
#[derive(Debug, Clone, Copy)]
pub struct Outcome<'a> {
    /// The code sc-spawn reports for it (128+N for signal N).
    pub code: i32,
    /// Something ended it on purpose (a timeout, an interrupt, a cap): not
    /// a failure that may pass.
    pub on_purpose: bool,
    pub launch_failed: bool,
    /// For an agent: what it said of its run.
    pub agent: Option<AgentOutcome<'a>>,
}

/// What an agent said of the attempt.
#[derive(Debug, Clone, Copy)]
pub struct AgentOutcome<'a> {
    /// A failure the agent names that may pass (an overloaded API).
    pub trouble: Option<&'a str>,
    /// It wrote a result at all.
    pub has_result: bool,
}

/// The attempts of one worker.
#[derive(Debug)]
pub struct Attempts {
    policy: Option<Retry>,
    /// Which attempt runs (1 for the first).
    number: u32,
    /// The agent's session, from any attempt: what a retry resumes.
    session: Option<String>,
    /// The session the attempt being launched resumes (said in its start).
    resuming: Option<String>,
    /// The running attempt was launched to resume a session.
    resumed: bool,
}

impl Attempts {
    /// The first attempt resumes `resumes` when given (`--resume`).
    pub fn new(policy: Option<Retry>, resumes: Option<String>) -> Attempts {
        Attempts {
            policy,
            number: 1,
            resumed: resumes.is_some(),
            resuming: resumes,
            session: None,
        }
    }

    pub fn number(&self) -> u32 {
        self.number
    }

    /// The session the attempt being started resumes, said once.
    pub fn take_resuming(&mut self) -> Option<String> {
        self.resuming.take()
    }

    /// After an attempt: the session its agent said, if it said one. One
    /// that was to resume a session and never opened it (the CLI had not
    /// saved it: Gemini keeps none when its first request failed) leaves
    /// the next attempt to start anew.
    pub fn session_seen(&mut self, session: Option<&str>) {
        match session {
            Some(session) => self.session = Some(session.to_owned()),
            None if self.resumed => self.session = None,
            None => {}
        }
    }

    /// Why the attempt that just ended should run again, if it should:
    /// it failed, attempts are left, nobody ended it on purpose, and the
    /// failure may pass (or `--retry-on any`).
    pub fn reason(&self, outcome: &Outcome<'_>) -> Option<String> {
        let policy = self.policy.as_ref()?;
        if self.number > policy.retries || outcome.launch_failed || outcome.on_purpose {
            return None;
        }
        if outcome.code == 0 {
            return None;
        }
        if let Some(agent) = outcome.agent {
            if let Some(trouble) = agent.trouble {
                return Some(format!(
                    "the agent reported: {}",
                    super::exit::first_line(trouble)
                ));
            }
            if !agent.has_result {
                return Some(format!(
                    "the agent exited ({}) without a result",
                    super::exit::describe(outcome.code)
                ));
            }
        }
        let on_any = policy.on_any.unwrap_or(outcome.agent.is_none());
        on_any.then(|| {
            format!(
                "the attempt failed ({})",
                super::exit::describe(outcome.code)
            )
        })
    }

    /// The pause before the next attempt: exponential backoff with jitter
    /// (`jitter` in [0, 1)), so that many workers hit by one outage do not
    /// all come back at once.
    pub fn delay(&self, jitter: f64) -> Duration {
        let Some(policy) = &self.policy else {
            return Duration::ZERO;
        };
        policy
            .delay
            .saturating_mul(1 << (self.number - 1).min(16))
            .min(MAX_RETRY_DELAY)
            .mul_f64(0.75 + 0.5 * jitter)
    }

    /// On to the next attempt: `spec` becomes its command, for an agent
    /// whose session is known the one that resumes it. The error says why
    /// it could not be resumed (it starts anew).
    pub fn next(&mut self, spec: &mut Spec) -> Result<(), String> {
        self.number += 1;
        self.resuming = None;
        self.resumed = false;
        let resume = self.policy.as_ref().and_then(|p| p.resume.clone());
        let (Some(resume), Some(session)) = (resume, self.session.clone()) else {
            return Ok(());
        };
        match resume(&session, "the previous attempt failed") {
            Ok(command) => {
                spec.argv = command.argv;
                spec.env.extend(command.env);
                spec.input = command.input;
                self.resumed = true;
                self.resuming = Some(session);
                Ok(())
            }
            Err(message) => Err(format!(
                "cannot resume session {session}: {message}; starting anew"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn policy(retries: u32, on_any: bool) -> Retry {
        Retry {
            retries,
            delay: Duration::from_secs(2),
            on_any: Some(on_any),
            resume: Some(Arc::new(|session: &str, _why: &str| {
                Ok(crate::agent::AgentCommand {
                    argv: vec!["agent".into(), "--resume".into(), session.into()],
                    ..Default::default()
                })
            })),
        }
    }

    fn failed(code: i32) -> Outcome<'static> {
        Outcome {
            code,
            on_purpose: false,
            launch_failed: false,
            agent: None,
        }
    }

    #[test]
    fn only_failures_that_may_pass_run_again_while_attempts_are_left() {
        let attempts = Attempts::new(Some(policy(1, false)), None);
        assert_eq!(attempts.reason(&failed(0)), None);
        // A shell command's failure is its own, unless --retry-on any.
        assert_eq!(attempts.reason(&failed(2)), None);
        let any = Attempts::new(Some(policy(1, true)), None);
        assert_eq!(
            any.reason(&failed(2)).as_deref(),
            Some("the attempt failed (exit 2)")
        );
        let overloaded = Outcome {
            agent: Some(AgentOutcome {
                trouble: Some("overloaded_error\nmore"),
                has_result: true,
            }),
            ..failed(1)
        };
        assert_eq!(
            attempts.reason(&overloaded).as_deref(),
            Some("the agent reported: overloaded_error")
        );
        let silent = Outcome {
            agent: Some(AgentOutcome {
                trouble: None,
                has_result: false,
            }),
            ..failed(137)
        };
        assert_eq!(
            attempts.reason(&silent).as_deref(),
            Some("the agent exited (exit 137, SIGKILL) without a result")
        );
        // Ended on purpose, or refused at launch: never again.
        let ended = Outcome {
            on_purpose: true,
            ..overloaded
        };
        assert_eq!(attempts.reason(&ended), None);
        assert_eq!(Attempts::new(None, None).reason(&overloaded), None);
    }

    #[test]
    fn the_last_attempt_is_not_retried() {
        let mut attempts = Attempts::new(Some(policy(1, true)), None);
        let mut spec = Spec::default();
        assert!(attempts.reason(&failed(1)).is_some());
        attempts.next(&mut spec).unwrap();
        assert_eq!(attempts.number(), 2);
        assert_eq!(attempts.reason(&failed(1)), None);
    }

    #[test]
    fn pauses_double_within_their_jitter_and_cap() {
        let mut attempts = Attempts::new(Some(policy(30, true)), None);
        let mut spec = Spec::default();
        assert_eq!(attempts.delay(0.5), Duration::from_secs(2));
        assert_eq!(attempts.delay(0.0), Duration::from_millis(1500));
        attempts.next(&mut spec).unwrap();
        assert_eq!(attempts.delay(0.5), Duration::from_secs(4));
        for _ in 0..20 {
            attempts.next(&mut spec).unwrap();
        }
        assert_eq!(attempts.delay(0.5), MAX_RETRY_DELAY);
    }

    #[test]
    fn a_retry_resumes_the_session_seen_and_forgets_one_never_opened() {
        let mut attempts = Attempts::new(Some(policy(3, false)), Some("sess-0".into()));
        assert_eq!(attempts.take_resuming().as_deref(), Some("sess-0"));
        assert_eq!(attempts.take_resuming(), None);
        // It was to resume sess-0 and said no session: it was not opened.
        attempts.session_seen(None);
        let mut spec = Spec {
            argv: vec!["agent".into(), "-p".into(), "task".into()],
            ..Spec::default()
        };
        attempts.next(&mut spec).unwrap();
        assert_eq!(spec.argv[1], "-p", "nothing to resume: the same command");
        attempts.session_seen(Some("sess-2"));
        attempts.next(&mut spec).unwrap();
        assert_eq!(spec.argv, ["agent", "--resume", "sess-2"]);
        assert_eq!(attempts.take_resuming().as_deref(), Some("sess-2"));
        // The resumed attempt says nothing of its session: still sess-2's
        // to resume? No: it was to resume it and did not open it.
        attempts.session_seen(None);
        let mut fresh = Spec::default();
        attempts.next(&mut fresh).unwrap();
        assert!(fresh.argv.is_empty());
    }
}
