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

use std::ffi::OsString;
use std::fmt;

pub mod allocation;
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

/// A place a worker runs, other than here.
pub trait Elsewhere: fmt::Debug + Send + Sync {
    /// Its name, said as `host` in the stream and in messages.
    fn name(&self) -> &str;

    /// The local command that runs the sc-spawn there with `run`, its
    /// worker's command being `argv` (empty for an agent's, made there).
    fn command(&self, run: &run::RemoteRun, argv: &[OsString]) -> Vec<OsString>;

    /// A worker there outlives a lost connection, its stream kept in a
    /// spool: the spool's directory for worker `id`. None: a lost
    /// connection is a lost worker.
    fn spool(&self, _id: &str) -> Option<String> {
        None
    }

    /// How many times a lost connection is made again.
    fn reconnects(&self) -> u32 {
        0
    }

    /// The command that follows a spooled worker again, from byte `from`
    /// of its stream.
    fn attach(&self, _dir: &str, _id: &str, _from: u64) -> Option<Vec<OsString>> {
        None
    }

    /// The ssh host to make ready before the task goes there: its one
    /// connection opened (the first tasks on a host would otherwise each
    /// make one), sc-spawn copied there (`--transfer`). None: launch now.
    fn prepare(&self) -> Option<&ssh::Remote> {
        None
    }
}
