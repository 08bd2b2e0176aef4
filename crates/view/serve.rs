//! `sc-view --serve`: the model, live in a browser. A small HTTP server
//! (tiny_http: threads, like the rest of sc, no async runtime) serves an
//! embedded page and its script, and the workers' rows over Server-Sent
//! Events as the stream brings them; a person's Allow, Deny and Stop go
//! to the run's control socket.
//!
//! Safe by default: loopback unless an address is given; an unguessable
//! token in the URL, exchanged for an HttpOnly, SameSite=Strict cookie
//! (the address bar then shows none); the Host header checked (DNS
//! rebinding); the Origin checked on every request that changes anything
//! (another port of 127.0.0.1 is the same site, so cookies alone would not
//! stop a page there); JSON only; no CORS; a strict Content-Security-Policy
//! (no inline script, nothing from elsewhere). What workers wrote reaches
//! the page as JSON strings, which the page sets as text, never as markup.

use std::collections::HashMap;
use std::io::{self, Read};
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use sc_viewer::Model;
use tiny_http::{Header, Method, Request, Response, Server};

mod diff;
mod output;

const PAGE: &str = include_str!("web/index.html");
const SCRIPT: &str = include_str!("web/app.js");
const STYLE: &str = include_str!("web/app.css");
const COOKIE: &str = "sc_view";
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
                   img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
/// The longest request body taken (an answer, a stop).
const MAX_BODY: u64 = 4096;
/// How often an idle event stream says it is alive.
const KEEPALIVE: Duration = Duration::from_secs(15);

/// The server, and what it shares with the view.
pub struct Serve {
    hub: Arc<Hub>,
    /// Where the page is: with its token, to be opened once.
    pub url: String,
    /// Workers an event came for since the rows were last made: only
    /// theirs are made again.
    dirty: std::collections::HashSet<String>,
    /// When the timeline was last drawn for the page (at most once a
    /// second: a long run's picture is not small).
    drawn: Option<std::time::Instant>,
}

/// How soon a change reaches the page at most (the rows are made at most
/// this often; the page counts running time by itself).
pub const CADENCE: Duration = Duration::from_millis(20);

struct Hub {
    state: Mutex<State>,
    changed: Condvar,
    token: String,
    /// The Host headers taken (`127.0.0.1:PORT`, `localhost:PORT`).
    hosts: Vec<String>,
    /// The attached run's control socket (`--attach`): where Stop goes.
    run: Option<PathBuf>,
    /// The page, saying whether it can steer workers (attached to a run):
    /// a page that cannot shows no Stop or Say it would only refuse.
    page: String,
    /// The files the stream is read from (`--attach`, `--follow`, FILE):
    /// where a worker's whole output is read again on demand.
    files: Vec<PathBuf>,
}

#[derive(Default)]
struct State {
    /// Each worker's row (JSON), and the version it was last changed at.
    rows: Vec<(String, u64)>,
    clock: u64,
    /// Open asks: where each is answered.
    asks: HashMap<String, String>,
    /// The run's timeline (SVG, no script), as last drawn.
    timeline: String,
    /// Each worker's worktree here (`--worktree`): path and base, for its
    /// diff (one on another host is not here to look at).
    worktrees: HashMap<String, (String, String)>,
    /// The stream ended.
    over: bool,
}

impl Serve {
    /// `--serve ADDR`: the server started and its URL said on stderr; Err:
    /// why it could not listen (said, too).
    pub fn announce(addr: &str, run: Option<PathBuf>, files: Vec<PathBuf>) -> Result<Serve, ()> {
        match Serve::start(addr, run, files) {
            Ok(serve) => {
                eprintln!(
                    "sc-view: the page is at {} (open it once: its token becomes a cookie)",
                    serve.url
                );
                Ok(serve)
            }
            Err(e) => {
                eprintln!("sc-view: --serve: cannot listen on {addr}: {e}");
                Err(())
            }
        }
    }

    /// Listens on `addr` (`127.0.0.1:0`: a free port of the loopback) and
    /// serves on threads of its own. `run`: the attached run's socket.
    pub fn start(addr: &str, run: Option<PathBuf>, files: Vec<PathBuf>) -> io::Result<Serve> {
        let server = Server::http(addr).map_err(|e| io::Error::other(format!("{addr}: {e}")))?;
        let local = server
            .server_addr()
            .to_ip()
            .ok_or_else(|| io::Error::other("not an IP address"))?;
        let port = local.port();
        let mut hosts = vec![format!("{local}")];
        if local.ip().is_loopback() {
            hosts.push(format!("localhost:{port}"));
            hosts.push(format!("127.0.0.1:{port}"));
        }
        let token = token()?;
        let url = format!("http://{}/?token={token}", hosts[0]);
        let hub = Arc::new(Hub {
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
            token,
            hosts,
            page: PAGE.replacen(
                "<body>",
                &format!(
                    r#"<body data-steer="{}">"#,
                    if run.is_some() { "yes" } else { "no" }
                ),
                1,
            ),
            run,
            files,
        });
        let theirs = hub.clone();
        std::thread::Builder::new()
            .name("sc-view-serve".into())
            .spawn(move || {
                for request in server.incoming_requests() {
                    let hub = theirs.clone();
                    let _ = std::thread::Builder::new()
                        .name("sc-view-request".into())
                        .spawn(move || hub.handle(request));
                }
            })?;
        Ok(Serve {
            hub,
            url,
            dirty: Default::default(),
            drawn: None,
        })
    }

    /// An event came for `worker`: its row is to be made again.
    pub fn touch(&mut self, worker: &str) {
        if !self.dirty.contains(worker) {
            self.dirty.insert(worker.to_owned());
        }
    }

    /// Rows waiting to be made.
    pub fn is_dirty(&self) -> bool {
        !self.dirty.is_empty()
    }

    /// The rows of the workers an event came for since the last call.
    pub fn publish(&mut self, model: &Model) {
        if self.dirty.is_empty() {
            return;
        }
        let dirty = std::mem::take(&mut self.dirty);
        let mut state = self.hub.lock();
        let mut changed = false;
        for (index, worker) in model.workers.iter().enumerate() {
            if !dirty.contains(&worker.id) {
                continue;
            }
            if let Some(w) = worker.worktree.as_ref().filter(|_| worker.host.is_none())
                && !state.worktrees.contains_key(&worker.id)
            {
                // Its start says it once; the exit says the same place.
                let at = (w.path.clone(), w.base.clone());
                state.worktrees.insert(worker.id.clone(), at);
            }
            let row = sc_viewer::web::row(index, worker).to_string();
            let stale = state.rows.get(index).is_none_or(|(old, _)| *old != row);
            if stale {
                state.clock += 1;
                let version = state.clock;
                match state.rows.get_mut(index) {
                    Some(slot) => *slot = (row, version),
                    None => state.rows.push((row, version)),
                }
                changed = true;
            }
        }
        if changed {
            state.asks = model
                .workers
                .iter()
                .flat_map(|w| &w.asking)
                .filter_map(|a| Some((a.id.clone(), a.control.clone()?)))
                .collect();
            self.hub.changed.notify_all();
        }
    }

    /// A frame of the view: the rows that changed, and the timeline when
    /// it is due.
    pub fn frame(&mut self, model: &Model, timeline: Option<&sc_viewer::timeline::Timeline>) {
        let changed = self.is_dirty();
        self.publish(model);
        let due = self
            .drawn
            .is_none_or(|at| at.elapsed() >= Duration::from_secs(1));
        if let Some(timeline) = timeline.filter(|_| changed && due) {
            self.hub.lock().timeline = timeline.render(model);
            self.drawn = Some(std::time::Instant::now());
        }
    }

    /// The stream ended: the pages are told, and still served.
    pub fn finish(&mut self, model: &Model, timeline: Option<&sc_viewer::timeline::Timeline>) {
        // Every row made once more: the unfinished lines ended with it.
        self.dirty = model.workers.iter().map(|w| w.id.clone()).collect();
        self.publish(model);
        if let Some(timeline) = timeline {
            self.hub.lock().timeline = timeline.render(model);
        }
        self.hub.lock().over = true;
        self.hub.changed.notify_all();
    }
}

impl Hub {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn handle(&self, mut request: Request) {
        let response = match self.check(&request) {
            Err(refusal) => refusal,
            Ok(()) => self.route(&mut request),
        };
        if let Some(response) = response {
            let _ = request.respond(with_safety(response));
        } else {
            self.events(request);
        }
    }

    /// The checks every request passes: its Host; its token (the query's,
    /// once, or the cookie's); and for one that changes anything, its
    /// Origin.
    fn check(&self, request: &Request) -> Result<(), Option<Response<io::Cursor<Vec<u8>>>>> {
        let host = header(request, "Host").unwrap_or_default();
        if !self.hosts.contains(&host) {
            return Err(Some(refused(
                421,
                "this page is served for another address (the Host header does not match)",
            )));
        }
        let url = request.url();
        if let Some(query) = url.strip_prefix("/?") {
            let given = query
                .split('&')
                .find_map(|kv| kv.strip_prefix("token="))
                .unwrap_or_default();
            return match constant_eq(given, &self.token) {
                // The token becomes a cookie, and the address bar shows none.
                true => Err(Some(
                    Response::from_data(Vec::new())
                        .with_status_code(303)
                        .with_header(h("Location", "/"))
                        .with_header(h(
                            "Set-Cookie",
                            &format!("{COOKIE}={}; HttpOnly; SameSite=Strict; Path=/", self.token),
                        )),
                )),
                false => Err(Some(refused(
                    403,
                    "wrong token: open the URL sc-view printed",
                ))),
            };
        }
        let cookie = header(request, "Cookie").unwrap_or_default();
        let has = cookie
            .split(';')
            .filter_map(|c| c.trim().strip_prefix(&format!("{COOKIE}=")))
            .any(|t| constant_eq(t, &self.token));
        if !has {
            return Err(Some(refused(403, "no token: open the URL sc-view printed")));
        }
        if *request.method() != Method::Get {
            let origin = header(request, "Origin").unwrap_or_default();
            if !self.hosts.iter().any(|h| origin == format!("http://{h}")) {
                return Err(Some(refused(403, "refused: from another origin")));
            }
        }
        Ok(())
    }

    /// What is asked for; None: the event stream (answered by
    /// [`Hub::events`]).
    fn route(&self, request: &mut Request) -> Option<Response<io::Cursor<Vec<u8>>>> {
        let path = request.url().split('?').next().unwrap_or("/").to_owned();
        let asset = |body: &str, kind: &str| {
            Some(Response::from_data(body.as_bytes().to_vec()).with_header(h("Content-Type", kind)))
        };
        match (request.method(), path.as_str()) {
            (Method::Get, "/") => asset(&self.page, "text/html; charset=utf-8"),
            (Method::Get, "/app.js") => asset(SCRIPT, "text/javascript; charset=utf-8"),
            (Method::Get, "/app.css") => asset(STYLE, "text/css; charset=utf-8"),
            (Method::Get, "/events") => None,
            (Method::Get, "/output") => Some(self.output(request.url())),
            (Method::Get, "/diff") => Some(self.diff(request.url())),
            (Method::Get, "/timeline.svg") => {
                let svg = self.lock().timeline.clone();
                asset(&svg, "image/svg+xml")
            }
            (Method::Post, "/answer" | "/stop" | "/say") => Some(self.act(request, &path)),
            _ => Some(refused(404, "no such page")),
        }
    }

    /// A worker's whole output (`/output?worker=ID`): see
    /// [`output::whole`].
    fn output(&self, url: &str) -> Response<io::Cursor<Vec<u8>>> {
        output::whole(&self.files, url)
    }

    /// A worker's diff (`/diff?worker=ID`): see [`diff::diff`].
    fn diff(&self, url: &str) -> Response<io::Cursor<Vec<u8>>> {
        let Some(worker) = output::worker_asked(url) else {
            return refused(400, "give worker");
        };
        let at = self.lock().worktrees.get(&worker).cloned();
        match at {
            Some((path, base)) => diff::diff(&worker, &path, &base),
            None => refused(
                404,
                "no worktree of that worker here (sc-spawn --worktree makes one; \
                 a worker on another host has its worktree there)",
            ),
        }
    }

    /// A person's Allow, Deny, Stop or words for an agent (Say), sent to
    /// the run's control socket.
    fn act(&self, request: &mut Request, path: &str) -> Response<io::Cursor<Vec<u8>>> {
        let json =
            header(request, "Content-Type").is_some_and(|t| t.starts_with("application/json"));
        if !json {
            return refused(415, "JSON only");
        }
        let mut body = Vec::new();
        if request
            .as_reader()
            .take(MAX_BODY + 1)
            .read_to_end(&mut body)
            .is_err()
            || body.len() as u64 > MAX_BODY
        {
            return refused(413, "too long");
        }
        let Ok(asked) = serde_json::from_slice::<serde_json::Value>(&body) else {
            return refused(400, "not JSON");
        };
        let text = |key: &str| asked[key].as_str().map(str::to_owned);
        let via = Some("sc-view --serve".to_owned());
        use sc_capture::control::Request as Ask;
        let (socket, ask) = match path {
            "/answer" => {
                let (Some(id), Some(decision)) = (text("ask"), text("decision")) else {
                    return refused(400, "give ask and decision");
                };
                if decision != "allow" && decision != "deny" {
                    return refused(400, "decision: allow or deny");
                }
                let Some(socket) = self.lock().asks.get(&id).cloned() else {
                    return refused(409, "no such open ask");
                };
                let ask = Ask::Answer {
                    ask: id,
                    decision,
                    message: None,
                    via,
                };
                (PathBuf::from(socket), ask)
            }
            _ => {
                let Some(worker) = text("worker") else {
                    return refused(400, "give worker");
                };
                let Some(socket) = self.run.clone() else {
                    return refused(
                        409,
                        "this page cannot steer workers: serve it attached to the run \
                         (sc-view --attach RUN --serve)",
                    );
                };
                let ask = match path {
                    "/say" => match text("text").filter(|t| !t.trim().is_empty()) {
                        Some(said) => Ask::Say {
                            worker,
                            text: said,
                            via,
                        },
                        None => return refused(400, "give text"),
                    },
                    _ => Ask::Stop {
                        worker: Some(worker),
                        via,
                    },
                };
                (socket, ask)
            }
        };
        match sc_capture::control::request(&socket, &ask) {
            Ok(reply) if reply.ok => json_response(200, serde_json::json!({"ok": true})),
            Ok(reply) => refused(409, reply.error.as_deref().unwrap_or("refused")),
            Err(e) => refused(502, &format!("the run cannot be reached: {e}")),
        }
    }

    /// The event stream: every row from the version the page last saw
    /// (`Last-Event-ID`: a page that reconnects loses nothing and is sent
    /// nothing twice), then each change as it comes, until the stream's
    /// end. Written straight to the connection and flushed event by event
    /// (a response body would be sent in 8 KiB chunks: a page would wait),
    /// its end the connection's.
    fn events(&self, request: Request) {
        use std::io::Write;
        let mut seen = header(&request, "Last-Event-ID")
            .and_then(|id| id.trim().parse::<u64>().ok())
            .unwrap_or(0);
        let mut out = request.into_writer();
        let head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\
                    Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n\
                    Connection: close\r\n\r\n";
        if out
            .write_all(head.as_bytes())
            .and_then(|()| out.flush())
            .is_err()
        {
            return;
        }
        loop {
            let (text, ended) = self.next_events(&mut seen);
            if out.write_all(&text).and_then(|()| out.flush()).is_err() || ended {
                return;
            }
        }
    }

    /// What the page has not seen since version `seen` (waiting for it,
    /// or saying it is alive), and whether the stream is over.
    fn next_events(&self, seen: &mut u64) -> (Vec<u8>, bool) {
        let state = self.lock();
        let (state, waited) = self
            .changed
            .wait_timeout_while(state, KEEPALIVE, |s| s.clock == *seen && !s.over)
            .unwrap_or_else(|p| p.into_inner());
        if waited.timed_out() {
            return (b": alive\n\n".to_vec(), false);
        }
        // What changed goes as one event, its rows a JSON array: a page
        // opened on a run of a thousand workers is sent one message, not a
        // thousand (a browser hands every message of a chunk over in one
        // task, and a thousand of them made that task long).
        let mut rows: Vec<&(String, u64)> = state.rows.iter().filter(|(_, v)| *v > *seen).collect();
        rows.sort_by_key(|(_, v)| *v);
        let mut text = Vec::new();
        if !rows.is_empty() {
            let rows: Vec<&str> = rows.iter().map(|(row, _)| row.as_str()).collect();
            let data = rows.join(",");
            text.extend_from_slice(
                format!("event: rows\nid: {}\ndata: [{data}]\n\n", state.clock).as_bytes(),
            );
        }
        *seen = state.clock;
        if state.over {
            text.extend_from_slice(b"event: end\ndata: {}\n\n");
        }
        (text, state.over)
    }
}

fn header(request: &Request, name: &str) -> Option<String> {
    request
        .headers()
        .iter()
        .find(|h| h.field.as_str().as_str().eq_ignore_ascii_case(name))
        .map(|h| h.value.as_str().to_owned())
}

fn h(name: &str, value: &str) -> Header {
    Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("a valid header")
}

/// The headers every page and answer carries.
fn with_safety<R: Read>(response: Response<R>) -> Response<R> {
    response
        .with_header(h("Content-Security-Policy", CSP))
        .with_header(h("X-Content-Type-Options", "nosniff"))
        .with_header(h("Referrer-Policy", "no-referrer"))
        .with_header(h("X-Frame-Options", "DENY"))
        .with_header(h("Cache-Control", "no-store"))
}

fn json_response(status: u16, value: serde_json::Value) -> Response<io::Cursor<Vec<u8>>> {
    Response::from_data(value.to_string().into_bytes())
        .with_status_code(status)
        .with_header(h("Content-Type", "application/json"))
}

fn refused(status: u16, why: &str) -> Response<io::Cursor<Vec<u8>>> {
    json_response(status, serde_json::json!({"ok": false, "error": why}))
}

/// 32 random bytes, as hex.
fn token() -> io::Result<String> {
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Equal, in a time that does not say how much of it was.
fn constant_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

/// After the stream's end: the page stays served until a signal comes.
pub fn until_interrupted(serve: &Serve, rx: &std::sync::mpsc::Receiver<crate::source::Chunk>) {
    eprintln!(
        "sc-view: the stream ended; the page stays at {} until Ctrl-C",
        serve.url
    );
    while let Ok(chunk) = rx.recv() {
        if matches!(chunk, crate::source::Chunk::Signal(_)) {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_compared_whole() {
        let (a, b) = (token().unwrap(), token().unwrap());
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        assert!(constant_eq(&a, &a.clone()));
        assert!(!constant_eq(&a, &b));
        assert!(!constant_eq(&a, &a[..63]));
    }
}
