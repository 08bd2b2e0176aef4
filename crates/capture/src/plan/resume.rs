//! `sc-spawn --resume LOG`: what an earlier run of a plan left done.
//!
//! The log is that run's stream (`--log`, or `tee`). A task whose worker
//! exited 0 (and whose agent's verdict was ok) is done and is not run
//! again; a task that failed, was skipped, or never started runs; one that
//! was cut off mid-run (interrupted, or no `exit` at all: the run was
//! killed) runs again, resuming its agent's session when it had one. Like
//! `make`, and GNU parallel's `--joblog` with `--resume-failed`: nothing
//! done is redone.

use std::collections::HashMap;
use std::io::{self, BufRead};
use std::path::Path;

use sc_events::{Body, parse_line};

/// What the earlier run says of one task.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Earlier {
    /// It succeeded: it is not run again.
    pub done: bool,
    /// Its agent's session, to resume when it runs again.
    pub session: Option<String>,
    /// Its git worktree (`--worktree`): branch and path.
    pub branch: Option<String>,
    pub worktree_path: Option<String>,
    /// Its worktree's starting point.
    pub base: Option<String>,
}

/// The earlier run's tasks, by id (top-level workers only: a nested plan's
/// workers belong to their outer task).
#[derive(Debug, Clone, Default)]
pub struct EarlierRun {
    pub tasks: HashMap<String, Earlier>,
    /// Lines of the log that were not events (said once, not fatal).
    pub unreadable: u64,
}

impl EarlierRun {
    pub fn get(&self, id: &str) -> Option<&Earlier> {
        self.tasks.get(id)
    }
}

/// Read an earlier run's stream.
pub fn read(path: &Path) -> io::Result<EarlierRun> {
    let file = std::fs::File::open(path)?;
    let mut run = EarlierRun::default();
    for line in io::BufReader::new(file).split(b'\n') {
        let line = line?;
        if line.is_empty() {
            continue;
        }
        let Ok(event) = parse_line(&line) else {
            run.unreadable += 1;
            continue;
        };
        if event.worker.contains('/') {
            continue;
        }
        let task = run.tasks.entry(event.worker.clone()).or_default();
        match &event.body {
            Body::Start(start) => {
                // A new attempt: not done until its exit says so.
                task.done = false;
                if let Some(session) = &start.resumes {
                    task.session = Some(session.clone());
                }
            }
            Body::Output(output) => {
                if let Some(session) = output
                    .agent
                    .as_ref()
                    .filter(|a| a["kind"] == "init")
                    .and_then(|a| a["session"].as_str())
                {
                    task.session = Some(session.to_owned());
                }
            }
            Body::Exit(exit) => {
                task.done =
                    exit.code == Some(0) && exit.agent_result.as_deref().is_none_or(|r| r == "ok");
                if let Some(worktree) = &exit.worktree {
                    task.branch = Some(worktree.branch.clone());
                    task.worktree_path = Some(worktree.path.clone());
                    task.base = Some(worktree.base.clone());
                }
            }
            Body::Skip(skip) if skip.done => task.done = true,
            _ => {}
        }
    }
    Ok(run)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn done_failed_cut_off_and_resumed_tasks() {
        let log = concat!(
            r#"{"type":"task","worker":"a","seq":0,"ts":1,"id":"a","argv":["true"]}"#,
            "\n",
            r#"{"type":"start","worker":"a","seq":1,"ts":1,"argv":["true"],"pid":9,"cwd":"/","kind":"shell","pty":false,"schema":1}"#,
            "\n",
            r#"{"type":"exit","worker":"a","seq":2,"ts":2,"code":0,"signal":null,"duration_ms":1,"timed_out":false,"lines":0,"bytes":0,"worktree":{"path":"/r/.git/sc-worktrees/sc-a","branch":"sc/a","base":"abc","diff":"no changes"}}"#,
            "\n",
            r#"{"type":"start","worker":"fix","seq":1,"ts":1,"argv":["claude"],"pid":10,"cwd":"/","kind":"claude-code","pty":false,"schema":1}"#,
            "\n",
            r#"{"type":"output","worker":"fix","seq":2,"ts":1,"stream":"stdout","text":"{}\n","agent":{"kind":"init","session":"s-9","model":"m"}}"#,
            "\n",
            r#"{"type":"exit","worker":"fix","seq":3,"ts":2,"code":0,"signal":null,"duration_ms":1,"timed_out":false,"lines":1,"bytes":3,"agent_result":"missing"}"#,
            "\n",
            r#"{"type":"start","worker":"cut","seq":1,"ts":1,"argv":["x"],"pid":11,"cwd":"/","kind":"shell","pty":false,"schema":1}"#,
            "\n",
            r#"{"type":"skip","worker":"later","seq":1,"ts":1,"reason":"interrupted before it started"}"#,
            "\n",
            r#"{"type":"skip","worker":"old","seq":1,"ts":1,"reason":"already done","done":true}"#,
            "\n",
            r#"{"type":"start","worker":"meta/inner","seq":0,"ts":1,"argv":["x"],"pid":12,"cwd":"/","kind":"shell","pty":false,"schema":1}"#,
            "\n",
            "not an event\n",
        );
        let dir = std::env::temp_dir().join(format!("sc-resume-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("run.ndjson");
        std::fs::write(&path, log).unwrap();
        let run = read(&path).unwrap();
        let a = run.get("a").unwrap();
        assert!(a.done);
        assert_eq!(a.branch.as_deref(), Some("sc/a"));
        let fix = run.get("fix").unwrap();
        assert!(!fix.done, "an agent without a result did not succeed");
        assert_eq!(fix.session.as_deref(), Some("s-9"));
        assert!(!run.get("cut").unwrap().done);
        assert!(!run.get("later").unwrap().done);
        assert!(
            run.get("old").unwrap().done,
            "done before the earlier run too"
        );
        assert!(run.get("meta/inner").is_none() && run.get("meta").is_none());
        assert_eq!(run.unreadable, 1);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
