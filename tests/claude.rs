//! The real Claude Code CLI (from the npm registry; .ci/run installs it)
//! through sc-spawn, offline, against the mock model server: streamed text
//! arrives as deltas, a real tool call executes, and the result's cost and
//! tokens are the CLI's own.

use std::path::PathBuf;
use std::process::Command;

use sc_events::Body;
use serde_json::Value;

use crate::mock_model::{DELTAS, FINAL_TEXT, MockModel, TOOL_COMMAND};
use crate::util::*;

/// The installed CLI: $SC_CLAUDE, .ci/run's install, or PATH.
fn claude() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("SC_CLAUDE") {
        return Some(path.into());
    }
    let ci = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".ci/node/node_modules/.bin/claude");
    if ci.exists() {
        return Some(ci);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("claude"))
            .find(|p| p.is_file())
    })
}

#[test]
fn real_claude_code_streams_live_and_runs_a_real_tool() {
    let Some(claude) = claude() else {
        // CI installs the CLI and sets SC_REQUIRE_AGENT_CLIS: there, a
        // missing CLI fails; on a developer's machine without npm it is said.
        assert!(
            std::env::var_os("SC_REQUIRE_AGENT_CLIS").is_none(),
            "Claude Code is not installed: run .ci/run, or set SC_CLAUDE"
        );
        eprintln!(
            "skipped: Claude Code not installed (npm install @anthropic-ai/claude-code, or set SC_CLAUDE)"
        );
        return;
    };
    let mock = MockModel::start();
    let dir = temp_dir("claude");
    let home = dir.join("home");
    std::fs::create_dir_all(&home).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_sc-spawn"));
    command
        .args([
            "--kind",
            "claude-code",
            "--role",
            "bug-fixer",
            "--timeout",
            "120",
        ])
        .args(["--prompt", "Write the marker file, then say so."])
        .arg("--cwd")
        .arg(&dir)
        .env("SC_CLAUDE", &claude)
        .env("ANTHROPIC_BASE_URL", mock.url())
        .env("ANTHROPIC_API_KEY", "sk-ant-test-key-for-the-mock")
        .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
        .env("HOME", &home);
    let (run, status) = Live::start_with(&mut command).finish();
    let annotations: Vec<(f64, Value)> = run
        .events
        .iter()
        .filter_map(|e| match &e.body {
            Body::Output(o) => o.agent.clone().map(|a| (e.ts, a)),
            _ => None,
        })
        .collect();
    let describe = || {
        annotations
            .iter()
            .map(|(_, a)| a.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(status.code(), Some(0), "annotations:\n{}", describe());

    // Live: each streamed piece is an event of its own, observed apart.
    let deltas: Vec<&(f64, Value)> = annotations
        .iter()
        .filter(|(_, a)| a["kind"] == "text" && a["delta"] == true)
        .collect();
    let streamed: Vec<&str> = deltas
        .iter()
        .filter_map(|(_, a)| a["text"].as_str())
        .collect();
    assert!(
        streamed.windows(DELTAS.len()).any(|w| w == DELTAS),
        "deltas {streamed:?}"
    );
    let first = deltas
        .iter()
        .find(|(_, a)| a["text"] == DELTAS[0])
        .unwrap()
        .0;
    let last = deltas
        .iter()
        .find(|(_, a)| a["text"] == DELTAS[3])
        .unwrap()
        .0;
    assert!(
        last - first >= 0.1,
        "the deltas were seen as they came, not at the end"
    );

    // A real tool call, executed for real.
    let call = annotations
        .iter()
        .map(|(_, a)| a)
        .find(|a| a["kind"] == "tool_call")
        .unwrap_or_else(|| panic!("not found in:\n{}", describe()));
    assert_eq!(call["tool"], "Bash");
    assert_eq!(call["input"]["command"], TOOL_COMMAND);
    let result = annotations
        .iter()
        .map(|(_, a)| a)
        .find(|a| a["kind"] == "tool_result")
        .unwrap_or_else(|| panic!("not found in:\n{}", describe()));
    assert_eq!(
        (&result["id"], &result["is_error"]),
        (&call["id"], &Value::Bool(false))
    );
    let marker =
        std::fs::read_to_string(dir.join("marker.txt")).expect("the tool ran in the worker's cwd");
    assert_eq!(marker, "tool-ran-for-real\n");

    // The result: ok, and the CLI's own figures.
    let (event, note) = run
        .events
        .iter()
        .find_map(|e| match &e.body {
            Body::Output(o) if o.agent.as_ref().is_some_and(|a| a["kind"] == "result") => {
                Some((o.payload.as_bytes().to_vec(), o.agent.clone().unwrap()))
            }
            _ => None,
        })
        .expect("a result");
    let own: Value = serde_json::from_slice(&event).unwrap();
    assert_eq!(note["ok"], true);
    assert_eq!(note["text"], FINAL_TEXT);
    assert_eq!(note["cost_usd"], own["total_cost_usd"]);
    assert!(note["cost_usd"].as_f64().is_some_and(|c| c > 0.0), "{note}");
    assert_eq!(note["input_tokens"], own["usage"]["input_tokens"]);
    assert_eq!(note["output_tokens"], own["usage"]["output_tokens"]);
    assert_eq!(note["turns"], own["num_turns"]);
    assert!(matches!(&run.exit().agent_result, Some(r) if r == "ok"));

    let requests = mock.requests.lock().unwrap();
    assert!(
        requests
            .iter()
            .any(|r| r.contains("tool_result") && r.contains("done")),
        "the tool's output went back to the model"
    );
}
