//! Plan mode in the poller: task lines read as they come, tasks launched
//! as their dependencies, slots and the budget allow, the slow chores of a
//! launch (a worktree made, sc-spawn copied to a host) done off the
//! poller's thread and picked up here.

use super::*;

impl Supervisor {
    /// Chores done off the thread: a worktree made (launch the worker), or
    /// committed (write the worker's exit).
    pub(super) fn take_chores(&mut self) {
        for done in self.chores.take_done() {
            match done {
                Done::Worktree { key, result } => self.worktree_made(key, result),
                Done::HostReady { key, result } => self.host_ready(key, result),
                Done::Policy { key, ask, ran } => {
                    if let Some(active) = self.workers.get_mut(key) {
                        active.worker.policy_answer(&ask, ran, self.sink.buffer());
                        let settled = active.worker.take_settled_asks();
                        self.chores.end_policies(&settled);
                    }
                }
                Done::Committed { key, report } => {
                    if let Some(active) = self.workers.get_mut(key) {
                        active.worker.finish_with(report, self.sink.buffer());
                        self.retire(key);
                    }
                }
            }
        }
    }

    /// The task's host is ready (its connection open, sc-spawn there), or
    /// sc-spawn could not be put there.
    pub(super) fn host_ready(
        &mut self,
        key: usize,
        result: Result<Vec<std::ffi::OsString>, String>,
    ) {
        let Some(active) = self.workers.get_mut(key) else {
            return;
        };
        let out = self.sink.buffer();
        if let Some(reason) = active.cancelled {
            active.worker.cancel(reason, out);
            return self.retire(key);
        }
        let Some(mut spec) = active.spec.take() else {
            return;
        };
        match result {
            Ok(argv) => {
                spec.argv = argv;
                let registry = self.poll.registry();
                if let Err(e) = active
                    .worker
                    .launch(&spec, registry, Self::worker_tokens(key), out)
                {
                    active.worker.refuse_launch(&spec, &e, out);
                }
            }
            Err(message) => active.worker.refuse_now(message, out),
        }
        if self.workers[key].worker.is_finished() {
            self.retire(key);
        }
    }

    pub(super) fn worktree_made(
        &mut self,
        key: usize,
        result: Result<crate::plan::worktree::Worktree, String>,
    ) {
        let Some(active) = self.workers.get_mut(key) else {
            return;
        };
        let out = self.sink.buffer();
        if let Some(reason) = active.cancelled {
            active.worker.cancel(reason, out);
            return self.retire(key);
        }
        let Some(mut spec) = active.spec.take() else {
            return;
        };
        match result {
            Ok(worktree) => {
                spec.cwd = Some(worktree.cwd.clone());
                if let (Some(task), Some(plan)) = (active.task, self.plan.as_mut()) {
                    plan.scheduler.branch_made(task, worktree.branch.clone());
                }
                active.worker.set_worktree(worktree);
                let tokens = Self::worker_tokens(key);
                let registry = self.poll.registry();
                if let Err(e) = active.worker.launch(&spec, registry, tokens, out) {
                    active.worker.refuse_launch(&spec, &e, out);
                }
            }
            Err(message) => {
                let message = format!("task `{}`: {message}", active.worker.id());
                active.worker.refuse_now(message, out);
            }
        }
        if self.workers[key].worker.is_finished() {
            self.retire(key);
        }
    }

    /// Plan mode: read `task` events from `spec` and run a worker for each,
    /// at most `jobs` at once, in dependency order.
    pub fn plan_from(&mut self, spec: &InputSpec, options: PlanOptions) -> io::Result<()> {
        let input = self.add_input(spec, "stdin".into())?;
        self.inputs[input].keep_lines();
        self.plan = Some(Plan {
            scheduler: Scheduler::new(options),
            input: Some(input),
        });
        Ok(())
    }

    /// Single-worker mode: a plan of this one task, launched the way a
    /// plan line's task is. Its worker's exit status is
    /// `exit_code(0)`. A task that cannot join is an `Err` with why.
    pub fn plan_one(&mut self, task: sc_events::Task, options: PlanOptions) -> Result<(), String> {
        let mut scheduler = Scheduler::new(options);
        scheduler.add_inline(task, self.sink.buffer())?;
        self.plan = Some(Plan {
            scheduler,
            input: None,
        });
        Ok(())
    }

    /// Plan mode, `--budget-usd`: the most the workers may spend together.
    pub fn set_budget(&mut self, usd: Option<f64>) {
        self.budget_usd = usd;
    }

    /// The plan's budget is spent: running workers are ended, and what has
    /// not started is skipped.
    pub(super) fn check_plan_budget(&mut self, now: Instant) {
        let Some(budget) = self.budget_usd.filter(|_| !self.budget_spent) else {
            return;
        };
        let spent = self.plan_spent();
        if spent < budget {
            return;
        }
        self.budget_spent = true;
        if let Some(program) = self.notices {
            eprintln!(
                "{program}: the plan's budget of ${budget} is spent (${spent:.4}): ending its workers"
            );
        }
        self.end_plan(sc_events::EndedBy::Budget, "budget", "budget", now);
    }

    /// Plan mode, `--fail-fast`: the first task that fails ends the plan.
    pub fn set_fail_fast(&mut self, on: bool) {
        self.fail_fast = on;
    }

    /// Task `id` failed: with `--fail-fast` (and the first time), what
    /// runs is ended and what has not started is skipped.
    pub(super) fn fail_fast_after(&mut self, id: &str, now: Instant) {
        if !self.fail_fast || self.failed_fast || self.plan.is_none() {
            return;
        }
        self.failed_fast = true;
        let why = format!("fail fast: {id} failed");
        if let Some(program) = self.notices {
            eprintln!("{program}: {id} failed (--fail-fast): ending the plan");
        }
        self.end_plan(sc_events::EndedBy::FailFast, "fail fast", &why, now);
    }

    /// End every running worker for `reason` (one being prepared is not
    /// launched: `cancelled`), and skip what has not started (`skip`).
    fn end_plan(
        &mut self,
        reason: sc_events::EndedBy,
        cancelled: &'static str,
        skip: &str,
        now: Instant,
    ) {
        for (_, active) in self.workers.iter_mut() {
            if active.worker.is_preparing() {
                active.cancelled = Some(cancelled);
            }
            active.worker.terminate(reason.clone(), now);
        }
        self.stop_plan(skip);
    }

    /// What the workers have spent so far: those finished, and those
    /// running (a worker placed elsewhere counts with its relayed exit).
    pub(super) fn plan_spent(&self) -> f64 {
        let running: f64 = self
            .workers
            .iter()
            .filter_map(|(_, a)| a.worker.spent_usd())
            .sum();
        self.spent_usd + running
    }

    /// Plan mode, `--resume`: what an earlier run of the plan did.
    pub fn set_earlier(&mut self, earlier: crate::plan::resume::EarlierRun, log: String) {
        if let Some(plan) = self.plan.as_mut() {
            plan.scheduler.set_earlier(earlier, log);
        }
    }

    /// Plan mode: run each task in a git worktree of its own (`--worktree`).
    pub fn set_worktrees(&mut self, on: bool) {
        if let Some(plan) = self.plan.as_mut() {
            plan.scheduler.set_worktrees(on);
        }
    }

    /// Take in new plan lines, note the plan's end, start what may start.
    pub(super) fn plan_turn(&mut self) {
        let Some(plan) = self.plan.as_mut() else {
            return;
        };
        if let Some(input) = plan.input {
            let input = &mut self.inputs[input];
            let route = input.route();
            let ended = !input.is_open();
            let out = self.sink.buffer();
            for line in input.take_lines() {
                match plan.scheduler.take_line(&line, out) {
                    Line::Task | Line::Event => {}
                    Line::NotEvent => self.router.route(route, Piece::Line(&line), out),
                    Line::Refused(message) => self.router.own_error(route, message, out),
                }
            }
            if ended {
                plan.scheduler.input_ended(out);
            }
        }
        let left = self
            .budget_usd
            .map(|budget| (budget - self.plan_spent()).max(0.0));
        loop {
            let Some(plan) = self.plan.as_mut() else {
                return;
            };
            plan.scheduler.set_budget_left(left);
            let Some(launch) = plan.scheduler.next_launch(self.sink.buffer()) else {
                return;
            };
            if !self.start_task(launch) {
                return;
            }
        }
    }

    /// Start a task's worker. False when it could not be launched for want
    /// of a file descriptor and waits for a running worker to give one back.
    pub(super) fn start_task(&mut self, launch: Launch) -> bool {
        let Launch { task, opts, how } = launch;
        let running = self.workers.len();
        let entry = self.workers.vacant_entry();
        let key = entry.key();
        let out = self.sink.buffer();
        let mut worker = Worker::new(opts);
        let mut pending_spec = None;
        match how {
            How::Refuse(message) => worker.refuse_now(message, out),
            How::Run(spec) => {
                let registry = self.poll.registry();
                if let Err(e) = worker.launch(&spec, registry, Self::worker_tokens(key), out) {
                    let plan = self.plan.as_mut().expect("plan mode");
                    if is_out_of_descriptors(&e) && running > 0 {
                        if plan.scheduler.out_of_descriptors(task, running)
                            && let Some(program) = self.notices
                        {
                            eprintln!(
                                "{program}: out of file descriptors with {running} worker(s) running: \
                                 the rest of the plan runs at most {running} at once \
                                 (raise the limit with `ulimit -n` for more)"
                            );
                        }
                        return false;
                    }
                    worker.refuse_launch(&spec, &e, out);
                    if is_out_of_descriptors(&e) {
                        // Nothing running will give one back: the run ends.
                        self.report.out_of_descriptors = true;
                        plan.scheduler
                            .stop("sc-spawn ran out of file descriptors", out);
                    }
                }
            }
            How::Worktree {
                spec,
                here,
                base,
                reuse,
            } => {
                let id = worker.id().to_owned();
                self.chores.submit(Job::MakeWorktree {
                    key,
                    here,
                    id,
                    base,
                    reuse,
                });
                pending_spec = Some(spec);
            }
            How::PrepareHost {
                spec,
                place,
                run,
                argv,
            } => {
                self.chores.submit(Job::PrepareHost {
                    key,
                    place,
                    run,
                    argv,
                });
                pending_spec = Some(spec);
            }
        }
        let number = self.codes.len();
        self.codes.push(None);
        let finished = worker.is_finished();
        entry.insert(Active {
            worker,
            number,
            task: Some(task),
            spec: pending_spec,
            cancelled: None,
        });
        if finished {
            self.retire(key);
        }
        true
    }

    pub(super) fn stop_plan(&mut self, reason: &str) {
        let Some(plan) = self.plan.as_mut() else {
            return;
        };
        plan.scheduler.stop(reason, self.sink.buffer());
    }
}
