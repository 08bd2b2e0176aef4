//! The local side of a worker placed elsewhere (a host over ssh, a Slurm
//! job step): what runs here is only the connection, and the worker's
//! stream is the remote sc-spawn's, relayed. This is everything that
//! differs for such a worker: its verdict and cost come from the relayed
//! `exit`; ending it is asked over the connection; a lost connection of a
//! spooled worker is made again (`--reconnect`), an `end` asked meanwhile
//! going with the new one.

use std::os::fd::OwnedFd;
use std::time::Duration;

use nix::sys::signal::Signal;
use sc_events::{EndedBy, Exit};

use crate::placement::relay::{Relay, Spent};
use crate::placement::run::Request;

use super::exit::first_line;
use super::options::Reconnect;
use super::retry::MAX_RETRY_DELAY;

/// The first pause before connecting again (doubled each time after).
const RECONNECT_DELAY: Duration = Duration::from_secs(1);

/// What ssh may say on stderr that is kept for messages.
const SAID_KEPT: usize = 16 * 1024;

#[derive(Debug)]
pub struct Relayed {
    host: String,
    reconnect: Option<Reconnect>,
    /// The current connection's relay, or the lost one's (where the next
    /// connection picks up).
    relay: Option<Relay>,
    /// The remote worker's exit, as the remote side wrote it.
    exit: Option<Exit>,
    /// What ssh (or srun) said itself, for the message when the
    /// connection is lost.
    said: Vec<u8>,
    /// Connections made again so far.
    reconnects: u32,
    /// The next launch follows the spooled worker again.
    reconnecting: bool,
    /// Asked to end while the link was down: said as soon as it is up.
    end_on_reconnect: Option<(EndedBy, Signal)>,
    /// The write end of the connection's stdin: let go of (or written
    /// `end` to) to ask the remote side to end its worker.
    stdin: Option<OwnedFd>,
    /// `done` was said on this connection.
    done_said: bool,
    /// An agent's running cost, counted here from its relayed annotations.
    tally: Option<Tally>,
}

/// What an agent there has spent so far, from the annotations the sc-spawn
/// there relays (read as a local agent's are): a plan's `--budget-usd`
/// holds across hosts on it, not on the exit that comes when it is over.
#[derive(Debug)]
struct Tally {
    agent: std::sync::Arc<dyn crate::agent::Agent>,
    /// The model it was asked to use, when it does not say.
    model: Option<String>,
    /// This attempt's annotations, read.
    reader: Option<Box<dyn crate::agent::AgentReader>>,
    /// Spent by earlier attempts.
    before: crate::agent::Spend,
    /// The total as of the last note: read on every turn of the poller
    /// while a plan has a budget, counted only when a note comes.
    usd: Option<f64>,
}

impl Tally {
    fn take(&mut self, spent: Spent) {
        match spent {
            Spent::Attempt => {
                self.before = self.total();
                self.reader = Some(self.agent.reader());
            }
            Spent::Note(note) => self
                .reader
                .get_or_insert_with(|| self.agent.reader())
                .note(&note),
        }
    }

    fn total(&self) -> crate::agent::Spend {
        let now = self.reader.as_ref().map(|r| r.spend(self.model.as_deref()));
        self.before.plus(now.unwrap_or_default())
    }
}

impl Relayed {
    /// `agent`: its kind, when it is an agent (its spending is counted
    /// here as it goes), and the `model` it was asked to use.
    pub fn new(
        host: String,
        reconnect: Option<Reconnect>,
        agent: Option<std::sync::Arc<dyn crate::agent::Agent>>,
        model: Option<String>,
    ) -> Relayed {
        Relayed {
            tally: agent.map(|agent| Tally {
                agent,
                model,
                reader: None,
                before: crate::agent::Spend::default(),
                usd: None,
            }),
            host,
            reconnect,
            relay: None,
            exit: None,
            said: Vec::new(),
            reconnects: 0,
            reconnecting: false,
            end_on_reconnect: None,
            stdin: None,
            done_said: false,
        }
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    /// A connection was made. Its stream goes on from where a lost one
    /// broke (after the events written here meanwhile, `next_seq` on), or
    /// starts at `first_seq`.
    pub fn connected(&mut self, stdin: Option<OwnedFd>, next_seq: u64, first_seq: u64) {
        self.stdin = stdin;
        self.done_said = false;
        let again = std::mem::take(&mut self.reconnecting);
        self.relay = Some(match self.relay.take() {
            Some(kept) if again => Relay::resume(&self.host, next_seq, &kept),
            _ => Relay::new(&self.host, first_seq),
        });
    }

    /// The remote stream's bytes: relayed into `out`. Once the worker's
    /// exit is here, a spooled one's follower is told (`done`): its spool
    /// may go, and not before (the exit could be lost on the way).
    pub fn push(&mut self, data: &[u8], id: &str, out: &mut Vec<u8>) {
        let Some(relay) = &mut self.relay else {
            return;
        };
        relay.push(data, id, out);
        if let Some(tally) = &mut self.tally {
            if !relay.spending.is_empty() {
                for spent in relay.spending.drain(..) {
                    tally.take(spent);
                }
                tally.usd = tally.total().usd;
            }
        } else {
            relay.spending.clear();
        }
        if relay.exit.is_some()
            && self.reconnect.is_some()
            && let Some(fd) = &self.stdin
            && !std::mem::replace(&mut self.done_said, true)
        {
            let _ = nix::unistd::write(fd, &Request::Done.line());
        }
    }

    /// The seq of an event written here for the worker between the
    /// remote's (see [`Relay::written_here`]); None before its stream
    /// began (nothing of it is in the stream yet).
    pub fn written_here(&mut self) -> Option<u64> {
        self.relay.as_mut().map(Relay::written_here)
    }

    /// The next seq here, and the worker's output lines and bytes so far.
    pub fn position(&self) -> Option<(u64, u64, u64)> {
        self.relay
            .as_ref()
            .map(|r| (r.next_seq(), r.lines, r.bytes))
    }

    /// What the connection said on its stderr (kept, within a bound).
    pub fn said(&mut self, data: &[u8]) {
        let room = SAID_KEPT.saturating_sub(self.said.len());
        self.said.extend_from_slice(&data[..data.len().min(room)]);
    }

    /// The remote stream ended. A line cut off by a lost connection that
    /// will be made again comes whole with the next one; otherwise it is
    /// what the remote side said last.
    pub fn closed(&mut self, id: &str, out: &mut Vec<u8>, ending: bool, launch_failed: bool) {
        let Some(relay) = &self.relay else {
            return;
        };
        let taken = relay.taken;
        let again = self.may_reconnect(taken, ending, launch_failed);
        let Some(relay) = &mut self.relay else {
            return;
        };
        if relay.exit.is_some() || !again {
            relay.finish(id, out);
        }
        self.exit = relay.exit.take().or(self.exit.take());
        if !relay.noise.is_empty() {
            let noise = std::mem::take(&mut relay.noise);
            self.said(&noise);
        }
    }

    /// A lost connection may be made again (`--reconnect`): one that
    /// brought something (a connection that never came up is not lost; it
    /// failed, and ssh said why), attempts left, nobody ending the worker.
    fn may_reconnect(&self, taken: u64, ending: bool, launch_failed: bool) -> bool {
        taken > 0
            && self
                .reconnect
                .as_ref()
                .is_some_and(|r| self.reconnects < r.place.reconnects())
            && !ending
            && !launch_failed
    }

    /// The connection ended before the remote worker's exit came: when it
    /// may be made again, the pause before that and what to say.
    pub fn plan_reconnect(
        &mut self,
        ending: bool,
        launch_failed: bool,
    ) -> Option<(Duration, String)> {
        let taken = self.relay.as_ref().map_or(0, |r| r.taken);
        if self.exit.is_some() || !self.may_reconnect(taken, ending, launch_failed) {
            return None;
        }
        self.reconnects += 1;
        let delay = RECONNECT_DELAY
            .saturating_mul(1 << (self.reconnects - 1).min(5))
            .min(MAX_RETRY_DELAY);
        let said = String::from_utf8_lossy(&self.said).trim().to_owned();
        let said = if said.is_empty() {
            String::new()
        } else {
            format!(" ({})", first_line(&said))
        };
        let limit = self.reconnect.as_ref().map_or(0, |r| r.place.reconnects());
        let message = format!(
            "the connection to {} was lost{said}; the worker runs on there: connecting again in {:.1} s ({} of {limit})",
            self.host,
            delay.as_secs_f64(),
            self.reconnects
        );
        self.said.clear();
        self.reconnecting = true;
        Some((delay, message))
    }

    /// Waiting to connect again.
    pub fn is_reconnecting(&self) -> bool {
        self.reconnecting
    }

    /// The command that follows the spooled worker again from where its
    /// stream broke off, when a connection is to be made again.
    pub fn reconnect_argv(&self, id: &str) -> Option<Vec<std::ffi::OsString>> {
        if !self.reconnecting {
            return None;
        }
        let reconnect = self.reconnect.as_ref()?;
        let from = self.relay.as_ref().map_or(0, |r| r.taken);
        reconnect.place.attach(&reconnect.dir, id, from)
    }

    /// Asked to end while the link is down: kept for the next connection.
    pub fn end_when_connected(&mut self, reason: EndedBy, signal: Signal) {
        self.end_on_reconnect.get_or_insert((reason, signal));
    }

    pub fn take_end_when_connected(&mut self) -> Option<(EndedBy, Signal)> {
        self.end_on_reconnect.take()
    }

    /// Ask the remote side to end its worker as `signal` would (ssh
    /// forwards no signal): an `end SIGNAL` line. A spooled worker's
    /// connection stays (its end may be a lost link; a second `end` has it
    /// killed); otherwise the input ends after it, which alone also asks
    /// the remote side to end (SIGTERM).
    pub fn ask_end(&mut self, signal: Signal, reason: EndedBy) {
        if let Some(relay) = &mut self.relay {
            relay.ended_here.get_or_insert(reason);
        }
        if let Some(fd) = &self.stdin {
            // A dozen bytes into a pipe nothing else is written to: this
            // does not block.
            let _ = nix::unistd::write(fd, &Request::End(signal).line());
        }
        if self.reconnect.is_none() {
            self.stdin = None;
        }
    }

    /// The remote worker's asks still open, as events.
    pub fn open_asks(&self) -> Vec<serde_json::Value> {
        self.relay
            .as_ref()
            .map(|r| r.open_asks.clone())
            .unwrap_or_default()
    }

    /// A person's answer here to ask `ask` of the worker there: sent over
    /// the connection to its run's control socket (its `answer` event then
    /// comes back in the stream). None when it is not open; the error when
    /// the decision is none of its choices.
    pub fn answer(
        &mut self,
        ask: &str,
        decision: &str,
        message: Option<String>,
        via: Option<String>,
    ) -> Option<Result<(), String>> {
        let event = self
            .relay
            .as_ref()?
            .open_asks
            .iter()
            .find(|a| a["ask"] == ask)?
            .clone();
        let choices: Vec<&str> = event["choices"]
            .as_array()
            .map(|c| c.iter().filter_map(|c| c.as_str()).collect())
            .unwrap_or_default();
        if !choices.contains(&decision) {
            return Some(Err(format!(
                "{decision:?} is no answer to {ask}: give one of {}",
                choices.join(", ")
            )));
        }
        let fd = self.stdin.as_ref()?;
        let request = Request::Answer(crate::control::Request::Answer {
            ask: ask.to_owned(),
            decision: decision.to_owned(),
            message,
            via,
        });
        // One short line into a pipe nothing else fills: it does not block.
        Some(
            nix::unistd::write(fd, &request.line())
                .map(|_| ())
                .map_err(|e| format!("the connection did not take the answer: {e}")),
        )
    }

    /// The connection is done with.
    pub fn let_go(&mut self) {
        self.stdin = None;
    }

    /// The remote worker's exit, once relayed.
    pub fn exit(&self) -> Option<&Exit> {
        self.exit.as_ref()
    }

    /// What it spent there over every attempt: its exit says, once it
    /// came; until then, what its relayed annotations add up to.
    pub fn spent_usd(&self) -> Option<f64> {
        match &self.exit {
            Some(exit) => exit.cost_usd,
            None => self.tally.as_ref().and_then(|t| t.usd),
        }
    }

    /// The status sc-spawn reports for the worker, from its relayed exit.
    pub fn exit_code(&self) -> Option<i32> {
        self.exit.as_ref().map(code_of)
    }

    /// Said when the connection was lost for good before the exit came —
    /// or never came up at all (nothing ever arrived over it: the host
    /// refused, or did not answer), which is said as such.
    pub fn lost_message(&self) -> String {
        let never_up = self.reconnects == 0 && self.relay.as_ref().is_none_or(|r| r.taken == 0);
        let what = if never_up {
            format!("could not reach {}", self.host)
        } else {
            format!(
                "the connection to {} was lost before the worker's exit came",
                self.host
            )
        };
        let said = String::from_utf8_lossy(&self.said);
        match said.trim() {
            "" => what,
            said => format!("{what}: {}", first_line(said)),
        }
    }
}

/// The status of a relayed exit, as [`super::exit::status_code`] gives it
/// here: its code, 124 for a timeout, 128+N for signal N, and an agent
/// judged by its result (ended for lingering after it, too).
fn code_of(exit: &Exit) -> i32 {
    let verdict = exit.agent_result.as_deref();
    if exit.ended_by == Some(EndedBy::ResultWithoutExit) {
        return i32::from(verdict != Some("ok"));
    }
    let code = match (exit.code, &exit.signal) {
        _ if exit.timed_out => 124,
        (Some(code), _) => code,
        (None, Some(signal)) => signal.parse::<Signal>().map_or(1, |s| 128 + s as i32),
        (None, None) => 1,
    };
    let agent_failed = verdict.is_some_and(|r| r != "ok");
    if code == 0 && agent_failed { 1 } else { code }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::placement::ssh::Remote;
    use std::sync::Arc;

    fn exit(code: Option<i32>, signal: Option<&str>) -> Exit {
        Exit {
            code,
            signal: signal.map(str::to_owned),
            duration_ms: 1,
            timed_out: false,
            lines: 0,
            bytes: 0,
            leaked: false,
            ended_by: None,
            agent_result: None,
            worktree: None,
            cost_usd: None,
        }
    }

    #[test]
    fn a_relayed_exit_gives_the_status_it_would_here() {
        assert_eq!(code_of(&exit(Some(3), None)), 3);
        assert_eq!(code_of(&exit(None, Some("SIGTERM"))), 143);
        assert_eq!(code_of(&exit(None, Some("SIGNOPE"))), 1);
        let timed_out = Exit {
            timed_out: true,
            ..exit(None, Some("SIGKILL"))
        };
        assert_eq!(code_of(&timed_out), 124);
        let no_result = Exit {
            agent_result: Some("missing".into()),
            ..exit(Some(0), None)
        };
        assert_eq!(code_of(&no_result), 1);
        let lingered = Exit {
            ended_by: Some(EndedBy::ResultWithoutExit),
            agent_result: Some("ok".into()),
            ..exit(None, Some("SIGTERM"))
        };
        assert_eq!(code_of(&lingered), 0);
    }

    fn spooled(times: u32) -> Relayed {
        let remote = Remote {
            host: "h".into(),
            ssh: vec!["ssh".into()],
            sc_spawn: "sc-spawn".into(),
            reconnect: times,
            lease_s: 60,
            transfer: None,
            multiplex: None,
        };
        Relayed::new(
            "h".into(),
            Some(Reconnect {
                place: Arc::new(remote),
                dir: "/tmp/sc-spool-x".into(),
            }),
            None,
            None,
        )
    }

    /// A connection that brought one whole line, then broke.
    fn lost(relayed: &mut Relayed, first: bool) {
        relayed.connected(None, if first { 0 } else { 1 }, 0);
        let mut out = Vec::new();
        relayed.push(b"not an event\n", "w", &mut out);
        relayed.said(b"Connection reset by peer\r\n");
        relayed.closed("w", &mut out, false, false);
    }

    #[test]
    fn a_lost_link_is_made_again_as_often_as_asked_with_doubling_pauses() {
        let mut relayed = spooled(2);
        lost(&mut relayed, true);
        let (delay, message) = relayed.plan_reconnect(false, false).unwrap();
        assert_eq!(delay, Duration::from_secs(1));
        assert!(
            message.contains("lost (Connection reset by peer)"),
            "{message}"
        );
        assert!(message.ends_with("(1 of 2)"), "{message}");
        let argv = relayed.reconnect_argv("w").unwrap();
        let line = argv.last().unwrap().to_string_lossy().into_owned();
        assert!(line.contains("'--from-byte=13'"), "{line}");
        lost(&mut relayed, false);
        assert_eq!(relayed.reconnect_argv("w"), None, "connected: none due");
        assert_eq!(
            relayed.plan_reconnect(false, false).unwrap().0,
            Duration::from_secs(2)
        );
        lost(&mut relayed, false);
        assert_eq!(
            relayed.plan_reconnect(false, false),
            None,
            "no attempts left"
        );
    }

    #[test]
    fn no_reconnection_while_it_is_being_ended_or_without_a_spool() {
        let mut relayed = spooled(3);
        lost(&mut relayed, true);
        assert_eq!(relayed.plan_reconnect(true, false), None);
        let mut plain = Relayed::new("h".into(), None, None, None);
        lost(&mut plain, true);
        assert_eq!(plain.plan_reconnect(false, false), None);
        assert!(plain.lost_message().ends_with(": Connection reset by peer"));
    }

    #[test]
    fn a_host_that_never_answered_is_said_as_such() {
        let mut relayed = spooled(3);
        relayed.connected(None, 0, 0);
        relayed.said(b"ssh: connect to host 127.0.0.1 port 1: Connection refused\r\n");
        relayed.closed("w", &mut Vec::new(), false, false);
        assert_eq!(
            relayed.plan_reconnect(false, false),
            None,
            "nothing to resume"
        );
        assert_eq!(
            relayed.lost_message(),
            "could not reach h: ssh: connect to host 127.0.0.1 port 1: Connection refused"
        );
    }
}
