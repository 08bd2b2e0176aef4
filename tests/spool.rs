//! A spooled remote worker's stream (`--reconnect`) is kept until the
//! local side has its exit: a connection lost while the exit was on its
//! way leaves the spool for the next follower. The real sc-spawn's
//! `--attach` and `--spool` modes, here on this machine (the remote side's
//! halves; tests/remote.rs runs them over a real sshd).

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use crate::util::*;

/// A finished spooled run of worker `w`: its whole stream, a spooler that
/// is gone, and a follower seen `idle` ago.
fn finished_spool(name: &str, idle: Duration) -> PathBuf {
    // Spools are named so: the sweep looks at nothing else.
    let dir = temp_dir(&format!("sc-spool-{name}"));
    let stream = [
        start_event("w", 0, 1.0, &["true"]),
        exit_event("w", 1, 2.0, Some(0), None, 5, 0),
    ]
    .concat();
    std::fs::write(dir.join("stream.ndjson"), stream).unwrap();
    // A process that is gone: its pid is free.
    let mut gone = Command::new("true").spawn().unwrap();
    gone.wait().unwrap();
    std::fs::write(dir.join("pid"), gone.id().to_string()).unwrap();
    let attached = std::fs::File::create(dir.join("attached")).unwrap();
    attached
        .set_modified(SystemTime::now() - idle)
        .expect("set the follower's last sign of life");
    dir
}

/// Follow the spool until the exit comes, then `then` on the follower's
/// stdin; the follower's status.
fn follow(dir: &Path, then: &[u8]) -> std::process::ExitStatus {
    let mut follower = sc_spawn()
        .arg(format!("--attach={}", dir.display()))
        .args(["--from-byte=0", "--id=w"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = follower.stdin.take().unwrap();
    let mut lines = BufReader::new(follower.stdout.take().unwrap()).lines();
    let last = lines.nth(1).expect("two lines").unwrap();
    assert!(last.contains("\"exit\""), "{last}");
    stdin.write_all(then).unwrap();
    drop(stdin);
    wait_with_deadline(&mut follower)
}

#[test]
fn a_spool_goes_only_once_the_local_side_has_the_exit() {
    // The connection ends after the exit was written, with no word from
    // the local side: it may not have it. The spool stays.
    let dir = finished_spool("kept", Duration::ZERO);
    assert!(follow(&dir, b"").success());
    assert!(
        dir.join("stream.ndjson").exists(),
        "kept for the next follower"
    );
    // The next follower's local side has it and says so: the spool goes.
    assert!(follow(&dir, b"done\n").success());
    assert!(!dir.exists(), "removed once the exit arrived");
}

#[test]
fn a_new_spooled_run_sweeps_what_nobody_came_back_for() {
    let stale = finished_spool("stale", Duration::from_secs(3600));
    let recent = finished_spool("recent", Duration::ZERO);
    let mine = temp_dir("sc-spool-mine");
    std::fs::File::create(mine.join("attached")).unwrap();
    let ran = run_bounded(
        sc_spawn().arg(format!("--spool={}", mine.display())).args([
            "--lease=60",
            "--id=w",
            "--",
            "true",
        ]),
        Vec::new(),
    );
    assert!(ran.status.success(), "{}", ran.stderr);
    assert!(!stale.exists(), "idle past its lease, its spooler gone");
    assert!(recent.exists(), "a follower may still come back for it");
    let _ = std::fs::remove_dir_all(&recent);
    let _ = std::fs::remove_dir_all(&mine);
}
