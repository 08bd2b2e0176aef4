//! What each kind of event does to its worker: one function a kind, so
//! that every view (terminal, plain, JUnit, SVG, the page) draws the same
//! model and none derives it again.

use super::worker::push_tail;
use super::{Change, ExitInfo, OpenAsk, Status, Worker, note_agent, said, via_of};
use crate::agent::{AgentState, is_agent_kind};
use crate::event::ViewEvent;
use crate::text::{Safety, safe};

/// What every kind's function is given besides its worker and event.
#[derive(Debug, Clone, Copy)]
pub(super) struct Cx {
    /// The worker's index in the model.
    pub index: usize,
    pub safety: Safety,
    /// Lines kept per worker for the terminal view (0: none kept).
    pub tail_lines: usize,
}

/// A plan's task: queued, with its kind, role and command.
pub(super) fn on_task(
    worker: &mut Worker,
    event: &ViewEvent<'_>,
    cx: Cx,
    changes: &mut Vec<Change>,
) {
    let Cx { index, safety, .. } = cx;
    worker.status = Status::Queued;
    worker.depends_on = event
        .depends_on
        .iter()
        .flatten()
        .map(|d| crate::text::safe(d, safety))
        .collect();
    worker.kind = event.kind.as_deref().map(str::to_owned);
    worker.role = event.role.as_deref().map(str::to_owned);
    if worker.kind.as_deref().is_some_and(is_agent_kind) {
        worker.agent.get_or_insert_with(AgentState::default);
    }
    if let Some(argv) = &event.argv {
        worker.argv = argv.clone();
    }
    changes.push(Change::Queued(index));
}

/// An attempt launched: running, where and how confined.
pub(super) fn on_start(
    worker: &mut Worker,
    event: &ViewEvent<'_>,
    cx: Cx,
    changes: &mut Vec<Change>,
) {
    let Cx { index, safety, .. } = cx;
    worker.status = Status::Running;
    if let Some(host) = &event.host {
        worker.host = Some(host.to_string());
    }
    worker.sandbox = event
        .sandbox
        .and_then(|raw| serde_json::from_str::<String>(raw.get()).ok())
        .map(|kind| crate::text::safe(&kind, safety));
    if let Some(worktree) = worktree_of(event, safety) {
        worker.worktree = Some(worktree);
    }
    // What is said of a failure is its last attempt's.
    worker.kept.clear();
    worker.attempt = event.attempt.unwrap_or(1);
    worker.resumes = event.resumes.as_deref().map(str::to_owned);
    // `duration` spans every attempt.
    worker.start_ts.get_or_insert(event.ts);
    if let Some(kind) = &event.kind {
        worker.kind = Some(kind.to_string());
        if is_agent_kind(kind) {
            worker.agent.get_or_insert_with(AgentState::default);
        }
    }
    if let Some(argv) = &event.argv {
        worker.argv = argv.clone();
    }
    changes.push(Change::Started(index));
}

/// Bytes of the worker: whole lines (an agent's JSON read as what it
/// says), and the unfinished one.
pub(super) fn on_output(
    worker: &mut Worker,
    event: &ViewEvent<'_>,
    cx: Cx,
    changes: &mut Vec<Change>,
) {
    let Cx {
        index,
        safety,
        tail_lines,
    } = cx;
    let Some((text, len)) = event.payload_text() else {
        return;
    };
    worker.bytes += len as u64;
    if let Some(progress) = event.progress.as_ref().and_then(|p| p.percent) {
        worker.progress = Some(progress);
        changes.push(Change::Progress(index));
    }
    // The annotation, read once for the figures and the lines.
    let note: Option<serde_json::Value> =
        event.agent.and_then(|a| serde_json::from_str(a.get()).ok());
    if let Some(note) = &note {
        note_agent(worker, note);
    }
    let stderr = event.is_stderr();
    if !stderr && let Some(state) = worker.agent.as_mut() {
        // The agent's JSON lines are transport: what they say is
        // shown instead; plain text it prints is shown as usual.
        let json = state.in_json_line || text.trim_start().starts_with('{');
        if event.agent.is_some() || json {
            state.in_json_line = !text.ends_with('\n') && event.agent.is_none();
            let shown = note.as_ref().map(|n| state.lines(n)).unwrap_or_default();
            let live = tail_lines > 0;
            for line in shown {
                worker.lines += 1;
                let text = safe(&line, safety);
                if live {
                    worker.kept.push(false, &text);
                    worker.latest.clear();
                    worker.latest.push_str(&text);
                    push_tail(&mut worker.tail, tail_lines, &text);
                }
                changes.push(Change::Line {
                    worker: index,
                    stderr: false,
                    text,
                    dropped: 0,
                });
            }
            if live && !state.streaming().is_empty() {
                worker.latest = safe(state.streaming(), safety);
            }
            changes.push(Change::Partial(index));
            return;
        }
    }
    let assembler = if stderr {
        &mut worker.stderr
    } else {
        &mut worker.stdout
    };
    let mut finished = false;
    let (lines, tail, latest, kept) = (
        &mut worker.lines,
        &mut worker.tail,
        &mut worker.latest,
        &mut worker.kept,
    );
    // Only the terminal view shows the newest and last lines.
    let live = tail_lines > 0;
    assembler.push(&text, &mut |line: &str, dropped: usize| {
        finished = true;
        *lines += 1;
        let text = safe(line, safety);
        if live {
            kept.push(stderr, &text);
            latest.clear();
            latest.push_str(&text);
            push_tail(tail, tail_lines, &text);
        }
        changes.push(Change::Line {
            worker: index,
            stderr,
            text,
            dropped,
        });
    });
    let partial = assembler.partial();
    if !partial.is_empty() {
        if live {
            *latest = safe(partial, safety);
        }
        changes.push(Change::Partial(index));
    } else if !finished {
        changes.push(Change::Partial(index));
    }
}

/// Progress not tied to an output event.
pub(super) fn on_progress(
    worker: &mut Worker,
    event: &ViewEvent<'_>,
    cx: Cx,
    changes: &mut Vec<Change>,
) {
    let Cx { index, safety, .. } = cx;
    if let Some(percent) = event.percent {
        worker.progress = Some(percent);
    }
    if let Some(message) = &event.message {
        worker.latest = safe(message, safety);
    }
    changes.push(Change::Progress(index));
}

/// No output for the stall threshold.
pub(super) fn on_stall(
    _worker: &mut Worker,
    event: &ViewEvent<'_>,
    cx: Cx,
    changes: &mut Vec<Change>,
) {
    let Cx { index, .. } = cx;
    changes.push(Change::Stalled {
        worker: index,
        idle_ms: event.idle_ms.unwrap_or(0),
    });
}

/// A task that will not run (or was done by an earlier run).
pub(super) fn on_skip(
    worker: &mut Worker,
    event: &ViewEvent<'_>,
    cx: Cx,
    changes: &mut Vec<Change>,
) {
    let Cx { index, safety, .. } = cx;
    // Done by an earlier run (`--resume`): that counts as success.
    worker.done_before = event.done == Some(true);
    worker.status = if worker.done_before {
        Status::Succeeded
    } else {
        Status::Skipped
    };
    worker.skip_reason = event.reason.as_deref().map(|r| safe(r, safety));
    changes.push(Change::Skipped(index));
}

/// A failed attempt, run again after a delay.
pub(super) fn on_retry(
    worker: &mut Worker,
    event: &ViewEvent<'_>,
    cx: Cx,
    changes: &mut Vec<Change>,
) {
    let Cx { index, safety, .. } = cx;
    let attempt = event.attempt.unwrap_or(worker.attempt);
    let reason = safe(event.reason.as_deref().unwrap_or("it failed"), safety);
    let delay = crate::fmt::duration(event.delay_ms.unwrap_or(0) as f64 / 1000.0);
    said(
        worker,
        index,
        format!(
            "↻ attempt {attempt} ended: {reason}; attempt {} in {delay}",
            attempt + 1
        ),
        changes,
    );
}

/// The agent asks and waits: the ask is open until its answer.
pub(super) fn on_ask(
    worker: &mut Worker,
    event: &ViewEvent<'_>,
    cx: Cx,
    changes: &mut Vec<Change>,
) {
    let Cx { index, safety, .. } = cx;
    let id = event.ask.as_deref().unwrap_or("?").to_owned();
    let input: Option<serde_json::Value> = event
        .input
        .and_then(|raw| serde_json::from_str(raw.get()).ok());
    let tool = safe(event.tool.as_deref().unwrap_or("a tool"), safety);
    let what = safe(&crate::agent::summary(input.as_ref()), safety);
    let what = format!("{tool} {what}").trim().to_owned();
    said(
        worker,
        index,
        format!("? needs input: {what} (sc-ctl answer {id} allow|deny)"),
        changes,
    );
    worker.asking.push(OpenAsk {
        id,
        what,
        control: event.control.as_deref().map(str::to_owned),
    });
}

/// The sandbox refused something, or says what it cannot hold.
pub(super) fn on_sandbox(
    worker: &mut Worker,
    event: &ViewEvent<'_>,
    cx: Cx,
    changes: &mut Vec<Change>,
) {
    let Cx { index, safety, .. } = cx;
    let what = match &event.net {
        Some(net) => format!("{} (not on its --sandbox-net)", safe(net, safety)),
        None => safe(event.message.as_deref().unwrap_or("?"), safety),
    };
    let decision = safe(event.decision.as_deref().unwrap_or("refused"), safety);
    said(
        worker,
        index,
        format!("⊘ sandbox {decision}: {what}"),
        changes,
    );
}

/// A person told the agent something.
pub(super) fn on_say(
    worker: &mut Worker,
    event: &ViewEvent<'_>,
    cx: Cx,
    changes: &mut Vec<Change>,
) {
    let Cx { index, safety, .. } = cx;
    let text = safe(event.text.as_deref().unwrap_or(""), safety);
    let via = via_of(event.via.as_deref(), safety);
    said(worker, index, format!("» said{via}: {text}"), changes);
}

/// A person stopped the worker.
pub(super) fn on_stop(
    worker: &mut Worker,
    event: &ViewEvent<'_>,
    cx: Cx,
    changes: &mut Vec<Change>,
) {
    let Cx { index, safety, .. } = cx;
    let via = via_of(event.via.as_deref(), safety);
    said(worker, index, format!("■ stopped{via}"), changes);
}

/// An ask decided, and by whom.
pub(super) fn on_answer(
    worker: &mut Worker,
    event: &ViewEvent<'_>,
    cx: Cx,
    changes: &mut Vec<Change>,
) {
    let Cx { index, safety, .. } = cx;
    let id = event.ask.as_deref().unwrap_or("?");
    let what = match worker.asking.iter().position(|a| a.id == id) {
        Some(at) => worker.asking.remove(at).what,
        None => id.to_owned(),
    };
    let decision = event.decision.as_deref().unwrap_or("?");
    let by = event.by.as_deref().unwrap_or("?");
    let message = event
        .message
        .as_deref()
        .map(|m| format!(": {}", safe(m, safety)))
        .unwrap_or_default();
    let mark = if decision == "allow" {
        "✔ allowed"
    } else {
        "✘ denied"
    };
    if decision != "allow" {
        worker.denied.push(what.clone());
    }
    let via = via_of(event.via.as_deref(), safety);
    said(
        worker,
        index,
        format!("{mark} by {}{via}: {what}{message}", safe(by, safety)),
        changes,
    );
}

/// sc's own problem with the worker.
pub(super) fn on_error(
    worker: &mut Worker,
    event: &ViewEvent<'_>,
    cx: Cx,
    changes: &mut Vec<Change>,
) {
    let Cx { index, safety, .. } = cx;
    if worker.status == Status::Running
        && worker.start_ts.is_none()
        && worker.exit.is_none()
        && worker.lines == 0
    {
        worker.status = Status::Noted;
    }
    let message = safe(event.message.as_deref().unwrap_or("(no message)"), safety);
    worker.errors.push(message.clone());
    changes.push(Change::Error {
        worker: index,
        message,
    });
}

/// The worker finished: its status, its unfinished lines flushed.
pub(super) fn on_exit(
    worker: &mut Worker,
    event: &ViewEvent<'_>,
    cx: Cx,
    changes: &mut Vec<Change>,
) {
    let Cx {
        index,
        safety,
        tail_lines,
    } = cx;
    // sc's count over every attempt: a retried agent's result
    // says only its last attempt's.
    // (A zero where nothing was priced says nothing new.)
    if let Some(usd) = event
        .cost_usd
        .filter(|&usd| usd > 0.0 || worker.usage.cost_usd.is_some())
    {
        worker.usage.cost_usd = Some(usd);
    }
    if let Some(worktree) = worktree_of(event, safety) {
        worker.worktree = Some(worktree);
    }
    let exit = ExitInfo {
        code: event.code,
        signal: event.signal.as_deref().map(str::to_owned),
        duration_ms: event.duration_ms,
        timed_out: event.timed_out.unwrap_or(false),
        bytes: event.bytes_count(),
        leaked: event.leaked.unwrap_or(false),
    };
    // Unfinished lines end with the worker.
    if let Some(state) = worker.agent.as_mut() {
        let mut streamed = Vec::new();
        state.flush(&mut streamed);
        for line in streamed {
            said(worker, index, safe(&line, safety), changes);
        }
    }
    worker.take_partials(index, safety, tail_lines > 0, changes);
    worker.status = if exit.timed_out {
        Status::TimedOut
    } else if exit.code == Some(0)
        && worker.usage.ok != Some(false)
        && event.agent_result.as_deref().is_none_or(|r| r == "ok")
    {
        Status::Succeeded
    } else {
        Status::Failed
    };
    if worker.status == Status::Succeeded {
        worker.kept.clear();
    }
    worker.exit = Some(exit);
    changes.push(Change::Ended(index));
}

/// A start's or exit's `worktree`, when it has a readable one: what is
/// shown of it made safe (the path and base are what git is given).
fn worktree_of(event: &ViewEvent<'_>, safety: Safety) -> Option<super::worker::Worktree> {
    let mut worktree: super::worker::Worktree = serde_json::from_str(event.worktree?.get()).ok()?;
    worktree.branch = safe(&worktree.branch, safety);
    for said in [&mut worktree.diff, &mut worktree.error]
        .into_iter()
        .flatten()
    {
        *said = safe(said, safety);
    }
    Some(worktree)
}
