//! Workers as Slurm job steps, on a real one-node cluster on this machine
//! (started here by tests/setup/slurm-up.sh; .ci/run installs Slurm and
//! munge). Locally without Slurm the tests say they were skipped; in CI a
//! missing Slurm fails them.

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use nix::sys::signal::Signal;
use sc_events::{Body, Stream};

use crate::util::*;

/// The cluster's node name, or None when Slurm is not installed here.
pub(crate) fn cluster() -> Option<&'static str> {
    static NODE: OnceLock<Option<String>> = OnceLock::new();
    NODE.get_or_init(|| {
        if !Path::new("/usr/sbin/slurmctld").exists() {
            engine_missing(
                "Slurm job-step tests",
                "Slurm",
                "slurm-wlm slurmctld slurmd munge",
            );
            return None;
        }
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/setup/slurm-up.sh");
        let up = Command::new(script)
            .arg(std::env::temp_dir().join("sc-slurm-tests"))
            .output()
            .expect("run slurm-up.sh");
        assert!(
            up.status.success(),
            "the test cluster did not come up: {}",
            String::from_utf8_lossy(&up.stderr)
        );
        Some(String::from_utf8_lossy(&up.stdout).trim().to_owned())
    })
    .as_deref()
}

pub(crate) fn on_slurm(args: &[&str]) -> Command {
    let mut command = sc_spawn();
    command
        .args(["--slurm", "--remote-sc", env!("CARGO_BIN_EXE_sc-spawn")])
        .args(args);
    command
}

#[test]
fn a_job_step_is_a_local_worker_byte_for_byte() {
    let Some(node) = cluster() else { return };
    let script =
        "printf 'one\\ntwo \\377 bytes\\nContinue? '; sleep 0.2; echo yes; echo err >&2; exit 3";
    let ran = run_bounded(
        &mut on_slurm(&["--id", "step", "--", "sh", "-c", script]),
        Vec::new(),
    );
    assert_eq!(ran.status.code(), Some(3), "{}", ran.stderr);
    let run = Captured::parse(&ran.stdout);
    run.check_contract();
    assert_eq!(
        run.bytes(Stream::Stdout),
        b"one\ntwo \xff bytes\nContinue? yes\n"
    );
    assert_eq!(run.bytes(Stream::Stderr), b"err\n");
    // The prompt came live, before its answer.
    assert!(
        run.chunks(Stream::Stdout)
            .iter()
            .any(|c| c == b"Continue? "),
        "{:?}",
        run.chunks(Stream::Stdout)
    );
    let start = &starts_of(&run)[0];
    assert_eq!(start.host.as_deref(), Some(node), "the step's node");
    assert_eq!(run.exit().code, Some(3));
}

#[test]
fn death_by_signal_stays_a_signal_in_a_job_step() {
    let Some(_) = cluster() else { return };
    let ran = run_bounded(
        &mut on_slurm(&["--", "sh", "-c", "kill -TERM $$"]),
        Vec::new(),
    );
    assert_eq!(ran.status.code(), Some(143), "{}", ran.stderr);
    let run = Captured::parse(&ran.stdout);
    assert_eq!(run.exit().signal.as_deref(), Some("SIGTERM"));
}

/// Ctrl-C ends the step's worker as it would here (SIGINT, its exit
/// written there), and nothing of it is left on the node.
#[test]
fn an_interrupt_ends_the_job_step() {
    let Some(_) = cluster() else { return };
    let mut live = Live::start_with(&mut on_slurm(&[
        "--kill-grace",
        "2",
        "--",
        "sh",
        "-c",
        "trap 'echo bye; exit 7' INT; echo ready; while :; do sleep 0.1; done",
    ]));
    let start = live.until(|e| e.type_name() == "start");
    let step_pid = start_pid(&start);
    live.until(|e| output(e).is_some_and(|(_, p)| p.as_bytes() == b"ready\n"));
    live.signal(Signal::SIGINT);
    let (run, status) = live.finish();
    assert_eq!(status.code(), Some(7), "the worker's own exit");
    assert_eq!(run.exit().ended_by.as_deref(), Some("interrupted"));
    assert_eq!(run.bytes(Stream::Stdout), b"ready\nbye\n");
    eventually("the step's worker is gone", || !alive(step_pid));
}

/// A plan: a task with a `slurm` field runs as a job step with its
/// resources, the others here; dependencies hold across them.
#[test]
fn a_plan_mixes_job_steps_and_local_tasks() {
    let Some(node) = cluster() else { return };
    let line = |value: serde_json::Value| format!("{value}\n");
    let plan = [
        line(serde_json::json!({
            "type": "task", "worker": "build", "seq": 0, "ts": 1.0, "id": "build",
            "argv": ["sh", "-c", "echo built $SLURM_CPUS_PER_TASK"],
            "slurm": {"cpus": 2, "time": "5"},
        })),
        line(serde_json::json!({
            "type": "task", "worker": "check", "seq": 0, "ts": 1.0, "id": "check",
            "argv": ["sh", "-c", "echo checked"], "depends_on": ["build"],
        })),
    ]
    .concat();
    let ran = run_bounded(
        sc_spawn().args(["--remote-sc", env!("CARGO_BIN_EXE_sc-spawn")]),
        plan.into_bytes(),
    );
    assert_eq!(ran.status.code(), Some(0), "{}", ran.stderr);
    let run = Captured::parse(&ran.stdout);
    run.check_contract();
    let hosts: Vec<(String, Option<String>)> = run
        .events
        .iter()
        .filter_map(|e| match &e.body {
            Body::Start(s) => Some((e.worker.clone(), s.host.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        hosts,
        [
            ("build".into(), Some(node.to_owned())),
            ("check".into(), None)
        ]
    );
    let text: String = run
        .events
        .iter()
        .filter(|e| e.worker == "build")
        .filter_map(output)
        .map(|(_, p)| String::from_utf8_lossy(p.as_bytes()).into_owned())
        .collect();
    assert_eq!(text, "built 2\n", "the step had the task's two CPUs");
}

/// A timeout is timed in the step (its exit says so, 124), and nothing of
/// the worker is left on the node.
#[test]
fn a_job_steps_timeout_is_a_timeout() {
    let Some(_) = cluster() else { return };
    let mut live = Live::start_with(&mut on_slurm(&[
        "--timeout",
        "0.5",
        "--kill-grace",
        "1",
        "--",
        "sleep",
        "30",
    ]));
    let step_pid = start_pid(&live.until(|e| e.type_name() == "start"));
    let (run, status) = live.finish();
    assert_eq!(status.code(), Some(124));
    assert!(run.exit().timed_out);
    assert_eq!(run.exit().ended_by.as_deref(), Some("timeout"));
    eventually("the step's worker is gone", || !alive(step_pid));
}

/// Arguments reach the step's worker exactly: srun keeps argv as given.
#[test]
fn hostile_arguments_arrive_exactly_in_a_job_step() {
    let Some(_) = cluster() else { return };
    let hostile = "it's $(touch /tmp/sc-pwned) `id` \"q\" \n two\t; rm -rf /";
    let ran = run_bounded(&mut on_slurm(&["--", "printf", "%s", hostile]), Vec::new());
    assert_eq!(ran.status.code(), Some(0), "{}", ran.stderr);
    let run = Captured::parse(&ran.stdout);
    assert_eq!(run.bytes(Stream::Stdout), hostile.as_bytes());
    assert!(!Path::new("/tmp/sc-pwned").exists());
}

/// The tests that ask Slurm for an allocation take turns: one that asks
/// for more than the cluster has sits at the head of its queue for the
/// 2 s sc-spawn gives it, and holds up another test's allocation, which
/// then falls back to a job per task.
fn allocation_turn() -> std::sync::MutexGuard<'static, ()> {
    static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());
    TURN.lock().unwrap_or_else(|e| e.into_inner())
}

/// A plan line per task, each printing the job it runs in.
fn plan_printing_the_job(ids: &[&str], script: &str) -> Vec<u8> {
    ids.iter()
        .map(|id| {
            format!(
                "{}\n",
                serde_json::json!({
                    "type": "task", "worker": id, "seq": 0, "ts": 1.0, "id": id,
                    "argv": ["sh", "-c", script],
                })
            )
        })
        .collect::<String>()
        .into_bytes()
}

/// Each worker's stdout, by id.
fn said(run: &Captured) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::<String, String>::new();
    for event in &run.events {
        if let Some((Stream::Stdout, payload)) = output(event) {
            out.entry(event.worker.clone())
                .or_default()
                .push_str(&String::from_utf8_lossy(payload.as_bytes()));
        }
    }
    out
}

/// The job's state as the controller says it (`RUNNING`, `COMPLETED`,
/// `CANCELLED`…), or None once it has forgotten the job.
fn job_state(job: &str) -> Option<String> {
    let out = Command::new("scontrol")
        .args(["show", "job", job])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.split_whitespace()
        .find_map(|w| w.strip_prefix("JobState="))
        .map(str::to_owned)
}

/// A plan's steps run in one allocation for the run (not a job each),
/// given back when the run ends.
#[test]
fn a_plans_steps_share_one_allocation_given_back_at_the_end() {
    let Some(_) = cluster() else { return };
    let _turn = allocation_turn();
    let ids = ["a", "b", "c", "d", "e", "f"];
    let ran = run_bounded(
        &mut on_slurm(&["-j", "2"]),
        plan_printing_the_job(&ids, "echo $SLURM_JOB_ID"),
    );
    assert_eq!(ran.status.code(), Some(0), "{}", ran.stderr);
    let run = Captured::parse(&ran.stdout);
    run.check_contract();
    let jobs: std::collections::BTreeSet<String> =
        said(&run).values().map(|s| s.trim().to_owned()).collect();
    assert_eq!(jobs.len(), 1, "one job for all six steps: {jobs:?}");
    let job = jobs.into_iter().next().unwrap();
    assert!(!job.is_empty(), "the steps saw their job");
    eventually("the allocation is given back", || {
        job_state(&job).is_none_or(|s| s != "RUNNING")
    });
}

/// sc-spawn killed outright: its allocation is given back all the same
/// (salloc holds it only while sc-spawn holds a pipe to it).
#[test]
fn a_killed_run_gives_its_allocation_back() {
    let Some(_) = cluster() else { return };
    let _turn = allocation_turn();
    let mut live = Live::start_fed(
        &mut on_slurm(&["-j", "2"]),
        &plan_printing_the_job(&["long"], "echo $SLURM_JOB_ID; sleep 600"),
    );
    let job = live.until(|e| output(e).is_some());
    let job = text(&job).trim().to_owned();
    assert_eq!(job_state(&job).as_deref(), Some("RUNNING"));
    live.signal(Signal::SIGKILL);
    eventually("the allocation is given back", || {
        job_state(&job).is_none_or(|s| s != "RUNNING" && s != "COMPLETING")
    });
}

/// Inside a job already (sc-spawn under salloc or sbatch), the steps go
/// in that job, side by side: each waits until all four have started,
/// which steps that queue behind one another never do.
#[test]
fn steps_run_side_by_side_in_the_job_sc_spawn_runs_in() {
    let Some(_) = cluster() else { return };
    let _turn = allocation_turn();
    let meeting = temp_dir("slurm-meeting");
    let script = format!(
        "echo $SLURM_JOB_ID; touch {dir}/$SLURM_STEP_ID; i=0; \
         while [ $(ls {dir} | wc -l) -lt 4 ]; do i=$((i+1)); [ $i -gt 300 ] && exit 1; sleep 0.1; done",
        dir = meeting.display()
    );
    let outer = format!(
        "echo outer=$SLURM_JOB_ID >&2; exec {} --slurm --remote-sc {} -j 4",
        env!("CARGO_BIN_EXE_sc-spawn"),
        env!("CARGO_BIN_EXE_sc-spawn")
    );
    let ran = run_bounded(
        Command::new("salloc").args(["-Q", "--ntasks=4", "--", "sh", "-c", &outer]),
        plan_printing_the_job(&["a", "b", "c", "d"], &script),
    );
    assert_eq!(ran.status.code(), Some(0), "{}", ran.stderr);
    let outer = ran
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix("outer="))
        .expect("the job sc-spawn ran in")
        .to_owned();
    let run = Captured::parse(&ran.stdout);
    let jobs: Vec<String> = said(&run).values().map(|s| s.trim().to_owned()).collect();
    assert_eq!(jobs, vec![outer; 4], "each step in the job sc-spawn ran in");
    let _ = std::fs::remove_dir_all(&meeting);
}

/// An allocation Slurm cannot grant (more tasks than the cluster has
/// CPUs) is said once, and each task runs as a job of its own.
#[test]
fn without_an_allocation_each_task_is_a_job_of_its_own() {
    let Some(_) = cluster() else { return };
    let _turn = allocation_turn();
    let ran = run_bounded(
        &mut on_slurm(&["-j", "500"]),
        plan_printing_the_job(&["a", "b"], "echo $SLURM_JOB_ID"),
    );
    assert_eq!(ran.status.code(), Some(0), "{}", ran.stderr);
    assert_eq!(
        ran.stderr
            .matches("no Slurm allocation for the run")
            .count(),
        1,
        "{}",
        ran.stderr
    );
    let run = Captured::parse(&ran.stdout);
    let jobs: std::collections::BTreeSet<String> =
        said(&run).values().map(|s| s.trim().to_owned()).collect();
    assert_eq!(jobs.len(), 2, "a job each: {jobs:?}");
}
