//! `sc-plan --planner KIND`: an agent plans the task. Its run is part of
//! the stream (worker `planner`, live, with its cost); what it proposes is
//! checked against the catalogue; when it fails or proposes an unsound
//! plan, sc-plan says why and falls back to the rule planner (or fails,
//! with --planner-strict).

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use sc_events::{Body, ErrorEvent, Event, encode, now_ts, parse_line, rename_line};
use sc_planner::Plan;
use sc_planner::roles::Catalogue;
use sc_planner::validate::{find_plan, schema, validate};
use serde_json::Value;

/// The worker id of the planning agent in the stream.
pub const PLANNER: &str = "planner";

/// Run the planner agent of `kind` on `task`, its events written to `out`
/// as they come; the plan it proposes, checked.
#[allow(clippy::too_many_arguments)] // each is one of sc-plan's flags
pub fn plan_with_agent(
    kind: &str,
    task: &str,
    catalogue: &Catalogue,
    task_kind: &str,
    timeout_s: f64,
    extra_args: &[String],
    sc_spawn: &str,
    out: &mut impl Write,
) -> Result<Plan, String> {
    let schema = schema(catalogue);
    let mut command = Command::new(sc_spawn);
    command
        .args(["--id", PLANNER, "--kind", kind, "--timeout"])
        .arg(timeout_s.to_string())
        .arg("--prompt")
        .arg(prompt(task, catalogue, &schema))
        .stdin(Stdio::null())
        .stdout(Stdio::piped());
    // Read-only: it may look at the repository, never change it.
    let schema_text = schema.to_string();
    let mut schema_file = None;
    match kind {
        "claude-code" => {
            command.args([
                "--agent-arg=--json-schema",
                &format!("--agent-arg={schema_text}"),
                "--agent-arg=--allowedTools",
                "--agent-arg=Read,Glob,Grep",
                "--agent-arg=--disallowedTools",
                "--agent-arg=Bash,Edit,Write,NotebookEdit,WebFetch,WebSearch",
            ]);
        }
        "codex" => {
            let path =
                std::env::temp_dir().join(format!("sc-plan-schema-{}.json", std::process::id()));
            std::fs::write(&path, &schema_text).map_err(|e| format!("writing the schema: {e}"))?;
            command.arg("--agent-arg=--output-schema");
            command.arg(format!("--agent-arg={}", path.display()));
            schema_file = Some(path);
        }
        _ => {} // the schema is in the prompt; Gemini edits nothing headless without approval
    }
    for arg in extra_args {
        command.arg(format!("--agent-arg={arg}"));
    }
    let result = run(command, out);
    if let Some(path) = schema_file {
        let _ = std::fs::remove_file(path);
    }
    let Run {
        answer,
        exit_line,
        failure,
    } = result?;
    let checked = match (failure, answer) {
        (Some(failure), _) => Err(failure),
        (None, None) => Err("the planner agent gave no plan".into()),
        (None, Some(answer)) => validate(&answer, task, catalogue, task_kind),
    };
    // The planner's own stream stays whole: a refusal is said before its exit.
    if let Some(exit_line) = exit_line {
        let exit_seq = parse_line(&exit_line).map(|e| e.seq).unwrap_or(0);
        let mut lines = Vec::new();
        let mut seq = exit_seq;
        if let Err(message) = &checked {
            encode(
                &Event::new(
                    PLANNER,
                    seq,
                    now_ts(),
                    ErrorEvent {
                        message: format!("the planner's plan is not used: {message}"),
                    },
                ),
                &mut lines,
            );
            seq += 1;
        }
        let _ = rename_line(&exit_line, PLANNER, seq, &mut lines);
        let _ = out.write_all(&lines).and_then(|()| out.flush());
    }
    checked
}

/// What the planning run gave.
struct Run {
    answer: Option<Value>,
    /// The planner's exit line, held back.
    exit_line: Option<Vec<u8>>,
    /// Why it gave no plan.
    failure: Option<String>,
}

fn run(mut command: Command, out: &mut impl Write) -> Result<Run, String> {
    let mut child = command
        .spawn()
        .map_err(|e| format!("cannot run sc-spawn for the planner: {e}"))?;
    let stdout = child.stdout.take().expect("piped");
    let mut structured = None;
    let mut texts = String::new();
    let mut result_text = None;
    let mut exit_line = None;
    let mut failure = None;
    // A tool call the CLI refused (its structured output against the schema).
    let mut refused: Option<String> = None;
    for line in BufReader::new(stdout).split(b'\n') {
        let Ok(mut line) = line else { break };
        line.push(b'\n');
        let Ok(event) = parse_line(&line) else {
            let _ = out.write_all(&line);
            continue;
        };
        match &event.body {
            Body::Exit(exit) if event.worker == PLANNER => {
                if exit.code != Some(0) || exit.agent_result.as_deref().is_some_and(|r| r != "ok") {
                    failure = Some(format!(
                        "the planner agent failed (exit {}, result {})",
                        exit.code.map_or("-".into(), |c| c.to_string()),
                        exit.agent_result.as_deref().unwrap_or("-")
                    ));
                }
                exit_line = Some(line);
                continue;
            }
            Body::Error(error) if event.worker == PLANNER => {
                failure.get_or_insert(error.message.clone());
            }
            Body::Output(output) => {
                // Claude Code: `structured_output` on its result line.
                if let Ok(raw) = serde_json::from_slice::<Value>(output.payload.as_bytes()) {
                    if let Some(value) = raw.get("structured_output").filter(|v| v.is_object()) {
                        structured = Some(value.clone());
                    }
                    if let Some(error) = refused_output(&raw) {
                        refused = Some(error);
                    }
                }
                if let Some(note) = &output.agent {
                    match note["kind"].as_str() {
                        Some("text") => {
                            if let Some(text) = note["text"].as_str() {
                                texts.push_str(text);
                                if note["delta"] != true {
                                    texts.push('\n');
                                }
                            }
                        }
                        Some("result") => {
                            result_text = note["text"].as_str().map(str::to_owned);
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
        // Live: the planning shows as it happens.
        let _ = out.write_all(&line).and_then(|()| out.flush());
    }
    let _ = child.wait();
    let answer = structured
        .or_else(|| result_text.as_deref().and_then(find_plan))
        .or_else(|| find_plan(&texts));
    if answer.is_none()
        && let Some(refused) = refused
    {
        // Why it failed, rather than that it did.
        failure = Some(format!("its plan was refused by the CLI: {refused}"));
    }
    Ok(Run {
        answer,
        exit_line,
        failure,
    })
}

/// The text of a failed StructuredOutput call in a Claude Code line
/// (`Output does not match required schema: …`).
fn refused_output(raw: &Value) -> Option<String> {
    if raw["type"] != "user" {
        return None;
    }
    raw["message"]["content"]
        .as_array()?
        .iter()
        .filter(|block| block["type"] == "tool_result" && block["is_error"] == true)
        .find_map(|block| {
            let text = match &block["content"] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            text.contains("schema").then_some(text)
        })
}

/// What the planner agent is asked.
fn prompt(task: &str, catalogue: &Catalogue, schema: &Value) -> String {
    let roles: Vec<String> = catalogue
        .roles
        .iter()
        .filter(|r| r.name != "meta-orchestrator")
        .map(|r| {
            format!(
                "- {} (ids like `SUBJECT-{}`): {}",
                r.name, r.id, r.instructions
            )
        })
        .collect();
    format!(
        "You plan work for other coding agents; you do not do the work, and you change nothing: \
         read the repository if it helps. Split the task below into as few tasks as it needs: one \
         deliverable is one task, plus tests or documentation only when asked; tasks that need \
         another's work depend on it. Each task has one of these roles:\n{}\n\n\
         Give each task a short id that names its subject (like `json-encoder`), a prompt that is \
         self-contained and includes the user's whole task sentence, and its dependencies by id. \
         Answer with JSON only, of this schema:\n{}\n\nThe task: {task}",
        roles.join("\n"),
        schema
    )
}
