//! sc-spawn's job: turn the command line into one worker and supervise it.

use std::ffi::OsString;
use std::io::{self, IsTerminal, Write};
use std::os::fd::AsFd;
use std::path::Path;
use std::time::Duration;

use std::sync::Arc;

use sc_agents::AgentOptions;
use sc_capture::agent::{Agents, Ask};
use sc_capture::remote::{Remote, RemoteRun, Slurm};
use sc_capture::scheduler::PlanOptions;
use sc_capture::transfer::Transfer;
use sc_capture::worker::Retry;
use sc_capture::{InputSpec, PtyMode, Spec, StdinMode, Supervisor, WorkerOptions, terminal_size};
use sc_events::Limits;
use sc_planner::roles::{Catalogue, Role};

use crate::cli::{Cli, PtyArg};

/// Usage errors and sc-spawn's own failures (not the worker's).
const EXIT_USAGE: i32 = 2;

pub fn run(cli: Cli) -> i32 {
    if let Some(what) = cli.generate {
        return sc_clikit::generate::<Cli>("sc-spawn", what);
    }
    if let Some(dir) = &cli.attach {
        return crate::attach::attach(dir, cli.id.as_deref().unwrap_or_default(), cli.from_byte);
    }
    if let Some(dir) = cli.spool.clone() {
        crate::attach::watch_lease(dir.clone(), Duration::from_secs(cli.lease));
        let code = run_here(cli);
        crate::attach::spool_done(&dir);
        return code;
    }
    run_here(cli)
}

/// Run the worker or the plan, with this process's stdin and stdout.
fn run_here(cli: Cli) -> i32 {
    let plan_mode = cli.command.is_empty() && cli.prompt.is_none() && cli.replay.is_none();
    if plan_mode && io::stdin().is_terminal() {
        eprintln!(
            "sc-spawn: no command, and no plan on stdin: run a command with `sc-spawn -- CMD [ARGS...]`, \
             an agent with `sc-spawn --kind claude-code --prompt TEXT`, or pipe a plan in \
             (`sc-plan TASK | sc-spawn`); see --help"
        );
        return EXIT_USAGE;
    }
    if !plan_mode && cli.resume.is_some() {
        eprintln!(
            "sc-spawn: --resume LOG re-runs a plan read on stdin (`sc-spawn --resume run.ndjson < plan.ndjson`); \
             to run a failed worker again, use --retries"
        );
        return EXIT_USAGE;
    }
    // Read before the log (which may be the same file) is opened to append.
    let earlier = match &cli.resume {
        Some(path) => match sc_capture::resume::read(path) {
            Ok(run) => Some((run, path.display().to_string())),
            Err(e) => {
                eprintln!(
                    "sc-spawn: cannot read the earlier run {}: {e} (give the stream an earlier run wrote with --log)",
                    path.display()
                );
                return EXIT_USAGE;
            }
        },
        None => None,
    };
    if plan_mode && (cli.stdin || cli.id.is_some()) {
        eprintln!(
            "sc-spawn: --stdin and --id need a command: in plan mode stdin is the plan and ids come from it"
        );
        return EXIT_USAGE;
    }
    if cli.prompt.is_some() && !cli.command.is_empty() {
        eprintln!("sc-spawn: give either --prompt or a command after --, not both");
        return EXIT_USAGE;
    }
    let role = match role(&cli) {
        Ok(role) => role,
        Err(e) => {
            eprintln!("sc-spawn: {e}");
            return EXIT_USAGE;
        }
    };
    let agent_options = AgentOptions {
        elsewhere: false,
        model: cli.model.clone(),
        max_turns: cli.max_turns,
        dangerously_skip_permissions: cli.dangerously_skip_permissions,
        replay_speed: cli.replay_speed,
        extra_args: cli.agent_arg.clone(),
        resume: None,
        max_budget_usd: cli.max_cost_usd,
    };
    let prices = match prices(&cli) {
        Ok(prices) => Arc::new(prices),
        Err(e) => {
            eprintln!("sc-spawn: {e}");
            return EXIT_USAGE;
        }
    };
    let hosts = match &cli.hosts {
        None => Vec::new(),
        Some(_) if !plan_mode => {
            eprintln!("sc-spawn: --hosts spreads a plan's tasks; for one worker, use --host");
            return EXIT_USAGE;
        }
        Some(list) => {
            let text = match list.strip_prefix('@') {
                Some(path) => match std::fs::read_to_string(path) {
                    Ok(text) => text,
                    Err(e) => {
                        eprintln!("sc-spawn: --hosts @{path}: {e}");
                        return EXIT_USAGE;
                    }
                },
                None => list.clone(),
            };
            match sc_capture::scheduler::parse_hosts(&text) {
                Ok(hosts) => hosts,
                Err(e) => {
                    eprintln!("sc-spawn: --hosts: {e}");
                    return EXIT_USAGE;
                }
            }
        }
    };
    let agents: Arc<dyn Agents> = Arc::new(sc_agents::Catalog::new(agent_options, prices));
    let agent = agents.kind(&cli.kind);
    if cli.budget_usd.is_some() && !plan_mode {
        eprintln!(
            "sc-spawn: --budget-usd caps a plan's workers together; for one worker, use --max-cost-usd"
        );
        return EXIT_USAGE;
    }
    let mut command = cli.command.clone();
    let mut extra_env = Vec::new();
    if let Some(recording) = &cli.replay {
        command = vec![
            sc_capture::supervisor::sibling("sc-replay"),
            "--speed".into(),
            cli.replay_speed.to_string().into(),
            recording.into(),
        ];
    } else if let Some(prompt) = &cli.prompt {
        match &agent {
            Some(kind) => {
                let ask = Ask {
                    prompt,
                    instructions: role.as_ref().map(|r| r.instructions.as_str()),
                    permissions: role.as_ref().and_then(|r| r.permissions.get(kind.name())),
                    resume: None,
                    max_budget_usd: cli.max_cost_usd,
                    elsewhere: cli.host.is_some() || cli.slurm.is_some(),
                };
                match kind.command(&ask) {
                    Ok((argv, env)) => {
                        command = argv;
                        extra_env = env;
                    }
                    Err(e) => {
                        // Like a command that is not found: an error event and exit 127.
                        return refuse(&cli, kind.name(), e);
                    }
                }
            }
            None => command = vec!["sh".into(), "-c".into(), prompt.into()],
        }
    }
    let id = match (&cli.id, &role, &agent, command.first()) {
        (Some(id), ..) => id.clone(),
        (None, Some(role), _, _) => role.id.clone(),
        (None, None, Some(kind), _) => kind.name().to_owned(),
        (None, None, None, Some(program)) => default_id(program),
        _ => String::new(),
    };
    let mut spec = spec(&cli, &id);
    spec.argv = command;
    spec.env.extend(extra_env);
    let mut remote_backstop = None;
    let mut reconnect = None;
    if cli.host.is_some() && plan_mode {
        eprintln!("sc-spawn: --host runs one worker; in a plan, give tasks a `host` field");
        return EXIT_USAGE;
    }
    if cli.host.is_some() && cli.slurm.is_some() {
        eprintln!("sc-spawn: --host and --slurm both say where the worker runs: give one");
        return EXIT_USAGE;
    }
    let elsewhere = cli
        .host
        .clone()
        .or_else(|| cli.slurm.as_ref().map(|_| "slurm".to_owned()))
        .filter(|_| !plan_mode);
    if let Some(host) = &elsewhere {
        let copy = match transfer(&cli) {
            Ok(copy) => copy,
            Err(e) => {
                eprintln!("sc-spawn: {e}");
                return EXIT_USAGE;
            }
        };
        let to = remote(&cli, host, copy.filter(|_| cli.host.is_some()));
        if let Some(copy) = &to.transfer
            && let Err(message) = copy.to(&to)
        {
            // Before the run: its stream says so, as for a CLI not found.
            return refuse(&cli, &cli.kind, message);
        }
        let on_slurm = cli.host.is_none();
        let mut run = RemoteRun {
            id: id.clone(),
            kind: cli.kind.clone(),
            cwd: cli.cwd.clone().map(Into::into),
            env: cli.env.clone(),
            flags: remote_flags(&cli),
            spool: to.spool_for(&id).filter(|_| !on_slurm),
        };
        remote_backstop = sc_capture::remote::caps_there(
            &mut run.flags,
            cli.max_cost_usd,
            cli.max_tokens,
            secs(cli.timeout),
            Duration::from_secs_f64(cli.kill_grace),
        );
        reconnect = run.spool.clone().map(|dir| sc_capture::worker::Reconnect {
            remote: to.clone(),
            dir,
        });
        spec.argv = if on_slurm {
            sc_capture::remote::srun_argv(&slurm(&cli), &to.sc_spawn, None, &run, &spec.argv)
        } else {
            sc_capture::remote::ssh_argv(&to, &run, &spec.argv)
        };
        // The command's directory and environment are the remote's.
        spec.cwd = None;
        spec.stdin = StdinMode::Held;
        spec.pty = PtyMode::Off;
    }
    if cli.end_on_stdin_eof {
        end_on_stdin_eof();
    }
    let timeout = remote_backstop
        .or_else(|| secs(cli.timeout))
        .or_else(|| role.as_ref().and_then(|r| secs(r.timeout_s)));
    let mut worktree = None;
    if cli.worktree && !plan_mode {
        let here = spec
            .cwd
            .clone()
            .or_else(|| std::env::current_dir().ok())
            .unwrap_or_default();
        match sc_capture::worktree::create(&here, &id, None) {
            Ok(made) => {
                spec.cwd = Some(made.cwd.clone());
                worktree = Some(made);
            }
            Err(e) => {
                eprintln!("sc-spawn: {e}");
                return EXIT_USAGE;
            }
        }
    }
    let opts = WorkerOptions {
        worktree,
        id,
        kind: cli.kind.clone(),
        flush: Duration::from_millis(cli.flush_ms),
        max_event_bytes: usize::try_from(cli.max_event_bytes).unwrap_or(usize::MAX),
        heartbeat: secs(cli.heartbeat),
        stall: secs(cli.stall),
        timeout,
        kill_grace: Duration::from_secs_f64(cli.kill_grace),
        drain: Duration::from_millis(cli.drain_ms),
        progress: !cli.no_progress,
        // `--kind sc`: the command writes an sc stream; nest it, as plan
        // mode does, instead of wrapping its events as text.
        nested: cli.kind == "sc" && cli.host.is_none(),
        agent: agent.clone(),
        remote: cli
            .host
            .clone()
            .or_else(|| cli.slurm.as_ref().map(|_| "slurm".into())),
        reconnect,
        // In a Slurm job step: the node, for the start.
        node: cli
            .slurm_step
            .then(|| std::env::var("SLURMD_NODENAME").ok())
            .flatten(),
        agent_grace: Duration::from_secs_f64(cli.agent_exit_grace),
        budget: Some(sc_capture::worker::Budget {
            max_usd: cli.max_cost_usd,
            max_tokens: cli.max_tokens,
            model: cli.model.clone(),
        }),
        retry: (cli.retries > 0 || plan_mode).then(|| Retry {
            retries: cli.retries,
            delay: Duration::from_secs_f64(cli.retry_delay),
            on_any: cli.retry_on == "any",
            resume: match (&agent, &cli.prompt, &cli.replay) {
                (Some(kind), Some(prompt), None) => Some(sc_capture::scheduler::agent_resume(
                    Arc::clone(kind),
                    prompt.clone(),
                    role.as_ref().map(|r| r.instructions.clone()),
                    role.as_ref()
                        .and_then(|r| r.permissions.get(kind.name()).cloned()),
                    cli.max_cost_usd,
                )),
                _ => None,
            },
        }),
        ..WorkerOptions::default()
    };
    let stdout = io::stdout();
    let mut supervisor = match Supervisor::new(stdout.as_fd()) {
        Ok(supervisor) => supervisor,
        Err(e) => {
            eprintln!("sc-spawn: cannot set up the poller and signal handlers: {e}");
            return EXIT_USAGE;
        }
    };
    supervisor.set_notices("sc-spawn");
    if let Some(path) = &cli.log {
        match std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            Ok(file) => supervisor.set_log(file),
            Err(e) => {
                eprintln!("sc-spawn: cannot open the log {}: {e}", path.display());
                return EXIT_USAGE;
            }
        }
    }
    let spec_took_terminal = spec.stdin == StdinMode::Terminal;
    let index = if plan_mode {
        let outer = std::env::var("SC_WORKER").ok().filter(|p| !p.is_empty());
        let jobs = usize::try_from(cli.jobs).unwrap_or(usize::MAX);
        if let Err(e) = supervisor.plan_from(
            &InputSpec::Stdin,
            PlanOptions {
                jobs,
                template: opts,
                template_spec: spec,
                agents,
                replay_speed: cli.replay_speed,
                path: outer,
                remote: match transfer(&cli) {
                    Ok(copy) => remote(&cli, "", copy),
                    Err(e) => {
                        eprintln!("sc-spawn: {e}");
                        return EXIT_USAGE;
                    }
                },
                remote_flags: remote_flags(&cli),
                slurm: slurm(&cli),
                slurm_all: cli.slurm.is_some(),
                hosts,
            },
        ) {
            eprintln!("sc-spawn: cannot read the plan on stdin: {e}");
            return EXIT_USAGE;
        }
        supervisor.set_worktrees(cli.worktree);
        supervisor.set_budget(cli.budget_usd);
        if let Some((run, log)) = earlier {
            if run.unreadable > 0 {
                eprintln!(
                    "sc-spawn: {log}: {} line(s) are not events and were passed over",
                    run.unreadable
                );
            }
            supervisor.set_earlier(run, log);
        }
        None
    } else {
        Some(supervisor.spawn(opts, &spec))
    };
    let result = supervisor.run();
    if spec_took_terminal {
        sc_capture::take_terminal_back();
    }
    match result {
        Ok(report) => {
            if let Some(e) = report.write_error {
                eprintln!("sc-spawn: writing the event stream to stdout failed: {e}");
                return EXIT_USAGE;
            }
            if report.downstream_closed {
                // Like `rg ... | head`: the reader chose to stop; not an error.
                return 0;
            }
            match index {
                Some(number) => supervisor.exit_code(number),
                None => i32::from(report.plan_succeeded != Some(true)),
            }
        }
        Err(e) => {
            eprintln!("sc-spawn: polling failed: {e}");
            EXIT_USAGE
        }
    }
}

fn spec(cli: &Cli, id: &str) -> Spec {
    // Nested sc-spawns name themselves after this one: `outer/inner`.
    let path = match std::env::var("SC_WORKER") {
        Ok(outer) if !outer.is_empty() => format!("{outer}/{id}"),
        _ => id.to_owned(),
    };
    let mut env = vec![(OsString::from("SC_WORKER"), OsString::from(path))];
    env.extend(cli.env.iter().cloned());
    Spec {
        argv: cli.command.clone(),
        cwd: cli.cwd.clone(),
        env,
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
        // Its stdout is usually the stream's pipe: ask stderr, then stdin.
        limits: limits(cli),
        pty_size: terminal_size(2)
            .or_else(|| terminal_size(0))
            .unwrap_or((80, 24)),
    }
}

/// The role named by --role, from the built-in catalogue and --roles-file.
fn role(cli: &Cli) -> Result<Option<Role>, String> {
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

/// An agent that cannot be launched (its CLI is missing): the stream still
/// says so, as an `error` and an `exit` with code 127.
fn refuse(cli: &Cli, kind: &str, message: String) -> i32 {
    let id = cli.id.clone().unwrap_or_else(|| kind.to_owned());
    let stdout = io::stdout();
    let mut out = Vec::new();
    let opts = WorkerOptions {
        id,
        kind: kind.to_owned(),
        ..WorkerOptions::default()
    };
    sc_capture::Worker::refuse(opts, message, &mut out);
    let _ = stdout.lock().write_all(&out);
    127
}

/// How Slurm job steps are run: the srun command, and --slurm's options.
fn slurm(cli: &Cli) -> Slurm {
    let srun = std::env::var("SC_SRUN")
        .ok()
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| "srun".into());
    Slurm {
        srun: srun.split_whitespace().map(OsString::from).collect(),
        options: cli
            .slurm
            .as_deref()
            .unwrap_or_default()
            .split_whitespace()
            .map(OsString::from)
            .collect(),
    }
}

/// `--transfer`: this sc-spawn, to be copied to the hosts (read once).
fn transfer(cli: &Cli) -> Result<Option<Transfer>, String> {
    static MADE: std::sync::OnceLock<Result<Option<Transfer>, String>> = std::sync::OnceLock::new();
    MADE.get_or_init(|| {
        if !cli.transfer {
            return Ok(None);
        }
        let exe = std::env::current_exe()
            .map_err(|e| format!("--transfer: cannot find this sc-spawn: {e}"))?;
        Transfer::of(&exe).map(Some)
    })
    .clone()
}

/// How to reach `host`: the ssh command and the sc-spawn there.
fn remote(cli: &Cli, host: &str, transfer: Option<Transfer>) -> Remote {
    let ssh = cli
        .ssh
        .clone()
        .or_else(|| {
            std::env::var("SC_SSH")
                .ok()
                .filter(|s| !s.trim().is_empty())
        })
        .unwrap_or_else(|| "ssh".into());
    Remote {
        host: host.to_owned(),
        ssh: ssh.split_whitespace().map(OsString::from).collect(),
        sc_spawn: match &transfer {
            Some(transfer) => transfer.remote.clone().into(),
            None => cli
                .remote_sc
                .clone()
                .unwrap_or_else(|| "sc-spawn".into())
                .into(),
        },
        reconnect: cli.reconnect,
        lease_s: cli.reconnect_lease,
        transfer,
    }
}

/// The flags the remote sc-spawn runs the worker with.
fn remote_flags(cli: &Cli) -> Vec<OsString> {
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
        flags.extend(["--model".into(), model.clone()]);
    }
    if cli.no_progress {
        flags.push("--no-progress".into());
    }
    flags.into_iter().map(OsString::from).collect()
}

/// `--end-on-stdin-eof`: a thread that waits for stdin's end, then asks
/// this process to end as SIGTERM would (the poller serves it as ever).
fn end_on_stdin_eof() {
    std::thread::spawn(|| {
        let mut sink = [0u8; 4096];
        let mut stdin = io::stdin().lock();
        while matches!(io::Read::read(&mut stdin, &mut sink), Ok(n) if n > 0) {}
        let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGTERM);
    });
}

/// The built-in price table, with --prices laid over it.
fn prices(cli: &Cli) -> Result<sc_agents::Prices, String> {
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

fn secs(value: f64) -> Option<Duration> {
    (value > 0.0).then(|| Duration::from_secs_f64(value))
}
