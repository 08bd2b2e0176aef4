//! Placed as a Slurm job step: srun runs the sc-spawn there with the
//! worker's task; the step's stream is its own (a lost srun is a lost
//! step, not a link to make again).

use std::ffi::{OsStr, OsString};

use super::run::RemoteRun;

/// How to run a worker as a Slurm job step (`--slurm`, a task's `slurm`).
#[derive(Debug, Clone, Default)]
pub struct Slurm {
    /// The srun command (`srun`, or `SC_SRUN`).
    pub srun: Vec<OsString>,
    /// `--slurm=OPTIONS`, split on spaces: for every step (or for the
    /// run's allocation, when there is one).
    pub options: Vec<OsString>,
    /// The run's own allocation (`--slurm` for a plan): the job its steps
    /// are launched in.
    pub job: Option<String>,
    /// sc-spawn runs inside a job already (`SLURM_JOB_ID`): srun makes
    /// steps in it.
    pub inside_job: bool,
}

/// The command line of a Slurm job step running an sc-spawn with `argv`.
/// srun keeps argv as given (no shell between), takes output unbuffered
/// (`-u`: a partial line stays live) and passes its stdin to the step, so
/// that letting go of it ends the worker there, as over ssh.
pub fn srun_argv(
    slurm: &Slurm,
    sc_spawn: &OsStr,
    task: Option<&sc_events::SlurmTask>,
    run: &RemoteRun,
    argv: &[OsString],
) -> Vec<OsString> {
    let mut out: Vec<OsString> = slurm.srun.clone();
    out.extend(["-u", "-Q", "-N1", "-n1", "--job-name"].map(OsString::from));
    out.push(format!("sc-{}", run.id).into());
    // A task with resources of its own is a job of its own; the others go
    // in the run's allocation, whose options were given to salloc (all but
    // the step's CPUs and the user's own step sharing).
    let own = task.is_some_and(|t| {
        t.partition.is_some() || t.cpus.is_some() || t.mem.is_some() || t.time.is_some()
    });
    let sharing: Vec<OsString> = slurm
        .options
        .iter()
        .filter(|o| *o == "--exact" || *o == "--overlap")
        .cloned()
        .collect();
    let in_job = match &slurm.job {
        Some(job) if !own => {
            out.push(format!("--jobid={job}").into());
            if let Some(cpus) = cpus_per_task(&slurm.options) {
                out.push(format!("--cpus-per-task={cpus}").into());
            }
            out.extend(sharing.iter().cloned());
            true
        }
        _ => {
            out.extend(slurm.options.iter().cloned());
            slurm.inside_job
        }
    };
    // Steps side by side in one job: without `--overlap` each would wait
    // for the one before to give back all of the job's resources (Slurm
    // retries with a growing pause: 8 steps of 0.5 s took 4.3 s here);
    // sc-spawn's -j bounds how many run at once. The user's own
    // `--exact` or `--overlap` is theirs.
    if in_job && sharing.is_empty() {
        out.push("--overlap".into());
    }
    if let Some(task) = task {
        let mut option = |flag: &str, value: Option<String>| {
            if let Some(value) = value {
                out.push(format!("{flag}={value}").into());
            }
        };
        option("--partition", task.partition.clone());
        option("--cpus-per-task", task.cpus.map(|c| c.to_string()));
        option("--mem", task.mem.clone());
        option("--time", task.time.clone());
    }
    out.push(sc_spawn.to_owned());
    out.extend(["--end-on-stdin-eof", "--slurm-step"].map(OsString::from));
    out.extend(run.args(argv));
    out
}

/// `-c N`, `-cN`, `--cpus-per-task=N` or `--cpus-per-task N` among the
/// run's options: a step in the allocation asks for as many.
pub fn cpus_per_task(options: &[OsString]) -> Option<String> {
    let options: Vec<String> = options
        .iter()
        .map(|o| o.to_string_lossy().into_owned())
        .collect();
    for (i, option) in options.iter().enumerate() {
        let next = || options.get(i + 1).cloned();
        let value = match option.as_str() {
            "-c" | "--cpus-per-task" => next(),
            _ => option
                .strip_prefix("--cpus-per-task=")
                .or_else(|| option.strip_prefix("-c").filter(|v| !v.is_empty()))
                .map(str::to_owned),
        };
        if let Some(value) = value.filter(|v| v.bytes().all(|b| b.is_ascii_digit())) {
            return Some(value);
        }
    }
    None
}

/// One task's job step: how srun is run, the sc-spawn it starts, and the
/// task's own resources.
#[derive(Debug, Clone)]
pub struct SlurmStep {
    pub slurm: Slurm,
    pub sc_spawn: OsString,
    pub task: Option<sc_events::SlurmTask>,
}

/// The Slurm engine: a task with a `slurm` field, or every task that
/// names no host with `--slurm`, runs as a job step — in the run's one
/// allocation, made as the run starts, when it has one.
#[derive(Debug)]
struct SlurmEngine {
    slurm: Slurm,
    sc_spawn: OsString,
    /// `--slurm`: every task (that names no host) goes.
    all: bool,
    /// Given back when the run ends.
    allocation: std::sync::Mutex<Option<super::allocation::Allocation>>,
}

impl super::registry::Engine for SlurmEngine {
    fn place(
        &self,
        task: &sc_events::Task,
        _assigned: Option<&str>,
    ) -> Option<Result<std::sync::Arc<dyn super::registry::Elsewhere>, String>> {
        (task.slurm.is_some() || self.all).then(|| {
            Ok(std::sync::Arc::new(SlurmStep {
                slurm: self.slurm.clone(),
                sc_spawn: self.sc_spawn.clone(),
                task: task.slurm.clone(),
            }) as std::sync::Arc<dyn super::registry::Elsewhere>)
        })
    }

    fn close(&self) {
        let held = self.allocation.lock().map(|mut a| a.take());
        if let Ok(Some(mut allocation)) = held {
            allocation.release();
        }
    }
}

/// The run's Slurm engine. `--slurm` for a plan makes one allocation for
/// the run's steps, unless sc-spawn runs inside a job already (its steps
/// go there) or `--job-per-task`; when Slurm does not grant it within 2 s
/// (a busy cluster, or more tasks than it has CPUs), that is said once and
/// each task is a job of its own.
pub(super) fn engine(
    settings: &super::registry::Where,
    notes: &mut Vec<String>,
) -> Result<Option<Box<dyn super::registry::Engine>>, String> {
    use super::registry::command;
    let mut slurm = Slurm {
        srun: command(None, "SC_SRUN", "srun"),
        options: settings
            .slurm
            .as_deref()
            .unwrap_or_default()
            .split_whitespace()
            .map(OsString::from)
            .collect(),
        job: None,
        inside_job: std::env::var_os("SLURM_JOB_ID").is_some_and(|j| !j.is_empty()),
    };
    let mut allocation = None;
    if settings.plan && settings.slurm.is_some() && !settings.job_per_task && !slurm.inside_job {
        let salloc = command(None, "SC_SALLOC", "salloc");
        let name = format!("sc-run-{}", std::process::id());
        match super::allocation::Allocation::make(&salloc, &slurm.options, settings.jobs, &name) {
            Ok(made) => {
                slurm.job = Some(made.job.clone());
                allocation = Some(made);
            }
            Err(message) => notes.push(format!(
                "no Slurm allocation for the run ({message}); each task is a job of its own"
            )),
        }
    }
    Ok(Some(Box::new(SlurmEngine {
        slurm,
        sc_spawn: super::ssh::sc_spawn_there(settings)?,
        all: settings.slurm.is_some(),
        allocation: std::sync::Mutex::new(allocation),
    })))
}

impl super::registry::Elsewhere for SlurmStep {
    fn name(&self) -> &str {
        "slurm"
    }

    fn command(&self, run: &RemoteRun, argv: &[OsString]) -> Vec<OsString> {
        srun_argv(&self.slurm, &self.sc_spawn, self.task.as_ref(), run, argv)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_steps_cpus_come_from_the_runs_options() {
        let of =
            |s: &str| cpus_per_task(&s.split_whitespace().map(OsString::from).collect::<Vec<_>>());
        assert_eq!(of("-p batch -c 4"), Some("4".into()));
        assert_eq!(of("-c4"), Some("4".into()));
        assert_eq!(of("--cpus-per-task=2 --mem 4G"), Some("2".into()));
        assert_eq!(of("--cpus-per-task 8"), Some("8".into()));
        assert_eq!(of("-p batch --mem 4G"), None);
        assert_eq!(of("-c"), None);
    }

    #[test]
    fn a_job_step_keeps_argv_as_given_with_the_tasks_resources() {
        let slurm = Slurm {
            srun: vec!["srun".into()],
            options: vec!["-p".into(), "batch".into()],
            ..Slurm::default()
        };
        let run = RemoteRun {
            id: "w".into(),
            task: r#"{"id":"w"}"#.into(),
            ..RemoteRun::default()
        };
        let task = sc_events::SlurmTask {
            cpus: Some(4),
            mem: Some("4G".into()),
            ..Default::default()
        };
        let argv = srun_argv(
            &slurm,
            OsStr::new("sc-spawn"),
            Some(&task),
            &run,
            &["echo".into(), "a b $(x)".into()],
        );
        let argv: Vec<String> = argv
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            argv,
            [
                "srun",
                "-u",
                "-Q",
                "-N1",
                "-n1",
                "--job-name",
                "sc-w",
                "-p",
                "batch",
                "--cpus-per-task=4",
                "--mem=4G",
                "sc-spawn",
                "--end-on-stdin-eof",
                "--slurm-step",
                r#"--task={"id":"w"}"#,
                "--",
                "echo",
                "a b $(x)"
            ]
        );
    }
}
