//! `sc-view --junit FILE`: the run as a JUnit XML report, the format CI
//! systems read for test results (GitLab, Jenkins, Buildkite, GitHub's
//! test-report actions), laid out as cargo-nextest writes it: one
//! `testcase` per worker, its output as `system-out`/`system-err`.

use std::collections::HashMap;
use std::fmt::Write as _;

use crate::model::{Model, Status, Worker};
use crate::text::{Safety, redact};

/// The most output kept per worker and stream; more is cut, and said.
pub const MAX_OUTPUT: usize = 64 * 1024;

/// Every worker's output, as the report will hold it: redacted like the
/// view, capped, the bytes cut counted.
#[derive(Debug, Default)]
pub struct Outputs {
    kept: HashMap<(String, bool), Kept>,
}

#[derive(Debug, Default)]
struct Kept {
    text: String,
    cut: u64,
}

impl Outputs {
    /// A worker's output, on stderr or not.
    pub fn push(&mut self, worker: &str, stderr: bool, text: &str) {
        let kept = self.kept.entry((worker.to_owned(), stderr)).or_default();
        let room = MAX_OUTPUT.saturating_sub(kept.text.len());
        if text.len() <= room {
            kept.text.push_str(text);
            return;
        }
        let mut end = room;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        kept.text.push_str(&text[..end]);
        kept.cut += (text.len() - end) as u64;
    }

    fn of(&self, worker: &str, stderr: bool, safety: Safety) -> Option<String> {
        let kept = self.kept.get(&(worker.to_owned(), stderr))?;
        let mut text = if safety.redact {
            redact(&kept.text).into_owned()
        } else {
            kept.text.clone()
        };
        if kept.cut > 0 {
            let _ = write!(
                text,
                "\n[sc-view: {} more bytes cut; the whole output is in the stream]\n",
                kept.cut
            );
        }
        Some(text)
    }
}

/// `text` for XML 1.0 content or an attribute: the five markup characters
/// as entities, and characters XML cannot hold at all (most controls, the
/// non-characters) written visibly as `\u{..}`.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' => out.push(c),
            // A bare CR would be read back as a newline: keep it visible.
            '\r' => out.push_str("&#13;"),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// The report: one suite for the run, one case per worker.
pub fn render(model: &Model, outputs: &Outputs, timestamp: &str) -> String {
    let cases: Vec<&Worker> = model.workers.iter().collect();
    let failures = cases
        .iter()
        .filter(|w| matches!(w.status, Status::Failed | Status::TimedOut))
        .count();
    let skipped = cases.iter().filter(|w| w.status == Status::Skipped).count();
    let first = cases
        .iter()
        .map(|w| w.first_ts)
        .fold(f64::INFINITY, f64::min);
    let time = if first.is_finite() {
        (model.last_ts - first).max(0.0)
    } else {
        0.0
    };
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let counts = format!(
        "tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\" time=\"{time:.3}\"",
        cases.len()
    );
    let _ = writeln!(xml, "<testsuites name=\"sc\" {counts}>");
    let _ = writeln!(
        xml,
        "  <testsuite name=\"sc\" {counts} timestamp=\"{}\">",
        escape(timestamp)
    );
    for worker in cases {
        case(&mut xml, worker, outputs, model.safety);
    }
    xml.push_str("  </testsuite>\n</testsuites>\n");
    xml
}

fn case(xml: &mut String, worker: &Worker, outputs: &Outputs, safety: Safety) {
    let class = worker
        .role
        .as_deref()
        .or(worker.kind.as_deref())
        .unwrap_or("worker");
    let _ = writeln!(
        xml,
        "    <testcase name=\"{}\" classname=\"{}\" time=\"{:.3}\">",
        escape(&worker.id),
        escape(class),
        worker.elapsed()
    );
    let code = worker.exit.as_ref().and_then(|e| e.code);
    let signal = worker.exit.as_ref().and_then(|e| e.signal.clone());
    match worker.status {
        Status::Failed | Status::TimedOut => {
            let (kind, message) = if worker.status == Status::TimedOut {
                ("timeout".to_owned(), "timed out".to_owned())
            } else if let Some(signal) = signal {
                ("signal".to_owned(), format!("killed by {signal}"))
            } else if let Some(code) = code {
                ("exit".to_owned(), format!("exited with code {code}"))
            } else {
                ("failure".to_owned(), "failed".to_owned())
            };
            let detail = worker.errors.join("\n");
            let _ = writeln!(
                xml,
                "      <failure type=\"{}\" message=\"{}\">{}</failure>",
                escape(&kind),
                escape(&message),
                escape(&detail)
            );
        }
        Status::Skipped => {
            let reason = worker.skip_reason.as_deref().unwrap_or("skipped");
            let _ = writeln!(xml, "      <skipped message=\"{}\"/>", escape(reason));
        }
        _ => {}
    }
    for (stderr, tag) in [(false, "system-out"), (true, "system-err")] {
        let mut text = outputs.of(&worker.id, stderr, safety);
        // What the agent asked for and was refused (--ask), said first:
        // a reviewer of the report sees what it was not allowed to do.
        if !stderr && !worker.denied.is_empty() {
            let denied: String = worker
                .denied
                .iter()
                .map(|what| format!("sc: denied: {what}\n"))
                .collect();
            text = Some(denied + &text.unwrap_or_default());
        }
        if let Some(text) = text {
            let _ = writeln!(xml, "      <{tag}>{}</{tag}>", escape(&text));
        }
    }
    xml.push_str("    </testcase>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_and_controls_are_escaped() {
        assert_eq!(
            escape("a<b>&\"c'\u{1b}[31m\r\n]]>\u{0}"),
            "a&lt;b&gt;&amp;&quot;c&apos;\\u{1b}[31m&#13;\n]]&gt;\\u{0}"
        );
    }

    #[test]
    fn output_is_capped_and_the_cut_said() {
        let mut outputs = Outputs::default();
        outputs.push("w", false, &"é".repeat(MAX_OUTPUT));
        let text = outputs.of("w", false, Safety::default()).unwrap();
        assert!(text.len() < MAX_OUTPUT + 100);
        assert!(
            text.contains(&format!("{} more bytes cut", MAX_OUTPUT)),
            "{}",
            &text[text.len() - 80..]
        );
    }
}
