//! Plan mode's scheduler: task lines in, launch decisions out.
//!
//! It knows the plan (through the [`Planner`]), the `-j` bound and how each
//! task's worker is to be launched; it knows nothing of the poller,
//! processes or descriptors. The supervisor feeds it the plan's lines and
//! workers' ends, and carries out the [`Launch`]es it hands out.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::PathBuf;

use std::sync::Arc;

use crate::agent::{Agent, Agents, Ask};
use sc_events::{Body, ErrorEvent, Event, Skip, Task, encode, now_ts, parse_line, restamp_line};

use crate::process::launch::Spec;

mod command;
mod hosts;
mod place;
mod plan_line;

use crate::placement::registry::Placements;
use crate::plan::graph::names_host;
use crate::plan::resume::EarlierRun;
use crate::plan::{NotRun, Planner};
use crate::worker::{AskPolicy, WorkerOptions};
pub use hosts::{HostSlots, parse_hosts};
use plan_line::{completed_task_line, wrong_fields};

/// What became of one line of the plan.
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    /// A task, now in the plan (its line is re-emitted).
    Task,
    /// Another event: passed through as it was.
    Event,
    /// Not an event at all: to be kept as output of the plan's own worker.
    NotEvent,
    /// A task that cannot join the plan (a second task with the same id).
    Refused(String),
}

/// A task to start now.
#[derive(Debug)]
pub struct Launch {
    pub task: usize,
    pub opts: WorkerOptions,
    pub how: How,
}

impl Launch {
    /// A task that cannot run: an `error` saying why, and `exit` 127.
    fn refused(task: usize, opts: WorkerOptions, message: String) -> Launch {
        Launch {
            task,
            opts,
            how: How::Refuse(message),
        }
    }
}

#[derive(Debug)]
pub enum How {
    /// Launch with this spec.
    Run(Spec),
    /// Make its git worktree first (branching from `base`), then launch with
    /// the spec, in the worktree.
    Worktree {
        spec: Spec,
        here: PathBuf,
        base: Option<String>,
        /// A branch an earlier run made for the task, to work on again.
        reuse: Option<String>,
    },
    /// Make its place ready first (an ssh host's connection opened,
    /// sc-spawn copied there), off the poller's thread, then launch: `spec`
    /// with the command line made then (of `run` and the task's `argv`),
    /// when what the host's ssh configuration says is known.
    PrepareHost {
        spec: Spec,
        place: std::sync::Arc<dyn crate::placement::Elsewhere>,
        run: Box<crate::placement::run::RemoteRun>,
        argv: Vec<std::ffi::OsString>,
    },
    /// It cannot run: an `error` saying why, and `exit` 127.
    Refuse(String),
}

pub struct Scheduler {
    planner: Planner,
    jobs: usize,
    /// At most this many at once after the system ran out of file
    /// descriptors with fewer than `jobs` running.
    fd_cap: Option<usize>,
    /// Options every task's worker starts from.
    template: WorkerOptions,
    /// How a task's asks are answered when it asks (`"ask": true`) in a
    /// run without `--ask`.
    ask_policy: AskPolicy,
    /// How every task's worker is launched (stdin, PTY), its command aside.
    template_spec: Spec,
    /// The agent kinds, and how their command lines are made.
    agents: Arc<dyn Agents>,
    /// How much faster recorded runs (`replay` tasks) are played.
    replay_speed: f64,
    /// Where tasks go besides here: the run's placement engines.
    placements: Arc<Placements>,
    remote_flags: Vec<OsString>,
    /// `--hosts`, with how many tasks run on each, and which task runs where.
    hosts: Vec<HostSlots>,
    host_running: Vec<usize>,
    task_host: HashMap<usize, usize>,
    /// This sc-spawn's own id path when nested (SC_WORKER), for the
    /// workers' SC_WORKER.
    path: Option<String>,
    completed: bool,
    stopped: bool,
    /// Lines of the plan's input that were events (tasks or others), and
    /// that were not: a stdin of command lines alone is no plan.
    events: usize,
    not_events: usize,
    /// `--worktree`: each task's branch, by task id.
    branches: Option<HashMap<String, String>>,
    /// `--resume LOG`: what an earlier run of this plan did, and the log's
    /// name for messages.
    earlier: Option<(EarlierRun, String)>,
    /// Tasks whose line was malformed: why each is refused at its turn.
    refusals: HashMap<String, String>,
    /// `--budget-usd`: what the plan may still spend.
    budget_left: Option<f64>,
    /// Single-worker mode: the one task came from the command line, not as
    /// a `task` event, so its worker's events start at seq 0.
    inline: bool,
}

/// How a plan's tasks are run: what the scheduler starts from.
pub struct PlanOptions {
    /// At most this many at once (`-j`).
    pub jobs: usize,
    /// Options every task's worker starts from.
    pub template: WorkerOptions,
    /// How a task's asks are answered when it asks (`"ask": true`) in a
    /// run without `--ask`: the run's policy command, timeout, default and
    /// control socket.
    pub ask_policy: AskPolicy,
    /// How every task's worker is launched (stdin, PTY), its command aside.
    pub template_spec: Spec,
    /// The agent kinds, and how their command lines are made.
    pub agents: Arc<dyn Agents>,
    /// How much faster recorded runs (`replay` tasks) are played.
    pub replay_speed: f64,
    /// This sc-spawn's own id path when nested (SC_WORKER).
    pub path: Option<String>,
    /// Where tasks go besides here (a task's `host`, `--hosts`, a task's
    /// `slurm`, `--slurm`): the run's placement engines.
    pub placements: Arc<Placements>,
    /// The flags a remote sc-spawn runs a task's worker with.
    pub remote_flags: Vec<OsString>,
    /// `--hosts`: where tasks that name no host run (empty: here).
    pub hosts: Vec<HostSlots>,
}

impl Scheduler {
    pub fn new(options: PlanOptions) -> Scheduler {
        let PlanOptions {
            jobs,
            template,
            ask_policy,
            template_spec,
            agents,
            replay_speed,
            path,
            placements,
            remote_flags,
            hosts,
        } = options;
        Scheduler {
            planner: Planner::default(),
            jobs: jobs.max(1),
            fd_cap: None,
            template,
            ask_policy,
            template_spec,
            agents,
            replay_speed,
            path,
            placements,
            remote_flags,
            host_running: vec![0; hosts.len()],
            hosts,
            task_host: HashMap::new(),
            completed: false,
            stopped: false,
            branches: None,
            events: 0,
            not_events: 0,
            earlier: None,
            refusals: HashMap::new(),
            inline: false,
            budget_left: None,
        }
    }

    /// Single-worker mode (`sc-spawn -- CMD`): a plan of this one task, made
    /// from the command line. Its stream has no `task` event: the worker's
    /// own events start at seq 0, as they always have. Every flag then goes
    /// through the same launch as a plan line's task.
    pub fn add_inline(&mut self, task: Task, out: &mut Vec<u8>) -> Result<(), String> {
        self.inline = true;
        let (_, not_run) = self.planner.add(task)?;
        self.not_run(not_run, out);
        self.input_ended(out);
        Ok(())
    }

    /// The seq of a task's first event of its own (0 took the `task` event
    /// of a plan line).
    fn first_seq(&self) -> u64 {
        u64::from(!self.inline)
    }

    /// `--resume`: tasks an earlier run did are not run again, and those it
    /// cut off resume their agent's session.
    pub fn set_earlier(&mut self, earlier: EarlierRun, log: String) {
        self.earlier = Some((earlier, log));
    }

    /// Run each task in a git worktree of its own (`--worktree`).
    pub fn set_worktrees(&mut self, on: bool) {
        self.branches = on.then(HashMap::new);
    }

    /// One line of the plan: a task joins it (and is re-emitted with seq 0
    /// so that viewers see queued work); other events pass through.
    pub fn take_line(&mut self, line: &[u8], out: &mut Vec<u8>) -> Line {
        let event = match parse_line(line) {
            Ok(event) => event,
            Err(e) => {
                // A task line written by hand: `seq`, `ts` and one of
                // `worker`/`id` may be left out; the stream gets it whole.
                if let Some(whole) = completed_task_line(line) {
                    return self.take_line(&whole, out);
                }
                let taken = self.malformed_task(line, &e, out);
                if matches!(taken, Line::NotEvent) {
                    self.not_events += 1;
                }
                return taken;
            }
        };
        self.events += 1;
        let Body::Task(mut task) = event.body else {
            push_line(line, out);
            return Line::Event;
        };
        // The worker id is the task's id in the stream.
        task.id = event.worker.clone();
        match self.planner.add(task) {
            Ok((_, not_run)) => {
                // Re-emitted with seq 0 and the time it was taken: a plan
                // file's own `ts` is when it was written, and a report's
                // times are the run's. parse_line accepted the line: it
                // restamps.
                let mark = out.len();
                if restamp_line(line, &event.worker, 0, Some(now_ts()), out).is_err() {
                    out.truncate(mark);
                    push_line(line, out);
                }
                self.not_run(not_run, out);
                Line::Task
            }
            Err(message) => Line::Refused(message),
        }
    }

    /// A line that is not a well-formed event. A `task` whose fields are
    /// of the wrong type (`"retries": "two"`) is not dropped in silence: it
    /// joins the plan under its id and is refused at its turn (an `error`
    /// naming the field, `exit` 127), so that its dependents are skipped
    /// and the plan fails. Anything else is not this scheduler's.
    fn malformed_task(&mut self, line: &[u8], e: &sc_events::ReadError, out: &mut Vec<u8>) -> Line {
        let Ok(head) = sc_events::parse_head(line) else {
            return Line::NotEvent;
        };
        if &*head.type_name != "task" {
            return Line::NotEvent;
        }
        let id = head.worker.to_string();
        let placeholder = Task {
            id: id.clone(),
            ..Task::default()
        };
        match self.planner.add(placeholder.clone()) {
            Ok((_, not_run)) => {
                encode(&Event::new(id.clone(), 0, now_ts(), placeholder), out);
                let message = format!(
                    "task `{id}` is not run: {}; fix the plan line (sc-events(7) gives each field's type)",
                    wrong_fields(line).unwrap_or_else(|| e.to_string())
                );
                self.refusals.insert(id, message);
                self.not_run(not_run, out);
                Line::Task
            }
            Err(message) => Line::Refused(message),
        }
    }

    /// The plan's input ended: what waits on ids that never came, or on a
    /// cycle, is said and skipped.
    pub fn input_ended(&mut self, out: &mut Vec<u8>) {
        if !self.completed {
            self.completed = true;
            let not_run = self.planner.complete();
            self.not_run(not_run, out);
        }
    }

    /// The next task that may start now, within `-j`. Tasks an earlier
    /// run did (`--resume`) are said done on the way and free their
    /// dependents at once.
    pub fn next_launch(&mut self, out: &mut Vec<u8>) -> Option<Launch> {
        loop {
            if self.stopped {
                return None;
            }
            let bound = self.fd_cap.unwrap_or(self.jobs).min(self.jobs);
            if self.planner.running() >= bound {
                return None;
            }
            // A task naming its own host never waits behind tasks that
            // wait for a place of `--hosts`.
            let list_slot_free = self.hosts.is_empty()
                || (0..self.hosts.len()).any(|h| self.host_running[h] < self.hosts[h].slots);
            let task = self.planner.start_next(list_slot_free)?;
            let id = self.planner.task(task).id.clone();
            let earlier = self
                .earlier
                .as_ref()
                .and_then(|(run, log)| run.get(&id).map(|e| (e.clone(), log.clone())));
            match earlier {
                Some((done, log)) if done.done => {
                    if let (Some(branches), Some(branch)) = (self.branches.as_mut(), done.branch) {
                        branches.insert(id.clone(), branch);
                    }
                    encode(
                        &Event::new(
                            id,
                            1,
                            now_ts(),
                            Skip {
                                reason: format!("already done: it succeeded in {log}"),
                                done: true,
                            },
                        ),
                        out,
                    );
                    let not_run = self.planner.finished(task, true);
                    self.not_run(not_run, out);
                }
                _ => {
                    // A task that names no host takes a free slot of the list.
                    let mut assigned = None;
                    if !names_host(self.planner.task(task)) && !self.hosts.is_empty() {
                        let free = (0..self.hosts.len())
                            .filter(|&h| self.host_running[h] < self.hosts[h].slots)
                            .max_by_key(|&h| self.hosts[h].slots - self.host_running[h]);
                        let Some(h) = free else {
                            // Not so: start_next was told a place is free.
                            self.planner.put_back(task);
                            return None;
                        };
                        self.host_running[h] += 1;
                        self.task_host.insert(task, h);
                        assigned = self.hosts[h].host.clone();
                    }
                    return Some(self.launch(task, assigned));
                }
            }
        }
    }

    /// The input had lines, and none of them was an event: command lines
    /// (`echo 'cargo build' | sc-spawn`), not a plan.
    pub fn no_plan_in_input(&self) -> bool {
        self.events == 0 && self.not_events > 0
    }

    /// A task no longer holds its slot of the host list.
    fn free_slot(&mut self, task: usize) {
        if let Some(h) = self.task_host.remove(&task) {
            self.host_running[h] -= 1;
        }
    }

    /// A task could not be launched because no file descriptor was free,
    /// with `running` others running: it waits for one of them to end, and
    /// no more than `running` run at once from now on. True when this is
    /// the first time (to be said once).
    pub fn out_of_descriptors(&mut self, task: usize, running: usize) -> bool {
        self.free_slot(task);
        self.planner.put_back(task);
        let first = self.fd_cap.is_none();
        self.fd_cap = Some(running.max(1));
        first
    }

    /// A worker ended: what it makes impossible is skipped.
    pub fn ended(&mut self, task: usize, ok: bool, out: &mut Vec<u8>) {
        self.free_slot(task);
        let not_run = self.planner.finished(task, ok);
        self.not_run(not_run, out);
    }

    /// Nothing that has not started will: an interrupt, a reader gone.
    pub fn stop(&mut self, reason: &str, out: &mut Vec<u8>) {
        self.stopped = true;
        let not_run = self.planner.stop(reason);
        self.not_run(not_run, out);
    }

    /// A task's worktree was made on this branch: its dependents branch
    /// from it.
    pub fn branch_made(&mut self, task: usize, branch: String) {
        let id = self.planner.task(task).id.clone();
        if let Some(branches) = self.branches.as_mut() {
            branches.insert(id, branch);
        }
    }

    pub fn task_id(&self, task: usize) -> &str {
        &self.planner.task(task).id
    }

    /// The input has ended and every task has run or been skipped.
    pub fn is_resolved(&self) -> bool {
        self.planner.is_resolved()
    }

    pub fn all_succeeded(&self) -> bool {
        self.planner.all_succeeded()
    }

    pub fn running(&self) -> usize {
        self.planner.running()
    }

    /// `--budget-usd`: what the plan may still spend (a task placed
    /// elsewhere is capped by it there).
    pub fn set_budget_left(&mut self, usd: Option<f64>) {
        self.budget_left = usd;
    }

    /// Tasks that will never run get their `error` (if any) and `skip`.
    fn not_run(&self, not_run: Vec<NotRun>, out: &mut Vec<u8>) {
        for item in not_run {
            let id = self.planner.task(item.task).id.clone();
            let mut seq = self.first_seq();
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
                        done: false,
                    },
                ),
                out,
            );
        }
    }
}

fn push_line(line: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(line);
    if !line.ends_with(b"\n") {
        out.push(b'\n');
    }
}

/// A command line and what to add to its environment.
type Command = crate::agent::AgentCommand;

impl Scheduler {}

/// What an agent task asks of its CLI, owned: each attempt's command is
/// made from it.
#[derive(Debug, Clone)]
pub struct AgentTask {
    pub prompt: String,
    pub instructions: Option<String>,
    pub permissions: Option<serde_json::Value>,
    pub max_budget_usd: Option<f64>,
    pub converse: bool,
    pub acp_agent: Option<String>,
    /// In sc's sandbox (`--sandbox`, a task's `sandbox`).
    pub confined: bool,
}

impl AgentTask {
    pub fn of(
        task: &Task,
        max_budget_usd: Option<f64>,
        converse: bool,
        confined: bool,
    ) -> AgentTask {
        AgentTask {
            prompt: task.prompt.clone().unwrap_or_default(),
            instructions: task.instructions.clone(),
            permissions: task.permissions.clone(),
            max_budget_usd,
            converse,
            acp_agent: task.acp_agent.clone(),
            confined,
        }
    }

    /// The ask for `prompt` (the task's, or a retry's restatement of it),
    /// resuming `resume`.
    pub fn ask<'a>(&'a self, prompt: &'a str, resume: Option<&'a str>) -> Ask<'a> {
        Ask {
            prompt,
            instructions: self.instructions.as_deref(),
            permissions: self.permissions.as_ref(),
            resume,
            max_budget_usd: self.max_budget_usd,
            converse: self.converse,
            acp_agent: self.acp_agent.as_deref(),
            confined: self.confined,
        }
    }
}

/// How a retry resumes an agent's session: the CLI's command line that
/// resumes it, told why and given the task again.
pub fn agent_resume(agent: Arc<dyn Agent>, task: AgentTask) -> crate::worker::Resume {
    Arc::new(move |session: &str, why: &str| {
        let again = format!(
            "Your previous attempt at this task ended early ({why}). Continue where you left off \
             and finish it: {}",
            task.prompt
        );
        agent.command(&task.ask(&again, Some(session)))
    })
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
