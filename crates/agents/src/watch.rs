//! What an agent's annotations say about where its run stands: its
//! verdict so far, how many results it has written, and whether work it
//! started beside its turns (a background shell, a subagent) is still open.
//!
//! Claude Code writes an interim `result` as soon as a turn ends, even when
//! a background task it started is still running; the run is not over
//! until every task has ended and a later `result` has come. A run is
//! *settled* after a result written while no task was open: only then may
//! a supervisor expect the process to exit.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::prices::{Prices, Tokens};

/// What a run has spent so far, as sc counts it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Spend {
    /// USD: the CLI's own figure where it gives one, plus the price of the
    /// tokens since; None when the model has no known price.
    pub usd: Option<f64>,
    pub tokens: u64,
}

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
    /// The model, from the init line.
    model: Option<String>,
    /// Claude Code: each message's usage since the last result, by message
    /// id (its lines repeat it).
    messages: BTreeMap<String, Tokens>,
    /// The last result's (or aider's usage line's) own cost, cumulative.
    reported_usd: Option<f64>,
    /// The last result's tokens, cumulative for the run.
    result_tokens: Tokens,
    /// Decisions asked for and not yet taken by the worker.
    asks: Vec<sc_capture::agent::AgentAsk>,
    /// Asks withdrawn and not yet taken by the worker.
    withdrawn: Vec<String>,
}

impl Watch {
    /// Take in one annotation (and those it carries in `also`).
    pub fn note(&mut self, note: &Value) {
        self.one(note);
        if let Some(more) = note["also"].as_array() {
            for note in more {
                self.one(note);
            }
        }
    }

    fn one(&mut self, note: &Value) {
        if let (Some(id), Some(usage)) = (note["usage"]["message"].as_str(), note.get("usage")) {
            self.messages.insert(id.to_owned(), tokens_of(usage, false));
        }
        match note["kind"].as_str() {
            Some("init") => {
                if let Some(session) = note["session"].as_str().filter(|s| !s.is_empty()) {
                    self.session = Some(session.to_owned());
                }
                if let Some(model) = note["model"].as_str().filter(|m| !m.is_empty()) {
                    self.model = Some(model.to_owned());
                }
            }
            // aider's running totals (Claude's per-message usage, nested
            // under `usage`, was taken above).
            Some("usage") if note.get("usage").is_none() => {
                if let Some(usd) = note["cost_usd"].as_f64() {
                    self.reported_usd = Some(usd);
                }
                self.result_tokens = tokens_of(note, true);
            }
            Some("ask") => {
                if let (Some(id), Some(tool)) = (id_of(&note["id"]), note["tool"].as_str()) {
                    self.asks.push(sc_capture::agent::AgentAsk {
                        id,
                        tool: tool.to_owned(),
                        input: note["input"].clone(),
                        reason: note["description"].as_str().map(str::to_owned),
                    });
                }
            }
            Some("ask_withdrawn") => {
                if let Some(id) = id_of(&note["id"]) {
                    self.withdrawn.push(id);
                }
            }
            Some("error") => {
                let message = note["message"].as_str().unwrap_or("");
                if is_transient(message) {
                    self.trouble = Some(message.to_owned());
                }
            }
            Some("result") => {
                // (Copilot says its session only here.)
                if let Some(session) = note["session"].as_str().filter(|s| !s.is_empty()) {
                    self.session = Some(session.to_owned());
                }
                // A result's figures are cumulative: they cover every
                // message before it.
                if let Some(usd) = note["cost_usd"].as_f64() {
                    self.reported_usd = Some(usd);
                }
                self.result_tokens = tokens_of(note, true);
                self.messages.clear();
                self.result = note["ok"].as_bool().or(self.result);
                self.results += 1;
                self.settled = !self.busy();
                let text = note["text"].as_str().unwrap_or("");
                let transient = match note.get("api_status") {
                    // The CLI says how its API answered: that alone counts
                    // (the text may be the model's own words).
                    Some(status) => status.as_u64().is_some_and(is_transient_status),
                    // Otherwise the text is the CLI's error message.
                    None => is_transient(text),
                };
                if self.result == Some(true) {
                    self.trouble = None;
                } else if transient {
                    self.trouble = Some(if text.is_empty() {
                        format!("API status {}", note["api_status"])
                    } else {
                        text.to_owned()
                    });
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

    /// The model the agent said it uses.
    pub fn model(&self) -> Option<&str> {
        self.model.as_deref()
    }

    /// What the run has spent: the CLI's own cost at its last result plus
    /// the price of the tokens since (Claude Code), or the price of all its
    /// tokens (Codex and Gemini report no cost). `model` stands in when the
    /// agent did not name its own.
    pub fn spend(&self, prices: &Prices, model: Option<&str>) -> Spend {
        let mut since = Tokens::default();
        for tokens in self.messages.values() {
            since.add(*tokens);
        }
        let model = self.model.as_deref().or(model);
        let price = |tokens: Tokens| match model {
            _ if tokens.total() == 0 => Some(0.0),
            Some(model) => prices.cost(model, tokens),
            None => None,
        };
        let usd = match self.reported_usd {
            Some(reported) => price(since).map(|more| reported + more),
            None => {
                let mut all = self.result_tokens;
                all.add(since);
                price(all)
            }
        };
        Spend {
            usd,
            tokens: self.result_tokens.total() + since.total(),
        }
    }

    /// Decisions asked for since the last call.
    pub fn take_asks(&mut self) -> Vec<sc_capture::agent::AgentAsk> {
        std::mem::take(&mut self.asks)
    }

    /// Asks withdrawn since the last call.
    pub fn take_withdrawn(&mut self) -> Vec<String> {
        std::mem::take(&mut self.withdrawn)
    }

    /// The ids of the open tasks.
    pub fn open_tasks(&self) -> impl Iterator<Item = &str> {
        self.background
            .iter()
            .chain(self.foreground.iter())
            .map(String::as_str)
    }
}

/// An HTTP status of a model API that may pass by itself: timed out, too
/// many requests, a server error or overload.
pub fn is_transient_status(status: u64) -> bool {
    matches!(status, 408 | 429 | 500..=599)
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
    SIGNS.iter().any(|sign| {
        // A status code counts as a word of its own, not inside a number.
        lower.match_indices(sign).any(|(at, _)| {
            let digits = sign.bytes().all(|b| b.is_ascii_digit());
            let bytes = lower.as_bytes();
            let before = at.checked_sub(1).map(|i| bytes[i]);
            let after = bytes.get(at + sign.len()).copied();
            !digits
                || !(before.is_some_and(|b| b.is_ascii_digit())
                    || after.is_some_and(|b| b.is_ascii_digit()))
        })
    })
}

/// Tokens of an annotation's usage figures. `cached_is_part`: the input
/// count includes the cached part (Codex), rather than excluding it
/// (Claude).
fn tokens_of(usage: &Value, cached_is_part: bool) -> Tokens {
    let n = |key: &str| usage[key].as_u64().unwrap_or(0);
    let cached = n("cached_input_tokens");
    Tokens {
        input: if cached_is_part {
            n("input_tokens").saturating_sub(cached)
        } else {
            n("input_tokens")
        },
        output: n("output_tokens"),
        cache_read: n("cache_read_input_tokens") + cached,
        cache_write: n("cache_creation_input_tokens"),
    }
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
            .join("../../tests/fixtures/agents/claude-code")
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
    fn spend_counts_messages_once_and_trusts_the_reported_cost() {
        let prices = Prices::built_in();
        let mut watch = Watch::default();
        watch.note(&serde_json::json!({"kind": "init", "session": "s", "model": "claude-sonnet-4-5-20250929"}));
        let message = serde_json::json!({"kind": "text", "text": "x", "delta": false,
            "usage": {"message": "m1", "input_tokens": 1_000_000, "output_tokens": 0}});
        // Claude repeats a message's usage on each of its lines.
        watch.note(&message);
        watch.note(&message);
        let spend = watch.spend(&prices, None);
        assert!((spend.usd.unwrap() - 3.0).abs() < 1e-9, "{spend:?}");
        assert_eq!(spend.tokens, 1_000_000);
        // The result's own cost replaces the estimate, and later messages add to it.
        watch.note(&serde_json::json!({"kind": "result", "ok": true, "cost_usd": 2.5, "input_tokens": 1_000_000, "output_tokens": 0}));
        watch.note(&serde_json::json!({"kind": "usage",
            "usage": {"message": "m2", "input_tokens": 0, "output_tokens": 100_000}}));
        let spend = watch.spend(&prices, None);
        assert!((spend.usd.unwrap() - 4.0).abs() < 1e-9, "{spend:?}");
        // A model without a price: tokens are still counted.
        let mut codex = Watch::default();
        codex.note(
            &serde_json::json!({"kind": "result", "ok": true, "cost_usd": null,
            "input_tokens": 1000, "cached_input_tokens": 400, "output_tokens": 10}),
        );
        let spend = codex.spend(&prices, Some("unknown-model"));
        assert_eq!((spend.usd, spend.tokens), (None, 1010));
        let priced = codex.spend(&prices, Some("gpt-5-codex"));
        assert!(priced.usd.is_some());
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
            "request 15003 failed validation",
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
        // A structured status is believed over the words.
        let mut watch = Watch::default();
        watch.note(&serde_json::json!({"kind": "result", "ok": false, "api_status": null, "text": "500 tests pass, 2 fail"}));
        assert_eq!(watch.trouble(), None);
        watch.note(
            &serde_json::json!({"kind": "result", "ok": false, "api_status": 529, "text": ""}),
        );
        assert_eq!(watch.trouble(), Some("API status 529"));
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
