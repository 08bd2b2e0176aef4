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
pub(crate) fn serving(args: &[&str], stream: Option<&[u8]>) -> (Child, String, String) {
    serving_with(
        &mut Command::new(env!("CARGO_BIN_EXE_sc-view")),
        args,
        stream,
    )
}

/// [`serving`], `view` being the sc-view command (its environment set).
pub(crate) fn serving_with(
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

pub(crate) fn get(addr: &str, path: &str, extra: &str) -> (u16, String, String) {
    http(
        addr,
        &format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n{extra}Connection: close\r\n\r\n"),
    )
}

pub(crate) fn post(addr: &str, path: &str, extra: &str, body: &str) -> (u16, String, String) {
    http(
        addr,
        &format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
}

pub(crate) fn stop(mut child: Child) {
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    );
    let _ = wait_with_deadline(&mut child);
}

/// A stream of one worker whose last line is hostile markup and ANSI.
const HOSTILE: &str = "<script>document.title='pwned'</script><img src=x onerror=\"document.title='pwned'\"> \u{1b}]0;title\u{7}\u{1b}[31mred";

pub(crate) fn hostile_stream() -> Vec<u8> {
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
pub(crate) fn chromium() -> Option<&'static str> {
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
pub(crate) static BROWSER: std::sync::Mutex<()> = std::sync::Mutex::new(());

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

/// A stream of a thousand workers, one line each, every tenth failed
/// (`sc-bench workers`, which `scripts/bench view` loads too).
pub(crate) fn thousand_workers() -> String {
    let made = Command::new(env!("CARGO_BIN_EXE_sc-bench"))
        .args(["workers", "1000"])
        .output()
        .expect("run sc-bench workers");
    assert!(made.status.success());
    String::from_utf8(made.stdout).unwrap()
}

/// A thousand workers arriving at once: every row there, the summary
/// counted, and the page saying how long its longest task was (its own
/// PerformanceObserver's long tasks, over 50 ms). That length is a figure
/// of `scripts/bench view`, not a test: with the other tests loading both
/// cores it moved from none to 119 ms.
#[test]
fn a_thousand_workers_all_render() {
    let Some(chromium) = chromium() else { return };
    let stream = thousand_workers();
    let (child, addr, token) = serving(&[], Some(stream.as_bytes()));
    let dir = temp_dir("serve-thousand");
    let dom = page_dom(chromium, &addr, &token, &dir.join("profile"), 10_000);
    assert_eq!(dom.matches("<tr data-worker=").count(), 1000);
    assert!(
        dom.contains("1000 workers · 0 running · 100 failed"),
        "{}",
        &dom[..dom.len().min(2000)]
    );
    let longest = dom
        .split(r#"data-longest-task-ms=""#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .and_then(|ms| ms.parse::<u32>().ok());
    assert!(longest.is_some(), "the page says its longest task");
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
pub(crate) fn events(addr: &str, token: &str, last: Option<u64>) -> Vec<(u64, String, String)> {
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
            if kind == "rows" {
                // An event holds the rows that changed: each one here.
                let rows: Vec<serde_json::Value> = serde_json::from_str(v).unwrap();
                found.extend(rows.iter().map(|r| (id, "row".to_owned(), r.to_string())));
            } else {
                found.push((id, kind.clone(), v.to_owned()));
            }
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
    let cookie = format!("Cookie: sc_view={token}\r\n");
    // The page is served before the stream is read: the picture comes
    // once sc-view has read it.
    eventually("the worker's lane is drawn", || {
        get(&addr, "/timeline.svg", &cookie).2.contains("build")
    });
    let (status, head, svg) = get(&addr, "/timeline.svg", &cookie);
    assert_eq!(status, 200);
    assert!(head.contains("Content-Type: image/svg+xml"), "{head}");
    assert!(svg.starts_with("<svg") || svg.starts_with("<?xml"), "{svg}");
    assert!(svg.contains("build"), "its lane: {svg}");
    assert!(!svg.contains("<script"), "no script");
    assert_eq!(get(&addr, "/timeline.svg", "").0, 403);
    stop(child);
}
