//! A plan an agent proposed (`sc-plan --planner`), checked before anything
//! runs: known roles, unique ids, dependencies that exist and form no
//! cycle, prompts that say what to do and keep the user's sentence. What a
//! task may do comes from the catalogue, never from the agent: its timeout,
//! instructions, grant and limits are its role's.

use std::collections::{HashMap, HashSet};

use serde_json::{Value, json};

use crate::roles::Catalogue;
use crate::{Plan, role_task, slug};

/// The JSON Schema the planner agent answers in.
pub fn schema(catalogue: &Catalogue) -> Value {
    let roles: Vec<&str> = catalogue
        .roles
        .iter()
        .filter(|r| r.name != "meta-orchestrator")
        .map(|r| r.name.as_str())
        .collect();
    json!({
        "type": "object",
        "properties": {
            "tasks": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "string", "description": "short, lowercase, hyphenated; names the subject (json-encoder)"},
                        "role": {"type": "string", "enum": roles},
                        "prompt": {"type": "string", "description": "what this task's agent must do, self-contained, including the user's whole task sentence"},
                        "depends_on": {"type": "array", "items": {"type": "string"}}
                    },
                    "required": ["id", "role", "prompt", "depends_on"],
                    "additionalProperties": false
                }
            }
        },
        "required": ["tasks"],
        "additionalProperties": false
    })
}

/// The first JSON object in `text` that has `tasks` (an agent may wrap its
/// answer in prose or a code fence).
pub fn find_plan(text: &str) -> Option<Value> {
    for (at, _) in text.match_indices('{') {
        let mut stream = serde_json::Deserializer::from_str(&text[at..]).into_iter::<Value>();
        if let Some(Ok(value)) = stream.next()
            && value.get("tasks").is_some()
        {
            return Some(value);
        }
    }
    None
}

/// Check `proposed` against the catalogue and make it a plan of `kind`
/// tasks for `task` (the user's sentence).
pub fn validate(
    proposed: &Value,
    task: &str,
    catalogue: &Catalogue,
    kind: &str,
) -> Result<Plan, String> {
    let items = proposed
        .get("tasks")
        .and_then(Value::as_array)
        .ok_or("the answer has no `tasks` array")?;
    if items.is_empty() {
        return Err("the plan has no task".into());
    }
    if items.len() > 50 {
        return Err(format!("the plan has {} tasks: at most 50", items.len()));
    }
    let mut ids = HashSet::new();
    let mut tasks = Vec::new();
    let mut explanation = Vec::new();
    for (n, item) in items.iter().enumerate() {
        let field = |name: &str| item.get(name).and_then(Value::as_str).map(str::trim);
        let id = field("id")
            .filter(|s| !s.is_empty())
            .map(slug)
            .ok_or_else(|| format!("task {} has no `id`", n + 1))?;
        if !ids.insert(id.clone()) {
            return Err(format!("two tasks have the id `{id}`"));
        }
        let role_name = field("role").ok_or_else(|| format!("task `{id}` has no `role`"))?;
        let role = catalogue
            .get(role_name)
            .filter(|r| r.name != "meta-orchestrator")
            .ok_or_else(|| {
                format!(
                    "task `{id}` has the unknown role `{role_name}` (known: {})",
                    catalogue.names().join(", ")
                )
            })?;
        let prompt = field("prompt")
            .filter(|p| p.split_whitespace().count() >= 3)
            .ok_or_else(|| format!("task `{id}` has no prompt that says what to do"))?;
        // Self-contained: the user's sentence is in every prompt.
        let prompt = if prompt.contains(task) {
            prompt.to_owned()
        } else {
            format!("{prompt} (the task: {task})")
        };
        let depends_on: Vec<String> = match item.get("depends_on") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(deps)) => deps
                .iter()
                .map(|d| {
                    d.as_str()
                        .map(slug)
                        .ok_or_else(|| format!("task `{id}`: a dependency that is not an id"))
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(format!("task `{id}`: `depends_on` is not a list of ids")),
        };
        // Whatever else the agent wrote (a timeout, permissions, a command)
        // is not taken: the role's own are.
        explanation.push(format!(
            "{id} ({}): proposed by the planner agent",
            role.name
        ));
        tasks.push(role_task(role, id, prompt, depends_on, kind));
    }
    for t in &tasks {
        for dep in &t.depends_on {
            if !ids.contains(dep) {
                return Err(format!(
                    "task `{}` depends on `{dep}`, which is not in the plan",
                    t.id
                ));
            }
            if dep == &t.id {
                return Err(format!("task `{}` depends on itself", t.id));
            }
        }
    }
    if let Some(id) = first_on_cycle(&tasks) {
        return Err(format!("task `{id}` is part of a dependency cycle"));
    }
    Ok(Plan { tasks, explanation })
}

/// A task on a dependency cycle, if there is one (depth first, with the
/// path marked).
fn first_on_cycle(tasks: &[sc_events::Task]) -> Option<String> {
    let index: HashMap<&str, usize> = tasks
        .iter()
        .enumerate()
        .map(|(i, t)| (t.id.as_str(), i))
        .collect();
    // 0 unvisited, 1 on the path, 2 done.
    let mut state = vec![0u8; tasks.len()];
    fn visit(
        i: usize,
        tasks: &[sc_events::Task],
        index: &HashMap<&str, usize>,
        state: &mut [u8],
    ) -> Option<usize> {
        state[i] = 1;
        for dep in &tasks[i].depends_on {
            let Some(&d) = index.get(dep.as_str()) else {
                continue;
            };
            match state[d] {
                1 => return Some(d),
                0 => {
                    if let Some(found) = visit(d, tasks, index, state) {
                        return Some(found);
                    }
                }
                _ => {}
            }
        }
        state[i] = 2;
        None
    }
    (0..tasks.len()).find_map(|i| {
        (state[i] == 0)
            .then(|| visit(i, tasks, &index, &mut state))
            .flatten()
            .map(|found| tasks[found].id.clone())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TASK: &str = "Speed up the JSON encoder, it is too slow";

    fn check(plan: Value) -> Result<Plan, String> {
        validate(&plan, TASK, &Catalogue::built_in(), "claude-code")
    }

    #[test]
    fn a_sound_plan_gets_the_catalogues_grants() {
        let plan = check(json!({"tasks": [
            {"id": "json-encoder", "role": "performance-optimizer", "prompt": format!("Profile and speed up: {TASK}"), "depends_on": [],
             "timeout_s": 99999, "permissions": {"allowed_tools": ["Bash(*)"]}},
            {"id": "json-encoder-tests", "role": "test-specialist", "prompt": "Add benchmarks and tests for the encoder", "depends_on": ["json-encoder"]}
        ]}))
        .unwrap();
        assert_eq!(
            plan.tasks[0].timeout_s,
            Some(3600.0),
            "the role's timeout, not the agent's"
        );
        let grant = plan.tasks[0].permissions.as_ref().unwrap().to_string();
        assert!(
            !grant.contains("Bash(*)"),
            "the agent cannot widen a grant: {grant}"
        );
        assert!(
            plan.tasks[1].prompt.as_deref().unwrap().contains(TASK),
            "the sentence is added"
        );
    }

    #[test]
    fn unsound_plans_are_refused_with_the_reason() {
        let cases = [
            (json!({"steps": []}), "no `tasks`"),
            (json!({"tasks": []}), "no task"),
            (
                json!({"tasks": [{"id": "a", "role": "wizard", "prompt": "do the thing now", "depends_on": []}]}),
                "unknown role `wizard`",
            ),
            (
                json!({"tasks": [{"id": "a", "role": "bug-fixer", "prompt": "x", "depends_on": []}]}),
                "no prompt",
            ),
            (
                json!({"tasks": [
                {"id": "a", "role": "bug-fixer", "prompt": "fix it all now", "depends_on": ["b"]},
                {"id": "b", "role": "test-specialist", "prompt": "test it all now", "depends_on": ["a"]}]}),
                "cycle",
            ),
            (
                json!({"tasks": [{"id": "a", "role": "bug-fixer", "prompt": "fix it all now", "depends_on": ["ghost"]}]}),
                "`ghost`",
            ),
            (
                json!({"tasks": [
                {"id": "a", "role": "bug-fixer", "prompt": "fix it all now", "depends_on": []},
                {"id": "a", "role": "bug-fixer", "prompt": "fix it all again", "depends_on": []}]}),
                "two tasks",
            ),
            (
                json!({"tasks": [{"id": "a", "role": "meta-orchestrator", "prompt": "run the whole thing", "depends_on": []}]}),
                "unknown role",
            ),
        ];
        for (plan, said) in cases {
            let err = check(plan.clone()).unwrap_err();
            assert!(err.contains(said), "{plan}: {err}");
        }
    }

    #[test]
    fn a_plan_is_found_in_prose() {
        let text = "Here is the plan:\n```json\n{\"tasks\": [{\"id\": \"a\"}]}\n```\nDone.";
        assert_eq!(find_plan(text).unwrap()["tasks"][0]["id"], "a");
        assert!(find_plan("no plan {here}").is_none());
    }
}
