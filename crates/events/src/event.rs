//! The typed events of schema v1, as fixed by the design contract.
//!
//! Every event has four fields (`type`, `worker`, `seq`, `ts`) and a body whose
//! fields depend on the type. [`Event`] holds the four and a [`Body`]; each
//! body variant wraps a struct of its own, so one definition serves the
//! writer, the reader and users' programs.

use crate::ended::{EndedBy, LimitsReport, WorktreeReport};
pub use crate::limits::Limits;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The schema version written in every `start` event.
pub const SCHEMA_VERSION: u32 = 1;

/// One event of an sc stream.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The worker's id, unique in the stream (`outer/inner` when nested).
    pub worker: String,
    /// Per worker: 0 for its first event, then +1 for each next one.
    pub seq: u64,
    /// Unix time in seconds, microsecond precision, when sc observed the data.
    pub ts: f64,
    /// The type-specific part.
    pub body: Body,
}

impl Event {
    pub fn new(worker: impl Into<String>, seq: u64, ts: f64, body: impl Into<Body>) -> Event {
        Event {
            worker: worker.into(),
            seq,
            ts,
            body: body.into(),
        }
    }

    /// The value of the `type` field.
    pub fn type_name(&self) -> &str {
        self.body.type_name()
    }
}

/// The type-specific fields of an event. Serialized without a tag: the
/// `type` field is written by [`Event`] so that it comes first on the line.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
// Tasks are the largest and the rarest events; a Box would burden every
// user's match for no gain on the hot path (output events).
#[allow(clippy::large_enum_variant)]
pub enum Body {
    Task(Task),
    Start(Start),
    Output(Output),
    Progress(ProgressEvent),
    Heartbeat(Heartbeat),
    Stall(Stall),
    Skip(Skip),
    Error(ErrorEvent),
    Exit(Exit),
    Retry(Retry),
    Ask(Ask),
    Answer(Answer),
    Sandbox(SandboxNote),
    Say(Said),
    Stop(Stopped),
    /// An event type this version does not know (a later schema's addition):
    /// kept whole so that tools pass it on unchanged.
    Other {
        #[serde(skip)]
        type_name: String,
        #[serde(flatten)]
        fields: Map<String, Value>,
    },
}

impl Body {
    pub fn type_name(&self) -> &str {
        match self {
            Body::Task(_) => "task",
            Body::Start(_) => "start",
            Body::Output(_) => "output",
            Body::Progress(_) => "progress",
            Body::Heartbeat(_) => "heartbeat",
            Body::Stall(_) => "stall",
            Body::Skip(_) => "skip",
            Body::Error(_) => "error",
            Body::Exit(_) => "exit",
            Body::Retry(_) => "retry",
            Body::Ask(_) => "ask",
            Body::Answer(_) => "answer",
            Body::Sandbox(_) => "sandbox",
            Body::Say(_) => "say",
            Body::Stop(_) => "stop",
            Body::Other { type_name, .. } => type_name,
        }
    }
}

macro_rules! into_body {
    ($($ty:ident => $variant:ident),* $(,)?) => {
        $(impl From<$ty> for Body {
            fn from(value: $ty) -> Body {
                Body::$variant(value)
            }
        })*
    };
}

into_body!(
    Task => Task,
    Start => Start,
    Output => Output,
    ProgressEvent => Progress,
    Heartbeat => Heartbeat,
    Stall => Stall,
    Skip => Skip,
    ErrorEvent => Error,
    Exit => Exit,
    Retry => Retry,
    Ask => Ask,
    Answer => Answer,
    SandboxNote => Sandbox,
    Said => Say,
    Stopped => Stop,
);

/// A plan entry: what sc-spawn's plan mode runs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Task {
    /// Equal to the event's `worker`.
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub argv: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_s: Option<f64>,
    #[serde(default)]
    pub depends_on: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<BTreeMap<String, String>>,
    /// Addition to v1: what the role tells the agent to do and not do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instructions: Option<String>,
    /// Addition to v1: the role's least-privilege grant for this task's
    /// agent kind (allowed tools, sandbox, approval mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions: Option<Value>,
    /// Addition to v1: resource limits sc-spawn applies at launch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<Limits>,
    /// Addition to v1: play this recorded run (an sc stream) instead of
    /// launching the agent CLI (`sc-plan --demo`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay: Option<String>,
    /// Addition to v1: how many times a failed attempt may run again
    /// (`sc-spawn --retries`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<u32>,
    /// Addition to v1: the most this agent task may spend, in USD; it is
    /// ended (`ended_by: "budget"`) when its running cost reaches it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_cost_usd: Option<f64>,
    /// Addition to v1: an agent task asks for what it may not do alone
    /// (`sc-spawn --ask`), and waits for the answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ask: Option<bool>,
    /// Addition to v1: run on this host over ssh (`[user@]host[:port]` or
    /// an ssh config alias).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Addition to v1: run as a Slurm job step (`srun`), with these
    /// resources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slurm: Option<SlurmTask>,
    /// Addition to v1: kind `acp`, the command line of the agent that
    /// speaks the Agent Client Protocol on stdio (split into words as a
    /// shell would, with no shell run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acp_agent: Option<String>,
    /// Addition to v1: run confined (`sc-spawn --sandbox`): `true`, or what
    /// more it may write and what more is hidden from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<TaskSandbox>,
}

/// A task's sandbox (an addition to v1): `true` (or `false`: as the run
/// says), or its settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TaskSandbox {
    On(bool),
    With(SandboxSettings),
}

/// What a task's sandbox lets it do beyond its directory and /tmp; each is
/// optional, and nothing else is accepted (a setting sc does not know is
/// an error, never ignored).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxSettings {
    /// More absolute paths it may write.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub write: Vec<String>,
    /// More absolute paths hidden from it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hide: Vec<String>,
    /// The network it may reach: hosts (`HOST`, `HOST:PORT`, `*.DOMAIN`)
    /// through sc's proxy, or `host` for the whole network. None by
    /// default.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub net: Vec<String>,
    /// Its kind: `bwrap` (the default), `landlock`, or `podman:IMAGE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

/// What a task asks of Slurm (an addition to v1); each is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlurmTask {
    /// The partition (`srun -p`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<String>,
    /// CPUs for the step (`srun -c`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus: Option<u32>,
    /// Memory, as Slurm writes it (`4G`, `500M`; `srun --mem`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mem: Option<String>,
    /// Time limit, as Slurm writes it (`30`, `1:00:00`; `srun -t`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
}

/// A worker process was launched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Start {
    pub argv: Vec<String>,
    pub pid: u32,
    pub cwd: String,
    pub kind: String,
    pub pty: bool,
    pub schema: u32,
    /// Addition to v1: the resource limits applied at launch, and how the
    /// memory limit is held (`memory_by`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<LimitsReport>,
    /// Addition to v1: the attempt this launch is, from 2 (absent on the
    /// first), when a failed attempt is run again (`--retries`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
    /// Addition to v1: the agent session this attempt resumes, so that the
    /// work done and paid for is kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resumes: Option<String>,
    /// Addition to v1: the host the worker runs on (`sc-spawn --host`, a
    /// task's `host`); `pid` is then the pid there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Addition to v1: what confines the worker (`sc-spawn --sandbox`, a
    /// task's `sandbox`): its kind, `"bwrap"` (`pid` is then bubblewrap's),
    /// `"landlock"`, or `"podman:IMAGE"` (`pid` is then `podman run`'s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<String>,
    /// Addition to v1, with `--worktree`: the worker's own git worktree,
    /// where its work can be looked at while it runs (the `exit` says what
    /// it changed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worktree: Option<WorktreeAt>,
}

/// `start.worktree` (`--worktree`): the worker's worktree and branch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorktreeAt {
    pub path: String,
    pub branch: String,
    /// What the branch started from.
    pub base: String,
}

/// Which of the worker's outputs the bytes came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    Stdout,
    Stderr,
    /// stdout and stderr merged on a pseudo-terminal.
    Pty,
}

impl Stream {
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
            Stream::Pty => "pty",
        }
    }
}

/// The payload of an output event: `text` when the bytes are valid UTF-8,
/// `bytes` (base64) when they are not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Payload {
    Text(String),
    Bytes(#[serde(with = "crate::base64_field")] Vec<u8>),
}

impl Payload {
    /// The payload for these bytes under the lossless rule.
    pub fn from_bytes(data: &[u8]) -> Payload {
        match std::str::from_utf8(data) {
            Ok(text) => Payload::Text(text.to_owned()),
            Err(_) => Payload::Bytes(data.to_vec()),
        }
    }

    /// The exact bytes the worker wrote.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Payload::Text(text) => text.as_bytes(),
            Payload::Bytes(bytes) => bytes,
        }
    }
}

/// Progress detected in a line of output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    pub percent: Option<f64>,
    pub message: String,
}

/// Bytes from the worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Output {
    pub stream: Stream,
    #[serde(flatten)]
    pub payload: Payload,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<Progress>,
    /// The normalized agent annotation (agent kinds only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<Value>,
}

/// Progress not tied to one output event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProgressEvent {
    pub percent: Option<f64>,
    pub message: String,
}

/// Written every heartbeat interval while the worker lives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Heartbeat {
    pub idle_ms: u64,
    pub lines: u64,
    pub bytes: u64,
    /// CPU time of the whole process tree; null where unknown.
    pub cpu_ms: Option<u64>,
    /// Resident memory of the whole process tree; null where unknown.
    pub rss_kib: Option<u64>,
}

/// The worker has been silent for the stall threshold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stall {
    pub idle_ms: u64,
}

/// Addition to v1: an attempt of the worker ended in a failure that may
/// pass (an overloaded model API, a network failure), and it runs again
/// after `delay_ms`. Its `exit` is the last attempt's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Retry {
    /// The attempt that ended (1 for the first).
    pub attempt: u32,
    /// Why it is run again.
    pub reason: String,
    pub code: Option<i32>,
    pub signal: Option<String>,
    /// How long the attempt ran.
    pub duration_ms: u64,
    /// How long until the next attempt starts.
    pub delay_ms: u64,
}

/// Addition to v1 (`sc-spawn --ask`): the agent asks for a decision it
/// cannot take alone — a tool outside its grant, a question to the user —
/// and waits. Exactly one `answer` with the same `ask` follows before the
/// worker's `exit`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ask {
    /// Unique in the stream; stable across nesting and hosts.
    pub ask: String,
    /// The tool it wants to use (`Bash`, `Write`, `AskUserQuestion`, ...).
    pub tool: String,
    /// The tool's input as the agent gave it: the command, the file and its
    /// change, the questions.
    pub input: Value,
    /// Why, where the agent says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The decisions it takes (`["allow","deny"]`).
    pub choices: Vec<String>,
    /// Where an answer can be sent (the run's control socket), if anywhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control: Option<String>,
}

/// Addition to v1: the decision on an `ask`, and who took it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Answer {
    /// The `ask` answered.
    pub ask: String,
    /// `allow` or `deny`.
    pub decision: String,
    /// `person`, `command` (--ask-cmd), `timeout` (--ask-timeout),
    /// `agent` (the agent withdrew the ask), or (an addition) `grant`: the
    /// worker's grant decided it, nobody was asked (what it allows, or
    /// without --ask, what it does not).
    pub by: String,
    /// Said to the agent with a denial, or why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Addition to v1: by a person, the tool it came through (`sc-ctl`,
    /// `sc-view`, `sc-view --serve`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
}

/// Addition to v1: a person told a running agent something (`sc-ctl say`,
/// the view, the page), before it reaches the agent as the user's next
/// message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Said {
    /// What was said.
    pub text: String,
    /// `person`.
    pub by: String,
    /// The tool it came through (`sc-ctl`, `sc-view`, `sc-view --serve`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
}

/// Addition to v1: a person stopped the worker (`sc-ctl stop`, the view,
/// the page), as Ctrl-C would; its `exit` follows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stopped {
    /// `person`.
    pub by: String,
    /// The tool it came through (`sc-ctl`, `sc-view`, `sc-view --serve`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
}

/// Addition to v1 (`sc-spawn --sandbox`): the sandbox refused the worker
/// something, said as it happens (before the worker's own complaint about
/// it): a connection to a host not on its network allow-list; or, right
/// after its start, what this kind of sandbox cannot hold (`limited`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SandboxNote {
    /// `refused`, or `limited`.
    pub decision: String,
    /// The `host:port` it asked to reach.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub net: Option<String>,
    /// Why, and what would allow it.
    pub message: String,
}

/// A task that will not run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Skip {
    pub reason: String,
    /// Addition to v1: the task is not run because an earlier run already
    /// did it (`sc-spawn --resume`): it counts as succeeded.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub done: bool,
}

/// sc's own problem with this worker or input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorEvent {
    pub message: String,
}

/// The worker is finished; always its last event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Exit {
    pub code: Option<i32>,
    pub signal: Option<String>,
    pub duration_ms: u64,
    pub timed_out: bool,
    pub lines: u64,
    pub bytes: u64,
    /// Addition to v1: a process of the worker's group still held its output
    /// open after the worker exited, and was ended by sc.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub leaked: bool,
    /// Addition to v1: why the worker was ended, when it did not end by
    /// itself (`timeout`, `interrupted`, `downstream closed`, `leaked
    /// output`, `cpu limit`, `memory limit`, `result without exit`, `stopped
    /// on the terminal`, `budget`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_by: Option<EndedBy>,
    /// Addition to v1, agent workers only: `ok`, `error` (the agent's result
    /// says it failed) or `missing` (it exited without a result). Anything
    /// but `ok` is a failure, whatever the exit code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_result: Option<String>,
    /// Addition to v1, with `--worktree`: the worker's branch, what it
    /// started from, and the diff stat of what it changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worktree: Option<WorktreeReport>,
    /// Addition to v1, agent workers: what the worker spent in USD, as sc
    /// counts it (the CLI's own figure where it gives one, the price of its
    /// tokens otherwise), over every attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
}
