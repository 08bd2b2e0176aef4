//! Every run is reachable: one started with no flags is listed by
//! `sc-ctl runs`, watched with `sc-view --attach` from its first event,
//! and stopped whole with `sc-ctl stop RUN`, what the person did in its
//! stream; `--no-control` and a run nested in another's worker serve no
//! socket; what killed runs left in the runs folder is swept.

use std::path::Path;
use std::process::{Command, Stdio};

use sc_events::Body;

use crate::control::{sc_ctl, sc_ctl_ok};
use crate::util::*;

/// A private runs folder of the test's own (XDG_RUNTIME_DIR/sc), so that
/// the runs of tests going at the same time are not in it.
pub(crate) fn runtime(name: &str) -> std::path::PathBuf {
    let runtime = temp_dir(name);
    std::fs::set_permissions(
        &runtime,
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    runtime
}

const LOOP: &str = "echo up; while :; do sleep 0.1; done";

/// A run started with no flags, its one worker (`job`) saying `up` and
/// then going on until stopped: the run, once it said so, and its pid.
pub(crate) fn looping(runtime: &Path, dir: &Path) -> (Live, u32) {
    let mut live = Live::start_with(
        sc_spawn()
            .current_dir(dir)
            .env("XDG_RUNTIME_DIR", runtime)
            .args(["--id", "job", "--", "sh", "-c", LOOP]),
    );
    live.until(|e| output(e).is_some());
    let pid = live.child.id();
    (live, pid)
}

#[test]
fn a_run_started_with_no_flags_is_listed_attached_to_and_stopped_from_elsewhere() {
    let runtime = runtime("reach-plain");
    let dir = temp_dir("reach-plain-dir");
    let (live, pid) = looping(&runtime, &dir);

    let listed = sc_ctl(&runtime, &["runs", "--json"]);
    assert!(
        listed.status.success(),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    let run: serde_json::Value =
        serde_json::from_slice(listed.stdout.split(|b| *b == b'\n').next().unwrap()).unwrap();
    assert_eq!(run["pid"], pid);
    assert_eq!(run["running"], 1);
    assert_eq!(run["done"], 0);
    assert_eq!(run["cwd"], dir.display().to_string());
    let table = sc_ctl(&runtime, &["runs"]);
    let table = String::from_utf8_lossy(&table.stdout).into_owned();
    assert!(
        table.starts_with("RUN\tSTATE\tAGE\tRUNNING\tDONE\tFAILED\tASKS\tDIRECTORY\n"),
        "{table}"
    );
    assert!(table.contains(&format!("{pid}\trunning\t")), "{table}");

    // Another terminal watches it from its first event.
    let mut attached = Command::new(env!("CARGO_BIN_EXE_sc-view"))
        .args(["--plain", "--attach", &pid.to_string()])
        .env("XDG_RUNTIME_DIR", &runtime)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut view = std::io::BufReader::new(attached.stdout.take().unwrap());
    let mut shown = String::new();
    while !shown.contains("[job] up") {
        let read = std::io::BufRead::read_line(&mut view, &mut shown).unwrap();
        assert!(read > 0, "the view ended first: {shown}");
    }

    // The whole run stopped from there, by its id.
    sc_ctl_ok(&runtime, &["stop", &pid.to_string()]);
    let (stream, status) = live.finish_bytes();
    assert_eq!(status.code(), Some(130), "ended as Ctrl-C ends it");
    assert_view_checks(&stream);
    let run = Captured::parse(&stream);
    let stop = run
        .events
        .iter()
        .find(|e| e.type_name() == "stop")
        .expect("a stop event");
    assert!(
        matches!(&stop.body, Body::Stop(s) if s.by == "person" && s.via.as_deref() == Some("sc-ctl"))
    );
    assert_eq!(run.exit().ended_by.as_deref(), Some("interrupted"));

    std::io::Read::read_to_string(&mut view, &mut shown).unwrap();
    attached.wait().unwrap();
    assert!(
        shown.contains("[job] started: sh -c"),
        "from its first event: {shown}"
    );
    assert!(shown.contains("[job] up"), "{shown}");
    assert!(shown.contains("■ stopped (via sc-ctl)"), "{shown}");
    // Its socket and its kept stream went with it.
    let left: Vec<_> = std::fs::read_dir(runtime.join("sc"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
    assert_eq!(sc_ctl(&runtime, &["runs"]).status.code(), Some(3));
}

#[test]
fn no_control_and_a_nested_run_serve_no_socket() {
    let runtime = runtime("reach-none");
    for (args, nested) in [
        (&["--no-control", "--", "sh", "-c", LOOP][..], false),
        (&["--", "sh", "-c", LOOP][..], true),
    ] {
        let mut command = sc_spawn();
        command.env("XDG_RUNTIME_DIR", &runtime).args(args);
        if nested {
            command.env("SC_WORKER", "outer");
        }
        let mut live = Live::start_with(&mut command);
        live.until(|e| output(e).is_some());
        let listed = sc_ctl(&runtime, &["runs"]);
        assert_eq!(listed.status.code(), Some(3), "{args:?} nested {nested}");
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(live.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
        .unwrap();
        live.finish_bytes();
    }
    // --no-control with --control says what it means.
    let out = sc_spawn()
        .args(["--no-control", "--control", "/tmp/x.sock", "--", "true"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// A pid that is not running: the socket and stream of a run killed
/// outright (SIGKILL) that had it.
fn dead_pid() -> i32 {
    (400_000..4_000_000)
        .step_by(7919)
        .find(|&p| {
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(p), None)
                == Err(nix::errno::Errno::ESRCH)
        })
        .unwrap()
}

#[test]
fn what_killed_runs_left_is_swept_by_the_next_run_and_nothing_else() {
    let runtime = runtime("reach-sweep");
    let runs = runtime.join("sc");
    std::fs::create_dir(&runs).unwrap();
    std::fs::set_permissions(&runs, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let dead = dead_pid();
    let stale_socket = runs.join(format!("run-{dead}.sock"));
    drop(std::os::unix::net::UnixListener::bind(&stale_socket).unwrap());
    let stale_stream = runs.join(format!("run-{dead}.ndjson"));
    std::fs::write(&stale_stream, "{}\n").unwrap();
    // A live process's, and what is not a run's, are left alone.
    let live_socket = runs.join(format!("run-{}.sock", std::process::id()));
    let _listener = std::os::unix::net::UnixListener::bind(&live_socket).unwrap();
    let other = runs.join(format!("notes-{dead}.ndjson"));
    std::fs::write(&other, "mine\n").unwrap();
    let link = runs.join(format!("run-{}.ndjson", dead + 1));
    std::os::unix::fs::symlink(Path::new("/etc/hostname"), &link).unwrap();

    let ran = run_bounded(
        sc_spawn()
            .env("XDG_RUNTIME_DIR", &runtime)
            .args(["--", "true"]),
        Vec::new(),
    );
    assert!(ran.status.success(), "{}", ran.stderr);
    assert!(!stale_socket.exists() && !stale_stream.exists());
    assert!(live_socket.exists());
    assert_eq!(std::fs::read_to_string(&other).unwrap(), "mine\n");
    assert!(
        link.symlink_metadata().is_ok(),
        "a link is never followed nor removed"
    );
    assert!(Path::new("/etc/hostname").exists());
}

/// `--detach` from a terminal: the id comes back at once while the
/// worker waits; the terminal closed (hung up), the run goes on; after it
/// ended it is listed, watched from its first event, and forgotten.
#[test]
fn a_detached_run_outlives_its_terminal_and_is_watched_after_its_end() {
    let runtime = runtime("reach-detach");
    let dir = temp_dir("reach-detach-dir");
    let gate = dir.join("gate");
    nix::unistd::mkfifo(&gate, nix::sys::stat::Mode::S_IRWXU).unwrap();
    let script = format!("echo before; cat '{}'; echo after", gate.display());
    let (master, slave) = pty(24, 80);
    let mut command = sc_spawn();
    command
        .current_dir(&dir)
        .env("XDG_RUNTIME_DIR", &runtime)
        .args(["--detach", "--id", "bg", "--", "sh", "-c", &script])
        .stdin(slave.try_clone().unwrap())
        .stdout(slave.try_clone().unwrap())
        .stderr(slave);
    on_its_terminal(&mut command);
    let mut child = command.spawn().unwrap();
    drop(command);
    // It returns while the worker still waits at its gate.
    let status = wait_with_deadline(&mut child);
    assert!(status.success());
    let mut said = String::new();
    let mut master = master;
    let mut buf = [0u8; 4096];
    while !said.contains("goes on in the background") {
        let n = std::io::Read::read(&mut master, &mut buf).unwrap();
        assert!(n > 0, "{said}");
        said.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    let id: u32 = said.split_whitespace().next().unwrap().parse().unwrap();
    // The terminal goes away; the run does not.
    drop(master);
    let listed = sc_ctl(&runtime, &["runs", "--json"]);
    let run: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(
        (run["pid"].as_u64(), run["state"].as_str()),
        (Some(id as u64), Some("running"))
    );
    assert_eq!(run["running"], 1);
    std::fs::write(&gate, "through\n").unwrap();
    eventually("the run ended", || {
        let listed = sc_ctl(&runtime, &["runs", "--json"]);
        String::from_utf8_lossy(&listed.stdout).contains("\"state\":\"ended\"")
    });
    let listed = sc_ctl(&runtime, &["runs", "--json"]);
    let run: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(
        (run["done"].as_u64(), run["failed"].as_u64()),
        (Some(1), Some(0))
    );
    assert_eq!(run["cwd"], dir.display().to_string());
    let watched = Command::new(env!("CARGO_BIN_EXE_sc-view"))
        .args(["--plain", "--attach", &id.to_string()])
        .env("XDG_RUNTIME_DIR", &runtime)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&watched.stdout);
    assert!(watched.status.success(), "{shown}");
    for line in [
        "[bg] started: sh -c",
        "[bg] before",
        "[bg] through",
        "[bg] after",
        "✔ exit 0",
    ] {
        assert!(shown.contains(line), "{line}: {shown}");
    }
    sc_ctl_ok(&runtime, &["forget", &id.to_string()]);
    assert_eq!(sc_ctl(&runtime, &["runs"]).status.code(), Some(3));
    assert_eq!(
        sc_ctl(&runtime, &["forget", &id.to_string()]).status.code(),
        Some(3)
    );
}

/// What is kept of a run is bounded on disk (whole lines, up to
/// SC_KEEP_MAX), and an ended run's stream goes after SC_KEEP_DAYS.
#[test]
fn what_a_run_keeps_is_bounded_in_size_and_age() {
    let runtime = runtime("reach-bounded");
    let id = {
        let out = sc_spawn()
            .env("XDG_RUNTIME_DIR", &runtime)
            .env("SC_KEEP_MAX", "4K")
            .args(["--detach", "--", "sh", "-c", "seq 1 5000"])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    let kept = || {
        std::fs::read_dir(runtime.join("sc"))
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with(&format!("ended-{id}-"))
            })
    };
    eventually("the run ended", || kept().is_some());
    let text = std::fs::read_to_string(kept().unwrap()).unwrap();
    assert!(text.len() <= 4096 && text.len() > 3000, "{}", text.len());
    assert!(text.ends_with('\n'));
    for line in text.lines() {
        sc_events::parse_line(line.as_bytes()).expect("whole lines only");
    }
    // An ended run's stream older than SC_KEEP_DAYS goes with the next run.
    let old = kept().unwrap();
    let next_run = || {
        let ran = run_bounded(
            sc_spawn()
                .env("XDG_RUNTIME_DIR", &runtime)
                .env("SC_KEEP_DAYS", "0.5")
                .args(["--", "true"]),
            Vec::new(),
        );
        assert!(ran.status.success());
    };
    next_run();
    assert!(old.exists(), "a fresh one is kept");
    let day_ago = nix::sys::time::TimeSpec::new(sc_events::now_ts() as i64 - 86_400, 0);
    nix::sys::stat::utimensat(
        nix::fcntl::AT_FDCWD,
        &old,
        &day_ago,
        &day_ago,
        nix::sys::stat::UtimensatFlags::NoFollowSymlink,
    )
    .unwrap();
    next_run();
    assert!(!old.exists(), "swept past its keeping");
}

/// An attached view on a terminal: the terminal closed (hung up), the view
/// ends at once and the run it watched goes on untouched.
#[test]
fn closing_an_attached_views_terminal_leaves_the_run_going() {
    let runtime = runtime("reach-hangup");
    let dir = temp_dir("reach-hangup-dir");
    let (live, pid) = looping(&runtime, &dir);

    let (master, slave) = pty(24, 80);
    let mut command = Command::new(env!("CARGO_BIN_EXE_sc-view"));
    command
        .args(["--attach", &pid.to_string()])
        .env("XDG_RUNTIME_DIR", &runtime)
        .env("TERM", "xterm")
        .stdin(slave.try_clone().unwrap())
        .stdout(slave.try_clone().unwrap())
        .stderr(slave);
    on_its_terminal(&mut command);
    let mut view = command.spawn().unwrap();
    drop(command);
    let mut master = master;
    let mut shown = String::new();
    let mut buf = [0u8; 4096];
    while !shown.contains("job") {
        let n = std::io::Read::read(&mut master, &mut buf).unwrap();
        assert!(n > 0, "{shown}");
        shown.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    // The terminal goes away: the view with it, at once.
    let closed = std::time::Instant::now();
    drop(master);
    let status = wait_with_deadline(&mut view);
    assert!(
        closed.elapsed() < std::time::Duration::from_secs(5),
        "the view waited {:?} after its terminal closed",
        closed.elapsed()
    );
    assert_eq!(status.code(), Some(128 + libc::SIGHUP), "{status:?}");
    // The run does not.
    assert!(alive(pid), "the run ended with the view");
    let listed = sc_ctl(&runtime, &["runs", "--json"]);
    let run: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(run["running"], 1, "{run}");
    sc_ctl_ok(&runtime, &["stop", &pid.to_string()]);
    let (stream, status) = live.finish_bytes();
    assert_eq!(status.code(), Some(130));
    let run = Captured::parse(&stream);
    assert_eq!(run.exit().ended_by.as_deref(), Some("interrupted"));
}

/// A worker on an ssh host stopped from here: it is asked to end over its
/// connection, and the stream says who stopped it, between the host's
/// events, the worker's seqs one unbroken count.
#[test]
fn a_worker_on_a_host_stopped_from_here_says_who_stopped_it() {
    let Some(config) = crate::sshd::sshd() else {
        return;
    };
    let runtime = runtime("reach-placed");
    let mut live = Live::start_with(
        crate::sshd::over_ssh(config, "lab", &["--id", "far", "--", "sh", "-c", LOOP])
            .env("XDG_RUNTIME_DIR", &runtime),
    );
    let remote_pid = start_pid(&live.until(|e| e.type_name() == "start"));
    live.until(|e| output(e).is_some());
    sc_ctl_ok(&runtime, &["stop", "far"]);
    let (stream, _) = live.finish_bytes();
    assert_view_checks(&stream);
    let run = Captured::parse(&stream);
    let far: Vec<_> = run.events.iter().filter(|e| e.worker == "far").collect();
    let seqs: Vec<u64> = far.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (0..seqs.len() as u64).collect::<Vec<_>>());
    let stop = far
        .iter()
        .position(|e| e.type_name() == "stop")
        .expect("a stop event");
    assert!(
        matches!(&far[stop].body, Body::Stop(s) if s.by == "person" && s.via.as_deref() == Some("sc-ctl"))
    );
    let exit = far
        .iter()
        .position(|e| e.type_name() == "exit")
        .expect("an exit");
    assert!(stop < exit, "the stop before the exit");
    assert_eq!(run.exit().ended_by.as_deref(), Some("interrupted"));
    eventually("the worker there is gone", || !alive(remote_pid));
}
