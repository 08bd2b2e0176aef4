//! What a worker is told at its making: its id and kind, its timers, and
//! the policies composed around its attempts (retries, budget, the remote
//! side it follows).

use std::time::Duration;

use crate::agent::Agent;
use crate::plan::worktree::Worktree;

/// How a worker is watched. Durations of `None` turn a timer off.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    pub id: String,
    /// `shell` for a plain command, `sc` for a nested stream, or an agent kind.
    pub kind: String,
    /// How long a partial line may wait before it is emitted.
    pub flush: Duration,
    pub max_event_bytes: usize,
    pub heartbeat: Option<Duration>,
    pub stall: Option<Duration>,
    pub timeout: Option<Duration>,
    /// From SIGTERM to SIGKILL.
    pub kill_grace: Duration,
    /// How long to keep reading after the worker exited while another
    /// process (a grandchild) still holds its outputs open. The clock stops
    /// while sc itself holds output back (its own reader is slow).
    pub drain: Duration,
    /// Annotate output events with detected progress.
    pub progress: bool,
    /// The seq of the first event written (1 when the plan's `task` event
    /// already took 0).
    pub first_seq: u64,
    /// The worker's stdout is itself an sc stream (kind `sc`): re-emit its
    /// events as `ID/inner` instead of wrapping them as output.
    pub nested: bool,
    /// An agent CLI: its output lines are read into `agent` annotations.
    pub agent: Option<std::sync::Arc<dyn Agent>>,
    /// How long an agent may run on after its result before it is ended.
    pub agent_grace: Duration,
    /// The worker's own git worktree (`--worktree`), finished at its exit.
    pub worktree: Option<Worktree>,
    /// Run a failed attempt again (`--retries`).
    pub retry: Option<Retry>,
    /// The first attempt resumes this agent session (`--resume`): said in
    /// its `start`.
    pub resumes: Option<String>,
    /// An agent's spending: counted always, capped when asked.
    pub budget: Option<Budget>,
    /// It runs on this host: the command is ssh running a remote sc-spawn,
    /// whose stream is this worker's own (see [`crate::placement::relay`]).
    pub remote: Option<String>,
    /// `--reconnect`: the remote worker is spooled there, and a lost
    /// connection is made again.
    pub reconnect: Option<Reconnect>,
    /// The node this worker runs on, said in its `start` (a Slurm job
    /// step's sc-spawn names it for the side that launched the step).
    pub node: Option<String>,
    /// `--ask`: an agent asks for what it may not do alone, and is answered.
    pub ask: Option<AskPolicy>,
    /// What the agent's grant allows when it asks (its command's
    /// `granted`): answered `allow` by `grant`, nobody asked.
    pub granted: Vec<String>,
    /// Said as `error` events before its first start (what keeps its CLI
    /// from working here).
    pub warnings: Vec<String>,
}

/// How a remote worker is followed again after its connection was lost.
#[derive(Debug, Clone)]
pub struct Reconnect {
    /// Where it runs: how to follow it, and how many times.
    pub place: std::sync::Arc<dyn crate::placement::Elsewhere>,
    /// Its spool there.
    pub dir: String,
}

/// What an agent worker may spend, and how its spending is counted.
#[derive(Debug, Clone)]
pub struct Budget {
    /// Ended (`ended_by: "budget"`) when its running cost reaches this.
    pub max_usd: Option<f64>,
    /// Ended when its tokens reach this (for models with no known price).
    pub max_tokens: Option<u64>,
    /// The model it was asked to use, when the agent does not say.
    pub model: Option<String>,
}

/// When and how a failed attempt runs again.
#[derive(Clone)]
pub struct Retry {
    /// Attempts after the first, at most.
    pub retries: u32,
    /// The first pause; each next one doubles, with jitter.
    pub delay: Duration,
    /// Any failure is retried (Some(true)), or only those that may pass
    /// by themselves (Some(false): an agent's overloaded API or lost
    /// network, an agent that exited without a result). None: by kind —
    /// a command's any failure, as `parallel --retries` does; an agent's
    /// transient ones only (its failures cost money).
    pub on_any: Option<bool>,
    /// For an agent: the command line that resumes its session (the
    /// session id, why the last attempt ended), so that the work done and
    /// paid for is kept.
    pub resume: Option<Resume>,
}

/// Builds the argv and extra environment that resume an agent's session.
pub type Resume =
    std::sync::Arc<dyn Fn(&str, &str) -> Result<crate::agent::AgentCommand, String> + Send + Sync>;

/// How a conversing agent's asks are answered (`--ask`): by a policy
/// command, else a person, else the default when the time is up.
#[derive(Debug, Clone)]
pub struct AskPolicy {
    /// `--ask-cmd`: run per ask (`sh -c`), the `ask` event on its stdin; it
    /// prints `allow` or `deny` (and a message), or nothing to pass.
    pub command: Option<String>,
    /// `--ask-timeout`: how long an ask waits (None: for ever).
    pub timeout: Option<Duration>,
    /// `--ask-default`: the decision when the time is up.
    pub default_allow: bool,
    /// The run's control socket, said in each `ask` (where `sc-ctl answer`
    /// reaches it).
    pub control: Option<String>,
    /// Nobody is asked (no `--ask`; an agent driven over a protocol asks
    /// all the same): what its grant does not allow is denied at once, by
    /// `grant`.
    pub grant_only: bool,
}

impl AskPolicy {
    /// Without `--ask`: the grant alone answers.
    pub fn grant_only() -> AskPolicy {
        AskPolicy {
            // (Each is answered at once; this is only a backstop.)
            timeout: Some(Duration::ZERO),
            grant_only: true,
            ..AskPolicy::default()
        }
    }
}

impl Default for AskPolicy {
    fn default() -> Self {
        AskPolicy {
            command: None,
            timeout: Some(Duration::from_secs(300)),
            default_allow: false,
            control: None,
            grant_only: false,
        }
    }
}

impl std::fmt::Debug for Retry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Retry")
            .field("retries", &self.retries)
            .field("delay", &self.delay)
            .field("on_any", &self.on_any)
            .field("resume", &self.resume.is_some())
            .finish()
    }
}

impl Default for WorkerOptions {
    fn default() -> Self {
        WorkerOptions {
            id: "worker".into(),
            kind: "shell".into(),
            flush: Duration::from_millis(50),
            max_event_bytes: 64 * 1024,
            heartbeat: Some(Duration::from_secs(5)),
            stall: Some(Duration::from_secs(120)),
            timeout: None,
            kill_grace: Duration::from_secs(5),
            drain: Duration::from_millis(1000),
            progress: true,
            first_seq: 0,
            nested: false,
            agent: None,
            agent_grace: Duration::from_secs(10),
            worktree: None,
            retry: None,
            resumes: None,
            budget: None,
            remote: None,
            reconnect: None,
            node: None,
            ask: None,
            granted: Vec::new(),
            warnings: Vec::new(),
        }
    }
}
