//! `sc-bench asks --count N`: the latency of `--ask`, both ways.
//!
//! It runs `sc-spawn --ask` on a stand-in Claude Code (itself, as
//! `sc-bench fake-claude`) that asks N times, one after the other, each
//! request stamped with the time it wrote it. This side reads the stream:
//! request → `ask` event read is the first latency; it answers each on the
//! run's control socket (as `sc-ctl answer` does) and the stand-in stamps
//! when the answer reached its stdin: answer sent → answer arrived is the
//! second. Prints both as JSON percentiles.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use crate::{flag, now_ns};

pub fn main(args: &[String]) -> i32 {
    let count: usize = flag(args, "--count", 200);
    let sc = flag(args, "--sc", "sc-spawn".to_owned());
    let dir = std::env::temp_dir().join(format!("sc-bench-asks-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let fake = dir.join("claude");
    let me = std::env::current_exe().unwrap_or_default();
    let script = format!("#!/bin/sh\nexec '{}' fake-claude {count}\n", me.display());
    if std::fs::write(&fake, script).is_err() {
        return 1;
    }
    let _ = std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755));
    let control = dir.join("control.sock");
    let child = Command::new(&sc)
        .args([
            "--ask",
            "--ask-timeout",
            "0",
            "--heartbeat",
            "0",
            "--kind",
            "claude-code",
        ])
        .args(["--prompt", "bench"])
        .arg(format!("--control={}", control.display()))
        .env("SC_CLAUDE", &fake)
        .stdout(Stdio::piped())
        .spawn();
    let Ok(mut child) = child else {
        eprintln!("sc-bench asks: cannot run {sc}");
        return 1;
    };
    let stdout = child.stdout.take().expect("piped");
    let mut to_event = Vec::new();
    let mut to_agent = Vec::new();
    let mut sent_at = std::collections::HashMap::new();
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        let arrived = now_ns();
        let Ok(event) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        match event["type"].as_str() {
            Some("ask") => {
                let written: u128 = event["input"]["command"]
                    .as_str()
                    .and_then(|t| t.parse().ok())
                    .unwrap_or(arrived);
                to_event.push(arrived.saturating_sub(written) as f64 / 1000.0);
                let ask = event["ask"].as_str().unwrap_or_default().to_owned();
                sent_at.insert(ask.clone(), now_ns());
                if !answer(&control, &ask) {
                    eprintln!("sc-bench asks: the control socket did not take the answer");
                }
            }
            Some("output") => {
                // The stand-in's note: `got ASK-NUMBER NS`.
                let text = event["text"].as_str().unwrap_or_default();
                if let Some(rest) = text.strip_prefix("got ") {
                    let mut words = rest.split_whitespace();
                    let number = words.next().unwrap_or_default();
                    let got: u128 = words.next().and_then(|t| t.parse().ok()).unwrap_or(0);
                    let worker = event["worker"].as_str().unwrap_or_default();
                    if let Some(sent) = sent_at.get(&format!("{worker}/{number}")) {
                        to_agent.push(got.saturating_sub(*sent) as f64 / 1000.0);
                    }
                }
            }
            _ => {}
        }
    }
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    if to_event.is_empty() || to_agent.is_empty() {
        eprintln!("sc-bench asks: no asks measured");
        return 1;
    }
    println!(
        "{{\"n\":{},\"ask_event\":{},\"answer_to_agent\":{}}}",
        to_event.len(),
        percentiles(&mut to_event),
        percentiles(&mut to_agent)
    );
    0
}

fn percentiles(micros: &mut [f64]) -> String {
    micros.sort_by(f64::total_cmp);
    let pct = |p: f64| micros[((micros.len() - 1) as f64 * p).round() as usize];
    format!(
        "{{\"p50_us\":{:.1},\"p99_us\":{:.1},\"max_us\":{:.1}}}",
        pct(0.5),
        pct(0.99),
        micros[micros.len() - 1]
    )
}

fn answer(control: &std::path::Path, ask: &str) -> bool {
    let request = sc_capture::control::Request::Answer {
        ask: ask.to_owned(),
        decision: "allow".into(),
        message: None,
        via: None,
    };
    sc_capture::control::request(control, &request).is_ok_and(|reply| reply.ok)
}

/// The stand-in Claude Code: its prompt read, then `count` asks one after
/// the other, each answer's arrival noted; then a result, and an exit when
/// its stdin closes.
pub fn fake_claude(args: &[String]) -> i32 {
    let count: usize = args.first().and_then(|c| c.parse().ok()).unwrap_or(1);
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        r#"{{"type":"system","subtype":"init","session_id":"bench","model":"claude-sonnet-4-5"}}"#
    );
    let _ = out.flush();
    let _ = lines.next(); // the prompt
    for i in 1..=count {
        let _ = writeln!(
            out,
            r#"{{"type":"control_request","request_id":"r{i}","request":{{"subtype":"can_use_tool","tool_name":"Bash","input":{{"command":"{}"}}}}}}"#,
            now_ns()
        );
        let _ = out.flush();
        if lines.next().is_none() {
            return 1;
        }
        let _ = writeln!(out, "got {i} {}", now_ns());
    }
    let _ = writeln!(
        out,
        r#"{{"type":"result","subtype":"success","is_error":false,"result":"done","session_id":"bench","total_cost_usd":0}}"#
    );
    let _ = out.flush();
    for _ in lines {}
    0
}
