//! Shared helpers for the end-to-end tests: run the real binaries on real
//! pipes and check streams the way a user's script would.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::thread;
use std::time::{Duration, Instant};

pub use crate::builders::*;
pub use crate::clis::*;
pub use crate::scratch::*;
use sc_events::{Body, Event, Payload, Start, Stream, parse_line};

/// How long any single wait in a test may take before the test fails: a
/// bound against hangs, far above what the waits need.
pub const PATIENCE: Duration = Duration::from_secs(30);

pub fn sc_spawn() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sc-spawn"))
}

/// Run to completion; return the parsed stream and sc-spawn's status.
pub fn capture(args: &[&str]) -> (Captured, ExitStatus) {
    let out = sc_spawn()
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run sc-spawn");
    let stream = Captured::parse(&out.stdout);
    if !out.stderr.is_empty() {
        eprintln!("sc-spawn stderr: {}", String::from_utf8_lossy(&out.stderr));
    }
    (stream, out.status)
}

/// A parsed event stream, checked against the contract as it is built.
#[derive(Debug)]
pub struct Captured {
    pub events: Vec<Event>,
}

impl Captured {
    pub fn parse(bytes: &[u8]) -> Captured {
        assert!(
            bytes.is_empty() || bytes.ends_with(b"\n"),
            "stream does not end with a newline"
        );
        let events = bytes
            .split_inclusive(|b| *b == b'\n')
            .map(|line| {
                parse_line(line).unwrap_or_else(|e| {
                    panic!("invalid line {:?}: {e}", String::from_utf8_lossy(line))
                })
            })
            .collect();
        let stream = Captured { events };
        stream.check_contract();
        stream
    }

    /// What every stream owes its readers (DESIGN.md): per worker, seq from
    /// 0 without gaps, `start` (or `error`) first, exactly one `exit`, last,
    /// and `exit.bytes` equal to the payload bytes.
    pub fn check_contract(&self) {
        let mut next: HashMap<&str, u64> = HashMap::new();
        let mut exits: HashMap<&str, usize> = HashMap::new();
        for event in &self.events {
            let expected = next.entry(&event.worker).or_insert(0);
            assert_eq!(
                event.seq, *expected,
                "seq gap for {}: {event:?}",
                event.worker
            );
            *expected += 1;
            assert!(
                !exits.contains_key(event.worker.as_str()),
                "event after exit: {event:?}"
            );
            if event.seq == 0 {
                assert!(
                    matches!(event.body, Body::Start(_) | Body::Error(_) | Body::Task(_)),
                    "first event is {}",
                    event.type_name()
                );
            }
            if let Body::Exit(exit) = &event.body {
                exits.insert(&event.worker, 1);
                let bytes: usize = self
                    .events
                    .iter()
                    .filter(|e| e.worker == event.worker)
                    .filter_map(output)
                    .map(|(_, p)| p.as_bytes().len())
                    .sum();
                assert_eq!(exit.bytes, bytes as u64, "exit.bytes vs payloads");
            }
        }
    }

    pub fn of_type(&self, name: &str) -> Vec<&Event> {
        self.events
            .iter()
            .filter(|e| e.type_name() == name)
            .collect()
    }

    /// The `ask` events and the `answer` events, each in stream order.
    pub fn asks_and_answers(&self) -> (Vec<&sc_events::Ask>, Vec<&sc_events::Answer>) {
        let asks = self
            .events
            .iter()
            .filter_map(|e| match &e.body {
                Body::Ask(ask) => Some(ask),
                _ => None,
            })
            .collect();
        let answers = self
            .events
            .iter()
            .filter_map(|e| match &e.body {
                Body::Answer(answer) => Some(answer),
                _ => None,
            })
            .collect();
        (asks, answers)
    }

    /// The messages of the `error` events, in stream order.
    /// The agent annotations of its output events, in order.
    pub fn agent_notes(&self) -> Vec<serde_json::Value> {
        self.events
            .iter()
            .filter_map(|e| match &e.body {
                Body::Output(o) => o.agent.clone(),
                _ => None,
            })
            .collect()
    }

    pub fn errors(&self) -> Vec<String> {
        self.events
            .iter()
            .filter_map(|e| match &e.body {
                Body::Error(error) => Some(error.message.clone()),
                _ => None,
            })
            .collect()
    }

    /// Every worker's `exit`, in stream order.
    pub fn exits(&self) -> Vec<(&str, &sc_events::Exit)> {
        self.events
            .iter()
            .filter_map(|e| match &e.body {
                Body::Exit(exit) => Some((e.worker.as_str(), exit)),
                _ => None,
            })
            .collect()
    }

    pub fn exit(&self) -> &sc_events::Exit {
        match self.of_type("exit").as_slice() {
            [event] => match &event.body {
                Body::Exit(exit) => exit,
                _ => unreachable!(),
            },
            other => panic!("expected one exit event, got {}", other.len()),
        }
    }

    /// The exact bytes of one output stream, in order.
    pub fn bytes(&self, stream: Stream) -> Vec<u8> {
        self.events
            .iter()
            .filter_map(output)
            .filter(|(s, _)| *s == stream)
            .flat_map(|(_, p)| p.as_bytes().to_vec())
            .collect()
    }

    /// The payloads of one output stream, event by event.
    pub fn chunks(&self, stream: Stream) -> Vec<Vec<u8>> {
        self.events
            .iter()
            .filter_map(output)
            .filter(|(s, _)| *s == stream)
            .map(|(_, p)| p.as_bytes().to_vec())
            .collect()
    }
}

pub fn output(event: &Event) -> Option<(Stream, &Payload)> {
    match &event.body {
        Body::Output(out) => Some((out.stream, &out.payload)),
        _ => None,
    }
}

/// A running sc-spawn whose stream is read line by line as it comes.
pub struct Live {
    pub child: Child,
    lines: Receiver<Vec<u8>>,
    stderr: Receiver<Vec<u8>>,
    pub seen: Vec<Vec<u8>>,
}

impl Live {
    pub fn start(args: &[&str]) -> Live {
        Live::start_with(sc_spawn().args(args))
    }

    pub fn start_with(command: &mut Command) -> Live {
        Live::spawn(command.stdin(Stdio::null()))
    }

    /// Start with `input` on stdin (written, then closed).
    pub fn start_fed(command: &mut Command, input: &[u8]) -> Live {
        let mut live = Live::spawn(command.stdin(Stdio::piped()));
        let mut stdin = live.child.stdin.take().expect("piped stdin");
        stdin.write_all(input).expect("feed stdin");
        live
    }

    fn spawn(command: &mut Command) -> Live {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start sc-spawn");
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        Live {
            child,
            lines: read_lines(stdout),
            stderr: read_lines(stderr),
            seen: Vec::new(),
        }
    }

    /// The next line of the stream, waiting at most PATIENCE.
    pub fn next(&mut self) -> Option<Event> {
        match self.lines.recv_timeout(PATIENCE) {
            Ok(line) => {
                let event = parse_line(&line).expect("valid event line");
                self.seen.push(line);
                Some(event)
            }
            Err(RecvTimeoutError::Disconnected) => None,
            Err(RecvTimeoutError::Timeout) => panic!("no event within {PATIENCE:?}"),
        }
    }

    /// Wait (bounded) for a line on sc-spawn's stderr that matches.
    pub fn stderr_line(&mut self, what: impl Fn(&str) -> bool) -> String {
        loop {
            let line = self
                .stderr
                .recv_timeout(PATIENCE)
                .expect("a line on stderr");
            let line = String::from_utf8_lossy(&line).into_owned();
            if what(&line) {
                return line;
            }
        }
    }

    /// Read until an event matches.
    pub fn until(&mut self, what: impl Fn(&Event) -> bool) -> Event {
        loop {
            let event = self.next().expect("stream ended before the expected event");
            if what(&event) {
                return event;
            }
        }
    }

    /// Read the rest of the stream and wait for sc-spawn to exit.
    pub fn finish(mut self) -> (Captured, ExitStatus) {
        while self.next().is_some() {}
        let status = wait_with_deadline(&mut self.child);
        (Captured::parse(&self.seen.concat()), status)
    }

    /// Read the rest of the stream and wait for sc-spawn to exit: the
    /// stream's bytes as they came.
    pub fn finish_bytes(mut self) -> (Vec<u8>, ExitStatus) {
        while self.next().is_some() {}
        let status = wait_with_deadline(&mut self.child);
        (self.seen.concat(), status)
    }

    pub fn signal(&self, signal: nix::sys::signal::Signal) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.child.id() as i32), signal)
            .expect("signal sc-spawn");
    }
}

fn read_lines(stdout: impl Read + Send + 'static) -> Receiver<Vec<u8>> {
    let (tx, rx) = channel();
    thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        loop {
            let mut line = Vec::new();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            }
        }
    });
    rx
}

pub fn wait_with_deadline(child: &mut Child) -> ExitStatus {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "process did not exit within {PATIENCE:?}"
        );
        thread::sleep(Duration::from_millis(5));
    }
}

/// Wait (bounded) until `condition` holds, looking every few milliseconds.
pub fn eventually(what: &str, condition: impl Fn() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        thread::sleep(Duration::from_millis(5));
    }
}

/// Whether a process is still running (a zombie no longer counts).
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat.rsplit(')').next().unwrap_or("").trim_start();
            !state.starts_with('Z') && !state.starts_with('X')
        }
        Err(_) => false,
    }
}

pub fn start_pid(event: &Event) -> u32 {
    match &event.body {
        Body::Start(start) => start.pid,
        other => panic!("expected start, got {other:?}"),
    }
}

pub fn text(event: &Event) -> String {
    match &event.body {
        Body::Output(out) => String::from_utf8_lossy(out.payload.as_bytes()).into_owned(),
        other => panic!("expected output, got {other:?}"),
    }
}

/// Read exactly one line, byte by byte, leaving the rest unread in the pipe.
pub fn first_line(reader: &mut impl Read) -> Vec<u8> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while byte[0] != b'\n' {
        reader.read_exact(&mut byte).expect("a whole first line");
        line.push(byte[0]);
    }
    line
}

/// `sc-view --check` accepts `stream` (in a file of its own: tests run
/// side by side).
pub fn assert_view_checks(stream: &[u8]) {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let file = temp_file(&format!("checked-{n}.ndjson"), stream);
    let view = Command::new(env!("CARGO_BIN_EXE_sc-view"))
        .arg("--check")
        .arg(&file)
        .output()
        .expect("run sc-view --check");
    assert!(
        view.status.success(),
        "sc-view --check: {}{}",
        String::from_utf8_lossy(&view.stdout),
        String::from_utf8_lossy(&view.stderr)
    );
}

/// What a bounded run of a program gave.
pub struct Ran {
    pub stdout: Vec<u8>,
    pub stderr: String,
    pub status: ExitStatus,
}

/// Run `command` with `input` on stdin, reading its outputs as they come
/// and waiting at most PATIENCE for it to end: a hang fails the test rather
/// than stalling the suite. A program that stops reading its stdin early is
/// no error here.
pub fn run_bounded(command: &mut Command, input: Vec<u8>) -> Ran {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the program");
    let mut stdin = child.stdin.take().expect("piped stdin");
    let feeder = thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let mut stdout = child.stdout.take().expect("piped stdout");
    let reader = thread::spawn(move || {
        let mut out = Vec::new();
        let _ = stdout.read_to_end(&mut out);
        out
    });
    let mut stderr = child.stderr.take().expect("piped stderr");
    let errors = thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let status = wait_with_deadline(&mut child);
    feeder.join().expect("feeder");
    Ran {
        stdout: reader.join().expect("reader"),
        stderr: errors.join().expect("stderr reader"),
        status,
    }
}

/// A group of tests that cannot run here (a tool not installed): said on
/// stderr (which cargo shows only for failures) and, when scripts/test
/// runs the suite, noted in $SC_SKIP_LOG so that it says so at the end.
pub fn skipped(group: &str, how_to_run: &str) {
    eprintln!("skipped: {group} ({how_to_run})");
    if let Some(log) = std::env::var_os("SC_SKIP_LOG") {
        use std::io::Write as _;
        if let Ok(mut file) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
        {
            // One short line per note, appended whole by each test thread.
            let _ = file.write_all(format!("{group}\t{how_to_run}\n").as_bytes());
        }
    }
}

/// A tool the tests need (sshd, Slurm, xmllint, Chromium) is not installed
/// here: under .ci/run (`SC_REQUIRE_REMOTE`) that fails the test; elsewhere
/// the group is said to be skipped. `packages` are Debian's.
pub fn engine_missing(group: &str, tool: &str, packages: &str) {
    assert!(
        std::env::var_os("SC_REQUIRE_REMOTE").is_none(),
        "{tool} is not installed: run .ci/run (apt-get install {packages})"
    );
    skipped(
        group,
        &format!("no {tool} here: .ci/run installs it (apt-get install {packages})"),
    );
}

/// Write an executable shell script.
pub fn executable(path: &std::path::Path, script: &str) {
    std::fs::write(path, script).expect("write the script");
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("make it executable");
}

/// The stream's `start` events' bodies, in order.
pub fn starts_of(run: &Captured) -> Vec<&Start> {
    run.events
        .iter()
        .filter_map(|e| match &e.body {
            Body::Start(s) => Some(s),
            _ => None,
        })
        .collect()
}

/// The stream's `retry` events' bodies, in order.
pub fn retries_of(run: &Captured) -> Vec<&sc_events::Retry> {
    run.events
        .iter()
        .filter_map(|e| match &e.body {
            Body::Retry(r) => Some(r),
            _ => None,
        })
        .collect()
}

/// The resident memory of process `pid`, in KiB.
pub fn vm_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// `command` started with its stdin (a pty's slave) as its controlling
/// terminal, in a session of its own, as a shell would start it there.
pub fn on_its_terminal(command: &mut Command) -> &mut Command {
    use std::os::unix::process::CommandExt;
    // SAFETY: setsid and ioctl are async-signal-safe; fd 0 is the terminal.
    unsafe {
        command.pre_exec(|| {
            nix::unistd::setsid()?;
            if libc::ioctl(0, libc::TIOCSCTTY, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    command
}

/// A pseudo-terminal of `rows` × `cols`: (master, slave), both closed on
/// exec. openpty(3) sets no close-on-exec: the tests run side by side, and
/// a child another test starts meanwhile would keep this terminal open (it
/// would never hang up when the test closes its master).
pub fn pty(rows: u16, cols: u16) -> (std::fs::File, std::fs::File) {
    use nix::fcntl::OFlag;
    use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd};
    use std::os::unix::fs::OpenOptionsExt;
    let master = nix::pty::posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)
        .expect("a pseudo-terminal");
    nix::pty::grantpt(&master).unwrap();
    nix::pty::unlockpt(&master).unwrap();
    let name = nix::pty::ptsname_r(&master).unwrap();
    // std opens with O_CLOEXEC.
    let slave = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY)
        .open(name)
        .unwrap();
    let size = nix::pty::Winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one Winsize from a valid pointer.
    assert_eq!(
        unsafe { libc::ioctl(slave.as_raw_fd(), libc::TIOCSWINSZ, &size) },
        0
    );
    // SAFETY: the descriptor is the master's own, given up by into_raw_fd.
    let master = unsafe { std::fs::File::from_raw_fd(master.into_raw_fd()) };
    (master, slave)
}
