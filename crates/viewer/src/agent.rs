//! Agent workers as people want to see them: streamed text as it comes,
//! tool calls as short lines (`Bash: cargo test`), failures, results with
//! cost and tokens. The JSON lines themselves are the transport, not shown.

use sc_events::AgentNote;
use serde_json::Value;

use crate::fmt;

fn id_text(id: &Value) -> String {
    match id {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The worker kinds whose stdout is an agent's JSON lines.
pub fn is_agent_kind(kind: &str) -> bool {
    sc_events::agent_kind(kind).is_some_and(|k| k.json)
}

/// An agent's state between annotations.
#[derive(Debug, Default)]
pub struct AgentState {
    /// Streamed text not yet shown as lines (deltas of the current message).
    streaming: String,
    /// The last whole message shown, so that one that repeats what its
    /// deltas already showed is not shown twice.
    shown_from_deltas: bool,
    /// Inside a JSON line split over several output events.
    pub in_json_line: bool,
    pub session: Option<String>,
    pub model: Option<String>,
    /// Background work the agent has open (a shell, a subagent): a result
    /// written meanwhile is interim.
    open_tasks: std::collections::BTreeSet<String>,
}

impl AgentState {
    /// The lines an annotation shows (not yet made safe), and the text
    /// being streamed, for a live row.
    pub fn lines(&mut self, note: &Value) -> Vec<String> {
        let mut lines = Vec::new();
        self.one(note, &mut lines);
        if let Some(Value::Array(more)) = note.get("also") {
            for note in more {
                self.one(note, &mut lines);
            }
        }
        lines
    }

    fn one(&mut self, value: &Value, lines: &mut Vec<String>) {
        // The contract's one definition of the annotation.
        let Some(note) = AgentNote::from_value(value) else {
            return;
        };
        let text_of = |v: &Option<Value>| AgentNote::str_of(v);
        match note.kind.as_str() {
            "text" if note.delta == Some(true) => {
                self.streaming
                    .push_str(&text_of(&note.text).unwrap_or_default());
                // Whole lines go out as they complete; the rest waits.
                while let Some(at) = self.streaming.find('\n') {
                    let line: String = self.streaming.drain(..=at).collect();
                    lines.push(line.trim_end_matches('\n').to_owned());
                    self.shown_from_deltas = true;
                }
            }
            "text" => {
                let text = text_of(&note.text).unwrap_or_default();
                if note.thinking == Some(true) {
                    lines.extend(text.lines().map(|l| format!("(thinking) {l}")));
                    return;
                }
                if self.shown_from_deltas || !self.streaming.is_empty() {
                    // The whole message of text its deltas already showed.
                    self.flush(lines);
                    self.shown_from_deltas = false;
                    return;
                }
                lines.extend(text.lines().map(str::to_owned));
            }
            "tool_call" => {
                self.flush(lines);
                let tool = match &note.tool {
                    Some(Value::String(s)) => s.clone(),
                    Some(other) => other.to_string(),
                    None => "tool".into(),
                };
                lines.push(format!("⚙ {tool}: {}", summary(note.input.as_ref())));
            }
            "tool_result" if note.is_error == Some(true) => {
                lines.push("✖ the tool call failed".into());
            }
            "task" => {
                let id = note.id.as_ref().map(id_text).unwrap_or_default();
                if note.state.as_deref() == Some("started") {
                    self.open_tasks.insert(id);
                    if note.background == Some(true) {
                        let what = text_of(&note.description).unwrap_or_else(|| "a task".into());
                        lines.push(format!("↻ in the background: {what}"));
                    }
                } else if self.open_tasks.remove(&id) {
                    let state = note.state.unwrap_or_else(|| "ended".into());
                    lines.push(format!("↻ background task {state}"));
                }
            }
            "tasks" => {
                self.open_tasks = note.open.unwrap_or_default().iter().map(id_text).collect();
            }
            "plan" => {
                self.flush(lines);
                let entries: Vec<String> = note
                    .entries
                    .unwrap_or_default()
                    .iter()
                    .map(|e| {
                        let mark = match e["status"].as_str() {
                            Some("completed") => "✓",
                            Some("in_progress") => "▸",
                            _ => "○",
                        };
                        format!("{mark} {}", e["content"].as_str().unwrap_or(""))
                    })
                    .collect();
                if !entries.is_empty() {
                    lines.push(format!("plan: {}", entries.join(" · ")));
                }
            }
            "result" => {
                self.flush(lines);
                let interim = if self.open_tasks.is_empty() {
                    ""
                } else {
                    " (interim: background work still running)"
                };
                let mut parts = vec![if note.ok == Some(false) {
                    format!("✖ result: failed{interim}")
                } else {
                    format!("result: ok{interim}")
                }];
                let usage = crate::usage::Usage {
                    cost_usd: AgentNote::f64_of(&note.cost_usd),
                    input_tokens: AgentNote::u64_of(&note.input_tokens),
                    output_tokens: AgentNote::u64_of(&note.output_tokens),
                    ok: note.ok,
                };
                let usage = fmt::usage(&usage);
                if !usage.is_empty() {
                    parts.push(usage);
                }
                if let Some(turns) = AgentNote::u64_of(&note.turns) {
                    parts.push(format!("{turns} turn{}", if turns == 1 { "" } else { "s" }));
                }
                if note.ok == Some(false)
                    && let Some(text) = text_of(&note.text).filter(|t| !t.is_empty())
                {
                    parts.push(text);
                }
                lines.push(parts.join(" · "));
            }
            "init" => {
                self.session = note
                    .session
                    .as_ref()
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                self.model = note
                    .model
                    .as_ref()
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                let model = self
                    .model
                    .clone()
                    .unwrap_or_else(|| "model not named".into());
                lines.push(format!("session started ({model})"));
            }
            "error" => lines.push(format!(
                "✖ agent error: {}",
                text_of(&note.message).unwrap_or_default()
            )),
            _ => {}
        }
    }

    /// Show what was streamed and not yet shown.
    pub fn flush(&mut self, lines: &mut Vec<String>) {
        if !self.streaming.is_empty() {
            lines.push(std::mem::take(&mut self.streaming));
            self.shown_from_deltas = true;
        }
    }

    /// The text being streamed (for the live row).
    pub fn streaming(&self) -> &str {
        &self.streaming
    }
}

/// A tool's input in a few words: its command, file, pattern or query.
pub fn summary(input: Option<&Value>) -> String {
    let Some(input) = input else {
        return String::new();
    };
    for key in [
        "command",
        "cmd",
        "file_path",
        "filePath",
        "absolute_path",
        "path",
        "pattern",
        "query",
        "url",
        "description",
        "title",
    ] {
        if let Some(value) = input.get(key) {
            let text = match value {
                Value::String(s) => s.clone(),
                Value::Array(items) => items
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(" "),
                other => other.to_string(),
            };
            return shorten(&text);
        }
    }
    shorten(&input.to_string())
}

fn shorten(text: &str) -> String {
    let one_line = text.lines().next().unwrap_or("");
    if one_line.chars().count() > 100 || text.lines().count() > 1 {
        format!("{}…", one_line.chars().take(99).collect::<String>())
    } else {
        one_line.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(notes: &[&str]) -> Vec<String> {
        let mut state = AgentState::default();
        let mut lines = Vec::new();
        for note in notes {
            lines.extend(state.lines(&serde_json::from_str(note).unwrap()));
        }
        state.flush(&mut lines);
        lines
    }

    #[test]
    fn deltas_then_the_whole_message_show_once() {
        let lines = show(&[
            r#"{"kind":"init","session":"s","model":"claude-x"}"#,
            r#"{"kind":"text","text":"Hello ","delta":true}"#,
            r#"{"kind":"text","text":"world","delta":true}"#,
            r#"{"kind":"text","text":"Hello world","delta":false}"#,
            r#"{"kind":"tool_call","id":"t1","tool":"Bash","input":{"command":"cargo test","description":"run"}}"#,
            r#"{"kind":"tool_result","id":"t1","is_error":true}"#,
            r#"{"kind":"result","ok":true,"text":"done","cost_usd":0.0194,"input_tokens":18,"output_tokens":406,"turns":2}"#,
        ]);
        assert_eq!(
            lines,
            [
                "session started (claude-x)",
                "Hello world",
                "⚙ Bash: cargo test",
                "✖ the tool call failed",
                "result: ok · $0.02 · 18/406 tok · 2 turns"
            ]
        );
    }

    #[test]
    fn whole_messages_without_deltas() {
        let lines = show(&[
            r#"{"kind":"text","text":"line one\nline two","delta":false}"#,
            r#"{"kind":"tool_call","id":"x","tool":"read_file","input":{"absolute_path":"/tmp/a.txt"}}"#,
            r#"{"kind":"result","ok":false,"text":"API Error","cost_usd":null,"input_tokens":0,"output_tokens":0,"turns":null}"#,
        ]);
        assert_eq!(
            lines,
            [
                "line one",
                "line two",
                "⚙ read_file: /tmp/a.txt",
                "✖ result: failed · 0/0 tok · API Error"
            ]
        );
    }
}
