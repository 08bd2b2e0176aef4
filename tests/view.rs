//! sc-view end to end: plain output exactly, the terminal view under a real
//! PTY, hostile output, --raw, --check, --follow, --replay, filters.

use std::io::{Read, Write};
use std::process::{Command, Stdio};

use sc_events::Stream;

use crate::util::*;

pub(crate) fn sc_view() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sc-view"));
    command.env_remove("GITHUB_ACTIONS").env("NO_COLOR", "1");
    command
}

pub(crate) struct Viewed {
    pub stdout: String,
    pub stderr: String,
    pub code: Option<i32>,
}

pub(crate) fn view(args: &[&str], input: &[u8]) -> Viewed {
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

WORKER  STATUS    EXIT  DURATION  LINES  BYTES
build   ✔ ok         0      1.0s      3   37 B
tests   ✖ failed     2      1.4s      2   18 B
2 workers, 1 ok, 1 failed · 5 lines · 55 B
";
    assert_eq!(viewed.stdout, expected);
    assert_eq!(viewed.code, Some(1), "a worker failed");
    assert_eq!(viewed.stderr, "");
}

#[test]
fn failures_only_says_what_failed_whole_and_nothing_else() {
    let viewed = view(&["--plain", "-q"], &fixed_stream());
    let expected = "\
[tests] started: cargo test --all
[tests] Continue? y
[tests] \u{fffd} bad
[tests] ✖ exit 2 after 1.4s, 2 lines

WORKER  STATUS    EXIT  DURATION  LINES  BYTES
tests   ✖ failed     2      1.4s      2   18 B
2 workers, 1 ok, 1 failed · 5 lines · 55 B
";
    assert_eq!(viewed.stdout, expected);
    assert_eq!(viewed.code, Some(1));
    // On GitHub, the failed worker's lines in a group of their own.
    let viewed = view_with(
        sc_view()
            .args(["--failures-only"])
            .env("GITHUB_ACTIONS", "true"),
        &fixed_stream(),
    );
    assert!(!viewed.stdout.contains("[build]"), "{}", viewed.stdout);
    assert!(
        viewed
            .stdout
            .starts_with("::group::[tests] ✖ exit 2 after 1.4s, 2 lines\n[tests] started"),
        "{}",
        viewed.stdout
    );
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
pub(crate) fn progress_event(id: &str, seq: u64, ts: f64, text: &str, percent: f64) -> Vec<u8> {
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

pub(crate) fn task_event(id: &str, ts: f64) -> Vec<u8> {
    let task = sc_events::Task {
        id: id.into(),
        role: Some("documentation-specialist".into()),
        kind: Some("shell".into()),
        ..Default::default()
    };
    sc_events::to_line(&sc_events::Event::new(id, 0, ts, task))
}

pub(crate) fn skip_event(id: &str, ts: f64, reason: &str) -> Vec<u8> {
    let skip = sc_events::Skip {
        reason: reason.into(),
        done: false,
    };
    sc_events::to_line(&sc_events::Event::new(id, 1, ts, skip))
}

pub(crate) fn now() -> f64 {
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

#[test]
fn a_task_that_asks_is_read_like_any_other() {
    // A plan task's `ask` is a flag (`"ask": true`); an ask event's `ask`
    // is its id. A view that read only the second refused the whole line.
    let stream = [
        br#"{"type":"task","worker":"fix","seq":0,"ts":1.0,"id":"fix","kind":"claude-code","prompt":"fix it","ask":true}"#.to_vec(),
        b"\n".to_vec(),
        start_event("fix", 1, 1.5, &["claude"]),
        exit_event("fix", 2, 2.0, Some(0), None, 500, 0),
    ]
    .concat();
    let out = run_bounded(sc_view().arg("--check"), stream);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        out.stderr
    );
}

/// SIGTERM while output keeps flowing: the reports come all the same,
/// within one deadline from the signal (each chunk used to push it on, so
/// a CI runner's SIGKILL came first).
#[test]
fn a_signal_ends_the_view_even_while_output_keeps_flowing() {
    let mut producer = Command::new("yes")
        .arg(r#"{"type":"output","worker":"w","seq":0,"ts":1,"stream":"stdout","text":"x\n"}"#)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut view = sc_view()
        .arg("--plain")
        .stdin(producer.stdout.take().unwrap())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Once it shows a line (its signals are caught by then), it is
    // interrupted; what it shows after is read on.
    let mut shown = view.stdout.take().unwrap();
    first_line(&mut shown);
    let reader = std::thread::spawn(move || std::io::copy(&mut shown, &mut std::io::sink()));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(view.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = wait_with_deadline(&mut view);
    let _ = producer.kill();
    let _ = producer.wait();
    let _ = reader.join();
    assert_eq!(status.code(), Some(128 + 15));
}
