//! The agent parsers against real transcripts of Claude Code, Codex and
//! Gemini CLI (tests/fixtures/agents): every line parses to an
//! annotation or stays plain output; none is an error.

use std::collections::HashSet;
use std::path::PathBuf;

use sc_agents::{AgentKind, Parser};
use serde_json::Value;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/agents")
}

/// Every line of every transcript of one CLI, with the annotations.
fn annotate(dir: &str, kind: AgentKind) -> Vec<(String, Vec<Option<Value>>)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(fixtures().join(dir))
        .unwrap_or_else(|e| panic!("{}: {e} (the repository's fixtures)", fixtures().display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(!files.is_empty());
    files
        .into_iter()
        .map(|path| {
            let text = std::fs::read(&path).unwrap();
            let mut parser = Parser::new(kind);
            let notes = text
                .split(|b| *b == b'\n')
                .map(|line| parser.line(line))
                .collect();
            (
                path.file_name().unwrap().to_string_lossy().into_owned(),
                notes,
            )
        })
        .collect()
}

fn check_shapes(notes: &[(String, Vec<Option<Value>>)]) {
    let kinds: HashSet<&str> = [
        "init",
        "text",
        "tool_call",
        "tool_result",
        "result",
        "error",
        "usage",
        "task",
        "tasks",
    ]
    .into();
    for (file, lines) in notes {
        for note in lines.iter().flatten() {
            // The contract's type covers everything the parsers say: no
            // field is left to `more` (fields of a later version).
            let typed = sc_events::AgentNote::from_value(note)
                .unwrap_or_else(|| panic!("{file}: not an AgentNote: {note}"));
            assert!(typed.more.is_empty(), "{file}: untyped fields in {note}");
            assert!(
                typed.also.iter().all(|n| n.more.is_empty()),
                "{file}: untyped fields in {note}"
            );
            let kind = note["kind"]
                .as_str()
                .unwrap_or_else(|| panic!("{file}: no kind in {note}"));
            assert!(kinds.contains(kind), "{file}: kind {kind}");
            match kind {
                "tool_call" => assert!(
                    !note["tool"].is_null() && note["input"].is_object(),
                    "{file}: {note}"
                ),
                "tool_result" => assert!(note["is_error"].is_boolean(), "{file}: {note}"),
                "result" => assert!(note["ok"].is_boolean(), "{file}: {note}"),
                "text" => assert!(note["delta"].is_boolean(), "{file}: {note}"),
                "task" => assert!(
                    note["id"].is_string() && note["state"].is_string(),
                    "{file}: {note}"
                ),
                "tasks" => assert!(note["open"].is_array(), "{file}: {note}"),
                _ => {}
            }
        }
        // A pretty-printed .json document (`--output-format json`, which the
        // CLI prints as one line) has no whole line to read: it stays output.
        if file.ends_with(".jsonl") {
            assert!(
                lines.iter().flatten().count() > 0,
                "{file}: nothing understood"
            );
        }
    }
}

fn all<'a>(notes: &'a [(String, Vec<Option<Value>>)], file: &str, kind: &str) -> Vec<&'a Value> {
    notes
        .iter()
        .filter(|(f, _)| f.contains(file))
        .flat_map(|(_, lines)| lines.iter().flatten())
        .filter(|n| n["kind"] == kind)
        .collect()
}

#[test]
fn claude_code_transcripts() {
    let notes = annotate("claude-code", AgentKind::ClaudeCode);
    check_shapes(&notes);
    // Streamed text comes as deltas; the whole message follows.
    let deltas = all(&notes, "caic-partial", "text");
    assert!(
        deltas.iter().any(|n| n["delta"] == true) && deltas.iter().any(|n| n["delta"] == false)
    );
    let failed = all(&notes, "caic-partial", "tool_result");
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["is_error"], true);
    let call = all(&notes, "caic-partial", "tool_call")[0];
    assert_eq!(call["id"], failed[0]["id"], "the result answers the call");
    let result = all(&notes, "caic-partial", "result")[0];
    assert_eq!(result["ok"], true);
    assert_eq!(result["cost_usd"].as_f64(), Some(0.019439400000000003));
    assert_eq!(result["turns"], 2);
    assert_eq!(result["output_tokens"], 406);
    // Each message's usage rides on its lines, with the message id, so
    // that a reader counts a message once though its blocks repeat it.
    let with_usage: Vec<&Value> = notes
        .iter()
        .flat_map(|(_, lines)| lines.iter().flatten())
        .filter(|n| n["usage"]["message"].is_string())
        .collect();
    assert!(!with_usage.is_empty());
    let init = all(&notes, "caic-partial", "init")[0];
    assert_eq!(init["session"], "test-session");
    // `--output-format json` prints one line: read as one, it is a result.
    let document =
        std::fs::read_to_string(fixtures().join("claude-code/agentcmd-output-format-json.json"))
            .unwrap();
    let one_line =
        serde_json::to_string(&serde_json::from_str::<Value>(&document).unwrap()).unwrap();
    let result = Parser::new(AgentKind::ClaudeCode)
        .line(one_line.as_bytes())
        .unwrap();
    assert_eq!(
        (result["kind"].as_str(), result["text"].as_str()),
        (Some("result"), Some("2 + 2 = 4"))
    );
    // An authentication failure is a result that is not ok.
    let auth = all(&notes, "auth-failure", "result");
    assert!(auth.iter().all(|r| r["ok"] == false), "{auth:?}");
}

#[test]
fn codex_transcripts() {
    let notes = annotate("codex", AgentKind::Codex);
    check_shapes(&notes);
    let calls = all(&notes, "command-exec", "tool_call");
    assert_eq!(calls[0]["tool"], "command_execution");
    assert_eq!(calls[0]["input"]["command"], "zsh -lc ls");
    let result = all(&notes, "command-exec", "result");
    assert_eq!(result.last().unwrap()["input_tokens"], 6086);
    assert_eq!(result.last().unwrap()["output_tokens"], 223);
    // Usage per turn adds up over the turns of a run.
    for (file, lines) in &notes {
        let results: Vec<&Value> = lines
            .iter()
            .flatten()
            .filter(|n| n["kind"] == "result")
            .collect();
        for pair in results.windows(2) {
            assert!(
                pair[1]["input_tokens"].as_u64() >= pair[0]["input_tokens"].as_u64(),
                "{file}"
            );
            assert_eq!(
                pair[1]["turns"].as_u64(),
                pair[0]["turns"].as_u64().map(|t| t + 1),
                "{file}"
            );
        }
    }
    assert!(!all(&notes, "auth-failure", "error").is_empty());
    assert!(
        all(&notes, "mcp-tool-call-failed", "tool_result")
            .iter()
            .any(|r| r["is_error"] == true)
    );
}

#[test]
fn gemini_transcripts() {
    let notes = annotate("gemini", AgentKind::Gemini);
    check_shapes(&notes);
    // Tool ids are opaque: each result answers a call with the same id.
    for (file, lines) in &notes {
        let calls: HashSet<&str> = lines
            .iter()
            .flatten()
            .filter(|n| n["kind"] == "tool_call")
            .filter_map(|n| n["id"].as_str())
            .collect();
        for result in lines
            .iter()
            .flatten()
            .filter(|n| n["kind"] == "tool_result")
        {
            assert!(
                calls.contains(result["id"].as_str().unwrap()),
                "{file}: {result}"
            );
        }
    }
    let result = all(&notes, "edit-file", "result")[0];
    assert_eq!(
        (result["ok"].as_bool(), result["input_tokens"].as_u64()),
        (Some(true), Some(21694))
    );
    let invalid = all(&notes, "invalid-model", "result")[0];
    assert_eq!(invalid["ok"], false);
    assert!(invalid["text"].as_str().unwrap().contains("not found"));
}

#[test]
fn aider_cost_lines() {
    let mut parser = Parser::new(AgentKind::Aider);
    let note = parser
        .line(b"Tokens: 2.1k sent, 150 received. Cost: $0.01 message, $0.05 session.\n")
        .unwrap();
    assert_eq!(note["kind"], "usage");
    assert_eq!(
        (
            note["input_tokens"].as_u64(),
            note["output_tokens"].as_u64()
        ),
        (Some(2100), Some(150))
    );
    assert_eq!(note["cost_usd"].as_f64(), Some(0.05));
    assert_eq!(parser.line(b"Applied edit to src/main.rs\n"), None);
}
