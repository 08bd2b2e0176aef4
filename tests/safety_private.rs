//! Private state that a neighbour cannot touch: a second user (a uid of
//! its own, through `setpriv`) plants folders, links and a listening
//! socket in the temp folder where sc keeps its runs folder when
//! `XDG_RUNTIME_DIR` is unset (cron, CI, Slurm jobs), and nothing of the
//! victim's is deleted, chmodded or told.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::*;

/// The neighbour's uid.
const NEIGHBOUR: u32 = 54321;

/// A shared temp folder like /tmp (sticky, open to all) and a folder of
/// the victim's with files in it; None (said) where a second user cannot
/// be had: not root, or no setpriv.
fn scene(name: &str) -> Option<(PathBuf, PathBuf, PathBuf)> {
    let root = nix::unistd::getuid().is_root();
    let setpriv = Command::new("setpriv").arg("--version").output().is_ok();
    if !root || !setpriv {
        skipped(
            "multi-user safety tests",
            "they need root and setpriv (util-linux) to act as a second user: run .ci/run",
        );
        return None;
    }
    let base = temp_dir(name);
    std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o755)).unwrap();
    let tmp = base.join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let victim = base.join("victim");
    std::fs::create_dir(&victim).unwrap();
    std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(victim.join("thesis.tex"), "years of work").unwrap();
    Some((base, tmp, victim))
}

/// `script` (`sh -c`) as the neighbour would run it.
fn neighbour(script: &str) -> Command {
    let mut command = Command::new("setpriv");
    command.args([
        &format!("--reuid={NEIGHBOUR}"),
        &format!("--regid={NEIGHBOUR}"),
        "--clear-groups",
        "sh",
        "-c",
        script,
    ]);
    command
}

/// `script` run by the neighbour, to its end.
fn as_neighbour(script: &str) {
    let status = neighbour(script).status().unwrap();
    assert!(status.success(), "the neighbour's {script}");
}

/// The neighbour plants what `script` makes, RUNS and VICTIM in it
/// standing for the victim's runs folder in `tmp` and the victim's folder.
fn plant(tmp: &Path, victim: &Path, script: &str) {
    as_neighbour(
        &script
            .replace("RUNS", &runs_in(tmp).display().to_string())
            .replace("VICTIM", &victim.display().to_string()),
    );
}

/// A run that must serve a control socket (`--ask`) in `tmp` does not
/// run, and says why.
fn refuses_to_ask(tmp: &Path, says: &str) {
    let ran = run_bounded(sc_spawn_in(tmp).args(["--ask", "--", "true"]), Vec::new());
    assert_eq!(ran.status.code(), Some(125), "{}", ran.stderr);
    assert!(ran.stderr.contains(says), "{}", ran.stderr);
    assert!(ran.stdout.is_empty(), "nothing ran");
}

/// The runs folder the victim's sc uses in `tmp`.
fn runs_in(tmp: &Path) -> PathBuf {
    tmp.join(format!("sc-{}", nix::unistd::getuid()))
}

fn sc_spawn_in(tmp: &Path) -> Command {
    let mut command = sc_spawn();
    command.env("TMPDIR", tmp).env_remove("XDG_RUNTIME_DIR");
    command
}

fn plan(tasks: &[(&str, Option<&str>)]) -> Vec<u8> {
    tasks
        .iter()
        .map(|(id, host)| {
            let host = host.map_or(String::new(), |h| format!(r#","host":"{h}""#));
            format!(
                r#"{{"type":"task","worker":"{id}","seq":0,"ts":0,"id":"{id}","kind":"shell","argv":["true"]{host}}}"#
            ) + "\n"
        })
        .collect::<String>()
        .into_bytes()
}

fn intact(victim: &Path) {
    assert_eq!(
        std::fs::read_to_string(victim.join("thesis.tex"))
            .ok()
            .as_deref(),
        Some("years of work"),
        "the victim's file is gone"
    );
    let meta = std::fs::metadata(victim).unwrap();
    assert_eq!(
        meta.mode() & 0o7777,
        0o755,
        "the victim's folder was chmodded"
    );
    let entries: Vec<_> = std::fs::read_dir(victim).unwrap().flatten().collect();
    assert_eq!(entries.len(), 1, "sc made something in the victim's folder");
}

#[test]
fn a_planted_folder_with_a_link_in_it_deletes_nothing() {
    let Some((_base, tmp, victim)) = scene("planted-folder") else {
        return;
    };
    let runs = runs_in(&tmp);
    // The neighbour was first: the runs folder is theirs, open to all, and
    // holds a "dead run's" ssh folder that is a link to the victim's files.
    plant(
        &tmp,
        &victim,
        "mkdir -m 777 'RUNS' && ln -s 'VICTIM' 'RUNS/ssh-999999'",
    );
    // A local plan, and one with a task on a host (which needs the
    // connection-sharing folder): neither touches what is planted.
    for tasks in [
        vec![("a", None)],
        vec![("a", None), ("b", Some("sc-test-nohost.invalid"))],
    ] {
        let ran = run_bounded(&mut sc_spawn_in(&tmp), plan(&tasks));
        let run = Captured::parse(&ran.stdout);
        assert!(
            run.exits()
                .iter()
                .any(|(w, e)| *w == "a" && e.code == Some(0)),
            "the local task still runs: {}",
            ran.stderr
        );
        intact(&victim);
        assert_eq!(std::fs::metadata(&runs).unwrap().mode() & 0o777, 0o777);
    }
    refuses_to_ask(&tmp, "not to you");
    intact(&victim);
}

#[test]
fn a_link_in_place_of_the_runs_folder_is_neither_followed_nor_chmodded() {
    let Some((_base, tmp, victim)) = scene("planted-link") else {
        return;
    };
    plant(&tmp, &victim, "ln -s 'VICTIM' 'RUNS'");
    let tasks = [("a", None), ("b", Some("sc-test-nohost.invalid"))];
    let ran = run_bounded(&mut sc_spawn_in(&tmp), plan(&tasks));
    assert!(
        ran.stderr.contains("is not a folder"),
        "the refusal is said: {}",
        ran.stderr
    );
    intact(&victim);
    refuses_to_ask(&tmp, "is not a folder");
    intact(&victim);
}

#[test]
fn sc_ctl_never_talks_to_a_neighbours_socket() {
    let Some((base, tmp, _victim)) = scene("planted-socket") else {
        return;
    };
    let runs = runs_in(&tmp);
    // The neighbour serves a "run" in a runs folder of theirs, and
    // writes down whatever it is told (in files it may write).
    let [heard, ready] = ["heard", "ready"].map(|name| {
        let file = base.join(name);
        std::fs::write(&file, "").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o666)).unwrap();
        file
    });
    let listener = format!(
        "mkdir -m 777 '{runs}' && exec python3 -c \"
import socket, os
s = socket.socket(socket.AF_UNIX)
s.bind('{runs}/run-1.sock'); os.chmod('{runs}/run-1.sock', 0o777); s.listen(4)
open('{ready}', 'w').write('up')
while True:
    c, _ = s.accept()
    try:
        open('{heard}', 'a').write(c.recv(4096).decode())
        c.sendall(b'{{\\\"ok\\\":true}}\\n')
    except OSError:
        pass
    c.close()
\"",
        runs = runs.display(),
        ready = ready.display(),
        heard = heard.display()
    );
    let mut neighbour = neighbour(&listener).spawn().unwrap();
    eventually("the neighbour's socket listens", || {
        std::fs::read_to_string(&ready).is_ok_and(|r| r == "up")
    });
    let sc_ctl = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_sc-ctl"))
            .args(args)
            .env("TMPDIR", &tmp)
            .env_remove("XDG_RUNTIME_DIR")
            .output()
            .unwrap()
    };
    let found = sc_ctl(&["answer", "w/1", "allow"]);
    let said = String::from_utf8_lossy(&found.stderr).into_owned();
    assert_eq!(found.status.code(), Some(3), "{said}");
    assert!(said.contains("not to you"), "{said}");
    // Named outright, it is refused too: it is not the user's.
    let socket = runs.join("run-1.sock");
    let named = sc_ctl(&[
        "--control",
        socket.to_str().unwrap(),
        "answer",
        "w/1",
        "allow",
    ]);
    let said = String::from_utf8_lossy(&named.stderr).into_owned();
    assert_ne!(named.status.code(), Some(0), "{said}");
    let attach = Command::new(env!("CARGO_BIN_EXE_sc-view"))
        .args(["--plain", "--attach"])
        .env("TMPDIR", &tmp)
        .env_remove("XDG_RUNTIME_DIR")
        .output()
        .unwrap();
    assert_ne!(attach.status.code(), Some(0));
    let _ = neighbour.kill();
    let _ = neighbour.wait();
    assert_eq!(
        std::fs::read_to_string(&heard).unwrap(),
        "",
        "an answer reached the neighbour's socket"
    );
}

/// `--control X.sock` keeps the run's stream in sc's own file: a user's
/// `X.ndjson` beside it (the log a `--resume` reads) is never touched.
#[test]
fn a_control_socket_given_never_touches_the_users_files_beside_it() {
    let dir = temp_dir("control-beside");
    let runtime = dir.join("runtime");
    std::fs::create_dir(&runtime).unwrap();
    let log = dir.join("run.ndjson");
    std::fs::write(&log, "the user's log\n").unwrap();
    let socket = dir.join("run.sock");
    let run_beside = || {
        let ran = run_bounded(
            sc_spawn()
                .env("XDG_RUNTIME_DIR", &runtime)
                .arg("--control")
                .arg(&socket)
                .args(["--", "echo", "hi"]),
            Vec::new(),
        );
        assert_eq!(ran.status.code(), Some(0), "{}", ran.stderr);
        ran
    };
    let ran = run_beside();
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "the user's log\n",
        "the user's file beside the socket"
    );
    assert!(Captured::parse(&ran.stdout).errors().is_empty());
    // A link there is not followed either.
    std::fs::remove_file(&log).unwrap();
    let target = dir.join("elsewhere");
    std::fs::write(&target, "kept\n").unwrap();
    std::os::unix::fs::symlink(&target, &log).unwrap();
    run_beside();
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "kept\n");
    assert!(
        std::fs::symlink_metadata(&log)
            .unwrap()
            .file_type()
            .is_symlink()
    );
}

/// Where the run's own log cannot be kept (its folder is open to others),
/// the run goes on and says so in an `error` event; nothing is chmodded.
#[test]
fn a_side_log_that_cannot_be_kept_is_an_error_event_not_a_failed_run() {
    let dir = temp_dir("side-log");
    let runtime = dir.join("runtime");
    std::fs::create_dir_all(runtime.join("sc")).unwrap();
    std::fs::set_permissions(runtime.join("sc"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let ran = run_bounded(
        sc_spawn()
            .env("XDG_RUNTIME_DIR", &runtime)
            .arg("--control")
            .arg(dir.join("run.sock"))
            .args(["--", "echo", "hi"]),
        Vec::new(),
    );
    assert_eq!(ran.status.code(), Some(0), "{}", ran.stderr);
    let run = Captured::parse(&ran.stdout);
    let errors = run.errors();
    assert!(
        errors
            .iter()
            .any(|e| e.contains("sc-view --attach") && e.contains("open to others")),
        "{errors:?}"
    );
    assert_eq!(run.bytes(sc_events::Stream::Stdout), b"hi\n");
    assert_view_checks(&ran.stdout);
    // The note is said, and is no worker of the run's (sc-events(7)).
    let file = temp_file("side-log.ndjson", &ran.stdout);
    let viewed = crate::view::sc_view()
        .arg("--plain")
        .arg(&file)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&viewed.stdout);
    assert_eq!(viewed.status.code(), Some(0), "{text}");
    assert!(
        text.contains("[sc-spawn] error: the run's stream is not kept"),
        "{text}"
    );
    assert!(text.contains("1 worker, 1 ok"), "{text}");
    let mode = std::fs::metadata(runtime.join("sc")).unwrap().mode();
    assert_eq!(mode & 0o777, 0o755, "refused, not chmodded");
}

/// A confined worker's proxy serves it alone: its socket is in the
/// victim's private runs folder, which a neighbour cannot enter, so the
/// neighbour cannot borrow the worker's allow-list (nor learn what it is
/// allowed); the victim's own connection gets in, and the socket is gone
/// with the worker.
#[test]
fn a_neighbour_cannot_reach_a_confined_workers_proxy() {
    let Some(bwrap) = crate::sandbox::bwrap() else {
        return;
    };
    let Some((base, tmp, victim)) = scene("proxy-neighbour") else {
        return;
    };
    let work = base.join("work");
    std::fs::create_dir(&work).unwrap();
    let go = work.join("go");
    nix::unistd::mkfifo(&go, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let mut command = sc_spawn_in(&tmp);
    command
        .env("SC_BWRAP", &bwrap)
        .current_dir(&work)
        .args(["--sandbox", "--sandbox-net", "127.0.0.1:9"])
        .args(["--", "sh", "-c", "echo ready; cat go"]);
    let mut live = Live::start_with(&mut command);
    live.until(|e| matches!(e.body, sc_events::Body::Output(_)) && text(e).contains("ready"));
    let sockets: Vec<PathBuf> = std::fs::read_dir(runs_in(&tmp))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("net-"))
        .collect();
    assert_eq!(sockets.len(), 1, "the worker's proxy: {sockets:?}");
    let out = neighbour(&format!(
        "python3 -c 'import socket, sys
try:
    socket.socket(socket.AF_UNIX).connect(sys.argv[1])
    print(\"connected\")
except PermissionError:
    print(\"refused\")' {}",
        sockets[0].display()
    ))
    .output()
    .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "refused",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The same attempt reaches it as the victim: the refusal above is the
    // folder's doing, not a wrong path.
    drop(std::os::unix::net::UnixStream::connect(&sockets[0]).expect("the victim connects"));
    drop(std::fs::OpenOptions::new().write(true).open(&go).unwrap());
    let (_, status) = live.finish();
    assert_eq!(status.code(), Some(0));
    assert!(!sockets[0].exists(), "its socket outlived it");
    intact(&victim);
}
