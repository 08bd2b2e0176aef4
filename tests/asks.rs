//! `--ask`: the real Claude Code, offline against the tests' mock model,
//! asks for a command its grant does not allow (the mock's Bash call), and
//! is answered — by a policy command, by the default when the time is up,
//! or not at all because the run is cut off. The stream says each `ask`
//! and its one `answer`; the tool runs only when allowed.

use std::path::{Path, PathBuf};
use std::process::Command;

use nix::sys::signal::Signal;
use sc_events::Body;

use crate::mock_model::{MockModel, TOOL_COMMAND};
use crate::util::*;

/// sc-spawn running the real Claude Code under `--ask` with `args`, in a
/// folder of its own (with no role: Bash is not granted).
fn asking(claude: &Path, mock: &MockModel, name: &str, args: &[&str]) -> (Command, PathBuf) {
    let dir = temp_dir(name);
    let mut command = sc_spawn_claude(claude, &mock.url(), &dir);
    command
        .arg("--ask")
        .args(args)
        .args(["--prompt", "Write the marker file, then say so."]);
    (command, dir)
}

fn asks_and_answers(run: &Captured) -> (Vec<&sc_events::Ask>, Vec<&sc_events::Answer>) {
    let asks = run
        .events
        .iter()
        .filter_map(|e| match &e.body {
            Body::Ask(ask) => Some(ask),
            _ => None,
        })
        .collect();
    let answers = run
        .events
        .iter()
        .filter_map(|e| match &e.body {
            Body::Answer(answer) => Some(answer),
            _ => None,
        })
        .collect();
    (asks, answers)
}

/// What a user checks of every such run: the stream whole for sc-view.
fn checked(stream: &[u8]) {
    let file = temp_file("asks.ndjson", stream);
    let view = Command::new(env!("CARGO_BIN_EXE_sc-view"))
        .arg("--check")
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        view.status.success(),
        "sc-view --check: {}",
        String::from_utf8_lossy(&view.stderr)
    );
}

#[test]
fn a_policy_command_allows_what_the_agent_asks() {
    let Some(claude) = agent_cli("claude", "SC_CLAUDE") else {
        return;
    };
    let mock = MockModel::start();
    // The policy sees the ask event and allows commands that write the
    // marker, and nothing else.
    let policy = "grep -q marker.txt && echo allow || echo deny not that";
    let (mut command, dir) = asking(&claude, &mock, "ask-allow", &["--ask-cmd", policy]);
    let ran = run_bounded(&mut command, Vec::new());
    checked(&ran.stdout);
    let run = Captured::parse(&ran.stdout);
    assert_eq!(ran.status.code(), Some(0), "{}", ran.stderr);
    let (asks, answers) = asks_and_answers(&run);
    assert_eq!(asks.len(), 1, "{:?}", run.events);
    assert_eq!(asks[0].tool, "Bash");
    assert_eq!(asks[0].input["command"], TOOL_COMMAND);
    assert_eq!(asks[0].choices, ["allow", "deny"]);
    assert_eq!(answers.len(), 1);
    assert_eq!(answers[0].ask, asks[0].ask);
    assert_eq!(
        (answers[0].decision.as_str(), answers[0].by.as_str()),
        ("allow", "command")
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("marker.txt"))
            .ok()
            .as_deref(),
        Some("tool-ran-for-real\n"),
        "allowed: the tool ran"
    );
    assert_eq!(run.exit().agent_result.as_deref(), Some("ok"));
}

#[test]
fn an_unanswered_ask_is_denied_when_its_time_is_up() {
    let Some(claude) = agent_cli("claude", "SC_CLAUDE") else {
        return;
    };
    let mock = MockModel::start();
    // A policy that says nothing leaves the ask to the default.
    let (mut command, dir) = asking(
        &claude,
        &mock,
        "ask-timeout",
        &["--ask-cmd", "cat > /dev/null", "--ask-timeout", "0.5"],
    );
    let ran = run_bounded(&mut command, Vec::new());
    checked(&ran.stdout);
    let run = Captured::parse(&ran.stdout);
    let (asks, answers) = asks_and_answers(&run);
    assert_eq!((asks.len(), answers.len()), (1, 1), "{:?}", run.events);
    assert_eq!(
        (answers[0].decision.as_str(), answers[0].by.as_str()),
        ("deny", "timeout")
    );
    assert!(
        !dir.join("marker.txt").exists(),
        "denied: the tool did not run"
    );
    // The model is told and goes on to its end.
    assert_eq!(ran.status.code(), Some(0), "{}", ran.stderr);
    let requests = mock.requests.lock().unwrap().clone();
    assert!(
        requests.iter().any(|r| r.contains("no answer in time")),
        "the denial's message reached the model"
    );
}

#[test]
fn ctrl_c_with_an_ask_open_answers_it_and_leaves_nothing_running() {
    let Some(claude) = agent_cli("claude", "SC_CLAUDE") else {
        return;
    };
    let mock = MockModel::start();
    // No policy and no time limit: the ask waits for a person.
    let (mut command, _dir) = asking(
        &claude,
        &mock,
        "ask-interrupt",
        &["--ask-timeout", "0", "--kill-grace", "2"],
    );
    let mut live = Live::start_with(&mut command);
    let start = live.until(|e| e.type_name() == "start");
    let pid = start_pid(&start);
    live.until(|e| e.type_name() == "ask");
    live.signal(Signal::SIGINT);
    let (stream, _) = live.finish_bytes();
    checked(&stream);
    let run = Captured::parse(&stream);
    let (asks, answers) = asks_and_answers(&run);
    assert_eq!((asks.len(), answers.len()), (1, 1));
    assert_eq!(answers[0].by, "agent", "{:?}", answers[0]);
    assert_eq!(run.exit().ended_by.as_deref(), Some("interrupted"));
    eventually("the agent is gone", || !alive(pid));
}

#[test]
fn an_agent_that_cannot_ask_is_said_so_once() {
    let dir = temp_dir("ask-cannot");
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    executable(
        &bin.join("codex"),
        "#!/bin/sh\necho '{\"type\":\"thread.started\",\"thread_id\":\"t-1\"}'\n\
         echo '{\"type\":\"turn.completed\",\"usage\":{\"input_tokens\":1,\"output_tokens\":1}}'\n",
    );
    let ran = run_bounded(
        sc_spawn()
            .args(["--ask", "--kind", "codex", "--prompt", "hi"])
            .env_remove("SC_CODEX")
            .env("PATH", format!("{}:/usr/bin:/bin", bin.display())),
        Vec::new(),
    );
    let run = Captured::parse(&ran.stdout);
    assert_eq!(ran.status.code(), Some(0), "{}", ran.stderr);
    let said: Vec<String> = run
        .events
        .iter()
        .filter_map(|e| match &e.body {
            Body::Error(error) => Some(error.message.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(said.len(), 1, "{said:?}");
    assert!(said[0].contains("codex cannot ask"), "{said:?}");
}
