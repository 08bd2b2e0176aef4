//! `sc-view --timeline FILE.svg`: the run drawn as a timeline, one lane per
//! worker (nested ones under their parent): the time a task waited for its
//! dependencies, the time it ran coloured by how it ended, retries and
//! stalls marked, arrows from each dependency's end to the task's start,
//! and for agents the moments that matter — each tool call, each ask and
//! how long it waited for its answer, the result — and their cost and
//! tokens. A self-contained SVG (no script,
//! no external font or file): it opens in a browser and embeds in a README
//! or a CI artifact; hovering a bar shows its details (`<title>`).

use std::collections::HashMap;
use std::fmt::Write as _;

use crate::event::ViewEvent;
use crate::junit::escape;
use crate::model::{Model, Status};

mod axis;

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
    /// When each failed attempt ended, and why.
    retries: Vec<(f64, String)>,
    stalls: Vec<f64>,
    end: Option<f64>,
    depends_on: Vec<String>,
    /// An agent's tool calls: when, and what (`Bash: cargo test`).
    tools: Vec<(f64, String)>,
    /// Its asks: asked when, answered when (and how), what.
    asks: Vec<Ask>,
    /// Its result: when, and whether it was ok.
    result: Option<(f64, bool)>,
}

#[derive(Debug)]
struct Ask {
    id: String,
    at: f64,
    answered: Option<(f64, String)>,
    what: String,
}

/// The most tool calls drawn on one lane: a long agent run's ticks would
/// only blur into one another.
const MOST_TOOLS: usize = 400;

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

/// Where each legend entry goes: its x and its row, labels never
/// overlapping (a label takes about CHAR a character).
fn legend_layout<'a>(texts: impl Iterator<Item = &'a str>) -> Vec<(f64, usize)> {
    let (mut x, mut row) = (LABEL, 0);
    let mut placed = Vec::new();
    for text in texts {
        let width = 18.0 + text.chars().count() as f64 * CHAR + 16.0;
        if x + width > WIDTH - 8.0 && x > LABEL {
            x = LABEL;
            row += 1;
        }
        placed.push((x, row));
        x += width;
    }
    placed
}

/// An agent's moments on its lane: a tick per tool call, an amber band
/// from each ask to its answer (how long it waited), a diamond at its
/// result; each says what it was on hover.
fn moments_drawn(svg: &mut String, lane: &Lane, y: f64, x: &dyn Fn(f64) -> f64) {
    for (at, what) in &lane.tools {
        let tx = x(*at);
        let _ = writeln!(
            svg,
            r##"<line class="tool" x1="{tx:.1}" y1="{:.1}" x2="{tx:.1}" y2="{:.1}" stroke="#ffffff" stroke-width="1.5"><title>{}</title></line>"##,
            y + 7.0,
            y + 19.0,
            escape(what)
        );
    }
    let end = lane.end.unwrap_or(f64::MAX);
    for ask in &lane.asks {
        let (until, how) = match &ask.answered {
            Some((at, how)) => (*at, how.clone()),
            None => (end, "no answer".to_owned()),
        };
        if !until.is_finite() || until == f64::MAX {
            continue;
        }
        let _ = writeln!(
            svg,
            r##"<rect class="ask" x="{:.1}" y="{:.1}" width="{:.1}" height="8" fill="#ffb300"><title>asked: {} · waited {} · {}</title></rect>"##,
            x(ask.at),
            y + 9.0,
            (x(until) - x(ask.at)).max(2.0),
            escape(&ask.what),
            crate::fmt::duration(until - ask.at),
            escape(&how)
        );
    }
    if let Some((at, ok)) = lane.result {
        let fill = if ok { "#1b5e20" } else { "#b71c1c" };
        let _ = writeln!(
            svg,
            r##"<path class="result" d="M{:.1},{:.1} l6,6 l-6,6 l-6,-6 z" fill="{fill}" stroke="#ffffff" stroke-width="1"><title>result: {}</title></path>"##,
            x(at),
            y + 7.0,
            if ok { "ok" } else { "failed" }
        );
    }
}
const TOP: f64 = 40.0;

/// An agent annotation's moments: tool calls (and those it carries in
/// `also`), and results.
fn moments(lane: &mut Lane, ts: f64, raw: &str) {
    let Ok(note) = serde_json::from_str::<serde_json::Value>(raw) else {
        return;
    };
    let also = note["also"].as_array().cloned().unwrap_or_default();
    for note in std::iter::once(&note).chain(&also) {
        match note["kind"].as_str() {
            Some("tool_call") if lane.tools.len() < MOST_TOOLS => {
                let tool = note["tool"].as_str().unwrap_or("tool");
                let what = crate::agent::summary(note.get("input"));
                lane.tools.push((ts, format!("{tool}: {what}")));
            }
            Some("result") => lane.result = Some((ts, note["ok"] != false)),
            _ => {}
        }
    }
}

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
            "retry" => {
                let why = event.reason.as_deref().unwrap_or("it failed").to_owned();
                lane.retries.push((ts, why));
            }
            "stall" => lane.stalls.push(ts),
            "exit" | "skip" => lane.end = Some(ts),
            "output" => {
                if let Some(raw) = event.agent {
                    moments(lane, ts, raw.get());
                }
            }
            "ask" => lane.asks.push(Ask {
                id: event.ask.as_deref().unwrap_or("").to_owned(),
                at: ts,
                answered: None,
                what: event.tool.as_deref().unwrap_or("a decision").to_owned(),
            }),
            "answer" => {
                let id = event.ask.as_deref().unwrap_or("");
                if let Some(ask) = lane.asks.iter_mut().find(|a| a.id == id) {
                    let how = format!(
                        "{} by {}",
                        event.decision.as_deref().unwrap_or("?"),
                        event.by.as_deref().unwrap_or("?")
                    );
                    ask.answered = Some((ts, how));
                }
            }
            _ => {}
        }
    }

    /// Whether any lane has agent moments (their legend is drawn then).
    fn has_agents(&self) -> bool {
        self.lanes
            .iter()
            .any(|l| !l.tools.is_empty() || !l.asks.is_empty() || l.result.is_some())
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
        // The legend: the outcomes, and an agent's moments when there are
        // agents; each label given the room its text takes, in rows.
        let mut legend = vec![
            ("rect", "url(#queued)", "waiting for dependencies"),
            ("rect", "#2e7d32", "succeeded"),
            ("rect", "#c62828", "failed"),
            ("rect", "#ef6c00", "timed out"),
            ("rect", "#e57373", "failed attempt (retried)"),
            ("rect", "#1565c0", "running"),
        ];
        if self.has_agents() {
            legend.extend([
                ("tick", "#ffffff", "tool call"),
                ("rect", "#ffb300", "waiting for an answer"),
                ("diamond", "#1b5e20", "agent's result"),
            ]);
        }
        let placed = legend_layout(legend.iter().map(|(_, _, text)| *text));
        let rows = placed.last().map_or(1, |(_, row)| row + 1);
        let height = TOP + lanes.len() as f64 * LANE + 50.0 + (rows - 1) as f64 * 18.0;
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
        // The time axis: ticks at round values.
        let step = axis::step(span);
        for t in axis::ticks(span) {
            let tx = x(first + t);
            let _ = writeln!(
                svg,
                r##"<line x1="{tx:.1}" y1="{:.1}" x2="{tx:.1}" y2="{:.1}" stroke="#e0e0e0"/><text x="{tx:.1}" y="{:.1}" text-anchor="middle" fill="#555">{}</text>"##,
                TOP - 8.0,
                TOP + lanes.len() as f64 * LANE,
                TOP - 14.0,
                axis::label(t, step)
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
            // One bar per attempt: from its start to its retry or the end;
            // a failed attempt in pale red, the pause before the next as a
            // thin line.
            for (i, &start) in lane.starts.iter().enumerate() {
                let failed = lane.retries.get(i).filter(|_| i + 1 < lane.starts.len());
                let stop = failed.map_or(end, |(at, _)| *at).max(start);
                let (fill, what) = match failed {
                    Some((_, why)) => ("#e57373", format!("failed: {why}")),
                    None => (colour, crate::fmt::duration(stop - start)),
                };
                let _ = writeln!(
                    svg,
                    r##"<rect class="run" x="{:.1}" y="{:.1}" width="{:.1}" height="16" rx="3" fill="{fill}"><title>{} attempt {}: {}</title></rect>"##,
                    x(start),
                    y + 5.0,
                    (x(stop) - x(start)).max(2.0),
                    escape(&lane.id),
                    i + 1,
                    escape(&what)
                );
                if let (Some(_), Some(&next)) = (failed, lane.starts.get(i + 1)) {
                    let _ = writeln!(
                        svg,
                        r##"<line class="pause" x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#e57373" stroke-dasharray="3,2"><title>waiting {} before attempt {}</title></line>"##,
                        x(stop),
                        y + 13.0,
                        x(next),
                        y + 13.0,
                        crate::fmt::duration(next - stop),
                        i + 2
                    );
                }
            }
            moments_drawn(&mut svg, lane, y, &x);
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
            for &(retry, _) in &lane.retries {
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
        for ((shape, fill, text), (lx, row)) in legend.iter().zip(&placed) {
            let ly = height - 22.0 - (rows - 1 - row) as f64 * 18.0;
            let mark = match *shape {
                "tick" => format!(
                    r##"<rect x="{lx:.1}" y="{:.1}" width="14" height="10" fill="#2e7d32"/><line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{fill}" stroke-width="2"/>"##,
                    ly - 9.0,
                    lx + 7.0,
                    ly - 9.0,
                    lx + 7.0,
                    ly + 1.0
                ),
                "diamond" => format!(
                    r##"<path d="M{:.1},{:.1} l5,5 l-5,5 l-5,-5 z" fill="{fill}"/>"##,
                    lx + 7.0,
                    ly - 9.0
                ),
                _ => format!(
                    r##"<rect x="{lx:.1}" y="{:.1}" width="14" height="10" fill="{fill}"/>"##,
                    ly - 9.0
                ),
            };
            let _ = writeln!(
                svg,
                r##"<g class="legend">{mark}<text x="{:.1}" y="{ly:.1}" fill="#444">{text}</text></g>"##,
                lx + 18.0
            );
        }
        svg.push_str("</svg>\n");
        svg
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_agents_lane_shows_its_tool_calls_asks_and_result() {
        let lines = [
            r#"{"type":"start","worker":"fix","seq":0,"ts":10.0,"argv":["claude"],"pid":1,"cwd":"/","kind":"claude-code","pty":false,"schema":1}"#,
            r#"{"type":"output","worker":"fix","seq":1,"ts":10.5,"stream":"stdout","text":"{}\n","agent":{"kind":"tool_call","id":"t","tool":"Bash","input":{"command":"cargo test"}}}"#,
            r#"{"type":"ask","worker":"fix","seq":2,"ts":11.0,"ask":"fix/1","tool":"Bash","input":{"command":"rm -rf build"},"choices":["allow","deny"]}"#,
            r#"{"type":"answer","worker":"fix","seq":3,"ts":13.0,"ask":"fix/1","decision":"allow","by":"person"}"#,
            r#"{"type":"output","worker":"fix","seq":4,"ts":14.0,"stream":"stdout","text":"{}\n","agent":{"kind":"result","ok":true}}"#,
            r#"{"type":"exit","worker":"fix","seq":5,"ts":14.2,"code":0,"signal":null,"duration_ms":4200,"timed_out":false,"lines":2,"bytes":6}"#,
        ];
        let (mut timeline, mut model) = (Timeline::default(), Model::new(Default::default(), 1));
        let mut changes = Vec::new();
        for line in lines {
            let event = ViewEvent::parse(line.as_bytes()).unwrap();
            timeline.event(&event);
            model.apply(&event, &mut changes);
        }
        let svg = timeline.render(&model);
        assert_eq!(svg.matches(r#"class="tool""#).count(), 1, "{svg}");
        assert!(svg.contains("<title>Bash: cargo test</title>"), "{svg}");
        assert!(
            svg.contains("asked: Bash · waited 2.0s · allow by person"),
            "{svg}"
        );
        assert_eq!(svg.matches(r#"class="result""#).count(), 1);
        // Round ticks over the 4.2 s: 0, 1 s, … 4 s.
        for tick in [">0<", ">1 s<", ">2 s<", ">3 s<", ">4 s<"] {
            assert!(svg.contains(tick), "{tick}: {svg}");
        }
    }

    #[test]
    fn legend_labels_never_overlap() {
        let texts = [
            "waiting for dependencies",
            "succeeded",
            "failed",
            "timed out",
            "failed attempt (retried)",
            "running",
            "tool call",
            "waiting for an answer",
            "agent's result",
        ];
        let placed = legend_layout(texts.iter().copied());
        for (i, ((x, row), text)) in placed.iter().zip(texts).enumerate() {
            let end = x + 18.0 + text.len() as f64 * CHAR;
            assert!(end <= WIDTH, "{text} runs off the picture");
            if let Some((next_x, next_row)) = placed.get(i + 1)
                && next_row == row
            {
                assert!(end < *next_x, "{text} overlaps the next label");
            }
        }
    }
}
