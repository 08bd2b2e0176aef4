//! sc-plan's job: read the task, plan it, write the plan.

use std::io::{self, Read, Write};
use std::path::Path;

use sc_events::{Event, now_ts, to_line};
use sc_planner::roles::Catalogue;
use sc_planner::{Plan, PlanOptions, plan, plan_commands};

use crate::cli::Cli;

const EXIT_USAGE: i32 = 2;

pub fn run(cli: Cli) -> i32 {
    if let Some(what) = cli.generate {
        return sc_clikit::generate::<Cli>("sc-plan", what);
    }
    let mut catalogue = Catalogue::built_in();
    if let Some(path) = &cli.roles_file {
        let loaded = std::fs::read_to_string(path)
            .map_err(|e| e.to_string())
            .and_then(|json| catalogue.overlay(&json));
        if let Err(e) = loaded {
            eprintln!("sc-plan: roles file {}: {e}", path.display());
            return EXIT_USAGE;
        }
    }
    if cli.list_roles {
        let roles = serde_json::json!({ "roles": catalogue.roles.iter().map(role_json).collect::<Vec<_>>() });
        println!(
            "{}",
            serde_json::to_string_pretty(&roles).unwrap_or_default()
        );
        return 0;
    }
    let mut task = cli.task.clone();
    if task.is_empty() && cli.demo {
        // The embedded default: the task the recordings were made for.
        task = vec![DEMO_TASK.to_owned()];
    }
    if task.is_empty() {
        let mut text = String::new();
        if let Err(e) = io::stdin().read_to_string(&mut text) {
            eprintln!("sc-plan: reading the task on stdin: {e}");
            return EXIT_USAGE;
        }
        task = if cli.kind == "shell" {
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect()
        } else {
            vec![text.trim().to_owned()]
        };
    }
    // The planning agent's events go out first, as they come.
    let mut stdout = io::stdout();
    let mut agent_planned = None;
    if let (Some(planner), false) = (&cli.planner, cli.kind == "shell" || cli.roles.is_some()) {
        let sentence = task.join(" ");
        match crate::agent::plan_with_agent(
            planner,
            sentence.trim(),
            &catalogue,
            &cli.kind,
            cli.planner_timeout,
            &cli.planner_arg,
            &sibling("sc-spawn"),
            &mut stdout,
        ) {
            Ok(plan) => agent_planned = Some(plan),
            Err(message) if cli.planner_strict => {
                eprintln!("sc-plan: the {planner} planner's plan cannot be used: {message}");
                return 1;
            }
            Err(message) => eprintln!(
                "sc-plan: the {planner} planner's plan cannot be used: {message}; planning by the rules instead"
            ),
        }
    }
    let planned: Result<Plan, String> = if let Some(plan) = agent_planned {
        Ok(plan)
    } else if cli.kind == "shell" {
        if task.is_empty() {
            Err("no command lines: with --kind shell each TASK argument is a command".into())
        } else {
            Ok(plan_commands(&task))
        }
    } else {
        let options = PlanOptions {
            demo: cli.demo,
            within: cli.within.clone(),
            kind: if cli.demo {
                "claude-code".into()
            } else {
                cli.kind.clone()
            },
            roles: cli.roles.clone(),
            catalogue,
            sc_plan: sibling("sc-plan"),
            sc_spawn: sibling("sc-spawn"),
        };
        plan(&task.join(" "), &options)
    };
    let mut planned = match planned {
        Ok(planned) => planned,
        Err(e) => {
            eprintln!("sc-plan: {e}");
            return EXIT_USAGE;
        }
    };
    if cli.demo && cli.kind != "shell" {
        if let Err(e) = use_recordings(&mut planned) {
            eprintln!("sc-plan: --demo: {e}");
            return EXIT_USAGE;
        }
    }
    if cli.explain {
        for line in &planned.explanation {
            eprintln!("sc-plan: {line}");
        }
    }
    let ts = now_ts();
    let mut out = Vec::new();
    for task in planned.tasks {
        out.extend(to_line(&Event::new(task.id.clone(), 0, ts, task)));
    }
    match stdout.write_all(&out) {
        Ok(()) => 0,
        // `sc-plan ... | head`: the reader chose to stop.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => 0,
        Err(e) => {
            eprintln!("sc-plan: writing the plan: {e}");
            EXIT_USAGE
        }
    }
}

const DEMO_TASK: &str = "Implement OAuth2 authentication with tests and docs";

/// The recorded runs `--demo` replays: the real Claude Code CLI doing the
/// code and its tests, and the real OpenCode the docs, of "Implement
/// OAuth2 authentication with tests and docs" (two agents side by side;
/// tests/claude.rs and tests/agents_more.rs record them), with the kind
/// each recording is read as.
const RECORDINGS: [(&str, &str, &[u8]); 3] = [
    (
        "code",
        "claude-code",
        include_bytes!("../../demo/claude-code/code.ndjson"),
    ),
    (
        "tests",
        "claude-code",
        include_bytes!("../../demo/claude-code/tests.ndjson"),
    ),
    (
        "docs",
        "opencode",
        include_bytes!("../../demo/opencode/docs.ndjson"),
    ),
];

/// Point every agent task at a recording (by its role; the
/// code-generator's for roles without one of their own).
fn use_recordings(plan: &mut Plan) -> Result<(), String> {
    let dir = recordings_dir();
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for (name, _, bytes) in RECORDINGS {
        let path = dir.join(format!("{name}.ndjson"));
        if std::fs::read(&path).ok().as_deref() != Some(bytes) {
            std::fs::write(&path, bytes).map_err(|e| format!("{}: {e}", path.display()))?;
        }
    }
    for task in &mut plan.tasks {
        if task.kind.as_deref() == Some("sc") {
            continue; // a part plans itself, with --demo too
        }
        // By role: the code-generator's, the test-specialist's, the
        // documentation-specialist's; the code-generator's for the others.
        let name = match task.role.as_deref() {
            Some("test-specialist") => "tests",
            Some("documentation-specialist") => "docs",
            _ => "code",
        };
        task.replay = Some(
            dir.join(format!("{name}.ndjson"))
                .to_string_lossy()
                .into_owned(),
        );
        if let Some((_, kind, _)) = RECORDINGS.iter().find(|(n, ..)| *n == name) {
            task.kind = Some((*kind).to_owned());
        }
    }
    Ok(())
}

/// Where the recordings are written for sc-spawn to read.
fn recordings_dir() -> std::path::PathBuf {
    let version = env!("CARGO_PKG_VERSION");
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("sc").join(format!("demo-{version}"))
}

/// A tool installed next to this one, by path (so a part's plan runs the
/// same build); by name, from PATH, otherwise.
fn sibling(name: &str) -> String {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join(name)))
        .filter(|path| Path::new(path).exists())
        .map(|path| path.to_string_lossy().into_owned())
        .unwrap_or_else(|| name.to_owned())
}

fn role_json(role: &sc_planner::roles::Role) -> serde_json::Value {
    serde_json::json!({
        "name": role.name,
        "id": role.id,
        "timeout_s": role.timeout_s,
        "instructions": role.instructions,
        "ask": role.ask,
        "permissions": role.permissions,
        "limits": role.limits,
    })
}
