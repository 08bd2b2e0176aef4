//! `--sandbox`: a worker confined by bubblewrap, tried as the worker it
//! confines would try to get out: writing outside its directory, reading
//! the user's secrets, reaching the network, leaving things in /tmp; and
//! ended politely through the sandbox (its trap runs), and never run open
//! when the sandbox cannot be set up.

use std::process::{Command, Stdio};

use sc_events::{Body, Stream};

use crate::sandbox_net::{FETCH, Site};
use crate::util::*;

/// bubblewrap for the tests: SC_BWRAP (scripts/test unpacks Debian's
/// package into .ci/bwrap and sets it), or `bwrap` on the PATH.
pub fn bwrap() -> Option<String> {
    if let Some(path) = std::env::var_os("SC_BWRAP").filter(|p| !p.is_empty()) {
        return Some(path.to_string_lossy().into_owned());
    }
    // Its whole path: SC_BWRAP must name a file (a bare name is refused).
    let on_path = std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("bwrap"))
        .find(|p| p.is_file());
    if on_path.is_none() {
        engine_missing(
            "the --sandbox tests",
            "bubblewrap",
            "bubblewrap (or scripts/sandbox-tools)",
        );
    }
    on_path.map(|p| p.to_string_lossy().into_owned())
}

/// `sc-spawn --sandbox` running `script` in `dir` with HOME `home`.
fn sandboxed(bwrap: &str, dir: &std::path::Path, home: &std::path::Path, script: &str) -> Ran {
    run_bounded(
        sc_spawn()
            .env("SC_BWRAP", bwrap)
            .env("HOME", home)
            .current_dir(dir)
            .args(["--sandbox", "--", "sh", "-c", script]),
        Vec::new(),
    )
}

pub fn stdout_of(ran: &Ran) -> String {
    String::from_utf8_lossy(&Captured::parse(&ran.stdout).bytes(Stream::Stdout)).into_owned()
}

#[test]
fn a_sandboxed_worker_writes_only_its_directory_and_sees_no_secrets() {
    let Some(bwrap) = bwrap() else { return };
    let dir = temp_dir("sandbox-work");
    // Not under /tmp, which is the sandbox's own: the real disk.
    let home = disk_dir("sandbox-home");
    std::fs::create_dir_all(home.join(".ssh")).unwrap();
    std::fs::write(home.join(".ssh/id_ed25519"), "SECRET KEY").unwrap();
    std::fs::write(home.join(".netrc"), "machine x password SECRET").unwrap();
    let outside = home.join("planted");
    let script = format!(
        "echo made > here.txt && echo wrote-here; \
         echo x > {outside} 2>/dev/null || echo refused-outside; \
         umount $HOME/.ssh 2>/dev/null; mount -o remount,bind,rw / 2>/dev/null; \
         cat $HOME/.ssh/id_ed25519 2>/dev/null || echo no-key; \
         echo x > {outside}.2 2>/dev/null || echo still-read-only; \
         cat $HOME/.netrc; echo; \
         echo t > /tmp/sc-sandbox-left-{pid} && echo tmp-ok; \
         exit 3",
        outside = outside.display(),
        pid = std::process::id()
    );
    let ran = sandboxed(&bwrap, &dir, &home, &script);
    let said = stdout_of(&ran);
    // The stream says it ran confined, and the view says so too.
    let run = Captured::parse(&ran.stdout);
    assert_eq!(starts_of(&run)[0].sandbox.as_deref(), Some("bwrap"));
    let viewed = run_bounded(
        Command::new(env!("CARGO_BIN_EXE_sc-view")).arg("--plain"),
        ran.stdout.clone(),
    );
    let shown = String::from_utf8_lossy(&viewed.stdout);
    assert!(shown.contains("(confined: bwrap)"), "{shown}");
    assert_eq!(ran.status.code(), Some(3), "{said}\n{}", ran.stderr);
    // As root too: every capability dropped, so the cover over ~/.ssh
    // cannot be unmounted nor / remounted writable.
    for expected in [
        "wrote-here",
        "refused-outside",
        "no-key",
        "still-read-only",
        "tmp-ok",
    ] {
        assert!(said.contains(expected), "{expected}: {said}");
    }
    assert!(!said.contains("SECRET"), "a secret was read: {said}");
    assert_eq!(
        std::fs::read_to_string(dir.join("here.txt")).unwrap(),
        "made\n"
    );
    assert!(!outside.exists(), "it wrote outside its directory");
    let left = std::path::PathBuf::from(format!("/tmp/sc-sandbox-left-{}", std::process::id()));
    assert!(!left.exists(), "its /tmp is its own");
}

#[test]
fn a_sandboxed_worker_reaches_no_network() {
    let Some(bwrap) = bwrap() else { return };
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let dir = temp_dir("sandbox-net");
    // Outside, the same connection works: the listener is there.
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
    let script = format!(
        "python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", {port}), 2)' \
         2>/dev/null && echo connected || echo unreachable"
    );
    let ran = sandboxed(&bwrap, &dir, &dir, &script);
    let said = stdout_of(&ran);
    assert!(said.contains("unreachable"), "{said}\n{}", ran.stderr);
}

#[test]
fn a_sandboxed_worker_is_ended_politely_through_the_sandbox() {
    let Some(bwrap) = bwrap() else { return };
    ended_politely(sc_spawn().env("SC_BWRAP", &bwrap).arg("--sandbox"));
}

/// A confined worker with a TERM trap, timed out after a second by
/// `command` (sc-spawn with its sandbox flags): its trap ran, and its exit
/// is the trap's. The run, for more checks.
pub fn ended_politely(command: &mut Command) -> Captured {
    let dir = temp_dir("sandbox-term");
    let ran = run_bounded(
        command
            .current_dir(&dir)
            .args(["--timeout", "1", "--"])
            .args([
                "sh",
                "-c",
                "trap 'echo cleaned-up; exit 42' TERM; echo up; while :; do sleep 0.1; done",
            ]),
        Vec::new(),
    );
    let run = Captured::parse(&ran.stdout);
    let said = String::from_utf8_lossy(&run.bytes(Stream::Stdout)).into_owned();
    assert!(said.contains("cleaned-up"), "its trap ran: {said}");
    let exit = run.exit();
    assert!(exit.timed_out);
    assert_eq!(exit.code, Some(42), "{exit:?}");
    run
}

#[test]
fn without_bubblewrap_the_worker_does_not_run() {
    let dir = temp_dir("sandbox-closed");
    let marker = dir.join("ran");
    let (run, status) = {
        let out = sc_spawn()
            .env("SC_BWRAP", dir.join("no-such-bwrap"))
            .args(["--sandbox", "--", "touch"])
            .arg(&marker)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        (Captured::parse(&out.stdout), out.status)
    };
    assert_eq!(status.code(), Some(127));
    assert!(!marker.exists(), "it ran unconfined");
    let errors = run.errors().join("\n");
    assert!(errors.contains("does not run"), "{errors}");
}

#[test]
fn sandbox_settings_without_the_sandbox_and_a_confined_terminal_are_usage_errors() {
    for args in [
        &["--sandbox-write", "/x", "--", "true"][..],
        &["--sandbox-net", "example.com", "--", "true"][..],
    ] {
        let out = sc_spawn().args(args).stdin(Stdio::null()).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty(), "nothing ran: {args:?}");
    }
    // A confined worker given the terminal: refused (it could type into it).
    let (_master, slave) = pty(24, 80);
    let out = sc_spawn()
        .args(["--sandbox", "--stdin", "--", "cat"])
        .stdin(slave)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("terminal"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A plan line's `sandbox`: `true` confines that task alone; settings it
/// does not know, a bad host in its `net` or a relative path are
/// the task's error and it does not run; `false` never lifts the run's
/// `--sandbox`.
#[test]
fn a_tasks_sandbox_field_confines_it_and_nothing_lifts_the_runs() {
    let Some(bwrap) = bwrap() else { return };
    let dir = temp_dir("sandbox-task");
    let probe = "touch /etc/sc-probe 2>/dev/null && echo open || echo confined";
    let line = |id: &str, sandbox: &str| {
        format!(
            "{{\"type\":\"task\",\"id\":\"{id}\",\"argv\":[\"sh\",\"-c\",\"{probe}\"],\"sandbox\":{sandbox}}}\n"
        )
    };
    let plan = [
        line("on", "true"),
        line("more", "{\"write\":[\"/nonexistent-ok\"]}"),
        line("ports", "{\"ports\":[443]}"),
        line("net", "{\"net\":[\"exa mple.com\"]}"),
        line("relative", "{\"write\":[\"build\"]}"),
    ]
    .concat();
    let ran = run_bounded(
        sc_spawn().env("SC_BWRAP", &bwrap).current_dir(&dir),
        plan.into_bytes(),
    );
    // Task lines with a sandbox field, and their workers, read whole.
    assert_view_checks(&ran.stdout);
    let run = Captured::parse(&ran.stdout);
    let said = |id: &str| -> String {
        run.events
            .iter()
            .filter(|e| e.worker == id && output(e).is_some())
            .map(text)
            .collect()
    };
    assert_eq!(said("on"), "confined\n");
    assert_eq!(said("more"), "confined\n");
    let exits = run.exits();
    for refused in ["ports", "net", "relative"] {
        let (_, exit) = exits.iter().find(|(id, _)| *id == refused).unwrap();
        assert_eq!(exit.code, Some(127), "{refused} did not run");
        assert!(said(refused).is_empty(), "{refused} ran");
    }
    // `false` under --sandbox: confined all the same.
    let ran = run_bounded(
        sc_spawn()
            .env("SC_BWRAP", &bwrap)
            .current_dir(&dir)
            .arg("--sandbox"),
        line("off", "false").into_bytes(),
    );
    let run = Captured::parse(&ran.stdout);
    let text_of: String = run
        .events
        .iter()
        .filter(|e| output(e).is_some())
        .map(text)
        .collect();
    assert_eq!(text_of, "confined\n");
    assert!(!std::path::Path::new("/etc/sc-probe").exists());
}

/// A task placed on a host is confined there, by the sc-spawn there (its
/// bubblewrap named by SC_BWRAP, which the tests' sshd accepts), in the
/// kind asked for: bubblewrap, or Landlock.
#[test]
fn a_task_on_a_host_is_confined_there() {
    let Some(bwrap) = bwrap() else { return };
    let Some(config) = crate::sshd::sshd() else {
        return;
    };
    let mut kinds = vec![("--sandbox", "bwrap")];
    if crate::sandbox_landlock::landlock() {
        kinds.push(("--sandbox=landlock", "landlock"));
    }
    for (flag, kind) in kinds {
        let dir = temp_dir(&format!("sandbox-remote-{kind}"));
        // Its allow-list's proxy is the host's (here, the same machine's).
        let (allowed, other) = (Site::start(), Site::start());
        let ran = run_bounded(
            sc_spawn()
                .current_dir(&dir)
                .args(["--host", "lab", flag, "--ssh"])
                .arg(format!(
                    "ssh -F {} -o SetEnv=SC_BWRAP={bwrap}",
                    config.display()
                ))
                .args(["--remote-sc", env!("CARGO_BIN_EXE_sc-spawn")])
                .arg(format!("--sandbox-net=127.0.0.1:{}", allowed.port))
                .args([
                    "--",
                    "sh",
                    "-c",
                    "touch /etc/sc-remote-probe 2>/dev/null && echo open || echo confined; \
                     python3 -c \"$0\" \"$@\"; exit 3",
                    FETCH,
                ])
                .arg(format!("http://127.0.0.1:{}/there", allowed.port))
                .arg(format!("http://127.0.0.1:{}/not", other.port)),
            Vec::new(),
        );
        let run = Captured::parse(&ran.stdout);
        assert_eq!(ran.status.code(), Some(3), "{kind}: {}", ran.stderr);
        assert_eq!(
            String::from_utf8_lossy(&run.bytes(Stream::Stdout)),
            "confined\nsite says /there\nfailed: 403\n",
            "{kind}"
        );
        let start = starts_of(&run)[0];
        assert_eq!(start.host.as_deref(), Some("lab"));
        assert_eq!(start.sandbox.as_deref(), Some(kind));
        assert!(!std::path::Path::new("/etc/sc-remote-probe").exists());
        assert_eq!(other.connections(), 0);
        let refused: Vec<_> = run
            .events
            .iter()
            .filter(|e| matches!(&e.body, Body::Sandbox(n) if n.decision == "refused"))
            .collect();
        assert_eq!(refused.len(), 1, "relayed from the host: {:?}", run.events);
    }
}

/// A task run as a Slurm job step is confined on its node, by the
/// sc-spawn there (srun passes SC_BWRAP on with the environment).
#[test]
fn a_job_step_is_confined_on_its_node() {
    let Some(bwrap) = bwrap() else { return };
    if crate::slurm::cluster().is_none() {
        return;
    }
    let ran = run_bounded(
        crate::slurm::on_slurm(&[
            "--sandbox",
            "--",
            "sh",
            "-c",
            "touch /etc/sc-step-probe 2>/dev/null && echo open || echo confined",
        ])
        .env("SC_BWRAP", &bwrap),
        Vec::new(),
    );
    let run = Captured::parse(&ran.stdout);
    assert_eq!(ran.status.code(), Some(0), "{}", ran.stderr);
    assert_eq!(run.bytes(Stream::Stdout), b"confined\n");
    assert!(!std::path::Path::new("/etc/sc-step-probe").exists());
}

/// A confined task in a worktree of its own commits there (its
/// repository's git dir is writable), but cannot plant a hook.
#[test]
fn a_confined_worktree_task_commits_but_plants_no_hook() {
    let Some(bwrap) = bwrap() else { return };
    let repo = temp_dir("sandbox-worktree");
    crate::git::repo_with_one_commit(&repo, "a.txt", "a\n");
    let script = "echo x > new.txt && git add new.txt && git -c user.email=a@b -c user.name=n \
                  commit -qm inside && echo committed; \
                  echo evil > \"$(git rev-parse --git-common-dir)/hooks/pre-commit\" 2>/dev/null \
                  || echo hooks-read-only";
    let plan = format!(
        "{{\"type\":\"task\",\"id\":\"w\",\"argv\":[\"sh\",\"-c\",{}]}}\n",
        serde_json::to_string(script).unwrap()
    );
    let ran = run_bounded(
        sc_spawn()
            .env("SC_BWRAP", &bwrap)
            .current_dir(&repo)
            .args(["--sandbox", "--worktree"]),
        plan.into_bytes(),
    );
    let said = stdout_of(&ran);
    assert_eq!(ran.status.code(), Some(0), "{said}\n{}", ran.stderr);
    assert!(said.contains("committed"), "{said}");
    assert!(said.contains("hooks-read-only"), "{said}");
    assert!(!repo.join(".git/hooks/pre-commit").exists());
}

/// The sandbox composes with the rest of a worker's life: on a terminal
/// (`--pty`) the worker has one inside, and a retry is confined as its
/// first attempt was; in either kind.
#[test]
fn a_confined_worker_has_its_terminal_and_its_retries_confined_too() {
    let Some(bwrap) = bwrap() else { return };
    let mut kinds = vec!["--sandbox"];
    if crate::sandbox_landlock::landlock() {
        kinds.push("--sandbox=landlock");
    }
    for flag in kinds {
        let dir = temp_dir(&format!("sandbox-compose-{}", flag.len()));
        let ran = run_bounded(
            sc_spawn()
                .env("SC_BWRAP", &bwrap)
                .current_dir(&dir)
                .args([flag, "--pty", "--retries", "1", "--retry-delay", "0", "--"])
                .args([
                    "sh",
                    "-c",
                    "test -t 1 && echo on-a-terminal; touch /etc/sc-probe 2>/dev/null && echo open; \
                     if [ -e tried ]; then echo second; else touch tried; exit 1; fi",
                ]),
            Vec::new(),
        );
        let run = Captured::parse(&ran.stdout);
        assert_eq!(ran.status.code(), Some(0), "{flag}: {}", ran.stderr);
        let starts = starts_of(&run);
        assert_eq!(starts.len(), 2, "{flag}: a retry");
        let kind = flag.strip_prefix("--sandbox=").unwrap_or("bwrap");
        assert!(
            starts
                .iter()
                .all(|s| s.sandbox.as_deref() == Some(kind) && s.pty),
            "{flag}: {starts:?}"
        );
        let said = String::from_utf8_lossy(&run.bytes(Stream::Pty)).replace('\r', "");
        assert_eq!(said, "on-a-terminal\non-a-terminal\nsecond\n", "{flag}");
    }
}
