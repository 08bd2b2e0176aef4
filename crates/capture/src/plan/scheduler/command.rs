//! A task made into what launches it: its kind, caps, retries and timeout
//! checked, the session it resumes, and its command here (or, placed
//! elsewhere, handed to [`place`](super::place)).

use super::*;

impl Scheduler {
    /// How task `index` is to be launched.
    pub(super) fn launch(&self, index: usize, assigned: Option<String>) -> Launch {
        let task = self.planner.task(index);
        let kind = task.kind.clone().unwrap_or_else(|| "shell".into());
        let mut opts = self.template.clone();
        opts.id = task.id.clone();
        opts.kind = kind.clone();
        opts.first_seq = self.first_seq();
        opts.nested = kind == "sc";
        opts.agent = self.agents.kind(&kind);
        let refuse = |opts, message| Launch::refused(index, opts, message);
        if let Some(message) = self.refusals.get(&task.id) {
            return refuse(opts, message.clone());
        }
        let place = match self.placement(task, assigned) {
            Ok(place) => place,
            Err(message) => return refuse(opts, message),
        };
        if let Err(message) = task_fields(task, &mut opts, &self.ask_policy) {
            return refuse(opts, message);
        }
        let max_budget_usd = opts.budget.as_ref().and_then(|b| b.max_usd);
        // `--ask` (or the task's `ask`): an agent that can ask runs with its
        // approval channel; one that cannot is told so by its worker.
        let converse = opts.ask.is_some() && opts.agent.as_ref().is_some_and(|a| a.converses());
        let earlier = self
            .earlier
            .as_ref()
            .and_then(|(run, _)| run.get(&task.id).cloned());
        // Cut off in the earlier run: its agent resumes that session.
        let resume = earlier
            .as_ref()
            .and_then(|e| e.session.clone())
            .filter(|_| opts.agent.is_some() && task.replay.is_none());
        if let Some(place) = place {
            return self.place_elsewhere(index, opts, place, resume, max_budget_usd);
        }
        let mut sandbox = match self.sandbox_of(task) {
            Ok(sandbox) => sandbox,
            Err(message) => return refuse(opts, message),
        };
        // Here, a failed agent attempt's retry resumes its session (there,
        // the sc-spawn that runs it does).
        let agent_task = AgentTask::of(task, max_budget_usd, converse, sandbox.is_some());
        if let (Some(retry), Some(agent), None, Some(_)) = (
            opts.retry.as_mut(),
            opts.agent.clone(),
            &task.replay,
            &task.prompt,
        ) {
            retry.resume = Some(agent_resume(agent, agent_task.clone()));
        }
        let command = match (&resume, opts.agent.clone(), &task.prompt) {
            (Some(session), Some(agent), Some(_)) => {
                let resumed = agent_resume(agent, agent_task.clone());
                opts.resumes = Some(session.clone());
                resumed(session, "the earlier run of the plan was cut off")
                    .map_err(|e| format!("task `{}`: {e}", task.id))
            }
            _ => self.task_command(task, &kind, opts.agent.as_deref(), &agent_task),
        };
        let mut command = match command {
            Ok(command) => command,
            Err(message) => return refuse(opts, message),
        };
        opts.granted = std::mem::take(&mut command.granted);
        // A recorded agent replayed under --ask plays its side of the
        // approval channel: it waits at each recorded ask for the answer.
        if converse && command.argv.first() == Some(&sibling("sc-replay")) {
            command.argv.insert(1, "--converse".into());
            command.input.get_or_insert_with(Vec::new);
        }
        let (env, cwd) = self.env_and_cwd(task, command.env);
        if let Some(agent) = opts.agent.clone()
            && command.argv.first() != Some(&sibling("sc-replay"))
        {
            let var = |name: &str| {
                env.iter()
                    .rev()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.clone())
                    .or_else(|| std::env::var_os(name))
            };
            let prompt = task.prompt.as_deref().unwrap_or_default();
            let fit = agent.fit(&agent_task.ask(prompt, None), &command.argv, &var);
            // Confined, an agent gets what it needs to work inside: its
            // state writable, its model's API on the allow-list.
            if let Some(sandbox) = &mut sandbox {
                sandbox.grant(fit.needs);
            }
            opts.warnings = fit.warnings;
        }
        let spec = Spec {
            argv: command.argv,
            cwd: cwd.clone(),
            env,
            // A conversing agent's stdin stays open for its answers.
            stdin: match command.input {
                Some(_) => crate::process::launch::StdinMode::Held,
                None => self.template_spec.stdin,
            },
            input: command.input,
            // An agent runs unattended and starts servers: what it leaves
            // behind is found in its cgroup.
            own_cgroup: opts.agent.is_some(),
            sandbox,
            limits: task
                .limits
                .clone()
                .or_else(|| self.template_spec.limits.clone()),
            ..self.template_spec.clone()
        };
        let how = match &self.branches {
            None => How::Run(spec),
            Some(branches) => How::Worktree {
                spec,
                here: cwd
                    .or_else(|| std::env::current_dir().ok())
                    .unwrap_or_default(),
                // The first dependency's branch holds the work this task
                // builds on.
                base: task
                    .depends_on
                    .iter()
                    .find_map(|dep| branches.get(dep))
                    .cloned(),
                // `--resume`: the branch the earlier run made is used again.
                reuse: earlier.and_then(|e| e.branch),
            },
        };
        Launch {
            task: index,
            opts,
            how,
        }
    }

    /// A task's environment (SC_WORKER, the template's `--env`, the
    /// agent's, the task's own, later ones winning) and directory.
    pub(super) fn env_and_cwd(
        &self,
        task: &Task,
        extra_env: Vec<(OsString, OsString)>,
    ) -> (Vec<(OsString, OsString)>, Option<PathBuf>) {
        let sc_worker = match &self.path {
            Some(path) => format!("{path}/{}", task.id),
            None => task.id.clone(),
        };
        let mut env: Vec<(OsString, OsString)> = vec![("SC_WORKER".into(), sc_worker.into())];
        env.extend(self.template_spec.env.iter().cloned());
        env.extend(extra_env);
        if let Some(vars) = &task.env {
            env.extend(vars.iter().map(|(k, v)| (k.into(), v.into())));
        }
        let cwd = task
            .cwd
            .as_ref()
            .map(PathBuf::from)
            .or_else(|| self.template_spec.cwd.clone());
        (env, cwd)
    }

    /// The command a task runs: its argv, or its prompt through `sh -c`;
    /// for an agent kind, the CLI's headless command line for its prompt,
    /// with the role's instructions and grant. With the environment it
    /// needs.
    pub(super) fn task_command(
        &self,
        task: &Task,
        kind: &str,
        agent: Option<&dyn Agent>,
        agent_task: &AgentTask,
    ) -> Result<Command, String> {
        if let Some(recording) = &task.replay {
            // A recorded run, played at its pace, read as the kind it records.
            let mut argv: Vec<OsString> = vec![sibling("sc-replay")];
            argv.extend(["--speed".into(), self.replay_speed.to_string().into()]);
            argv.push(recording.into());
            return Ok(Command {
                argv,
                ..Command::default()
            });
        }
        if task.argv.is_none() && task.prompt.is_none() && !self.template_spec.argv.is_empty() {
            // Single-worker mode's command, as given (its bytes need not be
            // UTF-8); an agent kind's output is still read as that agent's.
            return Ok(Command {
                argv: self.template_spec.argv.clone(),
                ..Command::default()
            });
        }
        if let Some(agent) = agent {
            let prompt = task
                .prompt
                .as_deref()
                .filter(|p| !p.trim().is_empty())
                .ok_or_else(|| {
                    format!(
                        "task `{}` of kind `{kind}` has no `prompt`: nothing to ask the agent",
                        task.id
                    )
                })?;
            return agent
                .command(&agent_task.ask(prompt, None))
                .map_err(|e| format!("task `{}`: {e}", task.id));
        }
        if !matches!(kind, "shell" | "sc") {
            return Err(format!(
                "task `{}`: unknown worker kind `{kind}` (known: shell, sc, {})",
                task.id,
                self.agents.names().join(", ")
            ));
        }
        match (&task.argv, &task.prompt) {
            (Some(argv), _) if !argv.is_empty() => Ok(Command {
                argv: argv.iter().map(OsString::from).collect(),
                ..Command::default()
            }),
            (_, Some(prompt)) if !prompt.trim().is_empty() => Ok(Command {
                argv: vec!["sh".into(), "-c".into(), prompt.into()],
                ..Command::default()
            }),
            _ => Err(format!(
                "task `{}` has neither `argv` nor `prompt`: nothing to run",
                task.id
            )),
        }
    }
}

/// A task's own caps, retries, asks and timeout laid over the template's
/// (a task that asks in a run without `--ask` gets `ask_policy`); the error
/// names a value out of range and what to give instead.
fn task_fields(
    task: &Task,
    opts: &mut WorkerOptions,
    ask_policy: &crate::worker::AskPolicy,
) -> Result<(), String> {
    match task.max_cost_usd {
        None => {}
        Some(usd) if usd > 0.0 && usd.is_finite() => {
            if let Some(budget) = opts.budget.as_mut() {
                budget.max_usd = Some(usd);
            }
        }
        Some(usd) => {
            return Err(format!(
                "task `{}`: `max_cost_usd` is {usd:?}: give an amount of dollars above 0",
                task.id
            ));
        }
    }
    if let Some(ask) = task.ask {
        opts.ask = ask.then(|| opts.ask.clone().unwrap_or_else(|| ask_policy.clone()));
    }
    if let Some(retries) = task.retries {
        let template = opts.retry.clone().unwrap_or(crate::worker::Retry {
            retries: 0,
            delay: std::time::Duration::from_secs(2),
            on_any: None,
            resume: None,
        });
        opts.retry = Some(crate::worker::Retry {
            retries,
            ..template
        });
    }
    match task.timeout_s {
        None => {}
        Some(0.0) => opts.timeout = None,
        Some(t) => match sc_events::duration_from_secs(t) {
            Some(timeout) => opts.timeout = Some(timeout),
            None => {
                return Err(format!(
                    "task `{}`: `timeout_s` is {t:?}: give a number of seconds from 0 to {} \
                     (0, or no field, for no timeout)",
                    task.id,
                    sc_events::MAX_SECS as u64
                ));
            }
        },
    }
    Ok(())
}

impl Scheduler {
    /// The sandbox a task runs in: the run's (`--sandbox`), its own
    /// (`"sandbox": true` or settings), or both joined. A task's `false`
    /// never lifts the run's. Paths must be absolute (a task's directory
    /// is not where sc-spawn stands).
    pub(super) fn sandbox_of(
        &self,
        task: &Task,
    ) -> Result<Option<crate::process::sandbox::Sandbox>, String> {
        use sc_events::TaskSandbox;
        let mut sandbox = self.template_spec.sandbox.clone();
        match &task.sandbox {
            None | Some(TaskSandbox::On(false)) => {}
            Some(TaskSandbox::On(true)) => {
                sandbox.get_or_insert_with(Default::default);
            }
            Some(TaskSandbox::With(settings)) => {
                let absolute = |paths: &[String]| -> Result<Vec<PathBuf>, String> {
                    paths
                        .iter()
                        .map(|p| match PathBuf::from(p) {
                            path if path.is_absolute() => Ok(path),
                            _ => Err(format!(
                                "task `{}`: sandbox path `{p}` is not absolute: give the whole path",
                                task.id
                            )),
                        })
                        .collect()
                };
                let more = sandbox.get_or_insert_with(Default::default);
                if let Some(kind) = &settings.kind {
                    more.kind = crate::process::sandbox::Kind::parse(kind)
                        .map_err(|e| format!("task `{}`: sandbox kind: {e}", task.id))?;
                }
                more.write.extend(absolute(&settings.write)?);
                more.hide.extend(absolute(&settings.hide)?);
                for list in &settings.net {
                    more.net.add(list).map_err(|e| {
                        format!(
                            "task `{}`: {}",
                            task.id,
                            e.replace("--sandbox-net", "sandbox net")
                        )
                    })?;
                }
            }
        }
        Ok(sandbox)
    }
}
