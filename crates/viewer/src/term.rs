//! The live terminal view: a row per running worker (indicatif), its last
//! lines under it, and a summary row; finished workers leave a line above.
//!
//! Redrawing is decoupled from reading: [`TermView::render`] only records
//! what changed, and [`TermView::refresh`] (called at most 20 times a
//! second by the reader's loop) brings the rows up to date, so a fast
//! stream is consumed at full speed and the screen shows its latest state.

use std::collections::{HashSet, VecDeque};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::fmt::{self, Palette};
use crate::model::{Change, Model, Status, Worker};
use crate::plain::end_summary;

const SPINNER: &[&str] = &["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏", "⠿"];

struct Row {
    bar: ProgressBar,
    tail: Vec<ProgressBar>,
    with_bar: bool,
}

pub struct TermView {
    mp: MultiProgress,
    rows: Vec<Option<Row>>,
    summary: ProgressBar,
    /// Last lines under a row when there is room (`--lines`).
    tail_lines: usize,
    /// Last lines under each row now: fewer when many workers run.
    tail_now: usize,
    /// The terminal's height.
    height: usize,
    /// `--failures-only`: a worker that passed leaves no line.
    quiet: bool,
    /// The signal that is ending the run, once one came.
    ending: Option<&'static str>,
    /// Running workers without a row yet, in start order.
    waiting: VecDeque<usize>,
    dirty: HashSet<usize>,
    id_width: usize,
    palette: Palette,
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_spinner())
        .tick_strings(SPINNER)
}

impl TermView {
    /// A view drawing to `target`, `height` lines tall at most.
    pub fn new(
        target: ProgressDrawTarget,
        height: usize,
        tail_lines: usize,
        palette: Palette,
    ) -> TermView {
        let mp = MultiProgress::with_draw_target(target);
        let summary = mp.add(ProgressBar::new_spinner());
        summary.set_style(style("{wide_msg}"));
        TermView {
            mp,
            rows: Vec::new(),
            summary,
            tail_lines,
            tail_now: tail_lines,
            height,
            quiet: false,
            ending: None,
            waiting: VecDeque::new(),
            dirty: HashSet::new(),
            id_width: 8,
            palette,
        }
    }

    /// `--failures-only`: workers that passed leave no line.
    pub fn failures_only(mut self) -> TermView {
        self.quiet = true;
        self
    }

    /// `signal` came (Ctrl-C, to the whole pipeline): the run is ending.
    /// The summary row says so, and how to end it at once — in place of
    /// sc-spawn's own line, which the rows would draw over.
    pub fn ending(&mut self, signal: &'static str) {
        self.ending = Some(signal);
    }

    /// The terminal is now `height` lines tall.
    pub fn resize(&mut self, model: &Model, height: usize) {
        if height != self.height {
            self.height = height;
            self.relayout(model);
        }
    }

    /// Record a change; structural ones (a worker starts or ends) apply now.
    pub fn render(&mut self, model: &Model, change: &Change) {
        match change {
            Change::Started(i) => self.show(model, *i),
            Change::Line { worker, .. }
            | Change::Partial(worker)
            | Change::Progress(worker)
            | Change::Error { worker, .. }
            | Change::Stalled { worker, .. }
            | Change::Lost { worker, .. } => {
                if model.workers[*worker].status == Status::Running {
                    self.show(model, *worker);
                }
                self.dirty.insert(*worker);
            }
            Change::Ended(i) | Change::Skipped(i) => self.end(model, *i),
            Change::Queued(_) => {}
        }
    }

    /// A running worker gets a row, when there is room for it.
    fn show(&mut self, model: &Model, index: usize) {
        if self.rows.len() <= index {
            self.rows.resize_with(index + 1, || None);
        }
        if self.rows[index].is_some() || self.waiting.contains(&index) {
            return;
        }
        self.waiting.push_back(index);
        self.relayout(model);
    }

    /// Fit the running workers to the terminal: fewer last lines under
    /// each row as more run, then one line each, then rows for as many as
    /// fit and a count of the rest (in the summary row).
    fn relayout(&mut self, model: &Model) {
        let shown = self.rows.iter().filter(|r| r.is_some()).count();
        let (tail, capacity) = fit(shown + self.waiting.len(), self.tail_lines, self.height);
        if tail != self.tail_now {
            self.tail_now = tail;
            for index in 0..self.rows.len() {
                if let Some(row) = self.rows[index].as_mut() {
                    while row.tail.len() > tail {
                        let line = row.tail.remove(0);
                        line.finish_and_clear();
                        self.mp.remove(&line);
                    }
                    while row.tail.len() < tail {
                        let after = row.tail.last().unwrap_or(&row.bar).clone();
                        let line = self.mp.insert_after(&after, tail_line());
                        row.tail.push(line);
                    }
                    self.dirty.insert(index);
                }
            }
        }
        let mut shown = shown;
        while shown < capacity {
            let Some(next) = self.waiting.pop_front() else {
                break;
            };
            self.add_row(model, next);
            shown += 1;
        }
    }

    fn add_row(&mut self, model: &Model, index: usize) {
        let id_len = model.workers[index].id.chars().count().min(32);
        self.id_width = self.id_width.max(id_len);
        let bar = self.mp.insert_before(&self.summary, ProgressBar::new(1000));
        bar.set_style(style("{spinner:.cyan} {prefix} {wide_msg}"));
        let tail = (0..self.tail_now)
            .map(|_| self.mp.insert_before(&self.summary, tail_line()))
            .collect();
        self.rows[index] = Some(Row {
            bar,
            tail,
            with_bar: false,
        });
        self.dirty.insert(index);
    }

    /// A worker ended: its row becomes a line above the live area.
    fn end(&mut self, model: &Model, index: usize) {
        self.waiting.retain(|&i| i != index);
        if let Some(Some(row)) = self.rows.get_mut(index).map(Option::take) {
            for line in row.tail {
                line.finish_and_clear();
                self.mp.remove(&line);
            }
            row.bar.finish_and_clear();
            self.mp.remove(&row.bar);
        }
        let w = &model.workers[index];
        if !(self.quiet && w.status.passed()) {
            let _ = self.mp.println(format!(
                "{} {}",
                self.padded_id(w),
                end_summary(w, &self.palette)
            ));
        }
        self.dirty.remove(&index);
        self.relayout(model);
    }

    fn padded_id(&self, w: &Worker) -> String {
        let id: String = w.id.chars().take(32).collect();
        let role = w
            .role
            .as_deref()
            .or(w.kind.as_deref())
            .filter(|k| *k != "shell");
        let width = self.id_width;
        match role {
            Some(role) => {
                let dim = self.palette.dim;
                format!("{id:<width$} {dim}{role}{dim:#}")
            }
            None => format!("{id:<width$}"),
        }
    }

    /// Bring the rows and the summary up to date. `now` is the stream's
    /// clock (wall time when live), for elapsed times.
    pub fn refresh(&mut self, model: &Model, now: f64) {
        let dirty: Vec<usize> = self.dirty.drain().collect();
        for index in dirty {
            let prefix = self.padded_id(&model.workers[index]);
            let Some(Some(row)) = self.rows.get_mut(index) else {
                continue;
            };
            let w = &model.workers[index];
            if let Some(percent) = w.progress {
                if !row.with_bar {
                    row.bar.set_style(style(
                        "{spinner:.cyan} {prefix} [{bar:20.cyan/blue}] {percent:>3}% {wide_msg}",
                    ));
                    row.with_bar = true;
                }
                row.bar
                    .set_position((percent.clamp(0.0, 100.0) * 10.0) as u64);
            }
            row.bar.set_prefix(prefix);
            row.bar.set_message(row_message(w, now));
            let skip = self.tail_lines.saturating_sub(w.tail.len());
            for (slot, line) in row.tail.iter().enumerate() {
                let text = slot.checked_sub(skip).and_then(|i| w.tail.get(i));
                line.set_message(text.cloned().unwrap_or_default());
            }
        }
        // Elapsed times move on even when nothing is written.
        for (index, row) in self.rows.iter().enumerate() {
            if let Some(row) = row {
                row.bar.set_message(row_message(&model.workers[index], now));
            }
        }
        let mut line = summary(model, self.waiting.len(), now, &self.palette);
        if let Some(signal) = self.ending {
            let warn = self.palette.warn;
            let again = if signal == "SIGINT" {
                "Ctrl-C again ends them at once"
            } else {
                "the signal again ends them at once"
            };
            line = format!("{warn}{signal}: the workers are ending · {again}{warn:#} · {line}");
        }
        self.summary.set_message(line);
    }

    /// Clear the live area (the finished lines above stay).
    pub fn finish(&mut self, model: &Model) {
        for index in 0..self.rows.len() {
            if self.rows[index].is_some() {
                self.end(model, index);
            }
        }
        self.summary.finish_and_clear();
        let _ = self.mp.clear();
    }
}

fn tail_line() -> ProgressBar {
    let line = ProgressBar::new_spinner();
    line.set_style(style("    {wide_msg:.dim}"));
    line
}

/// For `running` workers in a terminal `height` lines tall: how many last
/// lines go under each row (`tail_lines` at most), and how many rows there
/// is room for. The summary row and a spare line are left free.
fn fit(running: usize, tail_lines: usize, height: usize) -> (usize, usize) {
    let room = height.saturating_sub(2).max(1);
    let tail = (0..=tail_lines)
        .rev()
        .find(|tail| running * (1 + tail) <= room)
        .unwrap_or(0);
    (tail, room / (1 + tail))
}

fn row_message(w: &Worker, now: f64) -> String {
    let start = w.start_ts.unwrap_or(w.first_ts);
    let elapsed = (now - start).max(w.last_ts - start).max(0.0);
    let usage = fmt::usage(&w.usage);
    let usage = if usage.is_empty() {
        String::new()
    } else {
        format!("{usage} · ")
    };
    // Waiting for an answer says so, and what it waits for, first.
    let latest = match w.asking.first() {
        Some(ask) => format!("⏸ needs input: {} ({})", ask.what, ask.id),
        None => w.latest.clone(),
    };
    format!(
        "{} · {} · {usage}{latest}",
        fmt::counted(w.lines, "line"),
        fmt::duration(elapsed),
    )
}

fn summary(model: &Model, waiting: usize, now: f64, palette: &Palette) -> String {
    let count = |status: Status| model.workers.iter().filter(|w| w.status == status).count();
    let failed = count(Status::Failed) + count(Status::TimedOut);
    let queued: Vec<&str> = model
        .workers
        .iter()
        .filter(|w| w.status == Status::Queued)
        .map(|w| w.id.as_str())
        .collect();
    let queued = match queued.len() {
        0 => "queued 0".to_owned(),
        1..=3 => format!("queued {} ({})", queued.len(), queued.join(", ")),
        n => format!("queued {n} ({}, …)", queued[..3].join(", ")),
    };
    // Workers without a row are counted first, where a narrow terminal
    // does not cut them off.
    let running = match waiting {
        0 => format!("running {}", count(Status::Running)),
        n => format!("running {} ({n} without a row)", count(Status::Running)),
    };
    let mut parts = vec![
        running,
        format!("done {}", count(Status::Succeeded)),
        format!("failed {failed}"),
        queued,
    ];
    if let Some(eta) = model.eta(now) {
        parts.push(format!("ETA {}", fmt::duration(eta)));
    }
    if count(Status::Skipped) > 0 {
        parts.push(format!("skipped {}", count(Status::Skipped)));
    }
    let asking = model
        .workers
        .iter()
        .filter(|w| !w.asking.is_empty())
        .count();
    if asking > 0 {
        parts.push(format!("{asking} need input"));
        // The oldest open ask that can be answered from here.
        if let Some(ask) = model.oldest_ask() {
            parts.push(format!("a: allow, d: deny {}", ask.id));
        }
    }
    let usage = fmt::usage(&model.total_usage());
    if !usage.is_empty() {
        parts.push(usage);
    }
    let bold = palette.bold;
    format!("{bold}{}{bold:#}", parts.join(" · "))
}

#[cfg(test)]
mod tests {
    use super::fit;

    #[test]
    fn rows_give_up_their_last_lines_before_workers_lose_their_rows() {
        // 100×20, --lines 3: 18 lines for rows.
        assert_eq!(fit(3, 3, 20), (3, 4), "room for all of it");
        assert_eq!(fit(8, 3, 20), (1, 9), "a last line each");
        assert_eq!(fit(12, 3, 20), (0, 18), "one line each");
        assert_eq!(fit(30, 3, 20), (0, 18), "rows for 18, the rest counted");
        assert_eq!(fit(1, 3, 2), (0, 1), "always a row");
    }
}
