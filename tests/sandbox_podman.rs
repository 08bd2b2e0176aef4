//! `--sandbox=podman:IMAGE`: a worker in a container of an image that
//! has what the host lacks, under the rules of every sandbox (its
//! directory writable, the rest of the host absent, secrets covered, the
//! network only through sc's proxy), ended politely, and leaving no
//! container behind, even when sc-spawn is SIGKILLed.

use std::process::{Command, Stdio};
use std::sync::OnceLock;

use sc_events::{Body, Stream};

use crate::sandbox::ended_politely;
use crate::sandbox_net::Site;
use crate::util::*;

/// The test image: busybox alone (no C library: the relay must bring the
/// host's), and a program of its own, `imagetool`, that the host has not.
const IMAGE: &str = "localhost/sc-test-busybox:1";

/// podman, with the test image made (once per test run, from the host's
/// static busybox: no registry is reached). None (skipped) without them.
fn podman() -> Option<String> {
    static MADE: OnceLock<Option<String>> = OnceLock::new();
    MADE.get_or_init(|| {
        let find = |name: &str| {
            std::env::var_os("PATH")
                .iter()
                .flat_map(std::env::split_paths)
                .map(|dir| dir.join(name))
                .find(|p| p.is_file())
        };
        let (Some(podman), Some(busybox)) = (find("podman"), find("busybox")) else {
            engine_missing(
                "the podman sandbox tests",
                "podman",
                "podman runc busybox-static",
            );
            return None;
        };
        // Rootless podman needs subordinate ids set up; where it cannot
        // run at all, these tests cannot either.
        let works = Command::new(&podman)
            .args(["info", "--format", "{{.Host.OCIRuntime.Name}}"])
            .output()
            .is_ok_and(|o| o.status.success());
        if !works {
            engine_missing(
                "the podman sandbox tests",
                "a working podman (`podman info` fails)",
                "podman runc busybox-static",
            );
            return None;
        }
        let exists = Command::new(&podman)
            .args(["image", "exists", IMAGE])
            .status()
            .is_ok_and(|s| s.success());
        if !exists {
            make_image(&podman, &busybox);
        }
        Some(podman.to_string_lossy().into_owned())
    })
    .clone()
}

fn make_image(podman: &std::path::Path, busybox: &std::path::Path) {
    let root = temp_dir("podman-image-root");
    let bin = root.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::create_dir_all(root.join("tmp")).unwrap();
    std::fs::copy(busybox, bin.join("busybox")).unwrap();
    let applets = Command::new(busybox).arg("--list").output().unwrap();
    for applet in String::from_utf8_lossy(&applets.stdout).lines() {
        let _ = std::os::unix::fs::symlink("busybox", bin.join(applet));
    }
    executable(
        &bin.join("imagetool"),
        "#!/bin/sh\necho \"imagetool in the image: $*\"\n",
    );
    let mut tar = Command::new("tar")
        .arg("-C")
        .arg(&root)
        .args(["-c", "."])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let imported = Command::new(podman)
        .args(["import", "--change", "ENV PATH=/bin", "-", IMAGE])
        .stdin(tar.stdout.take().unwrap())
        .output()
        .unwrap();
    assert!(tar.wait().unwrap().success());
    assert!(
        imported.status.success(),
        "podman import: {}",
        String::from_utf8_lossy(&imported.stderr)
    );
}

fn kind() -> String {
    format!("--sandbox=podman:{IMAGE}")
}

/// No container of this run's sc-spawn (named `sc-PID-N`) is left, within
/// a bound: its guard removes one a killed `podman run` left. Checked once
/// no process names one any more (a `podman run` still making it, the
/// guard's `podman rm`): then none can appear later.
fn no_container_of(podman: &str, pid: u32) -> Vec<String> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let named = format!("sc-{pid}-");
    let busy = || {
        std::fs::read_dir("/proc").unwrap().flatten().any(|entry| {
            std::fs::read(entry.path().join("cmdline")).is_ok_and(|c| {
                c.split(|b| *b == 0)
                    .any(|w| w.starts_with(named.as_bytes()))
            })
        })
    };
    loop {
        if busy() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(50));
            continue;
        }
        let listed = Command::new(podman)
            .args(["ps", "--all", "--format", "{{.Names}}"])
            .output()
            .unwrap();
        let left: Vec<String> = String::from_utf8_lossy(&listed.stdout)
            .lines()
            .filter(|name| name.starts_with(&format!("sc-{pid}-")))
            .map(str::to_owned)
            .collect();
        if left.is_empty() || std::time::Instant::now() > deadline {
            return left;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Runs `command` (stdin empty) to its end: sc-spawn's pid (what its
/// containers are named after) and its stream.
fn run_with_pid(command: &mut Command) -> (u32, Captured, String) {
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (pid, Captured::parse(&out.stdout), stderr)
}

#[test]
fn a_worker_in_an_image_has_its_tools_writes_only_its_directory_and_sees_no_host() {
    let Some(podman) = podman() else { return };
    let dir = temp_dir("podman-confined");
    let home = temp_dir("podman-home");
    std::fs::create_dir_all(home.join(".ssh")).unwrap();
    std::fs::write(home.join(".ssh/id_ed25519"), "PRIVATE KEY").unwrap();
    std::fs::write(home.join("notes"), "kept").unwrap();
    let outside = temp_dir("podman-outside");
    let (d, h, o) = (dir.display(), home.display(), outside.display());
    let script = format!(
        "imagetool hello; \
         echo made > {d}/made && echo wrote-inside; \
         touch /etc/planted 2>/dev/null || echo root-read-only; \
         echo more >> {h}/notes && echo wrote-home; \
         cat {h}/.ssh/id_ed25519 2>/dev/null || echo key-hidden; \
         ls {o} 2>/dev/null || echo outside-absent; \
         test -e /usr/bin/python3 || echo host-absent; \
         echo key=$SC_TEST_SECRET_NAME"
    );
    let (pid, run, stderr) = run_with_pid(
        sc_spawn()
            .env("SC_PODMAN", &podman)
            .env("HOME", &home)
            .env("SC_TEST_SECRET_NAME", "passed-by-name")
            .current_dir(&dir)
            .args([kind(), format!("--sandbox-write={h}")])
            .args(["--", "sh", "-c", &script]),
    );
    let said = String::from_utf8_lossy(&run.bytes(Stream::Stdout)).into_owned();
    assert_eq!(
        said,
        "imagetool in the image: hello\nwrote-inside\nroot-read-only\nwrote-home\nkey-hidden\n\
         outside-absent\nhost-absent\nkey=passed-by-name\n",
        "{stderr}"
    );
    assert_eq!(std::fs::read_to_string(dir.join("made")).unwrap(), "made\n");
    assert_eq!(
        std::fs::read_to_string(home.join("notes")).unwrap(),
        "keptmore\n"
    );
    assert_eq!(
        std::fs::read_to_string(home.join(".ssh/id_ed25519")).unwrap(),
        "PRIVATE KEY",
        "the cover over the secret left it as it was"
    );
    let start = starts_of(&run)[0].clone();
    assert_eq!(
        start.sandbox.as_deref(),
        Some(&kind()["--sandbox=".len()..])
    );
    assert_eq!(run.exit().code, Some(0));
    assert_eq!(no_container_of(&podman, pid), Vec::<String>::new());
}

#[test]
fn in_an_image_without_a_c_library_the_network_goes_through_the_proxy() {
    let Some(podman) = podman() else { return };
    let (allowed, other) = (Site::start(), Site::start());
    let dir = temp_dir("podman-net");
    let (a, o) = (allowed.port, other.port);
    let script = format!(
        "wget -q -O - http://127.0.0.1:{a}/allowed || echo allowed-failed; \
         wget -q -O - http://127.0.0.1:{o}/other 2>/dev/null || echo other-refused"
    );
    let ran = run_bounded(
        sc_spawn()
            .env("SC_PODMAN", &podman)
            .current_dir(&dir)
            .arg(kind())
            .arg(format!("--sandbox-net=127.0.0.1:{a}"))
            .args(["--", "sh", "-c", &script]),
        Vec::new(),
    );
    let run = Captured::parse(&ran.stdout);
    let said = String::from_utf8_lossy(&run.bytes(Stream::Stdout)).into_owned();
    assert_eq!(
        said, "site says /allowed\nother-refused\n",
        "{}",
        ran.stderr
    );
    assert_eq!(other.connections(), 0);
    let refused: Vec<_> = run
        .events
        .iter()
        .filter_map(|e| match &e.body {
            Body::Sandbox(note) => Some(note.net.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(refused, vec![Some(format!("127.0.0.1:{o}"))]);
    // Without --sandbox-net: no network at all, the proxy's port included
    // (nothing listens there), and the attempt is said.
    let ran = run_bounded(
        sc_spawn()
            .env("SC_PODMAN", &podman)
            .current_dir(&dir)
            .arg(kind())
            .args(["--", "sh", "-c"])
            .arg(format!(
                "wget -q -T 2 -O - http://127.0.0.1:{a}/direct 2>/dev/null || echo no-network"
            )),
        Vec::new(),
    );
    assert_eq!(
        String::from_utf8_lossy(&Captured::parse(&ran.stdout).bytes(Stream::Stdout)),
        "no-network\n"
    );
    assert_eq!(allowed.connections(), 1, "only the allowed fetch got there");
}

#[test]
fn a_worker_in_a_container_is_ended_politely() {
    let Some(podman) = podman() else { return };
    ended_politely(sc_spawn().env("SC_PODMAN", &podman).arg(kind()));
}

/// A worker that ignores SIGTERM is killed at the end of the grace: the
/// killed `podman run` leaves its container running, which the guard
/// removes; so it does when sc-spawn itself is SIGKILLed.
#[test]
fn no_container_outlives_a_hard_stop_or_a_killed_sc_spawn() {
    let Some(podman) = podman() else { return };
    let dir = temp_dir("podman-hard");
    let stubborn = "trap '' TERM INT; echo up; while :; do sleep 0.1; done";
    let (pid, run, stderr) = run_with_pid(
        sc_spawn()
            .env("SC_PODMAN", &podman)
            .current_dir(&dir)
            .args([&kind(), "--timeout", "1", "--kill-grace", "1", "--"])
            .args(["sh", "-c", stubborn]),
    );
    assert_eq!(run.exit().signal.as_deref(), Some("SIGKILL"), "{stderr}");
    assert_eq!(no_container_of(&podman, pid), Vec::<String>::new());

    // SIGKILLed once the container runs (its output is in the stream), and
    // at its start event, while podman may still be making it.
    for when in ["\"type\":\"output\"", "\"type\":\"start\""] {
        let mut child = sc_spawn()
            .env("SC_PODMAN", &podman)
            .current_dir(&dir)
            .args([&kind(), "--", "sh", "-c", stubborn])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut lines = std::io::BufRead::lines(stdout);
        assert!(lines.any(|l| l.unwrap().contains(when)), "{when}");
        let pid = child.id();
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(
            no_container_of(&podman, pid),
            Vec::<String>::new(),
            "{when}"
        );
    }
}

#[test]
fn without_podman_or_an_image_the_worker_does_not_run() {
    let dir = temp_dir("podman-closed");
    let marker = dir.join("ran");
    let out = sc_spawn()
        .env("SC_PODMAN", dir.join("no-such-podman"))
        .arg(kind())
        .args(["--", "touch"])
        .arg(&marker)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(127));
    assert!(!marker.exists(), "it ran unconfined");
    let errors = Captured::parse(&out.stdout).errors().join("\n");
    assert!(
        errors.contains("SC_PODMAN") && errors.contains("does not run"),
        "{errors}"
    );
    for bad in [
        "--sandbox=podman",
        "--sandbox=podman:",
        "--sandbox=podman:-x",
    ] {
        let out = sc_spawn()
            .args([bad, "--", "true"])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("podman:IMAGE")
                || String::from_utf8_lossy(&out.stderr).contains("image"),
            "{bad}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// `--pty` gives the worker podman's terminal, `--stdin` its stdin; what a
/// container cannot do (`--pty=stdout`: stderr apart from a terminal) is
/// an error, and the worker does not run.
#[test]
fn a_container_worker_gets_a_terminal_or_stdin_and_a_split_terminal_is_refused() {
    let Some(podman) = podman() else { return };
    let dir = temp_dir("podman-attach");
    let contained = |flags: &[&str], script: &str, input: &[u8]| {
        run_bounded(
            sc_spawn()
                .env("SC_PODMAN", &podman)
                .current_dir(&dir)
                .arg(kind())
                .args(flags)
                .args(["--", "sh", "-c", script]),
            input.to_vec(),
        )
    };
    let ran = contained(&["--pty"], "test -t 1 && echo on-a-terminal", b"");
    let said =
        String::from_utf8_lossy(&Captured::parse(&ran.stdout).bytes(Stream::Pty)).into_owned();
    assert_eq!(said.trim_end(), "on-a-terminal", "{}", ran.stderr);
    let ran = contained(&["--stdin"], "read line; echo got $line", b"typed\n");
    assert_eq!(stdout_text(&ran), "got typed\n", "{}", ran.stderr);
    let marker = dir.join("ran");
    let out = sc_spawn()
        .env("SC_PODMAN", &podman)
        .current_dir(&dir)
        .args([&kind(), "--pty=stdout", "--", "touch"])
        .arg(&marker)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(127));
    assert!(!marker.exists());
    let errors = Captured::parse(&out.stdout).errors().join("\n");
    assert!(errors.contains("--pty=stdout"), "{errors}");
}

fn stdout_text(ran: &Ran) -> String {
    String::from_utf8_lossy(&Captured::parse(&ran.stdout).bytes(Stream::Stdout)).into_owned()
}

/// A plan's task asks for its image by its `sandbox.kind`; its neighbour
/// runs on the host, unconfined; a kind without an image is the task's
/// error, and it does not run.
#[test]
fn a_task_names_its_image_in_its_sandbox_kind() {
    let Some(podman) = podman() else { return };
    let dir = temp_dir("podman-task");
    let line = |id: &str, sandbox: &str| {
        format!(
            "{{\"type\":\"task\",\"id\":\"{id}\",\"argv\":[\"sh\",\"-c\",\"imagetool from-{id} 2>/dev/null || echo no-imagetool\"]{sandbox}}}\n"
        )
    };
    let plan = [
        line(
            "boxed",
            &format!(",\"sandbox\":{{\"kind\":\"podman:{IMAGE}\"}}"),
        ),
        line("host", ""),
        line("bad", ",\"sandbox\":{\"kind\":\"podman\"}"),
    ]
    .concat();
    let ran = run_bounded(
        sc_spawn().env("SC_PODMAN", &podman).current_dir(&dir),
        plan.into_bytes(),
    );
    let run = Captured::parse(&ran.stdout);
    let said = |id: &str| -> String {
        run.events
            .iter()
            .filter(|e| e.worker == id && output(e).is_some())
            .map(text)
            .collect()
    };
    assert_eq!(
        said("boxed"),
        "imagetool in the image: from-boxed\n",
        "{}",
        ran.stderr
    );
    assert_eq!(said("host"), "no-imagetool\n");
    assert_eq!(said("bad"), "");
    let errors = run.errors().join("\n");
    assert!(errors.contains("podman:IMAGE"), "{errors}");
}

/// A task placed on an ssh host runs in a container there, made by the
/// sc-spawn there (here, the same machine's podman and image).
#[test]
fn a_task_on_a_host_runs_in_a_container_there() {
    let Some(podman) = podman() else { return };
    let Some(config) = crate::sshd::sshd() else {
        return;
    };
    let dir = temp_dir("podman-remote");
    let ran = run_bounded(
        sc_spawn()
            .current_dir(&dir)
            .args(["--host", "lab", &kind(), "--ssh"])
            .arg(format!(
                "ssh -F {} -o SetEnv=SC_PODMAN={podman}",
                config.display()
            ))
            .args(["--remote-sc", env!("CARGO_BIN_EXE_sc-spawn")])
            .args([
                "--",
                "sh",
                "-c",
                "imagetool there; touch /etc/planted || exit 3",
            ]),
        Vec::new(),
    );
    let run = Captured::parse(&ran.stdout);
    assert_eq!(ran.status.code(), Some(3), "{}", ran.stderr);
    let said = String::from_utf8_lossy(&run.bytes(Stream::Stdout)).into_owned();
    assert_eq!(said, "imagetool in the image: there\n");
    let start = starts_of(&run)[0];
    assert_eq!(start.host.as_deref(), Some("lab"));
    assert_eq!(
        start.sandbox.as_deref(),
        Some(&kind()["--sandbox=".len()..])
    );
}
