//! sc-plan and sc-spawn's plan mode end to end: dependencies, skips, -j,
//! streaming plans, nesting, many workers, interrupts.

use std::collections::HashMap;
use std::io::Write;
use std::process::{Command, Stdio};

use nix::sys::signal::Signal;
use sc_events::{Body, Event, Task, to_line};

use crate::util::*;

fn sc_plan() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sc-plan"))
}

pub(crate) fn shell_task(id: &str, script: &str, deps: &[&str]) -> Vec<u8> {
    let task = Task {
        id: id.into(),
        kind: Some("shell".into()),
        prompt: Some(script.into()),
        depends_on: deps.iter().map(|d| d.to_string()).collect(),
        ..Task::default()
    };
    to_line(&Event::new(id, 0, 1.0, task))
}

fn sc_task(id: &str, argv: &[&str]) -> Vec<u8> {
    let task = Task {
        id: id.into(),
        kind: Some("sc".into()),
        argv: Some(argv.iter().map(|a| a.to_string()).collect()),
        ..Task::default()
    };
    to_line(&Event::new(id, 0, 1.0, task))
}

/// Run a plan through `sc-spawn ARGS`; the parsed stream and the status.
fn run_plan(args: &[&str], plan: &[u8]) -> (Captured, Option<i32>) {
    let mut child = sc_spawn()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(plan).unwrap();
    let out = child.wait_with_output().unwrap();
    (Captured::parse(&out.stdout), out.status.code())
}

/// Event types of one worker, in order.
fn types_of<'a>(run: &'a Captured, worker: &str) -> Vec<&'a str> {
    run.events
        .iter()
        .filter(|e| e.worker == worker)
        .map(Event::type_name)
        .collect()
}

fn position(run: &Captured, worker: &str, kind: &str) -> usize {
    run.events
        .iter()
        .position(|e| e.worker == worker && e.type_name() == kind)
        .unwrap_or_else(|| panic!("no {kind} event of {worker}"))
}

#[test]
fn tasks_run_in_dependency_order_and_failures_skip_dependents() {
    let plan = [
        shell_task("code", "echo coded", &[]),
        shell_task("tests", "echo testing; exit 3", &["code"]),
        shell_task("docs", "echo never", &["tests"]),
        shell_task("lint", "echo linted", &[]),
    ]
    .concat();
    let (run, code) = run_plan(&[], &plan);
    assert_eq!(code, Some(1), "a task failed");
    assert!(position(&run, "code", "exit") < position(&run, "tests", "start"));
    assert_eq!(types_of(&run, "docs"), ["task", "skip"]);
    let skip = run
        .events
        .iter()
        .find(|e| e.worker == "docs" && e.type_name() == "skip")
        .unwrap();
    assert!(matches!(&skip.body, Body::Skip(s) if s.reason == "dependency tests failed"));
    assert_eq!(types_of(&run, "lint"), ["task", "start", "output", "exit"]);
    // Every task line is re-emitted with seq 0, first.
    for id in ["code", "tests", "docs", "lint"] {
        assert_eq!(types_of(&run, id)[0], "task");
    }
}

#[test]
fn all_tasks_succeeding_is_0() {
    let plan = [
        shell_task("a", "true", &[]),
        shell_task("b", "true", &["a"]),
    ]
    .concat();
    assert_eq!(run_plan(&[], &plan).1, Some(0));
}

#[test]
fn a_plan_that_cannot_be_read_is_not_a_success() {
    // `sc-spawn < dir/` in a CI script: nothing ran, so 0 would say all
    // went well. sc-spawn(1): 125 when reading the plan failed.
    let dir = temp_dir("plan-is-a-dir");
    let out = sc_spawn()
        .stdin(std::fs::File::open(&dir).unwrap())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(125), "{stderr}");
    assert!(stderr.contains("Is a directory"), "not named: {stderr}");
    let run = Captured::parse(&out.stdout);
    assert_eq!(run.of_type("error").len(), 1, "the stream says it too");
}
#[test]
fn jobs_limit_how_many_run_at_once() {
    let plan: Vec<u8> = (0..6)
        .flat_map(|i| shell_task(&format!("t{i}"), "sleep 0.2", &[]))
        .collect();
    let (run, code) = run_plan(&["-j", "2"], &plan);
    assert_eq!(code, Some(0));
    let (mut running, mut most) = (0i32, 0i32);
    for event in &run.events {
        match event.type_name() {
            "start" => running += 1,
            "exit" => running -= 1,
            _ => {}
        }
        most = most.max(running);
    }
    assert!(most <= 2, "{most} ran at once with -j 2");
    assert_eq!(run.of_type("exit").len(), 6);
}

#[test]
fn a_task_starts_before_the_plan_has_ended() {
    let mut child = sc_spawn()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    stdin
        .write_all(&shell_task("first", "echo streaming", &[]))
        .unwrap();
    stdin.flush().unwrap();
    // The plan is still open, and the first task already runs.
    assert_eq!(
        sc_events::parse_line(&first_line(&mut stdout))
            .unwrap()
            .type_name(),
        "task"
    );
    assert_eq!(
        sc_events::parse_line(&first_line(&mut stdout))
            .unwrap()
            .type_name(),
        "start"
    );
    stdin
        .write_all(&shell_task("second", "echo later", &["first"]))
        .unwrap();
    drop(stdin);
    let status = wait_with_deadline(&mut child);
    assert_eq!(status.code(), Some(0));
}

#[test]
fn unknown_dependencies_agent_kinds_and_bad_lines_are_errors() {
    let agent = to_line(&Event::new(
        "agent",
        0,
        1.0,
        Task {
            id: "agent".into(),
            kind: Some("claude-code".into()),
            prompt: Some("hi".into()),
            ..Task::default()
        },
    ));
    let mut plan = [shell_task("orphan", "true", &["ghost"]), agent].concat();
    plan.extend_from_slice(b"not a task\n");
    plan.extend(start_event("other", 0, 1.0, &["elsewhere"]));
    let (run, code) = run_plan(&[], &plan);
    assert_eq!(code, Some(1));
    assert_eq!(types_of(&run, "orphan"), ["task", "error", "skip"]);
    assert_eq!(types_of(&run, "agent"), ["task", "error", "exit"]);
    assert_eq!(
        run.events
            .iter()
            .find(|e| e.worker == "agent" && e.type_name() == "exit")
            .map(|e| matches!(&e.body, Body::Exit(x) if x.code == Some(127))),
        Some(true)
    );
    // A line that is not an event is kept (as output of the plan input's
    // own worker); other events pass through.
    assert!(
        run.events
            .iter()
            .any(|e| e.worker == "stdin" && e.type_name() == "output")
    );
    assert_eq!(types_of(&run, "other"), ["start"]);
}

#[test]
fn timeout_cwd_and_env_of_a_task_are_honoured() {
    let dir = temp_dir("plan-cwd");
    let task = Task {
        id: "w".into(),
        kind: Some("shell".into()),
        argv: Some(vec![
            "sh".into(),
            "-c".into(),
            "pwd; echo $GREETING; sleep 30".into(),
        ]),
        timeout_s: Some(0.5),
        cwd: Some(dir.to_string_lossy().into_owned()),
        env: Some([("GREETING".to_string(), "hello".to_string())].into()),
        ..Task::default()
    };
    let (run, code) = run_plan(
        &["--kill-grace", "0.2"],
        &to_line(&Event::new("w", 0, 1.0, task)),
    );
    assert_eq!(code, Some(1));
    let out = String::from_utf8(run.bytes(sc_events::Stream::Stdout)).unwrap();
    assert_eq!(
        out,
        format!("{}\nhello\n", dir.canonicalize().unwrap().display())
    );
    assert!(run.exit().timed_out);
}

#[test]
fn nested_plans_two_levels_deep() {
    let spawn = env!("CARGO_BIN_EXE_sc-spawn");
    let leaf = String::from_utf8(shell_task("leaf", "echo $SC_WORKER", &[])).unwrap();
    let mid = String::from_utf8(sc_task(
        "mid",
        &[
            "sh",
            "-c",
            &format!(
                "printf '%s\\n' '{}' | {spawn}",
                leaf.trim_end().replace('\'', "'\\''")
            ),
        ],
    ))
    .unwrap();
    let outer = sc_task(
        "outer",
        &[
            "sh",
            "-c",
            &format!(
                "printf '%s\\n' '{}' | {spawn}",
                mid.trim_end().replace('\'', "'\\''")
            ),
        ],
    );
    let (run, code) = run_plan(&[], &outer);
    assert_eq!(code, Some(0));
    assert_eq!(
        types_of(&run, "outer/mid/leaf"),
        ["task", "start", "output", "exit"]
    );
    let leaf_out = run
        .events
        .iter()
        .find(|e| e.worker == "outer/mid/leaf" && e.type_name() == "output")
        .unwrap();
    assert!(
        matches!(&leaf_out.body, Body::Output(o) if o.payload.as_bytes() == b"outer/mid/leaf\n")
    );
    assert_eq!(types_of(&run, "outer/mid")[..2], ["task", "start"]);
    assert_eq!(types_of(&run, "outer").last(), Some(&"exit"));
}

#[test]
fn two_hundred_workers_at_once() {
    let plan: Vec<u8> = (0..200)
        .flat_map(|i| shell_task(&format!("w{i}"), "sleep 0.3; echo $SC_WORKER", &[]))
        .collect();
    let (run, code) = run_plan(&["-j", "200", "--heartbeat", "0"], &plan);
    assert_eq!(code, Some(0));
    let exits = run.of_type("exit");
    assert_eq!(exits.len(), 200);
    let mut outputs: HashMap<String, Vec<u8>> = HashMap::new();
    for event in &run.events {
        if let Some((_, payload)) = output(event) {
            outputs
                .entry(event.worker.clone())
                .or_default()
                .extend_from_slice(payload.as_bytes());
        }
    }
    for i in 0..200 {
        assert_eq!(outputs[&format!("w{i}")], format!("w{i}\n").into_bytes());
    }
}

#[test]
fn an_interrupt_ends_running_workers_and_skips_the_rest() {
    let plan = [
        shell_task("busy", "echo $$; exec sleep 30", &[]),
        shell_task("later", "true", &["busy"]),
    ]
    .concat();
    let mut live = Live::start_fed(&mut sc_spawn(), &plan);
    let pid: u32 = text(&live.until(|e| e.worker == "busy" && e.type_name() == "output"))
        .trim()
        .parse()
        .unwrap();
    live.signal(Signal::SIGINT);
    let (run, status) = live.finish();
    assert_eq!(
        status.code(),
        Some(130),
        "a plan interrupted exits as Ctrl-C would"
    );
    assert_eq!(types_of(&run, "later"), ["task", "skip"]);
    let exit = run
        .events
        .iter()
        .find(|e| e.worker == "busy" && e.type_name() == "exit")
        .unwrap();
    assert!(matches!(&exit.body, Body::Exit(x) if x.signal.as_deref() == Some("SIGINT")));
    eventually("the worker is gone", || !alive(pid));
}

#[test]
fn the_log_holds_the_same_stream() {
    let log = temp_dir("plan-log").join("run.ndjson");
    let plan = [
        shell_task("a", "echo one", &[]),
        shell_task("b", "echo two", &["a"]),
    ]
    .concat();
    let out = run_bounded(sc_spawn().args(["--log", log.to_str().unwrap()]), plan);
    assert_eq!(std::fs::read(&log).unwrap(), out.stdout);
}

#[test]
fn sc_plan_chooses_roles_and_explains() {
    let out = sc_plan()
        .args([
            "--explain",
            "Implement OAuth2 authentication with tests and docs",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let plan = Captured::parse(&out.stdout);
    let tasks: Vec<(String, Option<String>, Vec<String>)> = plan
        .events
        .iter()
        .map(|e| match &e.body {
            Body::Task(t) => (t.id.clone(), t.role.clone(), t.depends_on.clone()),
            other => panic!("not a task: {other:?}"),
        })
        .collect();
    assert_eq!(
        tasks,
        [
            (
                "oauth2-authentication".into(),
                Some("code-generator".into()),
                vec![]
            ),
            (
                "oauth2-authentication-tests".into(),
                Some("test-specialist".into()),
                vec!["oauth2-authentication".into()]
            ),
            (
                "oauth2-authentication-docs".into(),
                Some("documentation-specialist".into()),
                vec!["oauth2-authentication".into()]
            ),
        ]
    );
    let why = String::from_utf8(out.stderr).unwrap();
    assert!(
        why.contains("oauth2-authentication-tests (test-specialist): it asks for tests"),
        "{why}"
    );

    let out = sc_plan()
        .arg("Fix the crash in the parser")
        .output()
        .unwrap();
    assert!(
        String::from_utf8(out.stdout)
            .unwrap()
            .contains("\"role\":\"bug-fixer\"")
    );
    let out = sc_plan().arg("   ").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn sc_plan_reads_the_task_on_stdin_and_a_roles_file() {
    let roles = temp_file(
        "roles.json",
        br#"{"roles":[{"name":"bug-fixer","id":"repair","timeout_s":42,"instructions":"Only repair.","ask":"Fix","limits":{"nice":7}}]}"#,
    );
    let mut child = sc_plan()
        .args(["--roles-file", roles.to_str().unwrap()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"Fix the crash in the exporter\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let plan = Captured::parse(&out.stdout);
    let Body::Task(task) = &plan.events[0].body else {
        panic!()
    };
    // The id names the subject; the role's timeout and limits come from the file.
    assert_eq!((task.id.as_str(), task.timeout_s), ("exporter", Some(42.0)));
    assert_eq!(task.limits.as_ref().and_then(|l| l.nice), Some(7));
    assert_eq!(
        task.prompt.as_deref(),
        Some("Fix the crash in the exporter")
    );
}

#[test]
fn sc_plan_shell_commands_run_through_the_whole_pipeline() {
    let script = format!(
        "{} --kind shell 'echo one' 'echo two' | {} | {} --plain",
        env!("CARGO_BIN_EXE_sc-plan"),
        env!("CARGO_BIN_EXE_sc-spawn"),
        env!("CARGO_BIN_EXE_sc-view")
    );
    let out = Command::new("sh")
        .args(["-c", &script])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let shown = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{shown}");
    assert!(
        shown.contains("[one] one") && shown.contains("[two] two"),
        "{shown}"
    );
    assert!(shown.contains("2 workers, 2 ok"), "{shown}");
}

#[test]
fn limits_are_applied_at_launch_and_reported() {
    let task = Task {
        id: "limited".into(),
        kind: Some("shell".into()),
        prompt: Some(
            "ps -o ni= -p $$; python3 -c 'b = bytearray(256 * 1024 * 1024)' 2>/dev/null || echo refused"
                .into(),
        ),
        limits: Some(sc_events::Limits {
            max_rss_mib: Some(64),
            cpu_s: None,
            nice: Some(3),
        }),
        ..Task::default()
    };
    let (run, _) = run_plan(&[], &to_line(&Event::new("limited", 0, 1.0, task)));
    let out = String::from_utf8(run.bytes(sc_events::Stream::Stdout)).unwrap();
    assert_eq!(out.split_whitespace().collect::<Vec<_>>(), ["3", "refused"]);
    let start = &run.of_type("start")[0];
    let Body::Start(start) = &start.body else {
        unreachable!()
    };
    let limits = start.limits.as_ref().expect("limits in the start event");
    assert_eq!(limits.limits.max_rss_mib, Some(64));
    assert!(limits.memory_by.is_some());
}

#[test]
fn a_worker_ended_by_its_cpu_limit_says_so() {
    let (run, status) = capture(&["--cpu-s", "1", "--", "sh", "-c", "while :; do :; done"]);
    assert_eq!(status.code(), Some(128 + 24));
    let exit = run.exit();
    assert_eq!(exit.signal.as_deref(), Some("SIGXCPU"));
    assert_eq!(exit.ended_by.as_deref(), Some("cpu limit"));
}

#[test]
fn the_demo_runs_the_whole_pipeline_without_an_agent_cli() {
    let cache = temp_dir("demo-cache");
    let script = format!(
        "{} --demo 'Implement OAuth2 authentication with tests and docs' | {} --replay-speed 50 | {} --plain",
        env!("CARGO_BIN_EXE_sc-plan"),
        env!("CARGO_BIN_EXE_sc-spawn"),
        env!("CARGO_BIN_EXE_sc-view")
    );
    let out = Command::new("sh")
        .args(["-c", &script])
        .env("XDG_CACHE_HOME", &cache)
        .env("PATH", "/usr/bin:/bin") // no agent CLI anywhere
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let shown = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{shown}");
    assert!(
        shown.contains("[oauth2-authentication] ⚙ Write: /tmp/sc-demo-app/src/oauth2.rs"),
        "{shown}"
    );
    assert!(
        shown.contains("[oauth2-authentication-tests] ⚙ Bash: cargo test --offline"),
        "{shown}"
    );
    // Two agents side by side: OpenCode writes the docs.
    assert!(
        shown.contains("[oauth2-authentication-docs] ⚙ write: /tmp/sc-demo-app/docs/oauth2.md"),
        "{shown}"
    );
    assert!(
        shown.contains("(documentation-specialist, opencode)"),
        "{shown}"
    );
    assert!(shown.contains("3 workers, 3 ok"), "{shown}");
    assert!(shown.contains("$0.13"), "the recorded runs' cost: {shown}");
}

#[test]
fn sc_replay_gives_back_the_recorded_bytes() {
    let recording = format!("{}/demo/opencode/docs.ndjson", env!("CARGO_MANIFEST_DIR"));
    let recorded = Captured::parse(&std::fs::read(&recording).unwrap());
    let out = Command::new(env!("CARGO_BIN_EXE_sc-replay"))
        .args(["--speed", "100", &recording])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(out.stdout, recorded.bytes(sc_events::Stream::Stdout));
}

#[test]
fn flags_hold_for_a_plan_as_for_one_worker() {
    // One launch path: `--env` and `--cwd` reach a plan's tasks as they
    // reach single-worker mode's command (the plan path used to drop them).
    let dir = temp_dir("one-path");
    let plan = shell_task("t", "echo \"$GREETING\" && pwd", &[]);
    let (run, code) = run_plan(
        &["--env", "GREETING=hello", "--cwd", dir.to_str().unwrap()],
        &plan,
    );
    assert_eq!(code, Some(0));
    let (one, status) = capture(&[
        "--env",
        "GREETING=hello",
        "--cwd",
        dir.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        "echo \"$GREETING\" && pwd",
    ]);
    assert!(status.success());
    let text = |run: &Captured, id: &str| -> String {
        run.events
            .iter()
            .filter(|e| e.worker == id)
            .filter_map(output)
            .map(|(_, p)| String::from_utf8_lossy(p.as_bytes()).into_owned())
            .collect()
    };
    let expected = format!("hello\n{}\n", dir.canonicalize().unwrap().display());
    assert_eq!(text(&run, "t"), expected);
    assert_eq!(text(&one, "sh"), expected);
}
