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
#[test]
fn real_claude_code_streams_live_and_runs_a_real_tool() {
    // CI installs the CLI and sets SC_REQUIRE_AGENT_CLIS: there, a missing
    // CLI fails; on a developer's machine without npm it is said.
    let Some(claude) = agent_cli("claude", "SC_CLAUDE") else {
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

/// The demo app the recorded agents work on.
pub(crate) const DEMO_APP: &str = "/tmp/sc-demo-app";

fn turn(pieces: &[&str], tool: Option<(&str, Value)>) -> crate::mock_model::Turn {
    crate::mock_model::Turn {
        pieces: pieces.iter().map(|p| p.to_string()).collect(),
        tool: tool.map(|(name, input)| (name.to_owned(), input)),
    }
}

/// What the scripted model says in each role's run.
pub(crate) fn demo_script(id: &str) -> Vec<crate::mock_model::Turn> {
    let demo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("demo");
    let read = |name: &str| std::fs::read_to_string(demo.join(name)).unwrap();
    let write = |path: &str, content: String| {
        Some((
            "Write",
            serde_json::json!({"file_path": format!("{DEMO_APP}/{path}"), "content": content}),
        ))
    };
    match id {
        "code" => vec![
            turn(
                &[
                    "I'll add ",
                    "OAuth2 ",
                    "authorization-code ",
                    "support ",
                    "with PKCE: ",
                    "a client, ",
                    "its authorize URL ",
                    "and the token request.",
                ],
                write("src/oauth2.rs", read("oauth2.rs.txt")),
            ),
            turn(
                &["Now ", "a build ", "to check it."],
                Some((
                    "Bash",
                    serde_json::json!({"command": "cargo build --offline", "description": "Build the crate"}),
                )),
            ),
            turn(
                &[
                    "Done: ",
                    "`src/oauth2.rs` ",
                    "builds the authorize URL ",
                    "(state, scopes, S256 challenge) ",
                    "and the token request ",
                    "with the PKCE verifier.",
                ],
                None,
            ),
        ],
        "tests" => vec![
            turn(
                &[
                    "I'll test ",
                    "the encoding, ",
                    "the authorize URL ",
                    "and the token request.",
                ],
                write("tests/oauth2.rs", read("oauth2_tests.rs.txt")),
            ),
            turn(
                &["Running ", "them."],
                Some((
                    "Bash",
                    serde_json::json!({"command": "cargo test --offline", "description": "Run the tests"}),
                )),
            ),
            turn(
                &[
                    "All 4 tests pass: ",
                    "encoding, ",
                    "the authorize URL's state and challenge, ",
                    "and the verifier in the token request.",
                ],
                None,
            ),
        ],
        _ => vec![
            turn(
                &[
                    "I'll document ",
                    "the sign-in flow ",
                    "for the people ",
                    "who use the crate.",
                ],
                write("docs/oauth2.md", read("oauth2.md.txt")),
            ),
            turn(
                &[
                    "The guide is in ",
                    "`docs/oauth2.md`: ",
                    "the two steps, ",
                    "and what to keep in the session.",
                ],
                None,
            ),
        ],
    }
}

/// Record the demo's transcripts: the real Claude Code CLI, run by sc-spawn
/// for each task of sc-plan's plan, against the scripted model. Run by hand
/// (it rewrites demo/claude-code/*.ndjson):
/// `cargo test --test integration record_the_demo -- --ignored`
#[test]
#[ignore = "records demo/claude-code/*.ndjson with the real Claude Code CLI; run by hand"]
fn record_the_demo() {
    let claude =
        agent_cli("claude", "SC_CLAUDE").expect("Claude Code installed (.ci/run, or SC_CLAUDE)");
    let app = PathBuf::from(DEMO_APP);
    let _ = std::fs::remove_dir_all(&app);
    std::fs::create_dir_all(app.join("src")).unwrap();
    std::fs::write(
        app.join("Cargo.toml"),
        "[package]\nname = \"demo-app\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
    )
    .unwrap();
    std::fs::write(app.join("src/lib.rs"), "pub mod oauth2;\n").unwrap();
    let plan = Command::new(env!("CARGO_BIN_EXE_sc-plan"))
        .arg("Implement OAuth2 authentication with tests and docs")
        .output()
        .unwrap();
    let out_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("demo/claude-code");
    std::fs::create_dir_all(&out_dir).unwrap();
    let home = temp_dir("record-home");
    for line in String::from_utf8(plan.stdout).unwrap().lines() {
        let event = sc_events::parse_line(line.as_bytes()).unwrap();
        let Body::Task(task) = event.body else {
            continue;
        };
        let mock = MockModel::scripted(demo_script(&task.id));
        let out = Command::new(env!("CARGO_BIN_EXE_sc-spawn"))
            .args([
                "--kind",
                "claude-code",
                "--heartbeat",
                "0",
                "--id",
                &task.id,
            ])
            .args(["--role", task.role.as_deref().unwrap()])
            .args(["--prompt", task.prompt.as_deref().unwrap()])
            .arg("--cwd")
            .arg(&app)
            .env("SC_CLAUDE", &claude)
            .env("ANTHROPIC_BASE_URL", mock.url())
            .env("ANTHROPIC_API_KEY", "sk-ant-demo-key-for-the-mock")
            .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
            .env("HOME", &home)
            .output()
            .unwrap();
        assert!(out.status.success(), "{} failed", task.id);
        std::fs::write(out_dir.join(format!("{}.ndjson", task.id)), &out.stdout).unwrap();
    }
}

/// A stand-in for an agent CLI that prints `lines` and exits with `code`
/// (or lingers when `linger`), for the failure semantics.
fn fake_agent(name: &str, lines: &[&str], code: i32, linger: bool) -> PathBuf {
    let mut script = String::from("#!/bin/sh\n");
    for line in lines {
        script.push_str(&format!("printf '%s\\n' '{line}'\n"));
    }
    if linger {
        script.push_str("exec sleep 30\n");
    }
    script.push_str(&format!("exit {code}\n"));
    let path = temp_file(name, script.as_bytes());
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    path
}

fn run_fake(path: &PathBuf, extra: &[&str]) -> (Captured, Option<i32>) {
    let out = Command::new(env!("CARGO_BIN_EXE_sc-spawn"))
        .args([
            "--kind",
            "claude-code",
            "--prompt",
            "go",
            "--kill-grace",
            "0.5",
        ])
        .args(extra)
        .env("SC_CLAUDE", path)
        .output()
        .unwrap();
    (Captured::parse(&out.stdout), out.status.code())
}

const INIT: &str = r#"{"type":"system","subtype":"init","session_id":"s1","model":"m"}"#;

#[test]
fn an_agent_that_exits_0_without_a_result_failed() {
    let fake = fake_agent("no-result", &[INIT], 0, false);
    let (run, code) = run_fake(&fake, &[]);
    assert_eq!(code, Some(1));
    assert_eq!(run.exit().code, Some(0), "the process's own code is kept");
    assert_eq!(run.exit().agent_result.as_deref(), Some("missing"));
}

#[test]
fn a_result_with_is_error_is_a_failure() {
    let result = r#"{"type":"result","subtype":"success","is_error":true,"result":"Invalid API key","num_turns":1,"total_cost_usd":0}"#;
    let fake = fake_agent("error-result", &[INIT, result], 0, false);
    let (run, code) = run_fake(&fake, &[]);
    assert_eq!(code, Some(1));
    assert_eq!(run.exit().agent_result.as_deref(), Some("error"));
}

#[test]
fn a_result_without_an_exit_is_ended_after_the_grace() {
    let result = r#"{"type":"result","subtype":"success","is_error":false,"result":"done","num_turns":1,"total_cost_usd":0.01}"#;
    let fake = fake_agent("lingers", &[INIT, result], 0, true);
    let (run, code) = run_fake(&fake, &["--agent-exit-grace", "0.3"]);
    let exit = run.exit();
    assert_eq!(exit.ended_by.as_deref(), Some("result without exit"));
    assert_eq!(exit.agent_result.as_deref(), Some("ok"));
    assert_eq!(exit.signal.as_deref(), Some("SIGTERM"));
    // Its work succeeded: being ended for lingering after it is no failure.
    assert_eq!(code, Some(0));
    // A failed result that lingers stays a failure.
    let failed = r#"{"type":"result","subtype":"error_during_execution","is_error":true,"result":"no","num_turns":1,"total_cost_usd":0.01}"#;
    let fake = fake_agent("lingers-failed", &[INIT, failed], 0, true);
    let (_, code) = run_fake(&fake, &["--agent-exit-grace", "0.3"]);
    assert_eq!(code, Some(1));
}

/// Reported by review: an agent whose result was ok but which lingered
/// past its grace ended 143, and its plan's dependents were skipped.
#[test]
fn the_dependents_of_an_agent_that_lingered_after_its_ok_run() {
    let result = r#"{"type":"result","subtype":"success","is_error":false,"result":"done","num_turns":1,"total_cost_usd":0.01}"#;
    let fake = fake_agent("lingers-dep", &[INIT, result], 0, true);
    let plan = [
        r#"{"type":"task","worker":"fix","seq":0,"ts":1.0,"id":"fix","kind":"claude-code","prompt":"go"}"#,
        r#"{"type":"task","worker":"check","seq":0,"ts":1.0,"id":"check","argv":["true"],"depends_on":["fix"]}"#,
    ]
    .join("\n")
        + "\n";
    let ran = run_bounded(
        Command::new(env!("CARGO_BIN_EXE_sc-spawn"))
            .args(["--agent-exit-grace", "0.3", "--kill-grace", "0.5"])
            .env("SC_CLAUDE", &fake),
        plan.into_bytes(),
    );
    let run = Captured::parse(&ran.stdout);
    assert_eq!(ran.status.code(), Some(0), "{}", ran.stderr);
    assert!(
        run.events
            .iter()
            .any(|e| e.worker == "check" && e.type_name() == "start"),
        "the dependent ran"
    );
}

/// Reported by review: the grace after a result was not among the
/// worker's deadlines, so with no other timer to wake the poller it never
/// ran out (here the fake would sleep its 30 s and exit by itself).
#[test]
fn the_result_grace_wakes_the_poller_by_itself() {
    let result = r#"{"type":"result","subtype":"success","is_error":false,"result":"done","num_turns":1,"total_cost_usd":0.01}"#;
    let fake = fake_agent("lingers-quietly", &[INIT, result], 0, true);
    let (run, _) = run_fake(
        &fake,
        &[
            "--agent-exit-grace",
            "0.3",
            "--heartbeat",
            "0",
            "--stall",
            "0",
        ],
    );
    assert_eq!(run.exit().ended_by.as_deref(), Some("result without exit"));
}

#[test]
fn a_line_of_megabytes_streams_on_and_is_still_read_whole() {
    // An image read: a tool result of 1.5 MB on one line, far over the
    // 64 KiB of an output event.
    let big = format!(
        r#"{{"type":"user","message":{{"role":"user","content":[{{"type":"tool_result","tool_use_id":"toolu_big","is_error":false,"content":"{}"}}]}}}}"#,
        "A".repeat(1_500_000)
    );
    let result = r#"{"type":"result","subtype":"success","is_error":false,"result":"seen","num_turns":1,"total_cost_usd":0.01}"#;
    let transcript = temp_file(
        "big-transcript.jsonl",
        format!("{INIT}\n{big}\n{result}\n").as_bytes(),
    );
    let fake = temp_file(
        "big-claude",
        format!("#!/bin/sh\ncat {}\n", transcript.display()).as_bytes(),
    );
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let (run, code) = run_fake(&fake, &[]);
    assert_eq!(code, Some(0));
    // The bytes streamed on, in events of at most 64 KiB, exactly.
    let chunks = run.chunks(sc_events::Stream::Stdout);
    assert!(chunks.iter().all(|c| c.len() <= 65536));
    assert_eq!(
        run.bytes(sc_events::Stream::Stdout),
        std::fs::read(&transcript).unwrap()
    );
    // The line was still read whole: the event that completes it says so.
    let notes = run.agent_notes();
    let kinds: Vec<&str> = notes.iter().filter_map(|n| n["kind"].as_str()).collect();
    assert_eq!(kinds, ["init", "tool_result", "result"]);
    assert_eq!(notes[1]["id"], "toolu_big");
}
