//! Coding-agent CLIs as sc workers: how to launch each one headless and
//! safe, and how to read its output into `agent` annotations.
//!
//! - [`AgentKind`]: the kinds of [`sc_events::AGENT_KINDS`].
//! - [`command`]: the command line of a kind for a prompt, a role's
//!   instructions and its least-privilege grant.
//! - [`parse::Parser`]: each CLI's JSON lines into the normalized annotation.

mod acp;
mod app_server;
mod command;
mod confine;
mod copilot;
pub mod driver;
mod json;
mod opencode;
pub mod parse;
pub mod prices;
pub mod watch;

use std::ffi::OsString;
use std::path::PathBuf;

pub use command::command;
pub use driver::Catalog;
pub use parse::Parser;
pub use prices::{Prices, Tokens};
pub use watch::Watch;

/// The agent CLIs sc knows (their names, programs and installs are in
/// the one table of [`sc_events::AGENT_KINDS`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AgentKind {
    ClaudeCode,
    Codex,
    Gemini,
    QwenCode,
    Copilot,
    OpenCode,
    /// Any agent that speaks ACP, named by `--acp-agent`.
    Acp,
    Aider,
}

impl AgentKind {
    /// Every kind, in the table's order.
    pub const ALL: [AgentKind; 8] = [
        AgentKind::ClaudeCode,
        AgentKind::Codex,
        AgentKind::Gemini,
        AgentKind::QwenCode,
        AgentKind::Copilot,
        AgentKind::OpenCode,
        AgentKind::Acp,
        AgentKind::Aider,
    ];

    /// The kind for a worker kind name; None for `shell`, `sc` and others.
    pub fn from_name(name: &str) -> Option<AgentKind> {
        let info = sc_events::agent_kind(name)?;
        AgentKind::ALL.into_iter().find(|k| k.info() == info)
    }

    /// Its row of the table.
    pub fn info(self) -> &'static sc_events::AgentKindInfo {
        let name = match self {
            AgentKind::ClaudeCode => "claude-code",
            AgentKind::Codex => "codex",
            AgentKind::Gemini => "gemini",
            AgentKind::QwenCode => "qwen-code",
            AgentKind::Copilot => "copilot",
            AgentKind::OpenCode => "opencode",
            AgentKind::Acp => "acp",
            AgentKind::Aider => "aider",
        };
        sc_events::agent_kind(name).expect("every kind is in the table")
    }

    pub fn name(self) -> &'static str {
        self.info().name
    }

    /// Whether its stdout is JSON lines (aider's is plain text).
    pub fn writes_json(self) -> bool {
        self.info().json
    }
}

/// Stands for the session's (thread's) id in the opening's last step
/// (Codex's `turn/start`, ACP's `session/prompt`) until the agent has
/// said it: that line is sent then.
pub const CODEX_THREAD: &str = "{{sc:thread}}";

/// Stands for the worker's directory in an opening (ACP's `session/new`).
pub const WORKER_CWD: &str = "{{sc:cwd}}";

/// What a launch may add to the kind's defaults.
#[derive(Debug, Clone)]
pub struct AgentOptions {
    pub model: Option<String>,
    pub max_turns: Option<u32>,
    /// The user asked, explicitly, to skip the CLI's permission checks.
    pub dangerously_skip_permissions: bool,
    /// How much faster recorded runs are played (`replay` tasks).
    pub replay_speed: f64,
    /// More arguments for the CLI, before the prompt where it is last.
    pub extra_args: Vec<String>,
    /// Resume this session of the CLI instead of starting a new one (a
    /// retry: the work done and paid for is kept).
    pub resume: Option<String>,
    /// The most the run may spend (Claude Code enforces it itself too).
    pub max_budget_usd: Option<f64>,
    /// A task placed here by another sc-spawn (`--task`): the CLI by its
    /// name, looked up on the worker's PATH (the task's environment), not
    /// on this sc-spawn's.
    pub elsewhere: bool,
    /// Run with the CLI's approval channel (`--ask`): the prompt goes on
    /// stdin, which stays open for the answers.
    pub converse: bool,
    /// Kind `acp`: the agent's command line (`--acp-agent`), split into
    /// words as a shell would.
    pub acp_agent: Option<String>,
    /// In sc's sandbox: a sandbox of the CLI's own is turned off (it could
    /// not be made inside; sc's holds the line).
    pub confined: bool,
}

impl Default for AgentOptions {
    fn default() -> Self {
        AgentOptions {
            model: None,
            max_turns: None,
            dangerously_skip_permissions: false,
            replay_speed: 1.0,
            extra_args: Vec::new(),
            resume: None,
            max_budget_usd: None,
            elsewhere: false,
            converse: false,
            acp_agent: None,
            confined: false,
        }
    }
}

/// A command line for an agent worker.
#[derive(Debug, Clone, PartialEq)]
pub struct Launch {
    pub argv: Vec<OsString>,
    pub env: Vec<(OsString, OsString)>,
    /// Written to its stdin first, which stays open (`converse`, and
    /// agents driven over ACP).
    pub input: Option<Vec<u8>>,
    /// What its grant allows when it asks (ACP tool kinds: `read`,
    /// `edit`, `execute`, ...): allowed with nobody asked.
    pub granted: Vec<String>,
}

/// The program of `kind`: `$SC_CLAUDE` (and the like) or PATH. The error
/// says how to install it.
pub fn find_program(kind: AgentKind) -> Result<PathBuf, String> {
    use sc_capture::process::program::{Missing, find};
    let info = kind.info();
    let (name, variable, install) = (info.program, info.variable, info.install);
    find(name, variable).map_err(|missing| match missing {
        Missing::Named(path) => format!(
            "{variable} names {}, which is not a file",
            path.display()
        ),
        Missing::NotOnPath => format!(
            "`{name}` ({}) is not on PATH: install it with `{install}`, or set {variable} to its path",
            kind.name()
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_fake(kind: AgentKind, f: impl FnOnce()) {
        let variable = kind.info().variable;
        let fake =
            std::env::temp_dir().join(format!("sc-fake-{}-{}", kind.name(), std::process::id()));
        std::fs::write(&fake, "#!/bin/sh\n").unwrap();
        // SAFETY: tests of this crate touch these variables from this test
        // only, each its own variable.
        unsafe { std::env::set_var(variable, &fake) };
        f();
        unsafe { std::env::remove_var(variable) };
        let _ = std::fs::remove_file(&fake);
    }

    fn strings(launch: &Launch) -> Vec<String> {
        launch.argv[1..]
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn claude_gets_stream_json_and_the_role_grant_never_the_dangerous_flag() {
        with_fake(AgentKind::ClaudeCode, || {
            let grant = serde_json::json!({"allowed_tools": ["Read", "Edit"], "disallowed_tools": ["Bash"], "permission_mode": "acceptEdits"});
            let launch = command(
                AgentKind::ClaudeCode,
                "do it",
                Some("be careful"),
                Some(&grant),
                &AgentOptions::default(),
            )
            .unwrap();
            let args = strings(&launch);
            assert_eq!(
                args,
                [
                    "-p",
                    "do it",
                    "--output-format",
                    "stream-json",
                    "--verbose",
                    "--include-partial-messages",
                    "--append-system-prompt",
                    "be careful",
                    "--allowedTools",
                    "Read,Edit",
                    "--disallowedTools",
                    "Bash",
                    "--permission-mode",
                    "acceptEdits"
                ]
            );
            assert!(!args.iter().any(|a| a.contains("dangerously")));
        });
    }

    #[test]
    fn codex_and_gemini_are_sandboxed_by_default() {
        with_fake(AgentKind::Codex, || {
            let args = strings(
                &command(AgentKind::Codex, "p", None, None, &AgentOptions::default()).unwrap(),
            );
            assert_eq!(
                args,
                [
                    "exec",
                    "--json",
                    "--skip-git-repo-check",
                    "--sandbox",
                    "read-only",
                    "p"
                ]
            );
        });
        with_fake(AgentKind::Gemini, || {
            let args = strings(
                &command(AgentKind::Gemini, "p", None, None, &AgentOptions::default()).unwrap(),
            );
            assert_eq!(args, ["-p", "p", "--output-format", "stream-json"]);
            let yolo = AgentOptions {
                dangerously_skip_permissions: true,
                ..AgentOptions::default()
            };
            assert!(
                strings(&command(AgentKind::Gemini, "p", None, None, &yolo).unwrap())
                    .contains(&"--yolo".to_owned())
            );
        });
    }

    #[test]
    fn the_new_kinds_get_their_grant_and_speak_on_stdin_where_they_must() {
        with_fake(AgentKind::QwenCode, || {
            let grant = serde_json::json!({"approval_mode": "auto-edit", "allowed_tools": ["run_shell_command(cargo test)"]});
            let launch = command(
                AgentKind::QwenCode,
                "p",
                None,
                Some(&grant),
                &AgentOptions::default(),
            )
            .unwrap();
            let args = strings(&launch);
            assert!(
                args.windows(2)
                    .any(|w| w == ["--approval-mode", "auto-edit"])
            );
            assert!(
                args.windows(2)
                    .any(|w| w == ["--allowed-tools", "run_shell_command(cargo test)"])
            );
            // Without its `initialize` first it hangs: the first line.
            let input = String::from_utf8(launch.input.unwrap()).unwrap();
            let first: serde_json::Value =
                serde_json::from_str(input.lines().next().unwrap()).unwrap();
            assert_eq!(first["request"]["subtype"], "initialize");
        });
        with_fake(AgentKind::Copilot, || {
            let grant = serde_json::json!({"allowed_tools": ["write", "shell(cargo test:*)"], "denied_tools": ["shell(git push)"]});
            let plain = command(
                AgentKind::Copilot,
                "p",
                None,
                Some(&grant),
                &AgentOptions::default(),
            )
            .unwrap();
            let args = strings(&plain);
            assert!(
                args.windows(2)
                    .any(|w| w == ["--allow-tool", "shell(cargo test:*)"])
            );
            assert!(
                args.windows(2)
                    .any(|w| w == ["--deny-tool", "shell(git push)"])
            );
            assert!(!args.iter().any(|a| a == "--allow-all-tools"));
            assert!(plain.input.is_none());
            let asking = AgentOptions {
                converse: true,
                ..AgentOptions::default()
            };
            let acp = command(AgentKind::Copilot, "p", None, Some(&grant), &asking).unwrap();
            assert!(strings(&acp).starts_with(&["--acp".to_owned(), "--stdio".to_owned()]));
            assert!(acp.input.is_some(), "an ACP opening");
        });
        with_fake(AgentKind::OpenCode, || {
            let grant = serde_json::json!({"permission": {"edit": "allow", "bash": {"*": "deny", "cargo test*": "allow"}}});
            let asking = AgentOptions {
                converse: true,
                ..AgentOptions::default()
            };
            let acp = command(AgentKind::OpenCode, "p", None, Some(&grant), &asking).unwrap();
            let (_, config) = acp
                .env
                .iter()
                .find(|(k, _)| k == "OPENCODE_CONFIG_CONTENT")
                .expect("its grant as its own setting");
            let config: serde_json::Value =
                serde_json::from_str(&config.to_string_lossy()).unwrap();
            // Under --ask what it may not do is asked for, not refused.
            assert_eq!(config["permission"]["bash"]["*"], "ask");
            assert_eq!(config["permission"]["bash"]["cargo test*"], "allow");
        });
        let acp = AgentOptions {
            acp_agent: Some("my-agent --acp 'a b'".into()),
            ..AgentOptions::default()
        };
        let launch = command(AgentKind::Acp, "p", None, None, &acp).unwrap();
        assert_eq!(launch.argv, ["my-agent", "--acp", "a b"]);
    }

    #[test]
    fn a_missing_cli_says_how_to_install_it() {
        // SAFETY: see with_fake; no other test reads SC_AIDER.
        unsafe { std::env::set_var("SC_AIDER", "/no/such/aider") };
        let err = command(AgentKind::Aider, "p", None, None, &AgentOptions::default()).unwrap_err();
        unsafe { std::env::remove_var("SC_AIDER") };
        assert!(err.contains("SC_AIDER"), "{err}");
    }
}
