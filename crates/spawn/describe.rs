//! The command line as one run description: its combinations checked in
//! one place (a usage error names the problem and what to give instead),
//! the earlier run read (`--resume`), the roles, prices, the worker
//! template, where workers may go (as data: the library's engines place
//! them), and for single-worker mode the task of one.

use std::io::{self, IsTerminal};
use std::sync::Arc;
use std::time::Duration;

use sc_capture::WorkerOptions;
use sc_capture::agent::Agents;
use sc_capture::placement::registry::Where;
use sc_capture::plan::resume::{Earlier, EarlierRun};
use sc_capture::plan::scheduler::{HostSlots, PlanOptions};
use sc_capture::run::RunDescription;
use sc_capture::worker::{AskPolicy, Budget, Retry};
use sc_planner::roles::Role;

use crate::cli::Cli;
use crate::task::{placed_task, prices, remote_flags, role, secs, spec, task_of};

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
    let agent_options = sc_agents::AgentOptions {
        // A placed task's agent CLI is looked up on the worker's PATH (its
        // environment as the task gives it), not on this sc-spawn's.
        elsewhere: placed.is_some(),
        model: cli.model.clone(),
        max_turns: cli.max_turns,
        dangerously_skip_permissions: cli.dangerously_skip_permissions,
        replay_speed: cli.replay_speed,
        extra_args: cli.agent_arg.clone(),
        resume: None,
        max_budget_usd: cli.max_cost_usd,
        converse: false,
        acp_agent: cli.acp_agent.clone(),
    };
    let prices = Arc::new(prices(cli)?);
    let hosts = hosts(cli, plan_mode)?;
    // A worktree is made in this checkout: for tasks run here only.
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
    let placement = placement(cli, plan_mode, &hosts);
    let agents: Arc<dyn Agents> = Arc::new(sc_agents::Catalog::new(agent_options, prices));
    let agent = agents.kind(&cli.kind);
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
            None => task_of(cli, role.as_ref(), agent.as_deref()),
        })
    };
    // A placed task whose session was cut off: its first attempt resumes it.
    let earlier = match (&one, &cli.resume_session) {
        (Some(task), Some(session)) => {
            let mut run = EarlierRun::default();
            let cut_off = Earlier {
                session: Some(session.clone()),
                ..Default::default()
            };
            run.tasks.insert(task.id.clone(), cut_off);
            Some((run, "the run that placed it".to_owned()))
        }
        _ => earlier,
    };
    let options = PlanOptions {
        jobs: cli.jobs(),
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
        controlled: cli.ask || cli.control.is_some(),
        log: cli.log.clone(),
        worktrees: cli.worktree,
        budget_usd: cli.budget_usd,
        fail_fast: cli.fail_fast,
        end_on_stdin_eof: cli.end_on_stdin_eof,
    })
}

/// Where the run's workers may go besides here, as the flags say it.
fn placement(cli: &Cli, plan: bool, hosts: &[HostSlots]) -> Where {
    Where {
        plan,
        jobs: cli.jobs(),
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
    if cli.host.is_some() && cli.slurm.is_some() {
        return refuse("--host and --slurm both say where the worker runs: give one");
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
