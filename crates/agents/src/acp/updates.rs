//! An ACP agent's `session/update` notifications as annotations: its text
//! (v1 chunks, live; v2 whole-message upserts), its thoughts, tool calls and
//! their ends, its plan, its spending (`usage_update`), and v2's
//! `state_update` (`idle` ends the turn). While a session is being loaded
//! the agent replays its history: that is not this attempt's work, and is
//! left as plain output.

use serde_json::{Value, json};

use super::{Client, Step};

impl Client {
    pub(super) fn update(&mut self, update: &Value) -> Option<Value> {
        if self.step == (Step::Opening { load: true }) {
            return None;
        }
        match update["sessionUpdate"].as_str()? {
            "agent_message_chunk" => text(&update["content"]),
            "agent_thought_chunk" => {
                let mut note = text(&update["content"])?;
                note["thinking"] = true.into();
                Some(note)
            }
            "tool_call" => {
                let note = json!({
                    "kind": "tool_call", "id": update["toolCallId"],
                    "tool": tool_name(update),
                    "input": input_of(update),
                });
                // v2 upserts a call with its status: one that comes ended
                // is its result too.
                match ended(update) {
                    Some(failed) => Some(with_also(
                        note,
                        json!({"kind": "tool_result", "id": update["toolCallId"], "is_error": failed}),
                    )),
                    None => Some(note),
                }
            }
            "tool_call_update" => ended(update).map(|failed| {
                json!({"kind": "tool_result", "id": update["toolCallId"], "is_error": failed})
            }),
            "plan" => {
                let entries: Vec<Value> = update["entries"]
                    .as_array()?
                    .iter()
                    .map(|e| json!({"content": e["content"], "status": e["status"]}))
                    .collect();
                Some(json!({"kind": "plan", "entries": entries}))
            }
            // OpenCode's running cost of the session.
            "usage_update" => {
                let cost = &update["cost"];
                let usd = (cost["currency"].as_str().unwrap_or("USD") == "USD")
                    .then(|| cost["amount"].as_f64())
                    .flatten()?;
                Some(json!({"kind": "usage", "cost_usd": usd,
                    "input_tokens": null, "output_tokens": null}))
            }
            "state_update" if self.step == Step::Prompting => match update["state"].as_str()? {
                "idle" => {
                    let mut result = json!({"stopReason": update["stopReason"], "usage": update["usage"]});
                    if update["stopReason"].is_null() {
                        // An idle that ends nothing (a resume snapshot).
                        result["stopReason"] = "end_turn".into();
                    }
                    Some(self.turn_over(&result))
                }
                _ => None,
            },
            _ => None,
        }
    }
}

/// Text of a content block (v1: one block) or of blocks (v2: a whole
/// message).
fn text(content: &Value) -> Option<Value> {
    let (text, delta) = match content {
        Value::Array(blocks) => (
            blocks
                .iter()
                .filter_map(|b| b["text"].as_str())
                .collect::<String>(),
            false,
        ),
        block => (block["text"].as_str()?.to_owned(), true),
    };
    Some(json!({"kind": "text", "text": text, "delta": delta}))
}

fn tool_name(update: &Value) -> &str {
    update["kind"]
        .as_str()
        .filter(|k| *k != "other")
        .or(update["title"].as_str())
        .unwrap_or("tool")
}

/// What the call does: its raw input where the agent gives it, else its
/// title.
fn input_of(update: &Value) -> Value {
    let mut input = match &update["rawInput"] {
        Value::Object(raw) => Value::Object(raw.clone()),
        _ => json!({}),
    };
    if let (Some(title), Some(object)) = (update["title"].as_str(), input.as_object_mut()) {
        object
            .entry("title")
            .or_insert_with(|| title.to_owned().into());
    }
    input
}

/// Whether an update ends its call: Some(failed).
fn ended(update: &Value) -> Option<bool> {
    match update["status"].as_str()? {
        "completed" => Some(false),
        "failed" | "cancelled" => Some(true),
        _ => None,
    }
}

fn with_also(mut note: Value, also: Value) -> Value {
    note["also"] = json!([also]);
    note
}
