//! Event lines built by hand, for the tests that feed streams to sc-merge
//! and sc-view.

use sc_events::{Event, Exit, Output, Payload, Start, Stream, to_line};

/// A complete little stream of worker `id`: start, `n` output lines, exit.
pub fn stream_of(id: &str, n: u64) -> Vec<u8> {
    let mut out = start_event(id, 0, 1.0, &["gen"]);
    for i in 0..n {
        out.extend(output_line(id, i + 1, &format!("{id} line {i}\n")));
    }
    let bytes: usize = (0..n).map(|i| format!("{id} line {i}\n").len()).sum();
    out.extend(to_line(&Event::new(
        id,
        n + 1,
        2.0,
        Exit {
            code: Some(0),
            signal: None,
            duration_ms: 1,
            timed_out: false,
            lines: n,
            bytes: bytes as u64,
            leaked: false,
            ended_by: None,
            agent_result: None,
            worktree: None,
            cost_usd: None,
        },
    )));
    out
}

pub fn output_line(id: &str, seq: u64, text: &str) -> Vec<u8> {
    to_line(&Event::new(
        id,
        seq,
        1.5,
        Output {
            stream: Stream::Stdout,
            payload: Payload::Text(text.into()),
            progress: None,
            agent: None,
        },
    ))
}

pub fn start_event(id: &str, seq: u64, ts: f64, argv: &[&str]) -> Vec<u8> {
    to_line(&Event::new(
        id,
        seq,
        ts,
        Start {
            argv: argv.iter().map(|a| a.to_string()).collect(),
            pid: 4242,
            cwd: "/src".into(),
            kind: "shell".into(),
            pty: false,
            schema: 1,
            limits: None,
            attempt: None,
            resumes: None,
            host: None,
            sandbox: None,
            worktree: None,
        },
    ))
}

pub fn output_event(id: &str, seq: u64, ts: f64, stream: Stream, data: &[u8]) -> Vec<u8> {
    to_line(&Event::new(
        id,
        seq,
        ts,
        Output {
            stream,
            payload: Payload::from_bytes(data),
            progress: None,
            agent: None,
        },
    ))
}

/// An exit event; `lines` is left 0 (the viewers count lines themselves).
pub fn exit_event(
    id: &str,
    seq: u64,
    ts: f64,
    code: Option<i32>,
    signal: Option<&str>,
    duration_ms: u64,
    bytes: u64,
) -> Vec<u8> {
    to_line(&Event::new(
        id,
        seq,
        ts,
        Exit {
            code,
            signal: signal.map(str::to_owned),
            duration_ms,
            timed_out: false,
            lines: 0,
            bytes,
            leaked: false,
            ended_by: None,
            agent_result: None,
            worktree: None,
            cost_usd: None,
        },
    ))
}
