//! Bad input never panics and never loses data: plan lines whose fields
//! have the wrong type or wild values, a roles file with a wild timeout,
//! and streams of every event type at and past every edge, read by every
//! binary. Each answers in words (an `error` event, a usage error) and the
//! rest goes on. Each reproduces a reported failure of an earlier build.

use std::process::Command;

use sc_events::Body;

use crate::hardening::{run_plan, texts_of};
use crate::util::*;

/// Reproduced: `"timeout_s": 1e300` panicked sc-spawn. No value of any
/// field may: a bad one is an error event naming the field and the task,
/// and the rest of the plan goes on.
#[test]
fn fields_of_the_wrong_type_are_refused_not_dropped() {
    let lines = [
        r#"{"type":"task","worker":"retries","seq":0,"ts":0,"id":"retries","argv":["true"],"retries":"two"}"#,
        r#"{"type":"task","worker":"timeout","seq":0,"ts":0,"id":"timeout","argv":["true"],"timeout_s":"ten"}"#,
        r#"{"type":"task","worker":"deps","seq":0,"ts":0,"id":"deps","argv":["true"],"depends_on":"a"}"#,
        r#"{"type":"task","worker":"argv","seq":0,"ts":0,"id":"argv","argv":"echo x"}"#,
        r#"{"type":"task","worker":"after","seq":0,"ts":0,"id":"after","argv":["echo","never"],"depends_on":["argv"]}"#,
        r#"{"type":"task","worker":"ok","seq":0,"ts":0,"id":"ok","argv":["echo","still here"]}"#,
    ];
    let (run, code, _) = run_plan(None, &[], lines.join("\n").into_bytes());
    assert_eq!(code, 1, "the plan fails: some of its tasks were refused");
    assert_eq!(texts_of(&run, "ok"), "still here\n");
    for (id, field) in [
        ("retries", "retries"),
        ("timeout", "timeout_s"),
        ("deps", "depends_on"),
        ("argv", "argv"),
    ] {
        let error = run
            .events
            .iter()
            .find_map(|e| match &e.body {
                Body::Error(error) if e.worker == id => Some(error.message.clone()),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no error for task {id}: {:#?}", run.events));
        assert!(
            error.contains(&format!("task `{id}` is not run")) && error.contains(field),
            "{error}"
        );
        assert!(
            run.exits()
                .iter()
                .any(|(w, e)| *w == id && e.code == Some(127)),
            "{id} ends as refused"
        );
    }
    assert!(
        run.events
            .iter()
            .any(|e| e.worker == "after" && matches!(&e.body, Body::Skip(_))),
        "a dependent of a refused task is skipped"
    );
}

#[test]
fn a_roles_file_with_a_wild_timeout_is_a_usage_error() {
    let roles = temp_file(
        "wild-roles.json",
        br#"{"roles":[{"name":"slow","id":"slow","timeout_s":1e300,"instructions":"x","ask":"Do"}]}"#,
    );
    let out = sc_spawn()
        .args([
            "--roles-file",
            roles.to_str().unwrap(),
            "--role",
            "slow",
            "--",
            "true",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("role `slow`: `timeout_s` is 1e300"),
        "{stderr}"
    );
}

#[test]
fn wild_field_values_are_errors_never_panics() {
    let wild = [
        r#"{"type":"task","worker":"huge","seq":0,"ts":0,"id":"huge","argv":["true"],"timeout_s":1e300}"#,
        r#"{"type":"task","worker":"negative","seq":0,"ts":0,"id":"negative","argv":["true"],"timeout_s":-5}"#,
        r#"{"type":"task","worker":"limits","seq":0,"ts":0,"id":"limits","argv":["true"],"limits":{"cpu_s":18446744073709551615,"max_rss_mib":18446744073709551615,"nice":-2147483648}}"#,
        r#"{"type":"task","worker":"nul","seq":0,"ts":0,"id":"nul","argv":["ec\u0000ho"],"env":{"A\u0000":"b"}}"#,
        r#"{"type":"task","worker":"nowhere","seq":0,"ts":0,"id":"nowhere","argv":["true"],"cwd":"/no/such/dir"}"#,
        r#"{"type":"task","worker":"self","seq":0,"ts":0,"id":"self","argv":["true"],"depends_on":["self","self"]}"#,
        r#"{"type":"task","worker":"","seq":0,"ts":0,"id":"","argv":[]}"#,
        r#"{"type":"task","worker":"big-seq","seq":18446744073709551615,"ts":1e308,"id":"big-seq","argv":["true"]}"#,
        r#"{"type":"task","worker":"ok","seq":0,"ts":0,"id":"ok","argv":["echo","still here"]}"#,
    ];
    let plan = wild.join("\n").into_bytes();
    let (run, code, _) = run_plan(None, &[], plan);
    assert_eq!(code, 1, "a failed plan, not a crash");
    assert_eq!(texts_of(&run, "ok"), "still here\n");
    let errors: Vec<String> = run
        .events
        .iter()
        .filter_map(|e| match &e.body {
            Body::Error(error) => Some(format!("{}: {}", e.worker, error.message)),
            _ => None,
        })
        .collect();
    for id in ["huge", "negative"] {
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with(&format!("{id}: task `{id}`: `timeout_s`"))),
            "{errors:#?}"
        );
    }
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("self:") && e.contains("cycle"))
    );
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("nowhere:") && e.contains("/no/such/dir: no such directory")),
        "{errors:#?}"
    );
    // The limits are extreme, not invalid: the task runs within them.
    assert!(
        run.exits()
            .iter()
            .any(|(w, e)| *w == "limits" && e.code == Some(0))
    );
}

/// Lines of every event type with values at and past every edge: wrong
/// types, huge and negative numbers, absurd ts, NULs, bad base64, nested
/// garbage. No binary may panic on them; each answers in words.
fn wild_stream() -> Vec<u8> {
    let values = [
        "null",
        "-1",
        "1e308",
        "-1e308",
        "18446744073709551615",
        "\"\\u0000\"",
        "\"\"",
        "[]",
        "{}",
        "true",
        "\"\u{202e}x\"",
    ];
    let types = [
        "start",
        "output",
        "heartbeat",
        "stall",
        "skip",
        "error",
        "exit",
        "progress",
        "task",
    ];
    let fields = [
        "pid",
        "argv",
        "text",
        "bytes",
        "stream",
        "code",
        "signal",
        "duration_ms",
        "lines",
        "percent",
        "message",
        "idle_ms",
        "cpu_ms",
        "rss_kib",
        "reason",
        "agent",
        "progress",
        "timeout_s",
        "depends_on",
        "kind",
        "limits",
        "env",
        "cwd",
        "id",
    ];
    let mut out = Vec::new();
    for (i, t) in types.iter().enumerate() {
        for (j, f) in fields.iter().enumerate() {
            let v = values[(i + j) % values.len()];
            let ts = values[(i * 3 + j) % values.len()];
            let line = format!(r#"{{"type":"{t}","worker":"w{i}","seq":{j},"ts":{ts},"{f}":{v}}}"#);
            out.extend_from_slice(line.as_bytes());
            out.push(b'\n');
        }
    }
    out.extend_from_slice(
        br#"{"type":"output","worker":"b","seq":0,"ts":1,"stream":"stdout","bytes":"!!not base64"}"#,
    );
    out.extend_from_slice(b"\n\xff\xfe{\"type\":\n{\"type\":\"exit\"}\n");
    out
}

#[test]
fn wild_streams_never_panic_any_binary() {
    let stream = wild_stream();
    let file = temp_file("wild.ndjson", &stream);
    let path = file.to_str().unwrap();
    let runs: Vec<(&str, Vec<&str>)> = vec![
        (env!("CARGO_BIN_EXE_sc-view"), vec![]),
        (env!("CARGO_BIN_EXE_sc-view"), vec!["--check"]),
        (env!("CARGO_BIN_EXE_sc-view"), vec!["--raw"]),
        (env!("CARGO_BIN_EXE_sc-merge"), vec![]),
        (env!("CARGO_BIN_EXE_sc-merge"), vec!["--prefix", path, path]),
        (env!("CARGO_BIN_EXE_sc-spawn"), vec![]),
        (
            env!("CARGO_BIN_EXE_sc-replay"),
            vec!["--speed", "1000", "--worker", "w1", path],
        ),
    ];
    for (program, args) in runs {
        let ran = run_bounded(
            Command::new(program).args(&args).env("NO_COLOR", "1"),
            stream.clone(),
        );
        let (stderr, status) = (ran.stderr, ran.status);
        assert!(
            !stderr.contains("panicked") && status.code() != Some(101),
            "{program} {args:?} panicked: {stderr}"
        );
    }
}
