//! The Agent Client Protocol (ACP: JSON-RPC 2.0 on stdio), as sc speaks it
//! as the client under `--ask` (`gemini --acp`): its responses,
//! `session/update` notifications and `session/request_permission`
//! requests read into the same annotations as the agent's own headless
//! output, and a decision answered with the option of the right kind.

use serde_json::{Map, Value, json};

use crate::parse::{Parser, str_of};

impl Parser {
    pub(crate) fn acp(&mut self, o: &Map<String, Value>) -> Option<Value> {
        let params = o.get("params").cloned().unwrap_or(Value::Null);
        let Some(method) = str_of(o, "method") else {
            let result = o.get("result")?;
            return match o.get("id")?.as_u64()? {
                // `session/new`: its session.
                2 => Some(
                    json!({"kind": "init", "session": result["sessionId"], "model": Value::Null}),
                ),
                // `session/prompt` ended: the verdict, and the tokens where
                // the agent gives them (standard `usage`, or Gemini's
                // `_meta.quota.token_count`).
                3 => {
                    self.turns += 1;
                    let tokens = result["_meta"]["quota"]["token_count"].clone();
                    let usage = result["usage"].clone();
                    let n =
                        |key: &str, alt: &str| tokens[key].as_u64().or_else(|| usage[alt].as_u64());
                    Some(json!({
                        "kind": "result",
                        "ok": result["stopReason"] == "end_turn",
                        "text": Value::Null,
                        "cost_usd": Value::Null,
                        "input_tokens": n("input_tokens", "inputTokens"),
                        "output_tokens": n("output_tokens", "outputTokens"),
                        "turns": self.turns,
                    }))
                }
                _ => None,
            };
        };
        match method {
            "session/update" => {
                let update = &params["update"];
                match update["sessionUpdate"].as_str()? {
                    "agent_message_chunk" => Some(
                        json!({"kind": "text", "text": update["content"]["text"], "delta": true}),
                    ),
                    "tool_call" => Some(json!({
                        "kind": "tool_call", "id": update["toolCallId"],
                        "tool": update["kind"].as_str().or(update["title"].as_str()).unwrap_or("tool"),
                        "input": {"title": update["title"]},
                    })),
                    "tool_call_update"
                        if matches!(update["status"].as_str(), Some("completed" | "failed")) =>
                    {
                        Some(json!({"kind": "tool_result", "id": update["toolCallId"],
                            "is_error": update["status"] == "failed"}))
                    }
                    _ => None,
                }
            }
            "session/request_permission" => {
                let call = &params["toolCall"];
                Some(json!({
                    "kind": "ask", "id": o.get("id"),
                    "tool": call["kind"].as_str().or(call["title"].as_str()).unwrap_or("tool"),
                    "input": {"title": call["title"], "toolCall": call, "options": params["options"]},
                    "description": call["title"],
                }))
            }
            _ => None,
        }
    }
}

/// An ACP request of the agent's that sc does not serve (`fs/…`,
/// `terminal/…`, an agent's own): answered with a JSON-RPC error, so that
/// the agent goes on instead of waiting for ever.
pub fn unknown_request(kind: crate::AgentKind, line: &[u8]) -> Option<Vec<u8>> {
    if kind != crate::AgentKind::Gemini {
        return None;
    }
    let value: Value = serde_json::from_slice(line).ok()?;
    let method = value.get("method")?.as_str()?;
    let id = value.get("id")?;
    if value.get("jsonrpc").is_none() || method == "session/request_permission" {
        return None;
    }
    let error = json!({"jsonrpc": "2.0", "id": id, "error": {
        "code": -32601, "message": format!("sc does not serve {method}")}});
    Some(format!("{error}\n").into_bytes())
}

/// The answer to a `session/request_permission`: the option of the kind
/// the decision means (`allow_once`, `reject_once`; option ids differ
/// from agent to agent), or `cancelled` when it offers none.
pub fn answer_line(ask: &sc_capture::agent::AgentAsk, allow: bool) -> Vec<u8> {
    let want = if allow { "allow_once" } else { "reject_once" };
    let options = ask.input["options"].as_array().cloned().unwrap_or_default();
    let chosen = options
        .iter()
        .find(|o| o["kind"] == want)
        .or_else(|| {
            let prefix = if allow { "allow" } else { "reject" };
            options
                .iter()
                .find(|o| o["kind"].as_str().is_some_and(|k| k.starts_with(prefix)))
        })
        .and_then(|o| o["optionId"].as_str());
    let outcome = match chosen {
        Some(id) => json!({"outcome": "selected", "optionId": id}),
        None => json!({"outcome": "cancelled"}),
    };
    let id: Value = ask
        .id
        .parse::<u64>()
        .map_or_else(|_| ask.id.clone().into(), Into::into);
    format!(
        "{}\n",
        json!({"jsonrpc": "2.0", "id": id, "result": {"outcome": outcome}})
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_sc_does_not_serve_is_answered_with_an_error() {
        let gemini = crate::AgentKind::Gemini;
        let reply = unknown_request(
            gemini,
            br#"{"jsonrpc":"2.0","id":7,"method":"fs/read_text_file","params":{"path":"/etc/passwd"}}"#,
        )
        .unwrap();
        let reply: Value = serde_json::from_slice(&reply).unwrap();
        assert_eq!(reply["id"], 7);
        assert_eq!(reply["error"]["code"], -32601);
        // Permissions are asks; notifications (no id) and responses are
        // not requests.
        for line in [
            br#"{"jsonrpc":"2.0","id":0,"method":"session/request_permission","params":{}}"#
                .as_slice(),
            br#"{"jsonrpc":"2.0","method":"session/update","params":{}}"#,
            br#"{"jsonrpc":"2.0","id":2,"result":{"sessionId":"s"}}"#,
        ] {
            assert_eq!(unknown_request(gemini, line), None);
        }
        assert_eq!(
            unknown_request(
                crate::AgentKind::Codex,
                br#"{"jsonrpc":"2.0","id":1,"method":"x"}"#
            ),
            None
        );
    }

    #[test]
    fn a_permission_is_answered_with_the_option_of_its_kind() {
        let ask = sc_capture::agent::AgentAsk {
            id: "0".into(),
            tool: "execute".into(),
            input: json!({"options": [
                {"optionId": "proceed_always", "kind": "allow_always"},
                {"optionId": "proceed_once", "kind": "allow_once"},
                {"optionId": "cancel", "kind": "reject_once"},
            ]}),
            reason: None,
        };
        let allow: Value = serde_json::from_slice(&answer_line(&ask, true)).unwrap();
        assert_eq!(allow["id"], 0);
        assert_eq!(allow["result"]["outcome"]["optionId"], "proceed_once");
        let deny: Value = serde_json::from_slice(&answer_line(&ask, false)).unwrap();
        assert_eq!(deny["result"]["outcome"]["optionId"], "cancel");
        let bare = sc_capture::agent::AgentAsk {
            input: json!({}),
            ..ask
        };
        let none: Value = serde_json::from_slice(&answer_line(&bare, true)).unwrap();
        assert_eq!(none["result"]["outcome"]["outcome"], "cancelled");
    }
}
