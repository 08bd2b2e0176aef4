//! The slow work of a launch, done off the poller's thread, does not queue
//! one launch behind another's: a `--transfer` to a host that does not
//! answer holds up only the tasks placed on that host.

use std::process::Command;

use crate::util::*;

#[test]
fn a_transfer_to_a_silent_host_does_not_hold_up_a_worktree() {
    let dir = temp_dir("chores-silent-host");
    let repo = dir.join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    for args in [
        &["init", "-q"][..],
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            "base",
        ],
    ] {
        assert!(
            Command::new("git")
                .arg("-C")
                .arg(&repo)
                .args(args)
                .status()
                .unwrap()
                .success()
        );
    }
    // An "ssh" to a host that answers nothing for a while, then gives up.
    let ssh = dir.join("silent-ssh");
    executable(
        &ssh,
        "#!/bin/sh\nsleep 5\necho 'silent: timed out' >&2\nexit 255\n",
    );
    let plan = [
        r#"{"type":"task","worker":"far","seq":0,"ts":1.0,"id":"far","host":"silent","argv":["true"]}"#,
        r#"{"type":"task","worker":"near","seq":0,"ts":1.0,"id":"near","argv":["true"]}"#,
    ]
    .join("\n")
        + "\n";
    let ran = run_bounded(
        sc_spawn()
            .args(["--worktree", "--transfer", "-j", "2", "--ssh"])
            .arg(&ssh)
            .current_dir(&repo),
        plan.into_bytes(),
    );
    let run = Captured::parse(&ran.stdout);
    let exits: Vec<&str> = run
        .events
        .iter()
        .filter(|e| e.type_name() == "exit")
        .map(|e| e.worker.as_str())
        .collect();
    assert_eq!(
        exits,
        ["near", "far"],
        "the local task ran while the copy to the silent host waited: {}",
        ran.stderr
    );
}
