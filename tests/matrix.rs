//! The combination matrix: every placement (here, a host over ssh, a Slurm
//! job step) × every feature where features meet (a shell command and an
//! agent; success, failure then retry, a budget cap, resume after Ctrl-C,
//! Ctrl-C mid-run, a timeout with retries left, `--pty`, limits, hostile
//! arguments and `-` ids). Each cell asserts what a user checks: one `exit`
//! per task, a stream `sc-view --check` accepts, the right number of runs,
//! the money counted once, and nothing of the worker left on either side.
//!
//! The agent is a stand-in `claude` on the worker's PATH (there, not here:
//! this machine's PATH has none for the placed cells); the real Claude
//! Code on a host is tests/remote.rs's `a_real_claude_code_runs_on_a_host`.
//! Ctrl-C while reconnecting exists only where a link is made again (ssh):
//! tests/reconnect.rs's `an_interrupt_while_reconnecting_ends_the_remote_worker`.

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use nix::sys::signal::Signal;
use sc_events::{Body, Stream};

use crate::util::*;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Place {
    Here,
    Ssh,
    Slurm,
}

impl Place {
    /// Ready to run here; false (said as skipped, or a failure in CI) when
    /// its engine is not installed.
    fn ready(self) -> bool {
        match self {
            Place::Here => true,
            Place::Ssh => crate::sshd::sshd().is_some(),
            Place::Slurm => crate::slurm::cluster().is_some(),
        }
    }

    /// sc-spawn with the flags that place its workers (a plan's tasks get
    /// their host from [`Place::task`]).
    fn sc_spawn(self) -> Command {
        let mut command = sc_spawn();
        command.env_remove("SC_CLAUDE");
        match self {
            Place::Here => {}
            Place::Ssh => {
                let config = crate::sshd::sshd().expect("sshd");
                command
                    .arg("--ssh")
                    .arg(format!("ssh -F {}", config.display()))
                    .args(["--remote-sc", env!("CARGO_BIN_EXE_sc-spawn")]);
            }
            Place::Slurm => {
                command.args(["--slurm", "--remote-sc", env!("CARGO_BIN_EXE_sc-spawn")]);
            }
        }
        command
    }

    /// One worker placed so, with `args`.
    fn one(self, args: &[&str]) -> Command {
        let mut command = self.sc_spawn();
        if self == Place::Ssh {
            command.args(["--host", "lab"]);
        }
        command.args(args);
        command
    }

    /// A plan line for task `id` placed so, with `fields`.
    fn task(self, id: &str, fields: serde_json::Value) -> String {
        let mut task = serde_json::json!({
            "type": "task", "worker": id, "seq": 0, "ts": 1.0, "id": id,
        });
        let object = task.as_object_mut().unwrap();
        object.extend(fields.as_object().unwrap().clone());
        if self == Place::Ssh {
            object.insert("host".into(), "lab".into());
        }
        format!("{task}\n")
    }
}

/// A cell's own folder, and the mark its processes carry (in their
/// environment, wherever they run) so that what is left of them is found.
struct Cell {
    place: Place,
    dir: PathBuf,
    mark: String,
}

impl Cell {
    fn new(place: Place, name: &str) -> Option<Cell> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        if !place.ready() {
            return None;
        }
        let mark = format!(
            "sc-matrix-{}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed),
            name
        );
        let dir = temp_dir(&format!("matrix-{place:?}-{name}"));
        Some(Cell { place, dir, mark })
    }

    /// `--env` flags every worker of the cell gets: the mark, and a PATH
    /// where the stand-in agent is (when there is one).
    fn env(&self) -> Vec<String> {
        vec![
            format!("--env=SC_MATRIX={}", self.mark),
            format!(
                "--env=PATH={}:/usr/local/bin:/usr/bin:/bin",
                self.bin().display()
            ),
        ]
    }

    fn bin(&self) -> PathBuf {
        self.dir.join("bin")
    }

    /// A stand-in `claude` on the workers' PATH: each run noted in `runs`
    /// (its arguments), a session `sess-1` opened, `usd` spent, and its
    /// `result` reported (`success`, an error, or `hang`: it never ends).
    fn claude(&self, usd: f64, result: &str) {
        let runs = self.dir.join("runs");
        let ending = match result {
            "hang" => "exec sleep 120\n".to_owned(),
            result => format!(
                "echo '{{\"type\":\"result\",\"subtype\":\"{result}\",\"is_error\":{},\"result\":\"done\",\"session_id\":\"sess-1\",\"total_cost_usd\":{usd}}}'\n",
                result != "success"
            ),
        };
        std::fs::create_dir_all(self.bin()).unwrap();
        executable(
            &self.bin().join("claude"),
            &format!(
                "#!/bin/sh\necho \"$*\" >> '{}'\n\
                 echo '{{\"type\":\"system\",\"subtype\":\"init\",\"session_id\":\"sess-1\",\"model\":\"claude-sonnet-4-5\"}}'\n{ending}",
                runs.display()
            ),
        );
    }

    /// The runs noted (by the stand-in, or a shell command's `note`).
    fn runs(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.join("runs"))
            .map(|t| t.lines().map(str::to_owned).collect())
            .unwrap_or_default()
    }

    /// A shell command line that notes its run first.
    fn note(&self, then: &str) -> String {
        format!("echo run >> '{}'; {then}", self.dir.join("runs").display())
    }

    /// This machine's PATH for the cell: the stand-in is found here only
    /// when the worker runs here.
    fn local_path(&self) -> String {
        match self.place {
            Place::Here => format!("{}:/usr/bin:/bin", self.bin().display()),
            _ => "/usr/bin:/bin".into(),
        }
    }

    /// Run one worker (`args` before `--`, then `command`), bounded.
    fn run_one(&self, args: &[&str], command: &[&str]) -> (Captured, Ran) {
        let mut sc = self.place.one(args);
        sc.args(self.env())
            .arg("--")
            .args(command)
            .env("PATH", self.local_path());
        let ran = run_bounded(&mut sc, Vec::new());
        (self.checked(&ran.stdout), ran)
    }

    /// Run a plan of `lines` with `args`, bounded.
    fn run_plan(&self, args: &[&str], lines: &str) -> (Captured, Ran) {
        let mut sc = self.place.sc_spawn();
        sc.args(args)
            .args(self.env())
            .env("PATH", self.local_path());
        let ran = run_bounded(&mut sc, lines.as_bytes().to_vec());
        (self.checked(&ran.stdout), ran)
    }

    /// The user's view of any stream: the contract (seq from 0, no gap, one
    /// `exit` per worker, last), sc-view --check agreeing, and nothing of
    /// the cell's workers left running, here or there.
    fn checked(&self, stream: &[u8]) -> Captured {
        let run = Captured::parse(stream);
        assert_view_checks(stream);
        eventually(&format!("nothing of {} is left", self.mark), || {
            marked(&self.mark).is_empty()
        });
        run
    }
}

/// Processes whose environment or arguments carry `mark`.
fn marked(mark: &str) -> Vec<u32> {
    let me = std::process::id();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != me)
        .filter(|pid| {
            ["environ", "cmdline"].iter().any(|what| {
                std::fs::read(format!("/proc/{pid}/{what}"))
                    .is_ok_and(|bytes| bytes.windows(mark.len()).any(|w| w == mark.as_bytes()))
            })
        })
        .collect()
}

fn shell_success(place: Place) {
    let Some(cell) = Cell::new(place, "shell-ok") else {
        return;
    };
    let (run, ran) = cell.run_one(&[], &["sh", "-c", &cell.note("echo hello")]);
    assert_eq!(ran.status.code(), Some(0), "{}", ran.stderr);
    assert_eq!(run.bytes(Stream::Stdout), b"hello\n");
    assert_eq!(cell.runs().len(), 1);
}

fn shell_failure_then_retry(place: Place) {
    let Some(cell) = Cell::new(place, "shell-retry") else {
        return;
    };
    let script = cell.note("[ $(wc -l < \"$RUNS\") -ge 2 ] && exit 0; exit 3");
    let runs = format!("--env=RUNS={}", cell.dir.join("runs").display());
    let (run, ran) = cell.run_one(
        &[
            "--retries",
            "2",
            "--retry-delay",
            "0.1",
            "--retry-on",
            "any",
            &runs,
        ],
        &["sh", "-c", &script],
    );
    assert_eq!(ran.status.code(), Some(0), "{}", ran.stderr);
    assert_eq!(cell.runs().len(), 2, "failed once, retried once");
    assert_eq!(retries_of(&run).len(), 1);
    assert_eq!(starts_of(&run).len(), 2);
}

fn agent_success(place: Place) {
    let Some(cell) = Cell::new(place, "agent-ok") else {
        return;
    };
    cell.claude(0.25, "success");
    let (run, ran) = cell.run_one(
        &["--kind", "claude-code", "--prompt", "hi", "--retries", "2"],
        &[],
    );
    assert_eq!(ran.status.code(), Some(0), "{}", ran.stderr);
    let exit = run.exit();
    assert_eq!(exit.agent_result.as_deref(), Some("ok"));
    assert_eq!(exit.cost_usd, Some(0.25), "paid once");
    assert_eq!(cell.runs().len(), 1, "a success is not run again");
    assert!(retries_of(&run).is_empty());
}

fn agent_failure_then_retry(place: Place) {
    let Some(cell) = Cell::new(place, "agent-retry") else {
        return;
    };
    cell.claude(0.25, "error_during_execution");
    let (run, ran) = cell.run_one(
        &[
            "--kind",
            "claude-code",
            "--prompt",
            "hi",
            "--retries",
            "1",
            "--retry-delay",
            "0.1",
            "--retry-on",
            "any",
        ],
        &[],
    );
    assert_eq!(ran.status.code(), Some(1), "{}", ran.stderr);
    let runs = cell.runs();
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert!(runs[1].contains("--resume sess-1"), "{runs:?}");
    assert_eq!(starts_of(&run)[1].resumes.as_deref(), Some("sess-1"));
    assert_eq!(
        run.exit().cost_usd,
        Some(0.5),
        "both attempts, counted once"
    );
}

fn budget_cap(place: Place) {
    let Some(cell) = Cell::new(place, "budget") else {
        return;
    };
    cell.claude(5.0, "success");
    let task = |id| {
        place.task(
            id,
            serde_json::json!({"kind": "claude-code", "prompt": "spend"}),
        )
    };
    let (run, ran) = cell.run_plan(
        &["-j", "1", "--budget-usd", "1"],
        &(task("first") + &task("second")),
    );
    assert_eq!(ran.status.code(), Some(1), "{}", ran.stderr);
    assert_eq!(cell.runs().len(), 1, "the second task is not run");
    let skip = run.events.iter().find_map(|e| match &e.body {
        Body::Skip(skip) if e.worker == "second" => Some(skip.reason.as_str()),
        _ => None,
    });
    assert_eq!(skip, Some("budget"));
    let spent: f64 = run.exits().iter().filter_map(|(_, e)| e.cost_usd).sum();
    assert_eq!(spent, 5.0, "the money counted once");
}

fn resume_after_interrupt(place: Place) {
    let Some(cell) = Cell::new(place, "resume") else {
        return;
    };
    cell.claude(0.1, "hang");
    let plan = place.task(
        "fix",
        serde_json::json!({"kind": "claude-code", "prompt": "fix it"}),
    );
    let mut sc = place.sc_spawn();
    sc.args(["--kill-grace", "2"])
        .args(cell.env())
        .env("PATH", cell.local_path());
    let mut live = Live::start_fed(&mut sc, plan.as_bytes());
    // Its session is open: cut the run off.
    live.until(|e| output(e).is_some() && text(e).contains("sess-1"));
    live.signal(Signal::SIGINT);
    let (stream, _) = live.finish_bytes();
    let log = temp_file(&format!("{}.log", cell.mark), &stream);
    let first = cell.checked(&stream);
    assert_eq!(first.exits()[0].1.ended_by.as_deref(), Some("interrupted"));
    // Run again with the log: the task resumes its session where it ran.
    cell.claude(0.1, "success");
    let (run, ran) = cell.run_plan(&["--resume", log.to_str().unwrap()], &plan);
    assert_eq!(ran.status.code(), Some(0), "{}", ran.stderr);
    assert_eq!(starts_of(&run)[0].resumes.as_deref(), Some("sess-1"));
    let runs = cell.runs();
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert!(runs[1].contains("--resume sess-1"), "{runs:?}");
}

fn interrupt_mid_run(place: Place) {
    let Some(cell) = Cell::new(place, "interrupt") else {
        return;
    };
    let id = format!("--id={}", cell.mark);
    let mut sc = place.one(&["--kill-grace", "2", &id]);
    sc.args(cell.env())
        // One process that says it is up and then waits: a shell between
        // would fork, and a SIGINT that lands in the fork is lost to it
        // (then the shell, waiting for a child that never saw SIGINT,
        // rightly does not exit: the grace runs out and SIGKILL ends it).
        .args(["--", "perl", "-e", "$| = 1; print qq(up\n); sleep 120"])
        .env("PATH", cell.local_path());
    let mut live = Live::start_with(&mut sc);
    live.until(|e| output(e).is_some() && text(e).contains("up"));
    if place == Place::Ssh {
        // The worker is spooled there (--reconnect): prompts and output
        // in its spool are the user's alone.
        let tidy: String = cell
            .mark
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        let spool = std::fs::read_dir("/tmp")
            .unwrap()
            .flatten()
            .find(|e| e.file_name().to_string_lossy().ends_with(&tidy))
            .expect("the spool there");
        let mode =
            std::os::unix::fs::PermissionsExt::mode(&spool.metadata().unwrap().permissions());
        assert_eq!(mode & 0o777, 0o700, "{}", spool.path().display());
    }
    live.signal(Signal::SIGINT);
    let (stream, status) = live.finish_bytes();
    let run = cell.checked(&stream);
    assert_eq!(run.exit().ended_by.as_deref(), Some("interrupted"));
    assert_eq!(
        status.code(),
        Some(130),
        "sc-spawn's own status on SIGINT: {:?}",
        run.events
    );
}

fn timeout_with_retries_left(place: Place) {
    let Some(cell) = Cell::new(place, "timeout") else {
        return;
    };
    let (run, ran) = cell.run_one(
        &[
            "--timeout",
            "0.5",
            "--kill-grace",
            "1",
            "--retries",
            "2",
            "--retry-on",
            "any",
        ],
        &["sh", "-c", &cell.note("sleep 120")],
    );
    assert_eq!(ran.status.code(), Some(124), "{}", ran.stderr);
    let exit = run.exit();
    assert!(exit.timed_out);
    assert_eq!(exit.ended_by.as_deref(), Some("timeout"));
    assert_eq!(
        cell.runs().len(),
        1,
        "a timeout is no failure that may pass"
    );
}

fn pty_and_limits(place: Place) {
    let Some(cell) = Cell::new(place, "pty-limits") else {
        return;
    };
    let flags = ["--pty", "--nice", "7", "--cpu-s", "60"];
    let script = "[ -t 1 ] && echo terminal; nice; ulimit -t";
    let expect = |run: &Captured| {
        let text = String::from_utf8_lossy(&run.bytes(Stream::Pty)).into_owned();
        let lines: Vec<&str> = text.lines().map(str::trim).collect();
        assert_eq!(lines, ["terminal", "7", "60"], "{text:?}");
        let start = starts_of(run)[0];
        assert!(start.pty);
        assert_eq!(start.limits.as_ref().and_then(|l| l.limits.cpu_s), Some(60));
    };
    let (run, ran) = cell.run_one(&flags, &["sh", "-c", script]);
    assert_eq!(ran.status.code(), Some(0), "{}", ran.stderr);
    expect(&run);
    // A plan's task: the same flags, the same effect.
    let task = place.task("t", serde_json::json!({"argv": ["sh", "-c", script]}));
    let (run, ran) = cell.run_plan(&flags, &task);
    assert_eq!(ran.status.code(), Some(0), "{}", ran.stderr);
    expect(&run);
}

fn hostile_arguments_and_dash_ids(place: Place) {
    let Some(cell) = Cell::new(place, "hostile") else {
        return;
    };
    let dir = cell.dir.join("-d");
    std::fs::create_dir_all(&dir).unwrap();
    let cwd = format!("--cwd={}", dir.display());
    let hostile = "it's $(touch /tmp/sc-pwned) `x` ; \"q\" \\ \n\tend";
    let (run, ran) = cell.run_one(
        &["--id=-x", &cwd],
        &["sh", "-c", "pwd; printf %s \"$1\"", "sh", hostile],
    );
    assert_eq!(ran.status.code(), Some(0), "{}", ran.stderr);
    assert!(run.events.iter().all(|e| e.worker == "-x"));
    let out = String::from_utf8_lossy(&run.bytes(Stream::Stdout)).into_owned();
    assert_eq!(out, format!("{}\n{hostile}", dir.display()));
}

/// One test per cell and placement, so that each is named when it fails
/// and they run side by side.
macro_rules! matrix {
    ($($cell:ident),* $(,)?) => {
        mod here { $( #[test] fn $cell() { super::$cell(super::Place::Here) } )* }
        mod ssh { $( #[test] fn $cell() { super::$cell(super::Place::Ssh) } )* }
        mod slurm { $( #[test] fn $cell() { super::$cell(super::Place::Slurm) } )* }
    };
}

matrix!(
    shell_success,
    shell_failure_then_retry,
    agent_success,
    agent_failure_then_retry,
    budget_cap,
    resume_after_interrupt,
    interrupt_mid_run,
    timeout_with_retries_left,
    pty_and_limits,
    hostile_arguments_and_dash_ids,
);

/// A host that starts with `-` is refused, never handed to ssh.
#[test]
fn a_host_that_is_an_option_is_refused() {
    let task = serde_json::json!({
        "type": "task", "worker": "evil", "seq": 0, "ts": 1.0, "id": "evil",
        "host": "-oProxyCommand=touch /tmp/sc-pwned", "argv": ["true"],
    });
    let ran = run_bounded(&mut sc_spawn(), format!("{task}\n").into_bytes());
    let run = Captured::parse(&ran.stdout);
    assert_eq!(run.exit().code, Some(127));
    assert!(run.events.iter().any(|e| matches!(&e.body,
        Body::Error(error) if error.message.contains("starts with `-`"))));
}

/// The real Claude Code on a host, its API overloaded at first: the
/// sc-spawn there retries it, resuming its session (the mock sees the
/// earlier conversation), and one `exit` comes back with the verdict.
#[test]
fn real_claude_code_on_a_host_is_retried_there_resuming_its_session() {
    use std::sync::Arc;
    use std::sync::atomic::AtomicUsize;

    use crate::mock_model::{MockModel, Reply, Turn};

    let Some(cell) = Cell::new(Place::Ssh, "real-claude") else {
        return;
    };
    let Some(claude) = agent_cli("claude", "SC_CLAUDE") else {
        return;
    };
    let overloaded = Arc::new(AtomicUsize::new(0));
    let seen = overloaded.clone();
    let mock = MockModel::replying(move |body| {
        Some(if body.contains("previous attempt") {
            Reply::Turn(Turn {
                pieces: vec!["Nothing to count.".into()],
                tool: None,
            })
        } else {
            seen.fetch_add(1, Ordering::SeqCst);
            Reply::Error(529)
        })
    });
    let home = cell.dir.join("home");
    std::fs::create_dir_all(&home).unwrap();
    let mut sc = Place::Ssh.one(&[
        "--kind",
        "claude-code",
        "--prompt",
        "Count the files here, then say how many.",
        "--retries",
        "2",
        "--retry-delay",
        "0.2",
    ]);
    sc.arg(format!("--cwd={}", cell.dir.display()))
        .arg(format!("--env=SC_MATRIX={}", cell.mark))
        .arg(format!(
            "--env=PATH={}:/usr/local/bin:/usr/bin:/bin",
            claude.parent().unwrap().display()
        ))
        .arg(format!("--env=ANTHROPIC_BASE_URL={}", mock.url()))
        .arg("--env=ANTHROPIC_API_KEY=sk-ant-test-key-for-the-mock")
        .arg("--env=CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1")
        .arg("--env=CLAUDE_CODE_MAX_RETRIES=0")
        .arg(format!("--env=HOME={}", home.display()))
        .env_remove("SC_CLAUDE")
        .env("PATH", "/usr/bin:/bin");
    let ran = run_bounded(&mut sc, Vec::new());
    let run = cell.checked(&ran.stdout);
    assert_eq!(ran.status.code(), Some(0), "{}", ran.stderr);
    assert_eq!(retries_of(&run).len(), 1, "retried once, there");
    let requests = mock.requests.lock().unwrap().clone();
    assert_resumed(&run, &requests, "--resume", "Count the files");
    let exit = run.exit();
    assert_eq!(exit.agent_result.as_deref(), Some("ok"));
    assert!(
        starts_of(&run)
            .iter()
            .all(|s| s.host.as_deref() == Some("lab"))
    );
    assert!(overloaded.load(Ordering::SeqCst) >= 1);
}
