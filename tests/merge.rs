//! sc-merge end to end: real FIFOs, pipes, files and producer commands.

use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use nix::sys::signal::Signal;
use sc_events::{Body, Event, to_line};

use crate::util::*;

fn sc_merge() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sc-merge"))
}

fn mkfifo(path: &Path) {
    nix::unistd::mkfifo(path, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
}

fn open_writer(path: &Path) -> std::fs::File {
    // Blocks until sc-merge has the FIFO open for reading.
    OpenOptions::new().write(true).open(path).unwrap()
}

fn merge_run(args: &[&str]) -> (Captured, std::process::ExitStatus, String) {
    let out = sc_merge().args(args).stdin(Stdio::null()).output().unwrap();
    (
        Captured::parse(&out.stdout),
        out.status,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn payload_of(run: &Captured, worker: &str) -> Vec<u8> {
    run.events
        .iter()
        .filter(|e| e.worker == worker)
        .filter_map(output)
        .flat_map(|(_, p)| p.as_bytes().to_vec())
        .collect()
}

#[test]
fn a_fast_input_is_not_held_back_by_a_slow_one_with_a_partial_line() {
    let dir = temp_dir("fifos");
    let (fast, slow) = (dir.join("fast.ndjson"), dir.join("slow.ndjson"));
    mkfifo(&fast);
    mkfifo(&slow);
    let mut live = Live::start_with(sc_merge().arg(&fast).arg(&slow));
    let mut slow_w = open_writer(&slow);
    let slow_stream = stream_of("slow", 1);
    let split = 20;
    slow_w.write_all(&slow_stream[..split]).unwrap(); // half a line, then silence
    let mut fast_w = open_writer(&fast);
    fast_w.write_all(&stream_of("fast", 1000)).unwrap();
    // All of the fast input arrives while the slow one sits on half a line.
    live.until(|e| e.worker == "fast" && e.type_name() == "exit");
    slow_w.write_all(&slow_stream[split..]).unwrap();
    drop(slow_w);
    drop(fast_w);
    let (run, status) = live.finish();
    assert!(status.success());
    assert_eq!(payload_of(&run, "slow"), b"slow line 0\n");
    assert_eq!(
        run.events.iter().filter(|e| e.worker == "fast").count(),
        1002
    );
    // Lines pass through byte for byte.
    let out: Vec<u8> = run
        .events
        .iter()
        .filter(|e| e.worker == "slow")
        .flat_map(to_line)
        .collect();
    assert_eq!(out, slow_stream);
}

#[test]
fn duplicate_ids_are_renamed_and_stay_consistent() {
    let dir = temp_dir("dups");
    let (a, b) = (dir.join("a.ndjson"), dir.join("b.ndjson"));
    std::fs::write(&a, stream_of("build", 3)).unwrap();
    std::fs::write(&b, stream_of("build", 2)).unwrap();
    let (run, status, _) = merge_run(&[a.to_str().unwrap(), b.to_str().unwrap()]);
    assert!(status.success());
    // check_contract (in parse) verified seq and exit per worker id.
    assert_eq!(
        payload_of(&run, "build"),
        b"build line 0\nbuild line 1\nbuild line 2\n"
    );
    assert_eq!(payload_of(&run, "b/build"), b"build line 0\nbuild line 1\n");

    let (run, _, _) = merge_run(&["--prefix", a.to_str().unwrap()]);
    assert!(run.events.iter().all(|e| e.worker == "a/build"));
}

#[test]
fn bad_input_is_wrapped_exactly_and_reported() {
    let dir = temp_dir("bad");
    let bad = dir.join("bad.log");
    let junk: &[u8] =
        b"plain text \xff\n{\"type\":\"output\",\"worker\n{\"no\":\"fields\"}\n{\"type\":\"stall\"";
    std::fs::write(&bad, junk).unwrap();
    let good = dir.join("good.ndjson");
    std::fs::write(&good, stream_of("ok", 2)).unwrap();
    let (run, status, _) = merge_run(&[bad.to_str().unwrap(), good.to_str().unwrap()]);
    assert!(status.success(), "bad lines are not fatal");
    assert_eq!(payload_of(&run, "bad"), junk);
    let errors: Vec<&Event> = run.of_type("error");
    assert!(errors.iter().all(|e| e.worker == "bad"));
    assert!(
        errors
            .iter()
            .any(|e| matches!(&e.body, Body::Error(m) if m.message.contains("not an sc event")))
    );
    assert!(
        errors
            .iter()
            .any(|e| matches!(&e.body, Body::Error(m) if m.message.contains("middle of a line")))
    );
    assert_eq!(payload_of(&run, "ok"), b"ok line 0\nok line 1\n");
}

#[test]
fn a_seq_gap_is_reported_for_that_worker() {
    let mut stream = stream_of("w", 5);
    // Drop the events with seq 2 and 3.
    let lines: Vec<&[u8]> = stream.split_inclusive(|b| *b == b'\n').collect();
    let kept: Vec<u8> = [lines[0], lines[1], lines[4], lines[5], lines[6]].concat();
    stream = kept;
    let path = temp_file("gap.ndjson", &stream);
    let out = sc_merge().arg(&path).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let errors: Vec<Event> = text
        .lines()
        .map(|l| sc_events::parse_line(l.as_bytes()).unwrap())
        .filter(|e| e.type_name() == "error")
        .collect();
    assert_eq!(errors.len(), 1);
    assert_eq!((errors[0].worker.as_str(), errors[0].seq), ("w", 2));
    assert!(matches!(&errors[0].body, Body::Error(m) if m.message.contains("events 2 to 3")));
}

#[test]
fn a_thousand_live_inputs_at_once() {
    let dir = temp_dir("thousand");
    let paths: Vec<PathBuf> = (0..1000)
        .map(|i| dir.join(format!("w{i}.ndjson")))
        .collect();
    for path in &paths {
        mkfifo(path);
    }
    let mut child = sc_merge()
        .args(&paths)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut all = Vec::new();
        let mut stdout = stdout;
        stdout.read_to_end(&mut all).unwrap();
        all
    });
    // Every writer open at the same time, then each writes, then all close.
    let mut writers: Vec<std::fs::File> = paths.iter().map(|p| open_writer(p)).collect();
    for (i, writer) in writers.iter_mut().enumerate() {
        writer.write_all(&stream_of(&format!("w{i}"), 2)).unwrap();
    }
    drop(writers);
    let all = reader.join().unwrap();
    let status = wait_with_deadline(&mut child);
    assert!(status.success());
    let run = Captured::parse(&all);
    assert_eq!(run.of_type("exit").len(), 1000);
    assert_eq!(run.events.len(), 4000);
}

#[test]
fn an_input_that_never_ends_does_not_hold_back_the_others() {
    let dir = temp_dir("endless");
    let endless = dir.join("endless");
    mkfifo(&endless);
    let done = temp_file("done.ndjson", &stream_of("done", 3));
    let mut live = Live::start_with(
        sc_merge()
            .args(["--kill-grace", "0.2"])
            .arg(&endless)
            .arg(&done),
    );
    let _writer = open_writer(&endless); // open, and silent for ever
    live.until(|e| e.worker == "done" && e.type_name() == "exit");
    live.signal(Signal::SIGTERM);
    // The endless input is given up on after the grace; sc-merge ends.
    let (run, status) = live.finish();
    assert_eq!(status.code(), Some(143));
    assert_eq!(
        payload_of(&run, "done"),
        b"done line 0\ndone line 1\ndone line 2\n"
    );
}

#[test]
fn producer_commands_are_merged_and_interrupted() {
    let spawn = env!("CARGO_BIN_EXE_sc-spawn");
    let mut live = Live::start_with(sc_merge().args([
        "--cmd",
        &format!("{spawn} --id quick -- echo hi"),
        "--cmd",
        &format!("exec {spawn} --id long -- sleep 30"),
    ]));
    // The two producers run at once: their events come in either order.
    let (mut quick_done, mut long_started) = (false, false);
    while !(quick_done && long_started) {
        let event = live.next().expect("both producers' events");
        quick_done |= event.worker == "quick" && event.type_name() == "exit";
        long_started |= event.worker == "long" && event.type_name() == "start";
    }
    live.signal(Signal::SIGINT);
    let (run, status) = live.finish();
    assert_eq!(status.code(), Some(130));
    let long_exit = run
        .events
        .iter()
        .find_map(|e| match &e.body {
            Body::Exit(x) if e.worker == "long" => Some(x.clone()),
            _ => None,
        })
        .expect("the interrupted producer still wrote its exit event");
    assert_eq!(long_exit.signal.as_deref(), Some("SIGINT"));
}

#[test]
fn process_substitution_and_stdin_work() {
    let merge = env!("CARGO_BIN_EXE_sc-merge");
    let spawn = env!("CARGO_BIN_EXE_sc-spawn");
    let script =
        format!("{spawn} --id piped -- echo one | {merge} - <({spawn} --id subst -- echo two)");
    let out = Command::new("bash").args(["-c", &script]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run = Captured::parse(&out.stdout);
    assert_eq!(payload_of(&run, "piped"), b"one\n");
    assert_eq!(payload_of(&run, "subst"), b"two\n");
}

#[test]
fn an_input_that_cannot_be_opened_is_reported_and_the_rest_merged() {
    let good = temp_file("fine.ndjson", &stream_of("fine", 1));
    let (run, status, stderr) = merge_run(&["/no/such/input.ndjson", good.to_str().unwrap()]);
    assert_eq!(status.code(), Some(2));
    assert!(stderr.contains("/no/such/input.ndjson"), "{stderr}");
    assert_eq!(payload_of(&run, "fine"), b"fine line 0\n");
    assert!(
        run.events
            .iter()
            .any(|e| e.worker == "input" && e.type_name() == "error")
    );
}

#[test]
fn an_input_that_cannot_be_read_is_reported_and_the_rest_merged() {
    let dir = temp_dir("unreadable");
    let good = temp_file("fine2.ndjson", &stream_of("fine", 1));
    let (run, status, stderr) = merge_run(&[dir.to_str().unwrap(), good.to_str().unwrap()]);
    assert_eq!(
        status.code(),
        Some(2),
        "as for an input that cannot be opened"
    );
    assert!(stderr.contains("Is a directory"), "{stderr}");
    assert_eq!(payload_of(&run, "fine"), b"fine line 0\n");
    let label = dir.file_name().unwrap().to_str().unwrap();
    assert!(run.events.iter().any(|e| e.worker == label
        && matches!(&e.body, Body::Error(m) if m.message.contains("Is a directory"))));
}

#[test]
fn the_reader_going_away_ends_the_producers() {
    let spawn = env!("CARGO_BIN_EXE_sc-spawn");
    let mut child = sc_merge()
        .args(["--cmd", &format!("exec {spawn} -- yes")])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let start = sc_events::parse_line(&first_line(&mut stdout)).unwrap();
    let worker = start_pid(&start);
    drop(stdout);
    let status = wait_with_deadline(&mut child);
    assert_eq!(status.code(), Some(0));
    eventually("the producer's worker is gone", || !alive(worker));
}

/// More files than the open-files limit allows: as `cat` would, sc-merge
/// merges them all, those past the limit each opened as an earlier one
/// ends; one of them that cannot be opened is still said, with exit 2.
#[test]
fn more_files_than_the_open_files_limit_are_all_merged() {
    let dir = temp_dir("limit");
    let mut paths = saved_streams(&dir, 60, 50);
    let under_limit = |paths: &[String]| under_open_files_limit(&[], paths).output().unwrap();
    let out = under_limit(&paths);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("wait for a file descriptor"),
        "not said: {stderr}"
    );
    assert_view_checks(&out.stdout);
    let run = Captured::parse(&out.stdout);
    assert_eq!(run.of_type("exit").len(), 60, "every file merged");
    assert_eq!(run.of_type("output").len(), 60 * 50);

    let missing = dir.join("gone.ndjson").to_str().unwrap().to_owned();
    paths.insert(50, missing);
    let out = under_limit(&paths);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("gone.ndjson"), "not named: {stderr}");
    let run = Captured::parse(&out.stdout);
    assert_eq!(run.of_type("exit").len(), 60, "the others all merged");
    assert_eq!(run.of_type("error").len(), 1, "{:?}", run.of_type("error"));
}

/// Files read ahead of a reader that takes nothing: sc-merge holds a
/// bounded amount of them in memory (a few chunks a thread), not the files.
#[test]
fn files_read_ahead_of_a_stalled_reader_stay_in_bounded_memory() {
    let dir = temp_dir("bounded");
    // Long lines: many bytes, few events to write and check.
    let text = format!("{}\n", "x".repeat(4000));
    let mut stream = start_event("f", 0, 1.0, &["gen"]);
    for seq in 1..=1500 {
        stream.extend(output_line("f", seq, &text));
    }
    let paths: Vec<String> = (0..16)
        .map(|i| {
            let path = dir.join(format!("f{i}.ndjson"));
            std::fs::write(&path, &stream).unwrap();
            path.to_str().unwrap().to_owned()
        })
        .collect();
    let total_kib = (stream.len() * paths.len() / 1024) as u64;
    let mut child = sc_merge()
        .args(&paths)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let first = first_line(child.stdout.as_mut().unwrap());
    // Then nothing is read: once every thread of it sleeps (the poller on
    // its full output, the readers on their budget), it holds what it will.
    eventually("sc-merge waits for its reader", || {
        std::fs::read_dir(format!("/proc/{pid}/task"))
            .unwrap()
            .flatten()
            .all(|task| {
                let wchan = std::fs::read_to_string(task.path().join("wchan")).unwrap_or_default();
                wchan.contains("epoll") || wchan.contains("futex")
            })
    });
    let rss_kib = vm_rss_kib(pid);
    assert!(
        rss_kib < 48 * 1024,
        "{rss_kib} KiB held of {total_kib} KiB of files"
    );
    let mut rest = Vec::new();
    child.stdout.take().unwrap().read_to_end(&mut rest).unwrap();
    assert!(wait_with_deadline(&mut child).success());
    let lines = [first, rest].concat().split(|b| *b == b'\n').count() - 1;
    let each = stream.split(|b| *b == b'\n').count() - 1;
    assert_eq!(lines, 16 * each, "then all of it");
}

/// `count` saved streams of `events` events each in `dir` (workers `f0`,
/// `f1`, ...): their paths.
fn saved_streams(dir: &std::path::Path, count: usize, events: u64) -> Vec<String> {
    (0..count)
        .map(|i| {
            let path = dir.join(format!("f{i}.ndjson"));
            std::fs::write(&path, stream_of(&format!("f{i}"), events)).unwrap();
            path.to_str().unwrap().to_owned()
        })
        .collect()
}

/// `sc-merge ARGS PATHS` with 40 open files at most (soft and hard).
fn under_open_files_limit(args: &[&str], paths: &[String]) -> Command {
    let script = format!(
        "ulimit -Sn 40; ulimit -Hn 40; exec {} {} {}",
        env!("CARGO_BIN_EXE_sc-merge"),
        args.join(" "),
        paths.join(" ")
    );
    let mut command = Command::new("sh");
    command.args(["-c", &script]);
    command
}

/// Ctrl-C while inputs wait for a descriptor (FIFOs nobody writes hold
/// them all): the ones never opened are said, not dropped in silence.
#[test]
fn an_interrupt_says_which_inputs_were_never_read() {
    let dir = temp_dir("limit-interrupt");
    let mut paths = Vec::new();
    for i in 0..40 {
        let fifo = dir.join(format!("p{i}"));
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        paths.push(fifo.to_str().unwrap().to_owned());
    }
    paths.extend(saved_streams(&dir, 3, 5));
    let mut live = Live::start_with(&mut under_open_files_limit(
        &["--kill-grace", "0.1"],
        &paths,
    ));
    let said = live.stderr_line(|l| l.contains("wait for a file descriptor"));
    let waiting: usize = said
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("how many wait? {said}"));
    assert!(waiting >= 3, "{said}");
    live.signal(Signal::SIGINT);
    let (run, status) = live.finish();
    assert_eq!(status.code(), Some(130));
    let never = run
        .of_type("error")
        .iter()
        .filter(|e| matches!(&e.body, Body::Error(x) if x.message.contains("was not read")))
        .count();
    assert_eq!(never, waiting, "each input never read is said once");
}

/// Files are read ahead on threads of their own, in chunks: lines cut by
/// a chunk's end, an over-long line, junk and an unfinished last line in a
/// file of many chunks still come out whole, in order, each where it was.
#[test]
fn files_of_many_chunks_are_merged_whole() {
    let dir = temp_dir("chunks");
    let lines_of = |stream: &[u8]| -> Vec<Vec<u8>> {
        stream
            .split_inclusive(|b| *b == b'\n')
            .map(<[u8]>::to_vec)
            .collect()
    };
    let events = lines_of(&stream_of("w", 40_000));
    let junk: Vec<&[u8]> = vec![b"plain \xff\x00 text\n", b"{\"type\":\"output\",\"worker\n"];
    let long = [b"x".repeat(300_000), b"\n".to_vec()].concat();
    let mut file = Vec::new();
    let mut junk_payload = Vec::new();
    for (i, line) in events.iter().enumerate() {
        file.extend_from_slice(line);
        if i % 9_000 == 4_000 {
            let bad = junk[i / 9_000 % 2];
            file.extend_from_slice(bad);
            junk_payload.extend_from_slice(bad);
        }
        if i == 20_000 {
            file.extend_from_slice(&long);
            junk_payload.extend_from_slice(&long);
        }
    }
    file.extend_from_slice(b"{\"type\":\"ou");
    junk_payload.extend_from_slice(b"{\"type\":\"ou");
    assert!(file.len() > 4 * 256 * 1024, "several chunks");
    let path = dir.join("big.ndjson");
    std::fs::write(&path, &file).unwrap();
    let other = dir.join("other.ndjson");
    std::fs::write(&other, stream_of("w", 30_000)).unwrap();

    let out = sc_merge()
        .args(["--max-line-bytes", "100000"])
        .arg(&path)
        .arg(&other)
        .output()
        .unwrap();
    assert!(out.status.success());
    let merged = lines_of(&out.stdout);
    let of = |id: &str| -> Vec<Vec<u8>> {
        let needle = format!("\"worker\":\"{id}\"");
        merged
            .iter()
            .filter(|l| l.windows(needle.len()).any(|w| w == needle.as_bytes()))
            .cloned()
            .collect()
    };
    // The first file's events pass byte for byte, in order.
    assert_eq!(of("w"), events);
    // The second file's worker of the same id is renamed, all of it there.
    assert_eq!(of("other/w").len(), 30_002);
    let run = Captured::parse(&out.stdout);
    assert_eq!(payload_of(&run, "big"), junk_payload);
    let errors = run.of_type("error");
    assert!(errors.iter().any(|e| matches!(&e.body,
            Body::Error(m) if m.message.contains("longer than the maximum line length"))));
    assert!(errors.iter().any(|e| matches!(&e.body,
            Body::Error(m) if m.message.contains("middle of a line"))));
}

/// More files than read-ahead threads: the rest are read on the poller's
/// thread, in their turn. The files take turns in the order they were
/// named, so the same files merge into the same stream on every run: the
/// first file owns the id they share, each of the others is renamed.
#[test]
fn the_same_files_merge_the_same_way_every_run() {
    let dir = temp_dir("turns");
    let paths: Vec<PathBuf> = (1..=12)
        .map(|i| {
            let path = dir.join(format!("f{i}.ndjson"));
            std::fs::write(&path, stream_of("w", 6_000 + i * 500)).unwrap();
            path
        })
        .collect();
    let merge = || sc_merge().args(&paths).output().unwrap();
    let (first, second) = (merge(), merge());
    assert!(first.status.success());
    assert!(first.stdout == second.stdout, "two runs merged differently");
    let run = Captured::parse(&first.stdout);
    for i in 1..=12u64 {
        let id = if i == 1 {
            "w".to_owned()
        } else {
            format!("f{i}/w")
        };
        let lines = 6_000 + i * 500;
        assert_eq!(
            payload_of(&run, &id).len(),
            (0..lines)
                .map(|k| format!("w line {k}\n").len())
                .sum::<usize>(),
            "{id}"
        );
    }
}
