//! The command line as one run description: its combinations checked in
//! one place (a usage error names the problem and what to give instead),
//! the earlier run read (`--resume`), the roles, prices, the worker
//! template, where workers may go (as data: the library's engines place
//! them), and for single-worker mode the task of one.

use std::ffi::OsString;
use std::io::{self, IsTerminal};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use sc_capture::agent::Agents;
use sc_capture::placement::registry::Where;
use sc_capture::plan::resume::{Earlier, EarlierRun};
use sc_capture::plan::scheduler::{HostSlots, PlanOptions};
use sc_capture::run::RunDescription;
use sc_capture::worker::{AskPolicy, Budget, Retry};
use sc_capture::{PtyMode, Spec, StdinMode, WorkerOptions, terminal_size};
use sc_events::{Limits, Task};
use sc_planner::roles::{Catalogue, Role};

use crate::cli::{Cli, PtyArg};

/// The run the flags describe, every combination checked; the error is
/// the usage message.
pub fn describe(cli: &Cli) -> Result<RunDescription, String> {
    let plan_mode = cli.command.is_empty()
        && cli.prompt.is_none()
        && cli.replay.is_none()
        && cli.task.is_none();
    // A task placed here from another sc-spawn (over ssh, or as a Slurm
    // step): checked like a plan line.
    let placed = cli
        .task
        .as_deref()
        .map(placed_task)
        .transpose()
        .map_err(|e| format!("--task: {e}"))?;
    check_combinations(cli, plan_mode)?;
    // Read before the log (which may be the same file) is opened to append.
    let earlier = earlier_run(cli)?;
    let role = role(cli)?;
    let hosts = hosts(cli, plan_mode)?;
    refuse_worktrees_elsewhere(cli, &hosts)?;
    let placement = placement(cli, plan_mode, &hosts);
    let agents = agents(cli, placed.is_some())?;
    // One launch path: single-worker mode is a plan of one task, made from
    // the command line; the template below holds for both.
    let mut spec = spec(cli);
    let one = if plan_mode {
        None
    } else {
        if let Some(recording) = &cli.replay {
            spec.argv = vec![
                sc_capture::supervisor::sibling("sc-replay"),
                "--speed".into(),
                cli.replay_speed.to_string().into(),
                recording.into(),
            ];
        }
        Some(match placed {
            Some(task) => task,
            None => task_of(cli, role.as_ref(), agents.kind(&cli.kind).as_deref()),
        })
    };
    let earlier = resumed_session(cli, one.as_ref()).or(earlier);
    let options = PlanOptions {
        jobs: jobs(cli),
        template: template(cli, role.as_ref()),
        ask_policy: ask_policy(cli),
        template_spec: spec,
        agents,
        replay_speed: cli.replay_speed,
        path: std::env::var("SC_WORKER").ok().filter(|p| !p.is_empty()),
        // Made from `placement` as the run starts.
        placements: Arc::default(),
        remote_flags: remote_flags(cli),
        hosts,
    };
    Ok(RunDescription {
        options,
        placement,
        one,
        earlier,
        control: control_path(cli),
        controlled: cli.ask || cli.control.is_some() || cli.detach,
        serves: serves_control(cli) || cli.detach,
        log: cli.log.clone(),
        worktrees: cli.worktree,
        budget_usd: cli.budget_usd,
        fail_fast: cli.fail_fast,
        end_on_stdin_eof: cli.end_on_stdin_eof,
        detached: false,
        ready: None,
    })
}

/// A worktree is made in this checkout: for tasks run here only.
fn refuse_worktrees_elsewhere(cli: &Cli, hosts: &[HostSlots]) -> Result<(), String> {
    let every_task_placed = cli.slurm.is_some()
        || cli.host.is_some()
        || (!hosts.is_empty() && hosts.iter().all(|h| h.host.is_some()));
    if cli.worktree && every_task_placed {
        return Err(
            "--worktree makes worktrees only for tasks run here, and with --slurm, \
             --host or --hosts without `:` every task runs elsewhere (where the agent would \
             edit the checkout there): drop --worktree, or add `:` to --hosts"
                .into(),
        );
    }
    Ok(())
}

/// The agent kinds, and how their command lines are made: the agent flags
/// and the price table (`placed`: a task placed here, whose agent CLI is
/// looked up on the worker's PATH as the task gives it, not on this
/// sc-spawn's).
fn agents(cli: &Cli, placed: bool) -> Result<Arc<dyn Agents>, String> {
    let options = sc_agents::AgentOptions {
        elsewhere: placed,
        model: cli.model.clone(),
        max_turns: cli.max_turns,
        dangerously_skip_permissions: cli.dangerously_skip_permissions,
        replay_speed: cli.replay_speed,
        extra_args: cli.agent_arg.clone(),
        resume: None,
        max_budget_usd: cli.max_cost_usd,
        converse: false,
        acp_agent: cli.acp_agent.clone(),
        confined: false,
    };
    let prices = Arc::new(prices(cli)?);
    Ok(Arc::new(sc_agents::Catalog::new(options, prices)))
}

/// A placed task whose session was cut off (`--resume-session`): its first
/// attempt resumes it.
fn resumed_session(cli: &Cli, one: Option<&Task>) -> Option<(EarlierRun, String)> {
    let (task, session) = (one?, cli.resume_session.as_ref()?);
    let mut run = EarlierRun::default();
    let cut_off = Earlier {
        session: Some(session.clone()),
        ..Default::default()
    };
    run.tasks.insert(task.id.clone(), cut_off);
    Some((run, "the run that placed it".to_owned()))
}

/// Where the run's workers may go besides here, as the flags say it.
fn placement(cli: &Cli, plan: bool, hosts: &[HostSlots]) -> Where {
    Where {
        plan,
        jobs: jobs(cli),
        host: cli.host.clone(),
        // Their connections are opened as the run starts, before the
        // first tasks race to make one each.
        named_hosts: cli
            .host
            .iter()
            .cloned()
            .chain(hosts.iter().filter_map(|h| h.host.clone()))
            .collect(),
        ssh: cli.ssh.clone(),
        remote_sc: cli.remote_sc.clone().map(Into::into),
        transfer: cli.transfer,
        no_multiplex: cli.no_multiplex,
        placed_here: cli.task.is_some(),
        reconnect: cli.reconnect,
        reconnect_lease: cli.reconnect_lease,
        slurm: cli.slurm.clone(),
        job_per_task: cli.job_per_task,
    }
}

/// Flags that do not go together, or not with this mode.
fn check_combinations(cli: &Cli, plan_mode: bool) -> Result<(), String> {
    let refuse = |message: &str| Err(message.to_owned());
    if plan_mode && io::stdin().is_terminal() {
        return refuse(
            "no command, and no plan on stdin: run a command with `sc-spawn -- CMD [ARGS...]`, \
             an agent with `sc-spawn --kind claude-code --prompt TEXT`, or pipe a plan in \
             (`sc-plan TASK | sc-spawn`); see --help",
        );
    }
    if !plan_mode && cli.resume.is_some() {
        return refuse(
            "--resume LOG re-runs a plan read on stdin (`sc-spawn --resume run.ndjson < plan.ndjson`); \
             to run a failed worker again, use --retries",
        );
    }
    if plan_mode && (cli.stdin || cli.id.is_some()) {
        return refuse(
            "--stdin and --id need a command: in plan mode stdin is the plan and ids come from it",
        );
    }
    if cli.prompt.is_some() && !cli.command.is_empty() {
        return refuse("give either --prompt or a command after --, not both");
    }
    if cli.hosts.is_some() && !plan_mode {
        return refuse("--hosts spreads a plan's tasks; for one worker, use --host");
    }
    if cli.budget_usd.is_some() && !plan_mode {
        return refuse(
            "--budget-usd caps a plan's workers together; for one worker, use --max-cost-usd",
        );
    }
    if cli.host.is_some() && plan_mode {
        return refuse("--host runs one worker; in a plan, give tasks a `host` field");
    }
    if cli.confine.sandbox.is_some() && cli.stdin && io::stdin().is_terminal() {
        return refuse(
            "--sandbox runs the worker in a session of its own, which cannot read your terminal \
             (and must not: a confined program that owns a terminal can type into it): pipe its \
             input in, or drop --stdin",
        );
    }
    if cli.host.is_some() && cli.slurm.is_some() {
        return refuse("--host and --slurm both say where the worker runs: give one");
    }
    if cli.detach && cli.stdin && io::stdin().is_terminal() {
        return refuse(
            "--detach runs the worker after you have your terminal back, so it cannot read it: \
             pipe its input in, or drop --stdin",
        );
    }
    refuse_idle_flags(cli, plan_mode)
}

/// A flag that would do nothing where it stands is a usage error that says
/// what to add: never accepted in silence.
fn refuse_idle_flags(cli: &Cli, plan_mode: bool) -> Result<(), String> {
    let given = |id: &str| cli.given.iter().any(|g| g == id);
    // In a plan, a task's `"ask": true` uses them without --ask.
    if !cli.ask && !plan_mode && cli.task.is_none() {
        for (id, flag) in [
            ("ask_cmd", "--ask-cmd"),
            ("ask_timeout", "--ask-timeout"),
            ("ask_default", "--ask-default"),
        ] {
            if given(id) {
                return Err(format!(
                    "{flag} decides asks, and this worker asks nothing without --ask: add --ask"
                ));
            }
        }
    }
    if given("jobs") && !plan_mode {
        return Err(
            "-j says how many of a plan's tasks run at once; with one command there is one worker: \
             drop -j, or pipe a plan in (`sc-plan --kind shell … | sc-spawn -j N`)"
                .into(),
        );
    }
    if cli.fail_fast && !plan_mode {
        return Err(
            "--fail-fast ends a plan at its first failed task; with one command there is one \
             worker: drop --fail-fast, or pipe a plan in (`sc-plan --kind shell … | sc-spawn`)"
                .into(),
        );
    }
    if cli.job_per_task && cli.slurm.is_none() {
        return Err("--job-per-task makes each task a Slurm job: add --slurm".into());
    }
    if let (Some(command), true) = (
        &cli.ask_cmd,
        cli.host.is_some() || cli.hosts.is_some() || cli.slurm.is_some(),
    ) {
        if let Some(problem) = sc_capture::placement::run::policy_elsewhere(command) {
            return Err(problem);
        }
    }
    Ok(())
}

/// `--resume LOG`: what the earlier run left done.
fn earlier_run(cli: &Cli) -> Result<Option<(EarlierRun, String)>, String> {
    let Some(path) = &cli.resume else {
        return Ok(None);
    };
    match sc_capture::plan::resume::read(path) {
        Ok(run) => Ok(Some((run, path.display().to_string()))),
        Err(e) => Err(format!(
            "cannot read the earlier run {}: {e} (give the stream an earlier run wrote with --log)",
            path.display()
        )),
    }
}

/// `--hosts LIST` or `--hosts @FILE`: where a plan's tasks that name no
/// host run, with how many at once on each.
fn hosts(cli: &Cli, plan_mode: bool) -> Result<Vec<HostSlots>, String> {
    let Some(list) = cli.hosts.as_ref().filter(|_| plan_mode) else {
        return Ok(Vec::new());
    };
    let text = match list.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path).map_err(|e| format!("--hosts @{path}: {e}"))?,
        None => list.clone(),
    };
    sc_capture::plan::scheduler::parse_hosts(&text).map_err(|e| format!("--hosts: {e}"))
}

/// How an ask is answered: the run's policy command, timeout, default and
/// control socket.
fn ask_policy(cli: &Cli) -> AskPolicy {
    AskPolicy {
        command: cli.ask_cmd.clone(),
        timeout: secs(cli.ask_timeout),
        default_allow: cli.ask_default == "allow",
        control: Some(control_path(cli).display().to_string()),
        grant_only: false,
    }
}

/// Whether the run serves its control socket (and keeps its stream for
/// `sc-view --attach`): asked for (`--ask`, `--control`), or by default a
/// run of its own: not one nested in another's worker (SC_WORKER set;
/// that run reaches it), not a task placed here by another run (which
/// relays it), not with --no-control.
fn serves_control(cli: &Cli) -> bool {
    let nested = std::env::var_os("SC_WORKER").is_some_and(|p| !p.is_empty());
    let asked = cli.ask || cli.control.is_some();
    !cli.no_control && (asked || (!nested && cli.task.is_none()))
}

/// Where the run's control socket is (`--control`, or this user's default).
fn control_path(cli: &Cli) -> std::path::PathBuf {
    cli.control
        .clone()
        .unwrap_or_else(|| sc_capture::control::default_path(cli.task.is_some()))
}

/// How every worker is watched, from the flags (and the role's timeout).
fn template(cli: &Cli, role: Option<&Role>) -> WorkerOptions {
    WorkerOptions {
        id: String::new(),
        kind: cli.kind.clone(),
        flush: Duration::from_millis(cli.flush_ms),
        max_event_bytes: usize::try_from(cli.max_event_bytes).unwrap_or(usize::MAX),
        heartbeat: secs(cli.heartbeat),
        stall: secs(cli.stall),
        timeout: secs(cli.timeout).or_else(|| role.and_then(|r| secs(r.timeout_s))),
        kill_grace: Duration::from_secs_f64(cli.kill_grace),
        drain: Duration::from_millis(cli.drain_ms),
        progress: !cli.no_progress,
        // In a Slurm job step: the node, for the start.
        node: cli
            .slurm_step
            .then(|| std::env::var("SLURMD_NODENAME").ok())
            .flatten(),
        agent_grace: Duration::from_secs_f64(cli.agent_exit_grace),
        budget: Some(Budget {
            max_usd: cli.max_cost_usd,
            max_tokens: cli.max_tokens,
            model: cli.model.clone(),
        }),
        retry: Some(Retry {
            retries: cli.retries,
            delay: Duration::from_secs_f64(cli.retry_delay),
            on_any: cli.retry_on.as_deref().map(|on| on == "any"),
            resume: None,
        }),
        ask: cli.ask.then(|| ask_policy(cli)),
        ..WorkerOptions::default()
    }
}

/// How the workers are launched: single-worker mode's command, and for
/// every task the directory, environment, stdin, PTY and limits the flags
/// give (SC_WORKER is each task's own, set where it is launched).
fn spec(cli: &Cli) -> Spec {
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
        sandbox: cli
            .confine
            .sandbox
            .as_ref()
            .map(|kind| sc_capture::process::sandbox::Sandbox {
                // Checked by the parser already.
                kind: sc_capture::process::sandbox::Kind::parse(kind).unwrap_or_default(),
                write: cli.confine.sandbox_write.clone(),
                hide: cli.confine.sandbox_hide.clone(),
                net: {
                    let mut net = sc_capture::process::net::Net::None;
                    for list in &cli.confine.sandbox_net {
                        // Checked by the parser already.
                        let _ = net.add(list);
                    }
                    net
                },
                read_only: false,
                state: Vec::new(),
            }),
        limits: limits(cli),
        // Its stdout is usually the stream's pipe: ask stderr, then stdin.
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

/// Single-worker mode's task: what the command line asks for, as a plan
/// line would (its command, if any, is the template's argv).
fn task_of(cli: &Cli, role: Option<&Role>, agent: Option<&dyn sc_capture::agent::Agent>) -> Task {
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
fn placed_task(json: &str) -> Result<Task, String> {
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

/// `-j`, or the number of cores this process may use.
fn jobs(cli: &Cli) -> usize {
    match cli.jobs {
        Some(n) => usize::try_from(n).unwrap_or(usize::MAX),
        None => std::thread::available_parallelism().map_or(4, |n| n.get()),
    }
}
