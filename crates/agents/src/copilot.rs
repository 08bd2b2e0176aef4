//! GitHub Copilot CLI's headless JSONL (`copilot -p … --output-format
//! json`): `{"type","data",…}` events — live text deltas, whole messages,
//! tool runs and their ends — and a last `result` with its session and exit
//! code. It says no token counts there.

use serde_json::{Map, Value, json};

use crate::parse::str_of;

pub fn line(o: &Map<String, Value>) -> Option<Value> {
    let data = o.get("data").cloned().unwrap_or(Value::Null);
    match str_of(o, "type")? {
        "session.tools_updated" => data["model"]
            .as_str()
            .map(|model| json!({"kind": "init", "session": null, "model": model})),
        "assistant.message_delta" => {
            Some(json!({"kind": "text", "text": data["deltaContent"], "delta": true}))
        }
        "assistant.message" => {
            let text = data["content"].as_str().filter(|t| !t.is_empty())?;
            Some(json!({"kind": "text", "text": text, "delta": false}))
        }
        "tool.execution_start" => Some(json!({
            "kind": "tool_call", "id": data["toolCallId"], "tool": data["toolName"],
            "input": if data["arguments"].is_object() { data["arguments"].clone() } else { json!({}) },
        })),
        "tool.execution_complete" => Some(json!({
            "kind": "tool_result", "id": data["toolCallId"],
            "is_error": data["success"] != true,
        })),
        "session.error" => Some(json!({"kind": "error", "message": data["message"]})),
        "result" => {
            let code = o.get("exitCode").and_then(Value::as_i64).unwrap_or(0);
            Some(json!({
                "kind": "result", "ok": code == 0,
                "text": (code != 0).then(|| format!("copilot exited {code}")),
                "session": o.get("sessionId"),
                "cost_usd": null, "input_tokens": null, "output_tokens": null, "turns": null,
            }))
        }
        _ => None,
    }
}
