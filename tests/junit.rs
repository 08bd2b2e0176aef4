//! sc-view's JUnit report tells the truth when a run is cut off, retried,
//! or done by agents: checked against the schema, and read back by a real
//! JUnit consumer (junitparser, from PyPI; scripts/report-readers).

use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::util::*;
use crate::view::sc_view;

/// The report at `path` is valid against the schema the tests use.
fn assert_valid(path: &Path) {
    if Command::new("xmllint").arg("--version").output().is_err() {
        engine_missing("the JUnit schema checks", "xmllint", "libxml2-utils");
        return;
    }
    let schema = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/junit.xsd");
    let valid = Command::new("xmllint")
        .args(["--noout", "--schema"])
        .arg(&schema)
        .arg(path)
        .output()
        .unwrap();
    assert!(
        valid.status.success(),
        "{}: {}",
        path.display(),
        String::from_utf8_lossy(&valid.stderr)
    );
}

/// The report as junitparser reads it: each case's name, its result
/// (`passed`, `failure`, `error`, `skipped`) and message, and its output;
/// None where junitparser is not installed (said as skipped).
fn read_by_junitparser(path: &Path) -> Option<Vec<Value>> {
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/py/bin/python");
    if !python.exists() {
        assert!(
            std::env::var_os("SC_REQUIRE_AGENT_CLIS").is_none(),
            "junitparser is not installed: run scripts/report-readers"
        );
        skipped(
            "reading the JUnit report with junitparser",
            "not installed: scripts/report-readers installs it from PyPI",
        );
        return None;
    }
    let script = r#"
import json, sys
from junitparser import JUnitXml, Failure, Error, Skipped
cases = []
for suite in JUnitXml.fromfile(sys.argv[1]):
    for case in suite:
        results = [{"kind": type(r).__name__.lower(), "message": r.message} for r in case.result]
        cases.append({"name": case.name, "results": results,
                      "passed": case.is_passed, "out": case.system_out or ""})
print(json.dumps(cases))
"#;
    let out = Command::new(python)
        .args(["-c", script])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "junitparser: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(serde_json::from_slice(&out.stdout).unwrap())
}

fn report_path(name: &str) -> PathBuf {
    temp_dir(name).join("report.xml")
}

#[test]
fn a_worker_the_stream_never_saw_end_is_an_error_not_a_pass() {
    // The run was killed: a start and some output, no exit.
    let stream = [
        start_event("build", 0, 1.0, &["make"]),
        output_event("build", 1, 1.5, sc_events::Stream::Stdout, b"compiling\n"),
        start_event("done", 0, 1.0, &["true"]),
        exit_event("done", 1, 1.2, Some(0), None, 200, 0),
    ]
    .concat();
    let report = report_path("junit-cut");
    let out = run_bounded(sc_view().arg("--junit").arg(&report), stream);
    assert_eq!(out.status.code(), Some(1));
    let xml = std::fs::read_to_string(&report).unwrap();
    assert!(
        xml.contains(r#"tests="2" failures="0" errors="1""#),
        "{xml}"
    );
    assert!(xml.contains(r#"<error type="unfinished""#), "{xml}");
    assert!(xml.contains("no exit event"), "{xml}");
    assert_valid(&report);
    if let Some(cases) = read_by_junitparser(&report) {
        let build = cases.iter().find(|c| c["name"] == "build").unwrap();
        assert_eq!(build["passed"], false, "{build}");
        assert_eq!(build["results"][0]["kind"], "error");
        let done = cases.iter().find(|c| c["name"] == "done").unwrap();
        assert_eq!(done["passed"], true);
    }
}

#[test]
fn a_task_that_passed_on_retry_is_flaky_with_each_attempts_output() {
    let dir = temp_dir("junit-flaky");
    let report = dir.join("report.xml");
    let script = "if [ -e m ]; then echo second try; else touch m; echo first try; exit 3; fi";
    let spawn = sc_spawn()
        .current_dir(&dir)
        .args(["--retries", "1", "--retry-delay", "0", "--retry-on", "any"])
        .args(["--id", "flaky", "--", "sh", "-c", script])
        .output()
        .unwrap();
    assert!(spawn.status.success());
    let out = run_bounded(sc_view().arg("--junit").arg(&report), spawn.stdout);
    assert_eq!(out.status.code(), Some(0));
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(shown.contains("✔ ok after 2 attempts"), "{shown}");
    assert!(shown.contains("1 ok (1 after 2 attempts)"), "{shown}");
    let xml = std::fs::read_to_string(&report).unwrap();
    assert!(xml.contains(r#"failures="0" errors="0""#), "{xml}");
    let flaky = xml
        .find("<flakyFailure")
        .expect("the failed attempt, as flaky");
    let tail = &xml[flaky..];
    assert!(tail.contains("attempt 1"), "{xml}");
    assert!(
        tail.contains("<system-out>first try\n</system-out>"),
        "its own output: {xml}"
    );
    assert!(
        xml.contains("      <system-out>second try\n</system-out>"),
        "the passing attempt's: {xml}"
    );
    assert_valid(&report);
    if let Some(cases) = read_by_junitparser(&report) {
        assert_eq!(cases[0]["passed"], true, "{cases:?}");
        assert_eq!(cases[0]["out"], "second try\n");
    }
}

#[test]
fn an_agents_part_is_what_it_said_and_did_not_its_json() {
    // The demo's recorded agents, replayed: no CLI, no key.
    let plan = Command::new(env!("CARGO_BIN_EXE_sc-plan"))
        .arg("--demo")
        .output()
        .unwrap();
    let spawn = run_bounded(sc_spawn().args(["--replay-speed", "100"]), plan.stdout);
    let report = report_path("junit-agents");
    let out = run_bounded(sc_view().arg("--junit").arg(&report), spawn.stdout.clone());
    assert_eq!(out.status.code(), Some(0));
    let xml = std::fs::read_to_string(&report).unwrap();
    assert!(
        xml.contains("⚙ Write: /tmp/sc-demo-app/src/oauth2.rs"),
        "its tool calls: {xml}"
    );
    assert!(
        xml.contains("result: ok · $0.05"),
        "its result and cost: {xml}"
    );
    assert!(
        !xml.contains("&quot;type&quot;:&quot;system&quot;"),
        "not the CLI's transport: {xml}"
    );
    assert_valid(&report);
    // The transport, only when asked for.
    let raw = report_path("junit-agents-raw");
    run_bounded(
        sc_view().arg("--junit").arg(&raw).arg("--junit-raw"),
        spawn.stdout,
    );
    let xml = std::fs::read_to_string(&raw).unwrap();
    assert!(xml.contains("&quot;type&quot;:&quot;system&quot;"), "{xml}");
}

/// Start sc-view on a pipe we hold, with the reports asked for; wait until
/// its plain view shows `line`.
fn view_until(
    args: &[&str],
    stream: &[u8],
    line: &str,
) -> (
    std::process::Child,
    std::process::ChildStdin,
    BufReader<std::process::ChildStdout>,
) {
    let mut view = sc_view()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = view.stdin.take().unwrap();
    stdin.write_all(stream).unwrap();
    stdin.flush().unwrap();
    let mut out = BufReader::new(view.stdout.take().unwrap());
    let mut seen = String::new();
    while !seen.contains(line) {
        seen.clear();
        assert!(out.read_line(&mut seen).unwrap() > 0, "sc-view ended first");
    }
    (view, stdin, out)
}

#[test]
fn sc_view_interrupted_still_writes_its_reports_and_summary() {
    let dir = temp_dir("junit-interrupted");
    let (report, timeline) = (dir.join("r.xml"), dir.join("t.svg"));
    let stream = [
        start_event("build", 0, 1.0, &["make"]),
        output_event("build", 1, 1.5, sc_events::Stream::Stdout, b"compiling\n"),
    ]
    .concat();
    let (mut view, stdin, mut out) = view_until(
        &[
            "--junit",
            report.to_str().unwrap(),
            "--timeline",
            timeline.to_str().unwrap(),
        ],
        &stream,
        "compiling",
    );
    // A cancelled CI job: SIGTERM, the producer still holding the pipe.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(view.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    let status = wait_with_deadline(&mut view);
    drop(stdin);
    assert_eq!(status.code(), Some(143), "ended as SIGTERM would: {rest}");
    assert!(
        rest.contains("interrupted (SIGTERM): 1 worker had not ended"),
        "{rest}"
    );
    let xml = std::fs::read_to_string(&report).expect("the report, written");
    assert!(xml.contains("interrupted (SIGTERM)"), "{xml}");
    assert!(xml.contains(r#"errors="1""#), "{xml}");
    assert_valid(&report);
    let svg = std::fs::read_to_string(&timeline).expect("the timeline, written");
    assert!(svg.contains("build"), "{svg}");
}

#[test]
fn ctrl_c_on_a_pipeline_reports_the_workers_as_they_were_ended() {
    // `sc-spawn … | sc-view --junit`, and Ctrl-C: both get SIGINT (one
    // process group); sc-view reads on until sc-spawn has said how its
    // workers ended, then writes the report.
    let dir = temp_dir("junit-ctrl-c");
    let report = dir.join("r.xml");
    let mut spawn = sc_spawn()
        .args(["--id", "slow", "--", "sh", "-c", "echo up; exec sleep 120"])
        .stdout(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap();
    let group = spawn.id() as i32;
    let mut view = sc_view()
        .arg("--junit")
        .arg(&report)
        .stdin(spawn.stdout.take().unwrap())
        .stdout(Stdio::piped())
        .process_group(group)
        .spawn()
        .unwrap();
    let mut out = BufReader::new(view.stdout.take().unwrap());
    let mut line = String::new();
    while !line.contains("[slow] up") {
        line.clear();
        assert!(out.read_line(&mut line).unwrap() > 0);
    }
    nix::sys::signal::killpg(
        nix::unistd::Pid::from_raw(group),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    assert_eq!(wait_with_deadline(&mut view).code(), Some(130), "{rest}");
    assert_eq!(wait_with_deadline(&mut spawn).code(), Some(130));
    let xml = std::fs::read_to_string(&report).unwrap();
    // sc-spawn's own word on it came through: ended by SIGINT.
    assert!(
        xml.contains(r#"<failure type="signal" message="killed by SIGINT">"#),
        "{xml}"
    );
    assert_valid(&report);
}
