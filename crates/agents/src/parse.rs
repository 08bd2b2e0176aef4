//! Each agent CLI's JSON lines, read into the normalized `agent` annotation
//! of the event contract:
//!
//! - `{"kind":"init","session":..,"model":..}`
//! - `{"kind":"text","text":..,"delta":bool}`
//! - `{"kind":"tool_call","id":..,"tool":..,"input":{..}}`
//! - `{"kind":"tool_result","id":..,"is_error":bool}`
//! - `{"kind":"result","ok":bool,"text":..,"cost_usd":..,"input_tokens":..,"output_tokens":..,"turns":..}`
//! - `{"kind":"error","message":..}`
//! - `{"kind":"task","id":..,"state":"started"|"completed"|..,"background":bool}`: work the agent
//!   runs beside its turns (Claude Code's background shells and subagents) started or ended
//! - `{"kind":"tasks","open":[ids]}`: the agent's list of open background tasks
//! - `{"kind":"ask","id":..,"tool":..,"input":{..},"description":..}`: it asks for a decision
//!   (Claude Code's `can_use_tool` control request, under `--ask`)
//! - `{"kind":"ask_withdrawn","id":..}`: it no longer waits for that decision
//!
//! A line this parser does not know gets no annotation: it stays plain
//! output, never an error.

use serde_json::{Map, Value, json};

use crate::AgentKind;
use crate::json::str_of;

/// Reads one agent's lines, keeping what a CLI spreads over several
/// (Codex reports usage per turn; the result wants the totals).
#[derive(Debug, Clone)]
pub struct Parser {
    kind: AgentKind,
    /// sc as the client of an agent driven over ACP.
    pub(crate) acp: crate::acp::Client,
    pub(crate) turns: u64,
    pub(crate) input_tokens: u64,
    pub(crate) output_tokens: u64,
    pub(crate) cached_tokens: u64,
    /// OpenCode's cost so far (it says each step's).
    pub(crate) opencode_usd: Option<f64>,
}

impl Parser {
    pub fn new(kind: AgentKind) -> Parser {
        Parser {
            kind,
            acp: crate::acp::Client::default(),
            turns: 0,
            input_tokens: 0,
            output_tokens: 0,
            cached_tokens: 0,
            opencode_usd: None,
        }
    }

    pub fn kind(&self) -> AgentKind {
        self.kind
    }

    /// The annotation for one complete line (with or without its `\n`).
    pub fn line(&mut self, line: &[u8]) -> Option<Value> {
        if self.kind == AgentKind::Aider {
            return aider(std::str::from_utf8(line).ok()?);
        }
        let text = std::str::from_utf8(line).ok()?.trim();
        if !text.starts_with('{') {
            return None;
        }
        let value: Value = serde_json::from_str(text).ok()?;
        let object = value.as_object()?;
        // ACP is JSON-RPC 2.0, which says so on every line (Codex's
        // app-server does not).
        if object.contains_key("jsonrpc") && self.acp.is_open() {
            return self.acp.message(object);
        }
        match self.kind {
            AgentKind::ClaudeCode | AgentKind::QwenCode => claude(object),
            AgentKind::Codex => self.codex(object),
            AgentKind::Gemini => gemini(object),
            AgentKind::Copilot => crate::copilot::line(object),
            AgentKind::OpenCode => self.opencode(object),
            AgentKind::Acp | AgentKind::Aider => None,
        }
    }

    fn codex(&mut self, o: &Map<String, Value>) -> Option<Value> {
        if o.contains_key("method") || (o.contains_key("id") && o.contains_key("result")) {
            return self.codex_app_server(o);
        }
        match str_of(o, "type")? {
            "thread.started" => {
                Some(json!({"kind": "init", "session": o.get("thread_id"), "model": Value::Null}))
            }
            "item.started" | "item.completed" => codex_item(
                str_of(o, "type")? == "item.completed",
                o.get("item")?.as_object()?,
            ),
            "turn.completed" => {
                // Usage comes per turn: the result carries the sum so far.
                let usage = o.get("usage");
                let n = |k: &str| {
                    usage
                        .and_then(|u| u.get(k))
                        .and_then(Value::as_u64)
                        .unwrap_or(0)
                };
                self.turns += 1;
                self.input_tokens += n("input_tokens");
                self.output_tokens += n("output_tokens");
                self.cached_tokens += n("cached_input_tokens");
                Some(json!({
                    "kind": "result",
                    "ok": true,
                    "text": Value::Null,
                    "cost_usd": Value::Null,
                    "input_tokens": self.input_tokens,
                    "output_tokens": self.output_tokens,
                    "cached_input_tokens": self.cached_tokens,
                    "turns": self.turns,
                }))
            }
            "turn.failed" => {
                self.turns += 1;
                let message = o
                    .get("error")
                    .and_then(|e| e.get("message"))
                    .and_then(Value::as_str);
                Some(json!({
                    "kind": "result",
                    "ok": false,
                    "text": message,
                    "cost_usd": Value::Null,
                    "input_tokens": self.input_tokens,
                    "output_tokens": self.output_tokens,
                    "turns": self.turns,
                }))
            }
            "error" => Some(
                json!({"kind": "error", "message": o.get("message").and_then(Value::as_str).unwrap_or("")}),
            ),
            _ => None,
        }
    }
}

/// The line that answers `ask` on a conversing agent's stdin: Claude
/// Code's `control_response`. An allow passes the input on unchanged; an
/// option chosen for a question (AskUserQuestion) passes it on with the
/// answer (`answers`: the question → the option's label).
pub fn answer_line(
    kind: AgentKind,
    ask: &sc_capture::agent::AgentAsk,
    decision: sc_capture::agent::Decision<'_>,
    message: Option<&str>,
) -> Vec<u8> {
    use sc_capture::agent::Decision;
    if kind == AgentKind::Codex {
        // JSON-RPC: the request's own id (a number), and its decision.
        let id: Value = ask
            .id
            .parse::<u64>()
            .map_or_else(|_| ask.id.clone().into(), Into::into);
        let decision = match decision {
            Decision::Allow => "accept",
            Decision::Deny | Decision::Choice(_) => "decline",
        };
        return format!("{}\n", json!({"id": id, "result": {"decision": decision}})).into_bytes();
    }
    if !matches!(kind, AgentKind::ClaudeCode | AgentKind::QwenCode) {
        return Vec::new();
    }
    let response = match decision {
        Decision::Allow => json!({"behavior": "allow", "updatedInput": ask.input}),
        Decision::Deny => json!({"behavior": "deny", "message": message.unwrap_or("denied")}),
        Decision::Choice(label) => {
            let mut input = ask.input.clone();
            let question = ask.input["questions"][0]["question"].as_str().unwrap_or("");
            if let Some(object) = input.as_object_mut() {
                object.insert("answers".into(), json!({ question: label }));
            }
            json!({"behavior": "allow", "updatedInput": input})
        }
    };
    let line = json!({
        "type": "control_response",
        "response": {"subtype": "success", "request_id": ask.id, "response": response},
    });
    format!("{line}\n").into_bytes()
}

fn claude(o: &Map<String, Value>) -> Option<Value> {
    match str_of(o, "type")? {
        // Under --ask: a tool outside its grant, or a question to the user.
        "control_request" => {
            let request = o.get("request")?.as_object()?;
            (str_of(request, "subtype")? == "can_use_tool").then(|| {
                json!({
                    "kind": "ask",
                    "id": o.get("request_id"),
                    "tool": request.get("tool_name"),
                    "input": request.get("input").cloned().unwrap_or_else(|| json!({})),
                    "description": request.get("description").or_else(|| request.get("decision_reason")),
                })
            })
        }
        "control_cancel_request" => {
            Some(json!({"kind": "ask_withdrawn", "id": o.get("request_id")}))
        }
        "system" => match str_of(o, "subtype")? {
            "init" => Some(json!({
                "kind": "init",
                "session": o.get("session_id"),
                "model": o.get("model"),
            })),
            // Work the agent runs beside its turns (a background shell, a
            // subagent): it is not finished while one is open, whatever
            // `result` it has written meanwhile.
            "task_started" => Some(json!({
                "kind": "task",
                "id": o.get("task_id"),
                "state": "started",
                "background": o.get("is_backgrounded").and_then(Value::as_bool).unwrap_or(false),
                "description": o.get("description"),
            })),
            "task_notification" => Some(json!({
                "kind": "task",
                "id": o.get("task_id"),
                "state": o.get("status").cloned().unwrap_or_else(|| json!("ended")),
            })),
            "background_tasks_changed" => Some(json!({
                "kind": "tasks",
                "open": o
                    .get("tasks")
                    .and_then(Value::as_array)
                    .map(|tasks| tasks.iter().filter_map(|t| t.get("task_id").cloned()).collect::<Vec<_>>())
                    .unwrap_or_default(),
            })),
            _ => None,
        },
        "stream_event" => {
            let event = o.get("event")?.as_object()?;
            if str_of(event, "type")? != "content_block_delta" {
                return None;
            }
            let delta = event.get("delta")?.as_object()?;
            match str_of(delta, "type")? {
                "text_delta" => {
                    Some(json!({"kind": "text", "text": delta.get("text"), "delta": true}))
                }
                _ => None, // thinking, signatures, tool input: the whole message follows
            }
        }
        "assistant" => {
            let message = o.get("message")?;
            let content = message.get("content")?.as_array()?;
            let note = several(content.iter().filter_map(|block| {
                let block = block.as_object()?;
                match str_of(block, "type")? {
                    "text" => {
                        Some(json!({"kind": "text", "text": block.get("text"), "delta": false}))
                    }
                    "tool_use" => Some(json!({
                        "kind": "tool_call",
                        "id": block.get("id"),
                        "tool": block.get("name"),
                        "input": block.get("input").cloned().unwrap_or_else(|| json!({})),
                    })),
                    _ => None,
                }
            }));
            // Claude repeats a message's usage on each of its blocks' lines:
            // the message id lets a reader count each message once.
            let usage = message.get("usage").map(|u| {
                json!({
                    "message": message.get("id"),
                    "input_tokens": u.get("input_tokens"),
                    "output_tokens": u.get("output_tokens"),
                    "cache_read_input_tokens": u.get("cache_read_input_tokens"),
                    "cache_creation_input_tokens": u.get("cache_creation_input_tokens"),
                })
            });
            match (note, usage) {
                (Some(mut note), Some(usage)) => {
                    note["usage"] = usage;
                    Some(note)
                }
                (None, Some(usage)) => Some(json!({"kind": "usage", "usage": usage})),
                (note, None) => note,
            }
        }
        "user" => {
            let content = o.get("message")?.get("content")?.as_array()?;
            several(content.iter().filter_map(|block| {
                let block = block.as_object()?;
                (str_of(block, "type")? == "tool_result").then(|| {
                    json!({
                        "kind": "tool_result",
                        "id": block.get("tool_use_id"),
                        "is_error": block.get("is_error").and_then(Value::as_bool).unwrap_or(false),
                    })
                })
            }))
        }
        "result" => {
            let usage = o.get("usage");
            let tokens = |k: &str| usage.and_then(|u| u.get(k)).cloned().unwrap_or(Value::Null);
            let is_error = o.get("is_error").and_then(Value::as_bool).unwrap_or(false);
            Some(json!({
                "kind": "result",
                "ok": !is_error && str_of(o, "subtype").is_none_or(|s| s == "success"),
                "text": o.get("result"),
                // The model API's HTTP status when it failed (null when it
                // did not): what tells an outage, not the text, which may
                // be the model's own words.
                "api_status": o.get("api_error_status").cloned().unwrap_or(Value::Null),
                // Cumulative for the session: the last result is the total.
                "cost_usd": o.get("total_cost_usd"),
                "input_tokens": tokens("input_tokens"),
                "output_tokens": tokens("output_tokens"),
                "cache_read_input_tokens": tokens("cache_read_input_tokens"),
                "cache_creation_input_tokens": tokens("cache_creation_input_tokens"),
                "turns": o.get("num_turns"),
            }))
        }
        "error" => Some(json!({"kind": "error", "message": error_message(o)})),
        _ => None,
    }
}

/// One annotation per line: the first thing the line says, and the rest,
/// when it says more, in `also` (an addition to the contract's shape).
fn several(mut items: impl Iterator<Item = Value>) -> Option<Value> {
    let mut first = items.next()?;
    let rest: Vec<Value> = items.collect();
    if !rest.is_empty()
        && let Some(object) = first.as_object_mut()
    {
        object.insert("also".into(), Value::Array(rest));
    }
    Some(first)
}

fn error_message(o: &Map<String, Value>) -> String {
    match o.get("error").or_else(|| o.get("message")) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Object(e)) => e
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned(),
        _ => String::new(),
    }
}

fn codex_item(completed: bool, item: &Map<String, Value>) -> Option<Value> {
    let id = item.get("id");
    let kind = str_of(item, "type")?;
    match (kind, completed) {
        ("agent_message", true) => {
            Some(json!({"kind": "text", "text": item.get("text"), "delta": false}))
        }
        ("reasoning", true) => Some(
            json!({"kind": "text", "text": item.get("text"), "delta": false, "thinking": true}),
        ),
        ("command_execution" | "file_change" | "mcp_tool_call" | "web_search", false) => {
            Some(json!({
                "kind": "tool_call",
                "id": id,
                "tool": codex_tool(kind, item),
                "input": codex_input(kind, item),
            }))
        }
        ("command_execution" | "file_change" | "mcp_tool_call" | "web_search", true) => {
            let failed = str_of(item, "status") == Some("failed")
                || item
                    .get("exit_code")
                    .and_then(Value::as_i64)
                    .is_some_and(|c| c != 0)
                || item.get("error").is_some_and(|e| !e.is_null());
            Some(json!({
                "kind": "tool_result",
                "id": id,
                "is_error": failed,
                "tool": codex_tool(kind, item),
            }))
        }
        ("error", _) => Some(json!({"kind": "error", "message": item.get("message")})),
        _ => None,
    }
}

fn codex_tool(kind: &str, item: &Map<String, Value>) -> Value {
    match kind {
        "mcp_tool_call" => match (str_of(item, "server"), str_of(item, "tool")) {
            (Some(server), Some(tool)) => json!(format!("{server}.{tool}")),
            _ => json!("mcp_tool_call"),
        },
        other => json!(other),
    }
}

fn codex_input(kind: &str, item: &Map<String, Value>) -> Value {
    let pick = |keys: &[&str]| {
        let mut input = Map::new();
        for key in keys {
            if let Some(v) = item.get(*key) {
                input.insert((*key).to_owned(), v.clone());
            }
        }
        Value::Object(input)
    };
    match kind {
        "command_execution" => pick(&["command"]),
        "file_change" => pick(&["changes"]),
        "web_search" => pick(&["query"]),
        _ => pick(&["arguments"]),
    }
}

fn gemini(o: &Map<String, Value>) -> Option<Value> {
    match str_of(o, "type")? {
        "init" => {
            Some(json!({"kind": "init", "session": o.get("session_id"), "model": o.get("model")}))
        }
        "message" if str_of(o, "role") == Some("assistant") => Some(json!({
            "kind": "text",
            "text": o.get("content"),
            "delta": o.get("delta").and_then(Value::as_bool).unwrap_or(false),
        })),
        // Gemini's tool ids are opaque strings: they are passed as they are.
        "tool_use" => Some(json!({
            "kind": "tool_call",
            "id": o.get("tool_id"),
            "tool": o.get("tool_name"),
            "input": o.get("parameters").cloned().unwrap_or_else(|| json!({})),
        })),
        "tool_result" => Some(json!({
            "kind": "tool_result",
            "id": o.get("tool_id"),
            "is_error": str_of(o, "status") != Some("success"),
        })),
        "result" => {
            let stats = o.get("stats");
            let n = |k: &str| stats.and_then(|s| s.get(k)).cloned().unwrap_or(Value::Null);
            let ok = str_of(o, "status") == Some("success");
            let text = (!ok).then(|| error_message(o)).filter(|m| !m.is_empty());
            Some(json!({
                "kind": "result",
                "ok": ok,
                "text": text,
                "cost_usd": Value::Null,
                "input_tokens": n("input_tokens"),
                "output_tokens": n("output_tokens"),
                "turns": Value::Null,
            }))
        }
        "error" => Some(json!({"kind": "error", "message": error_message(o)})),
        _ => None,
    }
}

/// aider prints plain text; its `Tokens: 2.1k sent, 150 received. Cost:
/// $0.01 message, $0.05 session.` lines carry the running cost.
fn aider(line: &str) -> Option<Value> {
    let line = line.trim();
    let rest = line.strip_prefix("Tokens:")?;
    let (tokens, cost) = rest.split_once("Cost:").unwrap_or((rest, ""));
    let count = |word: &str| {
        tokens
            .split(',')
            .find(|part| part.contains(word))
            .and_then(|part| {
                let number = part.split_whitespace().next()?;
                let (digits, scale) = match number.strip_suffix('k') {
                    Some(d) => (d, 1000.0),
                    None => match number.strip_suffix('M') {
                        Some(d) => (d, 1e6),
                        None => (number, 1.0),
                    },
                };
                digits
                    .replace(',', "")
                    .parse::<f64>()
                    .ok()
                    .map(|n| (n * scale).round() as u64)
            })
    };
    let session = cost
        .split(',')
        .find(|part| part.contains("session"))
        .and_then(|part| {
            part.trim()
                .trim_start_matches('$')
                .split_whitespace()
                .next()?
                .parse::<f64>()
                .ok()
        });
    Some(json!({
        "kind": "usage",
        "input_tokens": count("sent"),
        "output_tokens": count("received"),
        "cost_usd": session,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claudes_control_requests_are_asks_and_answers_are_its_control_responses() {
        let mut parser = Parser::new(AgentKind::ClaudeCode);
        let request = br#"{"type":"control_request","request_id":"r-7","request":{"subtype":"can_use_tool","tool_name":"Bash","input":{"command":"touch x"},"tool_use_id":"t1","description":"Create x"}}"#;
        let note = parser.line(request).unwrap();
        assert_eq!(note["kind"], "ask");
        assert_eq!(note["id"], "r-7");
        assert_eq!(note["tool"], "Bash");
        assert_eq!(note["input"]["command"], "touch x");
        assert_eq!(note["description"], "Create x");
        // Other control requests (an interrupt's) are no asks.
        assert_eq!(
            parser.line(br#"{"type":"control_request","request_id":"r-8","request":{"subtype":"interrupt"}}"#),
            None
        );
        let cancel = parser
            .line(br#"{"type":"control_cancel_request","request_id":"r-7"}"#)
            .unwrap();
        assert_eq!(cancel["kind"], "ask_withdrawn");
        let ask = sc_capture::agent::AgentAsk {
            id: "r-7".into(),
            tool: "Bash".into(),
            input: json!({"command": "touch x"}),
            reason: None,
        };
        use sc_capture::agent::Decision;
        let allow: Value = serde_json::from_slice(&answer_line(
            AgentKind::ClaudeCode,
            &ask,
            Decision::Allow,
            None,
        ))
        .unwrap();
        assert_eq!(allow["type"], "control_response");
        assert_eq!(allow["response"]["request_id"], "r-7");
        assert_eq!(allow["response"]["response"]["behavior"], "allow");
        assert_eq!(
            allow["response"]["response"]["updatedInput"]["command"],
            "touch x"
        );
        let deny: Value = serde_json::from_slice(&answer_line(
            AgentKind::ClaudeCode,
            &ask,
            Decision::Deny,
            Some("no \"x\"\n"),
        ))
        .unwrap();
        assert_eq!(deny["response"]["response"]["behavior"], "deny");
        assert_eq!(deny["response"]["response"]["message"], "no \"x\"\n");
        assert!(answer_line(AgentKind::Aider, &ask, Decision::Allow, None).is_empty());
        let question = sc_capture::agent::AgentAsk {
            id: "r-9".into(),
            tool: "AskUserQuestion".into(),
            input: json!({"questions": [{"question": "Which?", "options": [{"label": "a"}]}]}),
            reason: None,
        };
        let chosen: Value = serde_json::from_slice(&answer_line(
            AgentKind::ClaudeCode,
            &question,
            Decision::Choice("a"),
            None,
        ))
        .unwrap();
        let response = &chosen["response"]["response"];
        assert_eq!(response["behavior"], "allow");
        assert_eq!(response["updatedInput"]["answers"]["Which?"], "a");
        assert_eq!(
            response["updatedInput"]["questions"][0]["options"][0]["label"],
            "a"
        );
    }
}
