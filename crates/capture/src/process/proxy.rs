//! The network allow-list's proxy: sc's own, on the host, reached by a
//! sandboxed worker only through a unix socket bound into its sandbox (its
//! network namespace is otherwise empty: that is the boundary, the proxy
//! only says which names get through). It serves `CONNECT host:port`
//! (HTTPS, anything tunnelled) and plain HTTP requests whose URI names the
//! host, checks the name against the worker's [`Net`], and connects to
//! exactly the name it checked. A refusal is answered `403` and said on a
//! pipe the worker reads, so that it becomes a `sandbox` event in the
//! stream before the worker's own complaint about it.
//!
//! It runs on threads of its own (one accepting, two per connection):
//! name lookups and connects block, and never on the poller's thread.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::os::fd::OwnedFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use super::net::Net;

/// The longest request head read (a proxy request's line and headers).
const MAX_HEAD: usize = 32 * 1024;
/// Connections one worker may have open through it at once.
const MAX_CONNECTIONS: usize = 256;
/// How long a client has to send its request, and a host to answer a connect.
const WAIT: Duration = Duration::from_secs(30);

/// A refusal, as the worker reads it from its pipe: one JSON line.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Refusal {
    /// `host:port` asked for.
    pub net: String,
}

/// A running proxy; dropping it stops it and removes its socket.
#[derive(Debug)]
pub struct Proxy {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Proxy {
    /// Listen on a new socket in sc's private runs folder, for `net`;
    /// refusals written (without blocking) on `reports`.
    pub fn start(net: Net, reports: OwnedFd) -> io::Result<Proxy> {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        static SWEPT: std::sync::Once = std::sync::Once::new();
        let dir = crate::private::runs_dir()?;
        // Once a run: the sockets of proxies whose run was killed outright.
        SWEPT
            .call_once(|| crate::private::sweep_dead(&dir, "net", nix::sys::stat::SFlag::S_IFSOCK));
        let name = format!(
            "net-{}-{}.sock",
            std::process::id(),
            COUNT.fetch_add(1, Ordering::Relaxed)
        );
        let path = dir.path().join(name);
        // The folder is checked private (this user's, 0700, no link); a
        // socket of a killed run with the same pid and number is replaced,
        // nothing else is.
        if crate::private::is_own(&path, nix::sys::stat::SFlag::S_IFSOCK) {
            std::fs::remove_file(&path)?;
        }
        let listener = UnixListener::bind(&path).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot listen on {}: {e}", path.display()),
            )
        })?;
        let stop = Arc::new(AtomicBool::new(false));
        let shared = Arc::new(Shared {
            net,
            reports: std::fs::File::from(reports),
            open: AtomicUsize::new(0),
        });
        let stopped = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("sc-net-proxy".into())
            .spawn(move || accept(&listener, &stopped, &shared))
            .inspect_err(|_| {
                let _ = std::fs::remove_file(&path);
            })?;
        Ok(Proxy {
            path,
            stop,
            thread: Some(thread),
        })
    }

    /// Its socket on the host.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accepting thread: it sees the flag and ends.
        let _ = UnixStream::connect(&self.path);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

struct Shared {
    net: Net,
    reports: std::fs::File,
    open: AtomicUsize,
}

fn accept(listener: &UnixListener, stop: &AtomicBool, shared: &Arc<Shared>) {
    for conn in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(mut conn) = conn else { continue };
        if shared.open.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
            shared.open.fetch_sub(1, Ordering::SeqCst);
            let _ = answer(
                &mut conn,
                "503 Service Unavailable",
                "too many connections at once",
            );
            continue;
        }
        let mine = Arc::clone(shared);
        let spawned = std::thread::Builder::new()
            .name("sc-net-conn".into())
            .spawn(move || {
                serve(conn, &mine);
                mine.open.fetch_sub(1, Ordering::SeqCst);
            });
        if spawned.is_err() {
            shared.open.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// What a client asked for.
#[derive(Debug, PartialEq, Eq)]
struct Asked {
    host: String,
    port: u16,
    /// Plain HTTP: the head to send on (in origin form), and what of the
    /// body came with it. None for CONNECT.
    forward: Option<Vec<u8>>,
}

fn serve(mut conn: UnixStream, shared: &Shared) {
    let _ = conn.set_read_timeout(Some(WAIT));
    let asked = match read_request(&mut conn) {
        Ok(asked) => asked,
        Err(why) => {
            let _ = answer(&mut conn, "400 Bad Request", &why);
            return;
        }
    };
    let net = join_host_port(&asked.host, asked.port);
    if !shared.net.allows(&asked.host, asked.port) {
        // Said before the answer: the worker's complaint comes after it.
        let mut line = serde_json::to_vec(&Refusal { net: net.clone() }).unwrap_or_default();
        line.push(b'\n');
        let _ = (&shared.reports).write_all(&line);
        let why =
            format!("sc sandbox: {net} is not on this worker's network allow-list (--sandbox-net)");
        let _ = answer(&mut conn, "403 Forbidden", &why);
        return;
    }
    let upstream = match connect(&asked.host, asked.port) {
        Ok(upstream) => upstream,
        Err(e) => {
            let _ = answer(
                &mut conn,
                "502 Bad Gateway",
                &format!("sc sandbox: {net}: {e}"),
            );
            return;
        }
    };
    let _ = conn.set_read_timeout(None);
    let mut upstream_w = upstream;
    match &asked.forward {
        None => {
            if conn
                .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                .is_err()
            {
                return;
            }
        }
        Some(head) => {
            if upstream_w.write_all(head).is_err() {
                return;
            }
        }
    }
    let (Ok(conn_r), Ok(upstream_r)) = (conn.try_clone(), upstream_w.try_clone()) else {
        return;
    };
    // Each direction copied until its end; then both sockets shut, so that
    // the other direction ends too and nothing outlives the sandbox.
    let back = std::thread::Builder::new()
        .name("sc-net-back".into())
        .spawn(move || {
            let (mut from, mut to) = (upstream_r, conn_r);
            let _ = io::copy(&mut from, &mut to);
            let _ = to.shutdown(Shutdown::Both);
            let _ = from.shutdown(Shutdown::Both);
        });
    let _ = io::copy(&mut conn, &mut upstream_w);
    let _ = upstream_w.shutdown(Shutdown::Write);
    if let Ok(back) = back {
        let _ = back.join();
    }
}

fn join_host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

fn connect(host: &str, port: u16) -> io::Result<TcpStream> {
    let mut last = io::Error::new(io::ErrorKind::NotFound, "the name has no address");
    for addr in (host, port).to_socket_addrs()? {
        match TcpStream::connect_timeout(&addr, WAIT) {
            Ok(stream) => {
                // What the worker sent goes on as it came: Nagle would hold
                // a small write back for the host's delayed ACK (40 ms).
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}

fn answer(conn: &mut UnixStream, status: &str, why: &str) -> io::Result<()> {
    let body = format!("{why}\n");
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    conn.write_all(head.as_bytes())?;
    conn.write_all(body.as_bytes())
}

/// Read a proxy request's head (and whatever of a body came with it).
fn read_request(conn: &mut impl Read) -> Result<Asked, String> {
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    loop {
        let n = conn
            .read(&mut chunk)
            .map_err(|e| format!("reading the request: {e}"))?;
        if n == 0 {
            return Err("the request ended before its head did".to_owned());
        }
        buf.extend_from_slice(&chunk[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 128];
        let mut request = httparse::Request::new(&mut headers);
        match request.parse(&buf) {
            Ok(httparse::Status::Complete(len)) => return asked(&request, &buf[len..]),
            Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD => {}
            Ok(httparse::Status::Partial) => return Err("the request's head is too long".into()),
            Err(e) => return Err(format!("not an HTTP proxy request: {e}")),
        }
    }
}

fn asked(request: &httparse::Request<'_, '_>, rest: &[u8]) -> Result<Asked, String> {
    let method = request.method.unwrap_or_default();
    let target = request.path.unwrap_or_default();
    if method.eq_ignore_ascii_case("CONNECT") {
        let (host, port) = authority(target, None)?;
        return Ok(Asked {
            host,
            port,
            forward: None,
        });
    }
    let Some(after) = target
        .get(..7)
        .filter(|s| s.eq_ignore_ascii_case("http://"))
        .map(|_| &target[7..])
    else {
        return Err(format!(
            "`{target}`: a request through the proxy names its host (http://HOST/...), or is a CONNECT"
        ));
    };
    let (authority_part, path) = match after.find(['/', '?']) {
        Some(i) => (&after[..i], &after[i..]),
        None => (after, "/"),
    };
    let (host, port) = authority(authority_part, Some(80))?;
    let path = if path.starts_with('?') {
        format!("/{path}")
    } else {
        path.to_owned()
    };
    // The request in origin form, its hop-by-hop headers dropped, one
    // request per connection (a second one could name another host).
    let mut head = format!("{method} {path} HTTP/1.1\r\n").into_bytes();
    for header in request.headers.iter() {
        let hop = [
            "connection",
            "proxy-connection",
            "keep-alive",
            "proxy-authorization",
        ];
        if hop.iter().any(|h| header.name.eq_ignore_ascii_case(h)) {
            continue;
        }
        head.extend_from_slice(header.name.as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(header.value);
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(b"Connection: close\r\n\r\n");
    head.extend_from_slice(rest);
    Ok(Asked {
        host,
        port,
        forward: Some(head),
    })
}

/// `host:port` (or `[v6]:port`); the port may be left out where there is a
/// default.
fn authority(text: &str, default: Option<u16>) -> Result<(String, u16), String> {
    let bad = || format!("`{text}` is no HOST:PORT");
    let text = text.rsplit_once('@').map_or(text, |(_, host)| host);
    let (host, port) = match text.strip_prefix('[') {
        Some(rest) => {
            let (host, after) = rest.split_once(']').ok_or_else(bad)?;
            (host, after.strip_prefix(':'))
        }
        None => match text.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (text, None),
        },
    };
    let port = match port {
        Some(port) => port
            .parse::<u16>()
            .ok()
            .filter(|&p| p > 0)
            .ok_or_else(bad)?,
        None => default.ok_or_else(bad)?,
    };
    let fine = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'_');
    if host.is_empty() || !host.bytes().all(fine) {
        return Err(bad());
    }
    Ok((host.to_owned(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Asked, String> {
        read_request(&mut text.as_bytes())
    }

    /// A relayed small write goes at once: with Nagle on, a request's
    /// round trip through the proxy took 48 ms at p99 instead of 1.3 ms
    /// (`scripts/bench sandbox`).
    #[test]
    fn the_connection_to_a_host_sends_small_writes_at_once() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stream = connect("127.0.0.1", port).unwrap();
        assert!(stream.nodelay().unwrap());
    }

    #[test]
    fn connect_names_its_host_and_port() {
        let asked =
            parse("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n").unwrap();
        assert_eq!(
            (asked.host.as_str(), asked.port, asked.forward),
            ("example.com", 443, None)
        );
        let asked = parse("CONNECT [::1]:8443 HTTP/1.1\r\n\r\n").unwrap();
        assert_eq!((asked.host.as_str(), asked.port), ("::1", 8443));
        assert!(
            parse("CONNECT example.com HTTP/1.1\r\n\r\n").is_err(),
            "no port"
        );
    }

    #[test]
    fn plain_http_goes_on_in_origin_form_one_request_a_connection() {
        let asked = parse(
            "POST http://127.0.0.1:9/v1/messages?beta=true HTTP/1.1\r\nHost: 127.0.0.1:9\r\n\
             Proxy-Connection: keep-alive\r\nContent-Length: 2\r\n\r\nhi",
        )
        .unwrap();
        assert_eq!((asked.host.as_str(), asked.port), ("127.0.0.1", 9));
        let head = String::from_utf8(asked.forward.unwrap()).unwrap();
        assert_eq!(
            head,
            "POST /v1/messages?beta=true HTTP/1.1\r\nHost: 127.0.0.1:9\r\nContent-Length: 2\r\n\
             Connection: close\r\n\r\nhi"
        );
        let asked = parse("GET http://Example.com HTTP/1.1\r\n\r\n").unwrap();
        assert_eq!((asked.host.as_str(), asked.port), ("Example.com", 80));
    }

    #[test]
    fn what_is_no_proxy_request_is_refused_with_why() {
        for bad in [
            "GET /x HTTP/1.1\r\n\r\n",
            "GET https://example.com/ HTTP/1.1\r\n\r\n",
            "CONNECT a b:1 HTTP/1.1\r\n\r\n",
            "CONNECT a/b:1 HTTP/1.1\r\n\r\n",
            "\x00\x01 garbage\r\n\r\n",
            "GET http://x",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }
}
