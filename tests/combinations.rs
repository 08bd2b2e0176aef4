//! Features where they meet: a worker placed on another host keeps every
//! promise it keeps here. Each case asserts what a user checks: one `exit`
//! per task, a whole stream (seq from 0, no gap), the right number of runs,
//! the verdict and the money counted once. Against the tests' real sshd
//! (tests/remote.rs); each case failed before placement became one seam.

use std::path::{Path, PathBuf};

use sc_events::{Body, Stream};

use crate::remote::{over_ssh, sshd};
use crate::util::*;

/// A stand-in `claude` there: it notes each run in `runs`, opens a session,
/// spends `usd` and reports `result` (`success` or an error), then exits.
fn stand_in_claude(dir: &Path, usd: f64, result: &str) -> PathBuf {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let error = result != "success";
    executable(
        &bin.join("claude"),
        &format!(
            "#!/bin/sh\necho \"$*\" >> '{runs}'\n\
             echo '{{\"type\":\"system\",\"subtype\":\"init\",\"session_id\":\"sess-1\",\"model\":\"claude-sonnet-4-5\"}}'\n\
             echo '{{\"type\":\"result\",\"subtype\":\"{result}\",\"is_error\":{error},\"result\":\"done\",\"session_id\":\"sess-1\",\"total_cost_usd\":{usd}}}'\n",
            runs = dir.join("runs").display()
        ),
    );
    bin
}

fn runs(dir: &Path) -> usize {
    std::fs::read_to_string(dir.join("runs"))
        .map(|t| t.lines().count())
        .unwrap_or(0)
}

/// The stand-in as a `claude-code` worker on `lab` with `args`: its PATH
/// there holds `bin`, and this machine has no `claude` at all.
fn run_stand_in(config: &Path, bin: &Path, args: &[&str]) -> (Captured, Ran) {
    let mut command = over_ssh(config, "lab", &["--kind", "claude-code", "--prompt", "hi"]);
    command
        .args(args)
        .arg("--env")
        .arg(format!(
            "PATH={}:/usr/local/bin:/usr/bin:/bin",
            bin.display()
        ))
        .env_remove("SC_CLAUDE")
        .env("PATH", "/usr/bin:/bin");
    let ran = run_bounded(&mut command, Vec::new());
    (Captured::parse(&ran.stdout), ran)
}

#[test]
fn a_remote_agent_that_succeeds_runs_once_and_is_paid_once() {
    let Some(config) = sshd() else { return };
    let dir = temp_dir("combo-agent-ok");
    let bin = stand_in_claude(&dir, 0.25, "success");
    let (run, ran) = run_stand_in(config, &bin, &["--retries", "2"]);
    assert_eq!(ran.status.code(), Some(0), "{}", ran.stderr);
    let exit = run.exit();
    assert_eq!(exit.agent_result.as_deref(), Some("ok"));
    assert_eq!(exit.cost_usd, Some(0.25));
    assert_eq!(runs(&dir), 1, "an agent that succeeded is not run again");
    assert_eq!(run.of_type("retry").len(), 0);
}

#[test]
fn a_remote_agent_that_fails_is_retried_there_resuming_its_session() {
    let Some(config) = sshd() else { return };
    let dir = temp_dir("combo-agent-retry");
    let bin = stand_in_claude(&dir, 0.25, "error_during_execution");
    let (run, ran) = run_stand_in(
        config,
        &bin,
        &[
            "--retries",
            "1",
            "--retry-delay",
            "0.1",
            "--retry-on",
            "any",
        ],
    );
    assert_eq!(ran.status.code(), Some(1), "{}", ran.stderr);
    assert_eq!(runs(&dir), 2, "the first attempt and one retry");
    assert_eq!(retries_of(&run).len(), 1);
    let starts = starts_of(&run);
    assert_eq!(starts.len(), 2);
    assert_eq!(
        starts[1].resumes.as_deref(),
        Some("sess-1"),
        "the retry resumed the session there"
    );
    assert!(starts[1].argv.iter().any(|a| a == "--resume"));
    // Both attempts are counted, once each.
    assert_eq!(run.exit().cost_usd, Some(0.5));
}

#[test]
fn a_failed_remote_shell_task_is_retried_with_the_spool() {
    let Some(config) = sshd() else { return };
    let dir = temp_dir("combo-shell-retry");
    let count = dir.join("count");
    let script = format!(
        "echo x >> '{}'; [ $(wc -l < '{}') -ge 2 ] && exit 0; exit 3",
        count.display(),
        count.display()
    );
    // The spool (--reconnect, on by default) is what made the failure
    // invisible: the local side saw its follower's exit.
    let ran = run_bounded(
        &mut over_ssh(
            config,
            "lab",
            &[
                "--retries",
                "2",
                "--retry-delay",
                "0.1",
                "--retry-on",
                "any",
                "--",
                "sh",
                "-c",
                &script,
            ],
        ),
        Vec::new(),
    );
    let run = Captured::parse(&ran.stdout);
    assert_eq!(ran.status.code(), Some(0), "{}", ran.stderr);
    assert_eq!(
        std::fs::read_to_string(&count).unwrap().lines().count(),
        2,
        "failed once, retried once"
    );
    assert_eq!(retries_of(&run).len(), 1);
    assert_eq!(run.exit().code, Some(0));
}

#[test]
fn remote_spending_counts_against_the_plans_budget() {
    let Some(config) = sshd() else { return };
    let dir = temp_dir("combo-budget");
    let bin = stand_in_claude(&dir, 5.0, "success");
    let task = |id: &str| {
        serde_json::json!({
            "type": "task", "worker": id, "seq": 0, "ts": 1.0, "id": id,
            "kind": "claude-code", "host": "lab", "prompt": "spend",
            "env": {"PATH": format!("{}:/usr/bin:/bin", bin.display())},
        })
        .to_string()
    };
    let plan = format!("{}\n{}\n", task("first"), task("second"));
    let ran = run_bounded(
        sc_spawn()
            .args(["-j", "1", "--budget-usd", "1", "--ssh"])
            .arg(format!("ssh -F {}", config.display()))
            .args(["--remote-sc", env!("CARGO_BIN_EXE_sc-spawn")])
            .env_remove("SC_CLAUDE")
            .env("PATH", "/usr/bin:/bin"),
        plan.into_bytes(),
    );
    let run = Captured::parse(&ran.stdout);
    assert_eq!(runs(&dir), 1, "the second task is not run: {}", ran.stderr);
    let skip = run
        .events
        .iter()
        .find_map(|e| match &e.body {
            Body::Skip(skip) if e.worker == "second" => Some(skip.reason.clone()),
            _ => None,
        })
        .expect("the second task is skipped");
    assert_eq!(skip, "budget");
    assert_ne!(ran.status.code(), Some(0));
}

#[test]
fn a_pty_and_limits_apply_on_the_host() {
    let Some(config) = sshd() else { return };
    let script = "[ -t 1 ] && echo terminal; nice; ulimit -t";
    let expect = |run: &Captured| {
        let text = String::from_utf8_lossy(&run.bytes(Stream::Pty)).into_owned();
        let lines: Vec<&str> = text.lines().map(str::trim).collect();
        assert_eq!(lines[0], "terminal", "stdout is a terminal there: {text:?}");
        assert_eq!(lines[1], "7", "the niceness there: {text:?}");
        assert_eq!(lines[2], "60", "the CPU limit there: {text:?}");
    };
    let args = ["--pty", "--nice", "7", "--cpu-s", "60"];
    let mut one: Vec<&str> = args.to_vec();
    one.extend(["--", "sh", "-c", script]);
    let ran = run_bounded(&mut over_ssh(config, "lab", &one), Vec::new());
    assert_eq!(ran.status.code(), Some(0), "{}", ran.stderr);
    expect(&Captured::parse(&ran.stdout));
    // A plan's task with a host: the same flags, the same effect.
    let task = serde_json::json!({
        "type": "task", "worker": "t", "seq": 0, "ts": 1.0, "id": "t",
        "host": "lab", "argv": ["sh", "-c", script],
    });
    let ran = run_bounded(
        sc_spawn()
            .args(args)
            .arg("--ssh")
            .arg(format!("ssh -F {}", config.display()))
            .args(["--remote-sc", env!("CARGO_BIN_EXE_sc-spawn")]),
        format!("{task}\n").into_bytes(),
    );
    assert_eq!(ran.status.code(), Some(0), "{}", ran.stderr);
    expect(&Captured::parse(&ran.stdout));
}

#[test]
fn ids_and_directories_that_start_with_a_dash_arrive_as_given() {
    let Some(config) = sshd() else { return };
    let dir = temp_dir("combo-dash").join("-d");
    std::fs::create_dir_all(&dir).unwrap();
    let ran = run_bounded(
        over_ssh(config, "lab", &["--id=-x"])
            .arg(format!("--cwd={}", dir.display()))
            .args(["--", "pwd"]),
        Vec::new(),
    );
    let run = Captured::parse(&ran.stdout);
    assert_eq!(ran.status.code(), Some(0), "{}", ran.stderr);
    assert!(run.events.iter().all(|e| e.worker == "-x"));
    assert_eq!(
        String::from_utf8_lossy(&run.bytes(Stream::Stdout)).trim(),
        dir.display().to_string()
    );
    // A host that starts with `-` is refused, never handed to ssh.
    let task = serde_json::json!({
        "type": "task", "worker": "evil", "seq": 0, "ts": 1.0, "id": "evil",
        "host": "-oProxyCommand=touch /tmp/sc-pwned", "argv": ["true"],
    });
    let ran = run_bounded(&mut sc_spawn(), format!("{task}\n").into_bytes());
    let run = Captured::parse(&ran.stdout);
    assert_eq!(run.exit().code, Some(127));
    assert!(run.events.iter().any(|e| matches!(&e.body,
        Body::Error(error) if error.message.contains("starts with `-`"))));
}

#[test]
fn a_plan_resumed_after_a_cut_off_resumes_the_agents_session_on_its_host() {
    let Some(config) = sshd() else { return };
    let dir = temp_dir("combo-resume");
    let bin = stand_in_claude(&dir, 0.1, "success");
    // The earlier run: the task started there in session sess-0 and was cut
    // off (no exit). This machine has no `claude`.
    let task = serde_json::json!({
        "type": "task", "worker": "fix", "seq": 0, "ts": 1.0, "id": "fix",
        "kind": "claude-code", "host": "lab", "prompt": "fix it",
        "env": {"PATH": format!("{}:/usr/bin:/bin", bin.display())},
    })
    .to_string();
    let start = serde_json::json!({
        "type": "start", "worker": "fix", "seq": 1, "ts": 2.0, "argv": ["claude"],
        "pid": 4242, "cwd": "/", "kind": "claude-code", "pty": false, "schema": 1,
        "resumes": "sess-0", "host": "lab",
    });
    let log = temp_file(
        "combo-resume.ndjson",
        format!("{task}\n{start}\n").as_bytes(),
    );
    let ran = run_bounded(
        sc_spawn()
            .arg("--resume")
            .arg(&log)
            .arg("--ssh")
            .arg(format!("ssh -F {}", config.display()))
            .args(["--remote-sc", env!("CARGO_BIN_EXE_sc-spawn")])
            .env_remove("SC_CLAUDE")
            .env("PATH", "/usr/bin:/bin"),
        format!("{task}\n").into_bytes(),
    );
    let run = Captured::parse(&ran.stdout);
    assert_eq!(ran.status.code(), Some(0), "{}", ran.stderr);
    assert_eq!(starts_of(&run)[0].resumes.as_deref(), Some("sess-0"));
    let args = std::fs::read_to_string(dir.join("runs")).unwrap();
    assert_eq!(args.lines().count(), 1);
    assert!(
        args.contains("--resume sess-0"),
        "the CLI there resumed the session: {args}"
    );
}
