//! Turning a task into a plan: `task` events that `sc-spawn` runs.
//!
//! - [`roles`]: the role catalogue (data: timeouts, instructions, grants).
//! - [`detect`]: which roles a task's words call for, and its parts.
//!
//! [`plan`] puts them together: one task per role, each depending on the
//! one before, or one `sc` task per independent part, whose command plans
//! and runs that part in turn.

pub mod detect;
pub mod parts;
pub mod roles;
pub mod shell;
pub mod validate;

pub use shell::plan_commands;

use sc_events::Task;

use crate::detect::{Pick, pick_roles};
use crate::parts::split_parts;
use crate::roles::{Catalogue, Role};

/// How to plan.
#[derive(Debug, Clone)]
pub struct PlanOptions {
    /// The worker kind of agent tasks (`claude-code`, `codex`, ...).
    pub kind: String,
    /// Roles forced by `--roles`, in order; None to detect them.
    pub roles: Option<Vec<String>>,
    pub catalogue: Catalogue,
    /// How a part's command calls sc-plan and sc-spawn (paths or names).
    pub sc_plan: String,
    pub sc_spawn: String,
    /// `--demo`: a part's own plan replays recordings too.
    pub demo: bool,
    /// `--within`: the whole task this one is a part of, which every prompt
    /// carries.
    pub within: Option<String>,
}

/// A plan, and why it is so.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub tasks: Vec<Task>,
    pub explanation: Vec<String>,
}

/// Plan `task` with roles.
pub fn plan(task: &str, opts: &PlanOptions) -> Result<Plan, String> {
    let task = task.trim();
    if task.is_empty() {
        return Err(
            "the task is empty: say what to do, e.g. sc-plan \"Fix the crash in the parser\""
                .into(),
        );
    }
    if opts.roles.is_none()
        && let Some(parts) = split_parts(task)
    {
        return Ok(plan_parts(task, &parts, opts));
    }
    let picks: Vec<Pick> = match &opts.roles {
        Some(names) => names
            .iter()
            .map(|name| {
                let role = opts.catalogue.get(name).ok_or_else(|| {
                    format!(
                        "unknown role `{name}` (known: {})",
                        opts.catalogue.names().join(", ")
                    )
                })?;
                Ok(Pick {
                    role: role.name.clone(),
                    why: "asked for with --roles".into(),
                })
            })
            .collect::<Result<_, String>>()?,
        None => pick_roles(task),
    };
    // Ids name the subject (`json-encoder`); the followers add their
    // role's id (`json-encoder-tests`). Without a subject, the role's id.
    let subject = slug(&detect::subject(task));
    let subject = (subject != "task").then_some(subject);
    let mut tasks: Vec<Task> = Vec::new();
    let mut explanation = Vec::new();
    for (i, pick) in picks.iter().enumerate() {
        let role = opts.catalogue.get(&pick.role).ok_or_else(|| {
            format!(
                "the roles file has no `{}` role, which this task needs",
                pick.role
            )
        })?;
        let wanted = match (&subject, i, opts.roles.is_some()) {
            (Some(subject), 0, false) => subject.clone(),
            (Some(subject), _, false) => format!("{subject}-{}", role.id),
            _ => role.id.clone(),
        };
        let id = unique_id(&wanted, &tasks);
        // Every prompt keeps the user's whole sentence (and, for a part,
        // the sentence it came from).
        let whole = match &opts.within {
            Some(within) => format!("{task} (part of: {within})"),
            None => task.to_owned(),
        };
        let prompt = match tasks.first() {
            None => whole,
            Some(first) => format!(
                "{} the work of task `{}` for this task: {whole}",
                role.ask, first.id
            ),
        };
        // Followers run as early as they can: tests and documentation both
        // need the lead's work, not each other's. Roles given with --roles
        // run in the order given.
        let depends_on = match (opts.roles.is_some(), tasks.first(), tasks.last()) {
            (true, _, Some(last)) => vec![last.id.clone()],
            (false, Some(first), _) => vec![first.id.clone()],
            _ => Vec::new(),
        };
        explanation.push(format!("{id} ({}): {}", role.name, pick.why));
        tasks.push(role_task(role, id, prompt, depends_on, &opts.kind));
    }
    Ok(Plan { tasks, explanation })
}

pub(crate) fn role_task(
    role: &Role,
    id: String,
    prompt: String,
    depends_on: Vec<String>,
    kind: &str,
) -> Task {
    Task {
        id,
        role: Some(role.name.clone()),
        kind: Some(kind.to_owned()),
        prompt: Some(prompt),
        argv: None,
        timeout_s: Some(role.timeout_s),
        depends_on,
        cwd: None,
        env: None,
        instructions: Some(role.instructions.clone()),
        permissions: role.permissions.get(kind).cloned(),
        limits: role.limits.clone(),
        replay: None,
        retries: None,
        max_cost_usd: None,
        ask: None,
        host: None,
        slurm: None,
        acp_agent: None,
        sandbox: None,
    }
}

/// One meta-orchestrator task per part, of kind `sc`: its command plans and
/// runs the part, so the part's workers appear as `part/worker`.
fn plan_parts(task: &str, parts: &parts::Parts, opts: &PlanOptions) -> Plan {
    let meta = opts.catalogue.get("meta-orchestrator");
    let mut tasks: Vec<Task> = Vec::new();
    let mut explanation = vec![format!(
        "the task lists {} independent parts: one meta-orchestrator each ({task})",
        parts.parts.len()
    )];
    for part in &parts.parts {
        // The part plans itself, with the sentence it came from: no agent
        // gets a fragment.
        let part_task = parts.task(part);
        let id = unique_id(&slug(part), &tasks);
        let command = format!(
            "{}{} --kind {} --within {} -- {} | {}",
            shell_quote(&opts.sc_plan),
            if opts.demo { " --demo" } else { "" },
            shell_quote(&opts.kind),
            shell_quote(task),
            shell_quote(&part_task),
            shell_quote(&opts.sc_spawn)
        );
        explanation.push(format!(
            "{id} (meta-orchestrator): plans and runs `{part_task}`"
        ));
        tasks.push(Task {
            id,
            role: Some("meta-orchestrator".into()),
            kind: Some("sc".into()),
            prompt: Some(format!("{part_task} (part of: {task})")),
            argv: Some(vec!["sh".into(), "-c".into(), command]),
            timeout_s: Some(meta.map_or(7200.0, |m| m.timeout_s)),
            depends_on: Vec::new(),
            cwd: None,
            env: None,
            instructions: meta.map(|m| m.instructions.clone()),
            permissions: None,
            limits: meta.and_then(|m| m.limits.clone()),
            replay: None,
            retries: None,
            max_cost_usd: None,
            ask: None,
            host: None,
            slurm: None,
            acp_agent: None,
            sandbox: None,
        });
    }
    Plan { tasks, explanation }
}

/// `password reset` → `password-reset`.
pub fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_alphanumeric() {
            out.extend(c.to_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let out = out.trim_end_matches('-');
    let out: String = out.chars().take(40).collect();
    if out.is_empty() { "task".into() } else { out }
}

pub(crate) fn unique_id(wanted: &str, tasks: &[Task]) -> String {
    let taken = |id: &str| tasks.iter().any(|t| t.id == id);
    if !taken(wanted) {
        return wanted.to_owned();
    }
    (2..)
        .map(|n| format!("{wanted}-{n}"))
        .find(|id| !taken(id))
        .expect("a free id")
}

pub(crate) fn shell_quote(text: &str) -> String {
    if !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:@,+".contains(c))
    {
        return text.to_owned();
    }
    format!("'{}'", text.replace('\'', "'\\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> PlanOptions {
        PlanOptions {
            kind: "claude-code".into(),
            roles: None,
            catalogue: Catalogue::built_in(),
            sc_plan: "sc-plan".into(),
            sc_spawn: "sc-spawn".into(),
            demo: false,
            within: None,
        }
    }

    #[test]
    fn a_chain_of_roles_keeps_the_subject() {
        let plan = plan(
            "Implement OAuth2 authentication with tests and docs",
            &options(),
        )
        .unwrap();
        let ids: Vec<(&str, Vec<String>)> = plan
            .tasks
            .iter()
            .map(|t| (t.id.as_str(), t.depends_on.clone()))
            .collect();
        // Ids name the subject; the documentation needs the code, not the
        // tests, so it runs beside them.
        assert_eq!(
            ids,
            [
                ("oauth2-authentication", vec![]),
                (
                    "oauth2-authentication-tests",
                    vec!["oauth2-authentication".into()]
                ),
                (
                    "oauth2-authentication-docs",
                    vec!["oauth2-authentication".into()]
                )
            ]
        );
        for task in &plan.tasks {
            assert!(
                task.prompt
                    .as_deref()
                    .unwrap()
                    .contains("Implement OAuth2 authentication")
            );
            assert_eq!(task.kind.as_deref(), Some("claude-code"));
        }
        assert_eq!(plan.tasks[1].timeout_s, Some(1800.0));
        assert!(
            plan.tasks[2]
                .instructions
                .as_deref()
                .unwrap()
                .contains("do not run shell commands")
        );
        assert_eq!(
            plan.tasks[2].permissions.as_ref().unwrap()["disallowed_tools"][0],
            "Bash"
        );
        assert_eq!(plan.explanation.len(), 3);
    }

    #[test]
    fn forced_roles() {
        let mut opts = options();
        opts.roles = Some(vec!["bug-fixer".into(), "test-specialist".into()]);
        let plan = plan("Make it work", &opts).unwrap();
        assert_eq!(
            plan.tasks.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(),
            ["fix", "tests"]
        );
        opts.roles = Some(vec!["wizard".into()]);
        assert!(
            super::plan("x", &opts)
                .unwrap_err()
                .contains("unknown role `wizard`")
        );
    }

    #[test]
    fn independent_parts_become_nested_plans() {
        let plan = plan(
            "Implement login, password reset and audit logging, each with tests",
            &options(),
        )
        .unwrap();
        let ids: Vec<&str> = plan.tasks.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(ids, ["login", "password-reset", "audit-logging"]);
        let reset = &plan.tasks[1];
        assert_eq!(reset.kind.as_deref(), Some("sc"));
        assert_eq!(reset.timeout_s, Some(7200.0));
        assert_eq!(
            reset.argv.as_ref().unwrap()[2],
            "sc-plan --kind claude-code --within 'Implement login, password reset and audit logging, each with tests' -- 'Implement password reset with tests' | sc-spawn"
        );
        assert!(reset.depends_on.is_empty());
    }
}
