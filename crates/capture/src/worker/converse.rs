//! A conversing agent's side of `--ask`: its stdin held open, the prompt
//! written there first, each decision it asks for turned into an `ask`
//! event, and exactly one `answer` for each — from the policy command, or
//! the default when the ask's time is up, or the agent withdrawing it —
//! written back to the agent in its own protocol (on its stdin, written
//! without blocking: [`HeldStdin`]).

use std::os::fd::OwnedFd;
use std::time::Instant;

use mio::{Registry, Token};

use sc_events::{Answer, Ask};

use crate::agent::{AgentAsk, AgentReader, Decision};

use super::held_stdin::HeldStdin;
use super::options::AskPolicy;

/// An ask waiting for its answer.
#[derive(Debug)]
struct Open {
    /// Its id in the stream.
    id: String,
    agent: AgentAsk,
    /// sc's own ask (a budget cap reached), answered to sc, not the agent.
    own: bool,
    /// Its `ask` event, for those who list open asks.
    event: Ask,
    /// When the default decides it.
    until: Option<Instant>,
}

/// A policy command to run for an ask, off the poller's thread.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyJob {
    pub ask: String,
    pub command: String,
    /// The `ask` event as a line: the command's stdin.
    pub event: Vec<u8>,
    /// The ask's deadline: the command is ended then.
    pub deadline: Option<Instant>,
}

#[derive(Debug)]
pub struct Conversation {
    stdin: HeldStdin,
    policy: AskPolicy,
    open: Vec<Open>,
    /// The run is over: stdin goes once no ask is open.
    closing: bool,
    /// The agent was told its turn is cancelled.
    cancelled: bool,
}

impl Conversation {
    /// The agent's stdin (non-blocking from here on), and what is written
    /// there first.
    pub fn new(
        stdin: OwnedFd,
        opening: Option<&[u8]>,
        policy: AskPolicy,
        poller: Option<(&Registry, Token)>,
    ) -> Conversation {
        let mut conversation = Conversation {
            stdin: HeldStdin::new(stdin, poller),
            policy,
            open: Vec::new(),
            closing: false,
            cancelled: false,
        };
        if let Some(bytes) = opening {
            conversation.stdin.write(bytes, Instant::now());
        }
        conversation
    }

    /// The agent asks; `id` is the ask's, unique within the run (the
    /// worker's). The `ask` event, and the policy command to run for it, if
    /// there is one.
    pub fn ask(&mut self, id: String, agent: AgentAsk, now: Instant) -> (Ask, Option<PolicyJob>) {
        let choices = choices_of(&agent);
        let reason = match choices.as_slice() {
            [only] if only == "deny" => Some(
                "the agent offers no one-off allow (only `allow_always`), and sc never allows \
                 for good: this can only be denied (grant the tool to let it run)"
                    .to_owned(),
            ),
            _ => agent.reason.clone(),
        };
        let event = Ask {
            ask: id.clone(),
            tool: agent.tool.clone(),
            input: agent.input.clone(),
            reason,
            choices,
            control: self.policy.control.clone(),
        };
        let until = self.policy.timeout.map(|t| now + t);
        let job = self.policy.command.clone().map(|command| PolicyJob {
            ask: id.clone(),
            command,
            event: serde_json::to_vec(&event).unwrap_or_default(),
            deadline: until,
        });
        self.open.push(Open {
            id,
            own: agent.id.is_empty(),
            agent,
            event: event.clone(),
            until,
        });
        (event, job)
    }

    /// Decide ask `id` with `decision` (one of its choices): written to the
    /// agent, and the `answer` event. The error says why not (not open:
    /// answered already, or unknown; not one of its choices).
    pub fn answer(
        &mut self,
        id: &str,
        decision: &str,
        by: &str,
        message: Option<String>,
        reader: &mut dyn AgentReader,
        now: Instant,
    ) -> Result<Answer, String> {
        let (at, _) = self.check(id, decision)?;
        let open = self.open.remove(at);
        if !open.own {
            let line = reader.answer(&open.agent, Decision::of(decision), message.as_deref());
            self.stdin.write(&line, now);
        }
        self.close_if_done();
        Ok(Answer {
            ask: open.id,
            decision: decision.to_owned(),
            by: by.into(),
            message,
            via: None,
        })
    }

    /// What the default decides for ask `id` when its time is up: `allow`
    /// only where that is a choice and the default allows.
    pub fn default_for(&self, id: &str) -> &'static str {
        let allowable = self
            .open
            .iter()
            .any(|o| o.id == id && o.event.choices.iter().any(|c| c == "allow"));
        if allowable && self.policy.default_allow {
            "allow"
        } else {
            "deny"
        }
    }

    /// Write `line` (a message for the agent) while its stdin is open;
    /// false when it is closed (its run is over).
    pub fn tell(&mut self, line: &[u8], now: Instant) -> bool {
        if !self.stdin.is_open() || self.closing || line.is_empty() {
            return false;
        }
        self.stdin.write(line, now);
        true
    }

    /// Whether `decision` answers ask `id`: where the ask stands, and
    /// whether it is sc's own (a budget cap) rather than the agent's. The
    /// error says why not (not open: answered already, or unknown; not one
    /// of its choices).
    pub fn check(&self, id: &str, decision: &str) -> Result<(usize, bool), String> {
        let at = self
            .open
            .iter()
            .position(|o| o.id == id)
            .ok_or_else(|| format!("no open ask {id:?} (answered already, or unknown)"))?;
        let open = &self.open[at];
        if !open.event.choices.iter().any(|c| c == decision) {
            return Err(format!(
                "{decision:?} is no answer to {id}: give one of {}",
                open.event.choices.join(", ")
            ));
        }
        Ok((at, open.own))
    }

    /// The agent withdrew its ask (its own id): answered `by: "agent"`.
    pub fn withdrawn(&mut self, agent_id: &str) -> Option<Answer> {
        let at = self
            .open
            .iter()
            .position(|o| o.agent.id == agent_id && !o.own)?;
        let open = self.open.remove(at);
        self.close_if_done();
        Some(Answer {
            ask: open.id,
            decision: "deny".into(),
            by: "agent".into(),
            message: Some("the agent withdrew it".into()),
            via: None,
        })
    }

    /// Asks whose time is up at `now`: their ids, to be decided by the
    /// default.
    pub fn timed_out(&self, now: Instant) -> Vec<String> {
        self.open
            .iter()
            .filter(|o| o.until.is_some_and(|t| t <= now))
            .map(|o| o.id.clone())
            .collect()
    }

    /// Nobody is asked: the grant alone answers.
    pub fn grant_only(&self) -> bool {
        self.policy.grant_only
    }

    /// The worker is being ended: what tells the agent its turn is
    /// cancelled is written (once), before the signal, and its stdin then
    /// closed, asks open or not (an agent that heeds no signal ends at
    /// EOF); those asks are answered as the worker ends.
    pub fn cancel(&mut self, reader: &mut dyn AgentReader, now: Instant) {
        if !self.stdin.is_open() || self.cancelled {
            return;
        }
        let line = reader.cancel();
        if line.is_empty() {
            return;
        }
        self.cancelled = true;
        self.stdin.write(&line, now);
        self.finish();
    }

    /// Every ask still open answered `deny` by `agent`, with `message`.
    fn answer_all(&mut self, message: &str) -> Vec<Answer> {
        self.open
            .drain(..)
            .map(|open| Answer {
                ask: open.id,
                decision: "deny".into(),
                by: "agent".into(),
                message: Some(message.into()),
                via: None,
            })
            .collect()
    }

    /// The asks still open, as their events.
    pub fn open(&self) -> impl Iterator<Item = &Ask> {
        self.open.iter().map(|o| &o.event)
    }

    /// The worker ended with asks open: each is answered (`by: "agent"`:
    /// it is gone), so that every ask has its answer before the exit.
    pub fn abandon(&mut self) -> Vec<Answer> {
        self.stdin.close();
        let message = match self.cancelled {
            true => "the turn was cancelled: the worker was ended",
            false => "the worker ended before an answer came",
        };
        self.answer_all(message)
    }

    /// Its run is over (a settled result): its stdin is closed, which ends
    /// a CLI that reads its prompts there, once no ask is open.
    pub fn finish(&mut self) {
        self.closing = true;
        self.close_if_done();
    }

    fn close_if_done(&mut self) {
        if self.closing && (self.open.is_empty() || self.cancelled) && !self.stdin.has_pending() {
            self.stdin.close();
        }
    }

    /// The next moment it needs: an ask's time up, or writing again.
    pub fn deadline(&self) -> Option<Instant> {
        self.open
            .iter()
            .filter_map(|o| o.until)
            .chain(self.stdin.retry_at())
            .min()
    }

    /// Whether `token` is its stdin's.
    pub fn owns(&self, token: Token) -> bool {
        self.stdin.owns(token)
    }

    /// The agent's stdin takes bytes again.
    pub fn on_writable(&mut self, now: Instant) {
        self.stdin.on_writable(now);
        self.close_if_done();
    }

    /// Write what is pending again, if it is time (no poller).
    pub fn on_timer(&mut self, now: Instant) {
        if self.stdin.on_timer(now) {
            self.close_if_done();
        }
    }
}

/// The decisions an ask takes: a question's options (and `deny`), else
/// allow or deny.
fn choices_of(agent: &AgentAsk) -> Vec<String> {
    let labels: Vec<String> = agent.input["questions"][0]["options"]
        .as_array()
        .map(|options| {
            options
                .iter()
                .filter_map(|o| o["label"].as_str())
                .filter(|l| !matches!(*l, "allow" | "deny"))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    // An ACP permission request whose options hold no one-off allow (only
    // `allow_always`): sc never allows for good, so it can only be denied.
    let options = agent.input["options"].as_array();
    let no_allow_once = options.is_some_and(|options| {
        options.iter().any(|o| o["kind"].is_string())
            && !options.iter().any(|o| o["kind"] == "allow_once")
    });
    match labels.is_empty() {
        true if no_allow_once => vec!["deny".into()],
        true => vec!["allow".into(), "deny".into()],
        false => labels.into_iter().chain(["deny".to_owned()]).collect(),
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::time::Duration;

    use super::*;

    /// Answers as `ALLOW id` / `DENY id message`.
    #[derive(Debug)]
    struct Plain;

    impl AgentReader for Plain {
        fn line(&mut self, _: &[u8]) -> Option<serde_json::Value> {
            None
        }
        fn result(&self) -> Option<bool> {
            None
        }
        fn results(&self) -> u32 {
            0
        }
        fn settled(&self) -> bool {
            false
        }
        fn answer(
            &mut self,
            ask: &AgentAsk,
            decision: Decision<'_>,
            message: Option<&str>,
        ) -> Vec<u8> {
            match decision {
                Decision::Allow => format!("ALLOW {}\n", ask.id).into_bytes(),
                Decision::Deny => {
                    format!("DENY {} {}\n", ask.id, message.unwrap_or("")).into_bytes()
                }
                Decision::Choice(label) => format!("CHOSE {} {label}\n", ask.id).into_bytes(),
            }
        }
    }

    fn asked(id: &str) -> AgentAsk {
        AgentAsk {
            id: id.into(),
            tool: "Bash".into(),
            input: serde_json::json!({"command": "touch x"}),
            reason: None,
        }
    }

    fn pipe() -> (std::fs::File, OwnedFd) {
        let (read, write) = nix::unistd::pipe().unwrap();
        (std::fs::File::from(read), write)
    }

    #[test]
    fn each_ask_gets_one_answer_written_back_in_the_agents_words() {
        let (mut read, write) = pipe();
        let now = Instant::now();
        let policy = AskPolicy {
            command: Some("my-policy".into()),
            timeout: Some(Duration::from_secs(1)),
            default_allow: false,
            control: None,
            grant_only: false,
        };
        let mut talk = Conversation::new(write, Some(b"PROMPT\n"), policy, None);
        let (event, job) = talk.ask("w/1".into(), asked("r1"), now);
        assert_eq!(event.ask, "w/1");
        assert_eq!(event.choices, ["allow", "deny"]);
        let job = job.expect("the policy command runs for it");
        assert!(
            String::from_utf8(job.event)
                .unwrap()
                .contains("\"touch x\"")
        );
        assert!(
            talk.answer("w/1", "maybe", "person", None, &mut Plain, now)
                .is_err(),
            "no choice"
        );
        let answer = talk
            .answer("w/1", "allow", "command", None, &mut Plain, now)
            .unwrap();
        assert_eq!(
            (answer.decision.as_str(), answer.by.as_str()),
            ("allow", "command")
        );
        assert!(
            talk.answer("w/1", "deny", "person", None, &mut Plain, now)
                .is_err(),
            "once"
        );
        talk.ask("w/2".into(), asked("r2"), now);
        assert_eq!(talk.deadline(), Some(now + Duration::from_secs(1)));
        assert!(talk.timed_out(now).is_empty());
        assert_eq!(talk.timed_out(now + Duration::from_secs(1)), ["w/2"]);
        let default = talk.default_for("w/2");
        talk.answer(
            "w/2",
            default,
            "timeout",
            Some("no answer".into()),
            &mut Plain,
            now,
        )
        .unwrap();
        talk.finish();
        drop(talk);
        let mut written = String::new();
        read.read_to_string(&mut written).unwrap();
        assert_eq!(written, "PROMPT\nALLOW r1\nDENY r2 no answer\n");
    }

    #[test]
    fn an_agent_offering_only_allow_always_can_only_be_denied() {
        let (_read, write) = pipe();
        let mut talk = Conversation::new(write, None, AskPolicy::default(), None);
        let mut agent = asked("r1");
        agent.input = serde_json::json!({"options": [{"optionId": "a", "kind": "allow_always"},
            {"optionId": "r", "kind": "reject_once"}]});
        let (event, _) = talk.ask("w/1".into(), agent, Instant::now());
        assert_eq!(event.choices, ["deny"]);
        assert!(event.reason.unwrap().contains("allow_always"));
        assert!(talk.check("w/1", "allow").is_err());
        assert_eq!(talk.default_for("w/1"), "deny");
    }

    #[test]
    fn stdin_closes_only_once_no_ask_is_open() {
        let (mut read, write) = pipe();
        let now = Instant::now();
        let mut talk = Conversation::new(write, None, AskPolicy::default(), None);
        talk.ask("w/1".into(), asked("r1"), now);
        talk.finish();
        assert!(talk.stdin.is_open(), "an ask is open");
        let withdrawn = talk.withdrawn("r1").unwrap();
        assert_eq!(
            (withdrawn.ask.as_str(), withdrawn.by.as_str()),
            ("w/1", "agent")
        );
        assert!(!talk.stdin.is_open());
        let mut rest = Vec::new();
        read.read_to_end(&mut rest).unwrap();
        assert!(rest.is_empty());
        let (_read, write) = pipe();
        let mut ended = Conversation::new(write, None, AskPolicy::default(), None);
        ended.ask("w/1".into(), asked("r9"), now);
        let answers = ended.abandon();
        assert_eq!(answers.len(), 1);
        assert_eq!(answers[0].by, "agent");
    }
}
