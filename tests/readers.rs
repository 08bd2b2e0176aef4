//! sc-spawn and the reader of its stream: a slow reader holds the worker
//! back (nothing lost, nothing hoarded, no false stall), and a reader that
//! goes away ends the worker.

use std::io::Read;
use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::Signal;
use sc_events::Stream;

use crate::util::*;

#[test]
fn a_slow_reader_blocks_the_worker_instead_of_losing_or_hoarding() {
    let (child, stdout, first) = blocked_by_its_reader(&["--heartbeat", "0"]);
    let rss_kib = vm_rss_kib(child.id());
    assert!(
        rss_kib < 32 * 1024,
        "sc-spawn holds {rss_kib} KiB while its reader is slow"
    );
    // Now read on: nothing was dropped while the worker waited.
    let run = read_on_and_end(child, stdout, first);
    let data = run.bytes(Stream::Stdout);
    assert!(data.len() > 1_000_000);
    assert!(
        data.chunks(17).all(|line| line == b"0123456789abcdef\n"),
        "lost or mangled data"
    );
    assert_eq!(run.exit().signal.as_deref(), Some("SIGTERM"));
}

/// sc-spawn running `yes` with `flags`, its start read and then nobody
/// reading it, until its worker blocks on its full pipe: the child, its
/// stdout, and the start line.
fn blocked_by_its_reader(
    flags: &[&str],
) -> (std::process::Child, std::process::ChildStdout, Vec<u8>) {
    let (child, stdout, first, worker) = started(flags, &["yes", "0123456789abcdef"]);
    eventually("the worker blocks writing to its pipe", || {
        std::fs::read_to_string(format!("/proc/{worker}/wchan"))
            .is_ok_and(|w| w.contains("pipe_write"))
    });
    (child, stdout, first)
}

/// Read on (8 MiB), end it with SIGTERM, read the rest: the whole stream.
fn read_on_and_end(
    mut child: std::process::Child,
    mut stdout: std::process::ChildStdout,
    first: Vec<u8>,
) -> Captured {
    let mut rest = vec![0u8; 8 * 1024 * 1024];
    stdout.read_exact(&mut rest).unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        Signal::SIGTERM,
    )
    .unwrap();
    stdout.read_to_end(&mut rest).unwrap();
    wait_with_deadline(&mut child);
    let all = [first, rest].concat();
    Captured::parse(&all[..all.iter().rposition(|b| *b == b'\n').unwrap() + 1])
}

/// sc-spawn with `flags` running `command`, read up to its start event
/// and no further: the child, its stdout, the start line and the worker's
/// pid.
fn started(
    flags: &[&str],
    command: &[&str],
) -> (std::process::Child, std::process::ChildStdout, Vec<u8>, u32) {
    let mut child = sc_spawn()
        .args(flags)
        .arg("--")
        .args(command)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let first = first_line(&mut stdout);
    let worker = start_pid(&sc_events::parse_line(&first).unwrap());
    (child, stdout, first, worker)
}

#[test]
fn the_reader_going_away_ends_the_worker() {
    let (mut child, stdout, _, worker) = started(&[], &["yes"]);
    drop(stdout); // like `| head -1`
    let status = wait_with_deadline(&mut child);
    assert_eq!(status.code(), Some(0), "a closed reader is not an error");
    eventually("the worker is gone", || !alive(worker));
}

#[test]
fn a_worker_sc_does_not_read_for_its_own_slow_reader_is_no_stall() {
    // The worker is not silent: sc holds it back because its own stdout is
    // blocked. A stall would blame the worker for sc's reader.
    let (child, stdout, first) = blocked_by_its_reader(&["--heartbeat", "0", "--stall", "0.2"]);
    // Held back for several stall periods: the time itself is the case.
    std::thread::sleep(Duration::from_millis(1000));
    let run = read_on_and_end(child, stdout, first);
    assert_eq!(
        run.of_type("stall").len(),
        0,
        "a stall while sc held the worker back"
    );
}
