//! The `agent` annotation of an output event: what an agent's JSON line
//! says, normalized across CLIs (sc-events(7), AGENT ANNOTATIONS). One
//! definition for the parsers that make it, the supervisor and viewer that
//! read it, and users' programs.
//!
//! Its shape is one object with a `kind` and the fields of that kind, all
//! optional here so that a reader takes any version's annotation; fields a
//! later version adds are kept in `more`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One annotation. Kinds: `init`, `text`, `tool_call`, `tool_result`,
/// `result`, `error`, `usage`, `task`, `tasks`, `ask`, `ask_withdrawn`,
/// `plan`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AgentNote {
    pub kind: String,

    /// init (and Copilot's result): the agent's session id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<Value>,
    /// init: the model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<Value>,

    /// text (the text), result (the final text or the failure).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<Value>,
    /// text: a streamed chunk rather than a whole message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delta: Option<bool>,
    /// text: the model's reasoning (Codex).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking: Option<bool>,

    /// tool_call, tool_result (the call's id); task (the task's id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Value>,
    /// tool_call, tool_result: the tool's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<Value>,
    /// tool_call: its input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<Value>,
    /// tool_result: it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_error: Option<bool>,

    /// result: it succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ok: Option<bool>,
    /// result, usage: the cost in USD as the CLI counts it (cumulative).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_tokens: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_tokens: Option<Value>,
    /// Claude: input read from / written to the prompt cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_read_input_tokens: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_creation_input_tokens: Option<Value>,
    /// Codex: the cached part of `input_tokens`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_input_tokens: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turns: Option<Value>,
    /// result, Claude: the model API's HTTP status when it failed (null
    /// when it did not): what tells an outage worth a retry, not the text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_status: Option<Value>,

    /// error: what went wrong.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<Value>,

    /// task: `started`, or how it ended (`completed`, `failed`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// task: it runs in the background (beside the agent's turns).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub background: Option<bool>,
    /// task: what it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<Value>,
    /// tasks: the ids of the background tasks open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open: Option<Vec<Value>>,
    /// plan (an ACP agent's plan, whole each time): its entries, each
    /// `{"content", "status"}` (`pending`, `in_progress`, `completed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entries: Option<Vec<Value>>,

    /// Claude: the usage of the message this line belongs to (its lines
    /// repeat it: count it once per `usage.message`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<MessageUsage>,
    /// More annotations, when one line says several things.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub also: Vec<AgentNote>,

    /// Fields of a later version, kept as they are.
    #[serde(flatten)]
    pub more: Map<String, Value>,
}

/// A Claude message's usage, on each of its lines.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MessageUsage {
    /// The message's id.
    #[serde(default)]
    pub message: Option<Value>,
    #[serde(default)]
    pub input_tokens: Option<Value>,
    #[serde(default)]
    pub output_tokens: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_read_input_tokens: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_creation_input_tokens: Option<Value>,
}

impl AgentNote {
    /// An annotation as JSON (an output event's `agent`) read as one.
    pub fn from_value(value: &Value) -> Option<AgentNote> {
        AgentNote::deserialize(value).ok()
    }

    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// A text field as a string (ids and texts are strings in every CLI
    /// sc knows; numbers are written out).
    pub fn str_of(value: &Option<Value>) -> Option<String> {
        match value.as_ref()? {
            Value::String(s) => Some(s.clone()),
            Value::Null => None,
            other => Some(other.to_string()),
        }
    }

    /// A count field as a number.
    pub fn u64_of(value: &Option<Value>) -> Option<u64> {
        value.as_ref()?.as_u64()
    }

    /// A cost field as a number.
    pub fn f64_of(value: &Option<Value>) -> Option<f64> {
        value.as_ref()?.as_f64()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_examples_round_trip() {
        for line in [
            r#"{"kind":"init","session":"s","model":"m"}"#,
            r#"{"kind":"text","text":"Hello","delta":true}"#,
            r#"{"kind":"tool_call","id":"t1","tool":"Bash","input":{"command":"cargo test"}}"#,
            r#"{"kind":"tool_result","id":"t1","is_error":false}"#,
            r#"{"kind":"result","ok":true,"text":"done","cost_usd":0.019,"input_tokens":18,"output_tokens":406,"turns":2}"#,
            r#"{"kind":"error","message":"boom"}"#,
            r#"{"kind":"task","id":"b1","state":"started","background":true,"description":"wait"}"#,
            r#"{"kind":"tasks","open":[]}"#,
            r#"{"kind":"plan","entries":[{"content":"look","status":"completed"}]}"#,
            r#"{"kind":"text","text":"x","delta":false,"usage":{"message":"m1","input_tokens":3,"output_tokens":4}}"#,
            r#"{"kind":"text","text":"x","delta":false,"also":[{"kind":"tool_call","id":"t","tool":"Read","input":{}}],"later":1}"#,
        ] {
            let value: Value = serde_json::from_str(line).unwrap();
            let note = AgentNote::from_value(&value).unwrap();
            assert_eq!(note.to_value(), value, "{line}");
        }
    }
}
