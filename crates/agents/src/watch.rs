//! What an agent's annotations say about where its run stands: its
//! verdict so far, how many results it has written, and whether work it
//! started beside its turns (a background shell, a subagent) is still open.
//!
//! Claude Code writes an interim `result` as soon as a turn ends, even when
//! a background task it started is still running; the run is not over
//! until every task has ended and a later `result` has come. A run is
//! *settled* after a result written while no task was open: only then may
//! a supervisor expect the process to exit.

use std::collections::BTreeSet;

use serde_json::Value;

#[derive(Debug, Default, Clone)]
pub struct Watch {
    /// The last result's verdict.
    result: Option<bool>,
    /// Results written so far.
    results: u32,
    /// Background tasks open, as the agent lists them.
    background: BTreeSet<String>,
    /// Tasks open that are not in the background list (a subagent's own
    /// shell).
    foreground: BTreeSet<String>,
    /// The last result came while no task was open.
    settled: bool,
    /// The agent's session, from its init line: what a retry resumes.
    session: Option<String>,
    /// The last sign of a failure that may pass (an overloaded or
    /// rate-limited API, a 5xx, the network).
    trouble: Option<String>,
}

impl Watch {
    /// Take in one annotation.
    pub fn note(&mut self, note: &Value) {
        match note["kind"].as_str() {
            Some("init") => {
                if let Some(session) = note["session"].as_str().filter(|s| !s.is_empty()) {
                    self.session = Some(session.to_owned());
                }
            }
            Some("error") => {
                let message = note["message"].as_str().unwrap_or("");
                if is_transient(message) {
                    self.trouble = Some(message.to_owned());
                }
            }
            Some("result") => {
                self.result = note["ok"].as_bool().or(self.result);
                self.results += 1;
                self.settled = !self.busy();
                if self.result == Some(true) {
                    self.trouble = None;
                } else if let Some(text) = note["text"].as_str().filter(|t| is_transient(t)) {
                    self.trouble = Some(text.to_owned());
                }
            }
            Some("task") => {
                let Some(id) = id_of(&note["id"]) else {
                    return;
                };
                if note["state"] == "started" {
                    self.settled = false;
                    if note["background"] == true {
                        self.background.insert(id);
                    } else {
                        self.foreground.insert(id);
                    }
                } else {
                    self.background.remove(&id);
                    self.foreground.remove(&id);
                }
            }
            Some("tasks") => {
                let open: BTreeSet<String> = note["open"]
                    .as_array()
                    .map(|ids| ids.iter().filter_map(id_of).collect())
                    .unwrap_or_default();
                if !open.is_empty() {
                    self.settled = false;
                }
                self.foreground.retain(|id| !open.contains(id));
                self.background = open;
            }
            _ => {}
        }
    }

    /// The verdict of the last result, if one came.
    pub fn result(&self) -> Option<bool> {
        self.result
    }

    /// Results written so far (interim ones included).
    pub fn results(&self) -> u32 {
        self.results
    }

    /// A task the agent started is still open.
    pub fn busy(&self) -> bool {
        !self.background.is_empty() || !self.foreground.is_empty()
    }

    /// The last result came with no task open: the agent should exit now.
    pub fn settled(&self) -> bool {
        self.settled
    }

    /// The agent's session id, once it said it.
    pub fn session(&self) -> Option<&str> {
        self.session.as_deref()
    }

    /// Why the run failed, when that failure may pass on its own.
    pub fn trouble(&self) -> Option<&str> {
        self.trouble.as_deref()
    }

    /// The ids of the open tasks.
    pub fn open_tasks(&self) -> impl Iterator<Item = &str> {
        self.background
            .iter()
            .chain(self.foreground.iter())
            .map(String::as_str)
    }
}

/// Whether an agent's error message reports a failure that may pass by
/// itself: an overloaded or rate-limited model API, a server error (5xx),
/// the network. A task the model judged failed is not one.
pub fn is_transient(message: &str) -> bool {
    const SIGNS: &[&str] = &[
        "overloaded",
        "rate limit",
        "rate_limit",
        "ratelimit",
        "too many requests",
        "429",
        "500",
        "502",
        "503",
        "504",
        "529",
        "internal server error",
        "bad gateway",
        "service unavailable",
        "gateway timeout",
        "econnreset",
        "econnrefused",
        "etimedout",
        "enotfound",
        "socket hang up",
        "fetch failed",
        "network error",
        "connection error",
        "connection reset",
        "connection refused",
        "stream disconnected",
    ];
    let lower = message.to_ascii_lowercase();
    SIGNS.iter().any(|sign| lower.contains(sign))
}

fn id_of(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AgentKind, Parser};

    /// The watch's view after each result of a real transcript: (busy,
    /// settled) at each result line.
    fn at_results(file: &str) -> (Vec<(bool, bool)>, Watch) {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/fixtures/agents/claude-code")
            .join(file);
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut parser = Parser::new(AgentKind::ClaudeCode);
        let mut watch = Watch::default();
        let mut seen = Vec::new();
        for line in text.lines() {
            if let Some(note) = parser.line(line.as_bytes()) {
                watch.note(&note);
                if note["kind"] == "result" {
                    seen.push((watch.busy(), watch.settled()));
                }
            }
        }
        (seen, watch)
    }

    #[test]
    fn a_background_shell_keeps_the_first_result_interim() {
        // Recorded: the first result at 0.86 s with the shell running, the
        // last at 20.93 s after it ended.
        let (seen, watch) = at_results("sc-background-bash-2.1.331.jsonl");
        assert_eq!(seen, [(true, false), (false, true)]);
        assert_eq!(watch.result(), Some(true));
        assert_eq!(watch.results(), 2);
    }

    #[test]
    fn a_background_subagent_settles_at_its_last_result() {
        let (seen, watch) = at_results("sc-background-agent-2.1.331.jsonl");
        assert_eq!(seen.last(), Some(&(false, true)));
        assert!(!watch.busy());
    }

    #[test]
    fn what_may_pass_and_what_will_not() {
        for message in [
            "API Error: 529 {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\"}}",
            "Rate limit reached for requests",
            "stream disconnected before completion: error sending request",
            "Reconnecting... 2/5 (unexpected status 503 Service Unavailable)",
        ] {
            assert!(is_transient(message), "{message}");
        }
        for message in [
            "Not logged in · Please run /login",
            "Invalid API key",
            "max turns reached",
            "[API Error: Requested entity was not found.]",
        ] {
            assert!(!is_transient(message), "{message}");
        }
        let mut watch = Watch::default();
        watch.note(&serde_json::json!({"kind": "init", "session": "s-1", "model": "m"}));
        watch.note(&serde_json::json!({"kind": "result", "ok": false, "text": "API Error: 500 Internal Server Error"}));
        assert_eq!(watch.session(), Some("s-1"));
        assert!(watch.trouble().is_some());
        watch.note(&serde_json::json!({"kind": "result", "ok": true, "text": "done"}));
        assert_eq!(watch.trouble(), None);
    }

    #[test]
    fn a_task_started_after_a_result_unsettles_the_run() {
        let mut watch = Watch::default();
        watch.note(&serde_json::json!({"kind": "result", "ok": true}));
        assert!(watch.settled());
        watch.note(&serde_json::json!({"kind": "task", "id": "t1", "state": "started", "background": true}));
        assert!(!watch.settled() && watch.busy());
        watch.note(&serde_json::json!({"kind": "tasks", "open": []}));
        assert!(
            !watch.busy() && !watch.settled(),
            "settled only by a later result"
        );
        watch.note(&serde_json::json!({"kind": "result", "ok": false}));
        assert!(watch.settled());
        assert_eq!(watch.result(), Some(false), "the last verdict counts");
    }
}
