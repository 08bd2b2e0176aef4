//! A plan of tasks with dependencies: which may start, which must be
//! skipped, which can never run.
//!
//! The planner holds no processes; it answers the supervisor's questions as
//! task lines arrive and workers end. A task may start as soon as its line
//! has arrived and every task it depends on exited 0; a task whose
//! dependency failed (or was skipped) is skipped; a dependency that is not
//! in the plan when the plan ends is an error for the task that names it.

use std::collections::HashMap;

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

#[derive(Debug, Default)]
pub struct Planner {
    tasks: Vec<Task>,
    states: Vec<TaskState>,
    index: HashMap<String, usize>,
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
    /// Add a task. A task id already in the plan is refused.
    pub fn add(&mut self, task: Task) -> Result<usize, String> {
        if self.index.contains_key(&task.id) {
            return Err(format!(
                "a second task with id `{}`: ids must be unique in a plan",
                task.id
            ));
        }
        self.index.insert(task.id.clone(), self.tasks.len());
        self.tasks.push(task);
        self.states.push(TaskState::Waiting);
        Ok(self.tasks.len() - 1)
    }

    pub fn task(&self, index: usize) -> &Task {
        &self.tasks[index]
    }

    pub fn state(&self, index: usize) -> &TaskState {
        &self.states[index]
    }

    /// Tasks that may start now, at most `slots` of them, in plan order;
    /// they are marked running.
    pub fn start(&mut self, slots: usize) -> Vec<usize> {
        let mut started = Vec::new();
        for i in 0..self.tasks.len() {
            if started.len() == slots {
                break;
            }
            if self.states[i] == TaskState::Waiting && self.deps_succeeded(i) {
                self.states[i] = TaskState::Running;
                started.push(i);
            }
        }
        started
    }

    fn deps_succeeded(&self, i: usize) -> bool {
        self.tasks[i].depends_on.iter().all(|dep| {
            self.index
                .get(dep)
                .is_some_and(|&d| self.states[d] == TaskState::Succeeded)
        })
    }

    /// A running task ended; returns the tasks this makes impossible.
    pub fn finished(&mut self, index: usize, ok: bool) -> Vec<NotRun> {
        self.states[index] = if ok {
            TaskState::Succeeded
        } else {
            TaskState::Failed
        };
        self.propagate()
    }

    /// Skip waiting tasks whose dependencies failed or were skipped, until
    /// nothing changes (a skip makes its dependents impossible too).
    fn propagate(&mut self) -> Vec<NotRun> {
        let mut skipped = Vec::new();
        loop {
            let mut changed = false;
            for i in 0..self.tasks.len() {
                if self.states[i] != TaskState::Waiting {
                    continue;
                }
                let broken = self.tasks[i].depends_on.iter().find_map(|dep| {
                    let &d = self.index.get(dep)?;
                    match &self.states[d] {
                        TaskState::Failed => Some(format!("dependency {dep} failed")),
                        TaskState::Skipped(_) => Some(format!("dependency {dep} was skipped")),
                        _ => None,
                    }
                });
                if let Some(reason) = broken {
                    self.states[i] = TaskState::Skipped(reason.clone());
                    skipped.push(NotRun {
                        task: i,
                        error: None,
                        reason,
                    });
                    changed = true;
                }
            }
            if !changed {
                return skipped;
            }
        }
    }

    /// The plan's input ended: tasks waiting on ids that never came, or on
    /// each other in a cycle, can never run.
    pub fn complete(&mut self) -> Vec<NotRun> {
        self.complete = true;
        let mut not_run = Vec::new();
        for i in 0..self.tasks.len() {
            if self.states[i] != TaskState::Waiting {
                continue;
            }
            let unknown: Vec<&String> = self.tasks[i]
                .depends_on
                .iter()
                .filter(|dep| !self.index.contains_key(*dep))
                .collect();
            if !unknown.is_empty() {
                let names = unknown
                    .iter()
                    .map(|d| format!("`{d}`"))
                    .collect::<Vec<_>>()
                    .join(", ");
                let reason = format!("unknown dependency {names}");
                self.states[i] = TaskState::Skipped(reason.clone());
                not_run.push(NotRun {
                    task: i,
                    error: Some(format!(
                        "task `{}` depends on {names}, which is not in the plan (check the ids in depends_on)",
                        self.tasks[i].id
                    )),
                    reason,
                });
            }
        }
        not_run.extend(self.propagate());
        // What still waits now can only wait on itself: a cycle.
        for i in 0..self.tasks.len() {
            if self.states[i] == TaskState::Waiting && !self.could_start_later(i) {
                let reason = "dependency cycle".to_owned();
                self.states[i] = TaskState::Skipped(reason.clone());
                not_run.push(NotRun {
                    task: i,
                    error: Some(format!(
                        "task `{}` is part of a dependency cycle ({}): it can never start",
                        self.tasks[i].id,
                        self.tasks[i].depends_on.join(", ")
                    )),
                    reason,
                });
            }
        }
        not_run.extend(self.propagate());
        not_run
    }

    /// Whether a waiting task's dependencies can still all succeed: each is
    /// running, succeeded, or waiting on something that can.
    fn could_start_later(&self, i: usize) -> bool {
        let mut seen = vec![false; self.tasks.len()];
        self.reachable(i, &mut seen)
    }

    fn reachable(&self, i: usize, seen: &mut [bool]) -> bool {
        if seen[i] {
            return false; // back on the path: a cycle
        }
        seen[i] = true;
        let ok = self.tasks[i].depends_on.iter().all(|dep| {
            let Some(&d) = self.index.get(dep) else {
                return false;
            };
            match self.states[d] {
                TaskState::Succeeded | TaskState::Running => true,
                TaskState::Waiting => self.reachable(d, seen),
                _ => false,
            }
        });
        seen[i] = false;
        ok
    }

    /// Stop: nothing that has not started will (an interrupt).
    pub fn stop(&mut self, reason: &str) -> Vec<NotRun> {
        let mut not_run = Vec::new();
        for i in 0..self.tasks.len() {
            if self.states[i] == TaskState::Waiting {
                self.states[i] = TaskState::Skipped(reason.to_owned());
                not_run.push(NotRun {
                    task: i,
                    error: None,
                    reason: reason.to_owned(),
                });
            }
        }
        not_run
    }

    /// The input has ended and every task has run or been skipped.
    pub fn is_resolved(&self) -> bool {
        self.complete
            && self
                .states
                .iter()
                .all(|s| !matches!(s, TaskState::Waiting | TaskState::Running))
    }

    /// Every task succeeded (vacuously true for an empty plan).
    pub fn all_succeeded(&self) -> bool {
        self.states.iter().all(|s| *s == TaskState::Succeeded)
    }

    pub fn running(&self) -> usize {
        self.states
            .iter()
            .filter(|s| **s == TaskState::Running)
            .count()
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
}
