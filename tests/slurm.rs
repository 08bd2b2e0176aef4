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

fn on_slurm(args: &[&str]) -> Command {
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
