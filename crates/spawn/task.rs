//! What a run's tasks are made of, from the flags: the launch template,
//! the role, single-worker mode's task, a placed task, the flags a remote
//! sc-spawn runs a task with, the price table.

use std::ffi::OsString;
use std::path::Path;
use std::time::Duration;

use sc_capture::{PtyMode, Spec, StdinMode, terminal_size};
use sc_events::{Limits, Task};
use sc_planner::roles::{Catalogue, Role};

use crate::cli::{Cli, PtyArg};

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
