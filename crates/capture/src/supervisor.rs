//! The single poller: workers' outputs, event-stream inputs, the sink,
//! signals and timers, all in one mio loop that sleeps until one of them
//! needs it.
//!
//! There is no busy polling: the loop blocks in `poll` until an output or an
//! input is readable, the sink writable, a signal arrives (SIGCHLD included,
//! through signal-hook's self-pipe) or the earliest deadline comes.

use std::io;
use std::os::fd::BorrowedFd;
use std::time::{Duration, Instant};

use mio::{Events, Interest, Poll, Token};
use nix::sys::signal::Signal;
use signal_hook::consts::{SIGCHLD, SIGHUP, SIGINT, SIGTERM};
use signal_hook_mio::v1_0::Signals;

use std::collections::HashMap;
use std::ffi::OsString;

use sc_agents::{AgentKind, AgentOptions};
use sc_events::{Body, ErrorEvent, Event, Skip, Task, encode, now_ts, parse_line, rename_line};

use crate::input::{Input, InputSpec};
use crate::launch::Spec;
use crate::lines::Piece;
use crate::plan::{NotRun, Planner};
use crate::router::{Naming, Router};
use crate::sink::Sink;
use crate::worker::{Worker, WorkerOptions};

const SIGNALS: Token = Token(0);
const SINK: Token = Token(1);
/// Tokens from here on are looked up in `owners`.
const FIRST_TOKEN: usize = 2;

/// The longest input line kept whole by default; longer ones are passed on
/// in pieces as output of the input's own worker.
pub const DEFAULT_MAX_LINE: usize = 8 * 1024 * 1024;

/// What a token belongs to.
#[derive(Debug, Clone, Copy)]
enum Owner {
    Worker(usize),
    Input(usize),
}

/// What happened to the stream itself.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RunReport {
    /// The reader of the stream went away (EPIPE) before the end.
    pub downstream_closed: bool,
    /// The first interrupting signal sc received, if any.
    pub interrupted: Option<i32>,
    /// Writing the stream failed for a reason other than a closed reader.
    pub write_error: Option<String>,
    /// Plan mode: whether every task succeeded.
    pub plan_succeeded: Option<bool>,
}

pub struct Supervisor {
    poll: Poll,
    events: Events,
    signals: Signals,
    sink: Sink,
    owners: Vec<Owner>,
    workers: Vec<Worker>,
    inputs: Vec<Input>,
    router: Router,
    max_line: usize,
    scratch: Vec<u8>,
    interrupts: u32,
    /// After an interrupt: when to stop waiting for inputs to end by
    /// themselves (files and FIFOs cannot be signalled).
    stop_inputs_at: Option<Instant>,
    grace: Duration,
    report: RunReport,
    notices: Option<&'static str>,
    plan: Option<PlanRun>,
}

/// Plan mode: tasks read from an input, a worker each.
struct PlanRun {
    planner: Planner,
    /// The input the plan is read from.
    input: usize,
    jobs: usize,
    /// Options every task's worker starts from.
    template: WorkerOptions,
    /// How every task's worker is launched (stdin, PTY), its command aside.
    template_spec: Spec,
    /// What agent workers' command lines may add (model, explicit danger).
    agent: AgentOptions,
    /// This sc-spawn's own id path when nested (SC_WORKER), for the
    /// workers' SC_WORKER.
    path: Option<String>,
    task_of: HashMap<usize, usize>,
    completed: bool,
    stopped: bool,
    /// `--worktree`: each task's branch, by task id.
    branches: Option<HashMap<String, String>>,
}

impl Supervisor {
    /// A supervisor writing the stream to `out`. Signal handlers are
    /// installed here, before any worker starts, so no SIGCHLD is missed.
    pub fn new(out: BorrowedFd<'_>) -> io::Result<Supervisor> {
        let poll = Poll::new()?;
        let mut signals = Signals::new([SIGCHLD, SIGINT, SIGTERM, SIGHUP])?;
        poll.registry()
            .register(&mut signals, SIGNALS, Interest::READABLE)?;
        let sink = Sink::new(out, poll.registry(), SINK)?;
        Ok(Supervisor {
            poll,
            events: Events::with_capacity(1024),
            signals,
            sink,
            owners: Vec::new(),
            workers: Vec::new(),
            inputs: Vec::new(),
            router: Router::new(Naming::Unique),
            max_line: DEFAULT_MAX_LINE,
            scratch: vec![0; 64 * 1024],
            interrupts: 0,
            stop_inputs_at: None,
            grace: Duration::from_secs(5),
            report: RunReport::default(),
            notices: None,
            plan: None,
        })
    }

    /// Tell the person at the terminal, on stderr, what an interrupt did,
    /// as `program`.
    pub fn set_notices(&mut self, program: &'static str) {
        self.notices = Some(program);
    }

    /// Also write the stream to `file`.
    pub fn set_log(&mut self, file: std::fs::File) {
        self.sink.set_log(file);
    }

    /// How inputs' worker ids are named in the merged stream.
    pub fn set_naming(&mut self, naming: Naming) {
        self.router = Router::new(naming);
    }

    /// The longest input line kept whole.
    pub fn set_max_line(&mut self, bytes: usize) {
        self.max_line = bytes;
    }

    /// From an interrupt to SIGKILL (producer commands), and how long
    /// inputs get to end by themselves after an interrupt.
    pub fn set_grace(&mut self, grace: Duration) {
        self.grace = grace;
    }

    fn next_token(&mut self, owner: Owner) -> Token {
        self.owners.push(owner);
        Token(FIRST_TOKEN + self.owners.len() - 1)
    }

    /// Launch a worker now; its `start` (or `error` and `exit`) is written.
    pub fn spawn(&mut self, opts: WorkerOptions, spec: &Spec) -> usize {
        let index = self.workers.len();
        let tokens = [
            self.next_token(Owner::Worker(index)),
            self.next_token(Owner::Worker(index)),
        ];
        let worker = Worker::spawn(opts, spec, self.poll.registry(), tokens, self.sink.buffer());
        self.workers.push(worker);
        index
    }

    pub fn worker(&self, index: usize) -> &Worker {
        &self.workers[index]
    }

    /// Open an input of event lines. When it cannot be opened, an `error`
    /// event of a worker named after it says so, and the error is returned.
    pub fn add_input(&mut self, spec: &InputSpec, label: String) -> io::Result<usize> {
        let route = self.router.add_input(&label);
        let index = self.inputs.len();
        let token = self.next_token(Owner::Input(index));
        let registry = self.poll.registry();
        match Input::open(spec, label.clone(), route, registry, token, self.max_line) {
            Ok(input) => {
                self.inputs.push(input);
                Ok(index)
            }
            Err(e) => {
                let message = match spec {
                    InputSpec::Command(command) => {
                        format!("cannot run input {label} (`{command}`): {e}")
                    }
                    InputSpec::Path(path) => format!("cannot open input {}: {e}", path.display()),
                    InputSpec::Stdin => format!("cannot read stdin: {e}"),
                };
                self.router.own_error(route, message, self.sink.buffer());
                Err(e)
            }
        }
    }

    /// Run until every worker has finished, every input has ended, and the
    /// stream is written (or its reader is gone).
    pub fn run(&mut self) -> io::Result<RunReport> {
        loop {
            self.flush_sink();
            let now = Instant::now();
            if self.stop_inputs_at.is_some_and(|at| at <= now) {
                self.stop_inputs(true);
            }
            let registry = self.poll.registry();
            let mut ended = Vec::new();
            for (index, worker) in self.workers.iter_mut().enumerate() {
                worker.on_timers(now, self.sink.buffer(), registry);
                if !self.sink.is_full() {
                    worker.pump(&mut self.scratch, &mut self.sink, registry);
                }
                if worker.try_finish(self.sink.buffer()) {
                    ended.push(index);
                }
            }
            for input in &mut self.inputs {
                if !self.sink.is_full() {
                    let router = &mut self.router;
                    input.pump(&mut self.scratch, &mut self.sink, router, registry);
                }
            }
            for index in ended {
                self.plan_worker_ended(index);
            }
            self.plan_turn();
            self.flush_sink();
            let now = Instant::now();
            let all_done = self.workers.iter().all(Worker::is_finished)
                && self.inputs.iter().all(|i| i.is_done(now))
                && self.plan.as_ref().is_none_or(|p| p.planner.is_resolved());
            if all_done && (self.sink.pending() == 0 || self.sink.is_closed()) {
                break;
            }
            let wants_read = self.workers.iter().any(Worker::wants_read)
                || self.inputs.iter().any(Input::wants_read);
            let timeout = if !self.sink.is_full() && wants_read {
                Some(Duration::ZERO)
            } else if all_done {
                None // only the sink is left: wait until it is writable
            } else {
                self.workers
                    .iter()
                    .filter_map(Worker::deadline)
                    .chain(self.inputs.iter().filter_map(Input::deadline))
                    .chain(self.stop_inputs_at)
                    .min()
                    .map(|d| d.saturating_duration_since(Instant::now()))
            };
            match self.poll.poll(&mut self.events, timeout) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            self.dispatch();
        }
        for worker in &mut self.workers {
            worker.end_leftovers();
        }
        for input in &mut self.inputs {
            input.end_command(self.grace);
        }
        if let Some(plan) = &self.plan {
            self.report.plan_succeeded = Some(plan.planner.all_succeeded());
        }
        Ok(self.report.clone())
    }

    /// Plan mode: read `task` events from `spec` and run a worker for each,
    /// at most `jobs` at once, in dependency order.
    pub fn plan_from(
        &mut self,
        spec: &InputSpec,
        jobs: usize,
        template: WorkerOptions,
        template_spec: Spec,
        agent: AgentOptions,
        path: Option<String>,
    ) -> io::Result<()> {
        let input = self.add_input(spec, "stdin".into())?;
        self.inputs[input].keep_lines();
        self.plan = Some(PlanRun {
            planner: Planner::default(),
            input,
            jobs: jobs.max(1),
            template,
            template_spec,
            agent,
            path,
            task_of: HashMap::new(),
            completed: false,
            stopped: false,
            branches: None,
        });
        Ok(())
    }

    /// Plan mode: run each task in a git worktree of its own (`--worktree`).
    pub fn set_worktrees(&mut self, on: bool) {
        if let Some(plan) = self.plan.as_mut() {
            plan.branches = on.then(HashMap::new);
        }
    }

    /// Take in new plan lines, note the plan's end, start what may start.
    fn plan_turn(&mut self) {
        let Some(plan) = self.plan.as_mut() else {
            return;
        };
        let input = &mut self.inputs[plan.input];
        let route = input.route();
        let lines = input.take_lines();
        let ended = !input.is_open();
        for line in lines {
            self.plan_line(route, &line);
        }
        let plan = self.plan.as_mut().expect("plan mode");
        if ended && !plan.completed {
            plan.completed = true;
            let not_run = plan.planner.complete();
            self.not_run(not_run);
        }
        let plan = self.plan.as_mut().expect("plan mode");
        if plan.stopped {
            return;
        }
        let slots = plan.jobs.saturating_sub(plan.planner.running());
        for task in plan.planner.start(slots) {
            self.start_task(task);
        }
    }

    /// One line of the plan: a task joins it (and is re-emitted with seq 0
    /// so that viewers see queued work); other events pass through.
    fn plan_line(&mut self, route: usize, line: &[u8]) {
        let out = self.sink.buffer();
        let event = match parse_line(line) {
            Ok(event) => event,
            // Not an event: kept, as output of the plan input's own worker.
            Err(_) => return self.router.route(route, Piece::Line(line), out),
        };
        let Body::Task(mut task) = event.body else {
            out.extend_from_slice(line);
            if !line.ends_with(b"\n") {
                out.push(b'\n');
            }
            return;
        };
        // The worker id is the task's id in the stream.
        task.id = event.worker.clone();
        let plan = self.plan.as_mut().expect("plan mode");
        match plan.planner.add(task) {
            Ok(_) if event.seq == 0 => {
                out.extend_from_slice(line);
                if !line.ends_with(b"\n") {
                    out.push(b'\n');
                }
            }
            Ok(_) => {
                // parse_line accepted the line: it renames.
                let _ = rename_line(line, &event.worker, 0, out);
            }
            Err(message) => self.router.own_error(route, message, out),
        }
    }

    fn start_task(&mut self, task_index: usize) {
        let plan = self.plan.as_ref().expect("plan mode");
        let task = plan.planner.task(task_index).clone();
        let kind = task.kind.clone().unwrap_or_else(|| "shell".into());
        let sc_worker = match &plan.path {
            Some(path) => format!("{path}/{}", task.id),
            None => task.id.clone(),
        };
        let mut opts = plan.template.clone();
        opts.id = task.id.clone();
        opts.kind = kind.clone();
        opts.first_seq = 1;
        opts.nested = kind == "sc";
        if let Some(timeout) = task.timeout_s.filter(|t| *t > 0.0 && t.is_finite()) {
            opts.timeout = Some(Duration::from_secs_f64(timeout));
        }
        opts.agent = AgentKind::from_name(&kind);
        let mut cwd = task.cwd.as_ref().map(std::path::PathBuf::from);
        let mut refusal = None;
        if let Some(branches) = &plan.branches {
            // The first dependency's branch holds the work this task builds on.
            let base = task
                .depends_on
                .iter()
                .find_map(|dep| branches.get(dep))
                .cloned();
            let here = cwd
                .clone()
                .or_else(|| std::env::current_dir().ok())
                .unwrap_or_default();
            match crate::worktree::create(&here, &task.id, base.as_deref()) {
                Ok(worktree) => {
                    cwd = Some(worktree.cwd.clone());
                    opts.worktree = Some(worktree);
                }
                Err(e) => refusal = Some(format!("task `{}`: {e}", task.id)),
            }
        }
        if let (Some(worktree), Some(plan)) = (&opts.worktree, self.plan.as_mut())
            && let Some(branches) = plan.branches.as_mut()
        {
            branches.insert(task.id.clone(), worktree.branch.clone());
        }
        let plan = self.plan.as_ref().expect("plan mode");
        let command = match refusal {
            Some(message) => Err(message),
            None => task_command(&task, &kind, &plan.agent),
        };
        let worker = match command {
            Ok((argv, extra_env)) => {
                let mut env: Vec<(OsString, OsString)> =
                    vec![("SC_WORKER".into(), sc_worker.into())];
                env.extend(extra_env);
                if let Some(vars) = &task.env {
                    env.extend(vars.iter().map(|(k, v)| (k.into(), v.into())));
                }
                let spec = Spec {
                    argv,
                    cwd,
                    env,
                    limits: task
                        .limits
                        .clone()
                        .or_else(|| plan.template_spec.limits.clone()),
                    ..plan.template_spec()
                };
                self.spawn(opts, &spec)
            }
            Err(message) => {
                let index = self.workers.len();
                self.next_token(Owner::Worker(index));
                self.next_token(Owner::Worker(index));
                let worker = Worker::refuse(opts, message, self.sink.buffer());
                self.workers.push(worker);
                index
            }
        };
        let plan = self.plan.as_mut().expect("plan mode");
        plan.task_of.insert(worker, task_index);
        if self.workers[worker].is_finished() {
            self.plan_worker_ended(worker);
        }
    }

    /// A worker ended: what it makes impossible is skipped.
    fn plan_worker_ended(&mut self, worker: usize) {
        let Some(plan) = self.plan.as_mut() else {
            return;
        };
        let Some(&task) = plan.task_of.get(&worker) else {
            return;
        };
        let ok = self.workers[worker].exit_code() == 0;
        let not_run = plan.planner.finished(task, ok);
        self.not_run(not_run);
    }

    /// Tasks that will never run get their `error` (if any) and `skip`.
    fn not_run(&mut self, not_run: Vec<NotRun>) {
        let Some(plan) = self.plan.as_ref() else {
            return;
        };
        let out = self.sink.buffer();
        for item in not_run {
            let id = plan.planner.task(item.task).id.clone();
            // The task event took seq 0.
            let mut seq = 1;
            if let Some(message) = item.error {
                encode(
                    &Event::new(id.clone(), seq, now_ts(), ErrorEvent { message }),
                    out,
                );
                seq += 1;
            }
            encode(
                &Event::new(
                    id,
                    seq,
                    now_ts(),
                    Skip {
                        reason: item.reason,
                    },
                ),
                out,
            );
        }
    }

    fn stop_plan(&mut self, reason: &str) {
        let Some(plan) = self.plan.as_mut() else {
            return;
        };
        plan.stopped = true;
        let not_run = plan.planner.stop(reason);
        self.not_run(not_run);
    }

    fn dispatch(&mut self) {
        let now = Instant::now();
        let mut got_signals = false;
        for event in self.events.iter() {
            match event.token() {
                SIGNALS => got_signals = true,
                SINK => self.sink.on_writable(),
                Token(t) => match self.owners.get(t - FIRST_TOKEN) {
                    Some(Owner::Worker(w)) => self.workers[*w].on_readable(Token(t)),
                    Some(Owner::Input(i)) => {
                        if let Some(input) = self.inputs.get_mut(*i) {
                            input.on_readable();
                        }
                    }
                    None => {}
                },
            }
        }
        if !got_signals {
            return;
        }
        let pending: Vec<i32> = self.signals.pending().collect();
        for signal in pending {
            if signal == SIGCHLD {
                for worker in &mut self.workers {
                    worker.check_exit(now);
                }
                for input in &mut self.inputs {
                    input.check_exit(self.sink.buffer(), &mut self.router);
                }
                continue;
            }
            self.interrupt(signal, now);
        }
    }

    fn interrupt(&mut self, signal: i32, now: Instant) {
        self.interrupts += 1;
        self.report.interrupted.get_or_insert(signal);
        let signal = Signal::try_from(signal).unwrap_or(Signal::SIGTERM);
        let escalate = self.interrupts > 1;
        for worker in &mut self.workers {
            worker.interrupt(signal, escalate, now);
        }
        for input in &mut self.inputs {
            input.interrupt(signal, escalate);
        }
        self.stop_plan("interrupted before it started");
        if escalate {
            self.stop_inputs(false);
        } else if self.inputs.iter().any(|i| !i.is_done(now)) {
            self.stop_inputs_at.get_or_insert(now + self.grace);
        }
        // A person presses Ctrl-C; SIGTERM and SIGHUP come from programs,
        // which need no notice on the terminal.
        if let Some(program) = self.notices.filter(|_| signal == Signal::SIGINT) {
            let running = self.workers.iter().filter(|w| !w.is_finished()).count()
                + self.inputs.iter().filter(|i| !i.is_done(now)).count();
            let what = if self.inputs.is_empty() {
                "worker(s)"
            } else {
                "worker(s) and input(s)"
            };
            if escalate {
                eprintln!("{program}: {signal} again: ending {running} {what} now");
            } else {
                eprintln!(
                    "{program}: {signal}: passed on to {running} {what}; send it again to end them at once"
                );
            }
        }
    }

    /// Stop reading inputs that did not end by themselves after an
    /// interrupt; what they had is still routed.
    fn stop_inputs(&mut self, graceful: bool) {
        self.stop_inputs_at = None;
        let registry = self.poll.registry();
        for input in &mut self.inputs {
            if graceful && input.is_command() {
                input.interrupt(Signal::SIGKILL, true);
            }
            input.close(self.sink.buffer(), &mut self.router, registry);
        }
    }

    fn flush_sink(&mut self) {
        let was_closed = self.sink.is_closed();
        if let Err(e) = self.sink.flush() {
            self.report.write_error.get_or_insert(e.to_string());
        }
        if self.sink.is_closed() && !was_closed {
            // The reader is gone (`| head`): nobody will see what the workers
            // write, so end them now rather than let them run on unseen.
            self.report.downstream_closed = true;
            let now = Instant::now();
            for worker in &mut self.workers {
                worker.terminate("downstream closed", now);
            }
            for input in &mut self.inputs {
                input.interrupt(Signal::SIGTERM, false);
            }
            self.stop_plan("the reader of the stream went away");
            self.stop_inputs(false);
        }
    }
}

impl PlanRun {
    /// What every task's launch shares (stdin, PTY mode): the template's.
    fn template_spec(&self) -> Spec {
        self.template_spec.clone()
    }
}

/// A command line and what to add to its environment.
type Command = (Vec<OsString>, Vec<(OsString, OsString)>);

/// The command a task runs: its argv, or its prompt through `sh -c`; for
/// an agent kind, the CLI's headless command line for its prompt, with the
/// role's instructions and grant. With the environment it needs.
fn task_command(task: &Task, kind: &str, agent: &AgentOptions) -> Result<Command, String> {
    if let Some(recording) = &task.replay {
        // A recorded run, played at its pace, read as the kind it records.
        let mut argv: Vec<OsString> = vec![sibling("sc-replay")];
        argv.extend(["--speed".into(), agent.replay_speed.to_string().into()]);
        argv.push(recording.into());
        return Ok((argv, Vec::new()));
    }
    if let Some(agent_kind) = AgentKind::from_name(kind) {
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
        let launch = sc_agents::command(
            agent_kind,
            prompt,
            task.instructions.as_deref(),
            task.permissions.as_ref(),
            agent,
        )
        .map_err(|e| format!("task `{}`: {e}", task.id))?;
        return Ok((launch.argv, launch.env));
    }
    if !matches!(kind, "shell" | "sc") {
        return Err(format!(
            "task `{}`: unknown worker kind `{kind}` (known: shell, sc, claude-code, codex, gemini, aider)",
            task.id
        ));
    }
    match (&task.argv, &task.prompt) {
        (Some(argv), _) if !argv.is_empty() => {
            Ok((argv.iter().map(OsString::from).collect(), Vec::new()))
        }
        (_, Some(prompt)) if !prompt.trim().is_empty() => {
            Ok((vec!["sh".into(), "-c".into(), prompt.into()], Vec::new()))
        }
        _ => Err(format!(
            "task `{}` has neither `argv` nor `prompt`: nothing to run",
            task.id
        )),
    }
}

/// A tool installed next to this program (the same build), else by name.
pub fn sibling(name: &str) -> OsString {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join(name)))
        .filter(|path| path.exists())
        .map(Into::into)
        .unwrap_or_else(|| name.into())
}
