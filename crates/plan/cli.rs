//! sc-plan's command line: defined once, for parsing, `--help` and the man page.

use std::path::PathBuf;

use clap::Parser;
use sc_clikit::Generate;

const ABOUT: &str = "Split a task into role-specialised sub-tasks: a plan that sc-spawn runs";

const LONG_ABOUT: &str = "\
Turn a task (the arguments joined, or stdin) into a plan: `task` events, one per line (see \
sc-events(7)), that jq can edit and sc-spawn(1) runs.

Roles come from the task's words: \"Implement OAuth2 authentication with tests and docs\" gets a \
code-generator, then a test-specialist after it, then a documentation-specialist after that; \
\"Fix the crash in ...\" a bug-fixer; \"Speed up ...\" a performance-optimizer; \"Refactor ...\" a \
refactoring-specialist; \"Add unit tests for ...\" a test-specialist alone. Each task keeps the \
subject of the original, carries its role's instructions and its least-privilege permissions for \
the worker kind, and the role's timeout (test-specialist 1800 s, documentation-specialist 900, \
refactoring-specialist 2400, code-generator 600, bug-fixer 1200, performance-optimizer 3600, \
meta-orchestrator 7200).

A task of several independent parts (\"Implement login, password reset and audit logging, each \
with tests\") becomes one meta-orchestrator task per part, of kind `sc`, whose command plans and \
runs that part (`sc-plan PART | sc-spawn`), so its workers appear as PART/WORKER.

With --kind shell, each argument (or each line of stdin) is a command line, run as given, one task \
each, named by what tells it from the others (`cargo build` `cargo test` → build, test), or by \
`NAME=COMMAND` (a name of lowercase letters, digits and `-`; `CC=clang make` stays a command). GNU \
parallel's templates: `sc-plan --kind shell 'gzip -9 {}' ::: *.log` makes a task per input, named \
by it; `{}` is the input, `{.}` without its extension, `{/}` its base name, `{//}` its folder, `{/.}` \
the base name without extension, `{#}` the job's number; each value is shell-quoted (an input is \
data, never a command), and a template without one gets the input at its end.

Roles are data: --list-roles prints the built-in catalogue as JSON, and --roles-file FILE (the same \
form) replaces roles by name or adds new ones: {\"roles\": [{\"name\": \"security-auditor\", \
\"id\": \"audit\", \"timeout_s\": 900, \"instructions\": \"...\", \"ask\": \"Audit\", \
\"permissions\": {\"claude-code\": {\"allowed_tools\": [\"Read\", \"Grep\"]}}, \"limits\": \
{\"max_rss_mib\": 2048, \"cpu_s\": 600, \"nice\": 10}}]}.";

const AFTER_HELP: &str = "\
Examples:
  sc-plan \"Implement OAuth2 authentication with tests and docs\" | sc-spawn | sc-view
  sc-plan --explain \"Fix the crash in the config parser\"
  sc-plan --roles bug-fixer,test-specialist \"The exporter drops the last row\"
  sc-plan --kind shell 'cargo build' 'cargo test' 'cargo clippy' | sc-spawn -j 3 | sc-view
  sc-plan --kind shell 'gzip -9 {}' ::: *.log | sc-spawn | sc-view
  sc-plan \"Refactor the session store\" | jq -c '.timeout_s = 600' | sc-spawn
  sc-plan --demo \"Implement OAuth2 authentication with tests and docs\" | sc-spawn | sc-view

Exit status: 0, or 2 for a usage error (an empty task, an unknown role, a bad roles file).

See also: sc-spawn(1), sc-view(1), sc-events(7).";

#[derive(Debug, Parser)]
#[command(
    name = "sc-plan",
    version,
    about = ABOUT,
    long_about = LONG_ABOUT,
    after_help = AFTER_HELP
)]
pub struct Cli {
    /// The task, in words (joined); read from stdin when absent. Flags may
    /// stand anywhere among the words; words that start with `-` go after
    /// `--`
    #[arg(value_name = "TASK")]
    pub task: Vec<String>,

    /// The tasks' kind: an agent, or shell (each TASK is a command line)
    ///
    /// An agent (claude-code, codex, gemini, qwen-code, copilot, opencode,
    /// acp, aider): each task is given the role's grant for that kind.
    /// shell: each TASK argument is a command line (`NAME=command` names
    /// it; `::: ARGS` fills `{}` templates as GNU parallel does).
    #[arg(help_heading = "Tasks", long, value_name = "KIND", default_value = "claude-code", value_parser = sc_clikit::worker_kinds(true))]
    pub kind: String,

    /// Use these roles, in this order, instead of detecting them
    #[arg(
        help_heading = "Roles",
        long,
        value_name = "ROLE,...",
        value_delimiter = ','
    )]
    pub roles: Option<Vec<String>>,

    /// Say on stderr why each role was chosen
    #[arg(help_heading = "Roles", long)]
    pub explain: bool,

    /// A roles file laid over the built-in catalogue
    #[arg(
        help_heading = "Roles",
        hide_short_help = true,
        long,
        value_name = "FILE"
    )]
    pub roles_file: Option<PathBuf>,

    /// Print the role catalogue (built in, and --roles-file) as JSON
    #[arg(help_heading = "Roles", long)]
    pub list_roles: bool,

    /// Agent tasks replay recorded runs: no agent CLI, no API key
    ///
    /// Every agent task replays a recorded run shipped with sc instead of
    /// launching the CLI: the whole pipeline — Claude Code writes the code
    /// and its tests, OpenCode the docs (the recordings are of the real
    /// CLIs against a scripted model). Without a TASK, the one they were
    /// recorded for: "Implement OAuth2 authentication with tests and docs".
    #[arg(help_heading = "Tasks", long)]
    pub demo: bool,

    /// Let an agent plan the task (claude-code, codex or gemini)
    ///
    /// It runs headless and read-only (it may read the repository, never
    /// change it), given the role catalogue and the plan's schema. Its run
    /// is part of the stream (worker `planner`: its text, its cost); what it
    /// proposes is checked (known roles, unique ids, dependencies that exist
    /// and form no cycle, prompts that keep the task; timeouts and grants
    /// are the roles'). When it fails or proposes an unsound plan, sc-plan
    /// says why (an `error` event, and on stderr) and uses the rule planner.
    #[arg(help_heading = "Planner", long, value_name = "KIND", value_parser = sc_clikit::planner_kinds())]
    pub planner: Option<String>,

    /// With --planner: fail (exit 1) instead of falling back to the rule
    /// planner when the agent's plan cannot be used
    #[arg(
        help_heading = "Planner",
        hide_short_help = true,
        long,
        requires = "planner"
    )]
    pub planner_strict: bool,

    /// With --planner: one more argument for the planner agent's CLI
    /// (repeatable), e.g. `--planner-arg=--model --planner-arg=opus`
    #[arg(
        help_heading = "Planner",
        hide_short_help = true,
        long,
        value_name = "ARG",
        allow_hyphen_values = true,
        requires = "planner"
    )]
    pub planner_arg: Vec<String>,

    /// With --planner: the most the planning run may take, in seconds
    #[arg(help_heading = "Planner", hide_short_help = true, long, value_name = "SECS", default_value_t = 300.0, value_parser = sc_clikit::parse_secs)]
    pub planner_timeout: f64,

    /// The whole task this one is a part of
    ///
    /// A meta-orchestrator's part plans itself with it: every prompt
    /// carries it, so that no agent receives a fragment.
    #[arg(
        help_heading = "Tasks",
        hide_short_help = true,
        long,
        value_name = "TASK"
    )]
    pub within: Option<String>,

    /// Write generated documentation to stdout and exit
    #[arg(long, value_enum, hide = true)]
    pub generate: Option<Generate>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn roles_are_a_list() {
        let cli = Cli::try_parse_from([
            "sc-plan",
            "--roles",
            "bug-fixer,test-specialist",
            "Fix",
            "it",
        ])
        .unwrap();
        assert_eq!(cli.roles.unwrap(), ["bug-fixer", "test-specialist"]);
        assert_eq!(cli.task, ["Fix", "it"]);
    }
}
