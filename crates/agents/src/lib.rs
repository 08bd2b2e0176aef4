//! Coding-agent CLIs as sc workers: how to launch each one headless and
//! safe, and how to read its output into `agent` annotations.
//!
//! - [`AgentKind`]: claude-code, codex, gemini, aider.
//! - [`command`]: the command line of a kind for a prompt, a role's
//!   instructions and its least-privilege grant.
//! - [`parse::Parser`]: each CLI's JSON lines into the normalized annotation.

mod acp;
mod app_server;
pub mod driver;
pub mod parse;
pub mod prices;
pub mod watch;

use std::ffi::OsString;
use std::path::PathBuf;

use serde_json::Value;

pub use driver::Catalog;
pub use parse::Parser;
pub use prices::{Prices, Tokens};
pub use watch::Watch;

/// The agent CLIs sc knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AgentKind {
    ClaudeCode,
    Codex,
    Gemini,
    Aider,
}

impl AgentKind {
    /// The kind for a worker kind name; None for `shell`, `sc` and others.
    pub fn from_name(name: &str) -> Option<AgentKind> {
        match name {
            "claude-code" | "claude" => Some(AgentKind::ClaudeCode),
            "codex" => Some(AgentKind::Codex),
            "gemini" => Some(AgentKind::Gemini),
            "aider" => Some(AgentKind::Aider),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            AgentKind::ClaudeCode => "claude-code",
            AgentKind::Codex => "codex",
            AgentKind::Gemini => "gemini",
            AgentKind::Aider => "aider",
        }
    }

    /// The program, and the variable that can name it instead.
    fn program(self) -> (&'static str, &'static str, &'static str) {
        match self {
            AgentKind::ClaudeCode => (
                "claude",
                "SC_CLAUDE",
                "npm install -g @anthropic-ai/claude-code",
            ),
            AgentKind::Codex => ("codex", "SC_CODEX", "npm install -g @openai/codex"),
            AgentKind::Gemini => ("gemini", "SC_GEMINI", "npm install -g @google/gemini-cli"),
            AgentKind::Aider => ("aider", "SC_AIDER", "pip install aider-chat"),
        }
    }

    /// Whether its stdout is JSON lines (aider's is plain text).
    pub fn writes_json(self) -> bool {
        self != AgentKind::Aider
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
        }
    }
}

/// A command line for an agent worker.
#[derive(Debug, Clone, PartialEq)]
pub struct Launch {
    pub argv: Vec<OsString>,
    pub env: Vec<(OsString, OsString)>,
    /// Written to its stdin first, which stays open (`converse`).
    pub input: Option<Vec<u8>>,
}

/// The program of `kind`: `$SC_CLAUDE` (and the like) or PATH. The error
/// says how to install it.
pub fn find_program(kind: AgentKind) -> Result<PathBuf, String> {
    let (name, variable, install) = kind.program();
    if let Some(path) = std::env::var_os(variable).filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(format!(
                "{variable} names {}, which is not a file",
                path.display()
            ))
        };
    }
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    });
    found.ok_or_else(|| {
        format!(
            "`{name}` ({}) is not on PATH: install it with `{install}`, or set {variable} to its path",
            kind.name()
        )
    })
}

/// The command line of a headless `kind` worker for `prompt`, with a role's
/// `instructions` and `permissions` (its grant for this kind). Nothing that
/// skips permission checks is added unless `options` says so explicitly.
pub fn command(
    kind: AgentKind,
    prompt: &str,
    instructions: Option<&str>,
    permissions: Option<&Value>,
    options: &AgentOptions,
) -> Result<Launch, String> {
    let program = if options.elsewhere {
        PathBuf::from(kind.program().0)
    } else {
        find_program(kind)?
    };
    let mut argv: Vec<OsString> = vec![program.into()];
    let mut input = None;
    let mut push = |args: &[&str]| argv.extend(args.iter().map(OsString::from));
    let grant = |key: &str| permissions.and_then(|p| p.get(key));
    let list = |key: &str| {
        grant(key).and_then(Value::as_array).map(|items| {
            items
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(",")
        })
    };
    // CLIs without a system prompt option get the instructions first.
    let with_instructions = match instructions {
        Some(text) => format!("{text}\n\n{prompt}"),
        None => prompt.to_owned(),
    };
    match kind {
        AgentKind::ClaudeCode => {
            if options.converse {
                // Its stdio control protocol (what the Agent SDKs speak):
                // the prompt is the first line of its stdin, and what it
                // may not do alone comes out as a `control_request`
                // answered there.
                push(&[
                    "-p",
                    "--input-format",
                    "stream-json",
                    "--output-format",
                    "stream-json",
                    "--verbose",
                    "--include-partial-messages",
                    "--permission-prompt-tool",
                    "stdio",
                ]);
                let line = serde_json::json!({
                    "type": "user",
                    "message": {"role": "user", "content": prompt},
                });
                input = Some(format!("{line}\n").into_bytes());
            } else {
                push(&[
                    "-p",
                    prompt,
                    "--output-format",
                    "stream-json",
                    "--verbose",
                    "--include-partial-messages",
                ]);
            }
            if let Some(session) = &options.resume {
                push(&["--resume", session]);
            }
            if let Some(text) = instructions {
                push(&["--append-system-prompt", text]);
            }
            if let Some(tools) = list("allowed_tools").filter(|t| !t.is_empty()) {
                push(&["--allowedTools", &tools]);
            }
            if let Some(tools) = list("disallowed_tools").filter(|t| !t.is_empty()) {
                push(&["--disallowedTools", &tools]);
            }
            if let Some(mode) = grant("permission_mode").and_then(Value::as_str) {
                push(&["--permission-mode", mode]);
            }
            if let Some(model) = &options.model {
                push(&["--model", model]);
            }
            if let Some(turns) = options.max_turns {
                push(&["--max-turns", &turns.to_string()]);
            }
            if let Some(usd) = options.max_budget_usd {
                push(&["--max-budget-usd", &usd.to_string()]);
            }
            if options.dangerously_skip_permissions {
                push(&["--dangerously-skip-permissions"]);
            }
        }
        AgentKind::Codex if options.converse => {
            // `codex app-server`: JSON-RPC on its stdio, where it asks for
            // what its approval policy does not let it do alone. The model
            // and sandbox go with the thread; `-c` settings on its line.
            push(&["app-server"]);
            let mut model = options.model.clone();
            let mut extra = options.extra_args.iter();
            while let Some(arg) = extra.next() {
                match arg.as_str() {
                    "-m" | "--model" => model = extra.next().cloned().or(model),
                    other => argv.push(other.into()),
                }
            }
            let sandbox = grant("sandbox")
                .and_then(Value::as_str)
                .unwrap_or("workspace-write");
            let mut thread = serde_json::json!({
                "approvalPolicy": "untrusted", "sandbox": sandbox, "ephemeral": true,
            });
            if let Some(model) = model {
                thread["model"] = model.into();
            }
            let lines = [
                serde_json::json!({"id": 1, "method": "initialize",
                    "params": {"clientInfo": {"name": "sc", "title": "sc", "version": env!("CARGO_PKG_VERSION")}}}),
                serde_json::json!({"method": "initialized"}),
                serde_json::json!({"id": 2, "method": "thread/start", "params": thread}),
                // Sent once the thread is there (its id filled in): see
                // the reader's `opened`.
                serde_json::json!({"id": 3, "method": "turn/start", "params": {
                    "threadId": CODEX_THREAD, "input": [{"type": "text", "text": with_instructions}]}}),
            ];
            input = Some(
                lines
                    .iter()
                    .map(|l| format!("{l}\n"))
                    .collect::<String>()
                    .into_bytes(),
            );
        }
        AgentKind::Codex => {
            // `codex exec resume SESSION PROMPT` takes no --sandbox: the
            // grant goes in as configuration there.
            push(&["exec"]);
            if options.resume.is_some() {
                push(&["resume"]);
            }
            push(&["--json", "--skip-git-repo-check"]);
            let sandbox = grant("sandbox")
                .and_then(Value::as_str)
                .unwrap_or("read-only");
            if options.dangerously_skip_permissions {
                push(&["--dangerously-bypass-approvals-and-sandbox"]);
            } else if options.resume.is_some() {
                push(&["-c", &format!("sandbox_mode=\"{sandbox}\"")]);
            } else {
                push(&["--sandbox", sandbox]);
            }
            if let Some(model) = &options.model {
                push(&["--model", model]);
            }
            argv.extend(options.extra_args.iter().map(OsString::from));
            if let Some(session) = &options.resume {
                argv.push(session.into());
            }
            argv.push(with_instructions.clone().into());
        }
        AgentKind::Gemini if options.converse => {
            // The Agent Client Protocol (`gemini --acp`): its `-p` mode
            // cannot ask; over ACP a tool it may not run alone comes as
            // `session/request_permission`.
            push(&["--acp"]);
            if let Some(model) = &options.model {
                push(&["--model", model]);
            }
            let lines = [
                serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                    "protocolVersion": 1,
                    "clientCapabilities": {"fs": {"readTextFile": false, "writeTextFile": false}, "terminal": false}}}),
                serde_json::json!({"jsonrpc": "2.0", "id": 2, "method": "session/new",
                    "params": {"cwd": WORKER_CWD, "mcpServers": []}}),
                serde_json::json!({"jsonrpc": "2.0", "id": 3, "method": "session/prompt", "params": {
                    "sessionId": CODEX_THREAD, "prompt": [{"type": "text", "text": with_instructions}]}}),
            ];
            input = Some(
                lines
                    .iter()
                    .map(|l| format!("{l}\n"))
                    .collect::<String>()
                    .into_bytes(),
            );
        }
        AgentKind::Gemini => {
            push(&["-p", &with_instructions, "--output-format", "stream-json"]);
            if let Some(session) = &options.resume {
                push(&["--resume", session]);
            }
            if options.dangerously_skip_permissions {
                push(&["--yolo"]);
            } else if let Some(mode) = grant("approval_mode").and_then(Value::as_str) {
                push(&["--approval-mode", mode]);
            }
            // Headless, Gemini offers its shell only to an allowed pattern
            // in auto_edit mode (`run_shell_command(cargo test)`): checked
            // against 0.61, it refuses any other command.
            let tools: Vec<String> = grant("allowed_tools")
                .and_then(Value::as_array)
                .map(|items| {
                    items
                        .iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default();
            for tool in &tools {
                push(&["--allowed-tools", tool]);
            }
            if let Some(model) = &options.model {
                push(&["--model", model]);
            }
        }
        AgentKind::Aider => {
            push(&[
                "--message",
                &with_instructions,
                "--no-pretty",
                "--no-check-update",
                "--no-show-model-warnings",
            ]);
            if grant("auto_commits").and_then(Value::as_bool) == Some(false) {
                push(&["--no-auto-commits"]);
            }
            if options.dangerously_skip_permissions {
                push(&["--yes-always"]);
            }
            if let Some(model) = &options.model {
                push(&["--model", model]);
            }
        }
    }
    if kind != AgentKind::Codex {
        argv.extend(options.extra_args.iter().map(OsString::from));
    }
    // No colour, no pager, no update prompts: a pipe is not a person.
    let env = [("NO_COLOR", "1"), ("FORCE_COLOR", "0"), ("CI", "1")]
        .iter()
        .map(|(k, v)| (OsString::from(k), OsString::from(v)))
        .collect();
    Ok(Launch { argv, env, input })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_fake(kind: AgentKind, f: impl FnOnce()) {
        let (_, variable, _) = kind.program();
        let fake =
            std::env::temp_dir().join(format!("sc-fake-{}-{}", kind.name(), std::process::id()));
        std::fs::write(&fake, "#!/bin/sh\n").unwrap();
        // SAFETY: tests of this crate touch these variables from this test
        // only, each its own variable.
        unsafe { std::env::set_var(variable, &fake) };
        f();
        unsafe { std::env::remove_var(variable) };
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
    fn a_missing_cli_says_how_to_install_it() {
        // SAFETY: see with_fake; no other test reads SC_AIDER.
        unsafe { std::env::set_var("SC_AIDER", "/no/such/aider") };
        let err = command(AgentKind::Aider, "p", None, None, &AgentOptions::default()).unwrap_err();
        unsafe { std::env::remove_var("SC_AIDER") };
        assert!(err.contains("SC_AIDER"), "{err}");
    }
}
