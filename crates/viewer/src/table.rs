//! The summary table both views end with.

use std::fmt::Write as _;

use anstyle::Style;

use crate::fmt::{self, Palette};
use crate::model::{Model, Status, Worker};

fn status_text(w: &Worker, palette: &Palette) -> (String, Style) {
    let (text, style) = match w.status {
        Status::Succeeded if w.done_before => ("✔ done before", palette.ok),
        Status::Succeeded if w.attempt > 1 => {
            return (format!("✔ ok after {} attempts", w.attempt), palette.warn);
        }
        Status::Succeeded => ("✔ ok", palette.ok),
        Status::Failed => ("✖ failed", palette.bad),
        Status::TimedOut => ("⏱ timeout", palette.warn),
        Status::Skipped => ("⊘ skipped", palette.dim),
        Status::Queued => ("queued", palette.dim),
        Status::Running => ("? no exit", palette.bad),
        Status::Noted => ("said", palette.dim),
    };
    (text.to_owned(), style)
}

fn exit_text(w: &Worker) -> String {
    match &w.exit {
        Some(exit) => match (&exit.signal, exit.code) {
            (Some(signal), _) => signal.clone(),
            (None, Some(code)) => code.to_string(),
            (None, None) => "-".into(),
        },
        None => "-".into(),
    }
}

/// Which workers the table lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rows {
    All,
    /// Those that did not pass: the terminal view has said a line for each
    /// worker as it ended, so its end lists only what needs a look.
    Trouble,
}

/// The table, with a totals line and notes on lost or malformed input.
/// Columns no worker has anything in are left out.
pub fn render(model: &Model, palette: &Palette, which: Rows) -> String {
    let head = palette.bold;
    let headers = [
        "WORKER",
        "STATUS",
        "EXIT",
        "DURATION",
        "LINES",
        "BYTES",
        "COST/TOKENS",
    ];
    let rows: Vec<([String; 7], Style)> = model
        .workers
        .iter()
        .filter(|w| w.status != Status::Noted)
        .filter(|w| which == Rows::All || !w.status.passed())
        .map(|w| {
            let (status, style) = status_text(w, palette);
            let duration =
                if w.status == Status::Skipped || w.status == Status::Queued || w.done_before {
                    "-".into()
                } else {
                    fmt::duration(w.elapsed())
                };
            (
                [
                    w.id.clone(),
                    status,
                    exit_text(w),
                    duration,
                    fmt::count(w.lines),
                    fmt::bytes(w.bytes),
                    fmt::usage(&w.usage),
                ],
                style,
            )
        })
        .collect();
    let mut widths = headers.map(|h| h.chars().count());
    for (cells, _) in &rows {
        for (width, cell) in widths.iter_mut().zip(cells) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let shown: Vec<bool> = (0..headers.len())
        .map(|i| {
            i < 2
                || rows
                    .iter()
                    .any(|(cells, _)| !matches!(cells[i].as_str(), "" | "-"))
        })
        .collect();
    let mut out = String::new();
    if rows.is_empty() {
        out.push_str(&totals(model));
        return out;
    }
    let pad = |out: &mut String, text: &str, width: usize, right: bool| {
        let fill = " ".repeat(width.saturating_sub(text.chars().count()));
        if right {
            out.push_str(&fill);
            out.push_str(text);
        } else {
            out.push_str(text);
            out.push_str(&fill);
        }
    };
    let right = [false, false, true, true, true, true, false];
    let mut header_line = String::new();
    for (i, header) in headers.iter().enumerate().filter(|(i, _)| shown[*i]) {
        if i > 0 {
            header_line.push_str("  ");
        }
        pad(&mut header_line, header, widths[i], right[i]);
    }
    let _ = writeln!(out, "{head}{}{head:#}", header_line.trim_end());
    for (cells, style) in &rows {
        let mut line = String::new();
        for (i, cell) in cells.iter().enumerate().filter(|(i, _)| shown[*i]) {
            if i > 0 {
                line.push_str("  ");
            }
            if i == 1 {
                let _ = write!(line, "{style}");
                pad(&mut line, cell, widths[i], right[i]);
                let _ = write!(line, "{style:#}");
            } else {
                pad(&mut line, cell, widths[i], right[i]);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out.push_str(&totals(model));
    out
}

fn totals(model: &Model) -> String {
    let count = |status: Status| model.workers.iter().filter(|w| w.status == status).count();
    let workers = model.workers.len() - count(Status::Noted);
    let mut parts = vec![format!(
        "{} worker{}",
        workers,
        if workers == 1 { "" } else { "s" }
    )];
    for (status, word) in [
        (Status::Succeeded, "ok"),
        (Status::Failed, "failed"),
        (Status::TimedOut, "timed out"),
        (Status::Skipped, "skipped"),
        (Status::Queued, "queued"),
        (Status::Running, "without an exit"),
    ] {
        let n = count(status);
        if n > 0 {
            parts.push(format!("{n} {word}"));
        }
        // Passed only on a later attempt: flaky, said as such.
        if status == Status::Succeeded {
            let mut retried = std::collections::BTreeMap::new();
            for w in &model.workers {
                if w.status == Status::Succeeded && w.attempt > 1 && !w.done_before {
                    *retried.entry(w.attempt).or_insert(0) += 1;
                }
            }
            if !retried.is_empty() {
                let said: Vec<String> = retried
                    .iter()
                    .map(|(attempts, n)| format!("{n} after {attempts} attempts"))
                    .collect();
                let last = parts.last_mut().expect("the ok count");
                let _ = write!(last, " ({})", said.join(", "));
            }
        }
    }
    let lines: u64 = model.workers.iter().map(|w| w.lines).sum();
    let bytes: u64 = model.workers.iter().map(|w| w.bytes).sum();
    let mut line = format!(
        "{} · {} · {}",
        parts.join(", "),
        fmt::counted(lines, "line"),
        fmt::bytes(bytes)
    );
    let usage = fmt::usage(&model.total_usage());
    if !usage.is_empty() {
        line.push_str(&format!(" · {usage}"));
    }
    line.push('\n');
    let lost: u64 = model.workers.iter().map(|w| w.lost).sum();
    if lost > 0 {
        line.push_str(&format!("lost: {lost} events are missing (seq gaps)\n"));
    }
    if model.malformed > 0 {
        line.push_str(&format!(
            "{} line{} of the stream {} not sc events (first: {})\n",
            model.malformed,
            if model.malformed == 1 { "" } else { "s" },
            if model.malformed == 1 { "was" } else { "were" },
            model.first_malformed.as_deref().unwrap_or("?")
        ));
    }
    if model.workers.is_empty() {
        line.push_str("the stream had no workers: nothing ran\n");
    }
    if let Some(signal) = &model.interrupted {
        let open = model
            .workers
            .iter()
            .filter(|w| !w.status.is_final())
            .count();
        if open == 0 {
            line.push_str(&format!("interrupted ({signal})\n"));
        } else {
            line.push_str(&format!(
                "interrupted ({signal}): {open} worker{} had not ended\n",
                if open == 1 { "" } else { "s" }
            ));
        }
    }
    line
}
