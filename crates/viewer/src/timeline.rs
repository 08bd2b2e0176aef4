//! `sc-view --timeline FILE.svg`: the run drawn as a timeline, one lane per
//! worker (nested ones under their parent): the time a task waited for its
//! dependencies, the time it ran coloured by how it ended, retries and
//! stalls marked, arrows from each dependency's end to the task's start,
//! and for agents their cost and tokens. A self-contained SVG (no script,
//! no external font or file): it opens in a browser and embeds in a README
//! or a CI artifact; hovering a bar shows its details (`<title>`).

use std::collections::HashMap;
use std::fmt::Write as _;

use crate::event::ViewEvent;
use crate::junit::escape;
use crate::model::{Model, Status};

/// What the timeline needs of each worker, in the order they appeared.
#[derive(Debug, Default)]
pub struct Timeline {
    lanes: Vec<Lane>,
    index: HashMap<String, usize>,
    first: Option<f64>,
    /// The first event other than a task: a plan's task lines keep the
    /// time they were written, which a hand-written plan sets as it likes.
    first_run: Option<f64>,
    last: f64,
}

#[derive(Debug, Default)]
struct Lane {
    id: String,
    queued_at: Option<f64>,
    starts: Vec<f64>,
    retries: Vec<f64>,
    stalls: Vec<f64>,
    end: Option<f64>,
    depends_on: Vec<String>,
}

const WIDTH: f64 = 1100.0;
const LABEL: f64 = 290.0;
const RIGHT: f64 = 240.0;
/// About the width of a character at 12 px, to keep labels in their column.
const CHAR: f64 = 6.8;

/// `text` cut to `room` pixels, with an ellipsis when cut.
fn fit(text: &str, room: f64) -> String {
    let most = (room / CHAR).max(1.0) as usize;
    if text.chars().count() <= most {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(most.saturating_sub(1)).collect();
    cut.push('…');
    cut
}
const LANE: f64 = 26.0;
const TOP: f64 = 40.0;

impl Timeline {
    pub fn event(&mut self, event: &ViewEvent<'_>) {
        let ts = event.ts;
        if !ts.is_finite() {
            return;
        }
        self.first = Some(self.first.map_or(ts, |f| f.min(ts)));
        if event.type_name != "task" {
            self.first_run = Some(self.first_run.map_or(ts, |f| f.min(ts)));
        }
        self.last = self.last.max(ts);
        let index = match self.index.get(event.worker.as_ref()) {
            Some(&index) => index,
            None => {
                self.lanes.push(Lane {
                    id: event.worker.to_string(),
                    ..Lane::default()
                });
                self.index
                    .insert(event.worker.to_string(), self.lanes.len() - 1);
                self.lanes.len() - 1
            }
        };
        let lane = &mut self.lanes[index];
        match event.type_name.as_ref() {
            "task" => {
                lane.queued_at.get_or_insert(ts);
                lane.depends_on = event.depends_on.clone().unwrap_or_default();
            }
            "start" => lane.starts.push(ts),
            "retry" => lane.retries.push(ts),
            "stall" => lane.stalls.push(ts),
            "exit" | "skip" => lane.end = Some(ts),
            _ => {}
        }
    }

    /// Lanes with each nested worker (`parent/child`) after its parent.
    fn ordered(&self) -> Vec<&Lane> {
        let root = |id: &str| id.split('/').next().unwrap_or(id).to_owned();
        let mut first_of: HashMap<String, usize> = HashMap::new();
        for (i, lane) in self.lanes.iter().enumerate() {
            first_of.entry(root(&lane.id)).or_insert(i);
        }
        let mut lanes: Vec<(usize, usize, &Lane)> = self
            .lanes
            .iter()
            .enumerate()
            .map(|(i, lane)| (first_of[&root(&lane.id)], i, lane))
            .collect();
        lanes.sort_by_key(|&(group, i, _)| (group, i));
        lanes.into_iter().map(|(_, _, lane)| lane).collect()
    }

    /// The SVG.
    pub fn render(&self, model: &Model) -> String {
        let lanes = self.ordered();
        let first = self.first_run.or(self.first).unwrap_or(0.0);
        let span = (self.last - first).max(0.001);
        let chart = WIDTH - LABEL - RIGHT;
        let x = |ts: f64| LABEL + ((ts - first) / span).clamp(0.0, 1.0) * chart;
        let height = TOP + lanes.len() as f64 * LANE + 50.0;
        let mut svg = String::new();
        let _ = writeln!(
            svg,
            r##"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="12">"##
        );
        svg.push_str(concat!(
            r##"<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" markerHeight="6" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker>"##,
            r##"<pattern id="queued" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#eceff1"/><line x1="0" y1="0" x2="0" y2="6" stroke="#b0bec5" stroke-width="2"/></pattern></defs>"##,
            "\n",
            r##"<rect width="100%" height="100%" fill="#ffffff"/>"##,
            "\n"
        ));
        // The time axis: five ticks.
        for i in 0..=5 {
            let t = span * f64::from(i) / 5.0;
            let tx = LABEL + chart * f64::from(i) / 5.0;
            let _ = writeln!(
                svg,
                r##"<line x1="{tx:.1}" y1="{:.1}" x2="{tx:.1}" y2="{:.1}" stroke="#e0e0e0"/><text x="{tx:.1}" y="{:.1}" text-anchor="middle" fill="#555">{}</text>"##,
                TOP - 8.0,
                TOP + lanes.len() as f64 * LANE,
                TOP - 14.0,
                crate::fmt::duration(t)
            );
        }
        let mut row_of: HashMap<&str, usize> = HashMap::new();
        for (row, lane) in lanes.iter().enumerate() {
            row_of.insert(&lane.id, row);
        }
        for (row, lane) in lanes.iter().enumerate() {
            let y = TOP + row as f64 * LANE;
            let worker = model.get(&lane.id);
            let status = worker.map_or(Status::Running, |w| w.status);
            let depth = lane.id.matches('/').count() as f64;
            let room = LABEL - 16.0 - depth * 14.0;
            let name = fit(lane.id.rsplit('/').next().unwrap_or(&lane.id), room);
            let role = worker
                .and_then(|w| w.role.as_deref().or(w.kind.as_deref()))
                .map(|r| {
                    fit(
                        &format!(" · {r}"),
                        room - name.chars().count() as f64 * CHAR,
                    )
                })
                .filter(|r| r.chars().count() > 3)
                .unwrap_or_default();
            if row % 2 == 1 {
                let _ = writeln!(
                    svg,
                    r##"<rect x="0" y="{y:.1}" width="{WIDTH}" height="{LANE}" fill="#fafafa"/>"##
                );
            }
            let _ = writeln!(
                svg,
                r##"<text x="{:.1}" y="{:.1}" fill="#222">{}<tspan fill="#888">{}</tspan></text>"##,
                8.0 + depth * 14.0,
                y + 17.0,
                escape(&name),
                escape(&role)
            );
            let end = lane.end.unwrap_or(self.last);
            if let (Some(queued), Some(&start)) = (lane.queued_at, lane.starts.first())
                && start > queued.max(first)
            {
                let queued = queued.max(first);
                let _ = writeln!(
                    svg,
                    r##"<rect class="queued" x="{:.1}" y="{:.1}" width="{:.1}" height="12" fill="url(#queued)"><title>{} waited {}</title></rect>"##,
                    x(queued),
                    y + 7.0,
                    (x(start) - x(queued)).max(1.0),
                    escape(&lane.id),
                    crate::fmt::duration(start - queued)
                );
            }
            let colour = match status {
                Status::Succeeded => "#2e7d32",
                Status::Failed => "#c62828",
                Status::TimedOut => "#ef6c00",
                Status::Skipped => "#9e9e9e",
                _ => "#1565c0",
            };
            // One bar per attempt: from its start to the next retry or the end.
            for (i, &start) in lane.starts.iter().enumerate() {
                let stop = lane
                    .retries
                    .iter()
                    .copied()
                    .find(|&r| r >= start)
                    .filter(|_| i + 1 < lane.starts.len())
                    .unwrap_or(end);
                let failed_attempt = i + 1 < lane.starts.len();
                let fill = if failed_attempt { "#e57373" } else { colour };
                let _ = writeln!(
                    svg,
                    r##"<rect class="run" x="{:.1}" y="{:.1}" width="{:.1}" height="16" rx="3" fill="{fill}"><title>{} attempt {}: {}</title></rect>"##,
                    x(start),
                    y + 5.0,
                    (x(stop) - x(start)).max(2.0),
                    escape(&lane.id),
                    i + 1,
                    crate::fmt::duration(stop - start)
                );
            }
            if status == Status::Skipped && lane.starts.is_empty() {
                let at = lane.end.or(lane.queued_at).unwrap_or(first);
                let reason = worker
                    .and_then(|w| w.skip_reason.clone())
                    .unwrap_or_default();
                let _ = writeln!(
                    svg,
                    r##"<text class="skip" x="{:.1}" y="{:.1}" fill="#9e9e9e">⊘ skipped<title>{}</title></text>"##,
                    x(at) + 2.0,
                    y + 17.0,
                    escape(&reason)
                );
            }
            for &retry in &lane.retries {
                let _ = writeln!(
                    svg,
                    r##"<text class="retry" x="{:.1}" y="{:.1}" fill="#333" text-anchor="middle">↻<title>retry</title></text>"##,
                    x(retry),
                    y + 4.0
                );
            }
            for &stall in &lane.stalls {
                let sx = x(stall);
                let _ = writeln!(
                    svg,
                    r##"<path class="stall" d="M{sx:.1},{:.1} l-5,-7 h10 z" fill="#f9a825"><title>stalled</title></path>"##,
                    y + 5.0
                );
            }
            // Right column: duration, and an agent's cost and tokens.
            let mut note = worker
                .filter(|w| w.start_ts.is_some())
                .map(|w| crate::fmt::duration(w.elapsed()))
                .unwrap_or_default();
            if let Some(w) = worker
                && (w.usage.cost_usd.is_some() || w.usage.input_tokens.is_some())
            {
                let _ = write!(note, " · {}", crate::fmt::usage(&w.usage));
            }
            let _ = writeln!(
                svg,
                r##"<text x="{:.1}" y="{:.1}" fill="#444">{}</text>"##,
                WIDTH - RIGHT + 8.0,
                y + 17.0,
                escape(&fit(&note, RIGHT - 12.0))
            );
        }
        // Dependencies: from the end of each dependency's bar to the start
        // of the task's first one.
        for lane in &lanes {
            let (Some(&to_row), Some(&start)) = (row_of.get(lane.id.as_str()), lane.starts.first())
            else {
                continue;
            };
            for dep in &lane.depends_on {
                let Some(&from_row) = row_of.get(dep.as_str()) else {
                    continue;
                };
                let Some(from_end) = lanes[from_row].end else {
                    continue;
                };
                let (x1, y1) = (x(from_end), TOP + from_row as f64 * LANE + 13.0);
                let (x2, y2) = (x(start), TOP + to_row as f64 * LANE + 13.0);
                let _ = writeln!(
                    svg,
                    r##"<path class="dep" d="M{x1:.1},{y1:.1} C{:.1},{y1:.1} {:.1},{y2:.1} {x2:.1},{y2:.1}" fill="none" stroke="#555" stroke-width="1.2" marker-end="url(#arrow)"/>"##,
                    x1 + 12.0,
                    x2 - 12.0
                );
            }
        }
        // The legend.
        let ly = height - 22.0;
        let mut lx = LABEL;
        for (fill, text) in [
            ("url(#queued)", "waiting for dependencies"),
            ("#2e7d32", "succeeded"),
            ("#c62828", "failed"),
            ("#ef6c00", "timed out"),
            ("#e57373", "failed attempt (retried)"),
            ("#1565c0", "running"),
        ] {
            let _ = writeln!(
                svg,
                r##"<rect x="{lx:.1}" y="{:.1}" width="14" height="10" fill="{fill}"/><text x="{:.1}" y="{ly:.1}" fill="#444">{text}</text>"##,
                ly - 9.0,
                lx + 18.0
            );
            lx += 26.0 + text.len() as f64 * 6.4;
        }
        svg.push_str("</svg>\n");
        svg
    }
}
