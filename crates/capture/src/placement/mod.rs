//! The placement layer: where a worker runs when that is not this machine.
//!
//! A placement is one type behind [`Elsewhere`]: it makes the local command
//! that runs an sc-spawn there with the task ([`run::RemoteRun`]), and says
//! whether and how the worker is followed again after a lost connection.
//! Everything else is the same for every placement: the sc-spawn there runs
//! the task as its plan of one (retries, caps, timeout, limits, PTY and
//! resume act where the worker is), and its stream comes back relayed
//! ([`relay`]), its one `exit` the worker's. Which engine places a task is
//! decided in one place ([`registry`]); a new one (a container runtime,
//! another batch system) is a new module with an engine and an
//! [`Elsewhere`], and one line in the registry.
//!
//! - [`ssh`]: another host over ssh, spooled there with `--reconnect`.
//! - [`multiplex`]: one ssh connection per host for a run.
//! - [`slurm`]: a Slurm job step.
//! - [`allocation`]: one Slurm allocation for a run's steps.
//! - [`run`]: what the sc-spawn there is told, quoted for its shell.
//! - [`relay`]: its stream relayed here.
//! - [`there`]: the remote side: the sc-spawn there, spooled, followed,
//!   ended from here.
//! - [`transfer`]: sc-spawn copied to a host that lacks it.

pub use registry::{Elsewhere, Placements};

pub mod allocation;
pub mod host;
pub mod multiplex;
pub mod registry;
pub mod relay;
pub mod run;
pub mod there;
pub mod transfer;

/// The placement engines, each a module with an `engine` maker, asked in
/// this order for each task (a task's host first, then Slurm): adding one
/// is its module and its name here.
macro_rules! engines {
    ($($engine:ident),*) => {
        $(pub mod $engine;)*
        /// Each engine's maker, in the order they are asked.
        const ENGINES: &[registry::Make] = &[$($engine::engine),*];
    };
}
engines!(ssh, slurm);

impl Placements {
    /// The engines for a run placed by `settings`, and the notes of what
    /// they could not set up (for stderr). Err: a setting that cannot be
    /// honoured (a usage error).
    pub fn new(settings: &registry::Where) -> Result<(Placements, Vec<String>), String> {
        Placements::with(settings, ENGINES)
    }
}
