//! `sc-view --serve`: the live page, tried as a browser and as a hostile
//! page or network would: the token exchanged for a cookie, every request
//! without it, from another Host or (when it changes anything) another
//! Origin refused; hostile worker output shown as text in a real browser;
//! a page that reconnects sent nothing twice; an ask answered from the
//! page reaches the real agent, and the stream says who answered.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};

use crate::util::*;

/// A `sc-view --serve` reading `stream` (written to its stdin, then
/// closed): the child, its address (`127.0.0.1:PORT`) and its token.
fn serving(args: &[&str], stream: Option<&[u8]>) -> (Child, String, String) {
    serving_with(
        &mut Command::new(env!("CARGO_BIN_EXE_sc-view")),
        args,
        stream,
    )
}

/// [`serving`], `view` being the sc-view command (its environment set).
fn serving_with(
    view: &mut Command,
    args: &[&str],
    stream: Option<&[u8]>,
) -> (Child, String, String) {
    let mut child = view
        .args(["--plain", "--serve"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    if let Some(stream) = stream {
        stdin.write_all(stream).unwrap();
        drop(stdin);
    } else {
        std::mem::forget(stdin);
    }
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    std::thread::spawn(move || {
        let mut rest = String::new();
        let _ = stderr.read_to_string(&mut rest);
    });
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL: {line}"));
    let rest = url.strip_prefix("http://").unwrap();
    let (addr, query) = rest.split_once('/').unwrap();
    let token = query.strip_prefix("?token=").unwrap().to_owned();
    (child, addr.to_owned(), token)
}

/// One HTTP/1.1 request (`Connection: close`): status, head, body.
fn http(addr: &str, request: &str) -> (u16, String, String) {
    let mut conn = TcpStream::connect(addr).unwrap();
    conn.write_all(request.as_bytes()).unwrap();
    let mut reply = String::new();
    let _ = conn.read_to_string(&mut reply);
    let (head, body) = reply.split_once("\r\n\r\n").unwrap_or((&reply, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head.to_owned(), body.to_owned())
}

fn get(addr: &str, path: &str, extra: &str) -> (u16, String, String) {
    http(
        addr,
        &format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n{extra}Connection: close\r\n\r\n"),
    )
}

fn post(addr: &str, path: &str, extra: &str, body: &str) -> (u16, String, String) {
    http(
        addr,
        &format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
}

fn stop(mut child: Child) {
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    );
    let _ = wait_with_deadline(&mut child);
}

/// A stream of one worker whose last line is hostile markup and ANSI.
const HOSTILE: &str = "<script>document.title='pwned'</script><img src=x onerror=\"document.title='pwned'\"> \u{1b}]0;title\u{7}\u{1b}[31mred";

fn hostile_stream() -> Vec<u8> {
    let ran = run_bounded(
        sc_spawn().args(["--id", "evil", "--", "printf", "%s\\n", "fine", HOSTILE]),
        Vec::new(),
    );
    ran.stdout
}

#[test]
fn the_page_is_served_only_with_its_token_its_host_and_its_origin() {
    let (child, addr, token) = serving(&[], Some(&hostile_stream()));
    // The token, once, becomes a cookie the page's script cannot read.
    let (status, head, _) = get(&addr, &format!("/?token={token}"), "");
    assert_eq!(status, 303, "{head}");
    assert!(head.contains("Location: /"), "{head}");
    assert!(
        head.contains(&format!(
            "Set-Cookie: sc_view={token}; HttpOnly; SameSite=Strict; Path=/"
        )),
        "{head}"
    );
    let cookie = format!("Cookie: sc_view={token}\r\n");
    let (status, head, body) = get(&addr, "/", &cookie);
    assert_eq!(status, 200);
    assert!(
        head.contains("Content-Security-Policy: default-src 'none'; script-src 'self'"),
        "{head}"
    );
    assert!(head.contains("X-Frame-Options: DENY"), "{head}");
    assert!(body.contains("<script src=\"/app.js\" defer></script>"));
    assert!(!head.contains("Access-Control-Allow"), "no CORS: {head}");
    // Refused: no token, a wrong one, another Host (DNS rebinding).
    assert_eq!(get(&addr, "/", "").0, 403);
    assert_eq!(get(&addr, "/events", "").0, 403);
    assert_eq!(get(&addr, "/?token=0000", "").0, 403);
    assert_eq!(get(&addr, "/", "Cookie: sc_view=0000\r\n").0, 403);
    let (status, _, _) = http(
        &addr,
        &format!("GET / HTTP/1.1\r\nHost: evil.example:80\r\n{cookie}Connection: close\r\n\r\n"),
    );
    assert_eq!(status, 421);
    // What changes anything needs the page's own origin: another port of
    // the loopback is another origin, though the cookie would go along.
    let json = "Content-Type: application/json\r\n";
    let body = r#"{"worker":"evil"}"#;
    assert_eq!(
        post(&addr, "/stop", &format!("{cookie}{json}"), body).0,
        403
    );
    let other = format!("Origin: http://127.0.0.1:1\r\n{cookie}{json}");
    assert_eq!(post(&addr, "/stop", &other, body).0, 403);
    let mine = format!("Origin: http://{addr}\r\n{cookie}");
    assert_eq!(post(&addr, "/stop", &mine, body).0, 415, "JSON only");
    let (status, _, said) = post(&addr, "/stop", &format!("{mine}{json}"), body);
    assert_eq!(status, 409, "not attached to a run: {said}");
    let (status, _, said) = post(
        &addr,
        "/answer",
        &format!("{mine}{json}"),
        r#"{"ask":"evil/1","decision":"allow"}"#,
    );
    assert_eq!(status, 409, "no such open ask: {said}");
    stop(child);
}

/// Headless Chromium, or None (skipped, or a failure under .ci/run).
fn chromium() -> Option<&'static str> {
    let found = ["chromium", "chromium-browser"]
        .into_iter()
        .find(|b| Command::new(b).arg("--version").output().is_ok());
    if found.is_none() {
        engine_missing("the page's browser tests", "chromium", "chromium");
    }
    found
}

/// One browser at a time: on two cores, browsers started together by
/// tests going at once slow each other's pages down.
static BROWSER: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The page at `addr` as a real browser leaves it after `ms` of its
/// time: its DOM.
fn page_dom(chromium: &str, addr: &str, token: &str, profile: &std::path::Path, ms: u32) -> String {
    let _one = BROWSER.lock().unwrap_or_else(|p| p.into_inner());
    let out = Command::new(chromium)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--dump-dom"])
        .arg(format!("--virtual-time-budget={ms}"))
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("http://{addr}/?token={token}"))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A thousand workers: every row there, the summary counted, and the page
/// never busy for long: its own PerformanceObserver reports its long tasks
/// (over 50 ms); alone there are none, and with the other tests loading
/// both cores none may last 100 ms (a page that built the rows in one go,
/// or walked every row at each change, took several times that).
#[test]
fn a_thousand_workers_render_without_long_tasks() {
    let Some(chromium) = chromium() else { return };
    let mut stream = String::new();
    for i in 0..1000 {
        let w = format!("w{i:04}");
        let ts = 1.0 + f64::from(i) / 1000.0;
        let code = if i % 10 == 0 { 1 } else { 0 };
        stream.push_str(&format!(
            "{}\n{}\n{}\n",
            serde_json::json!({"type":"start","worker":w,"seq":0,"ts":ts,"argv":["sh"],"pid":100+i,
                "cwd":"/","kind":"shell","pty":false,"schema":1}),
            serde_json::json!({"type":"output","worker":w,"seq":1,"ts":ts+0.5,"stream":"stdout",
                "text":format!("line of {w}\n")}),
            serde_json::json!({"type":"exit","worker":w,"seq":2,"ts":ts+1.0,"code":code,"signal":null,
                "duration_ms":1000,"timed_out":false,"lines":1,"bytes":13}),
        ));
    }
    let (child, addr, token) = serving(&[], Some(stream.as_bytes()));
    let dir = temp_dir("serve-thousand");
    let dom = page_dom(chromium, &addr, &token, &dir.join("profile"), 10_000);
    assert_eq!(dom.matches("<tr data-worker=").count(), 1000);
    assert!(
        dom.contains("1000 workers · 0 running · 100 failed"),
        "{}",
        &dom[..dom.len().min(2000)]
    );
    assert!(
        dom.contains(r#"data-long-tasks="0""#),
        "long tasks: {}",
        &dom[..dom.len().min(400)]
    );
    stop(child);
}

#[test]
fn hostile_output_is_text_in_a_real_browser() {
    let Some(chromium) = chromium() else { return };
    let (child, addr, token) = serving(&[], Some(&hostile_stream()));
    let dir = temp_dir("serve-browser");
    let shot = dir.join("page.png");
    let browse = |extra: &[String]| {
        let _one = BROWSER.lock().unwrap_or_else(|p| p.into_inner());
        Command::new(chromium)
            .args(["--headless", "--no-sandbox", "--disable-gpu"])
            .arg("--virtual-time-budget=5000")
            .arg(format!("--user-data-dir={}", dir.join("profile").display()))
            .args(extra)
            .arg(format!("http://{addr}/?token={token}"))
            .output()
            .unwrap()
    };
    let dom = page_dom(chromium, &addr, &token, &dir.join("profile"), 5000);
    let row = dom
        .split("<tbody>")
        .nth(1)
        .and_then(|t| t.split("</tbody>").next())
        .unwrap_or_else(|| panic!("no table: {dom}"));
    assert!(row.contains(r#"data-worker="evil""#), "{row}");
    assert!(row.contains("succeeded"), "{row}");
    // The markup is text: escaped in the DOM, no element made of it, no
    // script run (the title is the page's own).
    assert!(
        row.contains("&lt;script&gt;document.title='pwned'&lt;/script&gt;&lt;img src=x"),
        "{row}"
    );
    assert!(!row.contains("<img") && !row.contains("<script"), "{row}");
    assert!(dom.contains("<title>sc-view</title>"), "{dom}");
    assert!(
        !row.contains('\u{1b}'),
        "no terminal escape reaches the page"
    );
    assert!(dom.contains("the stream ended"), "{dom}");
    browse(&[
        "--window-size=1000,240".into(),
        format!("--screenshot={}", shot.display()),
    ]);
    assert!(shot.exists());
    stop(child);
}

/// Events read from the page's stream: (id, event, data), to its end.
fn events(addr: &str, token: &str, last: Option<u64>) -> Vec<(u64, String, String)> {
    let extra = last
        .map(|l| format!("Last-Event-ID: {l}\r\n"))
        .unwrap_or_default();
    let (status, _, body) = get(
        addr,
        "/events",
        &format!("Cookie: sc_view={token}\r\n{extra}"),
    );
    assert_eq!(status, 200);
    // Chunked: the events are whole lines between the chunk sizes.
    let mut found = Vec::new();
    let (mut id, mut kind) = (0, String::new());
    for line in body.lines() {
        if let Some(v) = line.strip_prefix("id: ") {
            id = v.parse().unwrap();
        } else if let Some(v) = line.strip_prefix("event: ") {
            kind = v.to_owned();
        } else if let Some(v) = line.strip_prefix("data: ") {
            found.push((id, kind.clone(), v.to_owned()));
        }
    }
    found
}

#[test]
fn a_page_that_reconnects_is_sent_what_it_has_not_seen_and_nothing_twice() {
    let stream = run_bounded(
        sc_spawn().args(["--id", "a", "--", "sh", "-c", "echo one; echo two"]),
        Vec::new(),
    )
    .stdout;
    let (child, addr, token) = serving(&[], Some(&stream));
    let first = events(&addr, &token, None);
    let rows: Vec<_> = first.iter().filter(|(_, kind, _)| kind == "row").collect();
    assert_eq!(
        rows.len(),
        1,
        "the stream read whole before: one row, its last state"
    );
    let row: serde_json::Value = serde_json::from_str(&rows[0].2).unwrap();
    assert_eq!(
        (row["id"].as_str(), row["lines"].as_u64()),
        (Some("a"), Some(2))
    );
    assert_eq!(first.last().unwrap().1, "end");
    let again = events(&addr, &token, Some(rows[0].0));
    assert!(again.iter().all(|(_, kind, _)| kind != "row"), "{again:?}");
    assert_eq!(again.last().unwrap().1, "end");
    stop(child);
}

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
        let row: serde_json::Value = serde_json::from_str(data).unwrap();
        if let Some(ask) = row["asks"].as_array().and_then(|a| a.first()) {
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
    let (run, status) = live.finish();
    assert_eq!(status.code(), Some(0));
    let (_, answers) = run.asks_and_answers();
    assert_eq!(answers[0].by, "person");
    assert_eq!(answers[0].via.as_deref(), Some("sc-view --serve"));
    assert!(
        dir.join("marker.txt").exists(),
        "the agent did what was allowed"
    );
    stop(child);
}

/// Playwright (in .ci/py, from PyPI by scripts/report-readers) driving the
/// system Chromium: None where it is not installed (skipped).
fn playwright() -> Option<std::path::PathBuf> {
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
fn click(python: &std::path::Path, addr: &str, token: &str, action: &str, name: &str) -> String {
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
    let (run, status) = live.finish();
    assert_eq!(status.code(), Some(0));
    let (_, answers) = run.asks_and_answers();
    assert_eq!(answers[0].by, "person");
    assert_eq!(answers[0].via.as_deref(), Some("sc-view --serve"));
    assert!(
        dir.join("marker.txt").exists(),
        "the agent did what was allowed"
    );
    assert!(shown.contains("succeeded"), "{shown}");
    stop(child);
}

/// Stop, clicked in a real browser at the page of a run it is attached to,
/// ends that worker as Ctrl-C would; the stream says who.
#[test]
fn stop_clicked_in_the_browser_ends_the_worker() {
    let Some(python) = playwright() else { return };
    let runtime = temp_dir("serve-stop-runtime");
    std::fs::set_permissions(
        &runtime,
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    let mut live = Live::start_with(sc_spawn().env("XDG_RUNTIME_DIR", &runtime).args([
        "--id",
        "loop",
        "--",
        "sh",
        "-c",
        "echo up; while :; do sleep 0.1; done",
    ]));
    live.until(|e| output(e).is_some());
    let pid = live.child.id().to_string();
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

/// A worker's whole output on demand, read again from the stream's file,
/// made safe as the view makes it (no terminal escape), as plain text;
/// from stdin there is no file to read it from, and that is said.
#[test]
fn a_workers_whole_output_is_read_from_the_streams_file() {
    let dir = temp_dir("serve-output");
    let file = dir.join("run.ndjson");
    std::fs::write(&file, hostile_stream()).unwrap();
    let (child, addr, token) = serving(&[file.to_str().unwrap()], Some(b""));
    let cookie = format!("Cookie: sc_view={token}\r\n");
    let (status, head, body) = get(&addr, "/output?worker=evil", &cookie);
    assert_eq!(status, 200, "{body}");
    assert!(
        head.contains("Content-Type: text/plain; charset=utf-8"),
        "{head}"
    );
    assert!(head.contains("X-Content-Type-Options: nosniff"), "{head}");
    assert!(
        body.starts_with("fine\n<script>document.title='pwned'</script>"),
        "{body}"
    );
    assert!(!body.contains('\u{1b}'), "no terminal escape: {body:?}");
    assert_eq!(get(&addr, "/output?worker=nobody", &cookie).0, 404);
    assert_eq!(
        get(&addr, "/output?worker=evil", "").0,
        403,
        "the token still"
    );
    stop(child);
    let (child, addr, token) = serving(&[], Some(&hostile_stream()));
    let (status, _, body) = get(
        &addr,
        "/output?worker=evil",
        &format!("Cookie: sc_view={token}\r\n"),
    );
    assert_eq!(status, 409, "{body}");
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

/// A plan's dependencies are on the page: each task's row says what it
/// waits for.
#[test]
fn a_plans_dependencies_are_on_the_page() {
    let Some(chromium) = chromium() else { return };
    let stream = [
        serde_json::json!({"type":"task","worker":"build","seq":0,"ts":1.0,"id":"build","argv":["make"]}),
        serde_json::json!({"type":"task","worker":"tests","seq":0,"ts":1.0,"id":"tests",
            "argv":["make","test"],"depends_on":["build"]}),
    ]
    .map(|e| format!("{e}\n"))
    .concat();
    let (child, addr, token) = serving(&[], Some(stream.as_bytes()));
    let dir = temp_dir("serve-deps");
    let dom = page_dom(chromium, &addr, &token, &dir.join("profile"), 3000);
    let row = dom
        .split(r#"<tr data-worker="tests""#)
        .nth(1)
        .and_then(|r| r.split("</tr>").next())
        .unwrap_or_else(|| panic!("{dom}"));
    assert!(row.contains(r#"<td class="after">build</td>"#), "{row}");
    assert!(row.contains("queued"), "{row}");
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
    let runtime = temp_dir("serve-say-runtime");
    std::fs::set_permissions(
        &runtime,
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
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
        mock.requests
            .lock()
            .unwrap()
            .iter()
            .any(|r| r.contains("Remember the style guide"))
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

/// The run's timeline, drawn by sc-view as for `--timeline`, served to
/// the page (an image: no script in it), with the token like the rest.
#[test]
fn the_timeline_is_on_the_page() {
    let stream = run_bounded(
        sc_spawn().args(["--id", "build", "--", "sh", "-c", "echo one; exit 3"]),
        Vec::new(),
    )
    .stdout;
    let (child, addr, token) = serving(&[], Some(&stream));
    let (status, head, svg) = get(
        &addr,
        "/timeline.svg",
        &format!("Cookie: sc_view={token}\r\n"),
    );
    assert_eq!(status, 200);
    assert!(head.contains("Content-Type: image/svg+xml"), "{head}");
    assert!(svg.starts_with("<svg") || svg.starts_with("<?xml"), "{svg}");
    assert!(svg.contains("build"), "its lane: {svg}");
    assert!(!svg.contains("<script"), "no script");
    assert_eq!(get(&addr, "/timeline.svg", "").0, 403);
    stop(child);
}
