//! Budgets: an agent that spends past its cap is ended, a plan that spends
//! its budget stops, and a model without a known price is said.

use std::path::{Path, PathBuf};

use sc_events::{Body, Event, Task, to_line};

use crate::mock_model::{MockModel, Turn};
use crate::util::*;

/// A fake `claude` printing `lines`, then lingering.
fn fake_agent(dir: &Path, name: &str, lines: &[String]) -> PathBuf {
    let body: String = lines.iter().map(|l| format!("echo '{l}'\n")).collect();
    let path = dir.join(name);
    executable(&path, &format!("#!/bin/sh\n{body}exec sleep 30\n"));
    path
}

fn init(model: &str) -> String {
    format!(r#"{{"type":"system","subtype":"init","session_id":"s","model":"{model}"}}"#)
}

fn message(id: &str, input_tokens: u64) -> String {
    format!(
        r#"{{"type":"assistant","message":{{"id":"{id}","model":"m","content":[{{"type":"text","text":"working"}}],"usage":{{"input_tokens":{input_tokens},"output_tokens":10}}}}}}"#
    )
}

fn run_fake(fake: &Path, args: &[&str]) -> Ran {
    run_bounded(
        sc_spawn()
            .args([
                "--kind",
                "claude-code",
                "--prompt",
                "go",
                "--kill-grace",
                "0.3",
            ])
            .args(args)
            .env("SC_CLAUDE", fake),
        Vec::new(),
    )
}

#[test]
fn a_worker_past_its_cap_is_ended_by_the_budget() {
    let dir = temp_dir("budget-one");
    // One million input tokens of claude-sonnet-4-5: $3 at list price.
    let fake = fake_agent(
        &dir,
        "claude",
        &[init("claude-sonnet-4-5-20250929"), message("m1", 1_000_000)],
    );
    let ran = run_fake(&fake, &["--max-cost-usd", "1"]);
    let run = Captured::parse(&ran.stdout);
    let exit = run.exit();
    assert_eq!(exit.ended_by.as_deref(), Some("budget"), "{exit:?}");
    let cost = exit.cost_usd.expect("the cost in the exit");
    assert!((cost - 3.0).abs() < 0.01, "{cost}");
    assert_ne!(ran.status.code(), Some(0));
}

#[test]
fn a_model_without_a_price_is_said_and_capped_on_tokens() {
    let dir = temp_dir("budget-unpriced");
    let fake = fake_agent(
        &dir,
        "claude",
        &[
            init("house-model-7"),
            message("m1", 5000),
            message("m2", 5000),
        ],
    );
    let ran = run_fake(&fake, &["--max-cost-usd", "1", "--max-tokens", "8000"]);
    let run = Captured::parse(&ran.stdout);
    let errors: Vec<String> = run
        .events
        .iter()
        .filter_map(|e| match &e.body {
            Body::Error(x) => Some(x.message.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(errors.len(), 1, "said once: {errors:?}");
    assert!(errors[0].contains("house-model-7") && errors[0].contains("--prices"));
    assert_eq!(run.exit().ended_by.as_deref(), Some("budget"));
    assert_eq!(run.exit().cost_usd, None, "no cost is made up");

    // With its price given, its cost counts.
    let prices = temp_file(
        "prices.json",
        br#"{"models": {"house-model": {"input": 100, "output": 100}}}"#,
    );
    let ran = run_fake(
        &fake,
        &[
            "--max-cost-usd",
            "0.5",
            "--prices",
            prices.to_str().unwrap(),
        ],
    );
    let run = Captured::parse(&ran.stdout);
    assert!(run.of_type("error").is_empty());
    assert_eq!(run.exit().ended_by.as_deref(), Some("budget"));
}

#[test]
fn a_plan_that_spends_its_budget_ends_its_workers_and_skips_the_rest() {
    let dir = temp_dir("budget-plan");
    let result = |usd: f64| {
        format!(
            r#"{{"type":"result","subtype":"success","is_error":false,"result":"done","num_turns":1,"total_cost_usd":{usd}}}"#
        )
    };
    let fake = fake_agent(&dir, "claude", &[init("claude-sonnet-4-5"), result(0.6)]);
    let task = |id: &str| {
        to_line(&Event::new(
            id,
            0,
            1.0,
            Task {
                id: id.into(),
                kind: Some("claude-code".into()),
                prompt: Some("go".into()),
                ..Task::default()
            },
        ))
    };
    let plan = [task("a"), task("b"), task("c")].concat();
    let ran = run_bounded(
        sc_spawn()
            .args(["-j", "2", "--budget-usd", "1", "--kill-grace", "0.3"])
            .env("SC_CLAUDE", &fake),
        plan,
    );
    assert_ne!(ran.status.code(), Some(0));
    let run = Captured::parse(&ran.stdout);
    for id in ["a", "b"] {
        let ended = run.events.iter().find_map(|e| match &e.body {
            Body::Exit(x) if e.worker == id => Some(x.ended_by.clone()),
            _ => None,
        });
        assert_eq!(ended, Some(Some("budget".into())), "{id}");
    }
    let skipped = run.events.iter().find_map(|e| match &e.body {
        Body::Skip(s) if e.worker == "c" => Some(s.reason.clone()),
        _ => None,
    });
    assert_eq!(skipped.as_deref(), Some("budget"));
    assert!(ran.stderr.contains("budget"), "{}", ran.stderr);
}

/// The real Claude Code: its first message's usage (the mock's model,
/// claude-sonnet-4-5) crosses a tiny cap while its tool runs; sc ends it
/// mid-run, and says so.
#[test]
fn real_claude_code_is_ended_when_its_usage_crosses_the_cap() {
    let Some(claude) = agent_cli("claude", "SC_CLAUDE") else {
        return;
    };
    let mock = MockModel::scripted(vec![
        Turn {
            pieces: vec!["Running the long job.".into()],
            tool: Some((
                "Bash".into(),
                serde_json::json!({"command": "sleep 20; echo finished", "description": "long job"}),
            )),
        },
        Turn {
            pieces: vec!["Done.".into()],
            tool: None,
        },
    ]);
    let dir = temp_dir("claude-budget");
    let ran = run_bounded(
        sc_spawn_claude(&claude, &mock.url(), &dir)
            .args(["--role", "bug-fixer"])
            .args(["--max-cost-usd", "0.005", "--kill-grace", "1"])
            .args(["--prompt", "Run the long job."]),
        Vec::new(),
    );
    let run = Captured::parse(&ran.stdout);
    let exit = run.exit();
    assert_eq!(
        exit.ended_by.as_deref(),
        Some("budget"),
        "{exit:?}\n{}",
        String::from_utf8_lossy(&ran.stdout)
    );
    assert!(exit.cost_usd.unwrap_or(0.0) >= 0.005, "{exit:?}");
    assert!(exit.duration_ms < 20_000, "ended before its tool finished");
    let start = run
        .events
        .iter()
        .find_map(|e| match &e.body {
            Body::Start(s) => Some(s.argv.clone()),
            _ => None,
        })
        .unwrap();
    assert!(start.iter().any(|a| a == "--max-budget-usd"), "{start:?}");
}
