//! `sc-view --junit FILE`: the run as a JUnit XML report, the format CI
//! systems read for test results (GitLab, Jenkins, Buildkite, GitHub's
//! test-report actions), laid out as cargo-nextest writes it: one
//! `testcase` per worker, its output as `system-out`/`system-err` (for an
//! agent, what the view shows of it: its text, tool calls, asks, result),
//! a retried worker's earlier attempts as `flakyFailure` (it passed later)
//! or `rerunFailure`, and a worker the run never saw end as an `error`.

use std::collections::HashMap;
use std::fmt::Write as _;

use crate::model::{Model, Status, Worker};
use crate::text::{Safety, redact};

/// The most output kept per worker and stream; more is cut, and said.
pub const MAX_OUTPUT: usize = 64 * 1024;

/// Every worker's output, as the report will hold it: redacted like the
/// view, capped, the bytes cut counted; each attempt's apart (a retried
/// worker's earlier attempts are its flaky or rerun failures).
#[derive(Debug, Default)]
pub struct Outputs {
    workers: HashMap<String, Vec<Attempt>>,
}

/// One attempt of a worker: its output, and (once it ended and the worker
/// was retried) why.
#[derive(Debug, Default)]
struct Attempt {
    out: Kept,
    err: Kept,
    ended: Option<String>,
}

#[derive(Debug, Default)]
struct Kept {
    text: String,
    cut: u64,
}

impl Kept {
    fn push(&mut self, text: &str) {
        let room = MAX_OUTPUT.saturating_sub(self.text.len());
        if text.len() <= room {
            self.text.push_str(text);
            return;
        }
        let mut end = room;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        self.text.push_str(&text[..end]);
        self.cut += (text.len() - end) as u64;
    }

    fn text(&self, safety: Safety) -> Option<String> {
        if self.text.is_empty() && self.cut == 0 {
            return None;
        }
        let mut text = if safety.redact {
            redact(&self.text).into_owned()
        } else {
            self.text.clone()
        };
        if self.cut > 0 {
            let _ = write!(
                text,
                "\n[sc-view: {} more bytes cut; the whole output is in the stream]\n",
                self.cut
            );
        }
        Some(text)
    }
}

impl Outputs {
    fn current(&mut self, worker: &str) -> &mut Attempt {
        let attempts = self.workers.entry(worker.to_owned()).or_default();
        if attempts.is_empty() {
            attempts.push(Attempt::default());
        }
        attempts.last_mut().expect("one attempt at least")
    }

    /// A worker's output, on stderr or not.
    pub fn push(&mut self, worker: &str, stderr: bool, text: &str) {
        let attempt = self.current(worker);
        match stderr {
            true => attempt.err.push(text),
            false => attempt.out.push(text),
        }
    }

    /// A line of what the view shows of a worker (an agent's text, its
    /// tool calls, asks and results), as its output.
    pub fn push_line(&mut self, worker: &str, stderr: bool, line: &str) {
        self.push(worker, stderr, &format!("{line}\n"));
    }

    /// The worker's attempt ended and it runs again: `why` (its `retry`).
    pub fn retried(&mut self, worker: &str, why: String) {
        self.current(worker).ended = Some(why);
        self.workers
            .get_mut(worker)
            .expect("just made")
            .push(Attempt::default());
    }

    fn attempts(&self, worker: &str) -> &[Attempt] {
        self.workers.get(worker).map_or(&[], Vec::as_slice)
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

/// The report: one suite for the run, one case per worker. `interrupted`:
/// the run was cut off (a signal to sc-view, named), so that the workers
/// that had not ended say why.
pub fn render(
    model: &Model,
    outputs: &Outputs,
    timestamp: &str,
    interrupted: Option<&str>,
) -> String {
    let cases: Vec<&Worker> = model
        .workers
        .iter()
        .filter(|w| w.status != Status::Noted)
        .collect();
    let failures = cases
        .iter()
        .filter(|w| matches!(w.status, Status::Failed | Status::TimedOut))
        .count();
    let errors = cases.iter().filter(|w| w.status == Status::Running).count();
    let skipped = cases
        .iter()
        .filter(|w| matches!(w.status, Status::Skipped | Status::Queued))
        .count();
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
        "tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"{skipped}\" time=\"{time:.3}\"",
        cases.len()
    );
    let _ = writeln!(xml, "<testsuites name=\"sc\" {counts}>");
    let _ = writeln!(
        xml,
        "  <testsuite name=\"sc\" {counts} timestamp=\"{}\">",
        escape(timestamp)
    );
    let cut_off = match interrupted {
        Some(signal) => format!("the run was interrupted ({signal}) before this worker ended"),
        None => "the stream ended before this worker did: no exit event (the run was cut off)"
            .to_owned(),
    };
    for worker in cases {
        case(&mut xml, worker, outputs, model.safety, &cut_off);
    }
    xml.push_str("  </testsuite>\n</testsuites>\n");
    xml
}

fn case(xml: &mut String, worker: &Worker, outputs: &Outputs, safety: Safety, cut_off: &str) {
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
    let detail = worker.errors.join("\n");
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
            let _ = writeln!(
                xml,
                "      <failure type=\"{}\" message=\"{}\">{}</failure>",
                escape(&kind),
                escape(&message),
                escape(&detail)
            );
        }
        Status::Noted => {}
        Status::Skipped => {
            let reason = worker.skip_reason.as_deref().unwrap_or("skipped");
            let _ = writeln!(xml, "      <skipped message=\"{}\"/>", escape(reason));
        }
        // Started, never ended: an error (not a pass), with what is known.
        Status::Running => {
            let mut known = format!(
                "it ran for {:.1} s and wrote {}",
                worker.elapsed(),
                crate::fmt::plural(worker.lines, "line")
            );
            if !worker.asking.is_empty() {
                let _ = write!(known, "; it was waiting for an answer");
            }
            if !detail.is_empty() {
                let _ = write!(known, "\n{detail}");
            }
            let _ = writeln!(
                xml,
                "      <error type=\"unfinished\" message=\"{}\">{}</error>",
                escape(cut_off),
                escape(&known)
            );
        }
        Status::Queued => {
            let _ = writeln!(
                xml,
                "      <skipped message=\"{}\"/>",
                escape(&format!("not started: {cut_off}"))
            );
        }
        Status::Succeeded => {}
    }
    let attempts = outputs.attempts(&worker.id);
    // Each earlier attempt of a retried worker, with its own output: flaky
    // when a later one passed, a rerun failure when none did (as nextest
    // and Maven Surefire write them).
    let tag = match worker.status {
        Status::Succeeded => "flakyFailure",
        _ => "rerunFailure",
    };
    for attempt in attempts.iter().filter(|a| a.ended.is_some()) {
        let why = attempt.ended.as_deref().unwrap_or("it failed");
        let _ = writeln!(
            xml,
            "      <{tag} type=\"attempt\" message=\"{}\">",
            escape(why)
        );
        streams(xml, attempt, None, safety, "        ");
        let _ = writeln!(xml, "      </{tag}>");
    }
    if let Some(last) = attempts.last() {
        streams(xml, last, Some(&worker.denied), safety, "      ");
    } else if !worker.denied.is_empty() {
        streams(
            xml,
            &Attempt::default(),
            Some(&worker.denied),
            safety,
            "      ",
        );
    }
    xml.push_str("    </testcase>\n");
}

/// An attempt's `system-out` and `system-err`; what the agent asked for
/// and was refused (--ask) said first, so that a reviewer of the report
/// sees what it was not allowed to do.
fn streams(
    xml: &mut String,
    attempt: &Attempt,
    denied: Option<&Vec<String>>,
    safety: Safety,
    indent: &str,
) {
    for (stderr, tag) in [(false, "system-out"), (true, "system-err")] {
        let kept = if stderr { &attempt.err } else { &attempt.out };
        let mut text = kept.text(safety);
        if let Some(denied) = denied.filter(|d| !stderr && !d.is_empty()) {
            let denied: String = denied
                .iter()
                .map(|what| format!("sc: denied: {what}\n"))
                .collect();
            text = Some(denied + &text.unwrap_or_default());
        }
        if let Some(text) = text {
            let _ = writeln!(xml, "{indent}<{tag}>{}</{tag}>", escape(&text));
        }
    }
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
        let text = outputs.attempts("w")[0]
            .out
            .text(Safety::default())
            .unwrap();
        assert!(text.len() < MAX_OUTPUT + 100);
        assert!(
            text.contains(&format!("{} more bytes cut", MAX_OUTPUT)),
            "{}",
            &text[text.len() - 80..]
        );
    }
}
