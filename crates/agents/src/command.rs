//! Each kind's headless command line: the CLI's flags for a prompt, a
//! role's instructions and its least-privilege grant, a model, a session to
//! resume; under `--ask` (and always for an agent driven over a protocol on
//! its stdin) what is written to its stdin first.

use std::ffi::OsString;
use std::path::PathBuf;

use serde_json::{Value, json};

use crate::{AgentKind, AgentOptions, Launch, find_program};

/// What the launch of one kind is made from.
struct Parts<'a> {
    prompt: &'a str,
    /// The prompt with the role's instructions first, for CLIs that have no
    /// system prompt option.
    with_instructions: String,
    instructions: Option<&'a str>,
    permissions: Option<&'a Value>,
    options: &'a AgentOptions,
    argv: Vec<OsString>,
    input: Option<Vec<u8>>,
    env: Vec<(OsString, OsString)>,
    granted: Vec<String>,
}

impl Parts<'_> {
    fn push(&mut self, args: &[&str]) {
        self.argv.extend(args.iter().map(OsString::from));
    }

    fn grant(&self, key: &str) -> Option<&Value> {
        self.permissions.and_then(|p| p.get(key))
    }

    /// A list in the grant, its strings.
    fn grant_list(&self, key: &str) -> Vec<String> {
        self.grant(key)
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }

    fn model(&mut self, flag: &str) {
        if let Some(model) = self.options.model.clone() {
            self.push(&[flag, &model]);
        }
    }

    fn extra(&mut self) {
        let extra = self.options.extra_args.clone();
        self.argv.extend(extra.into_iter().map(OsString::from));
    }

    /// Lines written to its stdin first.
    fn lines(&mut self, lines: &[Value]) {
        let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
        self.input = Some(text.into_bytes());
    }

    /// An ACP agent: the client's side is the reader's (see `acp`); its
    /// stdin's first line says what to ask of it. Its grant is the kinds of
    /// tool call it may make unasked (`"allow": ["read", "search"]`).
    fn acp(&mut self) {
        self.granted = self.grant_list("allow");
        let line = crate::acp::Opening {
            prompt: self.with_instructions.clone(),
            resume: self.options.resume.clone(),
        }
        .line();
        self.input = Some(line);
    }
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
    let argv = match kind {
        AgentKind::Acp => acp_agent(options)?,
        _ if options.elsewhere => vec![PathBuf::from(kind.info().program).into()],
        _ => vec![find_program(kind)?.into()],
    };
    let mut parts = Parts {
        prompt,
        with_instructions: match instructions {
            Some(text) => format!("{text}\n\n{prompt}"),
            None => prompt.to_owned(),
        },
        instructions,
        permissions,
        options,
        argv,
        input: None,
        // No colour, no pager, no update prompts: a pipe is not a person.
        env: [("NO_COLOR", "1"), ("FORCE_COLOR", "0"), ("CI", "1")]
            .iter()
            .map(|(k, v)| (OsString::from(k), OsString::from(v)))
            .collect(),
        granted: Vec::new(),
    };
    match kind {
        AgentKind::ClaudeCode => claude(&mut parts),
        AgentKind::QwenCode => qwen(&mut parts),
        AgentKind::Codex if options.converse => codex_app_server(&mut parts),
        AgentKind::Codex => codex(&mut parts),
        AgentKind::Gemini if options.converse => {
            // Its `-p` mode cannot ask; over ACP a tool it may not run
            // alone comes as `session/request_permission`.
            parts.push(&["--acp"]);
            parts.model("--model");
            parts.extra();
            parts.acp();
        }
        AgentKind::Gemini => gemini(&mut parts),
        AgentKind::Copilot => copilot(&mut parts),
        AgentKind::OpenCode => opencode(&mut parts),
        AgentKind::Acp => {
            parts.extra();
            parts.acp();
        }
        AgentKind::Aider => aider(&mut parts),
    }
    Ok(Launch {
        argv: parts.argv,
        env: parts.env,
        input: parts.input,
        granted: parts.granted,
    })
}

/// `--acp-agent CMD` (or a task's `acp_agent`), split into words as a
/// shell would, without one.
fn acp_agent(options: &AgentOptions) -> Result<Vec<OsString>, String> {
    let line = options.acp_agent.as_deref().unwrap_or("").trim();
    if line.is_empty() {
        return Err(
            "kind `acp` needs the agent's command line: --acp-agent 'CMD ARGS' (a task's \
             `acp_agent`), e.g. --acp-agent 'gemini --acp'"
                .into(),
        );
    }
    let words = shlex::split(line)
        .filter(|w| !w.is_empty())
        .ok_or_else(|| format!("--acp-agent {line:?}: unbalanced quotes"))?;
    Ok(words.into_iter().map(OsString::from).collect())
}

fn claude(p: &mut Parts<'_>) {
    if p.options.converse {
        // Its stdio control protocol (what the Agent SDKs speak): the
        // prompt is the first line of its stdin, and what it may not do
        // alone comes out as a `control_request` answered there.
        p.push(&[
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
        let prompt = p.prompt.to_owned();
        p.lines(&[json!({"type": "user", "message": {"role": "user", "content": prompt}})]);
    } else {
        let prompt = p.prompt.to_owned();
        p.push(&[
            "-p",
            &prompt,
            "--output-format",
            "stream-json",
            "--verbose",
            "--include-partial-messages",
        ]);
    }
    if let Some(session) = p.options.resume.clone() {
        p.push(&["--resume", &session]);
    }
    if let Some(text) = p.instructions {
        p.push(&["--append-system-prompt", text]);
    }
    for (key, flag) in [
        ("allowed_tools", "--allowedTools"),
        ("disallowed_tools", "--disallowedTools"),
    ] {
        let tools = p.grant_list(key).join(",");
        if !tools.is_empty() {
            p.push(&[flag, &tools]);
        }
    }
    if let Some(mode) = p.grant("permission_mode").and_then(Value::as_str) {
        let mode = mode.to_owned();
        p.push(&["--permission-mode", &mode]);
    }
    p.model("--model");
    if let Some(turns) = p.options.max_turns {
        p.push(&["--max-turns", &turns.to_string()]);
    }
    if let Some(usd) = p.options.max_budget_usd {
        p.push(&["--max-budget-usd", &usd.to_string()]);
    }
    if p.options.dangerously_skip_permissions {
        p.push(&["--dangerously-skip-permissions"]);
    }
    p.extra();
}

/// Qwen Code speaks Claude Code's stream-json both ways, always over its
/// stdin here: in that mode it hangs unless an `initialize` control
/// request comes first, and what its grant does not allow it asks for
/// (answered by the grant without `--ask`).
fn qwen(p: &mut Parts<'_>) {
    p.push(&[
        "--input-format",
        "stream-json",
        "--output-format",
        "stream-json",
        "--include-partial-messages",
    ]);
    if let Some(session) = p.options.resume.clone() {
        p.push(&["--resume", &session]);
    }
    if let Some(text) = p.instructions {
        p.push(&["--append-system-prompt", text]);
    }
    let mode = match p.grant("approval_mode").and_then(Value::as_str) {
        _ if p.options.dangerously_skip_permissions => "yolo".to_owned(),
        Some(mode) => mode.to_owned(),
        None => "default".to_owned(),
    };
    p.push(&["--approval-mode", &mode]);
    for tool in p.grant_list("allowed_tools") {
        p.push(&["--allowed-tools", &tool]);
    }
    p.model("--model");
    if let Some(turns) = p.options.max_turns {
        p.push(&["--max-session-turns", &turns.to_string()]);
    }
    p.extra();
    let prompt = p.prompt.to_owned();
    p.lines(&[
        json!({"type": "control_request", "request_id": "sc-init",
            "request": {"subtype": "initialize", "hooks": null}}),
        json!({"type": "user", "message": {"role": "user", "content": prompt}}),
    ]);
}

/// `codex app-server`: JSON-RPC on its stdio, where it asks for what its
/// approval policy does not let it do alone. The model and sandbox go with
/// the thread; `-c` settings on its line.
fn codex_app_server(p: &mut Parts<'_>) {
    p.push(&["app-server"]);
    let mut model = p.options.model.clone();
    let mut extra = p.options.extra_args.iter();
    while let Some(arg) = extra.next() {
        match arg.as_str() {
            "-m" | "--model" => model = extra.next().cloned().or(model),
            other => p.argv.push(other.into()),
        }
    }
    // In sc's sandbox its own is off: sc's holds the line (its bubblewrap
    // cannot be made inside), and keeps a read-only grant's directory so.
    let sandbox = match p.grant("sandbox").and_then(Value::as_str) {
        _ if p.options.confined => "danger-full-access",
        Some(sandbox) => sandbox,
        None => "workspace-write",
    };
    // Kept (not ephemeral), as `codex exec` keeps its sessions: a retry
    // resumes the thread with its conversation (`thread/resume`).
    let mut thread = json!({"approvalPolicy": "untrusted", "sandbox": sandbox});
    if let Some(model) = model {
        thread["model"] = model.into();
    }
    let open = match p.options.resume.clone() {
        Some(id) => {
            thread["threadId"] = id.into();
            "thread/resume"
        }
        None => "thread/start",
    };
    let text = p.with_instructions.clone();
    p.lines(&[
        json!({"id": 1, "method": "initialize",
            "params": {"clientInfo": {"name": "sc", "title": "sc", "version": env!("CARGO_PKG_VERSION")}}}),
        json!({"method": "initialized"}),
        json!({"id": 2, "method": open, "params": thread}),
        // Sent once the thread is there (its id filled in): see the
        // reader's `opened`.
        json!({"id": 3, "method": "turn/start", "params": {
            "threadId": crate::CODEX_THREAD, "input": [{"type": "text", "text": text}]}}),
    ]);
}

fn codex(p: &mut Parts<'_>) {
    // `codex exec resume SESSION PROMPT` takes no --sandbox: the grant
    // goes in as configuration there.
    p.push(&["exec"]);
    let resume = p.options.resume.clone();
    if resume.is_some() {
        p.push(&["resume"]);
    }
    p.push(&["--json", "--skip-git-repo-check"]);
    let sandbox = match p.options.confined {
        true => "danger-full-access",
        false => crate::confine::codex_sandbox(p.permissions),
    }
    .to_owned();
    if p.options.dangerously_skip_permissions {
        p.push(&["--dangerously-bypass-approvals-and-sandbox"]);
    } else if resume.is_some() {
        p.push(&["-c", &format!("sandbox_mode=\"{sandbox}\"")]);
    } else {
        p.push(&["--sandbox", &sandbox]);
    }
    p.model("--model");
    p.extra();
    if let Some(session) = resume {
        p.argv.push(session.into());
    }
    let text = p.with_instructions.clone();
    p.argv.push(text.into());
}

fn gemini(p: &mut Parts<'_>) {
    let text = p.with_instructions.clone();
    p.push(&["-p", &text, "--output-format", "stream-json"]);
    if let Some(session) = p.options.resume.clone() {
        p.push(&["--resume", &session]);
    }
    if p.options.dangerously_skip_permissions {
        p.push(&["--yolo"]);
    } else if let Some(mode) = p.grant("approval_mode").and_then(Value::as_str) {
        let mode = mode.to_owned();
        p.push(&["--approval-mode", &mode]);
    }
    // Headless, Gemini offers its shell only to an allowed pattern in
    // auto_edit mode (`run_shell_command(cargo test)`): checked against
    // 0.61, it refuses any other command.
    for tool in p.grant_list("allowed_tools") {
        p.push(&["--allowed-tools", &tool]);
    }
    p.model("--model");
    p.extra();
}

/// GitHub Copilot CLI: its JSONL headless; under `--ask`, ACP. Headless it
/// runs only the tools its grant allows (`--allow-tool`), and denies the
/// rest without asking.
fn copilot(p: &mut Parts<'_>) {
    if p.options.converse {
        // What its grant allows it does unasked; the rest it asks for.
        p.push(&["--acp", "--stdio", "--no-auto-update"]);
        for tool in p.grant_list("allowed_tools") {
            p.push(&["--allow-tool", &tool]);
        }
        p.model("--model");
        p.extra();
        p.acp();
        return;
    }
    let text = p.with_instructions.clone();
    p.push(&["-p", &text, "--output-format", "json", "--no-auto-update"]);
    // Its tokens are not in its output: it writes them here at its exit.
    // (Only in a private folder: where there is none, its tokens go unread.)
    if let Some(usage) = crate::copilot::usage_path() {
        p.push(&[crate::copilot::USAGE_FLAG, &usage.to_string_lossy()]);
    }
    if let Some(session) = p.options.resume.clone() {
        p.push(&[&format!("--resume={session}")]);
    }
    if p.options.dangerously_skip_permissions {
        p.push(&["--allow-all-tools"]);
    }
    for tool in p.grant_list("allowed_tools") {
        p.push(&["--allow-tool", &tool]);
    }
    for tool in p.grant_list("denied_tools") {
        p.push(&["--deny-tool", &tool]);
    }
    p.model("--model");
    p.extra();
}

/// OpenCode: `run --format json` headless; under `--ask`, ACP (`opencode
/// acp`). Its grant is its own `permission` setting, given through
/// OPENCODE_CONFIG_CONTENT (merged into what is set there already).
fn opencode(p: &mut Parts<'_>) {
    let mut permission = p.grant("permission").cloned();
    if p.options.converse {
        p.push(&["acp"]);
        // What the grant does not allow is asked for, not refused.
        let permission = permission.get_or_insert_with(|| json!({"bash": "deny", "edit": "deny"}));
        ask_for_denied(permission);
        p.extra();
        p.acp();
    } else {
        p.push(&["run", "--format", "json"]);
        if let Some(session) = p.options.resume.clone() {
            p.push(&["--session", &session]);
        }
        p.model("--model");
        p.extra();
        let text = p.with_instructions.clone();
        p.argv.push(text.into());
    }
    if p.options.dangerously_skip_permissions {
        permission = Some(json!("allow"));
    }
    if let Some(permission) = permission {
        let mut config: Value = std::env::var("OPENCODE_CONFIG_CONTENT")
            .ok()
            .and_then(|c| serde_json::from_str(&c).ok())
            .filter(Value::is_object)
            .unwrap_or_else(|| json!({}));
        config["permission"] = permission;
        p.env
            .push(("OPENCODE_CONFIG_CONTENT".into(), config.to_string().into()));
    }
}

/// OpenCode's permission setting with each `deny` made `ask`.
fn ask_for_denied(permission: &mut Value) {
    match permission {
        Value::String(rule) if rule == "deny" => *rule = "ask".into(),
        Value::Object(rules) => rules.values_mut().for_each(ask_for_denied),
        _ => {}
    }
}

fn aider(p: &mut Parts<'_>) {
    let text = p.with_instructions.clone();
    p.push(&[
        "--message",
        &text,
        "--no-pretty",
        "--no-check-update",
        "--no-show-model-warnings",
    ]);
    if p.grant("auto_commits").and_then(Value::as_bool) == Some(false) {
        p.push(&["--no-auto-commits"]);
    }
    if p.options.dangerously_skip_permissions {
        p.push(&["--yes-always"]);
    }
    p.model("--model");
    p.extra();
}
