//! The agent CLIs sc knows, in one table: the worker kind names of the
//! contract (a `start`'s `kind`), the program each runs and how to get it,
//! what sc reads from it and how it asks. sc-spawn, sc-plan, sc-view and
//! the docs all read this table; a kind is added here once.

/// One agent kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AgentKindInfo {
    /// The worker kind (`--kind`, a task's `kind`).
    pub name: &'static str,
    /// Other names accepted for it.
    pub aliases: &'static [&'static str],
    /// The program looked up on PATH (for `acp`, the program of
    /// `--acp-agent`, which has none of its own).
    pub program: &'static str,
    /// The variable that names the program instead of PATH.
    pub variable: &'static str,
    /// How to install it.
    pub install: &'static str,
    /// Its stdout is JSON lines (aider's is text).
    pub json: bool,
    /// What sc reads from it headless.
    pub reads: &'static str,
    /// How it asks under `--ask`; None: it cannot.
    pub asks: Option<&'static str>,
    /// It may plan (`sc-plan --planner`): it can be made read-only and
    /// answer with a plan.
    pub plans: bool,
}

/// Every agent kind sc knows, in the order they are listed to people.
pub const AGENT_KINDS: &[AgentKindInfo] = &[
    AgentKindInfo {
        name: "claude-code",
        aliases: &["claude"],
        program: "claude",
        variable: "SC_CLAUDE",
        install: "npm install -g @anthropic-ai/claude-code",
        json: true,
        reads: "`-p --output-format stream-json`: live text, tool calls, cost, session",
        asks: Some("its stdio control protocol (`can_use_tool`)"),
        plans: true,
    },
    AgentKindInfo {
        name: "codex",
        aliases: &[],
        program: "codex",
        variable: "SC_CODEX",
        install: "npm install -g @openai/codex",
        json: true,
        reads: "`exec --json`: items, tokens per turn, thread",
        asks: Some("`codex app-server` (JSON-RPC approvals)"),
        plans: true,
    },
    AgentKindInfo {
        name: "gemini",
        aliases: &[],
        program: "gemini",
        variable: "SC_GEMINI",
        install: "npm install -g @google/gemini-cli",
        json: true,
        reads: "`-p --output-format stream-json`: text, tool calls, tokens, session",
        asks: Some("ACP (`gemini --acp`)"),
        plans: true,
    },
    AgentKindInfo {
        name: "qwen-code",
        aliases: &["qwen"],
        program: "qwen",
        variable: "SC_QWEN",
        install: "npm install -g @qwen-code/qwen-code",
        json: true,
        reads: "Claude-shaped stream-json (after an `initialize` request): live text, tool calls, tokens, session",
        asks: Some("the same stdio control protocol as Claude Code"),
        plans: false,
    },
    AgentKindInfo {
        name: "copilot",
        aliases: &["copilot-cli"],
        program: "copilot",
        variable: "SC_COPILOT",
        install: "npm install -g @github/copilot",
        json: true,
        reads: "`-p --output-format json`: live text, tool runs, the result (tokens from its usage file)",
        asks: Some("ACP (`copilot --acp --stdio`)"),
        plans: false,
    },
    AgentKindInfo {
        name: "opencode",
        aliases: &[],
        program: "opencode",
        variable: "SC_OPENCODE",
        install: "npm install -g opencode-ai",
        json: true,
        reads: "`run --format json`: text, tool runs, tokens and cost per step, session",
        asks: Some("ACP (`opencode acp`)"),
        plans: false,
    },
    AgentKindInfo {
        name: "acp",
        aliases: &[],
        program: "",
        variable: "",
        install: "any agent that speaks the Agent Client Protocol on stdio, named by --acp-agent",
        json: true,
        reads: "ACP `session/update`: live text, tool calls, plans, usage and cost where given",
        asks: Some("ACP `session/request_permission`"),
        plans: false,
    },
    AgentKindInfo {
        name: "aider",
        aliases: &[],
        program: "aider",
        variable: "SC_AIDER",
        install: "pip install aider-chat",
        json: false,
        reads: "`--message --no-pretty` text: its `Tokens: … Cost:` lines",
        asks: None,
        plans: false,
    },
];

/// The agent kind of worker kind `name` (or one of its aliases).
pub fn agent_kind(name: &str) -> Option<&'static AgentKindInfo> {
    AGENT_KINDS
        .iter()
        .find(|k| k.name == name || k.aliases.contains(&name))
}

/// The names of the agent kinds, for messages: `claude-code, codex, …`.
pub fn agent_kind_names() -> String {
    AGENT_KINDS
        .iter()
        .map(|k| k.name)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_aliases_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for kind in AGENT_KINDS {
            for name in std::iter::once(&kind.name).chain(kind.aliases) {
                assert!(seen.insert(*name), "{name} twice");
                assert_eq!(agent_kind(name), Some(kind));
            }
        }
        // Worker kinds that are no agent.
        assert!(agent_kind("shell").is_none() && agent_kind("sc").is_none());
    }
}
