complete -c sc-spawn -l id -d 'Worker id in the stream [default: the command\'s file name]' -r
complete -c sc-spawn -l cwd -d 'Working directory of the worker' -r -F
complete -c sc-spawn -l env -d 'Set an environment variable for the worker (repeatable)' -r
complete -c sc-spawn -l flush-ms -d 'How long a partial line may wait before it is emitted, in milliseconds' -r
complete -c sc-spawn -l max-event-bytes -d 'The largest payload of one output event; longer lines become several events' -r
complete -c sc-spawn -l heartbeat -d 'Seconds between heartbeat events (idle time, totals, CPU and memory of the worker\'s process tree); 0 turns them off' -r
complete -c sc-spawn -l stall -d 'Write one stall event when the worker has been silent this many seconds; 0 turns it off' -r
complete -c sc-spawn -l timeout -d 'End the worker after this many seconds (SIGTERM to its group, then SIGKILL after --kill-grace); the exit event says timed_out and sc-spawn exits 124. 0 means no limit' -r
complete -c sc-spawn -l retries -d 'Run a failed attempt again, up to N more times (a plan task\'s `retries` field overrides it). By default only failures that may pass are retried: an agent whose model API was overloaded, rate-limited, answered 5xx or could not be reached, or that exited without a result. An agent\'s retry resumes its session, so that the work done and paid for is kept. Each attempt is in the stream (`retry`, then `start` with `attempt`); the one `exit` is the last attempt\'s' -r
complete -c sc-spawn -l retry-delay -d 'The pause before the first retry; each next one doubles (at most 300 s), with ±25% jitter' -r
complete -c sc-spawn -l retry-on -d 'Which failures are retried: `transient` (those that may pass by themselves) or `any` (a non-zero exit of any worker too)' -r -f -a "transient\t''
any\t''"
complete -c sc-spawn -l ask-cmd -d 'With --ask: a policy command, run (`sh -c`) for each ask with the `ask` event on its stdin, in a process group of its own. Its first line decides: `allow`, or `deny` with an optional message after it (`deny no writes outside src/`), or one of a question\'s options. A policy that cannot run, exits non-zero or prints no decision fails closed: the ask is denied and an `error` event says why. It is ended (its whole group) when --ask-timeout runs out (then --ask-default decides), when the ask is answered otherwise, and on Ctrl-C; what it writes on stderr goes into an `error` event' -r
complete -c sc-spawn -l ask-timeout -d 'With --ask: how long an ask waits for its answer before --ask-default decides it (`by: "timeout"`); 0 waits for ever' -r
complete -c sc-spawn -l control -d 'With --ask: the run\'s control socket, where `sc-ctl answer` (a person, from any terminal of this user) decides asks [default: a private one in $XDG_RUNTIME_DIR/sc or /tmp/sc-UID, named in each ask]' -r -F
complete -c sc-spawn -l ask-default -d 'With --ask: the decision when an ask\'s time is up' -r -f -a "deny\t''
allow\t''"
complete -c sc-spawn -l kill-grace -d 'Seconds from SIGTERM to SIGKILL when sc-spawn ends a worker' -r
complete -c sc-spawn -l drain-ms -d 'After the worker exits, how long to keep reading while a process it started still holds its output open; then that process group is ended and the exit event says leaked' -r
complete -c sc-spawn -l max-rss-mib -d 'Limit the memory of the worker\'s process tree, in MiB: a cgroup v2 of its own where one can be made (the kernel ends the worker), else RLIMIT_DATA per process (allocations beyond it fail). In plan mode, for tasks without limits of their own' -r
complete -c sc-spawn -l cpu-s -d 'Limit each process of the worker to this many CPU seconds (RLIMIT_CPU: SIGXCPU, then SIGKILL 5 s later)' -r
complete -c sc-spawn -l nice -d 'Run the worker at this niceness (0 to 19)' -r
complete -c sc-spawn -l kind -d 'The worker kind: shell (a command), sc (a command whose stdout is itself an sc stream, re-emitted nested as ID/inner), or an agent run headless for --prompt: claude-code, codex, gemini, qwen-code, copilot, opencode, acp (any agent that speaks the Agent Client Protocol, see --acp-agent) or aider' -r -f -a "shell\t''
sc\t''
claude-code\t'`-p --output-format stream-json`: live text, tool calls, cost, session'
codex\t'`exec --json`: items, tokens per turn, thread'
gemini\t'`-p --output-format stream-json`: text, tool calls, tokens, session'
qwen-code\t'Claude-shaped stream-json (after an `initialize` request): live text, tool calls, tokens, session'
copilot\t'`-p --output-format json`: live text, tool runs, the result (tokens from its usage file)'
opencode\t'`run --format json`: text, tool runs, tokens and cost per step, session'
acp\t'ACP `session/update`: live text, tool calls, plans, usage and cost where given'
aider\t'`--message --no-pretty` text: its `Tokens: … Cost:` lines'"
complete -c sc-spawn -l acp-agent -d 'With --kind acp: the agent\'s command line, e.g. `gemini --acp` or `opencode acp` (split into words as a shell would, no shell run; a plan task\'s `acp_agent` does the same for one task). sc is its ACP client: it opens a session, sends the prompt, shows its updates live, turns its permission requests into asks, cancels the turn when the worker is ended and loads the session again on a retry where the agent can' -r
complete -c sc-spawn -l prompt -d 'What to ask the agent (with an agent --kind); with --kind shell, a command line for `sh -c`' -r
complete -c sc-spawn -l role -d 'A role of the catalogue (see sc-plan --list-roles): its instructions, its least-privilege grant for the agent, and its timeout' -r
complete -c sc-spawn -l roles-file -d 'A roles file laid over the built-in catalogue (as sc-plan\'s)' -r -F
complete -c sc-spawn -l model -d 'The agent\'s model' -r
complete -c sc-spawn -l agent-arg -d 'One more argument for the agent CLI (repeatable), e.g. `--agent-arg=-c --agent-arg=model_provider=local` for Codex' -r
complete -c sc-spawn -l max-turns -d 'Claude Code: at most this many agent turns' -r
complete -c sc-spawn -l replay -d 'Play this recorded run (an sc stream) instead of launching the agent CLI: no CLI and no key needed' -r -F
complete -c sc-spawn -l replay-speed -d 'How many times faster recorded runs are played (--replay, and plan tasks with `replay`)' -r
complete -c sc-spawn -l agent-exit-grace -d 'Seconds an agent may run on after its result before it is ended (an MCP server can keep it alive). A result written while background work it started (a shell, a subagent) is still open is interim and starts no grace; each later result starts it again' -r
complete -c sc-spawn -s j -l jobs -d 'Plan mode: how many tasks run at once' -r
complete -c sc-spawn -l max-cost-usd -d 'End an agent worker when its running cost reaches this many USD (`ended_by: "budget"`); a plan task\'s `max_cost_usd` overrides it. The cost is the CLI\'s own figure where it gives one (Claude Code, at each result) plus the price of the tokens since, from the price table (see --prices); Claude Code also gets --max-budget-usd' -r
complete -c sc-spawn -l max-tokens -d 'End an agent worker when its tokens (input, output and cache) reach N: a cap for models with no known price' -r
complete -c sc-spawn -l budget-usd -d 'Plan mode: the most the whole plan may spend, in USD. When the workers\' costs together reach it, running workers are ended (`ended_by: "budget"`) and what has not started is skipped (reason `budget`). Workers on hosts and Slurm steps count as they go, from what they relay' -r
complete -c sc-spawn -l prices -d 'A price table laid over the built-in one, for models it lacks or prices that changed: {"models": {"MODEL": {"input": USD_PER_MTOK, "output": USD_PER_MTOK, "cache_read": .., "cache_write": ..}}}' -r -F
complete -c sc-spawn -l host -d 'Run the worker on HOST over ssh (`[user@]host[:port]` or an ssh config alias): an sc-spawn there runs it, and its stream is this worker\'s own (same id and events, `host` in its start). ssh runs with BatchMode=yes (never a password prompt); host keys are checked as ssh checks them. A plan task\'s `host` field does the same' -r
complete -c sc-spawn -l hosts -d 'Plan mode: spread the tasks that name no host over these hosts, at most N at once on each (GNU parallel\'s syntax: `N/[user@]host[:port]` entries, comma-separated, or `@FILE` with one a line; `:` is this machine; N defaults to 1). -j still bounds the whole plan' -r
complete -c sc-spawn -l ssh -d 'The ssh command (default: $SC_SSH, else `ssh`), split on spaces, e.g. `ssh -F ./ssh_config`' -r
complete -c sc-spawn -l remote-sc -d 'The sc-spawn to run on remote hosts (default: `sc-spawn` on their PATH)' -r
complete -c sc-spawn -l reconnect -d 'Remote workers outlive a lost connection: sc-spawn connects again, up to N times per worker, and the stream goes on where it broke off, nothing lost or repeated. The worker runs detached there meanwhile (its stream kept in /tmp/sc-spool-*), for at most --reconnect-lease. 0: a lost connection ends the worker at once' -r
complete -c sc-spawn -l reconnect-lease -d 'With --reconnect: how long a remote worker runs on while nobody is connected to it, before it is ended as on SIGTERM' -r
complete -c sc-spawn -l resume -d 'Plan mode: run the plan again using LOG, the stream of an earlier run of it (--log, or tee), to know what is done: tasks that succeeded there are not run again (a `skip` with `done`, which counts as success, and their dependents may start at once); tasks that failed, were skipped or never started run; an agent task that was cut off resumes its session; with --worktree, tasks work on the branches the earlier run made. LOG may also be this run\'s --log (it is read first)' -r -F
complete -c sc-spawn -l log -d 'Also write the stream to FILE (for `sc-view --follow FILE` elsewhere)' -r -F
complete -c sc-spawn -l pty -d 'Run the worker on a pseudo-terminal, so that programs which buffer when piped stream line by line and see a terminal. `--pty` (or `--pty=all`) puts stdout and stderr on it (stream "pty"); `--pty=stdout` keeps stderr on its own pipe'
complete -c sc-spawn -l stdin -d 'Pass sc-spawn\'s stdin to the worker (default: /dev/null, since agent CLIs wait for ever on an inherited stdin that never closes)'
complete -c sc-spawn -l ask -d 'Agent workers ask for what their grant does not allow, and wait: each request (a command, a file to write, a question) is an `ask` event, and its decision an `answer` event (a plan task\'s `ask` field does the same for one task). Answered by --ask-cmd, else --ask-default after --ask-timeout. A cap reached (--max-cost-usd, --max-tokens) is asked about too (tool `budget`: go on past it?) instead of ending the worker. Claude Code and Qwen Code ask through their stdio control protocol, Codex through `codex app-server`, Gemini, Copilot, OpenCode and kind acp over ACP; an agent that cannot ask (aider) is said so once. (Qwen Code and kind acp ask without --ask too: their grant answers then, `by: "grant"`.)'
complete -c sc-spawn -l no-progress -d 'Do not annotate output events with detected progress'
complete -c sc-spawn -l dangerously-skip-permissions -d 'Let the agent skip its permission checks (--dangerously-skip-permissions, --yolo, ...). Never implied: only this flag passes such an option'
complete -c sc-spawn -l worktree -d 'Run each worker in a git worktree of its own, on a branch of its own (sc/ID, from its first dependency\'s branch or HEAD), so that parallel agents never edit the same files; at its end its changes are committed there and its exit event says the branch and a diff stat. For tasks run here: a task on a host or a Slurm step is refused'
complete -c sc-spawn -l no-multiplex -d 'A new ssh connection for every task. By default a run opens one connection per host (OpenSSH\'s ControlMaster, its socket in this user\'s private folder) on first use and shares it between the tasks on that host, their spool followers and reconnects; it is closed when the run ends, Ctrl-C included (a run that was killed is cleaned up by the next). A host whose ssh configuration, or an --ssh that sets Control options, multiplexes itself is left to it'
complete -c sc-spawn -l slurm -d 'Run the worker (plan mode: every task that names no host) as a Slurm job step: `srun -u` runs an sc-spawn on the node Slurm picks, whose stream is the worker\'s own; OPTIONS go to srun (`--slurm=\'-p batch --mem 4G\'`). A plan task\'s `slurm` field does the same for one task. A plan\'s steps share one allocation for the run (`salloc --ntasks=JOBS OPTIONS`, given back at its end), or the job sc-spawn runs in. The srun and salloc commands are $SC_SRUN and $SC_SALLOC, else `srun` and `salloc`'
complete -c sc-spawn -l job-per-task -d 'With --slurm for a plan: each task is a Slurm job of its own (as a bare srun makes it), not a step in one allocation for the run'
complete -c sc-spawn -l transfer -d 'Copy this sc-spawn to each remote host that lacks it (or has another build) before its first task there: into ~/.cache/sc/ on the host, named by the binary\'s content, once per host and run. The host must run the same OS and architecture (a static musl build runs on any Linux of the architecture)'
complete -c sc-spawn -l end-on-stdin-eof -d 'End the worker when stdin says `end SIGNAL` (with that signal: Ctrl-C on the local side is SIGINT here) or reaches end of file (as SIGTERM would): how the local side of --host or --slurm asks a remote sc-spawn to end, since ssh forwards no signal'
complete -c sc-spawn -s h -l help -d 'Print help (see more with \'--help\')'
complete -c sc-spawn -s V -l version -d 'Print version'
