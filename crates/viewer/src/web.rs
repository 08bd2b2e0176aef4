//! The model as the web page shows it (`sc-view --serve`): one JSON row a
//! worker, made from the same [`Model`](crate::model::Model) the terminal
//! and plain views draw. Every string in it is already made safe (control
//! characters escaped, secrets masked); the page puts them in the page as
//! text, never as markup.

use serde_json::{Value, json};

use crate::model::{Status, Worker};

/// A status as the page names it.
pub fn status_name(status: Status) -> &'static str {
    match status {
        Status::Queued => "queued",
        Status::Running => "running",
        Status::Succeeded => "succeeded",
        Status::Failed => "failed",
        Status::TimedOut => "timed out",
        Status::Skipped => "skipped",
        Status::Noted => "noted",
    }
}

/// Worker `index` as the page's row: where it stands, how long, its
/// newest line, its last lines, what it cost, what it asks.
pub fn row(index: usize, worker: &Worker) -> Value {
    let asks: Vec<Value> = worker
        .asking
        .iter()
        .map(|a| json!({"id": a.id, "what": a.what, "answerable": a.control.is_some()}))
        .collect();
    let exit = worker
        .exit
        .as_ref()
        .map(|e| json!({"code": e.code, "signal": e.signal, "timed_out": e.timed_out}));
    json!({
        "index": index,
        "id": worker.id,
        "status": status_name(worker.status),
        "kind": worker.kind,
        "role": worker.role,
        "depends_on": worker.depends_on,
        "host": worker.host,
        "sandbox": worker.sandbox,
        "attempt": worker.attempt,
        "elapsed_s": (worker.elapsed() * 10.0).round() / 10.0,
        "lines": worker.lines,
        "bytes": worker.bytes,
        "progress": worker.progress,
        "latest": worker.latest,
        "tail": worker.tail,
        "exit": exit,
        "cost_usd": worker.usage.cost_usd,
        "input_tokens": worker.usage.input_tokens,
        "output_tokens": worker.usage.output_tokens,
        "asks": asks,
        "worktree": worker.worktree.as_ref().map(|w| json!({
            "branch": w.branch,
            "diff": w.diff,
            "error": w.error,
        })),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Change, Model, Safety, ViewEvent};

    #[test]
    fn a_row_carries_what_the_model_made_safe() {
        let mut model = Model::new(Safety::default(), 5);
        let mut changes: Vec<Change> = Vec::new();
        for line in [
            r#"{"type":"start","worker":"w","seq":0,"ts":1.0,"argv":["sh"],"pid":1,"cwd":"/","kind":"shell","pty":false,"schema":1}"#,
            r#"{"type":"output","worker":"w","seq":1,"ts":1.5,"stream":"stdout","text":"<script>x</script> \u001b[31mred\n"}"#,
        ] {
            model.apply(&ViewEvent::parse(line.as_bytes()).unwrap(), &mut changes);
        }
        let row = row(0, &model.workers[0]);
        assert_eq!(row["id"], "w");
        assert_eq!(row["status"], "running");
        let latest = row["latest"].as_str().unwrap();
        assert!(latest.starts_with("<script>x</script>"), "{latest}");
        assert!(!latest.contains('\u{1b}'), "no escape sequence: {latest:?}");
        assert_eq!(row["elapsed_s"], 0.5);
    }
}
