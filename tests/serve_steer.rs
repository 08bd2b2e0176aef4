//! `sc-view --serve`, a person at the page: Allow clicked in a real
//! browser reaches the real agent, Stop ends a worker of the run the page
//! is attached to, Say reaches the model, a worker's whole output a click
//! away; the stream says each time that a person did it, through the page.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::{Child, Command};

use crate::serve::{BROWSER, chromium, hostile_stream, post, serving, serving_with, stop};
use crate::util::*;

/// The real Claude Code asking under `--ask` (its stream also in a log),
/// and a page following the log: the run, the agent's folder, the page.
fn claude_asking_with_a_page(
    claude: &std::path::Path,
    mock: &crate::mock_model::MockModel,
    name: &str,
) -> (Live, std::path::PathBuf, (Child, String, String)) {
    let runtime = temp_dir(&format!("{name}-runtime"));
    let log = runtime.join("run.ndjson");
    let (mut command, dir) = crate::asks::asking(claude, mock, name, &["--ask-timeout", "0"]);
    command
        .env("XDG_RUNTIME_DIR", &runtime)
        .arg("--log")
        .arg(&log);
    let live = Live::start_with(&mut command);
    eventually("the run's log is there", || log.exists());
    let page = serving(&["--follow", log.to_str().unwrap()], None);
    (live, dir, page)
}

/// The run of an ask allowed from the page: it succeeded, the stream says
/// a person answered through the page, and the agent did what it asked to.
fn allowed_from_the_page(live: Live, dir: &std::path::Path) {
    let (run, status) = live.finish();
    assert_eq!(status.code(), Some(0));
    let (_, answers) = run.asks_and_answers();
    assert_eq!(answers[0].by, "person");
    assert_eq!(answers[0].via.as_deref(), Some("sc-view --serve"));
    assert!(
        dir.join("marker.txt").exists(),
        "the agent did what was allowed"
    );
}

/// Allow, from the page (its POST, as its button sends it), reaches the
/// real Claude Code through the run's control socket; the stream says a
/// person answered, through the page.
#[test]
fn an_ask_allowed_from_the_page_reaches_the_real_agent() {
    let Some(claude) = agent_cli("claude", "SC_CLAUDE") else {
        return;
    };
    let mock = crate::mock_model::MockModel::start();
    let (live, dir, (child, addr, token)) = claude_asking_with_a_page(&claude, &mock, "serve-ask");
    // The page's stream, until the worker asks.
    let mut conn = TcpStream::connect(&addr).unwrap();
    write!(
        conn,
        "GET /events HTTP/1.1\r\nHost: {addr}\r\nCookie: sc_view={token}\r\n\r\n"
    )
    .unwrap();
    let mut lines = BufReader::new(conn).lines();
    let ask = loop {
        let line = lines.next().expect("the page's stream goes on").unwrap();
        let Some(data) = line.strip_prefix("data: ") else {
            continue;
        };
        // An event holds the rows that changed since the one before.
        let rows: Vec<serde_json::Value> = serde_json::from_str(data).unwrap();
        let asked = rows
            .iter()
            .find_map(|row| row["asks"].as_array().and_then(|a| a.first()).cloned());
        if let Some(ask) = asked {
            assert_eq!(ask["answerable"], true);
            break ask["id"].as_str().unwrap().to_owned();
        }
    };
    let (status, _, said) = post(
        &addr,
        "/answer",
        &format!(
            "Origin: http://{addr}\r\nCookie: sc_view={token}\r\nContent-Type: application/json\r\n"
        ),
        &format!(r#"{{"ask":"{ask}","decision":"allow"}}"#),
    );
    assert_eq!(status, 200, "{said}");
    allowed_from_the_page(live, &dir);
    stop(child);
}

/// Playwright (in .ci/py, from PyPI by scripts/report-readers) driving the
/// system Chromium: None where it is not installed (skipped).
pub(crate) fn playwright() -> Option<std::path::PathBuf> {
    let python = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/py/bin/python");
    let ok = python.exists()
        && Command::new(&python)
            .args(["-c", "import playwright"])
            .status()
            .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var_os("SC_REQUIRE_AGENT_CLIS").is_none(),
            "Playwright is not installed: run scripts/report-readers"
        );
        skipped(
            "the page's click tests",
            "Playwright not installed: scripts/report-readers installs it from PyPI",
        );
        return None;
    }
    chromium()?;
    Some(python)
}

/// A person clicks `action` (allow, stop) at the page of `addr`: what
/// the page's rows say after it, and the screenshot taken.
pub(crate) fn click(
    python: &std::path::Path,
    addr: &str,
    token: &str,
    action: &str,
    name: &str,
) -> String {
    let shot = temp_dir(name).join("page.png");
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/web/click.py");
    let _one = BROWSER.lock().unwrap_or_else(|p| p.into_inner());
    let out = Command::new(python)
        .arg(script)
        .arg(format!("http://{addr}/?token={token}"))
        .arg(action)
        .arg(&shot)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(shot.exists());
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Allow, clicked in a real browser, reaches the real Claude Code: it
/// does what it asked to, and the stream says a person allowed it there.
#[test]
fn allow_clicked_in_the_browser_reaches_the_real_agent() {
    let Some(python) = playwright() else { return };
    let Some(claude) = agent_cli("claude", "SC_CLAUDE") else {
        return;
    };
    let mock = crate::mock_model::MockModel::start();
    let (live, dir, (child, addr, token)) =
        claude_asking_with_a_page(&claude, &mock, "serve-click");
    let shown = click(&python, &addr, &token, "allow", "serve-click-shot");
    allowed_from_the_page(live, &dir);
    assert!(shown.contains("succeeded"), "{shown}");
    stop(child);
}

/// Stop, clicked in a real browser at the page of a run it is attached to,
/// ends that worker as Ctrl-C would; the stream says who.
#[test]
fn stop_clicked_in_the_browser_ends_the_worker() {
    let Some(python) = playwright() else { return };
    let runtime = crate::reach::runtime("serve-stop-runtime");
    let (live, pid) = crate::reach::looping(&runtime, &temp_dir("serve-stop-dir"));
    let pid = pid.to_string();
    let mut view = Command::new(env!("CARGO_BIN_EXE_sc-view"));
    view.env("XDG_RUNTIME_DIR", &runtime);
    let (child, addr, token) = serving_with(&mut view, &["--attach", &pid], Some(b""));
    let shown = click(&python, &addr, &token, "stop", "serve-stop-shot");
    let (run, status) = live.finish();
    assert_eq!(status.code(), Some(130), "{shown}");
    let stop_event = run
        .events
        .iter()
        .find(|e| e.type_name() == "stop")
        .expect("a stop event");
    assert!(matches!(&stop_event.body, sc_events::Body::Stop(s)
        if s.by == "person" && s.via.as_deref() == Some("sc-view --serve")));
    assert!(shown.contains("failed"), "{shown}");
    stop(child);
}

/// A page that is not attached to a run cannot steer its workers: a
/// running agent's row has no Stop or Say (the server would only refuse
/// them), where the page of a run it is attached to has them (above).
#[test]
fn a_page_not_attached_to_its_run_offers_no_stop_or_say() {
    let Some(python) = playwright() else { return };
    let dir = temp_dir("serve-unattached");
    let file = dir.join("run.ndjson");
    let start = serde_json::json!({
        "type": "start", "worker": "fix", "seq": 0, "ts": 1.0, "argv": ["codex"],
        "pid": 1, "cwd": "/", "kind": "codex", "pty": false, "schema": 1,
    });
    std::fs::write(&file, format!("{start}\n")).unwrap();
    // Followed: the stream goes on, so the worker stays running.
    let (child, addr, token) = serving(&["--follow", file.to_str().unwrap()], None);
    let shown = click(&python, &addr, &token, "buttons", "serve-unattached-shot");
    assert_eq!(shown, "0\n");
    stop(child);
}

/// A worker's id clicked in a real browser shows its whole output, as
/// text (the markup in it is not made into elements).
#[test]
fn a_click_on_a_worker_shows_its_whole_output() {
    let Some(python) = playwright() else { return };
    let dir = temp_dir("serve-output-click");
    let file = dir.join("run.ndjson");
    std::fs::write(&file, hostile_stream()).unwrap();
    let (child, addr, token) = serving(&[file.to_str().unwrap()], Some(b""));
    let shown = click(&python, &addr, &token, "output", "serve-output-shot");
    assert!(
        shown.starts_with("fine\n<script>document.title='pwned'</script>"),
        "{shown}"
    );
    stop(child);
}

/// Words for a running agent from the page of its run (attached): they
/// reach the model in the same session, and the stream says who said them
/// and through what; a page not attached to the run is told it cannot.
#[test]
fn words_from_the_page_reach_the_real_agent() {
    let Some(claude) = agent_cli("claude", "SC_CLAUDE") else {
        return;
    };
    let mock = crate::mock_model::MockModel::start();
    let runtime = crate::reach::runtime("serve-say-runtime");
    let (mut command, _dir) = crate::asks::asking(
        &claude,
        &mock,
        "serve-say",
        &["--id", "fixer", "--ask-timeout", "0"],
    );
    command.env("XDG_RUNTIME_DIR", &runtime);
    let mut live = Live::start_with(&mut command);
    let asked = live.until(|e| e.type_name() == "ask");
    let sc_events::Body::Ask(ask) = &asked.body else {
        unreachable!()
    };
    let pid = live.child.id().to_string();
    let mut view = Command::new(env!("CARGO_BIN_EXE_sc-view"));
    view.env("XDG_RUNTIME_DIR", &runtime);
    let (child, addr, token) = serving_with(&mut view, &["--attach", &pid], Some(b""));
    let from_page = format!(
        "Origin: http://{addr}\r\nCookie: sc_view={token}\r\nContent-Type: application/json\r\n"
    );
    let (status, _, said) = post(
        &addr,
        "/say",
        &from_page,
        r#"{"worker":"fixer","text":"Remember the style guide, please."}"#,
    );
    assert_eq!(status, 200, "{said}");
    assert_eq!(
        post(
            &addr,
            "/say",
            &from_page,
            r#"{"worker":"fixer","text":" "}"#
        )
        .0,
        400,
        "nothing to say"
    );
    let answer = format!(r#"{{"ask":"{}","decision":"allow"}}"#, ask.ask);
    // The page learns of the ask from the run's stream, which it follows.
    eventually("the page knows the ask", || {
        post(&addr, "/answer", &from_page, &answer).0 == 200
    });
    eventually("the model hears what was said", || {
        mock.heard("Remember the style guide")
    });
    let (run, _) = live.finish();
    let said: Vec<_> = run
        .events
        .iter()
        .filter_map(|e| match &e.body {
            sc_events::Body::Say(said) => Some(said.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(said.len(), 1);
    assert_eq!(said[0].via.as_deref(), Some("sc-view --serve"));
    stop(child);
    // Not attached: told so.
    let (child, addr, token) = serving(&[], Some(&hostile_stream()));
    let mine = format!(
        "Origin: http://{addr}\r\nCookie: sc_view={token}\r\nContent-Type: application/json\r\n"
    );
    let (status, _, said) = post(&addr, "/say", &mine, r#"{"worker":"evil","text":"hi"}"#);
    assert_eq!(status, 409, "{said}");
    stop(child);
}

/// The page's kind filter, in a real browser: only the rows of the kind
/// chosen stay shown, a running worker's last lines under its newest;
/// once the stream ended there is nothing to stop.
#[test]
fn the_kind_filter_shows_the_workers_of_one_kind() {
    let Some(python) = playwright() else { return };
    let start = |worker: &str, kind: &str| {
        serde_json::json!({
            "type": "start", "worker": worker, "seq": 0, "ts": 1.0, "argv": ["x"],
            "pid": 1, "cwd": "/", "kind": kind, "pty": false, "schema": 1,
        })
        .to_string()
            + "\n"
    };
    let output = |seq: u64, text: &str| {
        serde_json::json!({
            "type": "output", "worker": "fix", "seq": seq, "ts": 1.5,
            "stream": "stderr", "text": text,
        })
        .to_string()
            + "\n"
    };
    let stream = [
        start("build", "shell"),
        start("fix", "codex"),
        output(1, "one\ntwo\n"),
        output(2, "three\nfour\n"),
        output(3, "fiv"),
        start("review", "codex"),
    ]
    .concat();
    let (child, addr, token) = serving(&[], Some(stream.as_bytes()));
    let shown = click(&python, &addr, &token, "kind=codex", "serve-kind-shot");
    assert_eq!(
        shown,
        "fix 'two\\nthree\\nfour\\nfiv'\nreview ''\nStop buttons: 0\n"
    );
    stop(child);
}

/// A thousand workers in a real browser, scrolled to the end and back a
/// wheel turn at a time: every row there, and the page says its longest
/// tasks while the rows came and while it scrolled (its own long-task
/// observer, and one of the script's). How long those are is a figure of
/// `scripts/bench view`, not a test: a task's length on a loaded machine
/// is the machine's as much as the page's.
#[test]
fn a_thousand_workers_scroll() {
    let Some(python) = playwright() else { return };
    let stream = crate::serve::thousand_workers();
    let (child, addr, token) = serving(&[], Some(stream.as_bytes()));
    let said = click(&python, &addr, &token, "scroll", "serve-scroll-shot");
    let longest: Vec<u32> = said.lines().filter_map(|l| l.parse().ok()).collect();
    assert_eq!(longest.len(), 2, "{said}");
    stop(child);
}
