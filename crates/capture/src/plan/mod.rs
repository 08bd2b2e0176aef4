//! The plan layer: tasks and their dependencies, the scheduler that turns
//! task lines into launches, resuming an earlier run, and each task's git
//! worktree (made and committed off the poller's thread).

pub mod chores;
pub mod graph;
pub mod policy;
pub mod resume;
pub mod scheduler;
pub mod worktree;

pub use graph::*;
