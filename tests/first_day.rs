//! The first day of a user who comes from GNU parallel, make and CI: the
//! plain path works as they expect, or says what to do.

use crate::util::*;

/// Command lines on stdin are not a plan: nothing runs, exit 2, and the
/// message shows how to make one. A stdin with an sc line in it is a plan.
#[test]
fn command_lines_on_stdin_are_a_usage_error_that_shows_sc_plan() {
    let ran = run_bounded(&mut sc_spawn(), b"cargo build\ncargo test\n".to_vec());
    assert_eq!(ran.status.code(), Some(2), "{}", ran.stderr);
    assert!(
        ran.stderr.contains("sc-plan --kind shell"),
        "{}",
        ran.stderr
    );
    let run = Captured::parse(&ran.stdout);
    assert!(
        run.of_type("start").is_empty(),
        "nothing ran: {:?}",
        run.events
    );
}

/// A task line written by hand needs only `type`, `id` (or `worker`) and
/// what to run; the stream gets the whole event.
#[test]
fn a_hand_written_task_line_needs_no_seq_or_ts() {
    let plan = b"{\"type\":\"task\",\"id\":\"build\",\"argv\":[\"echo\",\"built\"]}\n\
                 {\"type\":\"task\",\"worker\":\"test\",\"argv\":[\"echo\",\"tested\"],\"depends_on\":[\"build\"]}\n";
    let ran = run_bounded(&mut sc_spawn(), plan.to_vec());
    assert_eq!(ran.status.code(), Some(0), "{}", ran.stderr);
    let run = Captured::parse(&ran.stdout);
    run.check_contract();
    let exits: Vec<&str> = run.exits().iter().map(|(w, _)| *w).collect();
    assert_eq!(exits, ["build", "test"]);
    assert!(run.errors().is_empty(), "{:?}", run.errors());
    assert_view_checks(&ran.stdout);
}

fn sc_plan(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_sc-plan"))
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

/// sc-plan's flags are flags wherever they stand; an unknown one is a
/// usage error; words that start with `-` come after `--`.
#[test]
fn sc_plan_takes_flags_anywhere() {
    let after = sc_plan(&["echo hi", "--kind", "shell"]);
    assert!(
        after.status.success(),
        "{}",
        String::from_utf8_lossy(&after.stderr)
    );
    let text = String::from_utf8(after.stdout).unwrap();
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(
        text.contains(r#""kind":"shell""#) && text.contains(r#""argv":["sh","-c","echo hi"]"#),
        "{text}"
    );

    let unknown = sc_plan(&["--kind", "shell", "echo hi", "-j", "2"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("-j"));

    let dashed = sc_plan(&["--kind", "shell", "--", "-x", "echo hi"]);
    let text = String::from_utf8(dashed.stdout).unwrap();
    assert!(text.contains(r#""argv":["sh","-c","-x"]"#), "{text}");
}

/// A plan saved long ago (or by hand with `"ts": 0`): its task lines are
/// stamped with the run's time as sc-spawn takes them, so JUnit's times are
/// the run's, not the age of the file.
#[test]
fn junit_times_are_the_runs_not_the_plan_files() {
    let plan = b"{\"type\":\"task\",\"worker\":\"a\",\"seq\":0,\"ts\":0,\"id\":\"a\",\"argv\":[\"true\"]}\n\
                 {\"type\":\"task\",\"worker\":\"b\",\"seq\":0,\"ts\":1000.5,\"id\":\"b\",\"argv\":[\"true\"]}\n";
    let ran = run_bounded(&mut sc_spawn(), plan.to_vec());
    assert_eq!(ran.status.code(), Some(0), "{}", ran.stderr);
    let run = Captured::parse(&ran.stdout);
    let now = sc_events::now_ts();
    for task in run.of_type("task") {
        assert!(
            (now - task.ts).abs() < 60.0,
            "stamped as taken: {}",
            task.ts
        );
    }
    let stream = temp_file("old-plan.ndjson", &ran.stdout);
    let report = temp_dir("old-plan-junit").join("junit.xml");
    let view = crate::view::sc_view()
        .args(["--plain", "--junit"])
        .arg(&report)
        .arg(&stream)
        .output()
        .unwrap();
    assert!(
        view.status.success(),
        "{}",
        String::from_utf8_lossy(&view.stderr)
    );
    let xml = std::fs::read_to_string(&report).unwrap();
    let time: f64 = xml
        .split("time=\"")
        .nth(1)
        .and_then(|t| t.split('"').next())
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("{xml}"));
    assert!(time < 60.0, "the suite took {time} s: {xml}");
}

/// A command without `--` gets a usage error that shows the `--`.
#[test]
fn a_command_without_the_double_dash_is_shown_it() {
    let ran = run_bounded(sc_spawn().args(["echo", "hi"]), Vec::new());
    assert_eq!(ran.status.code(), Some(2));
    assert!(ran.stderr.contains("sc-spawn -- echo hi"), "{}", ran.stderr);
}

/// Durations as `timeout(1)` takes them: 5s, 1m, 2h, 1d, and plain
/// seconds.
#[test]
fn durations_take_timeouts_units() {
    let ran = run_bounded(
        sc_spawn().args([
            "--timeout",
            "0.2s",
            "--kill-grace",
            "0.1s",
            "--",
            "sleep",
            "30",
        ]),
        Vec::new(),
    );
    assert_eq!(ran.status.code(), Some(124), "{}", ran.stderr);
    for good in ["1m", "2h", "1d", "3"] {
        let ran = run_bounded(
            sc_spawn().args(["--timeout", good, "--", "true"]),
            Vec::new(),
        );
        assert_eq!(ran.status.code(), Some(0), "{good}: {}", ran.stderr);
    }
    let ran = run_bounded(
        sc_spawn().args(["--timeout", "5x", "--", "true"]),
        Vec::new(),
    );
    assert_eq!(ran.status.code(), Some(2));
    assert!(ran.stderr.contains("5s"), "{}", ran.stderr);
}

/// One line is `1 line`.
#[test]
fn one_line_is_one_line() {
    let (run, _) = capture(&["--id", "w", "--", "echo", "hi"]);
    let stream = temp_file(
        "one-line.ndjson",
        &run.events
            .iter()
            .flat_map(sc_events::to_line)
            .collect::<Vec<u8>>(),
    );
    let view = crate::view::sc_view()
        .arg("--plain")
        .arg(&stream)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&view.stdout);
    assert!(!text.contains("1 lines"), "{text}");
    assert!(text.contains("1 line"), "{text}");
}

/// `--fail-fast`: the first failure ends what runs (`ended_by: "fail
/// fast"`) and skips what has not started; exit 1.
#[test]
fn fail_fast_ends_the_plan_at_the_first_failure() {
    let task = |id: &str, script: &str, deps: &[&str]| {
        format!(
            "{}\n",
            serde_json::json!({"type": "task", "id": id, "argv": ["sh", "-c", script], "depends_on": deps})
        )
    };
    let plan = [
        task("broken", "exit 3", &[]),
        task("slow", "exec sleep 30", &[]),
        task("later", "echo never", &["slow"]),
        task("queued", "echo never", &[]),
    ]
    .concat();
    let ran = run_bounded(
        sc_spawn().args(["--fail-fast", "-j", "2", "--kill-grace", "0.5"]),
        plan.into_bytes(),
    );
    assert_eq!(ran.status.code(), Some(1), "{}", ran.stderr);
    let run = Captured::parse(&ran.stdout);
    let exits = run.exits();
    let ended = |id: &str| {
        exits
            .iter()
            .find(|(w, _)| *w == id)
            .and_then(|(_, e)| e.ended_by.as_ref().map(|b| b.to_string()))
    };
    assert_eq!(
        ended("slow").as_deref(),
        Some("fail fast"),
        "{:?}",
        run.events
    );
    let skipped: Vec<(&str, String)> = run
        .events
        .iter()
        .filter_map(|e| match &e.body {
            sc_events::Body::Skip(s) => Some((e.worker.as_str(), s.reason.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(skipped.len(), 2, "{skipped:?}");
    assert!(
        skipped.iter().all(|(_, r)| r.contains("broken")),
        "{skipped:?}"
    );
    let started = |id: &str| {
        run.events
            .iter()
            .any(|e| e.worker == id && e.type_name() == "start")
    };
    assert!(!started("later") && !started("queued"));
    assert_view_checks(&ran.stdout);
}

/// `sc-view --joblog FILE`: GNU parallel's joblog, a row per job that ran,
/// for the scripts that read one.
#[test]
fn a_joblog_as_gnu_parallel_writes_it() {
    let plan = [
        r#"{"type":"task","id":"ok","argv":["sh","-c","echo a"]}"#,
        r#"{"type":"task","id":"three","argv":["sh","-c","sleep 0.1; exit 3"]}"#,
        r#"{"type":"task","id":"killed","argv":["sh","-c","kill -TERM $$"]}"#,
        r#"{"type":"task","id":"after","argv":["true"],"depends_on":["three"]}"#,
    ]
    .join("\n")
        + "\n";
    let ran = run_bounded(sc_spawn().args(["-j", "1"]), plan.into_bytes());
    let stream = temp_file("joblog-run.ndjson", &ran.stdout);
    let joblog = temp_dir("joblog").join("jobs.tsv");
    let view = crate::view::sc_view()
        .args(["--plain", "--joblog"])
        .arg(&joblog)
        .arg(&stream)
        .output()
        .unwrap();
    assert_eq!(
        view.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&view.stderr)
    );
    let text = std::fs::read_to_string(&joblog).unwrap();
    let rows: Vec<Vec<&str>> = text.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(
        rows[0],
        [
            "Seq",
            "Host",
            "Starttime",
            "JobRuntime",
            "Send",
            "Receive",
            "Exitval",
            "Signal",
            "Command"
        ]
    );
    assert_eq!(rows.len(), 4, "the skipped task never ran: {text}");
    let row = |command: &str| {
        rows.iter()
            .find(|r| r[8] == command)
            .unwrap_or_else(|| panic!("{text}"))
    };
    assert_eq!(row("echo a")[..2], ["1", ":"]);
    assert_eq!(
        (row("echo a")[5], row("echo a")[6], row("echo a")[7]),
        ("2", "0", "0")
    );
    assert_eq!(
        (row("sleep 0.1; exit 3")[6], row("sleep 0.1; exit 3")[7]),
        ("3", "0")
    );
    assert_eq!(
        (row("kill -TERM $$")[6], row("kill -TERM $$")[7]),
        ("0", "15")
    );
    let runtime: f64 = row("sleep 0.1; exit 3")[3].trim().parse().unwrap();
    assert!((0.1..5.0).contains(&runtime), "{text}");
    assert_eq!(
        row("sleep 0.1; exit 3")[3].len(),
        10,
        "%10.3f as parallel writes it: {text}"
    );
    let start: f64 = row("echo a")[2].parse().unwrap();
    assert!((sc_events::now_ts() - start).abs() < 60.0, "{text}");
}

/// `sc-plan --kind shell 'gzip -9 {}' ::: FILES`: a task per input, the
/// input shell-quoted as GNU parallel quotes it, named by it; command
/// lines are named by what tells them apart, or by `NAME=`.
#[test]
fn sc_plan_fills_templates_and_names_tasks() {
    let dir = temp_dir("templates");
    for name in ["a.log", "b c.log", "$(touch pwned).log"] {
        std::fs::write(dir.join(name), "x\n".repeat(100)).unwrap();
    }
    let plan = sc_plan(&[
        "--kind",
        "shell",
        "gzip -9 {}",
        ":::",
        "a.log",
        "b c.log",
        "$(touch pwned).log",
    ]);
    assert!(
        plan.status.success(),
        "{}",
        String::from_utf8_lossy(&plan.stderr)
    );
    let ran = run_bounded(sc_spawn().current_dir(&dir), plan.stdout);
    assert_eq!(ran.status.code(), Some(0), "{}", ran.stderr);
    for name in ["a.log.gz", "b c.log.gz", "$(touch pwned).log.gz"] {
        assert!(dir.join(name).exists(), "{name}");
    }
    assert!(
        !dir.join("pwned").exists(),
        "an input is data, never a command"
    );
    let run = Captured::parse(&ran.stdout);
    let mut ids: Vec<&str> = run.exits().iter().map(|(w, _)| *w).collect();
    ids.sort_unstable();
    assert_eq!(ids, ["a-log", "b-c-log", "touch-pwned-log"]);

    let named = sc_plan(&[
        "--kind",
        "shell",
        "cargo build",
        "cargo test",
        "lint=cargo clippy",
    ]);
    let text = String::from_utf8(named.stdout).unwrap();
    let ids: Vec<String> = text
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(ids, ["build", "test", "lint"]);
}

/// The resume recipe, `--resume run.ndjson --log run.ndjson`, leaves a log
/// of two runs: `sc-view --check` reads it as runs, and the view's verdict
/// is the last run's.
#[test]
fn a_log_of_several_runs_checks_as_runs() {
    let dir = temp_dir("several-runs");
    let log = dir.join("run.ndjson");
    let mark = dir.join("mark");
    let plan = format!(
        "{}\n{}\n",
        r#"{"type":"task","id":"a","argv":["true"]}"#,
        serde_json::json!({"type": "task", "id": "b",
            "argv": ["sh", "-c", format!("test -e {m} || {{ touch {m}; exit 1; }}", m = mark.display())]})
    );
    let first = run_bounded(sc_spawn().arg("--log").arg(&log), plan.clone().into_bytes());
    assert_eq!(first.status.code(), Some(1));
    let again = run_bounded(
        sc_spawn().arg("--resume").arg(&log).arg("--log").arg(&log),
        plan.into_bytes(),
    );
    assert_eq!(again.status.code(), Some(0), "{}", again.stderr);
    let check = crate::view::sc_view()
        .arg("--check")
        .arg(&log)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&check.stdout);
    assert!(check.status.success(), "{said}");
    assert!(said.contains("b (run 2)"), "{said}");
    let view = crate::view::sc_view()
        .arg("--plain")
        .arg(&log)
        .output()
        .unwrap();
    assert_eq!(
        view.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&view.stdout)
    );
}

/// `sc-spawn -h` is a summary with the flags under headings; `--help` the
/// whole text, every flag in it.
#[test]
fn short_help_is_a_grouped_summary() {
    let help = |flag: &str| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_sc-spawn"))
            .arg(flag)
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap()
    };
    let short = help("-h");
    for heading in [
        "Output:",
        "Lifecycle:",
        "Agents:",
        "Asks:",
        "Budgets:",
        "Placement:",
        "Plan:",
    ] {
        assert!(short.lines().any(|l| l == heading), "{heading}\n{short}");
    }
    assert!(
        short.lines().count() <= 70,
        "{} lines:\n{short}",
        short.lines().count()
    );
    assert!(
        !short.contains("--flush-ms"),
        "the rarely needed are for --help:\n{short}"
    );
    let long = help("--help");
    for flag in [
        "--flush-ms",
        "--fail-fast",
        "--retry-on",
        "--reconnect-lease",
        "--prices",
    ] {
        assert!(long.contains(flag), "{flag}");
    }
}

/// Every tool's `-h` fits on a screen, its flags under headings.
#[test]
fn every_tools_short_help_fits_a_screen() {
    for (tool, headings) in [
        (
            env!("CARGO_BIN_EXE_sc-view"),
            &["Output:", "Input:", "Select:", "Reports:"][..],
        ),
        (
            env!("CARGO_BIN_EXE_sc-plan"),
            &["Tasks:", "Roles:", "Planner:"][..],
        ),
        (
            env!("CARGO_BIN_EXE_sc-merge"),
            &["Inputs:", "Lifecycle:"][..],
        ),
    ] {
        let out = std::process::Command::new(tool).arg("-h").output().unwrap();
        let short = String::from_utf8(out.stdout).unwrap();
        for heading in headings {
            assert!(short.lines().any(|l| l == *heading), "{heading}\n{short}");
        }
        assert!(
            short.lines().count() <= 45,
            "{tool}: {} lines\n{short}",
            short.lines().count()
        );
    }
}

/// Ctrl-C on `sc-spawn … | sc-view`: the view waits for the run's end (a
/// worker that takes 3 s to stop is reported with its exit, not `no
/// exit`), and both exit 130 however the worker ended (a second Ctrl-C
/// kills it).
#[test]
fn ctrl_c_on_a_pipeline_reports_the_ends_and_exits_130() {
    use std::os::unix::process::CommandExt;
    let dir = temp_dir("ctrl-c-pipeline");
    let ready = dir.join("ready");
    let worker = format!(
        "trap 'sleep 3; echo stopped; exit 1' INT; touch {}; while :; do sleep 0.1; done",
        ready.display()
    );
    let script = format!(
        "{spawn} --kill-grace 10 --id slow -- sh -c \"$W\" | {view} --plain; echo \"view=$?\" >&2",
        spawn = env!("CARGO_BIN_EXE_sc-spawn"),
        view = env!("CARGO_BIN_EXE_sc-view"),
    );
    let mut child = std::process::Command::new("bash")
        .args(["-c", &script])
        .env("W", &worker)
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap();
    eventually("the worker is ready", || ready.exists());
    // Ctrl-C once the view is up (it has shown the start): a person's
    // comes later than a program's start-up, and a view killed before it
    // set up its handler would show nothing.
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut shown = String::new();
    while !shown.contains("[slow] started") {
        let read = std::io::BufRead::read_line(&mut stdout, &mut shown).unwrap();
        assert!(read > 0, "the view ended first: {shown}");
    }
    let group = nix::unistd::Pid::from_raw(-(child.id() as i32));
    nix::sys::signal::kill(group, nix::sys::signal::Signal::SIGINT).unwrap();
    std::io::Read::read_to_string(&mut stdout, &mut shown).unwrap();
    let mut said = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut said).unwrap();
    let _ = wait_with_deadline(&mut child);
    assert!(shown.contains("[slow] stopped"), "{shown}");
    assert!(
        !shown.contains("no exit"),
        "the view waited for the end:\n{shown}"
    );
    assert!(said.contains("view=130"), "{said}");

    // A plan's worker killed by a second Ctrl-C: sc-spawn still exits 130
    // (one command's status stays its worker's, 137, as the contract says).
    let (run, status) = {
        let task = serde_json::json!({"type": "task", "id": "deaf",
            "argv": ["sh", "-c", "trap '' INT TERM; echo deaf; while :; do sleep 0.1; done"]});
        let mut live = Live::start_fed(&mut sc_spawn(), format!("{task}\n").as_bytes());
        live.until(|e| e.type_name() == "output");
        live.signal(nix::sys::signal::Signal::SIGINT);
        live.stderr_line(|l| l.contains("again"));
        live.signal(nix::sys::signal::Signal::SIGINT);
        live.finish()
    };
    assert_eq!(run.exit().signal.as_deref(), Some("SIGKILL"));
    assert_eq!(status.code(), Some(130));
}
