//! sc-view end to end: plain output exactly, the terminal view under a real
//! PTY, hostile output, --raw, --check, --follow, --replay, filters.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sc_events::Stream;

use crate::util::*;

fn sc_view() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sc-view"));
    command.env_remove("GITHUB_ACTIONS").env("NO_COLOR", "1");
    command
}

struct Viewed {
    stdout: String,
    stderr: String,
    code: Option<i32>,
}

fn view(args: &[&str], input: &[u8]) -> Viewed {
    view_with(sc_view().args(args), input)
}

fn view_with(command: &mut Command, input: &[u8]) -> Viewed {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    Viewed {
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
        code: out.status.code(),
    }
}

/// Two workers: progress redraws, stderr, a prompt, bytes that are not
/// UTF-8, a success and a failure.
fn fixed_stream() -> Vec<u8> {
    [
        start_event("build", 0, 100.0, &["make", "-j8"]),
        output_event("build", 1, 100.1, Stream::Stdout, b"compiling a\n"),
        output_event("build", 2, 100.2, Stream::Stdout, b"10%\r"),
        output_event("build", 3, 100.3, Stream::Stdout, b"90%\r"),
        output_event("build", 4, 100.4, Stream::Stdout, b"100%\r\n"),
        output_event("build", 5, 100.5, Stream::Stderr, b"warning: x\n"),
        start_event("tests", 0, 100.6, &["cargo", "test", "--all"]),
        output_event("tests", 1, 100.7, Stream::Stdout, b"Continue? "),
        output_event("tests", 2, 100.8, Stream::Stdout, b"y\n"),
        output_event("tests", 3, 100.9, Stream::Stdout, b"\xff bad\n"),
        exit_event("build", 6, 101.0, Some(0), None, 1000, 37),
        exit_event("tests", 4, 102.0, Some(2), None, 1400, 18),
    ]
    .concat()
}

#[test]
fn plain_mode_exact_output() {
    let viewed = view(&[], &fixed_stream());
    let expected = "\
[build] started: make -j8
[build] compiling a
[build] 100%
[build:err] warning: x
[tests] started: cargo test --all
[tests] Continue? y
[tests] \u{fffd} bad
[build] ✔ exit 0 after 1.0s, 3 lines
[tests] ✖ exit 2 after 1.4s, 2 lines

WORKER  STATUS    EXIT  DURATION  LINES  BYTES  COST/TOKENS
build   ✔ ok         0      1.0s      3   37 B
tests   ✖ failed     2      1.4s      2   18 B
2 workers, 1 ok, 1 failed · 5 lines · 55 B
";
    assert_eq!(viewed.stdout, expected);
    assert_eq!(viewed.code, Some(1), "a worker failed");
    assert_eq!(viewed.stderr, "");
}

#[test]
fn github_actions_groups_each_finished_worker() {
    let viewed = view_with(sc_view().env("GITHUB_ACTIONS", "true"), &fixed_stream());
    let expected_build = "\
::group::[build] ✔ exit 0 after 1.0s, 3 lines
[build] compiling a
[build] 100%
[build:err] warning: x
::endgroup::
[build] ✔ exit 0 after 1.0s, 3 lines
";
    assert!(viewed.stdout.contains(expected_build), "{}", viewed.stdout);
    assert!(viewed.stdout.contains("::group::[tests] ✖ exit 2"));
    // Worker output never starts a line, so it can never be a workflow command.
    let stream = [
        start_event("evil", 0, 1.0, &["x"]),
        output_event(
            "evil",
            1,
            1.0,
            Stream::Stdout,
            b"::add-mask::x\n::error::fake\n",
        ),
        exit_event("evil", 2, 1.0, Some(0), None, 1, 29),
    ]
    .concat();
    let viewed = view_with(sc_view().env("GITHUB_ACTIONS", "true"), &stream);
    for line in viewed.stdout.lines() {
        assert!(
            !line.starts_with("::")
                || line.starts_with("::group::[evil]")
                || line == "::endgroup::",
            "{line}"
        );
    }
}

#[test]
fn all_succeeded_is_0_and_trouble_is_2() {
    let ok = [
        start_event("a", 0, 1.0, &["true"]),
        exit_event("a", 1, 1.0, Some(0), None, 1, 0),
    ]
    .concat();
    assert_eq!(view(&[], &ok).code, Some(0));
    assert_eq!(view(&[], b"").code, Some(1), "no worker at all");
    let viewed = view(&["/no/such/stream.ndjson"], b"");
    assert_eq!(viewed.code, Some(2));
    assert!(viewed.stderr.contains("/no/such/stream.ndjson"));
}

#[test]
fn hostile_output_is_shown_not_obeyed() {
    let hostile: &[u8] = b"\x1b[2J\x1b[Hcleared? \x1b]0;pwned\x07 \x1b]52;c;ZXZpbA==\x07 \x07bell \x9b1m \xe2\x80\xae rtl\n";
    let stream = [
        start_event("evil", 0, 1.0, &["evil"]),
        output_event("evil", 1, 1.0, Stream::Stdout, hostile),
        exit_event("evil", 2, 1.0, Some(0), None, 1, hostile.len() as u64),
    ]
    .concat();
    for args in [&[][..], &["--color-output"][..], &["--color", "always"][..]] {
        let viewed = view(args, &stream);
        assert!(!viewed.stdout.contains('\x07'), "bell passed with {args:?}");
        assert!(!viewed.stdout.contains("\x1b]"), "OSC passed with {args:?}");
        assert!(
            !viewed.stdout.contains("\x1b[2J"),
            "clear passed with {args:?}"
        );
        assert!(
            viewed.stdout.contains("\\x1b[2J\\x1b[Hcleared?"),
            "{}",
            viewed.stdout
        );
        assert!(viewed.stdout.contains("\\u{202e} rtl"));
    }
}

#[test]
fn secrets_are_masked_unless_asked() {
    let secret = b"using sk-ant-api03-abcdefghijklmnop and ghp_abcdefghijklmnopqrstuvwxyz012345\n";
    let stream = [
        start_event("agent", 0, 1.0, &["claude"]),
        output_event("agent", 1, 1.0, Stream::Stdout, secret),
        exit_event("agent", 2, 1.0, Some(0), None, 1, secret.len() as u64),
    ]
    .concat();
    let viewed = view(&[], &stream);
    assert!(
        viewed
            .stdout
            .contains("[agent] using sk-ant-**** and ghp_****"),
        "{}",
        viewed.stdout
    );
    assert!(!viewed.stdout.contains("abcdefghijklmnop"));
    let viewed = view(&["--no-redact"], &stream);
    assert!(viewed.stdout.contains("sk-ant-api03-abcdefghijklmnop"));
    // The stream itself is untouched: --raw gives the bytes back.
    let mut child = sc_view()
        .arg("--raw")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&stream).unwrap();
    assert_eq!(child.wait_with_output().unwrap().stdout, secret);
}

#[test]
fn raw_gives_back_exactly_what_the_command_wrote() {
    let script =
        r"printf 'a\377\000b\r\n'; printf 'err\376' >&2; head -c 300000 /dev/urandom; printf 'end'";
    let dir = temp_dir("raw");
    let (out, err) = (dir.join("out"), dir.join("err"));
    let pipeline = format!(
        "{} -- sh -c \"$SCRIPT\" | {} --raw > {} 2> {}",
        env!("CARGO_BIN_EXE_sc-spawn"),
        env!("CARGO_BIN_EXE_sc-view"),
        out.display(),
        err.display()
    );
    // The same command once more, straight, with the same random bytes.
    let script = script.replace(
        "head -c 300000 /dev/urandom",
        &format!("cat {}", dir.join("random").display()),
    );
    std::fs::write(
        dir.join("random"),
        (0..300_000u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 24) as u8)
            .collect::<Vec<u8>>(),
    )
    .unwrap();
    let status = Command::new("sh")
        .args(["-c", &pipeline])
        .env("SCRIPT", &script)
        .status()
        .unwrap();
    assert!(status.success());
    let direct = Command::new("sh").args(["-c", &script]).output().unwrap();
    assert_eq!(std::fs::read(&out).unwrap(), direct.stdout);
    assert_eq!(std::fs::read(&err).unwrap(), direct.stderr);
}

#[test]
fn check_proves_a_stream_whole_or_not() {
    let stream = fixed_stream();
    let viewed = view(&["--check"], &stream);
    assert_eq!(viewed.code, Some(0), "{}", viewed.stdout);
    assert!(viewed.stdout.contains("✔ stream verified: 2 workers"));

    // Drop one event: the gap and the byte count both say so.
    let lines: Vec<&[u8]> = stream.split_inclusive(|b| *b == b'\n').collect();
    let lossy: Vec<u8> = lines
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 2)
        .flat_map(|(_, l)| l.to_vec())
        .collect();
    let viewed = view(&["--check"], &lossy);
    assert_eq!(viewed.code, Some(1));
    assert!(
        viewed.stdout.contains("✖ build: seq gap: 2 to 2 missing"),
        "{}",
        viewed.stdout
    );
    assert!(
        viewed
            .stdout
            .contains("output holds 33 bytes but exit says 37"),
        "{}",
        viewed.stdout
    );

    let mut junk = stream.clone();
    junk.extend_from_slice(b"not json\n");
    let viewed = view(&["--check"], &junk);
    assert_eq!(viewed.code, Some(1));
    assert!(
        viewed.stdout.contains("✖ line 13: not an sc event"),
        "{}",
        viewed.stdout
    );

    // The real thing: sc-spawn's stream of a real command checks out.
    let out = sc_spawn()
        .args(["--", "sh", "-c", "seq 1 5000; printf 'x\\377' >&2"])
        .output()
        .unwrap();
    let viewed = view(&["--check"], &out.stdout);
    assert_eq!(viewed.code, Some(0), "{}", viewed.stdout);
}

#[test]
fn malformed_lines_are_told_once_and_counted() {
    let mut stream = b"garbage one\n".to_vec();
    stream.extend(fixed_stream());
    stream.extend_from_slice(b"{\"truncated\":\ngarbage two\n");
    let viewed = view(&[], &stream);
    assert_eq!(
        viewed.stderr.matches("sc-view: line").count(),
        1,
        "{}",
        viewed.stderr
    );
    assert!(viewed.stderr.contains("line 1"));
    assert!(
        viewed
            .stdout
            .contains("3 lines of the stream were not sc events (first: line 1:"),
        "{}",
        viewed.stdout
    );
    assert!(
        viewed.stdout.contains("[tests] ✖ exit 2"),
        "the rest goes on"
    );
}

#[test]
fn a_seq_gap_is_shown_as_loss() {
    let stream = [
        start_event("w", 0, 1.0, &["x"]),
        output_event("w", 3, 1.0, Stream::Stdout, b"after the gap\n"),
        exit_event("w", 4, 1.0, Some(0), None, 1, 14),
    ]
    .concat();
    let viewed = view(&[], &stream);
    assert!(
        viewed
            .stdout
            .contains("[w] lost: events 1 to 2 are missing from the stream"),
        "{}",
        viewed.stdout
    );
    assert!(viewed.stdout.contains("lost: 2 events are missing"));
}

#[test]
fn filters_select_workers_by_id_and_kind() {
    let viewed = view(&["--worker", "b*"], &fixed_stream());
    assert!(viewed.stdout.contains("[build] compiling a"));
    assert!(!viewed.stdout.contains("[tests]"));
    assert_eq!(viewed.code, Some(0), "only the selected workers count");
    let viewed = view(&["--kind", "claude-code"], &fixed_stream());
    assert!(!viewed.stdout.contains("[build]"));
}

#[test]
fn follow_reads_a_growing_file_until_every_worker_exited() {
    let path = temp_dir("follow").join("run.ndjson");
    std::fs::write(&path, start_event("w", 0, now(), &["x"])).unwrap();
    let mut child = sc_view()
        .args(["--follow", path.to_str().unwrap()])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    assert_eq!(first_line(&mut stdout), b"[w] started: x\n");
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    file.write_all(&output_event("w", 1, now(), Stream::Stdout, b"live line\n"))
        .unwrap();
    assert_eq!(
        first_line(&mut stdout),
        b"[w] live line\n",
        "shown as the file grows"
    );
    assert!(child.try_wait().unwrap().is_none(), "still following");
    file.write_all(&exit_event("w", 2, now(), Some(0), None, 1, 10))
        .unwrap();
    let status = wait_with_deadline(&mut child);
    assert_eq!(status.code(), Some(0));
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    assert!(rest.contains("[w] ✔ exit 0"), "{rest}");
}

/// Reproduced: `--follow a b` read only `a` and exited 0, a silent
/// omission. Every file named is followed, at once.
#[test]
fn follow_reads_every_file_named() {
    let dir = temp_dir("follow-many");
    let (a, b) = (dir.join("a.ndjson"), dir.join("b.ndjson"));
    std::fs::write(
        &a,
        [
            start_event("a", 0, now(), &["x"]),
            exit_event("a", 1, now(), Some(0), None, 1, 0),
        ]
        .concat(),
    )
    .unwrap();
    // b's worker is still running, and its last line not finished yet.
    let mut b_start = start_event("b", 0, now(), &["y"]);
    let half = output_event("b", 1, now(), Stream::Stdout, b"from b\n");
    b_start.extend_from_slice(&half[..10]);
    std::fs::write(&b, &b_start).unwrap();
    let mut child = sc_view()
        .args(["--follow", a.to_str().unwrap(), b.to_str().unwrap()])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut seen = Vec::new();
    while !seen.iter().any(|l: &Vec<u8>| l.starts_with(b"[b] started")) {
        seen.push(first_line(&mut stdout));
    }
    assert!(child.try_wait().unwrap().is_none(), "b is still followed");
    let mut file = std::fs::OpenOptions::new().append(true).open(&b).unwrap();
    file.write_all(&half[10..]).unwrap();
    file.write_all(&exit_event("b", 2, now(), Some(0), None, 1, 7))
        .unwrap();
    let status = wait_with_deadline(&mut child);
    assert_eq!(status.code(), Some(0));
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    assert!(rest.contains("[b] from b"), "{rest}");
    assert!(rest.contains("2 workers, 2 ok"), "{rest}");
}

/// An output event annotated with progress, as sc-spawn writes them.
fn progress_event(id: &str, seq: u64, ts: f64, text: &str, percent: f64) -> Vec<u8> {
    sc_events::to_line(&sc_events::Event::new(
        id,
        seq,
        ts,
        sc_events::Output {
            stream: Stream::Stdout,
            payload: sc_events::Payload::Text(text.into()),
            progress: Some(sc_events::Progress {
                percent: Some(percent),
                message: text.trim().into(),
            }),
            agent: None,
        },
    ))
}

fn task_event(id: &str, ts: f64) -> Vec<u8> {
    let task = sc_events::Task {
        id: id.into(),
        role: Some("documentation-specialist".into()),
        kind: Some("shell".into()),
        ..Default::default()
    };
    sc_events::to_line(&sc_events::Event::new(id, 0, ts, task))
}

fn skip_event(id: &str, ts: f64, reason: &str) -> Vec<u8> {
    let skip = sc_events::Skip {
        reason: reason.into(),
        done: false,
    };
    sc_events::to_line(&sc_events::Event::new(id, 1, ts, skip))
}

fn now() -> f64 {
    sc_events::now_ts()
}

#[test]
fn replay_keeps_the_recorded_pace() {
    // Events 30 s apart: at speed 1 the second one is not shown yet.
    let stream = [
        start_event("w", 0, 1000.0, &["x"]),
        output_event("w", 1, 1030.0, Stream::Stdout, b"later\n"),
        exit_event("w", 2, 1030.0, Some(0), None, 30000, 6),
    ]
    .concat();
    let path = temp_file("replay.ndjson", &stream);
    let mut child = sc_view()
        .args(["--replay", path.to_str().unwrap()])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    assert_eq!(first_line(&mut stdout), b"[w] started: x\n");
    assert!(
        child.try_wait().unwrap().is_none(),
        "waiting for the recorded moment"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    // At 1000× the 30 s pass at once.
    let viewed = view(
        &["--replay", "--speed", "1000", path.to_str().unwrap()],
        b"",
    );
    assert!(viewed.stdout.contains("[w] later"), "{}", viewed.stdout);
    assert_eq!(viewed.code, Some(0));
}

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
}

impl Screen {
    fn start(args: &[&str]) -> Screen {
        let size = nix::pty::Winsize {
            ws_row: 30,
            ws_col: 100,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        let pty = nix::pty::openpty(&size, None).unwrap();
        let slave = std::fs::File::from(pty.slave);
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
        let mut master = std::fs::File::from(pty.master);
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
    // 30 rows, 3 lines a worker with --lines 2: room for 9 rows; 20 run.
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
    assert!(mid.contains("running without a row"), "{mid}");
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

/// `--junit FILE`: a JUnit report of a real run, live through a pipe and
/// from the saved stream, that the schema CI tools read accepts: one case
/// per worker, failures, a timeout and a skip said as such, output
/// redacted and XML-escaped (markup, escapes, a NUL).
#[test]
fn junit_report_of_a_run_is_valid_and_says_each_outcome() {
    if Command::new("xmllint").arg("--version").output().is_err() {
        engine_missing("the JUnit schema test", "xmllint", "libxml2-utils");
        return;
    }
    let dir = temp_dir("junit");
    let line = |value: serde_json::Value| format!("{value}\n");
    let plan = [
        line(serde_json::json!({"type":"task","worker":"build","seq":0,"ts":1.0,"id":"build","role":"implementer",
            "argv":["printf","<ok> & \"done\" \u{1b}[31mred\u{1b}[0m \\000 key sk-ant-api03-abcdefghijklmnop\\n"]})),
        line(serde_json::json!({"type":"task","worker":"tests","seq":0,"ts":1.0,"id":"tests",
            "argv":["sh","-c","echo 'assertion failed: ]]>' >&2; exit 3"]})),
        line(serde_json::json!({"type":"task","worker":"slow","seq":0,"ts":1.0,"id":"slow","timeout_s":0.3,
            "argv":["sleep","30"]})),
        line(serde_json::json!({"type":"task","worker":"docs","seq":0,"ts":1.0,"id":"docs",
            "argv":["true"],"depends_on":["tests"]})),
    ]
    .concat();
    let log = dir.join("run.ndjson");
    let live_report = dir.join("live.xml");
    // Live: sc-spawn's stream piped into sc-view.
    let mut spawn = sc_spawn()
        .args(["--kill-grace", "1", "--log"])
        .arg(&log)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    spawn
        .stdin
        .take()
        .unwrap()
        .write_all(plan.as_bytes())
        .unwrap();
    let spawn_out = spawn.stdout.take().unwrap();
    let viewed = sc_view()
        .arg("--junit")
        .arg(&live_report)
        .stdin(spawn_out)
        .output()
        .unwrap();
    assert_eq!(viewed.status.code(), Some(1), "a task failed");
    assert_eq!(wait_with_deadline(&mut spawn).code(), Some(1));
    let saved_report = dir.join("saved.xml");
    let saved = sc_view()
        .arg("--junit")
        .arg(&saved_report)
        .stdin(std::fs::File::open(&log).unwrap())
        .output()
        .unwrap();
    assert_eq!(saved.status.code(), Some(1));
    let schema = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/junit.xsd");
    for report in [&live_report, &saved_report] {
        let valid = Command::new("xmllint")
            .arg("--noout")
            .arg("--schema")
            .arg(&schema)
            .arg(report)
            .output()
            .unwrap();
        assert!(
            valid.status.success(),
            "{}: {}",
            report.display(),
            String::from_utf8_lossy(&valid.stderr)
        );
        let xml = std::fs::read_to_string(report).unwrap();
        assert!(
            xml.contains(r#"tests="4" failures="2" errors="0" skipped="1""#),
            "{xml}"
        );
        assert!(
            xml.contains(r#"<testcase name="build" classname="implementer""#),
            "{xml}"
        );
        assert!(
            xml.contains(r#"<failure type="exit" message="exited with code 3">"#),
            "{xml}"
        );
        assert!(
            xml.contains(r#"<failure type="timeout" message="timed out">"#),
            "{xml}"
        );
        assert!(xml.contains(r#"<skipped message="#), "{xml}");
        assert!(
            xml.contains("&lt;ok&gt; &amp; &quot;done&quot; \\u{1b}[31mred"),
            "{xml}"
        );
        assert!(xml.contains("\\u{0}"), "a NUL, visible: {xml}");
        assert!(
            xml.contains("<system-err>assertion failed: ]]&gt;\n</system-err>"),
            "{xml}"
        );
        assert!(
            !xml.contains("abcdefghijklmnop"),
            "redacted as the view: {xml}"
        );
    }
}

/// `--timeline FILE`: a real run drawn as an SVG that a real browser
/// (headless Chromium) renders with a lane per worker, in the outcome's
/// colours; the dependency arrow and the retry are in it.
#[test]
fn timeline_of_a_run_renders_in_a_browser() {
    let Some(chromium) = ["chromium", "chromium-browser"]
        .into_iter()
        .find(|b| Command::new(b).arg("--version").output().is_ok())
    else {
        engine_missing("the timeline browser test", "chromium", "chromium");
        return;
    };
    let dir = temp_dir("timeline");
    let flaky = dir.join("flaky");
    let line = |value: serde_json::Value| format!("{value}\n");
    let plan = [
        line(serde_json::json!({"type":"task","worker":"build","seq":0,"ts":1.0,"id":"build",
            "argv":["sh","-c","sleep 0.3"]})),
        line(serde_json::json!({"type":"task","worker":"tests","seq":0,"ts":1.0,"id":"tests",
            "argv":["sh","-c","sleep 0.2; exit 3"],"depends_on":["build"]})),
        line(serde_json::json!({"type":"task","worker":"slow","seq":0,"ts":1.0,"id":"slow","timeout_s":0.4,
            "argv":["sleep","30"]})),
        line(serde_json::json!({"type":"task","worker":"flaky","seq":0,"ts":1.0,"id":"flaky","retries":1,
            "argv":["sh","-c", format!("[ -e '{0}' ] || {{ touch '{0}'; exit 1; }}; sleep 0.2", flaky.display())]})),
        line(serde_json::json!({"type":"task","worker":"docs","seq":0,"ts":1.0,"id":"docs",
            "argv":["true"],"depends_on":["tests"]})),
    ]
    .concat();
    let ran = run_bounded(
        sc_spawn().args([
            "--kill-grace",
            "1",
            "--retry-on",
            "any",
            "--retry-delay",
            "0.1",
        ]),
        plan.into_bytes(),
    );
    let svg = dir.join("run.svg");
    let viewed = sc_view()
        .arg("--timeline")
        .arg(&svg)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .and_then(|mut child| {
            child.stdin.take().unwrap().write_all(&ran.stdout)?;
            child.wait()
        })
        .unwrap();
    assert_eq!(viewed.code(), Some(1));
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(!text.contains("<script"), "no script");
    assert_eq!(
        text.matches(r#"class="dep""#).count(),
        1,
        "build → tests (docs never ran)"
    );
    assert_eq!(text.matches(r#"class="retry""#).count(), 1);
    assert_eq!(text.matches(r#"class="skip""#).count(), 1);
    let png = dir.join("run.png");
    let shot = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
        ])
        .arg("--window-size=1100,250")
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", svg.display()))
        .output()
        .unwrap();
    assert!(png.exists(), "{}", String::from_utf8_lossy(&shot.stderr));
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&png).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut pixels).unwrap();
    let channels = info.color_type.samples();
    // The rows that hold a pixel of each outcome's colour.
    let rows_with = |rgb: [u8; 3]| -> usize {
        (0..info.height as usize)
            .filter(|&row| {
                let start = row * info.line_size;
                pixels[start..start + info.line_size]
                    .chunks(channels)
                    .any(|px| px[..3].iter().zip(rgb).all(|(a, b)| a.abs_diff(b) <= 8))
            })
            .count()
    };
    let green = rows_with([0x2e, 0x7d, 0x32]);
    let red = rows_with([0xc6, 0x28, 0x28]);
    let orange = rows_with([0xef, 0x6c, 0x00]);
    // Two green lanes (build, flaky) and the legend; bars are 16 px high.
    assert!(green >= 30, "green rows {green}");
    assert!(red >= 14, "red rows {red}");
    assert!(orange >= 14, "orange rows {orange}");
}
