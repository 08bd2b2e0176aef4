//! `--ask`: the real Claude Code, offline against the tests' mock model,
//! asks for a command its grant does not allow (the mock's Bash call), and
//! is answered — by a policy command, by the default when the time is up,
//! or not at all because the run is cut off. The stream says each `ask`
//! and its one `answer`; the tool runs only when allowed.

use std::path::{Path, PathBuf};
use std::process::Command;

use nix::sys::signal::Signal;

use crate::mock_model::{MockModel, TOOL_COMMAND};
use crate::util::*;

/// sc-spawn running the real Claude Code under `--ask` with `args`, in a
/// folder of its own (with no role: Bash is not granted).
pub(crate) fn asking(
    claude: &Path,
    mock: &MockModel,
    name: &str,
    args: &[&str],
) -> (Command, PathBuf) {
    let dir = temp_dir(name);
    let mut command = sc_spawn_claude(claude, &mock.url(), &dir);
    command
        .arg("--ask")
        .args(args)
        .args(["--prompt", "Write the marker file, then say so."]);
    (command, dir)
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
    assert_view_checks(&ran.stdout);
    let run = Captured::parse(&ran.stdout);
    assert_eq!(ran.status.code(), Some(0), "{}", ran.stderr);
    let (asks, answers) = run.asks_and_answers();
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
    // sc-view says who waited for what, and who decided.
    let file = temp_file("asks-view.ndjson", &ran.stdout);
    let viewed = crate::view::sc_view().arg(&file).output().unwrap();
    let text = String::from_utf8_lossy(&viewed.stdout);
    assert!(
        text.contains("? needs input: Bash echo tool-ran-for-real"),
        "{text}"
    );
    assert!(text.contains("✔ allowed by command: Bash"), "{text}");
}

#[test]
fn an_unanswered_ask_is_denied_when_its_time_is_up() {
    let Some(claude) = agent_cli("claude", "SC_CLAUDE") else {
        return;
    };
    let mock = MockModel::start();
    // A policy that does not answer in time leaves the ask to the
    // default (and is ended with it).
    let (mut command, dir) = asking(
        &claude,
        &mock,
        "ask-timeout",
        &["--ask-cmd", "exec sleep 30", "--ask-timeout", "0.5"],
    );
    let ran = run_bounded(&mut command, Vec::new());
    assert_view_checks(&ran.stdout);
    let run = Captured::parse(&ran.stdout);
    let (asks, answers) = run.asks_and_answers();
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
    // The JUnit report lists what was denied.
    let stream = temp_file("asks-denied.ndjson", &ran.stdout);
    let report = dir.join("junit.xml");
    let viewed = crate::view::sc_view()
        .arg(format!("--junit={}", report.display()))
        .arg(&stream)
        .output()
        .unwrap();
    assert!(viewed.status.success());
    let xml = std::fs::read_to_string(&report).unwrap();
    assert!(
        xml.contains("sc: denied: Bash echo tool-ran-for-real"),
        "{xml}"
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
    assert_view_checks(&stream);
    let run = Captured::parse(&stream);
    let (asks, answers) = run.asks_and_answers();
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
        &bin.join("aider"),
        "#!/bin/sh\necho 'Tokens: 1.2k sent, 30 received. Cost: $0.01 message, $0.01 session.'\n",
    );
    let ran = run_bounded(
        sc_spawn()
            .args(["--ask", "--kind", "aider", "--prompt", "hi"])
            .env_remove("SC_AIDER")
            .env("PATH", format!("{}:/usr/bin:/bin", bin.display())),
        Vec::new(),
    );
    let run = Captured::parse(&ran.stdout);
    // It ran (aider writes no verdict sc could call a success: that is
    // its own matter); --ask was said once not to hold for it.
    assert_eq!(run.exit().code, Some(0), "{}", ran.stderr);
    let said: Vec<String> = run.errors();
    assert_eq!(said.len(), 1, "{said:?}");
    assert!(said[0].contains("aider cannot ask"), "{said:?}");
}

/// Under `--ask`, an agent that reaches its cap is asked about, not ended:
/// "continue past $1.00?" goes to the policy (or a person); allowed, it
/// goes on; denied, it ends as over budget.
#[test]
fn a_budget_cap_reached_under_ask_is_a_question() {
    let run_with = |policy: &str| {
        let dir = temp_dir("ask-budget");
        let bin = dir.join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        // A stand-in Claude Code that speaks the stdio protocol: its prompt
        // on stdin, a million input tokens spent ($3 at Sonnet's price), a
        // result, and an exit when its stdin closes.
        executable(
            &bin.join("claude"),
            "#!/bin/sh\nread prompt\n\
             echo '{\"type\":\"system\",\"subtype\":\"init\",\"session_id\":\"s-1\",\"model\":\"claude-sonnet-4-5\"}'\n\
             echo '{\"type\":\"assistant\",\"message\":{\"id\":\"m1\",\"model\":\"claude-sonnet-4-5\",\"role\":\"assistant\",\"content\":[{\"type\":\"text\",\"text\":\"working\"}],\"usage\":{\"input_tokens\":1000000,\"output_tokens\":10}}}'\n\
             echo '{\"type\":\"result\",\"subtype\":\"success\",\"is_error\":false,\"result\":\"done\",\"session_id\":\"s-1\",\"total_cost_usd\":3.0}'\n\
             while read line; do :; done\n",
        );
        let ran = run_bounded(
            sc_spawn()
                .args(["--kind", "claude-code", "--prompt", "spend", "--ask"])
                .args(["--max-cost-usd", "1", "--ask-cmd", policy])
                .env_remove("SC_CLAUDE")
                .env("PATH", format!("{}:/usr/bin:/bin", bin.display())),
            Vec::new(),
        );
        assert_view_checks(&ran.stdout);
        (Captured::parse(&ran.stdout), ran)
    };
    // The policy sees the cap's ask: tool `budget`, what is spent.
    let (run, ran) = run_with("grep -q '\"tool\":\"budget\"' && echo deny over budget");
    let (asks, answers) = run.asks_and_answers();
    assert_eq!(asks.len(), 1, "{:?}", run.events);
    assert_eq!(asks[0].tool, "budget");
    assert!(
        asks[0]
            .reason
            .as_deref()
            .unwrap_or("")
            .contains("continue past $1.00"),
        "{:?}",
        asks[0]
    );
    assert_eq!(
        (answers[0].decision.as_str(), answers[0].by.as_str()),
        ("deny", "command")
    );
    assert_eq!(run.exit().ended_by.as_deref(), Some("budget"));
    assert_ne!(ran.status.code(), Some(0));
    let (run, ran) = run_with("echo allow");
    let (_, answers) = run.asks_and_answers();
    assert_eq!(
        (answers[0].decision.as_str(), answers[0].by.as_str()),
        ("allow", "command")
    );
    assert_eq!(run.exit().ended_by, None, "it went on past the cap");
    assert_eq!(ran.status.code(), Some(0), "{}", ran.stderr);
}

/// A question the agent puts to the user (Claude's AskUserQuestion) is an
/// ask whose choices are its options; answering with one of them gives
/// the agent that answer.
#[test]
fn a_question_is_answered_with_one_of_its_options() {
    let Some(claude) = agent_cli("claude", "SC_CLAUDE") else {
        return;
    };
    let question = serde_json::json!({"questions": [{
        "question": "Which file should I change?", "header": "File", "multiSelect": false,
        "options": [
            {"label": "alpha.txt", "description": "the first"},
            {"label": "beta.txt", "description": "the second"},
        ],
    }]});
    let mock = MockModel::scripted(vec![
        crate::mock_model::Turn {
            pieces: vec!["Let me ask.".into()],
            tool: Some(("AskUserQuestion".into(), question)),
        },
        crate::mock_model::Turn {
            pieces: vec!["Understood.".into()],
            tool: None,
        },
    ]);
    let (mut command, _dir) = asking(
        &claude,
        &mock,
        "ask-question",
        &["--ask-cmd", "echo beta.txt"],
    );
    let ran = run_bounded(&mut command, Vec::new());
    assert_view_checks(&ran.stdout);
    let run = Captured::parse(&ran.stdout);
    let (asks, answers) = run.asks_and_answers();
    assert_eq!(asks.len(), 1, "{:?}", run.events);
    assert_eq!(asks[0].tool, "AskUserQuestion");
    assert_eq!(asks[0].choices, ["alpha.txt", "beta.txt", "deny"]);
    assert_eq!(
        (answers[0].decision.as_str(), answers[0].by.as_str()),
        ("beta.txt", "command")
    );
    assert_eq!(ran.status.code(), Some(0), "{}", ran.stderr);
    let requests = mock.requests.lock().unwrap().clone();
    let last = requests
        .iter()
        .rfind(|r| r.contains("tool_result"))
        .expect("the answer went back");
    let result = &last[last.rfind("tool_result").unwrap()..];
    assert!(result.contains("beta.txt"), "{result}");
    assert!(!result.contains("\"is_error\":true"), "{result}");
}

/// A stand-in Claude Code in `bin` that speaks the stdio protocol: it asks
/// to touch a file (in `dir`) named after the last word of its prompt,
/// does it only when allowed, then reports and waits for its stdin to
/// close.
pub(crate) fn stand_in_asker(bin: &Path, dir: &Path) {
    executable(
        &bin.join("claude"),
        &format!(
            "#!/bin/sh\nread prompt\nname=$(printf %s \"$prompt\" | sed 's/.*touch \\([a-z]*\\).*/\\1/')\n\
             echo '{{\"type\":\"system\",\"subtype\":\"init\",\"session_id\":\"s\",\"model\":\"claude-sonnet-4-5\"}}'\n\
             echo \"{{\\\"type\\\":\\\"control_request\\\",\\\"request_id\\\":\\\"r1\\\",\\\"request\\\":{{\\\"subtype\\\":\\\"can_use_tool\\\",\\\"tool_name\\\":\\\"Bash\\\",\\\"input\\\":{{\\\"command\\\":\\\"touch $name\\\"}}}}}}\"\n\
             read answer\ncase \"$answer\" in *allow*) touch '{dir}'/\"$name\";; esac\n\
             echo '{{\"type\":\"result\",\"subtype\":\"success\",\"is_error\":false,\"result\":\"done\",\"session_id\":\"s\",\"total_cost_usd\":0.01}}'\n\
             while read line; do :; done\n",
            dir = dir.display()
        ),
    );
}

/// Records `demo/claude-code/ask.ndjson` and `ask.denied.ndjson`: the real
/// Claude Code under `--ask`, its Bash call asked about, allowed in one
/// and denied in the other (the mock model says so then), for
/// `scripts/demo --ask` (run with `cargo test --test integration
/// record_the_ask_demo -- --ignored`).
#[test]
#[ignore]
fn record_the_ask_demo() {
    use crate::mock_model::{DENIED_TEXT, Turn, default_script};
    let claude =
        agent_cli("claude", "SC_CLAUDE").expect("Claude Code installed (.ci/run, or SC_CLAUDE)");
    let demo = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("demo/claude-code");
    for (answer, file) in [("allow", "ask.ndjson"), ("deny", "ask.denied.ndjson")] {
        let mock = MockModel::choosing(|body| {
            if body.contains("\"is_error\":true") {
                return Some(Turn {
                    pieces: vec![DENIED_TEXT.into()],
                    tool: None,
                });
            }
            let script = default_script();
            let done = body.matches("\"tool_use_id\"").count();
            script.get(done).or(script.last()).cloned()
        });
        let policy = format!("echo {answer}");
        let (mut command, _dir) = asking(
            &claude,
            &mock,
            &format!("record-ask-{answer}"),
            &["--id", "fix", "--heartbeat", "0", "--ask-cmd", &policy],
        );
        let ran = run_bounded(&mut command, Vec::new());
        assert_eq!(ran.status.code(), Some(0), "{}", ran.stderr);
        std::fs::write(demo.join(file), &ran.stdout).unwrap();
    }
}

/// A recorded agent replayed under `--ask` (`scripts/demo --ask`, no CLI
/// and no key) plays its side of the approval channel: its recorded ask is
/// an ask here, and the replay waits for the answer before it goes on.
#[test]
fn a_recorded_agent_replayed_under_ask_waits_for_its_answer() {
    let recording =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("demo/claude-code/ask.ndjson");
    let ran = run_bounded(
        sc_spawn()
            .args(["--ask", "--ask-cmd", "sleep 0.3; echo deny not in the demo"])
            .args([
                "--kind",
                "claude-code",
                "--replay-speed",
                "20",
                "--heartbeat",
                "0",
            ])
            .arg("--replay")
            .arg(&recording)
            .env_remove("SC_CLAUDE"),
        Vec::new(),
    );
    assert_view_checks(&ran.stdout);
    let run = Captured::parse(&ran.stdout);
    assert_eq!(ran.status.code(), Some(0), "{}", ran.stderr);
    let (asks, answers) = run.asks_and_answers();
    assert_eq!((asks.len(), answers.len()), (1, 1), "{:?}", run.events);
    assert_eq!(
        (answers[0].decision.as_str(), answers[0].by.as_str()),
        ("deny", "command")
    );
    // What the recording has after its ask comes only after the answer.
    let seq_of = |pred: &dyn Fn(&sc_events::Event) -> bool| {
        run.events.iter().find(|e| pred(e)).map(|e| e.seq).unwrap()
    };
    let answered = seq_of(&|e| e.type_name() == "answer");
    let after = seq_of(&|e| output(e).is_some() && text(e).contains("\"tool_result\""));
    assert!(answered < after, "the replay waited for the answer");
    // Denied, it goes on as the run did when it was denied.
    let said = said(&run);
    assert!(said.contains(crate::mock_model::DENIED_TEXT), "{said}");
    assert!(!said.contains(crate::mock_model::FINAL_TEXT), "{said}");
}

/// Allowed, the replayed run goes on as recorded: the marker is written.
#[test]
fn a_recorded_agent_replayed_under_ask_and_allowed_says_what_it_did() {
    let recording =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("demo/claude-code/ask.ndjson");
    let ran = run_bounded(
        sc_spawn()
            .args(["--ask", "--ask-cmd", "echo allow"])
            .args(["--kind", "claude-code", "--replay-speed", "20"])
            .arg("--replay")
            .arg(&recording)
            .env_remove("SC_CLAUDE"),
        Vec::new(),
    );
    assert_eq!(ran.status.code(), Some(0), "{}", ran.stderr);
    let said = said(&Captured::parse(&ran.stdout));
    assert!(said.contains(crate::mock_model::FINAL_TEXT), "{said}");
    assert!(!said.contains(crate::mock_model::DENIED_TEXT), "{said}");
}

/// All the output a run's workers wrote, as text.
fn said(run: &Captured) -> String {
    run.events
        .iter()
        .filter(|e| output(e).is_some())
        .map(text)
        .collect()
}
