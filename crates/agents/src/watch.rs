//! What an agent's annotations say about where its run stands: its
//! verdict so far, how many results it has written, and whether work it
//! started beside its turns (a background shell, a subagent) is still open.
//!
//! Claude Code writes an interim `result` as soon as a turn ends, even when
//! a background task it started is still running; the run is not over
//! until every task has ended and a later `result` has come. A run is
//! *settled* after a result written while no task was open: only then may
//! a supervisor expect the process to exit.

use std::collections::BTreeSet;

use serde_json::Value;

#[derive(Debug, Default, Clone)]
pub struct Watch {
    /// The last result's verdict.
    result: Option<bool>,
    /// Results written so far.
    results: u32,
    /// Background tasks open, as the agent lists them.
    background: BTreeSet<String>,
    /// Tasks open that are not in the background list (a subagent's own
    /// shell).
    foreground: BTreeSet<String>,
    /// The last result came while no task was open.
    settled: bool,
}

impl Watch {
    /// Take in one annotation.
    pub fn note(&mut self, note: &Value) {
        match note["kind"].as_str() {
            Some("result") => {
                self.result = note["ok"].as_bool().or(self.result);
                self.results += 1;
                self.settled = !self.busy();
            }
            Some("task") => {
                let Some(id) = id_of(&note["id"]) else {
                    return;
                };
                if note["state"] == "started" {
                    self.settled = false;
                    if note["background"] == true {
                        self.background.insert(id);
                    } else {
                        self.foreground.insert(id);
                    }
                } else {
                    self.background.remove(&id);
                    self.foreground.remove(&id);
                }
            }
            Some("tasks") => {
                let open: BTreeSet<String> = note["open"]
                    .as_array()
                    .map(|ids| ids.iter().filter_map(id_of).collect())
                    .unwrap_or_default();
                if !open.is_empty() {
                    self.settled = false;
                }
                self.foreground.retain(|id| !open.contains(id));
                self.background = open;
            }
            _ => {}
        }
    }

    /// The verdict of the last result, if one came.
    pub fn result(&self) -> Option<bool> {
        self.result
    }

    /// Results written so far (interim ones included).
    pub fn results(&self) -> u32 {
        self.results
    }

    /// A task the agent started is still open.
    pub fn busy(&self) -> bool {
        !self.background.is_empty() || !self.foreground.is_empty()
    }

    /// The last result came with no task open: the agent should exit now.
    pub fn settled(&self) -> bool {
        self.settled
    }

    /// The ids of the open tasks.
    pub fn open_tasks(&self) -> impl Iterator<Item = &str> {
        self.background
            .iter()
            .chain(self.foreground.iter())
            .map(String::as_str)
    }
}

fn id_of(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AgentKind, Parser};

    /// The watch's view after each result of a real transcript: (busy,
    /// settled) at each result line.
    fn at_results(file: &str) -> (Vec<(bool, bool)>, Watch) {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/fixtures/agents/claude-code")
            .join(file);
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut parser = Parser::new(AgentKind::ClaudeCode);
        let mut watch = Watch::default();
        let mut seen = Vec::new();
        for line in text.lines() {
            if let Some(note) = parser.line(line.as_bytes()) {
                watch.note(&note);
                if note["kind"] == "result" {
                    seen.push((watch.busy(), watch.settled()));
                }
            }
        }
        (seen, watch)
    }

    #[test]
    fn a_background_shell_keeps_the_first_result_interim() {
        // Recorded: the first result at 0.86 s with the shell running, the
        // last at 20.93 s after it ended.
        let (seen, watch) = at_results("sc-background-bash-2.1.331.jsonl");
        assert_eq!(seen, [(true, false), (false, true)]);
        assert_eq!(watch.result(), Some(true));
        assert_eq!(watch.results(), 2);
    }

    #[test]
    fn a_background_subagent_settles_at_its_last_result() {
        let (seen, watch) = at_results("sc-background-agent-2.1.331.jsonl");
        assert_eq!(seen.last(), Some(&(false, true)));
        assert!(!watch.busy());
    }

    #[test]
    fn a_task_started_after_a_result_unsettles_the_run() {
        let mut watch = Watch::default();
        watch.note(&serde_json::json!({"kind": "result", "ok": true}));
        assert!(watch.settled());
        watch.note(&serde_json::json!({"kind": "task", "id": "t1", "state": "started", "background": true}));
        assert!(!watch.settled() && watch.busy());
        watch.note(&serde_json::json!({"kind": "tasks", "open": []}));
        assert!(
            !watch.busy() && !watch.settled(),
            "settled only by a later result"
        );
        watch.note(&serde_json::json!({"kind": "result", "ok": false}));
        assert!(watch.settled());
        assert_eq!(watch.result(), Some(false), "the last verdict counts");
    }
}
