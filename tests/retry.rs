//! Retries: a failed attempt that may pass runs again, visibly, and an
//! agent's retry resumes its session instead of paying for the work twice.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use nix::sys::signal::Signal;
use sc_events::{Event, Task, to_line};

use crate::mock_model::{MockModel, Reply, Turn};
use crate::util::*;

/// A shell command that fails the first time (it leaves a mark) and
/// succeeds the next.
fn flaky(dir: &std::path::Path) -> String {
    let mark = dir.join("tried");
    format!(
        "echo attempt; test -e {m} || {{ touch {m}; exit 3; }}",
        m = mark.display()
    )
}

#[test]
fn a_command_that_fails_once_succeeds_on_retry_and_counts_as_succeeded() {
    let dir = temp_dir("flaky");
    let (run, status) = capture(&[
        "--retries",
        "2",
        "--retry-delay",
        "0.05",
        "--retry-on",
        "any",
        "--",
        "sh",
        "-c",
        &flaky(&dir),
    ]);
    assert!(status.success(), "succeeded on retry: exit 0");
    let retries = retries_of(&run);
    assert_eq!(retries.len(), 1);
    assert_eq!((retries[0].attempt, retries[0].code), (1, Some(3)));
    let starts = starts_of(&run);
    assert_eq!(starts.len(), 2);
    assert_eq!((starts[0].attempt, starts[1].attempt), (None, Some(2)));
    let exit = run.exit();
    assert_eq!(exit.code, Some(0));
    assert_eq!(exit.bytes, 16, "both attempts' output counts");
    // A saved stream of it passes sc-view --check.
    let file = temp_file(
        "retried.ndjson",
        &run.events.iter().flat_map(to_line).collect::<Vec<u8>>(),
    );
    let check = Command::new(env!("CARGO_BIN_EXE_sc-view"))
        .args(["--check", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
}

/// `--retries N` retries a command's any failure, as `parallel --retries`
/// does; `--retry-on transient` keeps to what may pass by itself (the
/// agents' default: their failures cost money). A plan task's `retries`
/// is the same.
#[test]
fn a_shell_failure_is_retried_by_default() {
    let dir = temp_dir("shell-retried");
    let (run, status) = capture(&[
        "--retries",
        "3",
        "--retry-delay",
        "0.05",
        "--",
        "sh",
        "-c",
        &flaky(&dir),
    ]);
    assert_eq!(status.code(), Some(0));
    assert_eq!(retries_of(&run).len(), 1);

    let dir = temp_dir("not-transient");
    let (run, status) = capture(&[
        "--retries",
        "3",
        "--retry-on",
        "transient",
        "--",
        "sh",
        "-c",
        &flaky(&dir),
    ]);
    assert_eq!(status.code(), Some(3));
    assert!(retries_of(&run).is_empty());

    let dir = temp_dir("plan-task-retried");
    let task = serde_json::json!({"type": "task", "id": "build", "worker": "build", "seq": 0,
        "ts": 1.0, "argv": ["sh", "-c", flaky(&dir)], "retries": 1});
    let ran = run_bounded(
        sc_spawn().args(["--retry-delay", "0.05"]),
        format!("{task}\n").into_bytes(),
    );
    assert_eq!(ran.status.code(), Some(0), "{}", ran.stderr);
    assert_eq!(retries_of(&Captured::parse(&ran.stdout)).len(), 1);
}

#[test]
fn dependents_wait_for_the_last_attempt_in_a_plan() {
    let dir = temp_dir("plan-retry");
    let task = |id: &str, script: &str, deps: &[&str], retries: Option<u32>| {
        to_line(&Event::new(
            id,
            0,
            1.0,
            Task {
                id: id.into(),
                argv: Some(vec!["sh".into(), "-c".into(), script.into()]),
                depends_on: deps.iter().map(|d| d.to_string()).collect(),
                retries,
                ..Task::default()
            },
        ))
    };
    let plan = [
        task("build", &flaky(&dir), &[], Some(1)),
        task("test", "echo after the build", &["build"], None),
    ]
    .concat();
    let ran = run_bounded(
        sc_spawn().args(["--retry-delay", "0.05", "--retry-on", "any"]),
        plan,
    );
    let run = Captured::parse(&ran.stdout);
    assert_eq!(ran.status.code(), Some(0), "{}", ran.stderr);
    let pos = |worker: &str, ty: &str| {
        run.events
            .iter()
            .rposition(|e| e.worker == worker && e.type_name() == ty)
            .unwrap()
    };
    assert!(pos("build", "retry") < pos("test", "start"));
    assert!(pos("build", "exit") < pos("test", "start"));
}

#[test]
fn an_interrupt_while_waiting_to_retry_ends_the_worker() {
    let mut live = Live::start(&[
        "--retries",
        "5",
        "--retry-delay",
        "30",
        "--retry-on",
        "any",
        "--",
        "sh",
        "-c",
        "exit 4",
    ]);
    live.until(|e| e.type_name() == "retry");
    live.signal(Signal::SIGTERM);
    let (run, status) = live.finish();
    assert_eq!(starts_of(&run).len(), 1, "no attempt after the interrupt");
    let exit = run.exit();
    assert_eq!(exit.code, Some(4), "the last attempt's outcome");
    assert_eq!(exit.ended_by.as_deref(), Some("interrupted"));
    assert_eq!(status.code(), Some(4));
}

/// The real Claude Code against a model API that is overloaded (529) for
/// the first attempt: sc-spawn retries, the retry resumes the session
/// (the mock sees the earlier conversation), and the task succeeds.
#[test]
fn real_claude_code_retry_resumes_the_session_after_an_overloaded_api() {
    let Some(claude) = agent_cli("claude", "SC_CLAUDE") else {
        return;
    };
    const PROMPT: &str = "Count the files in this directory, then say how many.";
    const FINAL: &str = "There are no files here.";
    let overloaded = Arc::new(AtomicUsize::new(0));
    let seen = overloaded.clone();
    let mock = MockModel::replying(move |body| {
        // Until sc-spawn's retry asks to continue, the API is overloaded.
        Some(if body.contains("previous attempt") {
            Reply::Turn(Turn {
                pieces: vec![FINAL.into()],
                tool: None,
            })
        } else {
            seen.fetch_add(1, Ordering::SeqCst);
            Reply::Error(529)
        })
    });
    let dir = temp_dir("claude-retry");
    let ran = run_bounded(
        sc_spawn_claude(&claude, &mock.url(), &dir)
            .args(["--retries", "2", "--retry-delay", "0.2"])
            .args(["--prompt", PROMPT])
            // The CLI's own retries would wait minutes on an overloaded API.
            .env("CLAUDE_CODE_MAX_RETRIES", "0"),
        Vec::new(),
    );
    let run = Captured::parse(&ran.stdout);
    let describe = || String::from_utf8_lossy(&ran.stdout).into_owned();
    let retries = retries_of(&run);
    assert_eq!(retries.len(), 1, "{}", describe());
    assert!(
        retries[0].reason.contains("529")
            || retries[0].reason.to_lowercase().contains("overloaded"),
        "{}",
        retries[0].reason
    );
    let requests = mock.requests.lock().unwrap().clone();
    assert_resumed(&run, &requests, "--resume", "Count the files");
    let exit = run.exit();
    assert_eq!(exit.code, Some(0), "{}", describe());
    assert_eq!(exit.agent_result.as_deref(), Some("ok"));
    assert_eq!(ran.status.code(), Some(0));
    assert!(overloaded.load(Ordering::SeqCst) >= 1);
}

/// A failed Claude Code run whose own words hold a number like a status
/// ("500 of 502 tests") is the agent's verdict, not an API outage: it is
/// not retried. What tells an outage is the CLI's structured field
/// (`api_error_status`), not the text.
#[test]
fn an_agents_own_words_are_not_an_api_error() {
    let run_with = |status: &str, text: &str| {
        let dir = temp_dir("words-not-status");
        let bin = dir.join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        executable(
            &bin.join("claude"),
            &format!(
                "#!/bin/sh\necho run >> '{runs}'\n\
                 echo '{{\"type\":\"system\",\"subtype\":\"init\",\"session_id\":\"s-1\",\"model\":\"claude-sonnet-4-5\"}}'\n\
                 echo '{{\"type\":\"result\",\"subtype\":\"success\",\"is_error\":true,\"api_error_status\":{status},\"result\":\"{text}\",\"session_id\":\"s-1\",\"total_cost_usd\":0.01}}'\n",
                runs = dir.join("runs").display()
            ),
        );
        let ran = run_bounded(
            sc_spawn()
                .args(["--kind", "claude-code", "--prompt", "fix the tests"])
                .args(["--retries", "2", "--retry-delay", "0.05"])
                .env_remove("SC_CLAUDE")
                .env("PATH", format!("{}:/usr/bin:/bin", bin.display())),
            Vec::new(),
        );
        Captured::parse(&ran.stdout);
        std::fs::read_to_string(dir.join("runs"))
            .unwrap()
            .lines()
            .count()
    };
    assert_eq!(
        run_with(
            "null",
            "Fixed 500 of 502 tests; 2 still fail (HTTP 503 handler)"
        ),
        1,
        "the agent's verdict stands"
    );
    assert_eq!(
        run_with("529", "API Error: Repeated 529 Overloaded errors"),
        3,
        "an overloaded API is retried"
    );
}
