//! Where a run's workers may go, decided in one place: the run's
//! placement settings as data ([`Where`], filled from flags), and the
//! engines that place a task by them ([`Placements`]). Each engine is one
//! module that knows its kind of place — what it prepares for a run (ssh's
//! one connection per host, a Slurm allocation), how it launches a task
//! there, and what it gives back at the end. Adding one is a module and a
//! line in [`ENGINES`].

use std::ffi::OsString;
use std::fmt;
use std::sync::Arc;

use sc_events::Task;

/// Where a run's workers may run besides here: what the command line says,
/// as plain data. Each engine reads its part and the environment it knows
/// (`SC_SSH`, `SC_SRUN`, `SLURM_JOB_ID`).
#[derive(Debug, Clone, Default)]
pub struct Where {
    /// A plan (its tasks may name hosts); else one worker.
    pub plan: bool,
    /// How many tasks run at once (a Slurm allocation's size).
    pub jobs: usize,
    /// `--host`: the one worker's host.
    pub host: Option<String>,
    /// The hosts named up front (`--host`, `--hosts`): their connections
    /// are opened as the run starts.
    pub named_hosts: Vec<String>,
    /// `--ssh CMD` (else `SC_SSH`, else `ssh`).
    pub ssh: Option<String>,
    /// `--remote-sc PATH`: the sc-spawn there (else `sc-spawn`).
    pub remote_sc: Option<OsString>,
    /// `--transfer`: this sc-spawn copied to a host that lacks it.
    pub transfer: bool,
    /// `--no-multiplex`: a connection per task.
    pub no_multiplex: bool,
    /// This sc-spawn runs a task placed here by another: it opens no
    /// connections of its own.
    pub placed_here: bool,
    /// `--reconnect N` and `--reconnect-lease SECS`.
    pub reconnect: u32,
    pub reconnect_lease: u64,
    /// `--slurm[=OPTIONS]`: every task that names no host is a job step.
    pub slurm: Option<String>,
    /// `--job-per-task`: each step a job of its own.
    pub job_per_task: bool,
}

/// One kind of place a task may go.
pub trait Engine: Send + Sync + std::fmt::Debug {
    /// Where `task` runs, when this engine takes it (`assigned`: the host
    /// `--hosts` gave it); None when it is not this engine's. Err: the
    /// task cannot go there (said as its `error`).
    fn place(
        &self,
        task: &Task,
        assigned: Option<&str>,
    ) -> Option<Result<Arc<dyn Elsewhere>, String>>;

    /// The run has ended: what the engine holds for it is given back.
    fn close(&self) {}
}

/// An engine made for a run from its settings (None: not wanted); the
/// notes say what it could not set up (the run goes on without it), an
/// error what the run cannot go without.
pub(super) type Make = fn(&Where, &mut Vec<String>) -> Result<Option<Box<dyn Engine>>, String>;

/// A run's engines (by default none: every task runs here).
#[derive(Debug, Default)]
pub struct Placements {
    engines: Vec<Box<dyn Engine>>,
}

impl Placements {
    /// The engines `makers` make for a run placed by `settings`, and the
    /// notes of what they could not set up.
    pub(super) fn with(
        settings: &Where,
        makers: &[Make],
    ) -> Result<(Placements, Vec<String>), String> {
        let mut notes = Vec::new();
        let mut engines = Vec::new();
        for make in makers {
            if let Some(engine) = make(settings, &mut notes)? {
                engines.push(engine);
            }
        }
        Ok((Placements { engines }, notes))
    }

    /// Where `task` runs: here (None), or the first engine's place that
    /// takes it.
    pub fn place(
        &self,
        task: &Task,
        assigned: Option<&str>,
    ) -> Result<Option<Arc<dyn Elsewhere>>, String> {
        for engine in &self.engines {
            if let Some(place) = engine.place(task, assigned) {
                return place.map(Some);
            }
        }
        Ok(None)
    }

    /// The run has ended (every worker with it): connections closed,
    /// allocations given back.
    pub fn close(&self) {
        for engine in &self.engines {
            engine.close();
        }
    }
}

/// A command the engines run: the flag's value, else the environment
/// variable's (when not blank), else the default; split on spaces.
pub(crate) fn command(given: Option<&str>, variable: &str, default: &str) -> Vec<OsString> {
    let from_env = std::env::var(variable)
        .ok()
        .filter(|s| !s.trim().is_empty());
    given
        .map(str::to_owned)
        .or(from_env)
        .unwrap_or_else(|| default.to_owned())
        .split_whitespace()
        .map(OsString::from)
        .collect()
}

/// A place a worker runs, other than here.
pub trait Elsewhere: fmt::Debug + Send + Sync {
    /// Its name, said as `host` in the stream and in messages.
    fn name(&self) -> &str;

    /// The local command that runs the sc-spawn there with `run`, its
    /// worker's command being `argv` (empty for an agent's, made there).
    fn command(&self, run: &super::run::RemoteRun, argv: &[OsString]) -> Vec<OsString>;

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

    /// The place is to be made ready before the task goes there (an ssh
    /// host's one connection opened — the first tasks on a host would
    /// otherwise each make one —, sc-spawn copied there): then
    /// [`Elsewhere::make_ready`] runs first, off the poller's thread.
    fn needs_ready(&self) -> bool {
        false
    }

    /// Make it ready (blocking, bounded). Err: the task cannot go there.
    fn make_ready(&self) -> Result<(), String> {
        Ok(())
    }
}
