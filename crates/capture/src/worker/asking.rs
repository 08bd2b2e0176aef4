//! A worker's side of `--ask`: what an agent asked (and sc itself, at a
//! cap) turned into `ask` events and policy commands, the answers from a
//! policy, a person or the clock written back, messages said to it, and
//! every ask answered before the exit.

use std::time::Instant;

use sc_events::{EndedBy, ErrorEvent};

use super::Worker;
use super::converse::PolicyJob;
use super::lifecycle;

impl Worker {
    /// After an agent's lines: its result grace, and its spending against
    /// its cap (`ended_by: "budget"`).
    pub(super) fn after_agent_lines(&mut self, now: Instant, out: &mut Vec<u8>) {
        let Some(watch) = &mut self.watch else {
            return;
        };
        let grace = watch.grace(now);
        self.life.result_grace(grace);
        let asks = watch.reader_mut().take_asks();
        let withdrawn = watch.reader_mut().take_withdrawn();
        let replies = watch.reader_mut().take_replies();
        if let Some(talk) = &mut self.conversation {
            for reply in replies {
                talk.tell(&reply, now);
            }
        }
        let counted = self.spending.count(watch.reader());
        if let Some(message) = counted.warning {
            self.emit(out, ErrorEvent { message });
        }
        let mut asks = asks;
        if counted.over {
            match &self.conversation {
                // Under --ask, a cap reached is a question, not an end.
                Some(talk) if talk.grant_only() => self.terminate(EndedBy::Budget, now),
                Some(talk) if !talk.open().any(|a| a.tool == "budget") => {
                    asks.push(self.budget_ask());
                }
                Some(_) => {}
                None => self.terminate(EndedBy::Budget, now),
            }
        }
        self.asked(asks, withdrawn, now, out);
        if let (lifecycle::Grace::Start(_), Some(talk)) = (grace, &mut self.conversation) {
            // Its run is over: a CLI that reads its prompts on stdin ends
            // when that closes (once what it asked is answered).
            talk.finish();
        }
    }

    /// The decisions the agent asked for, and the asks it withdrew: `ask`
    /// and `answer` events, and policy commands to run.
    fn asked(
        &mut self,
        asks: Vec<crate::agent::AgentAsk>,
        withdrawn: Vec<String>,
        now: Instant,
        out: &mut Vec<u8>,
    ) {
        let Some(talk) = &mut self.conversation else {
            return;
        };
        let mut events: Vec<sc_events::Body> = Vec::new();
        let mut by_grant = Vec::new();
        for ask in asks {
            let granted = self.opts.granted.contains(&ask.tool);
            self.asks_made += 1;
            let id = format!("{}/{}", self.opts.id, self.asks_made);
            let (event, job) = talk.ask(id, ask, now);
            // What the grant allows, or (nobody asked) does not, is
            // answered at once; the rest waits for a policy or a person.
            if granted || talk.grant_only() {
                by_grant.push((event.ask.clone(), granted));
            } else {
                self.policy_jobs.extend(job);
            }
            events.push(event.into());
        }
        for id in withdrawn {
            events.extend(talk.withdrawn(&id).map(Into::into));
        }
        for event in events {
            self.emit(out, event);
        }
        for (ask, allowed) in by_grant {
            let (decision, message) = match allowed {
                true => ("allow", None),
                false => (
                    "deny",
                    Some(
                        "its grant does not allow it, and nobody is asked (run with --ask)".into(),
                    ),
                ),
            };
            let _ = self.decide(&ask, decision, "grant", message, out);
        }
    }

    /// sc's own ask when a cap is reached under `--ask`: go on past it?
    fn budget_ask(&self) -> crate::agent::AgentAsk {
        let spent = self.spending.total();
        let (max_usd, max_tokens) = self.spending.cap();
        let reason = match max_usd {
            Some(max) => format!(
                "it has spent ${:.2} of ${max:.2}: continue past ${max:.2}?",
                spent.usd.unwrap_or(0.0)
            ),
            None => format!(
                "it has used {} of {} tokens: continue past them?",
                spent.tokens,
                max_tokens.unwrap_or(0)
            ),
        };
        crate::agent::AgentAsk {
            // No id of the agent's: the answer is sc's to act on.
            id: String::new(),
            tool: "budget".into(),
            input: serde_json::json!({
                "spent_usd": spent.usd,
                "max_cost_usd": max_usd,
                "tokens": spent.tokens,
                "max_tokens": max_tokens,
            }),
            reason: Some(reason),
        }
    }

    /// Policy commands to run for asks (`--ask-cmd`), off the poller's thread.
    pub fn take_policy_jobs(&mut self) -> Vec<PolicyJob> {
        std::mem::take(&mut self.policy_jobs)
    }

    /// How the policy command for ask `ask` went. Its first line decides:
    /// `allow`, `deny` and a message, or one of a question's options. A
    /// policy that failed (could not run, exited non-zero, printed no
    /// decision or none of the ask's choices, ran out of time) fails
    /// closed: the ask is denied and the failure said in an `error` event.
    /// An ask no longer open (decided meanwhile, or its attempt ended) is
    /// left as it was answered, and a late answer said: it is bound to the
    /// ask it was given for, whose id no other ask of the run has.
    pub fn policy_answer(&mut self, ask: &str, ran: crate::plan::policy::Ran, out: &mut Vec<u8>) {
        use crate::plan::policy::Outcome;
        if !ran.stderr.is_empty() {
            let said: String = ran.stderr.chars().take(2000).collect();
            let message = format!("the policy command for {ask} said on stderr: {said}");
            self.emit(out, ErrorEvent { message });
        }
        let still_open = self.asks_open(ask);
        let line = match ran.outcome {
            Outcome::Ended | Outcome::TimedOut => return,
            Outcome::Decided(line) if !still_open => {
                let message = format!(
                    "the policy command's answer to {ask} ({line:?}) came when that ask was no longer open \
                     (answered already, or its attempt ended): it was not delivered"
                );
                return self.emit(out, ErrorEvent { message });
            }
            Outcome::Failed(_) if !still_open => return,
            Outcome::Failed(why) => return self.policy_failed(ask, &why, out),
            Outcome::Decided(line) => line,
        };
        let (word, rest) = line.split_once(char::is_whitespace).unwrap_or((&line, ""));
        let message = Some(rest.trim().to_owned()).filter(|m| !m.is_empty());
        let decided = match word {
            "allow" | "deny" => self.decide(ask, word, "command", message, out),
            _ => self.decide(ask, &line, "command", None, out),
        };
        if let Err(why) = decided {
            self.policy_failed(ask, &why, out);
        }
    }

    /// The policy command for ask `ask` failed: said, and the ask denied.
    fn policy_failed(&mut self, ask: &str, why: &str, out: &mut Vec<u8>) {
        let command = self
            .opts
            .ask
            .as_ref()
            .and_then(|p| p.command.clone())
            .unwrap_or_default();
        let message =
            format!("the policy command for {ask} ({command:?}) failed: {why}; the ask is denied");
        self.emit(out, ErrorEvent { message });
        let denial = Some("the policy command failed: denied".to_owned());
        let _ = self.decide(ask, "deny", "command", denial, out);
    }

    /// Asks answered since the last call (see [`Worker::emit`]): their
    /// policy commands, if still running, are to be ended.
    pub fn take_settled_asks(&mut self) -> Vec<String> {
        std::mem::take(&mut self.settled_asks)
    }

    /// Its asks still open, as `ask` events with the worker's id.
    pub fn open_asks(&self) -> Vec<serde_json::Value> {
        if let Some(relayed) = &self.relayed {
            return relayed.open_asks();
        }
        let Some(talk) = &self.conversation else {
            return Vec::new();
        };
        talk.open()
            .filter_map(|ask| {
                let mut value = serde_json::to_value(ask).ok()?;
                let object = value.as_object_mut()?;
                object.insert("type".into(), "ask".into());
                object.insert("worker".into(), self.opts.id.clone().into());
                Some(value)
            })
            .collect()
    }

    /// A person's answer to ask `ask` (the control socket): None when it
    /// is not this worker's open ask; the error says why it was refused.
    /// `via`: the tool it came through (`sc-ctl`, the view, the page).
    pub fn answer_by_person(
        &mut self,
        ask: &str,
        decision: &str,
        message: Option<String>,
        via: Option<String>,
        out: &mut Vec<u8>,
    ) -> Option<Result<(), String>> {
        if let Some(relayed) = &mut self.relayed {
            return relayed.answer(ask, decision, message, via);
        }
        self.asks_open(ask)
            .then(|| self.decide_via(ask, decision, "person", message, via, out))
    }

    /// Whether ask `ask` is one of this worker's open asks.
    fn asks_open(&self, ask: &str) -> bool {
        self.conversation
            .as_ref()
            .is_some_and(|talk| talk.open().any(|a| a.ask == ask))
    }

    /// Tell the agent `text` as the user's next message (`sc-ctl say`,
    /// through `via`): a `say` event in the stream, then the message.
    pub fn say(
        &mut self,
        text: &str,
        via: Option<String>,
        out: &mut Vec<u8>,
    ) -> Result<(), String> {
        let (Some(talk), Some(watch)) = (&mut self.conversation, &self.watch) else {
            return Err(format!(
                "{} takes no messages: only an agent run with --ask does",
                self.opts.id
            ));
        };
        if !talk.tell(&watch.reader().say(text), Instant::now()) {
            return Err(format!(
                "{}'s run is over: it takes no more messages",
                self.opts.id
            ));
        }
        let said = sc_events::Said {
            text: text.to_owned(),
            by: "person".into(),
            via,
        };
        self.emit(out, said);
        Ok(())
    }

    /// A person ends the worker (`sc-ctl stop`, through `via`), as Ctrl-C
    /// would: a `stop` event in the stream (its `exit` follows), then the
    /// signal. A worker on another host is asked to end over its
    /// connection; its `stop` is made here, between the host's events.
    pub fn stop_by_person(&mut self, via: Option<String>, out: &mut Vec<u8>) {
        self.note_stopped(via, out);
        self.interrupt(nix::sys::signal::Signal::SIGINT, false, Instant::now());
    }

    /// The `stop` event alone (the run is stopped whole, its own way).
    pub fn note_stopped(&mut self, via: Option<String>, out: &mut Vec<u8>) {
        if let Some(relayed) = &mut self.relayed {
            // Not connected yet: it is not in the stream; it ends waiting.
            let Some(seq) = relayed.written_here() else {
                return;
            };
            self.seq = seq;
        }
        let stopped = sc_events::Stopped {
            by: "person".into(),
            via,
        };
        self.emit(out, stopped);
    }

    /// Answer ask `ask` with `decision`: the error says why not.
    pub(super) fn decide(
        &mut self,
        ask: &str,
        decision: &str,
        by: &str,
        message: Option<String>,
        out: &mut Vec<u8>,
    ) -> Result<(), String> {
        self.decide_via(ask, decision, by, message, None, out)
    }

    /// [`Worker::decide`], saying the tool a person's answer came
    /// through.
    fn decide_via(
        &mut self,
        ask: &str,
        decision: &str,
        by: &str,
        message: Option<String>,
        via: Option<String>,
        out: &mut Vec<u8>,
    ) -> Result<(), String> {
        let now = Instant::now();
        // sc's own ask (a cap reached): denied, the worker is ended before
        // the answer lets its stdin close, so that it cannot slip out with
        // a clean exit first; allowed, the cap moves on.
        let talk = self
            .conversation
            .as_ref()
            .ok_or("this worker asks nothing")?;
        let (_, budget) = talk.check(ask, decision)?;
        if budget && decision == "deny" {
            self.terminate(EndedBy::Budget, now);
        }
        let (Some(talk), Some(watch)) = (&mut self.conversation, &mut self.watch) else {
            return Err("this worker asks nothing".into());
        };
        let mut answer = talk.answer(ask, decision, by, message, watch.reader_mut(), now)?;
        answer.via = via;
        if budget && decision == "allow" {
            self.spending.extend_cap();
        }
        self.emit(out, answer);
        Ok(())
    }

    /// Asks still open as the worker ends: each gets its answer before the
    /// exit.
    pub(super) fn abandon_asks(&mut self, out: &mut Vec<u8>) {
        let answers = self
            .conversation
            .take()
            .map(|mut talk| talk.abandon())
            .unwrap_or_default();
        for answer in answers {
            self.emit(out, answer);
        }
    }
}
