//! `--sandbox-net`: a confined worker's network goes through sc's proxy,
//! which lets the allowed hosts through, refuses the others with an event,
//! cannot be talked into another host, and leaves nothing behind.

use std::process::{Command, Stdio};

use sc_events::{Body, Event};

use crate::sandbox::{bwrap, stdout_of};
use crate::util::*;

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

/// The relay's files are bound into the sandbox's own space, never into a
/// folder of the host's that is writable inside: with the host's /tmp
/// writable (`--sandbox-write /tmp`, or a worker run in /tmp), bubblewrap
/// made their mount points there, in the host's /tmp, and left them.
#[test]
fn the_relay_plants_nothing_in_a_writable_host_folder() {
    let Some(bwrap) = bwrap() else { return };
    let site = Site::start();
    let dir = temp_dir("sandbox-relay-plants");
    let ran = run_bounded(
        sc_spawn()
            .env("SC_BWRAP", &bwrap)
            .current_dir(&dir)
            .args(["--sandbox", "--sandbox-write=/tmp"])
            .arg(format!("--sandbox-net=127.0.0.1:{}", site.port))
            .args(["--", "python3", "-c", FETCH])
            .arg(format!("http://127.0.0.1:{}/plain", site.port)),
        Vec::new(),
    );
    assert_eq!(stdout_of(&ran), "site says /plain\n", "{}", ran.stderr);
    assert!(
        !std::path::Path::new("/tmp/.sc-net").exists(),
        "mount points planted in the host's /tmp"
    );
}
