//! The sc capture core: launching workers and turning what they write into
//! events, live and without loss.
//!
//! The crate is layered, one folder per layer:
//!
//! - [`process`]: a worker as a process group: launch on pipes or a PTY,
//!   limits, resource use, signals.
//! - [`output`]: its bytes into events per the lossless rule, progress,
//!   nested streams, the sink with backpressure.
//! - [`merge`]: event-stream inputs routed into one stream (`sc-merge`).
//! - [`placement`]: where a worker runs when not here (ssh, Slurm), the
//!   relayed stream, `--transfer`.
//! - [`plan`]: tasks and dependencies, the scheduler, `--resume`, worktrees.
//! - [`worker`]: one worker's life as events, its states, and the policies
//!   around an attempt (retries, budget, agent watch, reconnecting).
//! - [`agent`]: how the core knows agents: traits that `sc-agents` implements.
//! - [`supervisor`]: the single mio poller that runs it all.
//! - [`run`]: one run from its description (what sc-spawn's flags come
//!   to): its control socket, its log, its exit status.
//! - [`private`]: the one checked way to make and open private state.

pub mod agent;
pub mod control;
pub mod merge;
pub mod output;
pub mod placement;
pub mod plan;
pub mod private;
pub mod process;
pub mod run;
pub mod supervisor;
pub mod worker;

pub use merge::input::InputSpec;
pub use merge::router::Naming;
pub use process::launch::{
    PtyMode, Spec, StdinMode, owns_terminal, take_terminal_back, terminal_size,
};
pub use supervisor::{RunReport, Supervisor};
pub use worker::{Worker, WorkerOptions};
