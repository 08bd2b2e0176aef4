//! `--kind acp`: sc as the client of any agent that speaks the Agent Client
//! Protocol, against a scripted agent (`sc-bench fake-acp`) that does on
//! demand what the real ones cannot be made to: protocol version 2, a
//! cancel while its permission request waits, dying mid-turn, loading a
//! session again. (The real CLIs over ACP are in `agents_more`.)

use std::process::Command;

use serde_json::Value;

use crate::util::{Captured, assert_view_checks, run_bounded, starts_of, temp_dir};

/// The scripted agent's command line (for --acp-agent / `acp_agent`).
fn fake(flags: &str) -> String {
    format!("'{}' fake-acp {flags}", env!("CARGO_BIN_EXE_sc-bench"))
}

fn spawn_in(dir: &std::path::Path, args: &[&str]) -> (Captured, Vec<u8>, i32) {
    let ran = run_bounded(
        Command::new(env!("CARGO_BIN_EXE_sc-spawn"))
            .current_dir(dir)
            .args(args),
        Vec::new(),
    );
    let run = Captured::parse(&ran.stdout);
    (run, ran.stdout, ran.status.code().unwrap_or(-1))
}

/// sc-spawn running the scripted agent `agent` as kind acp on `prompt`,
/// with `more` flags.
fn acp_in(
    dir: &std::path::Path,
    agent: &str,
    prompt: &str,
    more: &[&str],
) -> (Captured, Vec<u8>, i32) {
    let mut args = vec!["--kind", "acp", "--acp-agent", agent, "--prompt", prompt];
    args.extend_from_slice(more);
    spawn_in(dir, &args)
}

fn notes(run: &Captured) -> Vec<Value> {
    run.events
        .iter()
        .filter_map(|e| serde_json::to_value(e).ok()?.get("agent").cloned())
        .collect()
}

fn texts(run: &Captured) -> Vec<String> {
    notes(run)
        .iter()
        .filter(|n| n["kind"] == "text")
        .filter_map(|n| n["text"].as_str().map(str::to_owned))
        .collect()
}

fn result(run: &Captured) -> Value {
    notes(run)
        .into_iter()
        .rfind(|n| n["kind"] == "result")
        .expect("a result")
}

#[test]
fn an_acp_agent_is_driven_live_and_what_it_asks_is_answered_by_its_grant_or_a_policy() {
    let dir = temp_dir("acp-asks");
    // Without --ask nobody is asked: its grant (none) denies.
    let agent = fake("--ask");
    let (run, stream, status) = acp_in(&dir, &agent, "fix the bug", &["--timeout", "30"]);
    assert_eq!(status, 0);
    let (asks, answers) = run.asks_and_answers();
    assert_eq!(asks.len(), 1);
    assert_eq!(asks[0].tool, "execute");
    assert_eq!(asks[0].input["command"], "touch asked");
    assert_eq!(
        (answers[0].decision.as_str(), answers[0].by.as_str()),
        ("deny", "grant")
    );
    assert!(!dir.join("asked").exists(), "denied, not run");
    assert_eq!(
        texts(&run),
        ["working on: fix the bug", "not allowed, so I stopped"]
    );
    let result = result(&run);
    assert_eq!(
        (result["ok"].as_bool(), result["input_tokens"].as_u64()),
        (Some(true), Some(120))
    );
    assert_eq!(run.exit().agent_result.as_deref(), Some("ok"));
    assert_view_checks(&stream);

    // A task whose grant allows `execute` (the ACP tool kind): allowed by
    // the grant, nobody asked; the agent's command line is the task's.
    let task = serde_json::json!({"type": "task", "worker": "granted", "seq": 0, "ts": 1.0,
        "id": "granted", "kind": "acp",
        "acp_agent": agent, "prompt": "fix it", "permissions": {"allow": ["execute"]}});
    let ran = run_bounded(
        Command::new(env!("CARGO_BIN_EXE_sc-spawn")).current_dir(&dir),
        format!("{task}\n").into_bytes(),
    );
    let run = Captured::parse(&ran.stdout);
    let (_, answers) = run.asks_and_answers();
    assert_eq!(
        (answers[0].decision.as_str(), answers[0].by.as_str()),
        ("allow", "grant")
    );
    assert!(
        dir.join("asked").exists(),
        "the agent ran what its grant allows"
    );
    assert!(texts(&run).contains(&"ran it".to_owned()));
    std::fs::remove_file(dir.join("asked")).unwrap();

    // Under --ask, the policy command decides.
    let (run, _, _) = acp_in(&dir, &agent, "p", &["--ask", "--ask-cmd", "echo deny no"]);
    let (_, answers) = run.asks_and_answers();
    assert_eq!(
        (answers[0].decision.as_str(), answers[0].by.as_str()),
        ("deny", "command")
    );
    assert!(!dir.join("asked").exists());
}

#[test]
fn a_worker_ended_while_its_agent_asks_cancels_the_turn_and_an_agent_deaf_to_signals_ends_at_eof() {
    let dir = temp_dir("acp-cancel");
    let log = dir.join("got.ndjson");
    let agent = fake(&format!("--ask --deaf --log '{}'", log.display()));
    // A kill grace far longer than the test: only the cancel and its stdin
    // closing end an agent that ignores SIGTERM before it.
    let (run, stream, status) = acp_in(
        &dir,
        &agent,
        "p",
        &["--ask", "--timeout", "1", "--kill-grace", "600"],
    );
    assert_eq!(status, 124, "a timeout");
    let exit = run.exit();
    assert_eq!(
        exit.signal, None,
        "it ended by itself, not by SIGKILL: {exit:?}"
    );
    let got: Vec<Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        got.iter().any(|m| m["method"] == "session/cancel"),
        "{got:?}"
    );
    assert!(
        got.iter()
            .any(|m| m["id"] == 0 && m["result"]["outcome"]["outcome"] == "cancelled"),
        "its open permission request answered `cancelled`: {got:?}"
    );
    let result = result(&run);
    assert_eq!(result["ok"], false);
    assert!(result["text"].as_str().unwrap().contains("cancelled"));
    // Its ask has its answer, before the exit.
    let (asks, answers) = run.asks_and_answers();
    assert_eq!((asks.len(), answers.len()), (1, 1));
    assert_view_checks(&stream);
}

#[test]
fn a_version_2_agent_is_read_by_its_upserts_and_idle_state() {
    let dir = temp_dir("acp-v2");
    let agent = fake("--version 2");
    let (run, stream, status) = acp_in(&dir, &agent, "p", &["--timeout", "30"]);
    assert_eq!(status, 0);
    assert_eq!(texts(&run), ["working on: p"]);
    let result = result(&run);
    assert_eq!(
        (result["ok"].as_bool(), result["output_tokens"].as_u64()),
        (Some(true), Some(30))
    );
    // sc-view draws it as any agent: its text and its plan, no JSON.
    let view = run_bounded(&mut Command::new(env!("CARGO_BIN_EXE_sc-view")), stream);
    let shown = String::from_utf8_lossy(&view.stdout);
    assert!(shown.contains("[acp] working on: p"), "{shown}");
    assert!(shown.contains("plan: ✓ look · ▸ change"), "{shown}");
    assert!(!shown.contains("jsonrpc"), "{shown}");
}

#[test]
fn an_agent_that_dies_mid_turn_fails_and_its_retry_loads_the_session_again() {
    let dir = temp_dir("acp-die");
    let marker = dir.join("died");
    // Without retries: its death is the verdict.
    let agent = fake(&format!("--die-once '{}'", marker.display()));
    let (run, _, status) = acp_in(&dir, &agent, "p", &["--timeout", "30"]);
    assert_eq!((status, run.exit().code), (3, Some(3)));
    assert_ne!(run.exit().agent_result.as_deref(), Some("ok"));

    // With a retry, an agent that can load sessions is given its own back.
    std::fs::remove_file(&marker).unwrap();
    let log = dir.join("got.ndjson");
    let agent = fake(&format!(
        "--load --die-once '{}' --log '{}'",
        marker.display(),
        log.display()
    ));
    let (run, stream, status) = acp_in(
        &dir,
        &agent,
        "p",
        &[
            "--timeout",
            "30",
            "--retries",
            "1",
            "--retry-delay",
            "0",
            "--retry-on",
            "any",
        ],
    );
    assert_eq!(status, 0);
    let session = std::fs::read_to_string(&marker).unwrap();
    let starts = starts_of(&run);
    assert_eq!(starts[1].resumes.as_deref(), Some(session.as_str()));
    let got = std::fs::read_to_string(&log).unwrap();
    let load = got
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|m| m["method"] == "session/load")
        .expect("the retry loads the session");
    assert_eq!(load["params"]["sessionId"], session.as_str());
    // What it replays while loading is the earlier attempt's, not shown
    // again as this one's.
    assert!(!texts(&run).iter().any(|t| t.contains("what I said before")));
    assert_eq!(result(&run)["ok"], true);
    assert_view_checks(&stream);
}

#[test]
fn kind_acp_without_an_agent_says_how_to_name_one() {
    let dir = temp_dir("acp-none");
    for args in [
        &["--kind", "acp", "--prompt", "p"][..],
        &["--kind", "acp", "--acp-agent", "'half", "--prompt", "p"],
    ] {
        let (run, _, status) = spawn_in(&dir, args);
        assert_eq!(status, 127);
        let errors = run.errors();
        assert!(
            errors[0].contains("--acp-agent"),
            "the message names the flag: {errors:?}"
        );
    }
}
