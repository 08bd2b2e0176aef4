//! Where a task's worker runs, when that is not here: the one place a
//! task placed on another host (ssh) or as a Slurm job step is made into
//! the local command that runs it there.

use sc_events::Task;

use super::{How, Launch, Scheduler};
use crate::placement::remote::{Remote, RemoteRun, ssh_argv};
use crate::process::launch::Spec;
use crate::worker::WorkerOptions;

impl Scheduler {
    /// A task placed on another host (ssh) or as a Slurm job step: the
    /// sc-spawn there is given the task itself and runs it as its plan of
    /// one, so that its retries (resuming the agent's session there), caps,
    /// timeout, limits and PTY act where the worker is, and its one `exit`
    /// (with the verdict and cost) is relayed here as the worker's.
    pub(super) fn place_elsewhere(
        &self,
        index: usize,
        mut opts: WorkerOptions,
        host: Option<String>,
        resume: Option<String>,
        max_usd: Option<f64>,
    ) -> Launch {
        let task = self.planner.task(index);
        if let Some(host) = host.as_deref()
            && let Err(message) = crate::placement::remote::check_host(host)
        {
            return Launch::refused(index, opts, format!("task `{}`: {message}", task.id));
        }
        let agent_task = opts.agent.is_some() && task.prompt.is_some() && task.replay.is_none();
        // A shell task's command is made here (its argv, `sh -c PROMPT`, a
        // replay); an agent's there, from its prompt, with its CLI there.
        let argv = if agent_task {
            Vec::new()
        } else {
            match self.task_command(task, opts.kind.as_str(), None, None) {
                Ok((argv, _)) => argv,
                Err(message) => return Launch::refused(index, opts, message),
            }
        };
        let (env, cwd) = self.env_and_cwd(task, Vec::new());
        let retry = opts.retry.take();
        let budget = opts.budget.take();
        let limits = task
            .limits
            .clone()
            .or_else(|| self.template_spec.limits.clone());
        let placed = Task {
            id: task.id.clone(),
            kind: Some(opts.kind.clone()),
            prompt: task.prompt.clone().filter(|_| agent_task),
            instructions: task.instructions.clone(),
            permissions: task.permissions.clone(),
            timeout_s: opts.timeout.map(|t| t.as_secs_f64()),
            limits,
            retries: retry.as_ref().map(|r| r.retries).filter(|&r| r > 0),
            // The plan's budget left, too: a task there cannot spend more.
            max_cost_usd: match (max_usd, self.budget_left) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            },
            ..Task::default()
        };
        let mut flags = self.remote_flags.clone();
        match self.template_spec.pty {
            crate::process::launch::PtyMode::Off => {}
            crate::process::launch::PtyMode::All => flags.push("--pty=all".into()),
            crate::process::launch::PtyMode::Stdout => flags.push("--pty=stdout".into()),
        }
        if let Some(retry) = &retry {
            flags.push(format!("--retry-delay={}", retry.delay.as_secs_f64()).into());
            if retry.on_any {
                flags.push("--retry-on=any".into());
            }
        }
        if let Some(tokens) = budget.as_ref().and_then(|b| b.max_tokens) {
            flags.push(format!("--max-tokens={tokens}").into());
        }
        let remote = Remote {
            host: host.clone().unwrap_or_else(|| "slurm".into()),
            ..self.remote.clone()
        };
        let run = RemoteRun {
            id: task.id.clone(),
            task: serde_json::to_string(&placed).unwrap_or_default(),
            resume,
            cwd: cwd.map(Into::into),
            env,
            flags,
            spool: host.as_ref().and_then(|_| remote.spool_for(&task.id)),
        };
        // Timed there; this side only keeps a backstop past every attempt.
        opts.timeout = crate::placement::remote::backstop(
            opts.timeout,
            opts.kill_grace,
            placed.retries.unwrap_or(0),
            retry
                .as_ref()
                .map_or(std::time::Duration::ZERO, |r| r.delay),
        );
        opts.reconnect = run.spool.clone().map(|dir| crate::worker::Reconnect {
            remote: remote.clone(),
            dir,
        });
        let argv = if host.is_some() {
            ssh_argv(&remote, &run, &argv)
        } else {
            // Slurm keeps the step's stream in its own hands: a lost srun is
            // a lost step, not a link to make again.
            crate::placement::remote::srun_argv(
                &self.slurm,
                &remote.sc_spawn,
                task.slurm.as_ref(),
                &run,
                &argv,
            )
        };
        // This side runs only ssh (or srun): no directory, environment,
        // terminal or limits of the worker's here.
        let spec = Spec {
            argv,
            cwd: None,
            env: Vec::new(),
            stdin: crate::process::launch::StdinMode::Held,
            pty: crate::process::launch::PtyMode::Off,
            limits: None,
            ..self.template_spec.clone()
        };
        opts.remote = Some(remote.host.clone());
        opts.nested = false;
        let how = match remote.transfer.is_some() && host.is_some() {
            true => How::Transfer { spec, remote },
            false => How::Run(spec),
        };
        Launch {
            task: index,
            opts,
            how,
        }
    }
}
