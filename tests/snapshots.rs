//! What people read, pinned: sc-view's plain view, JUnit report and
//! timeline of two saved runs (tests/data: a plan of shell workers and a
//! scripted ACP agent with failures, a timeout, a skip, retries and an
//! ask; and the demo's recorded Claude Code and OpenCode runs). A change
//! in any of them shows up as a diff of tests/snapshots/*.snap in review
//! (`cargo insta review`, or INSTA_UPDATE=always to accept).

use std::path::Path;

use crate::util::run_bounded;
use crate::view::sc_view;

fn saved(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data")
            .join(name),
    )
    .unwrap()
}

/// sc-view's plain view of a saved run, and its reports.
fn views(name: &str) -> (String, String, String) {
    let dir = crate::util::temp_dir(&format!("snapshot-{name}"));
    let (junit, timeline) = (dir.join("r.xml"), dir.join("t.svg"));
    let out = run_bounded(
        sc_view()
            .env("NO_COLOR", "1")
            .arg("--junit")
            .arg(&junit)
            .arg("--timeline")
            .arg(&timeline),
        saved(name),
    );
    let junit = std::fs::read_to_string(&junit).unwrap();
    // When the report was written is the one thing that changes.
    let stamp = junit.find("timestamp=\"").map(|at| at + 11).unwrap();
    let junit = format!("{}STAMP{}", &junit[..stamp], &junit[stamp + 19..]);
    (
        String::from_utf8(out.stdout).unwrap(),
        junit,
        std::fs::read_to_string(&timeline).unwrap(),
    )
}

#[test]
fn the_view_and_reports_of_a_plan_with_every_outcome() {
    let (view, junit, timeline) = views("report-run.ndjson");
    insta::assert_snapshot!("report_run_view", view);
    insta::assert_snapshot!("report_run_junit", junit);
    insta::assert_snapshot!("report_run_timeline", timeline);
}

#[test]
fn the_view_and_reports_of_the_demos_agents() {
    let (view, junit, timeline) = views("demo-run.ndjson");
    insta::assert_snapshot!("demo_run_view", view);
    insta::assert_snapshot!("demo_run_junit", junit);
    insta::assert_snapshot!("demo_run_timeline", timeline);
}
