//! GitHub Copilot CLI's headless JSONL (`copilot -p … --output-format
//! json`): `{"type","data",…}` events — live text deltas, whole messages,
//! tool runs and their ends — and a last `result` with its session and exit
//! code. It says no token counts there: they come from the usage file it
//! writes at its exit (`--usage-output-file`), read then.

use serde_json::{Map, Value, json};

use crate::json::str_of;

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

/// The flag that has it write its final usage to a file.
pub const USAGE_FLAG: &str = "--usage-output-file";

/// A new file for one run's usage, in this user's private folder (0700):
/// None when that folder is not the user's alone (a neighbour's folder, or
/// a link, in its place), so that Copilot never writes into it.
pub fn usage_path() -> Option<std::path::PathBuf> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let dir = sc_capture::private::runs_dir().ok()?;
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    Some(
        dir.path()
            .join(format!("copilot-usage-{}-{n}.json", std::process::id())),
    )
}

/// Its usage file (`modelMetrics`: each model's tokens) as a `usage`
/// annotation of the totals; None when it wrote none, or not that.
pub fn usage_file(path: &std::path::Path) -> Option<Value> {
    use std::io::Read;
    let mut text = String::new();
    // Small; bounded all the same.
    std::fs::File::open(path)
        .ok()?
        .take(1 << 20)
        .read_to_string(&mut text)
        .ok()?;
    let usage: Value = serde_json::from_str(&text).ok()?;
    let (mut input, mut output, mut cached) = (0, 0, 0);
    for metrics in usage["modelMetrics"].as_object()?.values() {
        let n = |key: &str| metrics["usage"][key].as_u64().unwrap_or(0);
        input += n("inputTokens");
        output += n("outputTokens");
        cached += n("cacheReadTokens");
    }
    Some(json!({"kind": "usage", "cost_usd": null,
        "input_tokens": input, "output_tokens": output, "cache_read_input_tokens": cached}))
}
