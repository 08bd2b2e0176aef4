//! sc-spawn's command line: defined once, for parsing, `--help` and the man page.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Parser, ValueEnum};
use sc_clikit::{Generate, parse_secs, parse_speed};

const ABOUT: &str = "Run CLI workers and stream their output, live and lossless, as NDJSON events";

const LONG_ABOUT: &str = "\
Run a CLI worker (a coding agent, a build, a test suite) and write what it does to stdout as an \
NDJSON event stream: `start`, then `output` events carrying every byte the worker writes, in order \
and as soon as it is written, `heartbeat` and `stall` events while it runs, and one `exit` event \
at the end, whatever happens. The schema is in sc-events(7).

Output events end after each newline, after a `\\r` that redraws a progress line, when a partial \
line (a `Continue? ` prompt) has waited --flush-ms, or at --max-event-bytes. Bytes that are not \
UTF-8 are carried as base64 in `bytes`; concatenating a stream's payloads gives back exactly what \
the worker wrote.

The worker runs in a process group of its own with stdin from /dev/null. SIGINT, SIGTERM and \
SIGHUP are passed on to the group; a second one, or --kill-grace running out, sends SIGKILL. When \
the reader of the stream goes away (`| head`), the worker's group is ended and sc-spawn exits 0. \
What outlives the worker is ended with it: its group, and for an agent, where a cgroup v2 can be \
made (root, or a delegated folder), everything in its own cgroup, a `setsid` daemon too.

With no command, sc-spawn runs a plan: it reads `task` events on stdin (from sc-plan(1), or \
written by hand) and runs a worker for each, in the same poller: a task starts as soon as its line \
has arrived and the tasks in its `depends_on` exited 0, at most --jobs at once; a task whose \
dependency failed gets a `skip` event and never starts. Each task line is re-emitted (seq 0, ts \
the time it was taken, so that reports time the run, not the plan file) so that viewers see \
queued work; other events on stdin pass through unchanged. Kind `shell` runs the \
task's `argv` (or `sh -c PROMPT`); kind `sc` runs a command whose stdout is itself an sc stream \
and re-emits its events as ID/inner. Each worker gets SC_WORKER, its id path, so nested \
sc-spawns name themselves. A task line written by hand needs only `type`, `id` (or `worker`) and \
what to run (`{\"type\":\"task\",\"id\":\"build\",\"argv\":[\"make\"]}`): seq 0 and the time \
are filled in. A stdin of command lines is no plan: nothing runs, and sc-spawn exits 2 saying how \
to make one (`sc-plan --kind shell`).";

const AFTER_HELP: &str = "\
Examples:
  sc-spawn -- cargo test
  sc-spawn --pty --id build -- make -j8 | jq -r 'select(.type==\"output\").text // empty'
  sc-spawn --timeout 600 -- ./long-job.sh | tee run.ndjson | jq -c 'select(.type==\"exit\")'

  sc-plan \"Fix the crash in the parser\" | sc-spawn -j 8 --log run.ndjson | sc-view

Exit status: the worker's exit code; 128+N if it was killed by signal N; 124 if it timed out; \
127 if it could not be launched; 2 for a usage error; 125 when sc-spawn itself failed (writing its \
stream or its log, its poller, its control socket, reading the plan). Plan mode: 0 when every \
task succeeded, 1 otherwise (2 and 125 as above); interrupted (SIGINT, SIGTERM, SIGHUP), 128 + \
the signal (130 for Ctrl-C), however its workers ended.

See also: sc-events(7), the event schema.";

/// How much of the worker goes on a pseudo-terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PtyArg {
    /// stdout and stderr on one terminal (stream "pty")
    All,
    /// stdout on a terminal, stderr still its own pipe
    Stdout,
}

#[derive(Debug, Parser)]
#[command(
    name = "sc-spawn",
    version,
    about = ABOUT,
    long_about = LONG_ABOUT,
    after_help = AFTER_HELP
)]
pub struct Cli {
    /// The flags given on the command line (not defaulted), by id: a flag
    /// that would do nothing where it stands is a usage error.
    #[arg(skip)]
    pub given: Vec<String>,

    /// Worker id in the stream
    ///
    /// [default: the command's file name]
    #[arg(help_heading = "Output", long, value_name = "NAME")]
    pub id: Option<String>,

    /// Run the worker on a pseudo-terminal, so that programs which buffer when
    /// piped stream line by line and see a terminal
    ///
    /// `--pty` (or `--pty=all`) puts stdout and stderr on it (stream "pty");
    /// `--pty=stdout` keeps stderr on its own pipe.
    #[arg(help_heading = "Output", long, value_enum, value_name = "MODE", num_args = 0..=1, require_equals = true, default_missing_value = "all")]
    pub pty: Option<PtyArg>,

    /// Pass sc-spawn's stdin to the worker
    ///
    /// (default: /dev/null, since agent CLIs wait for ever on an inherited
    /// stdin that never closes)
    #[arg(help_heading = "Output", long)]
    pub stdin: bool,

    /// Working directory of the worker
    #[arg(help_heading = "Output", long, value_name = "DIR")]
    pub cwd: Option<PathBuf>,

    /// Set an environment variable for the worker (repeatable)
    #[arg(help_heading = "Output", long = "env", value_name = "KEY=VALUE", value_parser = parse_env)]
    pub env: Vec<(OsString, OsString)>,

    /// How long a partial line may wait before it is emitted, in milliseconds
    #[arg(
        help_heading = "Output",
        hide_short_help = true,
        long,
        value_name = "MS",
        default_value_t = 50
    )]
    pub flush_ms: u64,

    /// The largest payload of one output event
    ///
    /// Longer lines become several events
    #[arg(help_heading = "Output", hide_short_help = true, long, value_name = "N", default_value_t = 65536, value_parser = clap::value_parser!(u64).range(16..))]
    pub max_event_bytes: u64,

    /// Seconds between heartbeat events (idle time, totals, CPU and memory of
    /// the worker's process tree)
    ///
    /// 0 turns them off
    #[arg(help_heading = "Lifecycle", hide_short_help = true, long, value_name = "SECS", default_value_t = 5.0, value_parser = parse_secs)]
    pub heartbeat: f64,

    /// Write one stall event when the worker has been silent this many seconds
    ///
    /// 0 turns it off
    #[arg(help_heading = "Lifecycle", hide_short_help = true, long, value_name = "SECS", default_value_t = 120.0, value_parser = parse_secs)]
    pub stall: f64,

    /// End the worker after this many seconds (SIGTERM to its group, then
    /// SIGKILL after --kill-grace)
    ///
    /// The exit event says timed_out and sc-spawn exits 124. 0 means no limit.
    /// Durations here and in the other flags take timeout(1)'s units too: 90s,
    /// 10m, 2h, 1d
    #[arg(help_heading = "Lifecycle", long, value_name = "SECS", default_value_t = 0.0, value_parser = parse_secs)]
    pub timeout: f64,

    /// Run a failed attempt again, up to N more times (a plan task's `retries`
    /// field overrides it)
    ///
    /// A command's any failure is retried (as `parallel --retries`); an agent's
    /// only failures that may pass (its failures cost money): a model API that
    /// was overloaded, rate-limited, answered 5xx or could not be reached, or
    /// an exit without a result (see --retry-on). An agent's retry resumes its
    /// session, so that the work done and paid for is kept. Each attempt is in
    /// the stream (`retry`, then `start` with `attempt`); the one `exit` is the
    /// last attempt's
    #[arg(
        help_heading = "Lifecycle",
        long,
        value_name = "N",
        default_value_t = 0
    )]
    pub retries: u32,

    /// The pause before the first retry
    ///
    /// Each next one doubles (at most 300 s), with ±25% jitter
    #[arg(help_heading = "Lifecycle", hide_short_help = true, long, value_name = "SECS", default_value_t = 2.0, value_parser = parse_secs)]
    pub retry_delay: f64,

    /// Which failures are retried [default: any for a command, transient
    /// for an agent]
    ///
    /// Which failures are retried: `any` (a non-zero exit) or `transient`
    /// (those that may pass by themselves). By default a command's any failure,
    /// as `parallel --retries` does, and an agent's transient ones only (an
    /// overloaded or unreachable API, no result): its failures cost money
    #[arg(help_heading = "Lifecycle", long, value_name = "WHICH", value_parser = ["transient", "any"])]
    pub retry_on: Option<String>,

    /// Agent workers ask for what their grant does not allow, and wait
    ///
    /// Each request (a command, a file to write, a question) is an `ask` event,
    /// and its decision an `answer` event (a plan task's `ask` field does the
    /// same for one task). Answered by --ask-cmd, else --ask-default after
    /// --ask-timeout. A cap reached (--max-cost-usd, --max-tokens) is asked
    /// about too (tool `budget`: go on past it?) instead of ending the worker.
    /// Claude Code and Qwen Code ask through their stdio control protocol,
    /// Codex through `codex app-server`, Gemini, Copilot, OpenCode and kind acp
    /// over ACP; an agent that cannot ask (aider) is said so once. (Qwen Code
    /// and kind acp ask without --ask too: their grant answers then, `by:
    /// "grant"`.)
    #[arg(help_heading = "Asks", long)]
    pub ask: bool,

    /// With --ask: a policy command, run (`sh -c`) for each ask with the `ask`
    /// event on its stdin, in a process group of its own
    ///
    /// Its first line decides: `allow`, or `deny` with an optional message
    /// after it (`deny no writes outside src/`), or one of a question's
    /// options. A policy that cannot run, exits non-zero or prints no decision
    /// fails closed: the ask is denied and an `error` event says why. It is
    /// ended (its whole group) when --ask-timeout runs out (then --ask-default
    /// decides), when the ask is answered otherwise, and on Ctrl-C; what it
    /// writes on stderr goes into an `error` event
    #[arg(help_heading = "Asks", long, value_name = "CMD")]
    pub ask_cmd: Option<String>,

    /// With --ask: how long an ask waits for its answer
    ///
    /// Before --ask-default decides it (`by: "timeout"`); 0 waits for ever
    #[arg(help_heading = "Asks", long, value_name = "SECS", default_value_t = 300.0, value_parser = parse_secs)]
    pub ask_timeout: f64,

    /// The run's control socket, where `sc-ctl` and `sc-view --attach`
    /// reach the run (a person answers asks, says, stops) [default
    ///
    /// A private one in $XDG_RUNTIME_DIR/sc or /tmp/sc-UID, named in each
    /// ask; every run not nested in another serves one, unless --no-control]
    #[arg(
        help_heading = "Asks",
        hide_short_help = true,
        long,
        value_name = "PATH"
    )]
    pub control: Option<PathBuf>,

    /// Run in the background: print the run's id and return at once
    ///
    /// The run goes on in a session of its own (closing the terminal does
    /// not end it), its stream kept in the private runs folder (at most
    /// SC_KEEP_MAX bytes, 1 GiB by default): `sc-view --attach RUN` watches
    /// it from its first event, also after it ended (until `sc-ctl forget
    /// RUN`, or SC_KEEP_DAYS, 7 by default), `sc-ctl runs` lists it and
    /// `sc-ctl stop RUN` ends it. A plan piped in is read as it comes
    #[arg(help_heading = "Lifecycle", long, conflicts_with = "no_control")]
    pub detach: bool,

    /// Serve no control socket and keep no copy of the stream
    ///
    /// Every run started from a terminal, a script or CI (not one nested in
    /// another's worker, which is reached through that run) serves a
    /// private control socket and keeps its stream in the private runs
    /// folder while it runs, so that `sc-view --attach`, `sc-ctl stop`,
    /// `sc-ctl say` and `sc-ctl asks` reach it from any terminal of the
    /// user's. This opts out (then only --ask-cmd and the timeout answer
    /// asks)
    #[arg(
        help_heading = "Asks",
        hide_short_help = true,
        long,
        conflicts_with = "control"
    )]
    pub no_control: bool,

    /// With --ask: the decision when an ask's time is up
    #[arg(help_heading = "Asks", hide_short_help = true, long, value_name = "DECISION", default_value = "deny", value_parser = ["deny", "allow"])]
    pub ask_default: String,

    /// Seconds from SIGTERM to SIGKILL when sc-spawn ends a worker
    #[arg(help_heading = "Lifecycle", hide_short_help = true, long, value_name = "SECS", default_value_t = 5.0, value_parser = parse_secs)]
    pub kill_grace: f64,

    /// After the worker exits, how long to keep reading while a process it
    /// started still holds its output open
    ///
    /// Then that process group is ended and the exit event says leaked
    #[arg(
        help_heading = "Lifecycle",
        hide_short_help = true,
        long,
        value_name = "MS",
        default_value_t = 1000
    )]
    pub drain_ms: u64,

    /// Do not annotate output events with detected progress
    #[arg(help_heading = "Output", hide_short_help = true, long)]
    pub no_progress: bool,

    /// Limit the memory of the worker's process tree, in MiB
    ///
    /// A cgroup v2 of its own where one can be made (the kernel ends the
    /// worker), else RLIMIT_DATA per process (allocations beyond it fail). In
    /// plan mode, for tasks without limits of their own
    #[arg(help_heading = "Lifecycle", long, value_name = "MIB", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_rss_mib: Option<u64>,

    /// Limit each process of the worker to this many CPU seconds (RLIMIT_CPU
    ///
    /// SIGXCPU, then SIGKILL 5 s later)
    #[arg(help_heading = "Lifecycle", hide_short_help = true, long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    pub cpu_s: Option<u64>,

    /// Run the worker at this niceness (0 to 19)
    #[arg(help_heading = "Lifecycle", hide_short_help = true, long, value_name = "N", value_parser = clap::value_parser!(i32).range(0..=19))]
    pub nice: Option<i32>,

    /// The worker kind: shell, sc, or an agent run headless for --prompt
    ///
    /// The worker kind: shell (a command), sc (a command whose stdout is itself
    /// an sc stream, re-emitted nested as ID/inner), or an agent run headless
    /// for --prompt: claude-code, codex, gemini, qwen-code, copilot, opencode,
    /// acp (any agent that speaks the Agent Client Protocol, see --acp-agent)
    /// or aider
    #[arg(help_heading = "Agents", long, value_name = "KIND", default_value = "shell", value_parser = sc_clikit::worker_kinds(true))]
    pub kind: String,

    /// With --kind acp: the agent's command line
    ///
    /// , e.g. `gemini --acp` or `opencode acp` (split into words as a shell
    /// would, no shell run; a plan task's `acp_agent` does the same for one
    /// task). sc is its ACP client: it opens a session, sends the prompt, shows
    /// its updates live, turns its permission requests into asks, cancels the
    /// turn when the worker is ended and loads the session again on a retry
    /// where the agent can
    #[arg(help_heading = "Agents", long, value_name = "CMD")]
    pub acp_agent: Option<String>,

    /// What to ask the agent (with an agent --kind)
    ///
    /// With --kind shell, a command line for `sh -c`
    #[arg(help_heading = "Agents", long, value_name = "TEXT")]
    pub prompt: Option<String>,

    /// A role of the catalogue (see sc-plan --list-roles)
    ///
    /// Its instructions, its least-privilege grant for the agent, and its
    /// timeout
    #[arg(help_heading = "Agents", long, value_name = "ROLE")]
    pub role: Option<String>,

    /// A roles file laid over the built-in catalogue (as sc-plan's)
    #[arg(
        help_heading = "Agents",
        hide_short_help = true,
        long,
        value_name = "FILE",
        requires = "role"
    )]
    pub roles_file: Option<PathBuf>,

    /// The agent's model
    #[arg(help_heading = "Agents", long, value_name = "MODEL")]
    pub model: Option<String>,

    /// One more argument for the agent CLI (repeatable), e.g
    ///
    /// `--agent-arg=-c --agent-arg=model_provider=local` for Codex
    #[arg(
        help_heading = "Agents",
        hide_short_help = true,
        long,
        value_name = "ARG",
        allow_hyphen_values = true
    )]
    pub agent_arg: Vec<String>,

    /// Claude Code: at most this many agent turns
    #[arg(
        help_heading = "Agents",
        hide_short_help = true,
        long,
        value_name = "N"
    )]
    pub max_turns: Option<u32>,

    /// Let the agent skip its permission checks
    /// (--dangerously-skip-permissions, --yolo, ...)
    ///
    /// Never implied: only this flag passes such an option
    #[arg(help_heading = "Agents", long)]
    pub dangerously_skip_permissions: bool,

    /// Play this recorded run (an sc stream) instead of launching the agent CLI
    ///
    /// No CLI and no key needed
    #[arg(help_heading = "Agents", long, value_name = "FILE")]
    pub replay: Option<PathBuf>,

    /// How many times faster recorded runs are played (--replay, and plan
    /// tasks with `replay`)
    #[arg(help_heading = "Agents", hide_short_help = true, long, value_name = "X", default_value_t = 1.0, value_parser = parse_speed)]
    pub replay_speed: f64,

    /// Seconds an agent may run on after its result before it is ended (an MCP
    /// server can keep it alive)
    ///
    /// A result written while background work it started (a shell, a subagent)
    /// is still open is interim and starts no grace; each later result starts
    /// it again
    #[arg(help_heading = "Agents", hide_short_help = true, long, value_name = "SECS", default_value_t = 10.0, value_parser = parse_secs)]
    pub agent_exit_grace: f64,

    /// Run each worker in a git worktree of its own, on a branch of its own
    /// (sc/ID, from its first dependency's branch or HEAD), so that parallel
    /// agents never edit the same files
    ///
    /// At its end its changes are committed there and its exit event says the
    /// branch and a diff stat. For tasks run here: a task on a host or a Slurm
    /// step is refused
    #[arg(help_heading = "Plan", long)]
    pub worktree: bool,

    /// Plan mode: end the plan at the first task that fails
    ///
    /// Plan mode: at the first task that fails (after its retries), end what
    /// runs (`ended_by: "fail fast"`) and skip what has not started; exit 1
    /// (GNU parallel's --halt now,fail=1)
    #[arg(help_heading = "Plan", long)]
    pub fail_fast: bool,

    /// Plan mode: how many tasks run at once [default: the number of cores]
    ///
    /// Plan mode: how many tasks run at once [default: the number of cores, as
    /// GNU parallel's -j]
    #[arg(help_heading = "Plan", short = 'j', long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub jobs: Option<u64>,

    /// End an agent worker when its running cost reaches this many USD
    ///
    /// (`ended_by: "budget"`); a plan task's `max_cost_usd` overrides it. The
    /// cost is the CLI's own figure where it gives one (Claude Code, at each
    /// result) plus the price of the tokens since, from the price table (see
    /// --prices); Claude Code also gets --max-budget-usd
    #[arg(help_heading = "Budgets", long, value_name = "USD", value_parser = sc_clikit::parse_usd)]
    pub max_cost_usd: Option<f64>,

    /// End an agent worker when its tokens (input, output and cache) reach N
    ///
    /// A cap for models with no known price
    #[arg(help_heading = "Budgets", long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_tokens: Option<u64>,

    /// Plan mode: the most the whole plan may spend, in USD
    ///
    /// When the workers' costs together reach it, running workers are ended
    /// (`ended_by: "budget"`) and what has not started is skipped (reason
    /// `budget`). Workers on hosts and Slurm steps count as they go, from what
    /// they relay
    #[arg(help_heading = "Budgets", long, value_name = "USD", value_parser = sc_clikit::parse_usd)]
    pub budget_usd: Option<f64>,

    /// A price table laid over the built-in one, for models it lacks or prices
    /// that changed
    ///
    /// {"models": {"MODEL": {"input": USD_PER_MTOK, "output": USD_PER_MTOK,
    /// "cache_read": .., "cache_write": ..}}}
    #[arg(
        help_heading = "Budgets",
        hide_short_help = true,
        long,
        value_name = "FILE"
    )]
    pub prices: Option<PathBuf>,

    /// Run the worker on HOST over ssh (`[user@]host[:port]` or an ssh config
    /// alias)
    ///
    /// An sc-spawn there runs it, and its stream is this worker's own (same id
    /// and events, `host` in its start). ssh runs with BatchMode=yes (never a
    /// password prompt); host keys are checked as ssh checks them. A plan
    /// task's `host` field does the same
    #[arg(help_heading = "Placement", long, value_name = "HOST")]
    pub host: Option<String>,

    /// Plan mode: spread the tasks that name no host over these hosts
    /// (`N/host,...`, as GNU parallel's --sshlogin)
    ///
    /// Plan mode: spread the tasks that name no host over these hosts, at most
    /// N at once on each (GNU parallel's syntax: `N/[user@]host[:port]`
    /// entries, comma-separated, or `@FILE` with one a line; `:` is this
    /// machine; N defaults to 1). -j still bounds the whole plan
    #[arg(help_heading = "Placement", long, value_name = "LIST")]
    pub hosts: Option<String>,

    /// The ssh command [default: $SC_SSH, else ssh]
    ///
    /// The ssh command (default: $SC_SSH, else `ssh`), split on spaces, e.g.
    /// `ssh -F ./ssh_config`
    #[arg(
        help_heading = "Placement",
        hide_short_help = true,
        long,
        value_name = "CMD"
    )]
    pub ssh: Option<String>,

    /// A new ssh connection for every task
    ///
    /// By default a run opens one connection per host (OpenSSH's ControlMaster,
    /// its socket in this user's private folder) on first use and shares it
    /// between the tasks on that host, their spool followers and reconnects; it
    /// is closed when the run ends, Ctrl-C included (a run that was killed is
    /// cleaned up by the next). A host whose ssh configuration, or an --ssh
    /// that sets Control options, multiplexes itself is left to it
    #[arg(help_heading = "Placement", hide_short_help = true, long)]
    pub no_multiplex: bool,

    /// The sc-spawn to run on remote hosts (default
    ///
    /// `sc-spawn` on their PATH)
    #[arg(
        help_heading = "Placement",
        hide_short_help = true,
        long,
        value_name = "PATH"
    )]
    pub remote_sc: Option<String>,

    /// Run the worker (plan mode: every task that names no host) as a Slurm
    /// job step
    ///
    /// `srun -u` runs an sc-spawn on the node Slurm picks, whose stream is the
    /// worker's own; OPTIONS go to srun (`--slurm='-p batch --mem 4G'`). A plan
    /// task's `slurm` field does the same for one task. A plan's steps share
    /// one allocation for the run (`salloc --ntasks=JOBS OPTIONS`, given back
    /// at its end), or the job sc-spawn runs in. The srun and salloc commands
    /// are $SC_SRUN and $SC_SALLOC, else `srun` and `salloc`
    #[arg(help_heading = "Placement", long, value_name = "OPTIONS", num_args = 0..=1, default_missing_value = "", require_equals = true)]
    pub slurm: Option<String>,

    /// With --slurm for a plan
    ///
    /// Each task is a Slurm job of its own (as a bare srun makes it), not a
    /// step in one allocation for the run
    #[arg(help_heading = "Placement", hide_short_help = true, long)]
    pub job_per_task: bool,

    #[command(flatten)]
    pub confine: crate::confine::Confine,

    /// Copy this sc-spawn to each remote host that lacks it (or has another
    /// build) before its first task there
    ///
    /// Into ~/.cache/sc/ on the host, named by the binary's content, once per
    /// host and run. The host must run the same OS and architecture (a static
    /// musl build runs on any Linux of the architecture)
    #[arg(help_heading = "Placement", hide_short_help = true, long)]
    pub transfer: bool,

    /// Internal (--slurm, in the job step): name the node in the start
    #[arg(long, hide = true)]
    pub slurm_step: bool,

    /// Remote workers outlive a lost connection
    ///
    /// Sc-spawn connects again, up to N times per worker, and the stream goes
    /// on where it broke off, nothing lost or repeated. The worker runs
    /// detached there meanwhile (its stream kept in /tmp/sc-spool-*), for at
    /// most --reconnect-lease. 0: a lost connection ends the worker at once
    #[arg(
        help_heading = "Placement",
        long,
        value_name = "N",
        default_value_t = 3
    )]
    pub reconnect: u32,

    /// With --reconnect
    ///
    /// How long a remote worker runs on while nobody is connected to it, before
    /// it is ended as on SIGTERM
    #[arg(
        help_heading = "Placement",
        hide_short_help = true,
        long,
        value_name = "SECS",
        default_value_t = 300
    )]
    pub reconnect_lease: u64,

    /// Internal (a worker placed on another host or a Slurm step): the task
    /// as a plan line's JSON, run here as the plan of one, with its retries,
    /// caps, timeout and limits applied here
    #[arg(long, value_name = "JSON", hide = true)]
    pub task: Option<String>,

    /// Internal (with --task): its first attempt resumes this agent session
    /// (`--resume LOG` of a plan whose task was cut off on that host)
    #[arg(long, value_name = "SESSION", hide = true)]
    pub resume_session: Option<String>,

    /// Internal (--reconnect, on the remote host): run the worker with its
    /// stream appended to DIR/stream.ndjson, ended when the lease in DIR
    /// runs out
    #[arg(long, value_name = "DIR", hide = true)]
    pub spool: Option<PathBuf>,

    /// Internal: the lease of --spool, in seconds
    #[arg(long, value_name = "SECS", hide = true, default_value_t = 300)]
    pub lease: u64,

    /// Internal (--reconnect, on the remote host): follow the stream spooled
    /// in DIR from --from-byte on, until the --id worker's exit; `end SIGNAL`
    /// lines on stdin end the worker with that signal, `done` (its exit
    /// arrived) lets the spool go
    #[arg(long, value_name = "DIR", hide = true)]
    pub attach: Option<PathBuf>,

    /// Internal: where --attach starts, in bytes of the spooled stream
    #[arg(long, value_name = "N", hide = true, default_value_t = 0)]
    pub from_byte: u64,

    /// Internal (a worker placed here by another sc-spawn): end it when
    /// stdin says `end SIGNAL` (with that signal: Ctrl-C on the local side
    /// is SIGINT here) or reaches end of file (as SIGTERM would), since ssh
    /// forwards no signal; answers decided there come the same way
    #[arg(long, hide = true)]
    pub end_on_stdin_eof: bool,

    /// Plan mode: run the plan again using LOG, the stream of an earlier run of
    /// it (--log, or tee), to know what is done
    ///
    /// Tasks that succeeded there are not run again (a `skip` with `done`,
    /// which counts as success, and their dependents may start at once); tasks
    /// that failed, were skipped or never started run; an agent task that was
    /// cut off resumes its session; with --worktree, tasks work on the branches
    /// the earlier run made. LOG may also be this run's --log (it is read
    /// first)
    #[arg(help_heading = "Plan", long, value_name = "LOG")]
    pub resume: Option<PathBuf>,

    /// Also write the stream to FILE (for `sc-view --follow FILE` elsewhere)
    #[arg(help_heading = "Output", long, value_name = "FILE")]
    pub log: Option<PathBuf>,

    /// Write generated documentation to stdout and exit
    #[arg(long, value_enum, hide = true)]
    pub generate: Option<Generate>,

    /// The command to run, after `--`; without one, a plan is read on stdin
    #[arg(last = true, value_name = "CMD", num_args = 1..)]
    pub command: Vec<OsString>,
}

fn parse_env(text: &str) -> Result<(OsString, OsString), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.into(), value.into())),
        _ => Err(format!("`{text}` is not KEY=VALUE")),
    }
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
    fn parses_pty_modes() {
        let cli = Cli::try_parse_from(["sc-spawn", "--pty", "--", "ls"]).unwrap();
        assert_eq!(cli.pty, Some(PtyArg::All));
        let cli = Cli::try_parse_from(["sc-spawn", "--pty=stdout", "--", "ls", "-l"]).unwrap();
        assert_eq!(cli.pty, Some(PtyArg::Stdout));
        assert_eq!(cli.command, ["ls", "-l"]);
        assert!(Cli::try_parse_from(["sc-spawn", "--timeout", "-1", "--", "ls"]).is_err());
        assert!(Cli::try_parse_from(["sc-spawn", "--env", "=x", "--", "ls"]).is_err());
    }
}
