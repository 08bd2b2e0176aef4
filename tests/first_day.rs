//! The first day of a user who comes from GNU parallel, make and CI: the
//! plain path works as they expect, or says what to do.

use crate::util::*;

/// Command lines on stdin are not a plan: nothing runs, exit 2, and the
/// message shows how to make one. A stdin with an sc line in it is a plan.
#[test]
fn command_lines_on_stdin_are_a_usage_error_that_shows_sc_plan() {
    let ran = run_bounded(&mut sc_spawn(), b"cargo build\ncargo test\n".to_vec());
    assert_eq!(ran.status.code(), Some(2), "{}", ran.stderr);
    assert!(
        ran.stderr.contains("sc-plan --kind shell"),
        "{}",
        ran.stderr
    );
    let run = Captured::parse(&ran.stdout);
    assert!(
        run.of_type("start").is_empty(),
        "nothing ran: {:?}",
        run.events
    );
}

/// A task line written by hand needs only `type`, `id` (or `worker`) and
/// what to run; the stream gets the whole event.
#[test]
fn a_hand_written_task_line_needs_no_seq_or_ts() {
    let plan = b"{\"type\":\"task\",\"id\":\"build\",\"argv\":[\"echo\",\"built\"]}\n\
                 {\"type\":\"task\",\"worker\":\"test\",\"argv\":[\"echo\",\"tested\"],\"depends_on\":[\"build\"]}\n";
    let ran = run_bounded(&mut sc_spawn(), plan.to_vec());
    assert_eq!(ran.status.code(), Some(0), "{}", ran.stderr);
    let run = Captured::parse(&ran.stdout);
    run.check_contract();
    let exits: Vec<&str> = run.exits().iter().map(|(w, _)| *w).collect();
    assert_eq!(exits, ["build", "test"]);
    assert!(run.errors().is_empty(), "{:?}", run.errors());
    assert_view_checks(&ran.stdout);
}
