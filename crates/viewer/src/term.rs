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
    tail_lines: usize,
    /// Rows the terminal has room for (running workers beyond wait).
    max_rows: usize,
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
        // The summary row, and a spare line; each worker takes 1 + tail.
        let max_rows = (height.saturating_sub(2) / (1 + tail_lines)).max(1);
        TermView {
            mp,
            rows: Vec::new(),
            summary,
            tail_lines,
            max_rows,
            waiting: VecDeque::new(),
            dirty: HashSet::new(),
            id_width: 8,
            palette,
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

    /// Give a running worker a row, if it has none and there is room.
    fn show(&mut self, model: &Model, index: usize) {
        if self.rows.len() <= index {
            self.rows.resize_with(index + 1, || None);
        }
        if self.rows[index].is_some() || self.waiting.contains(&index) {
            return;
        }
        let shown = self.rows.iter().filter(|r| r.is_some()).count();
        if shown >= self.max_rows {
            self.waiting.push_back(index);
            return;
        }
        let id_len = model.workers[index].id.chars().count().min(32);
        self.id_width = self.id_width.max(id_len);
        let bar = self.mp.insert_before(&self.summary, ProgressBar::new(1000));
        bar.set_style(style("{spinner:.cyan} {prefix} {wide_msg}"));
        let mut tail = Vec::with_capacity(self.tail_lines);
        for _ in 0..self.tail_lines {
            let line = self
                .mp
                .insert_before(&self.summary, ProgressBar::new_spinner());
            line.set_style(style("    {wide_msg:.dim}"));
            tail.push(line);
        }
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
        let _ = self.mp.println(format!(
            "{} {}",
            self.padded_id(w),
            end_summary(w, &self.palette)
        ));
        self.dirty.remove(&index);
        if let Some(next) = self.waiting.pop_front() {
            self.show(model, next);
        }
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
        self.summary
            .set_message(summary(model, self.waiting.len(), now, &self.palette));
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
    let mut parts = vec![
        format!("running {}", count(Status::Running)),
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
    if waiting > 0 {
        parts.push(format!(
            "{waiting} running without a row (terminal too small)"
        ));
    }
    let usage = fmt::usage(&model.total_usage());
    if !usage.is_empty() {
        parts.push(usage);
    }
    let bold = palette.bold;
    format!("{bold}{}{bold:#}", parts.join(" · "))
}
