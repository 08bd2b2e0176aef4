//! Remote workers that outlive a lost connection (`--reconnect`): the
//! connection cut and made again with the stream whole, Ctrl-C during the
//! pause before connecting again, the lease that ends a worker nobody
//! follows, and `--reconnect 0`. Against the tests' real sshd
//! (tests/sshd.rs).

use std::path::{Path, PathBuf};

use nix::sys::signal::Signal;
use sc_events::{Body, Stream};

use crate::sshd::{over_ssh, sshd};
use crate::util::*;

/// An ssh that notes each connection's pid, to cut one off from here
/// (not `ssh -G`, which only reads its configuration, nor `ssh -O exit`,
/// which closes the run's master, nor `ssh -N`, which opens it).
fn noting_ssh(config: &Path, dir: &Path) -> (PathBuf, PathBuf) {
    let pids = dir.join("ssh.pids");
    let ssh = dir.join("ssh");
    executable(
        &ssh,
        &format!(
            "#!/bin/sh\ncase \" $* \" in *\" -G \"*|*\" -O \"*|*\" -N \"*) ;; *) echo $$ >> '{}' ;; esac\nexec ssh -F '{}' \"$@\"\n",
            pids.display(),
            config.display()
        ),
    );
    (ssh, pids)
}

fn connections(pids: &Path) -> Vec<i32> {
    std::fs::read_to_string(pids)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// `--reconnect`: the connection is cut (its ssh killed) while the worker
/// runs; sc-spawn connects again and the stream goes on where it broke
/// off, nothing lost or repeated, the worker's own exit at its end.
#[test]
fn a_lost_connection_is_made_again_and_nothing_is_lost() {
    let Some(config) = sshd() else { return };
    let dir = temp_dir("reconnect");
    let (ssh, pids) = noting_ssh(config, &dir);
    let go = dir.join("go");
    let script = format!(
        "echo before; printf 'half a line'; while [ ! -e '{}' ]; do sleep 0.05; done; echo ' and the rest'; echo after; exit 4",
        go.display()
    );
    let mut live = Live::start_with(
        sc_spawn()
            .args(["--host", "lab", "--reconnect", "2", "--flush-ms", "10000"])
            .arg("--ssh")
            .arg(&ssh)
            .args(["--remote-sc", env!("CARGO_BIN_EXE_sc-spawn")])
            .args(["--id", "far", "--", "sh", "-c", &script]),
    );
    live.until(|e| output(e).is_some_and(|(_, p)| p.as_bytes() == b"before\n"));
    let first = connections(&pids);
    assert_eq!(first.len(), 1, "{first:?}");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(first[0]), Signal::SIGKILL).unwrap();
    let said = live.until(|e| e.type_name() == "error");
    let Body::Error(said) = said.body else {
        unreachable!()
    };
    assert!(
        said.message.contains("connecting again"),
        "{}",
        said.message
    );
    // Only once it runs on unwatched does the worker go on.
    std::fs::write(&go, "").unwrap();
    let (run, status) = live.finish();
    assert_eq!(status.code(), Some(4));
    assert_eq!(connections(&pids).len(), 2);
    assert_eq!(
        run.bytes(Stream::Stdout),
        b"before\nhalf a line and the rest\nafter\n"
    );
    let seqs: Vec<u64> = run
        .events
        .iter()
        .filter(|e| e.worker == "far")
        .map(|e| e.seq)
        .collect();
    assert_eq!(
        seqs,
        (0..seqs.len() as u64).collect::<Vec<_>>(),
        "one seq each, in order"
    );
    assert_eq!(run.of_type("start").len(), 1);
    assert_eq!(run.exit().code, Some(4));
    assert_eq!(run.exit().ended_by, None);
    run.check_contract();
}

/// With `--reconnect 0` (no spool there), an interrupt ends the remote
/// worker by letting go of ssh's input.
#[test]
fn an_interrupt_ends_an_unspooled_remote_worker() {
    let Some(config) = sshd() else { return };
    let mut live = Live::start_with(&mut over_ssh(
        config,
        "lab",
        &["--reconnect", "0", "--kill-grace", "2", "--", "sleep", "60"],
    ));
    let start = live.until(|e| e.type_name() == "start");
    let remote_pid = start_pid(&start);
    live.signal(Signal::SIGINT);
    let (run, status) = live.finish();
    let exit = run.exit();
    // Ctrl-C there, as here: the worker gets SIGINT.
    assert_eq!(exit.signal.as_deref(), Some("SIGINT"), "{exit:?}");
    assert_eq!(exit.ended_by.as_deref(), Some("interrupted"));
    assert_eq!(status.code(), Some(130));
    eventually("the remote worker is gone", || !alive(remote_pid));
}

/// The connection cannot be made again: the task fails (`connection
/// lost`, 255), and the worker there, followed by nobody, ends when its
/// lease runs out, its spool removed.
#[test]
fn a_worker_nobody_follows_ends_with_its_lease() {
    let Some(config) = sshd() else { return };
    let dir = temp_dir("lease");
    let (ssh, pids) = noting_ssh(config, &dir);
    // The host is gone after the first connection.
    let gone = dir.join("ssh-gone");
    executable(
        &gone,
        &format!(
            "#!/bin/sh\nif [ -s '{}' ]; then echo 'ssh: connect to host lab port 22: No route to host' >&2; exit 255; fi\nexec '{}' \"$@\"\n",
            pids.display(),
            ssh.display()
        ),
    );
    let mut live = Live::start_with(
        sc_spawn()
            .args([
                "--host",
                "lab",
                "--reconnect",
                "1",
                "--reconnect-lease",
                "1",
            ])
            .arg("--ssh")
            .arg(&gone)
            .args(["--remote-sc", env!("CARGO_BIN_EXE_sc-spawn")])
            .args(["--id", "far", "--", "sleep", "60"]),
    );
    let local_pid = live.child.id();
    let start = live.until(|e| e.type_name() == "start");
    let remote_pid = start_pid(&start);
    let first = connections(&pids);
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(first[0]), Signal::SIGKILL).unwrap();
    let (run, status) = live.finish();
    assert_eq!(status.code(), Some(255));
    assert_eq!(run.exit().ended_by.as_deref(), Some("connection lost"));
    let errors: Vec<String> = run.errors();
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(errors[0].contains("connecting again"), "{errors:?}");
    assert!(errors[1].contains("No route to host"), "{errors:?}");
    run.check_contract();
    eventually("the unfollowed worker is ended", || !alive(remote_pid));
    let spool = format!("sc-spool-{local_pid}-");
    eventually("its spool is removed", || {
        !std::fs::read_dir("/tmp")
            .unwrap()
            .flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with(&spool))
    });
}

/// Ctrl-C while the link is down (sc-spawn waits to connect again): the
/// `end` still reaches the worker there, which ends now (not when its
/// lease runs out), and its own exit comes back.
#[test]
fn an_interrupt_while_reconnecting_ends_the_remote_worker() {
    let Some(config) = sshd() else { return };
    let dir = temp_dir("reconnect-interrupt");
    let (ssh, pids) = noting_ssh(config, &dir);
    let mut live = Live::start_with(
        sc_spawn()
            .args(["--host", "lab", "--reconnect", "2", "--kill-grace", "1"])
            .arg("--ssh")
            .arg(&ssh)
            .args(["--remote-sc", env!("CARGO_BIN_EXE_sc-spawn")])
            .args(["--id", "far", "--", "sh", "-c", "echo up; exec sleep 120"]),
    );
    let start = live.until(|e| e.type_name() == "start");
    let remote_pid = start_pid(&start);
    live.until(|e| output(e).is_some_and(|(_, p)| p.as_bytes() == b"up\n"));
    let first = connections(&pids);
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(first[0]), Signal::SIGKILL).unwrap();
    live.until(
        |e| matches!(&e.body, Body::Error(error) if error.message.contains("connecting again")),
    );
    live.signal(Signal::SIGINT);
    let (run, _) = live.finish();
    eventually("the remote worker is gone", || !alive(remote_pid));
    let exit = run.exit();
    assert_eq!(exit.ended_by.as_deref(), Some("interrupted"), "{exit:?}");
    run.check_contract();
}
