//! A plan of tasks with dependencies: which may start, which must be
//! skipped, which can never run.
//!
//! The planner holds no processes; it answers the scheduler's questions as
//! task lines arrive and workers end. A task may start as soon as its line
//! has arrived and every task it depends on exited 0; a task whose
//! dependency failed (or was skipped) is skipped; a dependency that is not
//! in the plan when the plan ends is an error for the task that names it.
//!
//! Every operation costs time in proportion to what it changes, never to the
//! plan's size or shape: each task counts its unmet dependencies and knows
//! its dependents, tasks ready to start wait in a queue in plan order, and
//! cycles are found once, at the plan's end, with one linear pass (Tarjan's
//! strongly connected components). A plan of thousands of layers starts at
//! once.

use std::collections::{BTreeSet, HashMap, VecDeque};

use sc_events::Task;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskState {
    Waiting,
    Running,
    Succeeded,
    Failed,
    /// Will not run; the reason says why.
    Skipped(String),
}

/// Whether a task names its own host (a blank one names none): it runs
/// there and takes no place of `--hosts`.
pub fn names_host(task: &Task) -> bool {
    task.host.as_deref().is_some_and(|h| !h.trim().is_empty())
}

#[derive(Debug, Default)]
pub struct Planner {
    tasks: Vec<Task>,
    states: Vec<TaskState>,
    index: HashMap<String, usize>,
    /// Per task: dependencies that have not succeeded yet (each named id
    /// counted once, ids not in the plan yet included).
    unmet: Vec<usize>,
    /// Per task: the tasks that depend on it.
    dependents: Vec<Vec<usize>>,
    /// Ids named in `depends_on` that are not in the plan yet, with the
    /// tasks that wait for them.
    awaited: HashMap<String, Vec<usize>>,
    /// Waiting tasks whose dependencies all succeeded, in plan order:
    /// those that take a place from `--hosts` (or run here)...
    ready: BTreeSet<usize>,
    /// ...and those that name their own host, which never wait for a slot
    /// of the host list (kept apart so that finding them costs nothing).
    ready_named: BTreeSet<usize>,
    waiting: usize,
    running: usize,
    succeeded: usize,
    /// The plan's input has ended: no more tasks will come.
    complete: bool,
}

/// What happened to tasks that will not run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotRun {
    pub task: usize,
    /// Said as an `error` event before the `skip` (an unknown dependency, a
    /// cycle); None for an ordinary skip.
    pub error: Option<String>,
    pub reason: String,
}

impl Planner {
    /// Add a task. A task id already in the plan is refused. A task whose
    /// dependency already failed or was skipped will not run: it is returned
    /// with the reason, to be said after the task itself.
    pub fn add(&mut self, task: Task) -> Result<(usize, Vec<NotRun>), String> {
        if self.index.contains_key(&task.id) {
            return Err(format!(
                "a second task with id `{}`: ids must be unique in a plan",
                task.id
            ));
        }
        let i = self.tasks.len();
        self.index.insert(task.id.clone(), i);
        self.states.push(TaskState::Waiting);
        self.dependents.push(Vec::new());
        self.waiting += 1;
        let mut unmet = 0;
        let mut broken = None;
        let mut named = std::collections::HashSet::new();
        for dep in &task.depends_on {
            if !named.insert(dep.as_str()) {
                continue; // the same id twice is one dependency
            }
            match self.index.get(dep) {
                Some(&d) => match &self.states[d] {
                    TaskState::Succeeded => {}
                    TaskState::Waiting | TaskState::Running => {
                        self.dependents[d].push(i);
                        unmet += 1;
                    }
                    TaskState::Failed => {
                        broken.get_or_insert_with(|| format!("dependency {dep} failed"));
                    }
                    TaskState::Skipped(_) => {
                        broken.get_or_insert_with(|| format!("dependency {dep} was skipped"));
                    }
                },
                None => {
                    self.awaited.entry(dep.clone()).or_default().push(i);
                    unmet += 1;
                }
            }
        }
        self.unmet.push(unmet);
        // Tasks that named this one before it came now wait on it.
        if let Some(waiters) = self.awaited.remove(&task.id) {
            self.dependents[i].extend(waiters);
        }
        self.tasks.push(task);
        let mut not_run = Vec::new();
        if let Some(reason) = broken {
            self.skip(i, None, reason, &mut not_run);
            self.skip_dependents(i, &mut not_run);
        } else if unmet == 0 {
            self.make_ready(i);
        }
        Ok((i, not_run))
    }

    pub fn task(&self, index: usize) -> &Task {
        &self.tasks[index]
    }

    pub fn state(&self, index: usize) -> &TaskState {
        &self.states[index]
    }

    /// The number of tasks in the plan so far.
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// Tasks that may start now, at most `slots` of them, in plan order;
    /// they are marked running.
    pub fn start(&mut self, slots: usize) -> Vec<usize> {
        let mut started = Vec::new();
        while started.len() < slots {
            let Some(i) = self.start_next(true) else {
                break;
            };
            started.push(i);
        }
        started
    }

    /// The first task in plan order that may start now, marked running;
    /// with `list_slot_free` false (every place of `--hosts` is taken),
    /// only a task that names its own host.
    pub fn start_next(&mut self, list_slot_free: bool) -> Option<usize> {
        let named = self.ready_named.first().copied();
        let listed = self.ready.first().copied().filter(|_| list_slot_free);
        let i = match (listed, named) {
            (Some(l), Some(n)) => l.min(n),
            (l, n) => l.or(n)?,
        };
        self.ready.remove(&i);
        self.ready_named.remove(&i);
        self.states[i] = TaskState::Running;
        self.waiting -= 1;
        self.running += 1;
        Some(i)
    }

    /// A task marked running could not be launched after all (no file
    /// descriptor was free): it waits again, first in line.
    pub fn put_back(&mut self, index: usize) {
        debug_assert_eq!(self.states[index], TaskState::Running);
        self.states[index] = TaskState::Waiting;
        self.running -= 1;
        self.waiting += 1;
        self.make_ready(index);
    }

    /// A waiting task whose dependencies all succeeded joins its queue.
    fn make_ready(&mut self, index: usize) {
        if names_host(&self.tasks[index]) {
            self.ready_named.insert(index);
        } else {
            self.ready.insert(index);
        }
    }

    /// Whether a task is ready to start now (its dependencies succeeded).
    pub fn has_ready(&self) -> bool {
        !self.ready.is_empty() || !self.ready_named.is_empty()
    }

    /// A running task ended; returns the tasks this makes impossible.
    pub fn finished(&mut self, index: usize, ok: bool) -> Vec<NotRun> {
        debug_assert_eq!(self.states[index], TaskState::Running);
        self.running -= 1;
        let mut not_run = Vec::new();
        if ok {
            self.states[index] = TaskState::Succeeded;
            self.succeeded += 1;
            for k in 0..self.dependents[index].len() {
                let w = self.dependents[index][k];
                if self.states[w] == TaskState::Waiting {
                    self.unmet[w] -= 1;
                    if self.unmet[w] == 0 {
                        self.make_ready(w);
                    }
                }
            }
        } else {
            self.states[index] = TaskState::Failed;
            self.skip_dependents(index, &mut not_run);
        }
        not_run
    }

    /// Mark a waiting task skipped.
    fn skip(&mut self, i: usize, error: Option<String>, reason: String, out: &mut Vec<NotRun>) {
        debug_assert_eq!(self.states[i], TaskState::Waiting);
        self.states[i] = TaskState::Skipped(reason.clone());
        self.waiting -= 1;
        self.ready.remove(&i);
        self.ready_named.remove(&i);
        out.push(NotRun {
            task: i,
            error,
            reason,
        });
    }

    /// Skip what waits on `from` (which failed or was skipped), and what
    /// waits on those, breadth first: each task is visited once.
    fn skip_dependents(&mut self, from: usize, out: &mut Vec<NotRun>) {
        let mut queue = VecDeque::from([from]);
        while let Some(d) = queue.pop_front() {
            let why = match &self.states[d] {
                TaskState::Failed => "failed",
                _ => "was skipped",
            };
            let dependents = std::mem::take(&mut self.dependents[d]);
            for &w in &dependents {
                if self.states[w] == TaskState::Waiting {
                    let reason = format!("dependency {} {why}", self.tasks[d].id);
                    self.skip(w, None, reason, out);
                    queue.push_back(w);
                }
            }
            self.dependents[d] = dependents;
        }
    }

    /// The plan's input ended: tasks waiting on ids that never came, or on
    /// each other in a cycle, can never run.
    pub fn complete(&mut self) -> Vec<NotRun> {
        self.complete = true;
        let mut not_run = Vec::new();
        // Unknown dependencies, reported per task in plan order.
        let mut orphans: BTreeSet<usize> = BTreeSet::new();
        for waiters in std::mem::take(&mut self.awaited).into_values() {
            orphans.extend(waiters);
        }
        for &i in &orphans {
            if self.states[i] != TaskState::Waiting {
                continue;
            }
            let names = self.tasks[i]
                .depends_on
                .iter()
                .filter(|dep| !self.index.contains_key(*dep))
                .map(|d| format!("`{d}`"))
                .collect::<Vec<_>>()
                .join(", ");
            let error = format!(
                "task `{}` depends on {names}, which is not in the plan (check the ids in depends_on)",
                self.tasks[i].id
            );
            self.skip(
                i,
                Some(error),
                format!("unknown dependency {names}"),
                &mut not_run,
            );
            self.skip_dependents(i, &mut not_run);
        }
        // What still waits and is on a cycle can never start; what waits on
        // a cycle is skipped with it.
        // Every member is said to be on the cycle before what waits on them
        // is skipped.
        let cyclic = self.on_cycles();
        for &i in &cyclic {
            let error = format!(
                "task `{}` is part of a dependency cycle ({}): it can never start",
                self.tasks[i].id,
                self.tasks[i].depends_on.join(", ")
            );
            self.skip(i, Some(error), "dependency cycle".into(), &mut not_run);
        }
        for &i in &cyclic {
            self.skip_dependents(i, &mut not_run);
        }
        not_run
    }

    /// Waiting tasks that lie on a dependency cycle, in plan order: members
    /// of a strongly connected component of more than one task, or of one
    /// that depends on itself. Tarjan's algorithm, iterative so that a chain
    /// of any length cannot overflow the stack.
    fn on_cycles(&self) -> Vec<usize> {
        const NONE: usize = usize::MAX;
        let n = self.tasks.len();
        let waiting = |i: usize| self.states[i] == TaskState::Waiting;
        let mut order = vec![NONE; n];
        let mut low = vec![0; n];
        let mut on_stack = vec![false; n];
        let mut stack = Vec::new();
        let mut cyclic = Vec::new();
        let mut counter = 0;
        for root in 0..n {
            if !waiting(root) || order[root] != NONE {
                continue;
            }
            // (task, next dependent to look at)
            let mut path = vec![(root, 0)];
            order[root] = counter;
            low[root] = counter;
            counter += 1;
            stack.push(root);
            on_stack[root] = true;
            while let Some(&mut (v, ref mut next)) = path.last_mut() {
                if let Some(&w) = self.dependents[v].get(*next) {
                    *next += 1;
                    if !waiting(w) {
                        continue;
                    }
                    if order[w] == NONE {
                        order[w] = counter;
                        low[w] = counter;
                        counter += 1;
                        stack.push(w);
                        on_stack[w] = true;
                        path.push((w, 0));
                    } else if on_stack[w] {
                        low[v] = low[v].min(order[w]);
                    }
                    continue;
                }
                path.pop();
                if let Some(&(parent, _)) = path.last() {
                    low[parent] = low[parent].min(low[v]);
                }
                if low[v] == order[v] {
                    let mut component = Vec::new();
                    while let Some(w) = stack.pop() {
                        on_stack[w] = false;
                        component.push(w);
                        if w == v {
                            break;
                        }
                    }
                    if component.len() > 1 || self.dependents[v].contains(&v) {
                        cyclic.extend(component);
                    }
                }
            }
        }
        cyclic.sort_unstable();
        cyclic
    }

    /// Stop: nothing that has not started will (an interrupt).
    pub fn stop(&mut self, reason: &str) -> Vec<NotRun> {
        let mut not_run = Vec::new();
        for i in 0..self.tasks.len() {
            if self.states[i] == TaskState::Waiting {
                self.skip(i, None, reason.to_owned(), &mut not_run);
            }
        }
        not_run
    }

    /// The input has ended and every task has run or been skipped.
    pub fn is_resolved(&self) -> bool {
        self.complete && self.waiting == 0 && self.running == 0
    }

    /// Every task succeeded (vacuously true for an empty plan).
    pub fn all_succeeded(&self) -> bool {
        self.succeeded == self.tasks.len()
    }

    pub fn running(&self) -> usize {
        self.running
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    fn task(id: &str, deps: &[&str]) -> Task {
        Task {
            id: id.into(),
            depends_on: deps.iter().map(|d| d.to_string()).collect(),
            ..Task::default()
        }
    }

    #[test]
    fn dependencies_order_the_start() {
        let mut plan = Planner::default();
        plan.add(task("code", &[])).unwrap();
        plan.add(task("tests", &["code"])).unwrap();
        plan.add(task("docs", &["tests"])).unwrap();
        plan.add(task("lint", &[])).unwrap();
        assert_eq!(plan.start(4), [0, 3]);
        assert_eq!(plan.start(4), Vec::<usize>::new());
        assert!(plan.finished(0, true).is_empty());
        assert_eq!(plan.start(4), [1]);
    }

    #[test]
    fn tasks_naming_a_host_pass_those_waiting_for_a_place() {
        let mut plan = Planner::default();
        for (id, host) in [
            ("a", None),
            ("b", Some("lab")),
            ("c", Some(" ")),
            ("d", Some("x")),
        ] {
            plan.add(Task {
                host: host.map(str::to_owned),
                ..task(id, &[])
            })
            .unwrap();
        }
        // No place free: only tasks naming a host (a blank one names none).
        assert_eq!(plan.start_next(false), Some(1));
        plan.put_back(1);
        assert_eq!(plan.start_next(true), Some(0));
        assert_eq!(plan.start_next(false), Some(1));
        assert_eq!(plan.start_next(false), Some(3));
        assert_eq!(plan.start_next(false), None);
        assert_eq!(plan.start_next(true), Some(2));
        assert!(!plan.has_ready());
    }

    #[test]
    fn slots_limit_the_start() {
        let mut plan = Planner::default();
        for id in ["a", "b", "c"] {
            plan.add(task(id, &[])).unwrap();
        }
        assert_eq!(plan.start(2), [0, 1]);
        assert_eq!(plan.running(), 2);
    }

    #[test]
    fn a_failure_skips_its_dependents_transitively() {
        let mut plan = Planner::default();
        plan.add(task("code", &[])).unwrap();
        plan.add(task("tests", &["code"])).unwrap();
        plan.add(task("docs", &["tests"])).unwrap();
        plan.start(4);
        let skipped = plan.finished(0, false);
        let reasons: Vec<(usize, &str)> = skipped
            .iter()
            .map(|s| (s.task, s.reason.as_str()))
            .collect();
        assert_eq!(
            reasons,
            [
                (1, "dependency code failed"),
                (2, "dependency tests was skipped")
            ]
        );
        plan.complete();
        assert!(plan.is_resolved());
        assert!(!plan.all_succeeded());
    }

    #[test]
    fn unknown_dependencies_and_cycles_are_errors_at_the_end() {
        let mut plan = Planner::default();
        plan.add(task("a", &["ghost"])).unwrap();
        plan.add(task("b", &["c"])).unwrap();
        plan.add(task("c", &["b"])).unwrap();
        plan.add(task("d", &["a"])).unwrap();
        assert!(plan.start(4).is_empty());
        let not_run = plan.complete();
        let errors: Vec<&str> = not_run.iter().filter_map(|n| n.error.as_deref()).collect();
        assert!(errors[0].contains("`ghost`"), "{errors:?}");
        assert!(
            errors.iter().filter(|e| e.contains("cycle")).count() == 2,
            "{errors:?}"
        );
        assert!(
            not_run
                .iter()
                .any(|n| n.task == 3 && n.reason == "dependency a was skipped")
        );
        assert!(plan.is_resolved());
    }

    #[test]
    fn a_dependency_may_arrive_later() {
        let mut plan = Planner::default();
        plan.add(task("tests", &["code"])).unwrap();
        assert!(plan.start(4).is_empty());
        plan.add(task("code", &[])).unwrap();
        assert_eq!(plan.start(4), [1]);
        assert!(plan.add(task("code", &[])).is_err());
    }

    #[test]
    fn a_task_after_its_failed_dependency_is_skipped_at_once() {
        let mut plan = Planner::default();
        plan.add(task("code", &[])).unwrap();
        plan.start(1);
        plan.finished(0, false);
        let (_, not_run) = plan.add(task("docs", &["code", "code"])).unwrap();
        assert_eq!(not_run[0].reason, "dependency code failed");
        let (_, not_run) = plan.add(task("more", &["docs"])).unwrap();
        assert_eq!(not_run[0].reason, "dependency docs was skipped");
        plan.complete();
        assert!(plan.is_resolved());
    }

    #[test]
    fn what_waits_on_a_cycle_is_skipped_not_called_a_cycle() {
        let mut plan = Planner::default();
        plan.add(task("self", &["self"])).unwrap();
        plan.add(task("x", &["y"])).unwrap();
        plan.add(task("y", &["x"])).unwrap();
        plan.add(task("after", &["y"])).unwrap();
        let not_run = plan.complete();
        let cycle: Vec<usize> = not_run
            .iter()
            .filter(|n| n.reason == "dependency cycle")
            .map(|n| n.task)
            .collect();
        assert_eq!(cycle, [0, 1, 2]);
        assert!(
            not_run.iter().any(|n| n.task == 3
                && n.reason == "dependency y was skipped"
                && n.error.is_none())
        );
        assert!(plan.is_resolved());
    }

    /// Scheduling stays linear in tasks + edges: plans whose shapes made
    /// the old check exponential or quadratic resolve at once. (No timing
    /// is asserted; a regression shows as a test that does not finish.)
    #[test]
    fn deep_and_wide_plans_schedule_in_linear_time() {
        // 60 layers of 3, each task depending on the whole layer before:
        // 3^60 paths through the plan.
        let mut plan = Planner::default();
        for layer in 0..60 {
            for k in 0..3 {
                let deps: Vec<String> = if layer == 0 {
                    Vec::new()
                } else {
                    (0..3).map(|j| format!("l{}k{j}", layer - 1)).collect()
                };
                let deps: Vec<&str> = deps.iter().map(String::as_str).collect();
                plan.add(task(&format!("l{layer}k{k}"), &deps)).unwrap();
            }
        }
        // The end of the plan comes before any task ran: the cycle check
        // walks the whole waiting graph.
        assert!(plan.complete().is_empty());
        let mut done = 0;
        while !plan.is_resolved() {
            let started = plan.start(8);
            assert!(!started.is_empty() && started.len() <= 3);
            for t in started {
                assert!(plan.finished(t, true).is_empty());
                done += 1;
            }
        }
        assert_eq!(done, 180);
        assert!(plan.all_succeeded());

        // A chain of 100,000, given in reverse (every dependency arrives
        // after its dependent), then a fan-in of 10,000 onto one task.
        let mut plan = Planner::default();
        let n = 100_000;
        for i in (0..n).rev() {
            let dep = format!("c{}", i - 1);
            let deps: Vec<&str> = if i == 0 { vec![] } else { vec![dep.as_str()] };
            plan.add(task(&format!("c{i}"), &deps)).unwrap();
        }
        let wide: Vec<String> = (0..10_000).map(|i| format!("w{i}")).collect();
        for id in &wide {
            plan.add(task(id, &[])).unwrap();
        }
        let wide: Vec<&str> = wide.iter().map(String::as_str).collect();
        plan.add(task("fan-in", &wide)).unwrap();
        assert!(plan.complete().is_empty());
        let mut finished = 0;
        while !plan.is_resolved() {
            for t in plan.start(64) {
                plan.finished(t, true);
                finished += 1;
            }
        }
        assert_eq!(finished, n + 10_001);
    }
}
