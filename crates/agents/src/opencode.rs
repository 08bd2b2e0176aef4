//! OpenCode's headless JSONL (`opencode run --format json`): `step_start`,
//! whole `text` parts, `tool_use` parts that come finished, and
//! `step_finish` with the step's tokens and cost. There is no result line:
//! a step that finishes with reason `stop` ends the run, and carries the
//! run's totals here.

use serde_json::{Map, Value, json};

use crate::json::str_of;
use crate::parse::Parser;

impl Parser {
    pub(crate) fn opencode(&mut self, o: &Map<String, Value>) -> Option<Value> {
        // Its session, on every line: said (as `init`) with the first, even
        // when that is an error (a retry resumes it).
        if self.opencode_usd.is_none()
            && let Some(session) = o.get("sessionID").and_then(Value::as_str)
        {
            self.opencode_usd = Some(0.0);
            let init = json!({"kind": "init", "session": session, "model": null});
            return Some(match self.opencode_line(o) {
                Some(note) => {
                    json!({"kind": "init", "session": session, "model": null, "also": [note]})
                }
                None => init,
            });
        }
        self.opencode_line(o)
    }

    fn opencode_line(&mut self, o: &Map<String, Value>) -> Option<Value> {
        let part = o.get("part").cloned().unwrap_or(Value::Null);
        match str_of(o, "type")? {
            "text" => Some(json!({"kind": "text", "text": part["text"], "delta": false})),
            "tool_use" => {
                let state = &part["state"];
                let call = json!({
                    "kind": "tool_call", "id": part["callID"], "tool": part["tool"],
                    "input": if state["input"].is_object() { state["input"].clone() } else { json!({}) },
                });
                let failed = match state["status"].as_str() {
                    Some("completed") => state["metadata"]["exit"].as_i64().is_some_and(|c| c != 0),
                    Some("error") => true,
                    _ => return Some(call),
                };
                let mut call = call;
                call["also"] =
                    json!([{"kind": "tool_result", "id": part["callID"], "is_error": failed}]);
                Some(call)
            }
            "step_finish" => {
                let tokens = &part["tokens"];
                let n = |v: &Value| v.as_u64().unwrap_or(0);
                self.input_tokens += n(&tokens["input"]);
                self.output_tokens += n(&tokens["output"]) + n(&tokens["reasoning"]);
                self.cached_tokens += n(&tokens["cache"]["read"]);
                let usd = self.opencode_usd.unwrap_or(0.0) + part["cost"].as_f64().unwrap_or(0.0);
                self.opencode_usd = Some(usd);
                let mut note = json!({
                    "kind": "usage", "cost_usd": usd,
                    "input_tokens": self.input_tokens, "output_tokens": self.output_tokens,
                    "cache_read_input_tokens": self.cached_tokens,
                });
                if part["reason"] == "stop" {
                    self.turns += 1;
                    note["kind"] = "result".into();
                    note["ok"] = true.into();
                    note["turns"] = self.turns.into();
                }
                Some(note)
            }
            "error" => {
                let error = o.get("error").cloned().unwrap_or(Value::Null);
                let message = error["data"]["message"]
                    .as_str()
                    .or(error["message"].as_str())
                    .or(error["name"].as_str())
                    .unwrap_or("opencode failed")
                    .to_owned();
                Some(json!({"kind": "error", "message": message}))
            }
            _ => None,
        }
    }
}
