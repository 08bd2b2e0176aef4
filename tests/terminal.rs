//! sc-view's terminal view under a real pseudo-terminal, read through a
//! terminal emulator (vt100) as a person would see it: rows, lines, the
//! end, agents, more workers than rows, a reader that goes away.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sc_events::Stream;

use crate::util::*;
use crate::view::{now, progress_event, sc_view, skip_event, task_event, view};

/// What the output asked the terminal to do beyond drawing text.
#[derive(Default)]
struct Requests {
    bells: usize,
    titles: usize,
    clipboard: usize,
}

impl vt100::Callbacks for Requests {
    fn audible_bell(&mut self, _: &mut vt100::Screen) {
        self.bells += 1;
    }
    fn set_window_title(&mut self, _: &mut vt100::Screen, _: &[u8]) {
        self.titles += 1;
    }
    fn copy_to_clipboard(&mut self, _: &mut vt100::Screen, _: &[u8], _: &[u8]) {
        self.clipboard += 1;
    }
}

/// The terminal view under a real pseudo-terminal, read through a terminal
/// emulator, as a person would see it.
struct Screen {
    parser: Arc<Mutex<vt100::Parser<Requests>>>,
    child: std::process::Child,
    stdin: Option<std::process::ChildStdin>,
    /// The terminal's keyboard: what is written here, the view reads as keys.
    keyboard: std::fs::File,
}

impl Screen {
    fn start(args: &[&str]) -> Screen {
        let (master, slave) = pty(30, 100);
        let mut child = Command::new(env!("CARGO_BIN_EXE_sc-view"))
            .args(args)
            .env_remove("NO_COLOR")
            .env("TERM", "xterm-256color")
            .stdin(Stdio::piped())
            .stdout(slave.try_clone().unwrap())
            .stderr(slave)
            .spawn()
            .unwrap();
        let (rows, cols) = (
            std::num::NonZeroU16::new(30).unwrap(),
            std::num::NonZeroU16::new(100).unwrap(),
        );
        let parser = Arc::new(Mutex::new(vt100::Parser::new_with_callbacks(
            rows,
            cols,
            0,
            Requests::default(),
        )));
        let sink = parser.clone();
        let mut master = master;
        let keyboard = master.try_clone().unwrap();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = master.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().process(&buf[..n]);
            }
        });
        let stdin = child.stdin.take();
        Screen {
            parser,
            child,
            stdin,
            keyboard,
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        self.stdin.as_mut().unwrap().write_all(bytes).unwrap();
    }

    /// The screen, row by row (full-width rows would run together in
    /// `contents()`).
    fn contents(&self) -> String {
        let parser = self.parser.lock().unwrap();
        let rows: Vec<String> = parser
            .screen()
            .rows(0, 100)
            .map(|r| r.trim_end().to_owned())
            .collect();
        rows.join("\n")
    }

    /// Wait (bounded) until the screen shows what `want` looks for.
    fn until(&self, what: &str, want: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let contents = self.contents();
            if want(&contents) {
                return contents;
            }
            assert!(
                Instant::now() < deadline,
                "screen never showed {what}:\n{contents}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

#[test]
fn terminal_view_shows_rows_lines_and_the_end() {
    let mut screen = Screen::start(&["--lines", "2"]);
    let t = now();
    screen.send(
        &[
            start_event("build", 0, t, &["make"]),
            output_event("build", 1, t, Stream::Stdout, b"one\ntwo\nthree\n"),
            progress_event("build", 2, t, "[3/10] compiling\r", 30.0),
            start_event("lint", 0, t, &["lint"]),
            output_event(
                "lint",
                1,
                t,
                Stream::Stdout,
                b"\x1b[2J\x1b]0;pwned\x07checking\n",
            ),
            task_event("docs", t),
        ]
        .concat(),
    );
    // Mid-run: a row per worker with its latest line and a bar, its last
    // lines under it, and the summary.
    let mid = screen.until("two running rows", |s| {
        s.contains("running 2") && s.contains("checking")
    });
    assert!(
        mid.contains("queued 1 (docs)"),
        "pending tasks are shown:\n{mid}"
    );
    let screen_rows: Vec<&str> = mid.lines().collect();
    let build_row = screen_rows
        .iter()
        .position(|l| l.contains("build") && l.contains("[3/10] compiling"))
        .expect(&mid);
    assert!(screen_rows[build_row].contains("30%"), "{mid}");
    assert!(screen_rows[build_row + 1].contains("two"), "{mid}");
    assert!(screen_rows[build_row + 2].contains("three"), "{mid}");
    assert!(
        mid.contains("\\x1b[2J\\x1b]0;pwned\\x07checking"),
        "hostile bytes shown escaped:\n{mid}"
    );
    {
        let parser = screen.parser.lock().unwrap();
        let requests = parser.callbacks();
        assert_eq!(
            (requests.bells, requests.titles, requests.clipboard),
            (0, 0, 0),
            "no bell, title or clipboard"
        );
    }

    screen.send(
        &[
            exit_event("build", 3, t + 1.0, Some(0), None, 1000, 31),
            exit_event("lint", 2, t + 1.0, None, Some("SIGKILL"), 1000, 29),
            skip_event("docs", t + 1.0, "build failed"),
        ]
        .concat(),
    );
    drop(screen.stdin.take());
    let end = screen.until("the table", |s| s.contains("3 workers"));
    assert!(end.contains("⊘ skipped: build failed"), "{end}");
    assert!(
        end.contains("build") && end.contains("✔ exit 0 after 1.0s"),
        "{end}"
    );
    assert!(end.contains("✖ killed by SIGKILL"), "{end}");
    assert!(end.contains("WORKER"), "{end}");
    assert!(!end.contains("running 2"), "the live rows are gone:\n{end}");
    let status = wait_with_deadline(&mut screen.child);
    assert_eq!(status.code(), Some(1));
}

#[test]
fn agent_workers_are_shown_as_what_they_do() {
    // A Claude Code transcript through sc-spawn (as its CLI), then sc-view.
    let fake = temp_file(
        "fake-claude",
        format!(
            "#!/bin/sh\ngrep -v caic_ {}/tests/fixtures/agents/claude-code/caic-partial-messages-tool-error-2.1.185.jsonl | grep -v '^$'\n",
            env!("CARGO_MANIFEST_DIR")
        )
        .as_bytes(),
    );
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let stream = sc_spawn()
        .args([
            "--kind",
            "claude-code",
            "--id",
            "agent",
            "--prompt",
            "Read the file",
        ])
        .env("SC_CLAUDE", &fake)
        .output()
        .unwrap()
        .stdout;
    let viewed = view(&[], &stream);
    let lines: Vec<&str> = viewed.stdout.lines().skip(1).take(5).collect();
    assert_eq!(
        lines,
        [
            "[agent] session started (claude-haiku-4-5-20251001)",
            "[agent] ⚙ Read: /workspace/nonexistent_file.txt",
            "[agent] ✖ the tool call failed",
            "[agent] The file `nonexistent_file.txt` does not exist in `/workspace`.",
            "[agent] result: ok · $0.02 · 18/406 tok · 2 turns",
        ],
        "{}",
        viewed.stdout
    );
    assert!(viewed.stdout.contains("agent   ✔ ok"), "{}", viewed.stdout);
    assert!(viewed.stdout.contains("$0.02 · 18/406 tok"));
    assert!(
        !viewed.stdout.contains("stream_event"),
        "the JSON transport is not shown"
    );
}

#[test]
fn the_reader_going_away_ends_sc_view_quietly() {
    let stream: Vec<u8> = std::iter::once(start_event("w", 0, 1.0, &["yes"]))
        .chain((1..=20_000).map(|i| output_event("w", i, 1.0, Stream::Stdout, b"y\n")))
        .collect::<Vec<_>>()
        .concat();
    let mut child = sc_view()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&stream);
    });
    let mut stdout = child.stdout.take().unwrap();
    assert_eq!(first_line(&mut stdout), b"[w] started: yes\n");
    drop(stdout); // like `| head -1`
    let status = wait_with_deadline(&mut child);
    writer.join().unwrap();
    assert_eq!(status.code(), Some(0));
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert_eq!(stderr, "", "quietly");
}

#[test]
fn more_workers_than_the_terminal_has_rows_for() {
    // 30 rows, 3 lines a worker with --lines 2: room for 9 such rows;
    // 20 run, so their last lines give way and each gets one line.
    let mut screen = Screen::start(&["--lines", "2"]);
    let t = now();
    let starts: Vec<u8> = (0..20)
        .flat_map(|i| {
            let id = format!("w{i:02}");
            [
                start_event(&id, 0, t, &["job"]),
                output_event(
                    &id,
                    1,
                    t,
                    Stream::Stdout,
                    format!("{id} working\n").as_bytes(),
                ),
            ]
            .concat()
        })
        .collect();
    screen.send(&starts);
    let mid = screen.until("the summary", |s| s.contains("running 20"));
    for i in 0..20 {
        assert!(
            mid.contains(&format!("w{i:02} ")),
            "a row for w{i:02}:\n{mid}"
        );
    }
    assert!(!mid.contains("without a row"), "{mid}");
    assert!(mid.lines().count() <= 30);
    // As workers end, waiting ones get their rows.
    let ends: Vec<u8> = (0..20)
        .flat_map(|i| exit_event(&format!("w{i:02}"), 2, t + 1.0, Some(0), None, 1000, 11))
        .collect();
    screen.send(&ends);
    drop(screen.stdin.take());
    let end = screen.until("the end", |s| s.contains("20 workers, 20 ok"));
    assert!(!end.contains("without a row"), "{end}");
    assert_eq!(wait_with_deadline(&mut screen.child).code(), Some(0));
}

/// `--ask` on the terminal view: a worker waiting on an ask says so on its
/// row, the summary says which keys answer, and pressing `a` sends the
/// answer to the control socket the ask names.
#[test]
fn a_key_answers_the_ask_on_screen() {
    use std::os::unix::net::UnixListener;
    let dir = temp_dir("view-keys");
    let control = dir.join("control.sock");
    let listener = UnixListener::bind(&control).unwrap();
    let mut screen = Screen::start(&[]);
    let t = now();
    let ask = serde_json::json!({
        "type": "ask", "worker": "fix", "seq": 1, "ts": t, "ask": "fix/1", "tool": "Bash",
        "input": {"command": "rm -rf build/"}, "choices": ["allow", "deny"],
        "control": control,
    });
    screen.send(
        &[
            start_event("fix", 0, t, &["claude"]),
            format!("{ask}\n").into_bytes(),
        ]
        .concat(),
    );
    let shown = screen.until("the ask", |s| s.contains("a: allow, d: deny fix/1"));
    assert!(shown.contains("needs input: Bash rm -rf build/"), "{shown}");
    screen.keyboard.write_all(b"a").unwrap();
    let (stream, _) = listener.accept().unwrap();
    let mut request = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(&stream), &mut request).unwrap();
    let request: serde_json::Value = serde_json::from_str(&request).unwrap();
    assert_eq!(request["op"], "answer");
    assert_eq!(request["ask"], "fix/1");
    assert_eq!(request["decision"], "allow");
    (&stream).write_all(b"{\"ok\":true}\n").unwrap();
    drop(screen.stdin.take());
    let _ = wait_with_deadline(&mut screen.child);
}

/// A failed worker's last lines are on screen at the end, stderr first, as
/// cargo test and nextest print them; a passing worker's are not.
#[test]
fn a_failed_workers_output_is_shown_at_the_end() {
    let mut screen = Screen::start(&["--lines", "1"]);
    let t = now();
    screen.send(
        &[
            start_event("build", 0, t, &["cargo", "build"]),
            output_event("build", 1, t, Stream::Stdout, b"Compiling sc v0.1\n"),
            output_event(
                "build",
                2,
                t,
                Stream::Stderr,
                b"error[E0308]: mismatched types\n --> src/main.rs:4:5\n",
            ),
            output_event(
                "build",
                3,
                t,
                Stream::Stderr,
                b"aborting due to 1 previous error\n",
            ),
            exit_event("build", 4, t + 1.0, Some(101), None, 1000, 80),
            start_event("lint", 0, t, &["lint"]),
            output_event("lint", 1, t, Stream::Stdout, b"all clean here\n"),
            exit_event("lint", 2, t + 1.0, Some(0), None, 1000, 15),
        ]
        .concat(),
    );
    drop(screen.stdin.take());
    let end = screen.until("the table", |s| s.contains("2 workers"));
    let error = end.find("error[E0308]: mismatched types").expect(&end);
    let compiling = end.find("Compiling sc v0.1").expect(&end);
    assert!(error < compiling, "stderr first:\n{end}");
    assert!(end.contains("aborting due to 1 previous error"), "{end}");
    assert!(end.contains("sc-view --plain --worker build"), "{end}");
    assert!(
        !end.contains("all clean here"),
        "a passing worker stays quiet:\n{end}"
    );
    let status = wait_with_deadline(&mut screen.child);
    assert_eq!(status.code(), Some(1));
}

/// A `--pty` job's colours: SGR shows as colour in the terminal view, is
/// stripped from plain lines, and kept in logs GitHub and GitLab render;
/// other control sequences stay escaped everywhere.
#[test]
fn sgr_colours_show_as_colours() {
    let t = now();
    let stream = [
        start_event("ls", 0, t, &["ls", "--color"]),
        output_event(
            "ls",
            1,
            t,
            Stream::Stdout,
            b"\x1b[01;34mblue-dir\x1b[0m plain \x1b[2Jcleared\n",
        ),
        exit_event("ls", 2, t + 1.0, Some(0), None, 1000, 40),
    ]
    .concat();
    let mut screen = Screen::start(&["--lines", "2"]);
    screen.send(&stream);
    drop(screen.stdin.take());
    let end = screen.until("the table", |s| s.contains("1 worker"));
    let _ = wait_with_deadline(&mut screen.child);
    // The end shows no lines of a passing worker: read it mid-run instead.
    assert!(!end.contains("[01;34m"), "{end}");

    let mut screen = Screen::start(&["--lines", "2"]);
    screen.send(
        &[
            start_event("ls", 0, t, &["ls"]),
            output_event(
                "ls",
                1,
                t,
                Stream::Stdout,
                b"\x1b[01;34mblue-dir\x1b[0m plain \x1b[2Jcleared\n",
            ),
        ]
        .concat(),
    );
    let mid = screen.until("the line", |s| s.contains("blue-dir"));
    assert!(!mid.contains("[01;34m"), "SGR is colour, not text:\n{mid}");
    assert!(
        mid.contains("\\x1b[2Jcleared"),
        "other sequences stay escaped:\n{mid}"
    );
    {
        let parser = screen.parser.lock().unwrap();
        let screen_now = parser.screen();
        let (row, col) = (0..30u16)
            .find_map(|r| {
                let line: String = (0..100u16)
                    .map(|c| {
                        screen_now
                            .cell(r, c)
                            .map_or(" ".to_owned(), |cell| cell.contents().to_string())
                    })
                    .collect();
                line.find("blue-dir").map(|c| (r, c as u16))
            })
            .expect(&mid);
        let cell = screen_now.cell(row, col).unwrap();
        assert_eq!(cell.fgcolor(), vt100::Color::Idx(4), "{mid}");
        assert!(cell.bold());
    }
    drop(screen.stdin.take());
    let _ = wait_with_deadline(&mut screen.child);

    let file = temp_file("sgr.ndjson", &stream);
    let plain = |ci: Option<&str>| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_sc-view"));
        command
            .arg("--plain")
            .arg(&file)
            .env_remove("GITHUB_ACTIONS")
            .env_remove("GITLAB_CI");
        if let Some(var) = ci {
            command.env(var, "true");
        }
        String::from_utf8(command.output().unwrap().stdout).unwrap()
    };
    let log = plain(None);
    assert!(
        log.contains("blue-dir plain \\x1b[2Jcleared"),
        "stripped: {log}"
    );
    for ci in ["GITHUB_ACTIONS", "GITLAB_CI"] {
        let log = plain(Some(ci));
        assert!(
            log.contains("\x1b[01;34mblue-dir\x1b[0m"),
            "{ci} renders it: {log}"
        );
        assert!(log.contains("\\x1b[2Jcleared"), "{log}");
    }
}

/// sc-view started by hand, with its stdin the terminal: it says what it
/// waits for, and Ctrl-D ends it.
#[test]
fn sc_view_on_a_terminal_says_what_it_waits_for() {
    let (mut master, slave) = pty(24, 100);
    let mut child = Command::new(env!("CARGO_BIN_EXE_sc-view"))
        .stdin(slave.try_clone().unwrap())
        .stdout(slave.try_clone().unwrap())
        .stderr(slave)
        .spawn()
        .unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    while !String::from_utf8_lossy(&seen).contains("Ctrl-D ends") {
        let n = master.read(&mut buf).unwrap();
        assert!(n > 0, "{}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&buf[..n]);
    }
    assert!(String::from_utf8_lossy(&seen).contains("sc-spawn -- make | sc-view"));
    master.write_all(b"\x04").unwrap();
    let status = wait_with_deadline(&mut child);
    assert_eq!(status.code(), Some(1), "no worker in an empty stream");
}

/// The summary row gives the plan's ETA once a task has finished.
#[test]
fn the_summary_gives_an_eta() {
    let mut screen = Screen::start(&["--lines", "1"]);
    let t = now();
    screen.send(
        &[
            task_event("a", t - 3.0),
            task_event("b", t - 3.0),
            task_event("c", t - 3.0),
            start_event("a", 1, t - 3.0, &["make"]),
            exit_event("a", 2, t - 1.0, Some(0), None, 2000, 0),
            start_event("b", 1, t - 1.0, &["make"]),
        ]
        .concat(),
    );
    let mid = screen.until("the ETA", |s| s.contains("ETA"));
    assert!(mid.contains("queued 1 (c)"), "{mid}");
    drop(screen.stdin.take());
    let _ = wait_with_deadline(&mut screen.child);
}
