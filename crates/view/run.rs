//! sc-view's job: read the stream, keep the model, drive one output mode.

use std::collections::HashMap;
use std::io::{self, BufWriter, IsTerminal, Stderr, Stdout, Write};
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

use anstream::{AutoStream, ColorChoice};
use indicatif::ProgressDrawTarget;
use sc_capture::output::lines::{LineSplitter, Piece};
use sc_capture::terminal_size;
use sc_events::now_ts;
use sc_viewer::check::Checker;
use sc_viewer::fmt::Palette;
use sc_viewer::plain::Plain;
use sc_viewer::term::TermView;
use sc_viewer::{Change, Model, Safety, ViewEvent, glob, table};

use crate::cli::{Cli, ColorWhen};
use crate::source::{self, Chunk};

/// sc-view's own trouble (an unreadable input, a failed write).
const EXIT_TROUBLE: i32 = 2;

/// The longest stream line read whole; longer ones are malformed anyway
/// (sc-spawn's events stay far below).
const MAX_LINE: usize = 16 * 1024 * 1024;

/// The screen is redrawn at most this often.
const FRAME: Duration = Duration::from_millis(50);

enum Output {
    Plain(Plain<BufWriter<Stdout>>),
    Term(TermView),
    Raw {
        out: BufWriter<Stdout>,
        err: BufWriter<Stderr>,
    },
    Check(Checker),
}

struct Viewer {
    cli: Cli,
    palette: Palette,
    model: Model,
    output: Output,
    changes: Vec<Change>,
    /// Worker id → selected by --worker/--kind.
    selected: HashMap<String, bool>,
    line_no: u64,
    told_malformed: bool,
    pacer: Option<crate::pacer::Pacer>,
    last_frame: Instant,
    /// Writing failed: the reader of our output is gone.
    closed: bool,
    /// `--junit FILE`: the workers' output, kept for the report.
    junit: Option<sc_viewer::junit::Outputs>,
    /// `--timeline FILE` (or `--serve`): what the picture needs.
    timeline: Option<sc_viewer::timeline::Timeline>,
    /// The signal that interrupted the view, if one did.
    interrupted: Option<i32>,
    /// `--serve`: the page, and when it was last sent the model.
    serve: Option<(crate::serve::Serve, Instant)>,
}

pub fn run(cli: Cli) -> i32 {
    if let Some(what) = cli.generate {
        return sc_clikit::generate::<Cli>("sc-view", what);
    }
    let stdout_is_term = io::stdout().is_terminal();
    // Decided once: with colour off nothing styled is written, so nothing
    // has to be stripped again on the way out.
    let color = match cli.color {
        ColorWhen::Always => true,
        ColorWhen::Never => false,
        ColorWhen::Auto => AutoStream::choice(&io::stdout()) != ColorChoice::Never,
    };
    let palette = Palette::new(color);
    // The workers' colour: as colour on a terminal (when colour is on), in
    // logs that GitHub and GitLab render, or when asked; left out of other
    // plain lines (as text it is noise). Other control sequences are shown
    // escaped everywhere.
    let term_view = stdout_is_term && !cli.plain && !cli.raw && !cli.check;
    let ci_renders = ["GITHUB_ACTIONS", "GITLAB_CI"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|v| !v.is_empty()));
    let safety = Safety {
        keep_sgr: if term_view {
            color
        } else {
            cli.color_output || ci_renders
        },
        strip_sgr: true,
        redact: !cli.no_redact,
    };
    let output = if cli.raw {
        Output::Raw {
            out: BufWriter::new(io::stdout()),
            err: BufWriter::new(io::stderr()),
        }
    } else if cli.check {
        Output::Check(Checker::default())
    } else if stdout_is_term && !cli.plain {
        let height = terminal_size(1).map_or(24, |(_, rows)| rows as usize);
        let target = ProgressDrawTarget::stdout_with_hz(20);
        let view = TermView::new(target, height, cli.lines, palette);
        Output::Term(if cli.failures_only {
            view.failures_only()
        } else {
            view
        })
    } else {
        let github = std::env::var_os("GITHUB_ACTIONS").is_some_and(|v| !v.is_empty());
        let out = BufWriter::with_capacity(64 * 1024, io::stdout());
        let plain = Plain::new(out, github, palette);
        Output::Plain(if cli.failures_only {
            plain.failures_only()
        } else {
            plain
        })
    };
    // --attach: the run's stream, from the file it keeps while it runs.
    let mut cli = cli;
    let Ok(attached) = crate::source::attach_to(&mut cli) else {
        return EXIT_TROUBLE;
    };
    // Started by hand with nothing piped in: say what it waits for.
    let reads_the_terminal = cli.files.is_empty() && io::stdin().is_terminal();
    if reads_the_terminal {
        eprintln!(
            "sc-view: reading an sc event stream on stdin; pipe one in (`sc-spawn -- make | sc-view`) \
             or give a file (`sc-view run.ndjson`); Ctrl-D ends"
        );
    }
    let rx = source::spawn(cli.files.clone(), cli.follow);
    // On a terminal, keys answer asks (`a`, `d`).
    // (Not when the stream is read from the terminal itself: its lines,
    // and Ctrl-D, are the stream's.)
    let keys = if matches!(output, Output::Term(_)) && !reads_the_terminal {
        crate::keys::Keys::start()
    } else {
        None
    };
    let mut viewer = Viewer {
        palette,
        // Lines under each worker are only shown by the terminal view.
        model: Model::new(
            safety,
            if matches!(output, Output::Term(_)) || cli.serve.is_some() {
                cli.lines.max(1)
            } else {
                0
            },
        ),
        output,
        changes: Vec::new(),
        selected: HashMap::new(),
        line_no: 0,
        told_malformed: false,
        pacer: cli.replay.then(|| crate::pacer::Pacer {
            speed: cli.speed,
            started: Instant::now(),
            first_ts: None,
        }),
        last_frame: Instant::now(),
        closed: false,
        junit: cli.junit.as_ref().map(|_| Default::default()),
        // The page shows the timeline too.
        timeline: (cli.timeline.is_some() || cli.serve.is_some()).then(Default::default),
        interrupted: None,
        serve: None,
        cli,
    };
    if let Some(addr) = viewer.cli.serve.clone() {
        let Ok(serve) =
            crate::serve::Serve::announce(&addr, attached.clone(), viewer.cli.files.clone())
        else {
            return EXIT_TROUBLE;
        };
        viewer.serve = Some((serve, Instant::now()));
    }
    let mut splitter = LineSplitter::new(MAX_LINE);
    let mut troubles = 0;
    // Following: files read to their end at least once.
    let mut caught_up = 0;
    let followed = viewer.cli.files.len();
    // Interrupted: the stream is read on until the run has ended.
    let mut ending: Option<crate::ending::Ending> = None;
    loop {
        if ending.is_some_and(|e| e.over(Instant::now(), viewer.model.any_running())) {
            break;
        }
        if let Some(keys) = &keys {
            while let Some(key) = keys.key() {
                viewer.key(key);
            }
        }
        // A frame is due even when no event comes (the terminal's clock,
        // an attached run's end, the page's last changes).
        let framed = matches!(viewer.output, Output::Term(_)) || viewer.serve.is_some();
        let chunk = if framed || attached.is_some() {
            // Changes for the page wait at most its cadence.
            let wait = match &viewer.serve {
                Some((serve, _)) if serve.is_dirty() => crate::serve::CADENCE,
                _ => FRAME,
            };
            match rx.recv_timeout(wait) {
                Ok(chunk) => chunk,
                Err(RecvTimeoutError::Timeout) => {
                    viewer.frame(true);
                    let run_over = attached.as_ref().is_some_and(|socket| !socket.exists());
                    if run_over && caught_up >= followed && viewer.model.all_ended() {
                        break;
                    }
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => Chunk::End,
            }
        } else if let Some(ending) = ending {
            let until = ending.wait_until(viewer.model.any_running());
            match rx.recv_timeout(until.saturating_duration_since(Instant::now())) {
                Ok(chunk) => chunk,
                // The loop's top decides whether that was the end.
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => Chunk::End,
            }
        } else {
            rx.recv().unwrap_or(Chunk::End)
        };
        if let (Some(ending), Chunk::Data(_)) = (&mut ending, &chunk) {
            ending.data(Instant::now());
        }
        match chunk {
            Chunk::Data(data) => splitter.push(&data, &mut |piece| viewer.piece(piece)),
            Chunk::Error(message) => {
                troubles += 1;
                eprintln!("sc-view: {message}");
            }
            Chunk::CaughtUp => caught_up += 1,
            // A second one: the workers are being ended at once, their
            // exits come in a moment; a third: now.
            Chunk::Signal(_) if viewer.interrupted.is_some() => {
                if ending.as_mut().is_some_and(|e| e.again(Instant::now())) {
                    continue;
                }
                break;
            }
            Chunk::Signal(signal) => {
                viewer.interrupted = Some(signal);
                // Attached, the signal was the view's alone: the run goes
                // on, nothing is ending it, so nothing is waited for.
                if attached.is_some() {
                    break;
                }
                ending = Some(crate::ending::Ending::heard(Instant::now()));
                if let Output::Term(term) = &mut viewer.output {
                    term.ending(crate::ending::signal_name(signal));
                }
                viewer.frame(true);
                continue;
            }
            Chunk::End => {
                splitter.finish(&mut |piece| viewer.piece(piece));
                break;
            }
        }
        viewer.frame(false);
        // Live: what a chunk brought is shown now, not when a buffer fills.
        viewer.flush();
        // Following: done when every file has been read through once and
        // every worker seen in any of them has ended.
        let all_read = caught_up >= followed;
        // Attached: done when the run is (its socket gone) and every worker
        // seen has ended.
        let run_over = attached.as_ref().is_none_or(|socket| !socket.exists());
        if viewer.closed || (viewer.cli.follow && all_read && run_over && viewer.model.all_ended())
        {
            break;
        }
    }
    // The terminal given back as it was before the last words.
    drop(keys);
    let serving = viewer.serve.take().map(|(mut serve, _)| {
        serve.finish(&viewer.model, viewer.timeline.as_ref());
        serve
    });
    let interrupted = viewer.interrupted.or_else(crate::source::signalled);
    viewer.interrupted = interrupted;
    viewer.model.interrupted = interrupted.map(|s| crate::ending::signal_name(s).to_owned());
    if interrupted.is_some() {
        // A worker whose end never came ran until now, not until its last
        // line.
        let now = viewer.clock();
        viewer.model.unfinished_until(now);
    }
    let code = viewer.finish();
    if let Some(serve) = serving.filter(|_| interrupted.is_none()) {
        crate::serve::until_interrupted(&serve, &rx);
    }
    match interrupted {
        // Ended as the signal would have ended it (its reports written).
        Some(signal) => 128 + signal,
        None if troubles > 0 => EXIT_TROUBLE,
        None => code,
    }
}

impl Viewer {
    /// A key on the terminal view (see [`crate::keys::answer_key`]).
    fn key(&mut self, key: u8) {
        crate::keys::answer_key(&self.model, key);
    }

    fn piece(&mut self, piece: Piece<'_>) {
        self.line_no += 1;
        let line = match piece {
            Piece::Line(line) => line,
            Piece::Fragment { first, .. } => {
                if first {
                    self.malformed(format!("longer than {} MiB", MAX_LINE >> 20));
                }
                return;
            }
            Piece::Unterminated(_) => {
                self.malformed("the stream ended in the middle of a line".into());
                return;
            }
        };
        match ViewEvent::parse(line) {
            Ok(event) => {
                if self.is_selected(&event) {
                    self.event(&event);
                }
            }
            Err(e) => self.malformed(e.to_string()),
        }
    }

    fn malformed(&mut self, reason: String) {
        if let Output::Check(checker) = &mut self.output {
            checker.malformed(reason.clone());
        }
        let reason = format!("line {}: {reason}", self.line_no);
        if !self.told_malformed && matches!(self.output, Output::Plain(_)) {
            // Once; the count comes in the summary.
            eprintln!("sc-view: {reason} (counted in the summary; the rest goes on)");
        }
        self.told_malformed = true;
        self.model.malformed(reason);
    }

    fn is_selected(&mut self, event: &ViewEvent<'_>) -> bool {
        if self.cli.worker.is_empty() && self.cli.kind.is_empty() {
            return true;
        }
        if let Some(&known) = self.selected.get(event.worker.as_ref()) {
            // The kind is only known from the task or start event.
            if known || event.kind.is_none() {
                return known;
            }
        }
        let id_ok = self.cli.worker.is_empty()
            || self
                .cli
                .worker
                .iter()
                .any(|g| glob::matches(g, &event.worker));
        let kind_ok = self.cli.kind.is_empty()
            || event
                .kind
                .as_deref()
                .is_some_and(|k| self.cli.kind.iter().any(|want| want == k));
        let selected = id_ok && kind_ok;
        self.selected.insert(event.worker.to_string(), selected);
        selected
    }

    fn event(&mut self, event: &ViewEvent<'_>) {
        if let Some(timeline) = &mut self.timeline {
            timeline.event(event);
        }
        // An agent's part of the report is what the view shows of it (its
        // lines, below), unless --junit-raw.
        if let Some(outputs) = &mut self.junit {
            let agent = !self.cli.junit_raw && self.model.is_agent(&event.worker);
            match event.type_name.as_ref() {
                "output" if !agent => {
                    if let Some((text, _)) = event.payload_text() {
                        outputs.push(&event.worker, event.is_stderr(), &text);
                    }
                }
                "retry" => {
                    let reason = event.reason.as_deref().unwrap_or("it failed");
                    let attempt = event.attempt.unwrap_or(1);
                    outputs.retried(&event.worker, format!("attempt {attempt}: {reason}"));
                }
                _ => {}
            }
        }
        if let Some(pacer) = &mut self.pacer {
            let first = *pacer.first_ts.get_or_insert(event.ts);
            // A wild ts (from a hand-written stream) waits long, never panics.
            let due = pacer.started + sc_events::clamped_duration((event.ts - first) / pacer.speed);
            // Sleeping is what replay is for; what came before is shown
            // first, and the screen is redrawn meanwhile.
            if Instant::now() < due {
                self.flush();
            }
            while Instant::now() < due {
                let left = due - Instant::now();
                std::thread::sleep(left.min(FRAME));
                self.frame(false);
            }
        }
        match &mut self.output {
            Output::Check(checker) => {
                checker.event(event);
                return;
            }
            Output::Raw { out, err } => {
                if let Some(payload) = event.payload() {
                    let target: &mut dyn Write = if event.is_stderr() { err } else { out };
                    if target.write_all(&payload).is_err() {
                        self.closed = true;
                    }
                }
                // The model keeps track of exits (for the exit status) but
                // has no lines to assemble: skip its output handling.
                if event.type_name != "output" {
                    self.model.apply(event, &mut self.changes);
                }
                self.changes.clear();
                return;
            }
            _ => {}
        }
        self.model.apply(event, &mut self.changes);
        if let Some((serve, _)) = &mut self.serve {
            serve.touch(&event.worker);
        }
        let mut changes = std::mem::take(&mut self.changes);
        if let Some(outputs) = &mut self.junit
            && !self.cli.junit_raw
        {
            for change in &changes {
                if let Change::Line {
                    worker,
                    stderr,
                    text,
                    ..
                } = change
                    && self.model.workers[*worker].agent.is_some()
                {
                    outputs.push_line(&self.model.workers[*worker].id, *stderr, text);
                }
            }
        }
        // A stalled worker's unanswered prompt is shown, not held back.
        if let Some(Change::Stalled { worker, .. }) = changes.last()
            && matches!(self.output, Output::Plain(_))
        {
            let worker = *worker;
            self.model.flush_partial(worker, &mut changes);
        }
        for change in changes.drain(..) {
            let failed = match &mut self.output {
                Output::Plain(plain) => plain.render(&self.model, &change).is_err(),
                Output::Term(term) => {
                    term.render(&self.model, &change);
                    false
                }
                _ => false,
            };
            self.closed |= failed;
        }
        self.changes = changes;
    }

    fn flush(&mut self) {
        let result = match &mut self.output {
            Output::Plain(plain) => plain.flush(),
            Output::Raw { out, err } => out.flush().and_then(|()| err.flush()),
            _ => Ok(()),
        };
        if result.is_err() {
            self.closed = true;
        }
    }

    /// Redraw the terminal view if a frame is due (or `force`); the page's
    /// rows too.
    fn frame(&mut self, force: bool) {
        if let Some((serve, last)) = &mut self.serve
            && (force || last.elapsed() >= crate::serve::CADENCE)
        {
            serve.frame(&self.model, self.timeline.as_ref());
            *last = Instant::now();
        }
        let now = self.clock();
        if let Output::Term(term) = &mut self.output
            && (force || self.last_frame.elapsed() >= FRAME)
        {
            // The terminal may have been resized (one ioctl a frame).
            if let Some((_, rows)) = terminal_size(1) {
                term.resize(&self.model, rows as usize);
            }
            term.refresh(&self.model, now);
            self.last_frame = Instant::now();
        }
    }

    /// The stream's present moment: replay time, or wall time for a live
    /// stream, or the newest event of an old one.
    fn clock(&self) -> f64 {
        if let Some(now) = self
            .pacer
            .as_ref()
            .and_then(crate::pacer::Pacer::stream_now)
        {
            return now;
        }
        let wall = now_ts();
        if (wall - self.model.last_ts).abs() < 120.0 {
            wall
        } else {
            self.model.last_ts
        }
    }

    /// End of the stream: the last state, the table, the exit status.
    fn finish(mut self) -> i32 {
        let written = crate::reports::write(
            &self.cli,
            &self.model,
            self.junit.as_ref(),
            self.timeline.as_ref(),
            self.interrupted.map(crate::ending::signal_name),
        );
        if let Err(message) = written {
            eprintln!("sc-view: {message}");
            return EXIT_TROUBLE;
        }
        let now = self.clock();
        match &mut self.output {
            Output::Check(checker) => {
                let (lines, ok) = checker.report();
                let mut out = io::stdout().lock();
                for line in lines {
                    let _ = writeln!(out, "{line}");
                }
                return if ok { 0 } else { 1 };
            }
            Output::Raw { out, err } => {
                let _ = out.flush();
                let _ = err.flush();
                return if self.closed {
                    0
                } else {
                    self.model.exit_code()
                };
            }
            Output::Plain(plain) => {
                let mut changes = Vec::new();
                for index in 0..self.model.workers.len() {
                    self.model.flush_partial(index, &mut changes);
                }
                for change in &changes {
                    let _ = plain.render(&self.model, change);
                }
                let _ = plain.flush();
            }
            Output::Term(term) => {
                term.refresh(&self.model, now);
                term.finish(&self.model);
            }
        }
        if self.closed {
            return 0;
        }
        let mut out = io::stdout().lock();
        // What failed, with its last lines, before the table (the plain
        // view has printed every line already).
        if matches!(self.output, Output::Term(_)) {
            let stream = match self.cli.files.as_slice() {
                [file] => Some(file.display().to_string()),
                _ => None,
            };
            let failed = sc_viewer::failures::render(&self.model, &self.palette, stream.as_deref());
            let _ = out.write_all(failed.as_bytes());
        }
        // The terminal view said a line for each worker as it ended: its
        // end lists what did not pass. Plain lines end with the whole table
        // (a CI log's summary), unless only failures are shown.
        let which = if matches!(self.output, Output::Term(_)) || self.cli.failures_only {
            table::Rows::Trouble
        } else {
            table::Rows::All
        };
        let table = table::render(&self.model, &self.palette, which);
        let _ = writeln!(out);
        let _ = out.write_all(table.as_bytes());
        let _ = out.flush();
        self.model.exit_code()
    }
}
