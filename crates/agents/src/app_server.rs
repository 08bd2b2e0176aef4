//! Codex's app-server (`codex app-server`, under `--ask`): its JSON-RPC
//! responses, notifications and requests for approval, read into the same
//! annotations as `codex exec --json`'s.

use serde_json::{Map, Value, json};

use crate::json::str_of;
use crate::parse::Parser;

impl Parser {
    /// Codex's app-server (`--ask`): JSON-RPC responses, notifications and
    /// its requests for approval, read into the same annotations as
    /// `codex exec --json`'s.
    pub(crate) fn codex_app_server(&mut self, o: &Map<String, Value>) -> Option<Value> {
        let params = o.get("params").cloned().unwrap_or(Value::Null);
        let Some(method) = str_of(o, "method") else {
            // The answer to `thread/start` (id 2): its thread is the session.
            return (o.get("id")? == 2).then(|| {
                json!({"kind": "init", "session": o["result"]["thread"]["id"], "model": Value::Null})
            });
        };
        let item = &params["item"];
        match (method, item["type"].as_str()) {
            ("item/agentMessage/delta", _) => {
                Some(json!({"kind": "text", "text": params["delta"], "delta": true}))
            }
            ("item/completed", Some("agentMessage")) => {
                Some(json!({"kind": "text", "text": item["text"], "delta": false}))
            }
            ("item/started", Some("commandExecution")) => Some(json!({
                "kind": "tool_call", "id": item["id"], "tool": "shell",
                "input": {"command": item["command"]},
            })),
            ("item/completed", Some("commandExecution")) => Some(json!({
                "kind": "tool_result", "id": item["id"],
                "is_error": item["status"] != "completed" || item["exitCode"].as_i64().is_some_and(|c| c != 0),
            })),
            ("thread/tokenUsage/updated", _) => {
                let total = &params["tokenUsage"]["total"];
                let n = |k: &str| total[k].as_u64().unwrap_or(0);
                self.input_tokens = n("inputTokens");
                self.output_tokens = n("outputTokens");
                self.cached_tokens = n("cachedInputTokens");
                None
            }
            ("turn/completed", _) => {
                self.turns += 1;
                let turn = &params["turn"];
                Some(json!({
                    "kind": "result",
                    "ok": turn["status"] == "completed",
                    "text": turn["error"]["message"],
                    "cost_usd": Value::Null,
                    "input_tokens": self.input_tokens,
                    "output_tokens": self.output_tokens,
                    "cached_input_tokens": self.cached_tokens,
                    "turns": self.turns,
                }))
            }
            ("item/commandExecution/requestApproval", _) => Some(json!({
                "kind": "ask", "id": o.get("id"), "tool": "shell",
                "input": {"command": params["command"], "cwd": params["cwd"]},
                "description": params["reason"],
            })),
            ("item/fileChange/requestApproval", _) => Some(json!({
                "kind": "ask", "id": o.get("id"), "tool": "apply_patch",
                "input": params, "description": params["reason"],
            })),
            _ => None,
        }
    }
}
