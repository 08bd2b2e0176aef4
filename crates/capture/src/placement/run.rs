//! What a worker placed elsewhere is told, whatever the placement: the
//! remote sc-spawn's arguments (the task itself, its resume, cwd, env and
//! flags), quoted for the shell there, and how long this side waits for it.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;

/// What the remote sc-spawn is told: the task itself (it runs there as a
/// plan of one, so its retries, caps, timeout, limits and resume happen
/// where the worker is), and how to run it.
#[derive(Debug, Clone, Default)]
pub struct RemoteRun {
    pub id: String,
    /// The task as a plan line's JSON.
    pub task: String,
    /// Its first attempt resumes this agent session.
    pub resume: Option<String>,
    pub cwd: Option<OsString>,
    pub env: Vec<(OsString, OsString)>,
    /// Flags passed on as they are (`--flush-ms=50`, `--pty=all`, …).
    pub flags: Vec<OsString>,
    /// `--reconnect`: the worker runs detached there, its stream kept in
    /// this directory, and the connection follows it (see [`attach_argv`]).
    pub spool: Option<String>,
}

impl RemoteRun {
    /// The remote sc-spawn's arguments after its mode (`--end-on-stdin-eof`,
    /// `--spool`): every value joined to its flag with `=`, so that one
    /// starting with `-` (an id, a directory) is never read as a flag.
    pub fn args(&self, argv: &[OsString]) -> Vec<OsString> {
        let mut out: Vec<OsString> = vec![joined("--task", OsStr::new(&self.task))];
        if let Some(session) = &self.resume {
            out.push(joined("--resume-session", OsStr::new(session)));
        }
        if let Some(cwd) = &self.cwd {
            out.push(joined("--cwd", cwd));
        }
        // The environment goes explicitly, not through ssh's AcceptEnv.
        for (key, value) in &self.env {
            let mut pair = key.clone();
            pair.push("=");
            pair.push(value);
            out.push(joined("--env", &pair));
        }
        out.extend(self.flags.iter().cloned());
        out.push("--".into());
        out.extend(argv.iter().cloned());
        out
    }
}

/// Why the policy command `command` (`--ask-cmd`) cannot go with a task
/// placed elsewhere, where it runs in the remote sc-spawn's directory: its
/// program is a relative path (`./policy.sh`), which would name another
/// file there, or none. None when it can go.
pub fn policy_elsewhere(command: &str) -> Option<String> {
    let words = shlex::split(command)?;
    let program = words.iter().find(|w| !w.contains('='))?;
    (program.contains('/') && !program.starts_with('/')).then(|| {
        format!(
            "--ask-cmd {command:?} runs {program}, a path relative to this directory, which means \
             another file (or none) on the host where the task runs: give its absolute path, or a \
             command on the host's PATH"
        )
    })
}

/// `--flag=value`.
pub fn joined(flag: &str, value: &OsStr) -> OsString {
    let mut out = OsString::from(flag);
    out.push("=");
    out.push(value);
    out
}

/// A directory name for a spooled run there, unique to this run and worker.
pub fn spool_dir(id: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let tidy: String = id
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .take(40)
        .collect();
    format!("/tmp/sc-spool-{}-{nanos}-{tidy}", std::process::id())
}

/// How much longer than a remote worker's own timeout the local side waits
/// before ending the connection itself.
pub const REMOTE_SLACK: std::time::Duration = std::time::Duration::from_secs(10);

/// How long this side waits for a worker placed elsewhere before ending
/// its connection itself: every attempt's own timeout (timed there) and
/// grace, the longest pauses between attempts, and some slack. None when
/// the task has no timeout.
pub fn backstop(
    timeout: Option<std::time::Duration>,
    kill_grace: std::time::Duration,
    retries: u32,
    delay: std::time::Duration,
) -> Option<std::time::Duration> {
    let attempt = timeout? + kill_grace;
    let pause = |k: u32| {
        delay
            .saturating_mul(1 << k.min(16))
            .min(std::time::Duration::from_secs(300))
            .mul_f64(1.25)
    };
    // Past 17 doublings every pause is the longest: counted at once, so
    // that a task's `"retries": 4294967295` costs no loop of that length
    // on the poller's thread.
    let doubling = retries.min(17);
    let pauses = (0..doubling)
        .map(pause)
        .fold(
            std::time::Duration::ZERO,
            std::time::Duration::saturating_add,
        )
        .saturating_add(pause(17).saturating_mul(retries - doubling));
    Some(
        attempt
            .saturating_mul(retries.saturating_add(1))
            .saturating_add(pauses)
            .saturating_add(REMOTE_SLACK),
    )
}

/// `arg` in single quotes, for a POSIX shell.
pub fn quote(arg: &OsStr) -> Vec<u8> {
    let mut out = Vec::with_capacity(arg.len() + 2);
    out.push(b'\'');
    for &b in arg.as_bytes() {
        if b == b'\'' {
            out.extend_from_slice(b"'\\''");
        } else {
            out.push(b);
        }
    }
    out.push(b'\'');
    out
}

/// What the local side says on a connection's stdin (ssh forwards no
/// signal): one short line each.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    /// `end SIGNAL`: end the worker as that signal would, so that Ctrl-C
    /// there is Ctrl-C here (`end` alone is SIGTERM).
    End(nix::sys::signal::Signal),
    /// `done`: the worker's exit has arrived here; a spool may go.
    Done,
    /// `answer {"ask":..,"decision":..,"message":..}`: a decision taken
    /// here on an ask of the worker there, for its run's control socket.
    Answer(crate::control::Request),
}

impl Request {
    pub fn line(&self) -> Vec<u8> {
        match self {
            Request::End(signal) => format!("end {}\n", signal.as_str()).into_bytes(),
            Request::Done => b"done\n".to_vec(),
            Request::Answer(request) => {
                let mut line = b"answer ".to_vec();
                line.extend(serde_json::to_vec(&request).unwrap_or_default());
                line.push(b'\n');
                line
            }
        }
    }

    /// A line read there: the request, or None for no request. Only the
    /// signals that end a worker politely are taken.
    pub fn parse(line: &[u8]) -> Option<Request> {
        use nix::sys::signal::Signal;
        let line = std::str::from_utf8(line).ok()?.trim();
        if line == "done" {
            return Some(Request::Done);
        }
        if let Some(json) = line.strip_prefix("answer ") {
            return match crate::control::parse_request(json.as_bytes()) {
                Ok(request @ crate::control::Request::Answer { .. }) => {
                    Some(Request::Answer(request))
                }
                _ => None,
            };
        }
        let signal = match line.strip_prefix("end")?.trim() {
            "" => Signal::SIGTERM,
            name => name.parse::<Signal>().ok()?,
        };
        matches!(signal, Signal::SIGINT | Signal::SIGTERM | Signal::SIGHUP)
            .then_some(Request::End(signal))
    }
}

/// Reads a connection's stdin there, handing each request to `on`, until
/// end of file; true when an `end` came. Lines are short requests (an
/// answer's message aside): one longer than a bound is none.
pub fn read_requests(input: &mut impl std::io::Read, mut on: impl FnMut(Request)) -> bool {
    const MAX_REQUEST: usize = crate::control::MAX_REQUEST;
    let mut ended = false;
    let mut line: Vec<u8> = Vec::new();
    let mut chunk = [0u8; 512];
    let mut too_long = false;
    loop {
        let n = match input.read(&mut chunk) {
            Ok(0) | Err(_) => return ended,
            Ok(n) => n,
        };
        for &byte in &chunk[..n] {
            if byte != b'\n' {
                too_long |= line.len() >= MAX_REQUEST;
                if !too_long {
                    line.push(byte);
                }
                continue;
            }
            if !too_long && let Some(request) = Request::parse(&line) {
                ended |= matches!(request, Request::End(_));
                on(request);
            }
            line.clear();
            too_long = false;
        }
    }
}

/// Hand a decision taken on the local side to the run's control socket at
/// `path` (on the worker's host), and wait for its reply.
pub fn forward_answer(path: &std::path::Path, request: &crate::control::Request) {
    let _ = crate::control::request(path, request);
}

#[cfg(test)]
mod tests {
    use nix::sys::signal::Signal;

    use super::*;

    #[test]
    fn the_backstop_of_any_number_of_retries_is_counted_at_once() {
        use std::time::{Duration, Instant};
        let s = Duration::from_secs;
        // 10 s attempts, 1 s grace, 2 retries after 2 s and 4 s (+25 %).
        assert_eq!(
            backstop(Some(s(10)), s(1), 2, s(2)),
            Some(s(33) + s(2).mul_f64(1.25) + s(4).mul_f64(1.25) + REMOTE_SLACK)
        );
        assert_eq!(backstop(None, s(1), 2, s(2)), None);
        let started = Instant::now();
        let huge = backstop(Some(s(10)), s(1), u32::MAX, s(2));
        assert!(
            started.elapsed() < Duration::from_millis(100),
            "no loop per retry"
        );
        assert!(huge.is_some_and(|d| d > s(1_000_000)));
        assert!(policy_elsewhere("./policy.sh").is_some());
        assert!(policy_elsewhere("FOO=1 bin/policy --strict").is_some());
        assert!(policy_elsewhere("/opt/policy.sh").is_none());
        assert!(policy_elsewhere("grep -q x && echo allow").is_none());
    }

    #[test]
    fn requests_are_short_lines_with_polite_signals_only() {
        let end = |s| Some(Request::End(s));
        assert_eq!(
            Request::parse(&Request::End(Signal::SIGINT).line()),
            end(Signal::SIGINT)
        );
        assert_eq!(Request::parse(&Request::Done.line()), Some(Request::Done));
        assert_eq!(Request::parse(b"end"), end(Signal::SIGTERM));
        assert_eq!(Request::parse(b"end SIGKILL"), None);
        assert_eq!(Request::parse(b"end SIGNOPE"), None);
        assert_eq!(Request::parse(b"endless"), None);
        assert_eq!(Request::parse(b"\xff"), None);
        let answer = Request::Answer(crate::control::Request::Answer {
            ask: "w/1".into(),
            decision: "deny".into(),
            message: Some("not\nthat".into()),
            via: Some("sc-ctl".into()),
        });
        assert_eq!(Request::parse(&answer.line()), Some(answer));
        assert_eq!(Request::parse(br#"answer {"op":"asks"}"#), None);
        assert_eq!(
            Request::parse(br#"answer {"op":"answer","ask":"w","decision":""}"#),
            None
        );
        let mut input: &[u8] = b"noise\ndone\nend SIGINT\nend SIG".as_slice();
        let mut seen = Vec::new();
        assert!(read_requests(&mut input, |r| seen.push(r)));
        assert_eq!(seen, [Request::Done, Request::End(Signal::SIGINT)]);
        let long = [b"end ".as_slice(), &[b' '; 70_000], b"SIGINT\n"].concat();
        assert!(!read_requests(&mut long.as_slice(), |_| panic!(
            "no request"
        )));
    }
}
