//! Where a task's worker runs: the one place that is decided
//! ([`Scheduler::placement`]), and a task placed elsewhere (another host
//! over ssh, a Slurm job step) made into the local command that runs it
//! there.

use std::sync::Arc;

use sc_events::Task;

use super::{How, Launch, Scheduler};
use crate::placement::Elsewhere;
use crate::placement::run::RemoteRun;
use crate::process::launch::Spec;
use crate::worker::WorkerOptions;

impl Scheduler {
    /// Where a task runs: here (None), or where the first placement
    /// engine that takes it puts it (its own `host`, or `assigned` from
    /// `--hosts`; its `slurm`, or `--slurm`). Err: it cannot go there.
    pub(super) fn placement(
        &self,
        task: &Task,
        assigned: Option<String>,
    ) -> Result<Option<Arc<dyn Elsewhere>>, String> {
        self.placements.place(task, assigned.as_deref())
    }

    /// A task placed on another host (ssh) or as a Slurm job step: the
    /// sc-spawn there is given the task itself and runs it as its plan of
    /// one, so that its retries (resuming the agent's session there), caps,
    /// timeout, limits and PTY act where the worker is, and its one `exit`
    /// (with the verdict and cost) is relayed here as the worker's.
    pub(super) fn place_elsewhere(
        &self,
        index: usize,
        mut opts: WorkerOptions,
        place: Arc<dyn Elsewhere>,
        resume: Option<String>,
        max_usd: Option<f64>,
    ) -> Launch {
        let task = self.planner.task(index);
        // A worktree is made in this checkout; the worker there would edit
        // the checkout there, beside it. Refused rather than ignored.
        if self.branches.is_some() {
            let message = format!(
                "task `{}` runs on {}: --worktree makes worktrees only for tasks run here \
                 (the agent there would edit the checkout there); run it here, or drop --worktree",
                task.id,
                place.name()
            );
            return Launch::refused(index, opts, message);
        }
        // Confined there as here: the sc-spawn there is given the task's
        // sandbox (the run's and its own, joined), and wraps it where it
        // launches it.
        let sandbox = match self.sandbox_of(task) {
            Ok(sandbox) => sandbox,
            Err(message) => return Launch::refused(index, opts, message),
        };
        let agent_task = opts.agent.is_some() && task.prompt.is_some() && task.replay.is_none();
        // A shell task's command is made here (its argv, `sh -c PROMPT`, a
        // replay); an agent's there, from its prompt, with its CLI there.
        let argv = if agent_task {
            Vec::new()
        } else {
            let none = super::AgentTask::of(task, None, false, false);
            match self.task_command(task, opts.kind.as_str(), None, &none) {
                Ok(command) => command.argv,
                Err(message) => return Launch::refused(index, opts, message),
            }
        };
        let (env, cwd) = self.env_and_cwd(task, Vec::new());
        let retry = opts.retry.take();
        let budget = opts.budget.take();
        // Capped there; here only the model is kept, to count its running
        // cost from what it relays (the plan's budget holds across hosts).
        opts.budget = budget.as_ref().map(|b| crate::worker::Budget {
            max_usd: None,
            max_tokens: None,
            model: b.model.clone(),
        });
        let mut placed = self.placed_task(task, &opts, agent_task, retry.as_ref(), max_usd);
        placed.sandbox = sandbox.map(|s| {
            let words = |paths: Vec<std::path::PathBuf>| {
                paths
                    .into_iter()
                    .map(|p| p.to_string_lossy().into_owned())
                    .collect()
            };
            sc_events::TaskSandbox::With(sc_events::SandboxSettings {
                write: words(s.write),
                hide: words(s.hide),
                net: s.net.words(),
                kind: Some(s.kind.name()),
            })
        });
        let spool = place.spool(&task.id);
        let flags = match self.placed_flags(&mut opts, retry.as_ref(), budget.as_ref(), &spool) {
            Ok(flags) => flags,
            Err(problem) => return Launch::refused(index, opts, problem),
        };
        let run = RemoteRun {
            id: task.id.clone(),
            task: serde_json::to_string(&placed).unwrap_or_default(),
            resume,
            cwd: cwd.map(Into::into),
            env,
            flags,
            spool,
        };
        // Timed there; this side only keeps a backstop past every attempt.
        opts.timeout = crate::placement::run::backstop(
            opts.timeout,
            opts.kill_grace,
            placed.retries.unwrap_or(0),
            retry
                .as_ref()
                .map_or(std::time::Duration::ZERO, |r| r.delay),
        );
        self.launch_there(index, opts, place, run, argv)
    }

    /// The task as the sc-spawn there runs it: what to run, its role's
    /// instructions and grant, its timeout, limits, retries and cap (the
    /// plan's budget left, too: a task there cannot spend more).
    fn placed_task(
        &self,
        task: &Task,
        opts: &WorkerOptions,
        agent_task: bool,
        retry: Option<&crate::worker::Retry>,
        max_usd: Option<f64>,
    ) -> Task {
        Task {
            id: task.id.clone(),
            kind: Some(opts.kind.clone()),
            prompt: task.prompt.clone().filter(|_| agent_task),
            instructions: task.instructions.clone(),
            permissions: task.permissions.clone(),
            acp_agent: task.acp_agent.clone(),
            timeout_s: opts.timeout.map(|t| t.as_secs_f64()),
            limits: task
                .limits
                .clone()
                .or_else(|| self.template_spec.limits.clone()),
            retries: retry.map(|r| r.retries).filter(|&r| r > 0),
            max_cost_usd: match (max_usd, self.budget_left) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            },
            ..Task::default()
        }
    }

    /// The flags the sc-spawn there runs the task with: the run's own, its
    /// terminal, how it retries, its token cap, and under `--ask` its
    /// asks' policy and default (acting there; a person's answer here goes
    /// to its run over the connection). Err: a policy that cannot go there.
    fn placed_flags(
        &self,
        opts: &mut WorkerOptions,
        retry: Option<&crate::worker::Retry>,
        budget: Option<&crate::worker::Budget>,
        spool: &Option<String>,
    ) -> Result<Vec<std::ffi::OsString>, String> {
        let mut flags = self.remote_flags.clone();
        match self.template_spec.pty {
            crate::process::launch::PtyMode::Off => {}
            crate::process::launch::PtyMode::All => flags.push("--pty=all".into()),
            crate::process::launch::PtyMode::Stdout => flags.push("--pty=stdout".into()),
        }
        if let Some(retry) = retry {
            flags.push(format!("--retry-delay={}", retry.delay.as_secs_f64()).into());
            match retry.on_any {
                Some(true) => flags.push("--retry-on=any".into()),
                Some(false) => flags.push("--retry-on=transient".into()),
                None => {}
            }
        }
        if let Some(tokens) = budget.and_then(|b| b.max_tokens) {
            flags.push(format!("--max-tokens={tokens}").into());
        }
        let Some(ask) = opts.ask.take() else {
            return Ok(flags);
        };
        if let Some(problem) = ask
            .command
            .as_deref()
            .and_then(crate::placement::run::policy_elsewhere)
        {
            return Err(problem);
        }
        flags.push("--ask".into());
        let wait = ask.timeout.map_or(0.0, |t| t.as_secs_f64());
        flags.push(format!("--ask-timeout={wait}").into());
        let default = if ask.default_allow { "allow" } else { "deny" };
        flags.push(format!("--ask-default={default}").into());
        if let Some(command) = &ask.command {
            flags.push(crate::placement::run::joined(
                "--ask-cmd",
                std::ffi::OsStr::new(command),
            ));
        }
        if let Some(dir) = spool {
            flags.push(format!("--control={dir}/control.sock").into());
        }
        Ok(flags)
    }

    /// The launch of a placed task: this side runs only ssh (or srun), with
    /// no directory, environment, terminal or limits of the worker's here,
    /// once its host is ready when the engine prepares one.
    fn launch_there(
        &self,
        index: usize,
        mut opts: WorkerOptions,
        place: Arc<dyn Elsewhere>,
        run: RemoteRun,
        argv: Vec<std::ffi::OsString>,
    ) -> Launch {
        opts.reconnect = run.spool.clone().map(|dir| crate::worker::Reconnect {
            place: place.clone(),
            dir,
        });
        let spec = Spec {
            argv: Vec::new(),
            cwd: None,
            env: Vec::new(),
            stdin: crate::process::launch::StdinMode::Held,
            pty: crate::process::launch::PtyMode::Off,
            limits: None,
            own_cgroup: false,
            sandbox: None,
            ..self.template_spec.clone()
        };
        opts.remote = Some(place.name().to_owned());
        opts.nested = false;
        let how = if place.needs_ready() {
            How::PrepareHost {
                spec,
                place,
                run: Box::new(run),
                argv,
            }
        } else {
            How::Run(Spec {
                argv: place.command(&run, &argv),
                ..spec
            })
        };
        Launch {
            task: index,
            opts,
            how,
        }
    }
}
