//! Claude Code runs that go on after an interim `result`: a background
//! shell or subagent is still working. Reproduced with the real CLI (2.1.331
//! and 2.1.332): sc-spawn ended the run 10 s after the first `result`
//! (`ended_by: "result without exit"`), losing the shell's output and the
//! agent's final answer.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

use crate::mock_model::{MockModel, Turn};
use crate::util::*;

fn fixture(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/agents/claude-code")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A fake `claude` that plays a real transcript with its silence: every
/// line up to and including the first `result`, then a pause longer than
/// the exit grace, then the rest, then exit 0.
fn fake_claude_with_a_pause(transcript: &str, pause_s: f64) -> PathBuf {
    let lines: Vec<&str> = transcript.lines().collect();
    let first_result = lines
        .iter()
        .position(|l| serde_json::from_str::<Value>(l).is_ok_and(|v| v["type"] == "result"))
        .expect("a result line");
    let dir = temp_dir("fake-background");
    let (before, after) = lines.split_at(first_result + 1);
    std::fs::write(dir.join("before.jsonl"), before.join("\n") + "\n").unwrap();
    std::fs::write(dir.join("after.jsonl"), after.join("\n") + "\n").unwrap();
    let script = format!(
        "#!/bin/sh\ncat {}\nsleep {pause_s}\ncat {}\nexit 0\n",
        dir.join("before.jsonl").display(),
        dir.join("after.jsonl").display()
    );
    let path = dir.join("claude");
    executable(&path, &script);
    path
}

/// The recorded background-shell run, its 20 s of silence shortened to 2 s
/// against a 0.5 s grace: nothing is cut off.
#[test]
fn an_interim_result_with_a_background_task_open_is_not_the_end() {
    let fake = fake_claude_with_a_pause(&fixture("sc-background-bash-2.1.331.jsonl"), 2.0);
    let ran = run_bounded(
        Command::new(env!("CARGO_BIN_EXE_sc-spawn"))
            .args(["--kind", "claude-code", "--prompt", "go"])
            .args(["--agent-exit-grace", "0.5", "--kill-grace", "0.5"])
            .env("SC_CLAUDE", &fake),
        Vec::new(),
    );
    let run = Captured::parse(&ran.stdout);
    let exit = run.exit();
    assert_eq!(exit.ended_by, None, "{exit:?}");
    assert_eq!(exit.code, Some(0));
    assert_eq!(exit.agent_result.as_deref(), Some("ok"));
    let notes = run.agent_notes();
    let results = notes.iter().filter(|n| n["kind"] == "result").count();
    assert_eq!(results, 2, "the final result arrived too");
    assert!(
        notes
            .iter()
            .any(|n| n["kind"] == "task" && n["state"] == "completed"),
        "the task's end is annotated"
    );
    assert_eq!(ran.status.code(), Some(0));
}

/// A run that is done (its last result came with nothing open) but does
/// not exit is still ended after the grace.
#[test]
fn a_settled_run_that_lingers_is_still_ended() {
    let transcript = fixture("sc-background-agent-2.1.331.jsonl");
    let dir = temp_dir("fake-lingers");
    std::fs::write(dir.join("t.jsonl"), &transcript).unwrap();
    let path = dir.join("claude");
    std::fs::write(
        &path,
        format!(
            "#!/bin/sh\ncat {}\nexec sleep 30\n",
            dir.join("t.jsonl").display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let ran = run_bounded(
        Command::new(env!("CARGO_BIN_EXE_sc-spawn"))
            .args(["--kind", "claude-code", "--prompt", "go"])
            .args(["--agent-exit-grace", "0.3", "--kill-grace", "0.3"])
            .env("SC_CLAUDE", &path),
        Vec::new(),
    );
    let run = Captured::parse(&ran.stdout);
    assert_eq!(run.exit().ended_by.as_deref(), Some("result without exit"));
    assert_eq!(run.exit().agent_result.as_deref(), Some("ok"));
}

/// The real Claude Code, a background shell that outlives the grace: the
/// shell's work and the agent's final answer reach the stream.
#[test]
fn real_claude_code_with_a_background_shell_runs_to_its_end() {
    let Some(claude) = agent_cli("claude", "SC_CLAUDE") else {
        return;
    };
    const FINAL: &str = "The background job wrote its file.";
    let mock = MockModel::choosing(|body| {
        let turn = |pieces: &[&str], tool: Option<(&str, Value)>| Turn {
            pieces: pieces.iter().map(|p| p.to_string()).collect(),
            tool: tool.map(|(n, i)| (n.to_owned(), i)),
        };
        Some(if !body.contains("\"tool_use_id\"") {
            turn(
                &["Starting ", "the job."],
                Some((
                    "Bash",
                    serde_json::json!({
                        "command": "sleep 3; echo bg-done > bg.txt",
                        "description": "slow job",
                        "run_in_background": true,
                    }),
                )),
            )
        } else if body.contains("task-notification") || body.contains("task_notification") {
            turn(&[FINAL], None)
        } else {
            turn(&["Waiting for the job."], None)
        })
    });
    let dir = temp_dir("claude-background");
    let ran = run_bounded(
        sc_spawn_claude(&claude, &mock.url(), &dir)
            .args(["--role", "bug-fixer", "--agent-exit-grace", "1"])
            .args([
                "--prompt",
                "Run the slow job in the background, then report.",
            ]),
        Vec::new(),
    );
    let run = Captured::parse(&ran.stdout);
    let notes = run.agent_notes();
    let describe = || {
        notes
            .iter()
            .map(Value::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    };
    let exit = run.exit();
    assert_eq!(exit.ended_by, None, "cut off: {exit:?}\n{}", describe());
    assert_eq!(exit.code, Some(0), "{}", describe());
    assert_eq!(
        std::fs::read_to_string(dir.join("bg.txt")).unwrap_or_default(),
        "bg-done\n",
        "the background shell ran to its end"
    );
    let results: Vec<&Value> = notes.iter().filter(|n| n["kind"] == "result").collect();
    assert!(
        results.len() >= 2,
        "an interim and a final result: {}",
        describe()
    );
    assert_eq!(
        results.last().unwrap()["text"].as_str(),
        Some(FINAL),
        "{}",
        describe()
    );
}
