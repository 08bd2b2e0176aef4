//! The terminal view's end, before its table: each failed worker's last
//! lines, stderr first, as cargo test and nextest print what failed — the
//! `error[E0308]` a person needs is on screen and in the scrollback, not
//! gone with the worker's row. Passing workers stay quiet.

use std::fmt::Write as _;

use crate::fmt::Palette;
use crate::model::{Model, Status};
use crate::plain::end_summary;

/// What failed, or nothing. `stream`: the file the run was read from, for
/// the command that shows all of a worker's output.
pub fn render(model: &Model, palette: &Palette, stream: Option<&str>) -> String {
    let Palette { bad, dim, .. } = *palette;
    let mut text = String::new();
    for w in &model.workers {
        if !matches!(w.status, Status::Failed | Status::TimedOut) {
            continue;
        }
        let _ = writeln!(
            text,
            "\n{bad}──{bad:#} {} {}",
            w.id,
            end_summary(w, palette)
        );
        for (name, lines) in [("stderr", &w.kept.stderr), ("stdout", &w.kept.stdout)] {
            if lines.is_empty() {
                continue;
            }
            let last = if lines.len() == crate::model::Kept::LINES {
                format!("its last {} lines", lines.len())
            } else {
                "all of it".to_owned()
            };
            let _ = writeln!(text, "{dim}{name}, {last}:{dim:#}");
            for line in lines {
                let _ = writeln!(text, "  {line}");
            }
        }
        let all = match stream {
            Some(file) => format!(
                "sc-view --plain --worker {} {}",
                quoted(&w.id),
                quoted(file)
            ),
            None => format!(
                "sc-view --plain --worker {} LOG, with the run kept by sc-spawn --log LOG",
                quoted(&w.id)
            ),
        };
        let _ = writeln!(text, "{dim}all of its output: {all}{dim:#}");
    }
    text
}

/// A worker id or a path as a shell word.
fn quoted(word: &str) -> std::borrow::Cow<'_, str> {
    shlex::try_quote(word).unwrap_or(std::borrow::Cow::Borrowed(word))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Safety;

    #[test]
    fn a_failed_workers_last_lines_are_said_stderr_first() {
        let mut model = Model::new(Safety::default(), 2);
        let mut changes = Vec::new();
        for line in [
            r#"{"type":"start","worker":"build","seq":0,"ts":1,"argv":["cargo","build"],"pid":1}"#,
            r#"{"type":"output","worker":"build","seq":1,"ts":1,"stream":"stdout","text":"Compiling x\n"}"#,
            r#"{"type":"output","worker":"build","seq":2,"ts":1,"stream":"stderr","text":"error[E0308]: mismatched types\n"}"#,
            r#"{"type":"exit","worker":"build","seq":3,"ts":2,"code":101,"signal":null,"duration_ms":1000,"timed_out":false,"lines":2,"bytes":40}"#,
            r#"{"type":"start","worker":"ok","seq":0,"ts":1,"argv":["true"],"pid":2}"#,
            r#"{"type":"output","worker":"ok","seq":1,"ts":1,"stream":"stdout","text":"fine\n"}"#,
            r#"{"type":"exit","worker":"ok","seq":2,"ts":2,"code":0,"signal":null,"duration_ms":1000,"timed_out":false,"lines":1,"bytes":5}"#,
        ] {
            let event = crate::ViewEvent::parse(line.as_bytes()).unwrap();
            model.apply(&event, &mut changes);
        }
        let text = render(&model, &Palette::new(false), Some("run.ndjson"));
        let stderr = text.find("error[E0308]").expect(&text);
        let stdout = text.find("Compiling x").expect(&text);
        assert!(stderr < stdout, "{text}");
        assert!(
            !text.contains("fine"),
            "a passing worker stays quiet: {text}"
        );
        assert!(
            text.contains("sc-view --plain --worker build run.ndjson"),
            "{text}"
        );
        assert!(text.contains("exit 101"), "{text}");
    }
}
