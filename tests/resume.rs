//! `sc-spawn --resume LOG`: a plan run again does not redo what is done.

use std::process::Command;

use nix::sys::signal::Signal;
use sc_events::{Body, Event, Task, to_line};

use crate::util::*;

fn task(id: &str, script: &str, deps: &[&str]) -> Vec<u8> {
    to_line(&Event::new(
        id,
        0,
        1.0,
        Task {
            id: id.into(),
            argv: Some(vec!["sh".into(), "-c".into(), script.into()]),
            depends_on: deps.iter().map(|d| d.to_string()).collect(),
            ..Task::default()
        },
    ))
}

fn lines_of(path: &std::path::Path) -> usize {
    std::fs::read_to_string(path).map_or(0, |s| s.lines().count())
}

#[test]
fn an_interrupted_plan_resumed_runs_only_what_is_not_done() {
    let dir = temp_dir("resume-plan");
    let log = dir.join("run.ndjson");
    let ran_a = dir.join("ran-a");
    let go = dir.join("go");
    let plan = [
        task("a", &format!("echo a >> {}", ran_a.display()), &[]),
        // b waits for the go file: the first run is interrupted in it.
        task(
            "b",
            &format!(
                "while [ ! -e {} ]; do sleep 0.05; done; echo b",
                go.display()
            ),
            &["a"],
        ),
        task("c", "echo c", &["b"]),
    ]
    .concat();
    let mut first = Live::start_fed(sc_spawn().arg("--log").arg(&log), &plan);
    first.until(|e| e.worker == "b" && e.type_name() == "start");
    first.signal(Signal::SIGINT);
    let (run, status) = first.finish();
    assert_ne!(status.code(), Some(0));
    assert!(run.of_type("skip").iter().any(|e| e.worker == "c"));
    assert_eq!(lines_of(&ran_a), 1);

    std::fs::write(&go, "").unwrap();
    // The same file as the earlier run's log and this run's: read first.
    let ran = run_bounded(
        sc_spawn().arg("--resume").arg(&log).arg("--log").arg(&log),
        plan,
    );
    assert_eq!(ran.status.code(), Some(0), "{}", ran.stderr);
    let run = Captured::parse(&ran.stdout);
    assert_eq!(
        lines_of(&ran_a),
        1,
        "the succeeded task ran exactly once overall"
    );
    let done: Vec<&Event> = run
        .events
        .iter()
        .filter(|e| matches!(&e.body, Body::Skip(s) if s.done))
        .collect();
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].worker, "a");
    for id in ["b", "c"] {
        assert!(
            run.events
                .iter()
                .any(|e| e.worker == id && matches!(&e.body, Body::Exit(x) if x.code == Some(0))),
            "{id} ran"
        );
    }
    // sc-view counts the task done before as a success.
    let view = Command::new(env!("CARGO_BIN_EXE_sc-view"))
        .env("NO_COLOR", "1")
        .stdin(std::fs::File::open(temp_file("resumed.ndjson", &ran.stdout)).unwrap())
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&view.stdout);
    assert!(view.status.success(), "{shown}");
    assert!(shown.contains("done before"), "{shown}");
}

/// An agent task cut off in the earlier run resumes its session.
#[test]
fn a_cut_off_agent_task_resumes_its_session() {
    let dir = temp_dir("resume-agent");
    let argv_log = dir.join("argv");
    let fake = dir.join("claude");
    // The fake agent says its session, records how it was called, and
    // finishes only when called to resume.
    executable(
        &fake,
        &format!(
            "#!/bin/sh\necho \"$*\" >> {log}\n\
             echo '{{\"type\":\"system\",\"subtype\":\"init\",\"session_id\":\"s-77\",\"model\":\"m\"}}'\n\
             case \"$*\" in *--resume*) ;; *) exec sleep 30;; esac\n\
             echo '{{\"type\":\"result\",\"subtype\":\"success\",\"is_error\":false,\"result\":\"done\",\"num_turns\":1,\"total_cost_usd\":0.01}}'\n",
            log = argv_log.display()
        ),
    );
    let plan = to_line(&Event::new(
        "fix",
        0,
        1.0,
        Task {
            id: "fix".into(),
            kind: Some("claude-code".into()),
            prompt: Some("Fix the parser".into()),
            ..Task::default()
        },
    ));
    let log = dir.join("run.ndjson");
    let mut first = Live::start_fed(
        sc_spawn()
            .arg("--log")
            .arg(&log)
            .args(["--kill-grace", "0.5"])
            .env("SC_CLAUDE", &fake),
        &plan,
    );
    first.until(|e| matches!(&e.body, Body::Output(o) if o.agent.is_some()));
    first.signal(Signal::SIGINT);
    first.finish();

    let ran = run_bounded(
        sc_spawn().arg("--resume").arg(&log).env("SC_CLAUDE", &fake),
        plan,
    );
    assert_eq!(ran.status.code(), Some(0), "{}", ran.stderr);
    let run = Captured::parse(&ran.stdout);
    let start = run
        .events
        .iter()
        .find_map(|e| match &e.body {
            Body::Start(s) => Some(s.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(start.resumes.as_deref(), Some("s-77"));
    let calls = std::fs::read_to_string(&argv_log).unwrap();
    let second = calls.lines().nth(1).expect("called twice");
    assert!(second.contains("--resume s-77"), "{second}");
    assert!(
        second.contains("Fix the parser"),
        "the task is restated: {second}"
    );
}

/// With --worktree, a task run again works on the branch the earlier run
/// made for it, and a task done before still gives its dependents its
/// branch to start from.
#[test]
fn resumed_worktree_tasks_work_on_their_earlier_branches() {
    let dir = temp_dir("resume-worktree");
    let repo = dir.join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    crate::git::repo_with_one_commit(&repo, "README", "x\n");
    let pass = dir.join("pass");
    let plan = [
        task("code", "echo code > code.txt", &[]),
        // Fails the first time, after writing part of its work.
        task(
            "tests",
            &format!("echo partial >> tests.txt; test -e {}", pass.display()),
            &["code"],
        ),
    ]
    .concat();
    let log = dir.join("run.ndjson");
    let first = run_bounded(
        sc_spawn()
            .args(["--worktree", "--log"])
            .arg(&log)
            .current_dir(&repo),
        plan.clone(),
    );
    assert_eq!(first.status.code(), Some(1), "{}", first.stderr);
    std::fs::write(&pass, "").unwrap();
    let second = run_bounded(
        sc_spawn()
            .args(["--worktree", "--resume"])
            .arg(&log)
            .current_dir(&repo),
        plan,
    );
    assert_eq!(second.status.code(), Some(0), "{}", second.stderr);
    let run = Captured::parse(&second.stdout);
    let exit = run
        .events
        .iter()
        .find_map(|e| match &e.body {
            Body::Exit(x) if e.worker == "tests" => Some(x.clone()),
            _ => None,
        })
        .unwrap();
    let worktree = exit.worktree.expect("a worktree report");
    assert_eq!(worktree.branch, "sc/tests", "{worktree:?}");
    let path = std::path::PathBuf::from(&worktree.path);
    // Both attempts' work is on the branch; the code task's work under it.
    assert_eq!(
        std::fs::read_to_string(path.join("tests.txt")).unwrap(),
        "partial\npartial\n"
    );
    assert_eq!(
        std::fs::read_to_string(path.join("code.txt")).unwrap(),
        "code\n"
    );
}
