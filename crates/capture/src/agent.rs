//! How the capture core knows agents: through these traits only. The
//! `sc-agents` crate implements them (each CLI's command line, its output's
//! annotations, its results, its session, its spending); the capture core
//! stays a supervisor of processes and streams that knows no CLI by name.

use std::ffi::OsString;
use std::fmt;
use std::sync::Arc;

use serde_json::Value;

/// Environment variables to add, as pairs.
pub type EnvPairs = Vec<(OsString, OsString)>;

/// The agent kinds a run knows, by worker kind name.
pub trait Agents: Send + Sync {
    /// The agent behind worker kind `kind` (`claude-code`, ...); None for
    /// `shell`, `sc` and kinds that are no agent.
    fn kind(&self, kind: &str) -> Option<Arc<dyn Agent>>;

    /// The worker kinds this knows, for messages.
    fn names(&self) -> Vec<String>;
}

/// What a task asks of an agent.
#[derive(Debug, Clone, Default)]
pub struct Ask<'a> {
    pub prompt: &'a str,
    /// The role's instructions.
    pub instructions: Option<&'a str>,
    /// The role's grant for this kind.
    pub permissions: Option<&'a Value>,
    /// Resume this session instead of starting a new one.
    pub resume: Option<&'a str>,
    /// The most the run may spend (a CLI that has a cap of its own gets it).
    pub max_budget_usd: Option<f64>,
    /// Run it with its approval channel (`--ask`): what it may not do alone
    /// it asks for, and waits for the answer on its stdin.
    pub converse: bool,
    /// Kind `acp`: the agent's command line (a task's `acp_agent`).
    pub acp_agent: Option<&'a str>,
    /// It runs in sc's sandbox (`--sandbox`), which holds the line: a CLI
    /// sandbox of its own, which could not be made inside, is turned off.
    pub confined: bool,
}

/// What an agent needs of sc's sandbox to do its work inside it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SandboxNeeds {
    /// Its state folders (sessions, settings, logs): made if missing (it
    /// would make them itself, and cannot under a read-only home), and
    /// writable.
    pub state: Vec<std::path::PathBuf>,
    /// Its state files: writable where they exist.
    pub write: Vec<std::path::PathBuf>,
    /// Its model's API (`HOST:PORT`), reached through the allow-list.
    pub net: Vec<String>,
    /// Its grant lets it read only (Codex's `read-only`): its directory
    /// stays read-only too, as its own sandbox would have kept it.
    pub read_only: bool,
}

/// How an agent fits where it is run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fit {
    /// What it needs of sc's sandbox, granted when it is confined.
    pub needs: SandboxNeeds,
    /// What keeps it from working as it is run here, said as `error`
    /// events before it starts: it still runs.
    pub warnings: Vec<String>,
}

/// How to run an agent for an [`Ask`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AgentCommand {
    pub argv: Vec<OsString>,
    pub env: EnvPairs,
    /// Written to its stdin first, which stays open (a CLI that takes its
    /// prompt there when it converses, or that is driven over a protocol
    /// there: it may then ask even without `--ask`, and is answered by its
    /// grant).
    pub input: Option<Vec<u8>>,
    /// The tools (by an ask's `tool`) its grant allows when it asks: allowed
    /// without asking anyone (`answer` by `grant`).
    pub granted: Vec<String>,
}

/// What an ask is answered with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision<'a> {
    Allow,
    Deny,
    /// One of a question's options (its label).
    Choice(&'a str),
}

impl<'a> Decision<'a> {
    /// `allow`, `deny`, or an option's label.
    pub fn of(decision: &'a str) -> Decision<'a> {
        match decision {
            "allow" => Decision::Allow,
            "deny" => Decision::Deny,
            label => Decision::Choice(label),
        }
    }
}

/// A decision an agent asks for (a tool outside its grant, a question).
#[derive(Debug, Clone, PartialEq)]
pub struct AgentAsk {
    /// The agent's own id of the request.
    pub id: String,
    pub tool: String,
    pub input: Value,
    pub reason: Option<String>,
}

/// One agent CLI.
pub trait Agent: Send + Sync + fmt::Debug {
    fn name(&self) -> &str;

    /// Its headless command line for `ask`, and what to add to its
    /// environment; the error says what is missing (the CLI, a prompt).
    fn command(&self, ask: &Ask<'_>) -> Result<AgentCommand, String>;

    /// Whether it can ask for decisions (`--ask`): it has an approval
    /// channel sc speaks.
    fn converses(&self) -> bool {
        false
    }

    /// A reader for one worker's output lines.
    fn reader(&self) -> Box<dyn AgentReader>;

    /// How it fits where it is run for `ask`, as `argv` with its
    /// environment read through `var`: what it needs of sc's sandbox, and
    /// what keeps it from working here.
    fn fit(&self, ask: &Ask<'_>, argv: &[OsString], var: &dyn Fn(&str) -> Option<OsString>) -> Fit {
        let _ = (ask, argv, var);
        Fit::default()
    }
}

/// What a run has spent so far.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Spend {
    /// USD; None when it cannot be counted (a model without a price).
    pub usd: Option<f64>,
    pub tokens: u64,
}

impl Spend {
    /// Two attempts' spending together.
    pub fn plus(self, other: Spend) -> Spend {
        Spend {
            usd: match (self.usd, other.usd) {
                (Some(a), Some(b)) => Some(a + b),
                (a, b) => a.or(b),
            },
            tokens: self.tokens + other.tokens,
        }
    }
}

/// Reads one agent worker's output lines, and says where its run stands.
pub trait AgentReader: Send + fmt::Debug {
    /// A whole line of its stdout: the `agent` annotation it makes, if any.
    fn line(&mut self, line: &[u8]) -> Option<Value>;

    /// The last result's verdict, if a result came.
    fn result(&self) -> Option<bool>;

    /// Results written so far (interim ones included).
    fn results(&self) -> u32;

    /// The last result came with no background work open: the agent
    /// should exit now.
    fn settled(&self) -> bool;

    /// Its session id, once it said it.
    fn session(&self) -> Option<&str> {
        None
    }

    /// Why it failed, when that failure may pass by itself (worth a retry).
    fn trouble(&self) -> Option<&str> {
        None
    }

    /// The model it said it uses.
    fn model(&self) -> Option<&str> {
        None
    }

    /// An annotation made elsewhere (by the sc-spawn that runs it on a
    /// host, relayed here): taken in as if read here, so that what it
    /// spends is known while it runs.
    fn note(&mut self, _annotation: &Value) {}

    /// What it has spent; `model` stands in when it did not name its own.
    fn spend(&self, _model: Option<&str>) -> Spend {
        Spend::default()
    }

    /// Its attempt was launched with `argv`.
    fn launched(&mut self, _argv: &[OsString]) {}

    /// Its process exited: what it leaves for sc to read then (a file of
    /// its final usage) is read now, before its spending is counted.
    fn exited(&mut self) {}

    /// What sc writes to its stdin first (its command's `input`; the
    /// worker runs in `cwd`), and what of it is sent now: a protocol whose next step waits on what the
    /// agent says (a thread id) keeps that step for [`Self::take_replies`].
    fn opened(&mut self, input: &[u8], _cwd: &std::path::Path) -> Vec<u8> {
        input.to_vec()
    }

    /// Lines its protocol needs sent now, after what it said.
    fn take_replies(&mut self) -> Vec<Vec<u8>> {
        Vec::new()
    }

    /// The decisions it asked for since the last call.
    fn take_asks(&mut self) -> Vec<AgentAsk> {
        Vec::new()
    }

    /// Asks it withdrew since the last call (its own ids).
    fn take_withdrawn(&mut self) -> Vec<String> {
        Vec::new()
    }

    /// The line that tells it `text` as the user's next message on its
    /// stdin (empty where it takes none).
    fn say(&self, _text: &str) -> Vec<u8> {
        Vec::new()
    }

    /// The line that answers `ask` on its stdin.
    fn answer(
        &mut self,
        _ask: &AgentAsk,
        _decision: Decision<'_>,
        _message: Option<&str>,
    ) -> Vec<u8> {
        Vec::new()
    }

    /// What tells it, on its stdin, that its turn is cancelled (the worker
    /// is being ended): a protocol that has such a message sends it, so
    /// that the agent ends its turn and saves its session before the
    /// signal. Empty where it has none.
    fn cancel(&mut self) -> Vec<u8> {
        Vec::new()
    }
}
