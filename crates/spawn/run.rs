//! sc-spawn's job: turn the command line into one worker and supervise it.

use std::ffi::OsString;
use std::io::{self};
use std::os::fd::AsFd;
use std::path::Path;
use std::time::Duration;

use sc_capture::{InputSpec, PtyMode, Spec, StdinMode, Supervisor, terminal_size};
use sc_events::{Limits, Task};
use sc_planner::roles::{Catalogue, Role};

use crate::cli::{Cli, PtyArg};

/// Usage errors and sc-spawn's own failures (not the worker's).
const EXIT_USAGE: i32 = 2;
/// sc-spawn itself failed (its poller, writing its stream or its log, its
/// control socket, reading the plan): not the worker's code, not a usage
/// error — as timeout(1) says its own failure.
const EXIT_TROUBLE: i32 = 125;

pub fn run(cli: Cli) -> i32 {
    if let Some(what) = cli.generate {
        return sc_clikit::generate::<Cli>("sc-spawn", what);
    }
    // The remote side of a placement, as the local side asks for it.
    use sc_capture::placement::there;
    if let Some(dir) = &cli.attach {
        return there::attach(dir, cli.id.as_deref().unwrap_or_default(), cli.from_byte);
    }
    if let Some(dir) = cli.spool.clone() {
        return there::spooled(&dir, Duration::from_secs(cli.lease), || run_here(cli));
    }
    run_here(cli)
}

/// Run the worker or the plan, with this process's stdin and stdout.
fn run_here(cli: Cli) -> i32 {
    match crate::setup::prepare(&cli) {
        Ok(run) => supervise(&cli, run),
        Err(message) => {
            eprintln!("sc-spawn: {message}");
            EXIT_USAGE
        }
    }
}

/// The poller, run over what [`crate::setup::prepare`] made; sc-spawn's
/// own exit status.
fn supervise(cli: &Cli, run: crate::setup::Prepared) -> i32 {
    let stdout = io::stdout();
    let mut supervisor = match Supervisor::new(stdout.as_fd()) {
        Ok(supervisor) => supervisor,
        Err(e) => {
            eprintln!("sc-spawn: cannot set up the poller and signal handlers: {e}");
            return EXIT_TROUBLE;
        }
    };
    supervisor.set_notices("sc-spawn");
    supervisor.set_view_downstream(view_downstream(&stdout));
    let controlled = cli.ask || cli.control.is_some();
    // A plan's task may ask (`"ask": true`) without --ask: its asks are
    // answered through the socket too, so a plan always serves one where
    // it can (a placed task is a plan of one, reached through its
    // connection).
    let plan_may_ask = run.one.is_none();
    if controlled || plan_may_ask {
        let path = crate::setup::control_path(cli);
        if let Err(e) = supervisor.set_control(&path) {
            let message = format!("cannot serve the control socket {}: {e}", path.display());
            if controlled {
                eprintln!("sc-spawn: {message}");
                return EXIT_TROUBLE;
            }
            supervisor.say_error(format!(
                "{message}: the asks of its tasks can be answered only by --ask-cmd or the timeout"
            ));
        }
    }
    // A run with a control socket keeps its stream (unless it has a log of
    // its own) so that `sc-view --attach` can follow it from its first
    // event: a new file of sc's in the private runs folder, never one
    // derived from a path the user gave; removed when the run ends.
    let mut own_log = None;
    if let Some(path) = &cli.log {
        let mut options = std::fs::OpenOptions::new();
        options.create(true).append(true);
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        match options.open(path) {
            Ok(file) => {
                supervisor.set_log(file, true);
                supervisor.set_log_path(path.clone());
            }
            Err(e) => {
                eprintln!("sc-spawn: cannot open the log {}: {e}", path.display());
                return EXIT_TROUBLE;
            }
        }
    } else if controlled {
        let name = format!("run-{}.ndjson", std::process::id());
        match sc_capture::private::runs_dir().and_then(|dir| dir.create_file_anew(&name)) {
            Ok((file, path)) => {
                supervisor.set_log(file, false);
                supervisor.set_log_path(path.clone());
                own_log = Some(path);
            }
            Err(e) => supervisor.say_error(format!(
                "the run's stream is not kept for `sc-view --attach`: {e}"
            )),
        }
    }
    let placements = run.placements.clone();
    let code = supervise_with(cli, run, &mut supervisor);
    drop(supervisor);
    // Its connections closed, its allocation given back: every worker has
    // ended (Ctrl-C included).
    placements.close();
    if let Some(path) = own_log {
        let _ = std::fs::remove_file(path);
    }
    code
}

/// The run itself, its supervisor set up.
fn supervise_with(cli: &Cli, run: crate::setup::Prepared, supervisor: &mut Supervisor) -> i32 {
    if cli.end_on_stdin_eof {
        sc_capture::placement::there::end_on_stdin_eof(crate::setup::control_path(cli));
    }
    let took_terminal = run.options.template_spec.stdin == StdinMode::Terminal;
    let single = run.one.is_some();
    let planned = match run.one {
        None => supervisor
            .plan_from(&InputSpec::Stdin, run.options)
            .map_err(|e| (format!("cannot read the plan on stdin: {e}"), EXIT_TROUBLE)),
        // A task that cannot be run as given: the command line's fault.
        Some(task) => supervisor
            .plan_one(task, run.options)
            .map_err(|message| (message, EXIT_USAGE)),
    };
    if let Err((message, code)) = planned {
        eprintln!("sc-spawn: {message}");
        return code;
    }
    supervisor.set_worktrees(cli.worktree);
    supervisor.set_budget(cli.budget_usd);
    supervisor.set_fail_fast(cli.fail_fast);
    if let Some((earlier, log)) = run.earlier {
        if earlier.unreadable > 0 {
            eprintln!(
                "sc-spawn: {log}: {} line(s) are not events and were passed over",
                earlier.unreadable
            );
        }
        supervisor.set_earlier(earlier, log);
    }
    let result = supervisor.run();
    if took_terminal {
        sc_capture::take_terminal_back();
    }
    match result {
        Ok(report) => {
            if let Some(e) = report.write_error {
                eprintln!("sc-spawn: writing the event stream to stdout failed: {e}");
                return EXIT_TROUBLE;
            }
            if report.downstream_closed {
                // Like `rg ... | head`: the reader chose to stop; not an error.
                return 0;
            }
            // The plan (stdin) could not be read: what ran is not all that
            // was asked for, whatever the tasks that did run said.
            if let Some(message) = report.unreadable_inputs.first() {
                eprintln!("sc-spawn: {message}");
                return EXIT_TROUBLE;
            }
            // A plan interrupted: as the signal would have ended it, however
            // its workers ended (a second Ctrl-C kills them: not 137). One
            // command's status stays its worker's (the contract).
            if let (Some(signal), false) = (report.interrupted, single) {
                return 128 + signal;
            }
            if !single && report.no_plan {
                eprintln!(
                    "sc-spawn: stdin held lines but no task: sc-spawn runs a plan of `task` events \
                     (sc-events(7)), never a line as a command. Make one from command lines with \
                     sc-plan: `printf '%s\\n' 'cargo build' 'cargo test' | sc-plan --kind shell | \
                     sc-spawn`, or run one command: `sc-spawn -- cargo build`"
                );
                return EXIT_USAGE;
            }
            match single {
                true => supervisor.exit_code(0),
                false => i32::from(report.plan_succeeded != Some(true)),
            }
        }
        Err(e) => {
            eprintln!("sc-spawn: polling failed: {e}");
            EXIT_TROUBLE
        }
    }
}

/// How the workers are launched: single-worker mode's command, and for
/// every task the directory, environment, stdin, PTY and limits the flags
/// give (SC_WORKER is each task's own, set where it is launched).
pub(crate) fn spec(cli: &Cli) -> Spec {
    let env = cli.env.clone();
    Spec {
        argv: cli.command.clone(),
        cwd: cli.cwd.clone(),
        env,
        input: None,
        stdin: if cli.stdin && sc_capture::owns_terminal() {
            // The worker reads the terminal: it becomes the foreground job.
            StdinMode::Terminal
        } else if cli.stdin {
            StdinMode::Inherit
        } else {
            StdinMode::Null
        },
        pty: match cli.pty {
            None => PtyMode::Off,
            Some(PtyArg::All) => PtyMode::All,
            Some(PtyArg::Stdout) => PtyMode::Stdout,
        },
        // Set for an agent's task.
        own_cgroup: false,
        limits: limits(cli),
        // Its stdout is usually the stream's pipe: ask stderr, then stdin.
        pty_size: terminal_size(2)
            .or_else(|| terminal_size(0))
            .unwrap_or((80, 24)),
    }
}

/// The role named by --role, from the built-in catalogue and --roles-file.
pub(crate) fn role(cli: &Cli) -> Result<Option<Role>, String> {
    let Some(name) = &cli.role else {
        return Ok(None);
    };
    let mut catalogue = Catalogue::built_in();
    if let Some(path) = &cli.roles_file {
        let json = std::fs::read_to_string(path)
            .map_err(|e| format!("roles file {}: {e}", path.display()))?;
        catalogue
            .overlay(&json)
            .map_err(|e| format!("roles file {}: {e}", path.display()))?;
    }
    catalogue.get(name).cloned().map(Some).ok_or_else(|| {
        format!(
            "unknown role `{name}` (known: {})",
            catalogue.names().join(", ")
        )
    })
}

/// Single-worker mode's task: what the command line asks for, as a plan
/// line would (its command, if any, is the template's argv).
pub(crate) fn task_of(
    cli: &Cli,
    role: Option<&Role>,
    agent: Option<&dyn sc_capture::agent::Agent>,
) -> Task {
    let id = match (&cli.id, role, agent, cli.command.first()) {
        (Some(id), ..) => id.clone(),
        (None, Some(role), _, _) => role.id.clone(),
        (None, None, Some(kind), _) => kind.name().to_owned(),
        (None, None, None, Some(program)) => default_id(program),
        _ if cli.replay.is_some() => "replay".into(),
        _ => "worker".into(),
    };
    Task {
        id,
        kind: Some(cli.kind.clone()),
        prompt: cli.prompt.clone().filter(|_| cli.replay.is_none()),
        instructions: role.map(|r| r.instructions.clone()),
        permissions: role.and_then(|r| agent.and_then(|a| r.permissions.get(a.name()).cloned())),
        host: cli.host.clone(),
        acp_agent: cli.acp_agent.clone(),
        ..Task::default()
    }
}

/// `--task JSON`: a plan line's task (the `task` event, or its body).
pub(crate) fn placed_task(json: &str) -> Result<Task, String> {
    let value: serde_json::Value =
        serde_json::from_str(json).map_err(|e| format!("not JSON: {e}"))?;
    let mut task: Task = serde_json::from_value(value).map_err(|e| format!("not a task: {e}"))?;
    if task.id.is_empty() {
        return Err("the task has no id".into());
    }
    // It runs here: where it was to go has been decided.
    task.host = None;
    task.slurm = None;
    Ok(task)
}

/// The flags the remote sc-spawn runs the worker with.
pub(crate) fn remote_flags(cli: &Cli) -> Vec<OsString> {
    let mut flags: Vec<String> = vec![
        "--flush-ms".into(),
        cli.flush_ms.to_string(),
        "--max-event-bytes".into(),
        cli.max_event_bytes.to_string(),
        "--heartbeat".into(),
        cli.heartbeat.to_string(),
        "--stall".into(),
        cli.stall.to_string(),
        "--kill-grace".into(),
        cli.kill_grace.to_string(),
        "--drain-ms".into(),
        cli.drain_ms.to_string(),
        // An agent's verdict and spending are read there, so its grace and
        // caps apply there.
        "--agent-exit-grace".into(),
        cli.agent_exit_grace.to_string(),
    ];
    if let Some(model) = &cli.model {
        flags.push(format!("--model={model}"));
    }
    if let Some(turns) = cli.max_turns {
        flags.push(format!("--max-turns={turns}"));
    }
    if cli.dangerously_skip_permissions {
        flags.push("--dangerously-skip-permissions".into());
    }
    for arg in &cli.agent_arg {
        flags.push(format!("--agent-arg={arg}"));
    }
    if cli.no_progress {
        flags.push("--no-progress".into());
    }
    flags.into_iter().map(OsString::from).collect()
}

/// The built-in price table, with --prices laid over it.
pub(crate) fn prices(cli: &Cli) -> Result<sc_agents::Prices, String> {
    let mut prices = sc_agents::Prices::built_in();
    if let Some(path) = &cli.prices {
        let json = std::fs::read_to_string(path)
            .map_err(|e| format!("price table {}: {e}", path.display()))?;
        prices
            .overlay(&json)
            .map_err(|e| format!("price table {}: {e}", path.display()))?;
    }
    Ok(prices)
}

fn limits(cli: &Cli) -> Option<Limits> {
    let limits = Limits {
        max_rss_mib: cli.max_rss_mib,
        cpu_s: cli.cpu_s,
        nice: cli.nice,
    };
    (limits != Limits::default()).then_some(limits)
}

fn default_id(program: &OsString) -> String {
    Path::new(program)
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "worker".into())
}

pub(crate) fn secs(value: f64) -> Option<Duration> {
    (value > 0.0).then(|| Duration::from_secs_f64(value))
}

/// The stream goes down a pipe while stderr is a terminal: a view (or the
/// next program) shares the terminal and gets its Ctrl-C too.
fn view_downstream(stdout: &io::Stdout) -> bool {
    use std::os::unix::fs::FileTypeExt;
    let piped = stdout
        .as_fd()
        .try_clone_to_owned()
        .map(std::fs::File::from)
        .and_then(|f| f.metadata())
        .is_ok_and(|m| m.file_type().is_fifo());
    piped && std::io::IsTerminal::is_terminal(&io::stderr())
}
