//! A run's control socket: where a person (`sc-ctl`, `sc-view`) answers
//! the asks of a run's agents from any terminal. One request a line, one
//! reply a line, both JSON:
//!
//! - `{"op":"asks"}` → `{"ok":true,"asks":[ASK, ...]}`, each the `ask`
//!   event (with its `worker`) of an ask still open;
//! - `{"op":"answer","ask":ID,"decision":"allow"|"deny"|OPTION,"message":TEXT}` →
//!   `{"ok":true}`, or `{"ok":false,"error":...}` for an ask that is not
//!   open (answered already, or unknown);
//! - `{"op":"say","worker":ID,"text":TEXT}`: the agent's next user message;
//! - `{"op":"stop","worker":ID}`: the worker ended, as on Ctrl-C; without
//!   `worker`, the whole run;
//! - `{"op":"status"}` → `{"ok":true,"status":{...}}`: what the run is
//!   (pid, directory, start) and how far it got (workers running, done,
//!   failed; asks open);
//!
//! (`answer`, `say` and `stop` take `via`, the tool a person uses: said
//! in the stream's `answer`, `say` and `stop` events.)
//! - `{"op":"workers"}` → `{"ok":true,"workers":[ID, ...]}`: the workers
//!   running now (sc-ctl tells runs apart with it);
//! - `{"op":"log"}` → `{"ok":true,"log":PATH}`: the file the run's stream
//!   is written to as it goes (`sc-view --attach` follows it).
//!
//! The socket and its folder are the user's alone (0700), and a peer of
//! another user is refused. Nothing from it reaches a shell.

pub mod server;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The longest request line taken.
pub const MAX_REQUEST: usize = 64 * 1024;

/// A request on the control socket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Request {
    /// The asks still open.
    Asks,
    /// Decide an ask.
    Answer {
        ask: String,
        decision: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
        /// The tool a person answers through (said in the `answer` event).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        via: Option<String>,
    },
    /// Tell a running agent something: it reaches the model in the same
    /// session, as the user's next message.
    Say {
        worker: String,
        text: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        via: Option<String>,
    },
    /// End a worker, as Ctrl-C would end it; no worker: the whole run.
    Stop {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        worker: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        via: Option<String>,
    },
    /// What the run is and how far it got (`sc-ctl runs`).
    Status,
    /// Where the run's stream is written as it goes (for `sc-view --attach`).
    Log,
    /// The ids of the workers running now.
    Workers,
}

/// The reply to one request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub asks: Vec<Value>,
    /// `log`: the file the run's stream is written to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log: Option<String>,
    /// `workers`: the ids of the workers running now.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub workers: Vec<String>,
    /// `status`: what the run is and how far it got.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<RunStatus>,
}

/// A run as `sc-ctl runs` shows it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunStatus {
    /// sc-spawn's pid: the run's id (`sc-view --attach PID`).
    pub pid: u32,
    /// `running`, or `ended` (a detached run's kept stream).
    #[serde(default)]
    pub state: String,
    /// The directory it was started in.
    pub cwd: String,
    /// When it started (Unix seconds).
    pub started: f64,
    /// Its workers: running now, finished with status 0, finished
    /// otherwise.
    pub running: usize,
    pub done: usize,
    pub failed: usize,
    /// Asks open now.
    pub asks: usize,
    /// Where its stream is kept, if it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log: Option<String>,
}

impl Reply {
    pub fn ok() -> Reply {
        Reply {
            ok: true,
            ..Reply::default()
        }
    }

    pub fn error(message: impl Into<String>) -> Reply {
        Reply {
            ok: false,
            error: Some(message.into()),
            ..Reply::default()
        }
    }

    /// As a line.
    pub fn line(&self) -> Vec<u8> {
        let mut line = serde_json::to_vec(self).unwrap_or_else(|_| b"{\"ok\":false}".to_vec());
        line.push(b'\n');
        line
    }
}

/// How long a run may take to reply (its poller serves the socket between
/// other work).
pub const REPLY_WITHIN: std::time::Duration = std::time::Duration::from_secs(10);

/// One request to the run whose control socket is `path`, and its reply:
/// what `sc-ctl`, sc-view (`--attach`, keys) and a host's end of a
/// connection send. A socket served by another user is refused before
/// anything is said to it: an answer meant for one's own run never goes
/// to a neighbour's listener.
pub fn request(path: &Path, request: &Request) -> std::io::Result<Reply> {
    use std::io::{BufRead, BufReader, Write};
    let mut stream = std::os::unix::net::UnixStream::connect(path)?;
    let served_by = peer_uid(&stream)?;
    let me = nix::unistd::getuid().as_raw();
    if served_by != me {
        return Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            format!(
                "{} is served by uid {served_by}, not by you (uid {me}): refused",
                path.display()
            ),
        ));
    }
    stream.set_read_timeout(Some(REPLY_WITHIN))?;
    let mut line = serde_json::to_vec(request).map_err(std::io::Error::other)?;
    line.push(b'\n');
    stream.write_all(&line)?;
    let mut reply = String::new();
    BufReader::new(&stream).read_line(&mut reply)?;
    serde_json::from_str(&reply).map_err(std::io::Error::other)
}

/// The uid of the process at the other end of a unix socket: what both
/// ends check (a run serves only its own user; sc-ctl talks only to a run
/// of its own user).
pub fn peer_uid(socket: &impl std::os::fd::AsFd) -> std::io::Result<u32> {
    use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};
    Ok(getsockopt(socket, PeerCredentials)?.uid())
}

/// Read one request line; the error says what is wrong with it.
pub fn parse_request(line: &[u8]) -> Result<Request, String> {
    let text = std::str::from_utf8(line).map_err(|_| "the request is not UTF-8".to_owned())?;
    let request: Request = serde_json::from_str(text.trim()).map_err(|e| {
        format!(
            "not a request ({e}): send {{\"op\":\"asks\"}} or \
             {{\"op\":\"answer\",\"ask\":ID,\"decision\":\"allow\"|\"deny\"}}"
        )
    })?;
    // Which decisions an ask takes is the ask's to say (allow or deny, or
    // a question's options); here only that there is one, and not a novel.
    if let Request::Answer { decision, .. } = &request
        && (decision.trim().is_empty() || decision.len() > 200)
    {
        return Err(format!(
            "decision {:?}: give allow, deny, or one of a question's options",
            decision.chars().take(40).collect::<String>()
        ));
    }
    Ok(request)
}

/// The sockets of this user's runs, newest first: none when there is no
/// runs folder, and an error (saying why) when the folder there is not
/// the user's alone — a run in it is not talked to.
pub fn user_runs() -> Result<Vec<PathBuf>, String> {
    match crate::private::existing_runs_dir() {
        Ok(dir) => Ok(run_sockets(dir.path())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e.to_string()),
    }
}

/// This run's default socket: `run-PID.sock`, found by sc-ctl and
/// `sc-view --attach`; for a worker placed here by another run (a Slurm
/// step on this machine), `placed-PID.sock`, which they pass over: that
/// run relays its asks, and the same ask twice would be two runs to
/// choose from.
pub fn default_path(placed: bool) -> PathBuf {
    let name = if placed { "placed" } else { "run" };
    crate::private::runs_path().join(format!("{name}-{}.sock", std::process::id()))
}

/// The kept streams of ended detached runs (`ended-PID-START.ndjson`),
/// newest first: the pid, and the file. Only this user's regular files.
pub fn ended_runs() -> Vec<(u32, PathBuf)> {
    let Ok(dir) = crate::private::existing_runs_dir() else {
        return Vec::new();
    };
    let Ok(entries) = std::fs::read_dir(dir.path()) else {
        return Vec::new();
    };
    let mut found: Vec<(u64, u32, PathBuf)> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name();
            let (pid, start) = ended_name(name.to_str()?)?;
            crate::private::is_own(&e.path(), nix::sys::stat::SFlag::S_IFREG)
                .then(|| (start, pid, e.path()))
        })
        .collect();
    found.sort_by_key(|f| std::cmp::Reverse(f.0));
    found
        .into_iter()
        .map(|(_, pid, path)| (pid, path))
        .collect()
}

/// `ended-PID-START.ndjson`: its pid and start (Unix seconds).
fn ended_name(name: &str) -> Option<(u32, u64)> {
    let rest = name.strip_prefix("ended-")?.strip_suffix(".ndjson")?;
    let (pid, start) = rest.split_once('-')?;
    Some((pid.parse().ok()?, start.parse().ok()?))
}

/// The name an ended detached run's stream is kept under.
pub fn ended_file_name(pid: u32, started: f64) -> String {
    format!("ended-{pid}-{}.ndjson", started as u64)
}

/// The kept stream of ended run `run` (its pid), the newest of that pid.
pub fn find_ended(run: &str) -> Option<PathBuf> {
    let pid: u32 = run.parse().ok()?;
    ended_runs()
        .into_iter()
        .find(|(p, _)| *p == pid)
        .map(|(_, path)| path)
}

/// What a kept stream says of its run: its workers done and failed, its
/// start, its first worker's directory.
pub fn ended_status(pid: u32, path: &Path) -> RunStatus {
    use std::io::BufRead;
    let mut status = RunStatus {
        pid,
        state: "ended".into(),
        log: Some(path.display().to_string()),
        ..RunStatus::default()
    };
    let Ok(file) = std::fs::File::open(path) else {
        return status;
    };
    for (n, line) in std::io::BufReader::new(file)
        .split(b'\n')
        .map_while(Result::ok)
        .enumerate()
    {
        // Only the first event (its time) and the workers' starts and
        // exits are read whole: sc's writer puts `type` first, and a long
        // run's stream is mostly output, not to be parsed again to count.
        let wanted = n == 0
            || line.starts_with(br#"{"type":"start""#)
            || line.starts_with(br#"{"type":"exit""#);
        let Some(event) = wanted.then(|| sc_events::parse_line(&line).ok()).flatten() else {
            continue;
        };
        if status.started == 0.0 {
            status.started = event.ts;
        }
        match &event.body {
            sc_events::Body::Start(start) if status.cwd.is_empty() => {
                status.cwd = start.cwd.clone();
            }
            sc_events::Body::Exit(exit) if exit.code == Some(0) => status.done += 1,
            sc_events::Body::Exit(_) => status.failed += 1,
            _ => {}
        }
    }
    status
}

/// Resolve a run as `sc-view --attach RUN` and `sc-ctl` name it: a socket
/// path, a pid (its socket in this user's folder), or none (the newest).
pub fn find_run(run: Option<&str>) -> Result<PathBuf, String> {
    match run.filter(|r| !r.is_empty()) {
        Some(pid) if pid.bytes().all(|b| b.is_ascii_digit()) => {
            let runs = crate::private::existing_runs_dir().map_err(|e| e.to_string())?;
            let path = runs.path().join(format!("run-{pid}.sock"));
            match path.exists() {
                true => Ok(path),
                false => Err(format!("no run {pid} serves a control socket ({} is not there)", path.display())),
            }
        }
        Some(path) => Ok(PathBuf::from(path)),
        None => user_runs()?.into_iter().next().ok_or_else(|| {
            format!(
                "no run of this user is running (none serves a control socket in {}; a run started with --no-control serves none)",
                crate::private::runs_path().display()
            )
        }),
    }
}

/// The run sockets in `dir` (sockets of this user's, no links), newest
/// first.
pub fn run_sockets(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<(std::time::SystemTime, PathBuf)> = entries
        .flatten()
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.starts_with("run-")
                && name.ends_with(".sock")
                && crate::private::is_own(&e.path(), nix::sys::stat::SFlag::S_IFSOCK)
        })
        .map(|e| {
            let at = e
                .metadata()
                .and_then(|m| m.modified())
                .unwrap_or(std::time::UNIX_EPOCH);
            (at, e.path())
        })
        .collect();
    found.sort_by_key(|found| std::cmp::Reverse(found.0));
    found.into_iter().map(|(_, p)| p).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_checked_before_anything_is_done() {
        assert_eq!(parse_request(br#"{"op":"asks"}"#), Ok(Request::Asks));
        assert_eq!(
            parse_request(br#"{"op":"answer","ask":"w/1","decision":"deny","message":"no"}"#),
            Ok(Request::Answer {
                ask: "w/1".into(),
                decision: "deny".into(),
                message: Some("no".into()),
                via: None,
            })
        );
        assert!(parse_request(br#"{"op":"answer","ask":"w/1","decision":""}"#).is_err());
        assert!(parse_request(br#"{"op":"rm -rf"}"#).is_err());
        // An older client's stop names its worker; without one, the run.
        assert_eq!(
            parse_request(br#"{"op":"stop","worker":"w"}"#),
            Ok(Request::Stop {
                worker: Some("w".into()),
                via: None
            })
        );
        assert_eq!(
            parse_request(br#"{"op":"stop","via":"sc-ctl"}"#),
            Ok(Request::Stop {
                worker: None,
                via: Some("sc-ctl".into())
            })
        );
        assert_eq!(parse_request(br#"{"op":"status"}"#), Ok(Request::Status));
        assert!(parse_request(b"\xff").is_err());
        assert!(parse_request(b"").is_err());
        assert_eq!(
            Reply::error("x").line(),
            b"{\"ok\":false,\"error\":\"x\"}\n"
        );
    }
}
