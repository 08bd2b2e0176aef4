//! The sc capture core: launching workers and turning what they write into
//! events, live and without loss.
//!
//! - [`agent`]: how the core knows agents: traits that `sc-agents` implements.
//! - [`input`]: event-stream inputs: files, FIFOs, stdin, producer commands.
//! - [`limits`]: niceness, CPU and memory limits of a worker.
//! - [`launch`]: a worker in its own process group, on pipes or a PTY.
//! - [`framer`]: bytes into output events, per the lossless rule.
//! - [`progress`]: progress found in ordinary output lines.
//! - [`proctree`]: CPU and memory of a worker's whole process tree.
//! - [`lines`]: event lines of an input, with bounded memory.
//! - [`nest`]: a worker's stdout that is itself an sc stream, re-emitted nested.
//! - [`plan`]: tasks, dependencies, what may start and what must be skipped.
//! - [`router`]: many inputs' events into one stream, ids kept unique.
//! - [`signals`]: signal names, signalling process groups.
//! - [`sink`]: the stream's way out, with backpressure.
//! - [`lifecycle`]: a worker's states, each with its own deadlines.
//! - [`worker`]: one worker's life as events: timers, exit, draining.
//! - [`scheduler`]: plan mode: task lines in, launch decisions out.
//! - [`chores`]: git and other slow work, off the poller's thread.
//! - [`worktree`]: a worker's own git worktree and branch.
//! - [`supervisor`]: the single mio poller that runs workers.

pub mod agent;
pub mod chores;
pub mod framer;
pub mod input;
pub mod launch;
pub mod lifecycle;
pub mod limits;
pub mod lines;
pub mod nest;
pub mod plan;
pub mod proctree;
pub mod progress;
pub mod relay;
pub mod remote;
pub mod resume;
pub mod router;
pub mod scheduler;
pub mod signals;
pub mod sink;
pub mod supervisor;
pub mod transfer;
pub mod worker;
pub mod worktree;

pub use input::InputSpec;
pub use launch::{PtyMode, Spec, StdinMode, owns_terminal, take_terminal_back, terminal_size};
pub use router::Naming;
pub use supervisor::{RunReport, Supervisor};
pub use worker::{Worker, WorkerOptions};
