//! The plain view: lines for CI logs and files.
//!
//! `[ID] text` for each output line (`[ID:err]` for stderr), one line when
//! a worker starts and one when it ends. `\r` redraws are collapsed by the
//! model, so a log holds the final state of a progress line, not every
//! frame. Colour codes are written only when the caller's stream keeps them
//! (anstream strips them otherwise).

use std::collections::{HashMap, VecDeque};
use std::io::{self, Write};

use crate::fmt::{self, Palette};
use crate::model::{Change, Model, Status, Worker};

pub struct Plain<W: Write> {
    out: W,
    /// GitHub Actions: each worker's output goes in a `::group::` when it
    /// ends, so a log of parallel workers reads one worker at a time.
    github: bool,
    /// `--failures-only`: a worker's lines are held until it ends, and
    /// said only if it did not pass (as cargo test shows a failed test's
    /// captured output).
    quiet: bool,
    held: HashMap<usize, Held>,
    palette: Palette,
}

/// A worker's lines held until it ends, bounded (the stream has them all).
#[derive(Default)]
struct Held {
    lines: VecDeque<String>,
    left_out: u64,
}

impl Held {
    fn push(&mut self, line: String) {
        if self.lines.len() == HELD_LINES {
            self.lines.pop_front();
            self.left_out += 1;
        }
        self.lines.push_back(line);
    }
}

impl<W: Write> Plain<W> {
    pub fn new(out: W, github: bool, palette: Palette) -> Plain<W> {
        Plain {
            out,
            github,
            quiet: false,
            held: HashMap::new(),
            palette,
        }
    }

    /// `--failures-only`: only the workers that did not pass are shown.
    pub fn failures_only(mut self) -> Plain<W> {
        self.quiet = true;
        self
    }

    /// A line about a worker: now, or held with its output.
    fn say(&mut self, worker: usize, line: String) -> io::Result<()> {
        if self.quiet {
            self.held.entry(worker).or_default().push(line);
            Ok(())
        } else {
            writeln!(self.out, "{line}")
        }
    }

    pub fn into_inner(self) -> W {
        self.out
    }

    /// Show one change.
    pub fn render(&mut self, model: &Model, change: &Change) -> io::Result<()> {
        let Palette { bad, warn, dim, .. } = self.palette;
        match change {
            Change::Queued(i) => {
                let w = &model.workers[*i];
                let what = describe_task(w);
                let line = format!("[{}] {dim}queued{dim:#}{what}", w.id);
                self.say(*i, line)
            }
            Change::Started(i) => {
                let w = &model.workers[*i];
                // An agent's command line is flags and its role's
                // instructions: the kind and role say more.
                let what = match (&w.agent, &w.kind, &w.role) {
                    (Some(_), Some(kind), Some(role)) => format!("{kind} ({role})"),
                    (Some(_), Some(kind), None) => kind.clone(),
                    _ => command_line(w, model),
                };
                let again = match (w.attempt, &w.resumes) {
                    (1, _) => String::new(),
                    (n, Some(session)) => format!(" (attempt {n}, resuming session {session})"),
                    (n, None) => format!(" (attempt {n})"),
                };
                let confined = match &w.sandbox {
                    Some(kind) => format!(" {dim}(confined: {kind}){dim:#}"),
                    None => String::new(),
                };
                let line = format!("[{}] {dim}started{again}:{dim:#} {what}{confined}", w.id);
                self.say(*i, line)
            }
            Change::Line {
                worker,
                stderr,
                text,
                dropped,
            } => {
                let w = &model.workers[*worker];
                let tag = if *stderr { ":err" } else { "" };
                if !self.github && !self.quiet {
                    // The hot path: straight into the buffered writer.
                    write!(self.out, "[{}{tag}] {text}", w.id)?;
                    if *dropped > 0 {
                        write!(
                            self.out,
                            " {dim}… (+{}){dim:#}",
                            fmt::bytes(*dropped as u64)
                        )?;
                    }
                    return writeln!(self.out);
                }
                let more = if *dropped > 0 {
                    format!(" {dim}… (+{}){dim:#}", fmt::bytes(*dropped as u64))
                } else {
                    String::new()
                };
                let line = format!("[{}{tag}] {text}{more}", w.id);
                self.held.entry(*worker).or_default().push(line);
                Ok(())
            }
            Change::Partial(_) | Change::Progress(_) => Ok(()),
            Change::Stalled { worker, idle_ms } => {
                let line = format!(
                    "[{}] {warn}stalled:{warn:#} no output for {}",
                    model.workers[*worker].id,
                    fmt::duration(*idle_ms as f64 / 1000.0)
                );
                self.say(*worker, line)
            }
            Change::Error { worker, message } => {
                let line = format!(
                    "[{}] {bad}error:{bad:#} {message}",
                    model.workers[*worker].id
                );
                self.say(*worker, line)
            }
            Change::Lost { worker, from, to } => {
                let line = format!(
                    "[{}] {bad}lost:{bad:#} events {from} to {to} are missing from the stream",
                    model.workers[*worker].id
                );
                self.say(*worker, line)
            }
            Change::Ended(i) | Change::Skipped(i) => self.ended(model, *i),
        }
    }

    /// A worker ended: its held lines (in a group on GitHub), unless it
    /// passed and only failures are shown, then its end.
    fn ended(&mut self, model: &Model, index: usize) -> io::Result<()> {
        let w = &model.workers[index];
        let held = self.held.remove(&index);
        if self.quiet && w.status.passed() {
            return Ok(());
        }
        let dim = self.palette.dim;
        let summary = end_summary(w, &self.palette);
        if let Some(held) = held {
            if self.github {
                writeln!(self.out, "::group::[{}] {summary}", w.id)?;
            }
            if held.left_out > 0 {
                writeln!(
                    self.out,
                    "[{}] {dim}… {} left out here (all of them: sc-view --plain --worker {} LOG){dim:#}",
                    w.id,
                    fmt::counted(held.left_out, "earlier line"),
                    shlex::try_quote(&w.id).unwrap_or_default()
                )?;
            }
            for line in held.lines {
                writeln!(self.out, "{line}")?;
            }
            if self.github {
                writeln!(self.out, "::endgroup::")?;
            }
        }
        writeln!(self.out, "[{}] {summary}", w.id)
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Lines of one worker held for its GitHub Actions group or until it is
/// known to have failed.
const HELD_LINES: usize = 10_000;

fn describe_task(w: &Worker) -> String {
    match (&w.role, &w.kind) {
        (Some(role), Some(kind)) => format!(" ({role}, {kind})"),
        (Some(one), None) | (None, Some(one)) => format!(" ({one})"),
        (None, None) => String::new(),
    }
}

fn command_line(w: &Worker, model: &Model) -> String {
    let words: Vec<String> = w
        .argv
        .iter()
        .map(|arg| {
            let arg = crate::text::safe(arg, model.safety);
            if arg.is_empty()
                || arg.contains(|c: char| c.is_whitespace() || "'\"\\$`;&|<>*?()".contains(c))
            {
                format!("'{}'", arg.replace('\'', "'\\''"))
            } else {
                arg
            }
        })
        .collect();
    let mut line = words.join(" ");
    if line.chars().count() > 200 {
        line = line.chars().take(199).collect::<String>() + "…";
    }
    line
}

/// `✔ exit 0 after 1.2s, 3 lines`, `✖ killed by SIGTERM after 5.0s`, ...
pub fn end_summary(w: &Worker, palette: &Palette) -> String {
    let Palette {
        ok, bad, warn, dim, ..
    } = *palette;
    if w.status == Status::Skipped {
        let reason = w.skip_reason.as_deref().unwrap_or("not run");
        return format!("{dim}⊘ skipped:{dim:#} {reason}");
    }
    if w.done_before {
        let reason = w.skip_reason.as_deref().unwrap_or("done before");
        return format!("{ok}✔{ok:#} {dim}{reason}{dim:#}");
    }
    let exit = w.exit.clone().unwrap_or_default();
    let how = match (&exit.signal, exit.code) {
        (Some(signal), _) => format!("killed by {signal}"),
        (None, Some(code)) => format!("exit {code}"),
        (None, None) => "ended".to_owned(),
    };
    let (mark, style) = match w.status {
        Status::Succeeded => ("✔", ok),
        Status::TimedOut => ("⏱", warn),
        _ => ("✖", bad),
    };
    let how = if w.status == Status::TimedOut {
        format!("timed out ({how})")
    } else {
        how
    };
    let mut text = format!(
        "{style}{mark} {how}{style:#} after {}, {} line{}",
        fmt::duration(w.elapsed()),
        fmt::count(w.lines),
        if w.lines == 1 { "" } else { "s" }
    );
    let usage = fmt::usage(&w.usage);
    if !usage.is_empty() {
        text.push_str(&format!(", {usage}"));
    }
    if w.usage.ok == Some(false) && exit.code == Some(0) {
        text.push_str(", the agent reported an error");
    }
    if exit.leaked {
        text.push_str(", a leftover process held its output and was ended");
    }
    // Its work, on its branch (`--worktree`).
    if let Some(worktree) = &w.worktree {
        match (&worktree.error, &worktree.diff) {
            (Some(error), _) => text.push_str(&format!(
                ", {bad}{}: not committed: {error}{bad:#}",
                worktree.branch
            )),
            (None, Some(diff)) => text.push_str(&format!(", {}: {diff}", worktree.branch)),
            (None, None) => {}
        }
    }
    text
}

#[cfg(test)]
mod held_tests {
    use super::*;

    #[test]
    fn held_lines_are_bounded_and_the_rest_counted() {
        let mut held = Held::default();
        for i in 0..HELD_LINES + 5 {
            held.push(i.to_string());
        }
        assert_eq!(held.lines.len(), HELD_LINES);
        assert_eq!(held.left_out, 5);
        assert_eq!(
            held.lines.front().map(String::as_str),
            Some("5"),
            "the last ones kept"
        );
    }
}
