//! `--ask` where features meet: a plan of asking agents, a nested run's
//! asks, and asks of workers on an ssh host and in a Slurm step, all
//! answered here.

use std::process::Command;

use sc_events::Body;

use crate::asks::stand_in_asker;
use crate::control::sc_ctl;
use crate::mock_model::MockModel;
use crate::util::*;

/// An ask of a worker on an ssh host surfaces here and is answered here:
/// `sc-ctl` reaches this run's socket, and the answer travels over the
/// connection to the run there, whose `answer` comes back in the stream.
#[test]
fn an_ask_on_an_ssh_host_is_answered_here() {
    let Some(config) = crate::sshd::sshd() else {
        return;
    };
    let placed = crate::sshd::over_ssh(
        config,
        "lab",
        &["--kind", "claude-code", "--ask", "--ask-timeout", "0"],
    );
    answered_here(placed, "ask-ssh");
}

/// The same for a worker that runs as a Slurm job step.
#[test]
fn an_ask_in_a_slurm_step_is_answered_here() {
    if crate::slurm::cluster().is_none() {
        return;
    }
    let mut placed = sc_spawn();
    placed
        .args(["--slurm", "--remote-sc", env!("CARGO_BIN_EXE_sc-spawn")])
        .args(["--kind", "claude-code", "--ask", "--ask-timeout", "0"]);
    answered_here(placed, "ask-slurm");
}

fn answered_here(mut command: Command, name: &str) {
    let Some(claude) = agent_cli("claude", "SC_CLAUDE") else {
        return;
    };
    let mock = MockModel::start();
    let runtime = temp_dir(&format!("{name}-runtime"));
    let dir = temp_dir(name);
    let home = dir.join("home");
    std::fs::create_dir_all(&home).unwrap();
    command
        .args(["--prompt", "Write the marker file, then say so."])
        .arg(format!("--cwd={}", dir.display()))
        .arg(format!(
            "--env=PATH={}:/usr/local/bin:/usr/bin:/bin",
            claude.parent().unwrap().display()
        ))
        .arg(format!("--env=ANTHROPIC_BASE_URL={}", mock.url()))
        .arg("--env=ANTHROPIC_API_KEY=sk-ant-test-key-for-the-mock")
        .arg("--env=CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1")
        .arg(format!("--env=HOME={}", home.display()))
        .env("XDG_RUNTIME_DIR", &runtime)
        .env_remove("SC_CLAUDE")
        .env("PATH", "/usr/bin:/bin");
    let mut live = Live::start_with(&mut command);
    let asked = live.until(|e| e.type_name() == "ask");
    let Body::Ask(ask) = &asked.body else {
        unreachable!()
    };
    let listed = sc_ctl(&runtime, &["asks"]);
    assert!(
        String::from_utf8_lossy(&listed.stdout).contains(&ask.ask),
        "{}",
        String::from_utf8_lossy(&listed.stdout)
    );
    let answered = sc_ctl(&runtime, &["answer", &ask.ask, "allow"]);
    assert!(
        answered.status.success(),
        "{}",
        String::from_utf8_lossy(&answered.stderr)
    );
    let (stream, status) = live.finish_bytes();
    assert_view_checks(&stream);
    let run = Captured::parse(&stream);
    let (_, answers) = run.asks_and_answers();
    assert_eq!(answers.len(), 1, "{:?}", run.events);
    assert_eq!(
        (answers[0].decision.as_str(), answers[0].by.as_str()),
        ("allow", "person")
    );
    assert_eq!(status.code(), Some(0));
    assert!(
        dir.join("marker.txt").exists(),
        "allowed here: the tool ran there"
    );
}

/// A plan of agents that ask at once: each ask is its worker's own, each
/// is answered, and each answer reaches the agent that asked.
#[test]
fn a_plan_of_asking_agents_gets_each_answer_to_its_asker() {
    let dir = temp_dir("ask-plan");
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    stand_in_asker(&bin, &dir);
    let task = |id: &str| {
        format!(
            "{}\n",
            serde_json::json!({"type": "task", "worker": id, "seq": 0, "ts": 1.0, "id": id,
                "kind": "claude-code", "prompt": format!("please touch {id}")})
        )
    };
    // The policy allows the first task's ask and denies the second's.
    let policy = "grep -q 'touch first' && echo allow || echo deny";
    let ran = run_bounded(
        sc_spawn()
            .args(["--ask", "-j", "2", "--ask-cmd", policy])
            .env_remove("SC_CLAUDE")
            .env("PATH", format!("{}:/usr/bin:/bin", bin.display())),
        (task("first") + &task("second")).into_bytes(),
    );
    assert_view_checks(&ran.stdout);
    let run = Captured::parse(&ran.stdout);
    let (asks, answers) = run.asks_and_answers();
    assert_eq!((asks.len(), answers.len()), (2, 2), "{:?}", run.events);
    let decided: std::collections::HashMap<&str, &str> = answers
        .iter()
        .map(|a| (a.ask.as_str(), a.decision.as_str()))
        .collect();
    assert_eq!(decided.get("first/1"), Some(&"allow"));
    assert_eq!(decided.get("second/1"), Some(&"deny"));
    assert!(dir.join("first").exists(), "the allowed ask's agent acted");
    assert!(!dir.join("second").exists(), "the denied one did not");
    assert_eq!(ran.status.code(), Some(0), "{}", ran.stderr);
}

/// The asks of a nested run (kind `sc`: an inner `sc-spawn --ask`) come up
/// in the outer stream, and `sc-ctl` answers them at the inner run's
/// socket, which their `control` names.
#[test]
fn an_ask_of_a_nested_run_is_answered() {
    let runtime = temp_dir("ask-nested-runtime");
    let dir = temp_dir("ask-nested");
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    stand_in_asker(&bin, &dir);
    let mut live = Live::start_with(
        sc_spawn()
            .args(["--kind", "sc", "--id", "outer", "--"])
            .arg(env!("CARGO_BIN_EXE_sc-spawn"))
            .args(["--ask", "--ask-timeout", "0", "--kind", "claude-code"])
            .args(["--id", "inner", "--prompt", "please touch nested"])
            .env_remove("SC_CLAUDE")
            .env("XDG_RUNTIME_DIR", &runtime)
            .env("PATH", format!("{}:/usr/bin:/bin", bin.display())),
    );
    let asked = live.until(|e| e.type_name() == "ask");
    assert_eq!(asked.worker, "outer/inner");
    let Body::Ask(ask) = &asked.body else {
        unreachable!()
    };
    let answered = sc_ctl(&runtime, &["answer", &ask.ask, "allow"]);
    assert!(
        answered.status.success(),
        "{}",
        String::from_utf8_lossy(&answered.stderr)
    );
    let (stream, status) = live.finish_bytes();
    assert_view_checks(&stream);
    assert!(status.success());
    assert!(
        dir.join("nested").exists(),
        "the inner agent got the answer"
    );
}
