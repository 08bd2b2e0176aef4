//! `--sandbox`: a worker confined by bubblewrap, tried as the worker it
//! confines would try to get out: writing outside its directory, reading
//! the user's secrets, reaching the network, leaving things in /tmp; and
//! ended politely through the sandbox (its trap runs), and never run open
//! when the sandbox cannot be set up.

use std::process::{Command, Stdio};

use sc_events::{Body, Event, Stream};

use crate::util::*;

/// bubblewrap for the tests: SC_BWRAP (scripts/test unpacks Debian's
/// package into .ci/bwrap and sets it), or `bwrap` on the PATH.
pub fn bwrap() -> Option<String> {
    if let Some(path) = std::env::var_os("SC_BWRAP").filter(|p| !p.is_empty()) {
        return Some(path.to_string_lossy().into_owned());
    }
    let on_path = Command::new("bwrap").arg("--version").output().is_ok();
    if !on_path {
        engine_missing(
            "the --sandbox tests",
            "bubblewrap",
            "bubblewrap (or scripts/sandbox-tools)",
        );
    }
    on_path.then(|| "bwrap".to_owned())
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
    let home = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("sandbox-home-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&home);
    std::fs::create_dir_all(&home).unwrap();
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
    let pty = nix::pty::openpty(None, None).unwrap();
    let out = sc_spawn()
        .args(["--sandbox", "--stdin", "--", "cat"])
        .stdin(std::fs::File::from(pty.slave))
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

/// A web server on the host's loopback for the allow-list tests: answers
/// every request with its path, and counts the connections it took.
pub struct Site {
    pub port: u16,
    connections: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Site {
    pub fn start() -> Site {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let connections = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = connections.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                std::thread::spawn(move || {
                    let mut head = Vec::new();
                    let mut byte = [0u8; 1];
                    while !head.ends_with(b"\r\n\r\n") && conn.read(&mut byte).unwrap_or(0) == 1 {
                        head.push(byte[0]);
                    }
                    let head = String::from_utf8_lossy(&head);
                    let path = head.split(' ').nth(1).unwrap_or("?").to_owned();
                    let body = format!("site says {path}\n");
                    let _ = write!(
                        conn,
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                });
            }
        });
        Site { port, connections }
    }

    pub fn connections(&self) -> usize {
        self.connections.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// What a worker inside runs to reach the web: plain HTTP through the
/// proxy variables (as urllib, curl, npm do), and HTTPS's way, a CONNECT
/// tunnel; each result a line.
pub const FETCH: &str = r#"
import http.client, os, sys, urllib.parse, urllib.request
proxy = urllib.parse.urlsplit(os.environ.get("https_proxy", "http://127.0.0.1:3128"))
for url in sys.argv[1:]:
    try:
        if url.startswith("tunnel:"):
            host, port = url[7:].split(":")
            conn = http.client.HTTPConnection(proxy.hostname, proxy.port, timeout=5)
            conn.set_tunnel(host, int(port))
            conn.request("GET", "/tunnelled")
            print(conn.getresponse().read().decode().strip())
        else:
            print(urllib.request.urlopen(url, timeout=5).read().decode().strip())
    except Exception as e:
        print("failed:", getattr(e, "code", None) or e)
    sys.stdout.flush()
"#;

#[test]
fn an_allowed_host_is_reached_and_another_refused_with_its_event() {
    let Some(bwrap) = bwrap() else { return };
    let (allowed, other) = (Site::start(), Site::start());
    let dir = temp_dir("sandbox-allow");
    // sc's private state in a folder of the test's: what is left there is seen.
    let runs = temp_dir("sandbox-allow-runs");
    std::fs::set_permissions(&runs, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let (a, o) = (allowed.port, other.port);
    let ran = run_bounded(
        sc_spawn()
            .env("SC_BWRAP", &bwrap)
            .env("XDG_RUNTIME_DIR", &runs)
            .current_dir(&dir)
            .args(["--sandbox", &format!("--sandbox-net=127.0.0.1:{a}"), "--"])
            .args(["python3", "-c", FETCH])
            .arg(format!("http://127.0.0.1:{a}/plain"))
            .arg(format!("tunnel:127.0.0.1:{a}"))
            .arg(format!("http://127.0.0.1:{o}/other"))
            .arg(format!("tunnel:127.0.0.1:{o}")),
        Vec::new(),
    );
    let run = Captured::parse(&ran.stdout);
    let said = stdout_of(&ran);
    assert_eq!(
        said,
        "site says /plain\nsite says /tunnelled\nfailed: 403\nfailed: Tunnel connection failed: 403 Forbidden\n",
        "{}",
        ran.stderr
    );
    assert_eq!(allowed.connections(), 2);
    assert_eq!(
        other.connections(),
        0,
        "the refused host was never connected to"
    );
    // Each refusal is an event, said before the worker's complaint about it.
    let refusals: Vec<&Event> = run
        .events
        .iter()
        .filter(|e| e.type_name() == "sandbox")
        .collect();
    assert_eq!(refusals.len(), 2, "{:?}", run.events);
    for refusal in &refusals {
        let Body::Sandbox(note) = &refusal.body else {
            unreachable!()
        };
        assert_eq!(note.decision, "refused");
        assert_eq!(note.net.as_deref(), Some(format!("127.0.0.1:{o}").as_str()));
        assert!(
            note.message
                .contains(&format!("--sandbox-net 127.0.0.1:{o}")),
            "{}",
            note.message
        );
    }
    let first_failure = run
        .events
        .iter()
        .find(|e| output(e).is_some() && text(e).contains("failed"))
        .unwrap();
    assert!(
        refusals[0].seq < first_failure.seq,
        "the refusal comes first"
    );
    assert_view_checks(&ran.stdout);
    let viewed = run_bounded(
        Command::new(env!("CARGO_BIN_EXE_sc-view")).arg("--plain"),
        ran.stdout.clone(),
    );
    let shown = String::from_utf8_lossy(&viewed.stdout);
    assert!(
        shown.contains(&format!(
            "sandbox refused: 127.0.0.1:{o} (not on its --sandbox-net)"
        )),
        "{shown}"
    );
    // The proxy's socket went with the worker.
    let left: Vec<_> = std::fs::read_dir(runs.join("sc"))
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// A worker that lies to the proxy: a second request on a connection it
/// opened to an allowed host, naming another; garbage; a name that only
/// ends like an allowed one. None reaches anything but the allowed host.
#[test]
fn a_worker_cannot_talk_the_proxy_into_another_host() {
    let Some(bwrap) = bwrap() else { return };
    let (allowed, other) = (Site::start(), Site::start());
    let dir = temp_dir("sandbox-lies");
    let (a, o) = (allowed.port, other.port);
    let script = format!(
        r#"
import socket
def send(data):
    s = socket.create_connection(("127.0.0.1", 3128), 5)
    s.sendall(data)
    got = b""
    while True:
        chunk = s.recv(65536)
        if not chunk: break
        got += chunk
    print(got.split(b"\r\n")[0].decode())
send(b"GET http://127.0.0.1:{a}/one HTTP/1.1\r\nHost: 127.0.0.1:{a}\r\n\r\nGET http://127.0.0.1:{o}/two HTTP/1.1\r\nHost: 127.0.0.1:{o}\r\n\r\n")
send(b"\x00\x01\x02 not http\r\n\r\n")
send(b"CONNECT 127.0.0.1.evil:{a} HTTP/1.1\r\n\r\n")
send(b"GET http://user@127.0.0.1:{o}/x HTTP/1.1\r\n\r\n")
"#
    );
    let ran = run_bounded(
        sc_spawn()
            .env("SC_BWRAP", &bwrap)
            .current_dir(&dir)
            .args(["--sandbox", &format!("--sandbox-net=127.0.0.1:{a}"), "--"])
            .args(["python3", "-c", &script]),
        Vec::new(),
    );
    let said = stdout_of(&ran);
    assert_eq!(
        said,
        "HTTP/1.1 200 OK\nHTTP/1.1 400 Bad Request\nHTTP/1.1 403 Forbidden\nHTTP/1.1 403 Forbidden\n",
        "{}",
        ran.stderr
    );
    assert_eq!(other.connections(), 0);
    assert_eq!(allowed.connections(), 1);
}

#[test]
fn sandbox_net_host_shares_the_whole_network_and_bad_lists_are_usage_errors() {
    let Some(bwrap) = bwrap() else { return };
    let site = Site::start();
    let dir = temp_dir("sandbox-hostnet");
    let script = format!(
        "python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", {}), 2)' \
         2>/dev/null && echo connected || echo unreachable",
        site.port
    );
    let ran = run_bounded(
        sc_spawn().env("SC_BWRAP", &bwrap).current_dir(&dir).args([
            "--sandbox",
            "--sandbox-net",
            "host",
            "--",
            "sh",
            "-c",
            &script,
        ]),
        Vec::new(),
    );
    assert_eq!(stdout_of(&ran), "connected\n", "{}", ran.stderr);
    for list in ["exa mple.com", "a.test:99999", "::1"] {
        let out = sc_spawn()
            .args(["--sandbox", "--sandbox-net", list, "--", "true"])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{list}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!("`{list}`")) && err.contains("HOST:PORT"),
            "{err}"
        );
    }
    let out = sc_spawn()
        .args(["--sandbox-net", "a.test", "--", "true"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "--sandbox-net needs --sandbox");
}

/// sc-spawn killed outright (SIGKILL) cannot remove its proxy's socket;
/// the next confined run of the user's does, and only sockets of runs that
/// are gone (a live run's stays).
#[test]
fn a_proxy_socket_left_by_a_killed_run_is_swept_by_the_next() {
    let Some(bwrap) = bwrap() else { return };
    let dir = temp_dir("sandbox-sweep");
    let runs = temp_dir("sandbox-sweep-runs");
    std::fs::set_permissions(&runs, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let confined = |args: &[&str]| {
        let mut command = sc_spawn();
        command
            .env("SC_BWRAP", &bwrap)
            .env("XDG_RUNTIME_DIR", &runs)
            .current_dir(&dir)
            .args(["--sandbox", "--"])
            .args(args);
        command
    };
    let mut live = Live::start_with(&mut confined(&["sh", "-c", "echo up; exec sleep 60"]));
    live.until(|e| output(e).is_some());
    let sockets = || -> Vec<String> {
        std::fs::read_dir(runs.join("sc"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("net-"))
            .collect()
    };
    let killed = sockets();
    assert_eq!(killed.len(), 1, "{killed:?}");
    live.signal(nix::sys::signal::Signal::SIGKILL);
    let _ = live.finish();
    assert_eq!(sockets(), killed, "left behind by the killed run");
    // A socket of a live run (this test's pid) is not swept.
    let alive = runs.join(format!("sc/net-{}-7.sock", std::process::id()));
    let _listener = std::os::unix::net::UnixListener::bind(&alive).unwrap();
    let ran = run_bounded(&mut confined(&["true"]), Vec::new());
    assert_eq!(ran.status.code(), Some(0), "{}", ran.stderr);
    assert_eq!(
        sockets(),
        [format!("net-{}-7.sock", std::process::id())],
        "the dead run's swept, the live one's kept"
    );
}
