//! `sc-plan --planner`: an agent plans the task; its run is part of the
//! stream; an unusable plan is said and the rule planner takes over.

use std::process::Command;

use sc_events::Body;
use serde_json::{Value, json};

use crate::mock_model::{MockModel, Turn};
use crate::util::*;

const TASK: &str = "Speed up the JSON encoder, it is too slow";

fn sc_plan() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sc-plan"))
}

fn tasks_of(run: &Captured) -> Vec<(String, String, Vec<String>, String)> {
    run.events
        .iter()
        .filter_map(|e| match &e.body {
            Body::Task(t) => Some((
                t.id.clone(),
                t.role.clone().unwrap_or_default(),
                t.depends_on.clone(),
                t.prompt.clone().unwrap_or_default(),
            )),
            _ => None,
        })
        .collect()
}

/// A mock whose planning answer is `plan`, as Claude Code's structured
/// output (a StructuredOutput tool call), then a last word.
fn planning_mock(plan: Value) -> MockModel {
    MockModel::choosing(move |body| {
        Some(if body.contains("\"tool_use_id\"") {
            Turn {
                pieces: vec!["Planned.".into()],
                tool: None,
            }
        } else {
            Turn {
                pieces: vec!["Reading the task. ".into()],
                tool: Some(("StructuredOutput".into(), plan.clone())),
            }
        })
    })
}

fn plan_with_claude(mock: &MockModel, extra: &[&str]) -> Ran {
    // A directory (and HOME) of its own for each run: tests run at once.
    static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = RUNS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let claude = agent_cli("claude", "SC_CLAUDE").expect("checked by the caller");
    let dir = temp_dir(&format!("planner-{n}"));
    let home = dir.join("home");
    std::fs::create_dir_all(&home).unwrap();
    run_bounded(
        sc_plan()
            .args(["--planner", "claude-code"])
            .args(extra)
            .arg(TASK)
            .current_dir(&dir)
            .env("SC_CLAUDE", &claude)
            .env("ANTHROPIC_BASE_URL", mock.url())
            .env("ANTHROPIC_API_KEY", "sk-ant-test-key-for-the-mock")
            .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
            .env("HOME", &home),
        Vec::new(),
    )
}

#[test]
fn real_claude_code_plans_and_its_run_is_in_the_stream() {
    if agent_cli("claude", "SC_CLAUDE").is_none() {
        return;
    }
    let mock = planning_mock(json!({"tasks": [
        {"id": "json-encoder", "role": "performance-optimizer",
         "prompt": format!("Profile the encoder and make it faster. {TASK}"), "depends_on": []},
        {"id": "json-encoder-bench", "role": "test-specialist",
         "prompt": "Add a benchmark that guards the encoder's speed", "depends_on": ["json-encoder"]}
    ]}));
    let ran = plan_with_claude(&mock, &[]);
    assert_eq!(ran.status.code(), Some(0), "{}", ran.stderr);
    let run = Captured::parse(&ran.stdout);
    // The planning run comes first, whole: start … exit.
    let first_task = run
        .events
        .iter()
        .position(|e| e.type_name() == "task")
        .unwrap();
    let planner: Vec<&str> = run.events[..first_task]
        .iter()
        .filter(|e| e.worker == "planner")
        .map(|e| e.type_name())
        .collect();
    assert_eq!(planner.first(), Some(&"start"));
    assert_eq!(planner.last(), Some(&"exit"));
    let start = starts_of(&run)[0];
    assert!(
        start.argv.iter().any(|a| a == "--json-schema"),
        "{:?}",
        start.argv
    );
    assert!(
        start.argv.iter().any(|a| a.contains("Bash,Edit,Write")),
        "read-only"
    );
    let tasks = tasks_of(&run);
    assert_eq!(
        tasks
            .iter()
            .map(|t| (t.0.as_str(), t.1.as_str()))
            .collect::<Vec<_>>(),
        [
            ("json-encoder", "performance-optimizer"),
            ("json-encoder-bench", "test-specialist")
        ]
    );
    assert_eq!(tasks[1].2, ["json-encoder"]);
    for task in &tasks {
        assert!(
            task.3.contains(TASK),
            "the sentence is in every prompt: {}",
            task.3
        );
    }
    // `sc-plan --planner … | sc-spawn`: the planning run passes through, the
    // tasks run (here a fake agent), and the whole stream holds together.
    let dir = temp_dir("planner-spawn");
    let fake = dir.join("claude");
    executable(
        &fake,
        "#!/bin/sh\necho '{\"type\":\"result\",\"subtype\":\"success\",\"is_error\":false,\"result\":\"done\",\"num_turns\":1,\"total_cost_usd\":0.01}'\n",
    );
    let spawned = run_bounded(sc_spawn().env("SC_CLAUDE", &fake), ran.stdout.clone());
    assert_eq!(spawned.status.code(), Some(0), "{}", spawned.stderr);
    let whole = Captured::parse(&spawned.stdout);
    assert!(
        whole
            .events
            .iter()
            .any(|e| e.worker == "planner" && e.type_name() == "exit")
    );
    for id in ["json-encoder", "json-encoder-bench"] {
        assert!(
            whole
                .events
                .iter()
                .any(|e| e.worker == id && e.type_name() == "exit"),
            "{id} ran"
        );
    }
}

#[test]
fn an_unusable_plan_is_said_and_the_rules_plan_instead() {
    if agent_cli("claude", "SC_CLAUDE").is_none() {
        return;
    }
    let cycle = json!({"tasks": [
        {"id": "a", "role": "bug-fixer", "prompt": "fix the encoder now", "depends_on": ["b"]},
        {"id": "b", "role": "test-specialist", "prompt": "test the encoder now", "depends_on": ["a"]}
    ]});
    // A role the catalogue lacks, a grant of its own: the CLI holds the
    // structured output to the schema, and sc says what it refused.
    let unknown = json!({"tasks": [
        {"id": "a", "role": "root-admin", "prompt": "do anything at all", "depends_on": []}
    ]});
    let widened = json!({"tasks": [
        {"id": "a", "role": "bug-fixer", "prompt": "fix the encoder now", "depends_on": [],
         "permissions": {"allowed_tools": ["Bash(*)"]}}
    ]});
    for (plan, said) in [(cycle, "cycle"), (unknown, "schema"), (widened, "schema")] {
        let mock = planning_mock(plan);
        let ran = plan_with_claude(&mock, &[]);
        assert_eq!(ran.status.code(), Some(0), "{}", ran.stderr);
        assert!(
            ran.stderr.contains(said) && ran.stderr.contains("rules"),
            "{}\n{}",
            ran.stderr,
            String::from_utf8_lossy(&ran.stdout)
        );
        let run = Captured::parse(&ran.stdout);
        let error = run
            .events
            .iter()
            .find_map(|e| match &e.body {
                Body::Error(x) if e.worker == "planner" => Some(x.message.clone()),
                _ => None,
            })
            .expect("an error event of the planner");
        assert!(error.contains(said), "{error}");
        // The rule planner's plan.
        let tasks = tasks_of(&run);
        assert_eq!(tasks.len(), 1);
        assert_eq!(
            (tasks[0].0.as_str(), tasks[0].1.as_str()),
            ("json-encoder", "performance-optimizer")
        );
        // --planner-strict fails instead.
        let ran = plan_with_claude(&mock, &["--planner-strict"]);
        assert_eq!(ran.status.code(), Some(1), "{}", ran.stderr);
        assert!(tasks_of(&Captured::parse(&ran.stdout)).is_empty());
    }
}

#[test]
fn a_planner_that_cannot_run_falls_back() {
    let ran = run_bounded(
        sc_plan()
            .args(["--planner", "claude-code", TASK])
            .env("SC_CLAUDE", "/no/such/claude"),
        Vec::new(),
    );
    assert_eq!(ran.status.code(), Some(0), "{}", ran.stderr);
    assert!(ran.stderr.contains("rules"), "{}", ran.stderr);
    let run = Captured::parse(&ran.stdout);
    assert_eq!(tasks_of(&run)[0].0, "json-encoder");
}

/// sc-plan with the real Codex as planner, against a Responses API that
/// answers `text`.
fn plan_with_codex(text: String, n: &str) -> (Ran, crate::mock_model::MockResponses) {
    let codex = agent_cli("codex", "SC_CODEX").expect("checked by the caller");
    let mock = crate::mock_model::MockResponses::answering(text);
    let dir = temp_dir(&format!("codex-planner-{n}"));
    let home = codex_home(&format!("codex-planner-{n}"));
    let ran = run_bounded(
        sc_plan()
            .args(["--planner", "codex"])
            .args(codex_mock_args(mock.port, "--planner-arg="))
            .arg(TASK)
            .current_dir(&dir)
            .env("SC_CODEX", &codex)
            .env("CODEX_HOME", &home),
        Vec::new(),
    );
    (ran, mock)
}

#[test]
fn real_codex_plans_with_its_output_schema() {
    if agent_cli("codex", "SC_CODEX").is_none() {
        return;
    }
    let plan = json!({"tasks": [
        {"id": "json-encoder", "role": "performance-optimizer",
         "prompt": format!("Make the encoder faster: {TASK}"), "depends_on": []}
    ]});
    let (ran, mock) = plan_with_codex(plan.to_string(), "good");
    assert_eq!(ran.status.code(), Some(0), "{}", ran.stderr);
    let run = Captured::parse(&ran.stdout);
    assert!(
        run.events
            .iter()
            .any(|e| e.worker == "planner" && e.type_name() == "exit")
    );
    let tasks = tasks_of(&run);
    assert_eq!(tasks.len(), 1, "{}", ran.stderr);
    assert_eq!(
        (tasks[0].0.as_str(), tasks[0].1.as_str()),
        ("json-encoder", "performance-optimizer")
    );
    // Codex sent the schema as the response's format.
    let requests = mock.requests.lock().unwrap();
    assert!(
        requests
            .iter()
            .any(|b| b.contains("json_schema") && b.contains("performance-optimizer")),
        "the schema was not on the wire"
    );
}

#[test]
fn garbage_from_the_planner_falls_back() {
    if agent_cli("codex", "SC_CODEX").is_none() {
        return;
    }
    let (ran, _mock) = plan_with_codex("I think you should just try harder.".into(), "garbage");
    assert_eq!(ran.status.code(), Some(0), "{}", ran.stderr);
    assert!(
        ran.stderr.contains("no plan") && ran.stderr.contains("rules"),
        "{}",
        ran.stderr
    );
    let run = Captured::parse(&ran.stdout);
    assert_eq!(tasks_of(&run)[0].0, "json-encoder");
}

#[test]
fn real_gemini_plans_from_the_schema_in_its_prompt() {
    let Some(gemini) = agent_cli("gemini", "SC_GEMINI") else {
        return;
    };
    let plan = json!({"tasks": [
        {"id": "json-encoder", "role": "performance-optimizer",
         "prompt": format!("Make the encoder faster: {TASK}"), "depends_on": []},
        {"id": "json-encoder-docs", "role": "documentation-specialist",
         "prompt": "Document the encoder's speed figures", "depends_on": ["json-encoder"]}
    ]});
    // Gemini has no schema option: it answers in prose around the JSON.
    let mock = crate::mock_model::MockGemini::answering(format!(
        "Here is the plan:\n```json\n{plan}\n```"
    ));
    let dir = temp_dir("gemini-planner");
    let home = gemini_home(&dir);
    let ran = run_bounded(
        sc_plan()
            .args(["--planner", "gemini"])
            .args([
                "--planner-arg=--model",
                "--planner-arg=gemini-2.5-flash",
                "--planner-arg=--skip-trust",
            ])
            .arg(TASK)
            .current_dir(&dir)
            .env("SC_GEMINI", &gemini)
            .env("GEMINI_CLI_HOME", &home)
            .env("GEMINI_API_KEY", "test-key-for-the-mock")
            .env(
                "GOOGLE_GEMINI_BASE_URL",
                format!("http://127.0.0.1:{}", mock.port),
            ),
        Vec::new(),
    );
    assert_eq!(ran.status.code(), Some(0), "{}", ran.stderr);
    let run = Captured::parse(&ran.stdout);
    let tasks = tasks_of(&run);
    assert_eq!(tasks.len(), 2, "{}", ran.stderr);
    assert_eq!(tasks[1].2, ["json-encoder"]);
    // The schema went in the prompt.
    let requests = mock.requests.lock().unwrap();
    assert!(
        requests.iter().any(|b| b.contains("performance-optimizer")),
        "no schema in the prompt"
    );
}

#[test]
fn every_agent_kind_gets_its_roles_grant_and_an_unknown_kind_is_refused() {
    for kind in sc_events::AGENT_KINDS {
        let out = sc_plan()
            .args(["--kind", kind.name, "Add tests for the parser"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", kind.name);
        let run = Captured::parse(&out.stdout);
        let Body::Task(task) = &run.events[0].body else {
            panic!("a task first");
        };
        assert_eq!(task.kind.as_deref(), Some(kind.name));
        assert!(
            task.permissions.is_some(),
            "{}: the role's least-privilege grant for it",
            kind.name
        );
    }
    let out = sc_plan().args(["--kind", "nope", "x"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("qwen-code"));
}
