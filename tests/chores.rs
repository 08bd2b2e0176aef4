//! The slow work of a launch, done off the poller's thread, does not queue
//! one launch behind another's: a `--transfer` to a host that does not
//! answer holds up only the tasks placed on that host.

use crate::util::*;

/// Two tasks, each copied to its host first: the copy to a host that
/// answers nothing for a while holds up only the task placed there.
#[test]
fn a_transfer_to_a_silent_host_does_not_hold_up_another_host() {
    let Some(config) = crate::sshd::sshd() else {
        return;
    };
    let dir = temp_dir("chores-silent-host");
    // An "ssh" to which host `silent` answers nothing for a while, then
    // gives up; the others are the tests' sshd.
    let ssh = dir.join("silent-ssh");
    executable(
        &ssh,
        &format!(
            "#!/bin/sh\ncase \"$*\" in *' silent '*) sleep 5; echo 'silent: timed out' >&2; exit 255;; esac\n\
             exec ssh -F {} \"$@\"\n",
            config.display()
        ),
    );
    let plan = [
        r#"{"type":"task","worker":"far","seq":0,"ts":1.0,"id":"far","host":"silent","argv":["true"]}"#,
        r#"{"type":"task","worker":"near","seq":0,"ts":1.0,"id":"near","host":"lab","argv":["true"]}"#,
    ]
    .join("\n")
        + "\n";
    let ran = run_bounded(
        sc_spawn()
            .args(["--transfer", "-j", "2", "--ssh"])
            .arg(&ssh),
        plan.into_bytes(),
    );
    let run = Captured::parse(&ran.stdout);
    let exits: Vec<(&str, Option<i32>)> = run
        .events
        .iter()
        .filter_map(|e| match &e.body {
            sc_events::Body::Exit(exit) => Some((e.worker.as_str(), exit.code)),
            _ => None,
        })
        .collect();
    assert_eq!(
        exits.iter().map(|(w, _)| *w).collect::<Vec<_>>(),
        ["near", "far"],
        "the task on lab ran while the copy to the silent host waited: {}",
        ran.stderr
    );
    assert_eq!(exits[0].1, Some(0), "{:?}", run.errors());
}
