//! The real Codex and Gemini CLIs (from the npm registry; .ci/run installs
//! them) through sc-spawn, offline, against the tests' mock model servers.

use std::process::Command;

use sc_events::Body;
use serde_json::Value;

use crate::mock_model::{
    CODEX_COMMAND, CODEX_TEXT, GEMINI_CHUNKS, GEMINI_COMMAND, MockGemini, MockResponses,
};
use crate::util::*;

/// sc-spawn running the real Codex against the mock Responses API on
/// `port`, in `dir`, with a CODEX_HOME of its own (named after `dir`); the CLI's own
/// retries off, so that what sc sees is what the API said.
pub fn sc_spawn_codex(codex: &std::path::Path, port: u16, dir: &std::path::Path) -> Command {
    let home = codex_home(&dir.file_name().unwrap().to_string_lossy());
    let mut command = Command::new(env!("CARGO_BIN_EXE_sc-spawn"));
    command
        .args(["--kind", "codex", "--timeout", "120"])
        .args(codex_mock_args(port, "--agent-arg="))
        .arg("--cwd")
        .arg(dir)
        .env("SC_CODEX", codex)
        .env("CODEX_HOME", &home);
    command
}

/// sc-spawn running the real Gemini CLI against the mock Gemini API on
/// `port`, in `dir`, with a home of its own there.
pub fn sc_spawn_gemini(gemini: &std::path::Path, port: u16, dir: &std::path::Path) -> Command {
    let home = gemini_home(dir);
    let mut command = Command::new(env!("CARGO_BIN_EXE_sc-spawn"));
    command
        .args(["--kind", "gemini", "--timeout", "120"])
        .args(["--model", "gemini-2.5-flash", "--agent-arg=--skip-trust"])
        .arg("--cwd")
        .arg(dir)
        .env("SC_GEMINI", gemini)
        .env("GEMINI_CLI_HOME", &home)
        .env("GEMINI_API_KEY", "test-key-for-the-mock")
        .env("GOOGLE_GEMINI_BASE_URL", format!("http://127.0.0.1:{port}"));
    command
}

fn annotations(run: &Captured) -> Vec<(f64, Value)> {
    run.events
        .iter()
        .filter_map(|e| match &e.body {
            Body::Output(o) => o.agent.clone().map(|a| (e.ts, a)),
            _ => None,
        })
        .collect()
}

#[test]
fn real_codex_runs_a_real_command_and_reports_its_usage() {
    let Some(codex) = agent_cli("codex", "SC_CODEX") else {
        return;
    };
    let mock = MockResponses::start();
    let dir = temp_dir("codex");
    let mut command = sc_spawn_codex(&codex, mock.port, &dir);
    command
        .args(["--role", "code-generator", "--agent-arg=--ephemeral"])
        .args(["--prompt", "Write the marker file."]);
    let (run, status) = Live::start_with(&mut command).finish();
    let notes = annotations(&run);
    let describe = notes
        .iter()
        .map(|(_, a)| a.to_string())
        .collect::<Vec<_>>()
        .join("\n");
    assert_eq!(status.code(), Some(0), "{describe}");
    let call = notes
        .iter()
        .map(|(_, a)| a)
        .find(|a| a["kind"] == "tool_call")
        .expect("a tool call");
    assert!(
        call["input"]["command"]
            .as_str()
            .unwrap()
            .contains(CODEX_COMMAND),
        "{call}"
    );
    let done = notes
        .iter()
        .map(|(_, a)| a)
        .find(|a| a["kind"] == "tool_result")
        .expect("its result");
    assert_eq!(done["is_error"], false);
    assert_eq!(
        std::fs::read_to_string(dir.join("marker.txt")).unwrap(),
        "codex-tool-ran\n"
    );
    // Codex sends each message whole: "live" is each item as it completes.
    assert!(
        notes
            .iter()
            .any(|(_, a)| a["kind"] == "text" && a["text"] == CODEX_TEXT),
        "{describe}"
    );
    // Usage per turn, summed: the mock reported 1500/60 for each request.
    let result = notes
        .iter()
        .map(|(_, a)| a)
        .rfind(|a| a["kind"] == "result")
        .expect("a result");
    let own = run
        .events
        .iter()
        .rev()
        .find_map(|e| match &e.body {
            Body::Output(o) if o.agent.as_ref().is_some_and(|a| a["kind"] == "result") => {
                serde_json::from_slice::<Value>(o.payload.as_bytes()).ok()
            }
            _ => None,
        })
        .unwrap();
    assert_eq!(result["input_tokens"], own["usage"]["input_tokens"]);
    assert_eq!(result["output_tokens"], own["usage"]["output_tokens"]);
    assert_eq!(run.exit().agent_result.as_deref(), Some("ok"));
    let requests = mock.requests.lock().unwrap();
    assert!(
        requests.iter().any(|r| r.contains("function_call_output")),
        "the command's output went back"
    );
}

#[test]
fn real_gemini_streams_deltas_and_runs_the_command_its_role_allows() {
    let Some(gemini) = agent_cli("gemini", "SC_GEMINI") else {
        return;
    };
    let mock = MockGemini::start();
    let dir = temp_dir("gemini");
    let mut command = sc_spawn_gemini(&gemini, mock.port, &dir);
    command
        .args(["--prompt", "Write the marker file."])
        // Gemini offers its shell tool headless only in yolo mode: asked
        // for explicitly, as sc requires.
        .arg("--dangerously-skip-permissions");
    let (run, status) = Live::start_with(&mut command).finish();
    let notes = annotations(&run);
    let describe = notes
        .iter()
        .map(|(_, a)| a.to_string())
        .collect::<Vec<_>>()
        .join("\n");
    assert_eq!(status.code(), Some(0), "{describe}");
    let deltas: Vec<&(f64, Value)> = notes
        .iter()
        .filter(|(_, a)| a["kind"] == "text" && a["delta"] == true)
        .collect();
    let texts: Vec<&str> = deltas
        .iter()
        .filter_map(|(_, a)| a["text"].as_str())
        .collect();
    assert!(texts.windows(3).any(|w| w == GEMINI_CHUNKS), "{describe}");
    let first = deltas
        .iter()
        .find(|(_, a)| a["text"] == GEMINI_CHUNKS[0])
        .unwrap()
        .0;
    let last = deltas
        .iter()
        .find(|(_, a)| a["text"] == GEMINI_CHUNKS[2])
        .unwrap()
        .0;
    assert!(last - first >= 0.05, "the chunks were seen as they came");
    let call = notes
        .iter()
        .map(|(_, a)| a)
        .find(|a| a["kind"] == "tool_call")
        .expect("a tool call");
    assert_eq!(call["input"]["command"], GEMINI_COMMAND);
    let done = notes
        .iter()
        .map(|(_, a)| a)
        .find(|a| a["kind"] == "tool_result")
        .expect("its result");
    assert_eq!(
        (&done["id"], &done["is_error"]),
        (&call["id"], &Value::Bool(false))
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("marker.txt")).unwrap(),
        "gemini-tool-ran\n"
    );
    let result = notes
        .iter()
        .map(|(_, a)| a)
        .find(|a| a["kind"] == "result")
        .expect("a result");
    assert_eq!(result["ok"], true);
    assert_eq!(run.exit().agent_result.as_deref(), Some("ok"));
    let requests = mock.requests.lock().unwrap();
    assert!(
        requests.iter().any(|r| r.contains("functionResponse")),
        "the command's output went back"
    );
}

/// The real Codex against a Responses API that is unavailable (503) on the
/// first attempt: sc-spawn retries, resuming the session (`codex exec
/// resume SESSION`), and the mock sees the first attempt's conversation in
/// the resumed request.
#[test]
fn real_codex_retry_resumes_its_session() {
    codex_retry_resumes(&[], Some("resume"));
}

/// The same under `--ask` (Codex's app-server, where it asks): the retry
/// resumes the thread (`thread/resume` on its stdin) rather than starting a
/// new one.
#[test]
fn real_codex_under_ask_retry_resumes_its_thread() {
    codex_retry_resumes(&["--ask", "--ask-default", "deny"], None);
}

/// A Codex run with `args` whose first attempt meets a 503; `flag`: what
/// the resuming attempt's command line holds (with the session).
fn codex_retry_resumes(args: &[&str], flag: Option<&str>) {
    let Some(codex) = agent_cli("codex", "SC_CODEX") else {
        return;
    };
    let mock = MockResponses::unavailable_until_resumed();
    let dir = temp_dir(&format!("codex-retry{}", args.len()));
    let ran = run_bounded(
        sc_spawn_codex(&codex, mock.port, &dir)
            .args(args)
            .args(["--retries", "2", "--retry-delay", "0.2"])
            .args(["--prompt", "Say whether the tests pass."]),
        Vec::new(),
    );
    let run = Captured::parse(&ran.stdout);
    let describe = String::from_utf8_lossy(&ran.stdout).into_owned();
    assert_eq!(retries_of(&run).len(), 1, "{describe}");
    let requests = mock.requests.lock().unwrap().clone();
    match flag {
        Some(flag) => assert_resumed(&run, &requests, flag, "Say whether the tests pass"),
        None => {
            let resumes = starts_of(&run).get(1).and_then(|s| s.resumes.clone());
            assert!(resumes.is_some_and(|s| !s.is_empty()), "{describe}");
            assert_conversation_resumed(&requests, "Say whether the tests pass");
        }
    }
    assert_eq!(run.exit().code, Some(0), "{describe}");
    assert_eq!(run.exit().agent_result.as_deref(), Some("ok"));
}

/// The real Gemini CLI against an API that says it is overloaded on the
/// first request. Gemini keeps no session when its first request failed, so
/// the retry that resumes it cannot: the next attempt starts anew, and
/// succeeds.
#[test]
fn real_gemini_retry_starts_anew_when_its_session_was_never_saved() {
    let Some(gemini) = agent_cli("gemini", "SC_GEMINI") else {
        return;
    };
    let mock = MockGemini::unavailable_until_resumed();
    let dir = temp_dir("gemini-retry");
    let ran = run_bounded(
        sc_spawn_gemini(&gemini, mock.port, &dir)
            .args(["--retries", "3", "--retry-delay", "0.2"])
            .args(["--prompt", "Say whether the tests pass."]),
        Vec::new(),
    );
    let run = Captured::parse(&ran.stdout);
    let describe = String::from_utf8_lossy(&ran.stdout).into_owned();
    let starts = starts_of(&run);
    assert_eq!(starts.len(), 3, "{describe}");
    assert!(
        starts[1].resumes.is_some(),
        "the first retry resumes: {describe}"
    );
    assert!(starts[2].resumes.is_none(), "then starts anew: {describe}");
    assert_eq!(run.exit().code, Some(0), "{describe}");
    assert_eq!(run.exit().agent_result.as_deref(), Some("ok"), "{describe}");
}

/// `--ask` with the real Codex: it runs as `codex app-server`, asks before
/// its command runs, and is answered — allowed by a policy, the command
/// runs; unanswered, it is declined at the timeout and the model goes on.
#[test]
fn real_codex_asks_through_its_app_server() {
    let Some(codex) = agent_cli("codex", "SC_CODEX") else {
        return;
    };
    let run_with = |name: &str, args: &[&str]| {
        let mock = MockResponses::start();
        let dir = temp_dir(name);
        let ran = run_bounded(
            sc_spawn_codex(&codex, mock.port, &dir)
                .arg("--ask")
                .args(args)
                .args(["--prompt", "Write the marker file."]),
            Vec::new(),
        );
        (Captured::parse(&ran.stdout), ran, dir)
    };
    let (run, ran, dir) = run_with("codex-ask-allow", &["--ask-cmd", "echo allow"]);
    assert_eq!(ran.status.code(), Some(0), "{}", ran.stderr);
    let (asks, answers) = run.asks_and_answers();
    assert_eq!(asks.len(), 1, "{:?}", run.events);
    assert_eq!(asks[0].tool, "shell");
    assert!(
        asks[0].input["command"]
            .as_str()
            .is_some_and(|c| c.contains(CODEX_COMMAND)),
        "{:?}",
        asks[0]
    );

    assert_eq!(
        (answers[0].decision.as_str(), answers[0].by.as_str()),
        ("allow", "command")
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("marker.txt"))
            .ok()
            .as_deref(),
        Some("codex-tool-ran\n"),
        "allowed: the command ran"
    );
    let exit = run.exit();
    assert_eq!(exit.agent_result.as_deref(), Some("ok"));
    let texts: String = annotations(&run)
        .iter()
        .filter(|(_, a)| a["kind"] == "text" && a["delta"] == false)
        .filter_map(|(_, a)| a["text"].as_str().map(str::to_owned))
        .collect();
    assert!(texts.contains(CODEX_TEXT), "{texts}");

    let (run, ran, dir) = run_with("codex-ask-deny", &["--ask-timeout", "0.5"]);
    assert_eq!(ran.status.code(), Some(0), "{}", ran.stderr);
    assert!(
        !dir.join("marker.txt").exists(),
        "declined: the command did not run"
    );
    assert!(run.events.iter().any(|e| matches!(&e.body,
        Body::Answer(a) if a.decision == "deny" && a.by == "timeout")));
}

/// `--ask` with the real Gemini CLI: its `-p` mode cannot ask, so it runs
/// over ACP (`gemini --acp`, sc the client); its shell command comes as a
/// permission request, answered with the option of the right kind.
#[test]
fn real_gemini_asks_over_acp() {
    let Some(gemini) = agent_cli("gemini", "SC_GEMINI") else {
        return;
    };
    let run_with = |name: &str, policy: &str| {
        let mock = MockGemini::start();
        let dir = temp_dir(name);
        let ran = run_bounded(
            sc_spawn_gemini(&gemini, mock.port, &dir)
                .args(["--ask", "--ask-cmd", policy])
                .args(["--prompt", "Write the marker file."]),
            Vec::new(),
        );
        (Captured::parse(&ran.stdout), ran, dir)
    };
    let (run, ran, dir) = run_with("gemini-ask-allow", "echo allow");
    assert_eq!(ran.status.code(), Some(0), "{}", ran.stderr);
    let (asks, answers) = run.asks_and_answers();
    assert_eq!(asks.len(), 1, "{:?}", run.events);
    assert_eq!(
        (answers[0].decision.as_str(), answers[0].by.as_str()),
        ("allow", "command")
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("marker.txt"))
            .ok()
            .as_deref(),
        Some("gemini-tool-ran\n"),
        "allowed: the command ran"
    );
    assert_eq!(run.exit().agent_result.as_deref(), Some("ok"));
    let (run, ran, dir) = run_with("gemini-ask-deny", "echo deny");
    assert_eq!(ran.status.code(), Some(0), "{}", ran.stderr);
    assert!(
        !dir.join("marker.txt").exists(),
        "rejected: the command did not run"
    );
    let (_, answers) = run.asks_and_answers();
    assert_eq!(answers[0].decision, "deny");
}
