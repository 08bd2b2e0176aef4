//! sc-spawn end to end: one worker, real processes.

use std::io::Read;
use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::Signal;
use sc_events::{Body, Stream};

use crate::util::*;

fn sh(script: &str) -> Vec<&str> {
    vec!["--", "sh", "-c", script]
}

fn args<'a>(opts: &[&'a str], script: &'a str) -> Vec<&'a str> {
    let mut all = opts.to_vec();
    all.extend(sh(script));
    all
}

#[test]
fn every_ugly_byte_arrives_in_order() {
    // Invalid UTF-8, NUL, a lone \r, CRLF, a character split across two
    // writes (the pause makes them two reads), and no final newline.
    let script = r"printf 'plain\n\377\376bad\n'; printf 'nul\000byte\n'; printf '50%%\r100%%\r\n';
                   printf '\342\202'; sleep 0.02; printf '\254 euro\n'; printf 'err\n' >&2; printf 'no newline'";
    let (run, status) = capture(&sh(script));
    assert!(status.success());
    let expected = b"plain\n\xff\xfebad\nnul\0byte\n50%\r100%\r\n\xe2\x82\xac euro\nno newline";
    assert_eq!(run.bytes(Stream::Stdout), expected.to_vec());
    assert_eq!(run.bytes(Stream::Stderr), b"err\n");
    let chunks = run.chunks(Stream::Stdout);
    assert!(chunks.contains(&b"50%\r".to_vec()), "{chunks:?}");
    assert!(
        chunks.contains(&"€ euro\n".as_bytes().to_vec()),
        "split character rejoined: {chunks:?}"
    );
    // Invalid UTF-8 is carried as base64, valid text as text.
    let line = String::from_utf8(
        run.events
            .iter()
            .map(sc_events::to_line)
            .collect::<Vec<_>>()
            .concat(),
    )
    .unwrap();
    assert!(line.contains(r#""bytes":"//5iYWQK""#), "{line}");
    assert!(line.contains(r#""text":"nul\u0000byte\n""#), "{line}");
    let exit = run.exit();
    assert_eq!(exit.code, Some(0));
    assert_eq!(exit.lines, 7, "6 newlines and a last line without one");
}

#[test]
fn complete_lines_arrive_while_the_worker_runs() {
    let mut live = Live::start(&sh("echo ready; echo warn >&2; exec sleep 30"));
    let start = live.next().unwrap();
    assert_eq!(start.type_name(), "start");
    let first = live.until(|e| e.type_name() == "output");
    let second = live.until(|e| e.type_name() == "output");
    let mut texts = [text(&first), text(&second)];
    texts.sort();
    assert_eq!(texts, ["ready\n", "warn\n"]);
    assert!(alive(start_pid(&start)), "the worker is still running");
    live.signal(Signal::SIGTERM);
    let (run, status) = live.finish();
    assert_eq!(run.exit().signal.as_deref(), Some("SIGTERM"));
    assert_eq!(status.code(), Some(128 + 15));
}

#[test]
fn a_prompt_without_newline_shows_up_live() {
    let mut live = Live::start(&args(
        &["--flush-ms", "20"],
        "printf 'Continue? '; exec sleep 30",
    ));
    let start = live.next().unwrap();
    let prompt = live.until(|e| e.type_name() == "output");
    assert_eq!(text(&prompt), "Continue? ");
    assert!(alive(start_pid(&start)));
    live.signal(Signal::SIGINT);
    let (run, status) = live.finish();
    assert_eq!(run.exit().signal.as_deref(), Some("SIGINT"));
    assert_eq!(run.exit().ended_by.as_deref(), Some("interrupted"));
    assert_eq!(status.code(), Some(130));
}

#[test]
fn progress_redraws_are_separate_annotated_events() {
    let (run, _) = capture(&sh(r"printf '10%%\r20%%\r[3/10] build\n'"));
    let outputs: Vec<_> = run
        .of_type("output")
        .into_iter()
        .map(|e| match &e.body {
            Body::Output(o) => (text(e), o.progress.as_ref().and_then(|p| p.percent)),
            _ => unreachable!(),
        })
        .collect();
    assert_eq!(
        outputs,
        [
            ("10%\r".to_string(), Some(10.0)),
            ("20%\r".to_string(), Some(20.0)),
            ("[3/10] build\n".to_string(), Some(30.0))
        ]
    );
    let (run, _) = run_quiet_progress();
    assert!(
        run.of_type("output")
            .iter()
            .all(|e| !sc_events::to_line(e).windows(8).any(|w| w == b"progress"))
    );
}

fn run_quiet_progress() -> (Captured, std::process::ExitStatus) {
    capture(&args(&["--no-progress"], r"printf '10%%\r'"))
}

#[test]
fn long_lines_are_cut_into_bounded_events() {
    let (run, status) = capture(&args(
        &["--max-event-bytes", "16"],
        r"printf 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\342\202\254bbbbbbbbbbbbbbbbbbbbb\n'",
    ));
    assert!(status.success());
    let chunks = run.chunks(Stream::Stdout);
    assert!(chunks.iter().all(|c| c.len() <= 16), "{chunks:?}");
    assert!(
        chunks.iter().all(|c| std::str::from_utf8(c).is_ok()),
        "no split character"
    );
    assert_eq!(
        run.bytes(Stream::Stdout),
        format!("{}€{}\n", "a".repeat(44), "b".repeat(21)).into_bytes()
    );
}

#[test]
fn a_huge_line_streams_through_in_constant_memory() {
    // 64 MB without a newline: events of at most the maximum size, and
    // sc-spawn's peak memory stays small (the line is never held whole).
    // sc-bench measures the peak: measured from this large test process, a
    // child's peak would include this process's own memory (the child
    // starts in a copy of it until it execs).
    let size: usize = 64 * 1024 * 1024;
    let script = format!("head -c {size} /dev/zero | tr '\\0' a");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_sc-bench"))
        .args(["measure", "--", env!("CARGO_BIN_EXE_sc-spawn")])
        .args(["--heartbeat", "0", "--", "sh", "-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = Vec::new();
    child.stdout.take().unwrap().read_to_end(&mut out).unwrap();
    let mut report = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut report)
        .unwrap();
    assert!(child.wait().unwrap().success());
    let run = Captured::parse(&out);
    let chunks = run.chunks(Stream::Stdout);
    assert!(chunks.iter().all(|c| c.len() <= 65536));
    assert_eq!(chunks.iter().map(Vec::len).sum::<usize>(), size);
    assert!(chunks.iter().all(|c| c.iter().all(|b| *b == b'a')));
    assert_eq!(run.exit().lines, 1);
    let report: serde_json::Value = serde_json::from_str(report.trim()).unwrap();
    let max_rss_kib = report["max_rss_kib"].as_u64().unwrap();
    assert!(max_rss_kib < 32 * 1024, "peak RSS {max_rss_kib} KiB");
}

#[test]
fn an_idle_worker_costs_no_wakeups() {
    let mut live = Live::start(&["--heartbeat", "0", "--stall", "0", "--", "sleep", "30"]);
    live.next().unwrap();
    let pid = live.child.id();
    let switches = || {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        status
            .lines()
            .filter(|l| l.contains("ctxt_switches"))
            .filter_map(|l| l.split(':').nth(1)?.trim().parse::<u64>().ok())
            .sum::<u64>()
    };
    let before = switches();
    // The measuring window: a busy-polling loop would wake hundreds of times.
    std::thread::sleep(Duration::from_millis(1000));
    let woke = switches() - before;
    assert!(
        woke <= 5,
        "sc-spawn woke {woke} times in 1 s while the worker was idle"
    );
    live.signal(Signal::SIGTERM);
    live.finish();
}

#[test]
fn sigterm_reaches_the_whole_group_and_exit_is_written() {
    let mut live = Live::start(&sh("sleep 30 & echo $!; wait"));
    live.next().unwrap();
    let grandchild: u32 = text(&live.until(|e| e.type_name() == "output"))
        .trim()
        .parse()
        .unwrap();
    live.signal(Signal::SIGTERM);
    let (run, status) = live.finish();
    assert_eq!(status.code(), Some(143));
    assert_eq!(run.exit().signal.as_deref(), Some("SIGTERM"));
    eventually("the grandchild is gone", || !alive(grandchild));
}

#[test]
fn a_worker_ignoring_sigterm_is_killed_after_the_grace() {
    let mut live = Live::start(&args(
        &["--kill-grace", "0.3"],
        "trap '' TERM; echo armed; while :; do sleep 1; done",
    ));
    live.until(|e| e.type_name() == "output");
    live.signal(Signal::SIGTERM);
    let (run, status) = live.finish();
    assert_eq!(run.exit().signal.as_deref(), Some("SIGKILL"));
    assert_eq!(status.code(), Some(137));
}

#[test]
fn a_second_interrupt_kills_at_once() {
    let mut live = Live::start(&args(
        &["--kill-grace", "60"],
        "trap '' INT; echo armed; while :; do sleep 1; done",
    ));
    live.until(|e| e.type_name() == "output");
    live.signal(Signal::SIGINT);
    // Two signals sent at once may merge into one: wait until sc-spawn says
    // it handled the first, as a person sees before pressing Ctrl-C again.
    live.stderr_line(|l| l.contains("send it again"));
    live.signal(Signal::SIGINT);
    let (run, status) = live.finish();
    assert_eq!(run.exit().signal.as_deref(), Some("SIGKILL"));
    assert_eq!(status.code(), Some(137));
}

#[test]
fn timeout_ends_the_worker_with_124() {
    let (run, status) = capture(&["--timeout", "0.3", "--", "sleep", "30"]);
    assert_eq!(status.code(), Some(124));
    let exit = run.exit();
    assert!(exit.timed_out);
    assert_eq!(exit.signal.as_deref(), Some("SIGTERM"));
    assert_eq!(exit.ended_by.as_deref(), Some("timeout"));
}

#[test]
fn a_grandchild_holding_the_pipes_is_drained_then_ended() {
    let mut live = Live::start(&args(&["--drain-ms", "200"], "sleep 30 & echo $!"));
    live.next().unwrap();
    let grandchild: u32 = text(&live.until(|e| e.type_name() == "output"))
        .trim()
        .parse()
        .unwrap();
    let (run, status) = live.finish();
    assert!(status.success(), "the worker itself exited 0");
    let exit = run.exit();
    assert_eq!(exit.code, Some(0));
    assert!(exit.leaked);
    assert!(!alive(grandchild), "no orphan left behind");
}

#[test]
fn output_written_after_the_worker_exits_is_kept() {
    // The grandchild writes after its parent is gone, within the drain time.
    let (run, _) = capture(&args(
        &["--drain-ms", "5000"],
        "(sleep 0.2; echo late) & echo early",
    ));
    assert_eq!(run.bytes(Stream::Stdout), b"early\nlate\n");
    assert!(!run.exit().leaked);
}

#[test]
fn an_orphan_that_closed_its_pipes_is_ended_too() {
    let (run, status) = capture(&sh("sleep 30 >/dev/null 2>&1 & echo $!"));
    assert!(status.success());
    let orphan: u32 = String::from_utf8(run.bytes(Stream::Stdout))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(!alive(orphan), "orphan {orphan} left running");
}

#[test]
fn exit_codes_follow_the_contract() {
    let (run, status) = capture(&sh("exit 3"));
    assert_eq!((status.code(), run.exit().code), (Some(3), Some(3)));

    let (run, status) = capture(&sh("kill -KILL $$"));
    assert_eq!(status.code(), Some(137));
    assert_eq!(run.exit().code, None);
    assert_eq!(run.exit().signal.as_deref(), Some("SIGKILL"));

    let (run, status) = capture(&["--", "no-such-command-sc-test"]);
    assert_eq!(status.code(), Some(127));
    let errors = run.of_type("error");
    assert_eq!(errors.len(), 1);
    assert!(
        matches!(&errors[0].body, Body::Error(e) if e.message.contains("no-such-command-sc-test") && e.message.contains("not found"))
    );
    assert_eq!(run.exit().code, Some(127));
    assert_eq!(run.of_type("start").len(), 0);
}

#[test]
fn usage_errors_exit_2_with_a_message() {
    let out = sc_spawn()
        .args(["--timeout", "soon", "--", "true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a duration"));
}

#[test]
fn pty_mode_gives_the_worker_a_terminal() {
    let (run, status) = capture(&args(
        &["--pty"],
        "test -t 1 && test -t 2 && echo tty; echo err >&2",
    ));
    assert!(status.success());
    assert_eq!(run.bytes(Stream::Pty), b"tty\nerr\n");
    assert!(matches!(&run.of_type("start")[0].body, Body::Start(s) if s.pty));

    let (run, _) = capture(&args(
        &["--pty=stdout"],
        "test -t 1 && ! test -t 2 && echo split; echo err >&2",
    ));
    assert_eq!(run.bytes(Stream::Stdout), b"split\n");
    assert_eq!(run.bytes(Stream::Stderr), b"err\n");
}

#[test]
fn pty_makes_a_block_buffering_program_stream_live() {
    // Python buffers stdout when it is a pipe: only a terminal shows the
    // line before the program ends.
    let program = "import time; print('first', flush=False); time.sleep(30)";
    let mut live = Live::start(&["--pty", "--", "python3", "-c", program]);
    let start = live.next().unwrap();
    let first = live.until(|e| e.type_name() == "output");
    assert_eq!(text(&first), "first\n");
    assert!(alive(start_pid(&start)));
    live.signal(Signal::SIGTERM);
    live.finish();
}

#[test]
fn heartbeats_and_one_stall_while_silent() {
    let (run, _) = capture(&["--heartbeat", "0.1", "--stall", "0.3", "--", "sleep", "1"]);
    let beats = run.of_type("heartbeat");
    assert!(beats.len() >= 3, "{} heartbeats", beats.len());
    // The last beat may fall in the instant the worker exits, before its
    // exit is seen: a process that is gone has no memory to report.
    for beat in &beats[..beats.len() - 1] {
        let Body::Heartbeat(h) = &beat.body else {
            unreachable!()
        };
        assert!(h.rss_kib.is_some_and(|r| r > 0) && h.cpu_ms.is_some());
    }
    assert_eq!(run.of_type("stall").len(), 1);
}

#[test]
fn workers_learn_their_id_path() {
    let (run, _) = capture(&["--id", "inner", "--", "sh", "-c", "echo $SC_WORKER"]);
    assert_eq!(run.bytes(Stream::Stdout), b"inner\n");
    assert!(run.events.iter().all(|e| e.worker == "inner"));
    let out = sc_spawn()
        .env("SC_WORKER", "outer")
        .args(["--", "sh", "-c", "echo $SC_WORKER"])
        .output()
        .unwrap();
    let run = Captured::parse(&out.stdout);
    assert_eq!(run.bytes(Stream::Stdout), b"outer/sh\n");
    assert!(
        run.events.iter().all(|e| e.worker == "sh"),
        "ids are reported as given"
    );
}

#[test]
fn stdin_is_empty_unless_passed_through() {
    let (run, status) = capture(&["--", "cat"]);
    assert!(status.success());
    assert!(run.bytes(Stream::Stdout).is_empty());

    let mut child = sc_spawn()
        .args(["--stdin", "--", "cat"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"through\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        Captured::parse(&out.stdout).bytes(Stream::Stdout),
        b"through\n"
    );
}

#[test]
fn a_file_as_the_worker_reads_back_exactly() {
    // Every byte value, several times, through a file the worker cats.
    let data: Vec<u8> = (0..4096u32).map(|i| (i * 7 % 256) as u8).collect();
    let path = temp_file("all-bytes", &data);
    let (run, _) = capture(&["--", "cat", path.to_str().unwrap()]);
    assert_eq!(run.bytes(Stream::Stdout), data);
}

#[test]
fn the_workers_children_get_the_default_sigpipe() {
    // sc-spawn itself ignores SIGPIPE (to see EPIPE); its workers must not
    // inherit that, or `yes | head -1` would complain instead of ending.
    let (run, status) = capture(&sh("yes | head -1"));
    assert!(status.success());
    assert_eq!(run.bytes(Stream::Stdout), b"y\n");
    assert!(
        run.bytes(Stream::Stderr).is_empty(),
        "{:?}",
        run.bytes(Stream::Stderr)
    );
}

#[test]
fn sighup_is_passed_to_the_group_too() {
    let mut live = Live::start(&["--", "sleep", "30"]);
    live.next().unwrap();
    live.signal(Signal::SIGHUP);
    let (run, status) = live.finish();
    assert_eq!(run.exit().signal.as_deref(), Some("SIGHUP"));
    assert_eq!(status.code(), Some(128 + 1));
}

#[test]
fn a_partial_line_is_stamped_when_it_was_read_not_when_it_was_flushed() {
    let (run, _) = capture(&args(
        &["--flush-ms", "200"],
        "printf 'Continue? '; sleep 0.4; echo y",
    ));
    let outputs = run.of_type("output");
    assert_eq!(text(outputs[0]), "Continue? ");
    // Read at once, flushed 200 ms later: its ts is the read, 400 ms before
    // the next line (not 200 ms, as a flush-time stamp would say).
    let gap = outputs[1].ts - outputs[0].ts;
    assert!(gap > 0.3, "{gap}");
}

#[test]
fn a_workers_pwd_names_the_directory_it_runs_in() {
    // Programs that take their directory from $PWD (OpenCode does) would
    // work in sc-spawn's own directory otherwise.
    let dir = crate::util::temp_dir("pwd");
    let (run, status) = capture(&["--cwd", dir.to_str().unwrap(), "--", "printenv", "PWD"]);
    assert!(status.success());
    let text = String::from_utf8(run.bytes(Stream::Stdout)).unwrap();
    assert_eq!(text.trim_end(), dir.to_str().unwrap());
    // A stale $PWD of sc-spawn's own is not passed on either.
    let out = sc_spawn()
        .current_dir(&dir)
        .env("PWD", "/")
        .args(["--", "printenv", "PWD"])
        .output()
        .unwrap();
    let run = Captured::parse(&out.stdout);
    let text = String::from_utf8(run.bytes(Stream::Stdout)).unwrap();
    assert_eq!(text.trim_end(), dir.to_str().unwrap());
}

#[test]
fn sc_spawns_own_failure_has_an_exit_code_of_its_own() {
    // Not a usage error (2), not the worker's code: 125, as timeout(1)
    // says its own failure.
    let out = sc_spawn()
        .args(["--", "echo", "hi"])
        .stdout(
            std::fs::File::options()
                .write(true)
                .open("/dev/full")
                .unwrap(),
        )
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(125),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("writing the event stream"));
    let usage = sc_spawn()
        .args(["--timeout", "soon", "--", "true"])
        .output()
        .unwrap();
    assert_eq!(usage.status.code(), Some(2));
}

/// Whether a cgroup v2 of one's own can be made here (cgroup2 mounted,
/// and the folder of this process's cgroup writable: root, or delegated).
fn cgroup_can_be_made() -> bool {
    let Ok(mounts) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let Some(mount) = mounts.lines().find_map(|l| {
        let (left, right) = l.split_once(" - ")?;
        (right.split(' ').next() == Some("cgroup2")).then(|| left.split(' ').nth(4))?
    }) else {
        return false;
    };
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let Some(path) = own.lines().find_map(|l| l.strip_prefix("0::")) else {
        return false;
    };
    let probe = std::path::Path::new(mount)
        .join(path.trim_start_matches('/'))
        .join(format!("sc-test-probe-{}", std::process::id()));
    std::fs::create_dir(&probe).is_ok() && std::fs::remove_dir(&probe).is_ok()
}

/// An agent's daemon in a session of its own (`setsid`), which leaves the
/// worker's process group and ignores SIGTERM, is ended with its worker
/// all the same: an agent's cgroup holds everything it started.
#[test]
fn an_agents_daemon_in_a_session_of_its_own_is_ended_too() {
    if !cgroup_can_be_made() {
        skipped(
            "setsid daemons ended through the worker's cgroup",
            "no cgroup v2 can be made here: run as root, or where systemd delegates one",
        );
        return;
    }
    // A fake Claude Code that starts a dev server of sorts, waits until
    // it has said that it ignores SIGTERM, then gives its result and exits.
    let dir = temp_dir("setsid-daemon");
    let said = dir.join("pid");
    let fake = dir.join("claude");
    executable(
        &fake,
        &format!(
            "#!/bin/sh
             setsid sh -c 'trap \"\" TERM; echo $$ > {said}; exec sleep 300' >/dev/null 2>&1 </dev/null &
             while [ ! -s {said} ]; do sleep 0.01; done
             echo '{{\"type\":\"system\",\"subtype\":\"init\",\"session_id\":\"s\",\"model\":\"claude-sonnet-4-5\"}}'
             echo '{{\"type\":\"result\",\"subtype\":\"success\",\"is_error\":false,\"result\":\"served\",\"session_id\":\"s\"}}'
",
            said = said.display()
        ),
    );
    let ran = run_bounded(
        sc_spawn()
            .args(["--kind", "claude-code", "--prompt", "start the server"])
            .args(["--kill-grace", "0.5"])
            .env("SC_CLAUDE", &fake),
        Vec::new(),
    );
    assert_eq!(ran.status.code(), Some(0), "{}", ran.stderr);
    let daemon: u32 = std::fs::read_to_string(&said)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // Ended before sc-spawn exits, not some time after.
    assert!(!alive(daemon), "daemon {daemon} left running");
}
