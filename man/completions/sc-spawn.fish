complete -c sc-spawn -l id -d 'Worker id in the stream' -r
complete -c sc-spawn -l cwd -d 'Working directory of the worker' -r -F
complete -c sc-spawn -l env -d 'Set an environment variable for the worker (repeatable)' -r
complete -c sc-spawn -l flush-ms -d 'How long a partial line may wait before it is emitted, in milliseconds' -r
complete -c sc-spawn -l max-event-bytes -d 'The largest payload of one output event' -r
complete -c sc-spawn -l heartbeat -d 'Seconds between heartbeat events (idle time, totals, CPU and memory of the worker\'s process tree)' -r
complete -c sc-spawn -l stall -d 'Write one stall event when the worker has been silent this many seconds' -r
complete -c sc-spawn -l timeout -d 'End the worker after this many seconds (SIGTERM to its group, then SIGKILL after --kill-grace)' -r
complete -c sc-spawn -l retries -d 'Run a failed attempt again, up to N more times (a plan task\'s `retries` field overrides it)' -r
complete -c sc-spawn -l retry-delay -d 'The pause before the first retry' -r
complete -c sc-spawn -l retry-on -d 'Which failures are retried [default: any for a command, transient for an agent]' -r -f -a "transient\t''
any\t''"
complete -c sc-spawn -l ask-cmd -d 'With --ask: a policy command, run (`sh -c`) for each ask with the `ask` event on its stdin, in a process group of its own' -r
complete -c sc-spawn -l ask-timeout -d 'With --ask: how long an ask waits for its answer' -r
complete -c sc-spawn -l control -d 'The run\'s control socket, where `sc-ctl` and `sc-view --attach` reach the run (a person answers asks, says, stops) [default' -r -F
complete -c sc-spawn -l ask-default -d 'With --ask: the decision when an ask\'s time is up' -r -f -a "deny\t''
allow\t''"
complete -c sc-spawn -l kill-grace -d 'Seconds from SIGTERM to SIGKILL when sc-spawn ends a worker' -r
complete -c sc-spawn -l drain-ms -d 'After the worker exits, how long to keep reading while a process it started still holds its output open' -r
complete -c sc-spawn -l max-rss-mib -d 'Limit the memory of the worker\'s process tree, in MiB' -r
complete -c sc-spawn -l cpu-s -d 'Limit each process of the worker to this many CPU seconds (RLIMIT_CPU' -r
complete -c sc-spawn -l nice -d 'Run the worker at this niceness (0 to 19)' -r
complete -c sc-spawn -l kind -d 'The worker kind: shell, sc, or an agent run headless for --prompt' -r -f -a "shell\t''
sc\t''
claude-code\t'`-p --output-format stream-json`: live text, tool calls, cost, session'
codex\t'`exec --json`: items, tokens per turn, thread'
gemini\t'`-p --output-format stream-json`: text, tool calls, tokens, session'
qwen-code\t'Claude-shaped stream-json (after an `initialize` request): live text, tool calls, tokens, session'
copilot\t'`-p --output-format json`: live text, tool runs, the result (tokens from its usage file)'
opencode\t'`run --format json`: text, tool runs, tokens and cost per step, session'
acp\t'ACP `session/update`: live text, tool calls, plans, usage and cost where given'
aider\t'`--message --no-pretty` text: its `Tokens: … Cost:` lines'"
complete -c sc-spawn -l acp-agent -d 'With --kind acp: the agent\'s command line' -r
complete -c sc-spawn -l prompt -d 'What to ask the agent (with an agent --kind)' -r
complete -c sc-spawn -l role -d 'A role of the catalogue (see sc-plan --list-roles)' -r
complete -c sc-spawn -l roles-file -d 'A roles file laid over the built-in catalogue (as sc-plan\'s)' -r -F
complete -c sc-spawn -l model -d 'The agent\'s model' -r
complete -c sc-spawn -l agent-arg -d 'One more argument for the agent CLI (repeatable), e.g' -r
complete -c sc-spawn -l max-turns -d 'Claude Code: at most this many agent turns' -r
complete -c sc-spawn -l replay -d 'Play this recorded run (an sc stream) instead of launching the agent CLI' -r -F
complete -c sc-spawn -l replay-speed -d 'How many times faster recorded runs are played (--replay, and plan tasks with `replay`)' -r
complete -c sc-spawn -l agent-exit-grace -d 'Seconds an agent may run on after its result before it is ended (an MCP server can keep it alive)' -r
complete -c sc-spawn -s j -l jobs -d 'Plan mode: how many tasks run at once [default: the number of cores]' -r
complete -c sc-spawn -l max-cost-usd -d 'End an agent worker when its running cost reaches this many USD' -r
complete -c sc-spawn -l max-tokens -d 'End an agent worker when its tokens (input, output and cache) reach N' -r
complete -c sc-spawn -l budget-usd -d 'Plan mode: the most the whole plan may spend, in USD' -r
complete -c sc-spawn -l prices -d 'A price table laid over the built-in one, for models it lacks or prices that changed' -r -F
complete -c sc-spawn -l host -d 'Run the worker on HOST over ssh (`[user@]host[:port]` or an ssh config alias)' -r
complete -c sc-spawn -l hosts -d 'Plan mode: spread the tasks that name no host over these hosts (`N/host,...`, as GNU parallel\'s --sshlogin)' -r
complete -c sc-spawn -l ssh -d 'The ssh command [default: $SC_SSH, else ssh]' -r
complete -c sc-spawn -l remote-sc -d 'The sc-spawn to run on remote hosts (default' -r
complete -c sc-spawn -l sandbox-write -d 'With --sandbox: PATH is writable too (repeatable)' -r -F
complete -c sc-spawn -l sandbox-hide -d 'With --sandbox: PATH is hidden too (repeatable)' -r -F
complete -c sc-spawn -l sandbox-net -d 'With --sandbox: the network it may reach (LIST: HOST, HOST:PORT, *.DOMAIN, comma separated; `host`: the whole network)' -r
complete -c sc-spawn -l reconnect -d 'Remote workers outlive a lost connection' -r
complete -c sc-spawn -l reconnect-lease -d 'With --reconnect' -r
complete -c sc-spawn -l resume -d 'Plan mode: run the plan again using LOG, the stream of an earlier run of it (--log, or tee), to know what is done' -r -F
complete -c sc-spawn -l log -d 'Also write the stream to FILE (for `sc-view --follow FILE` elsewhere)' -r -F
complete -c sc-spawn -l pty -d 'Run the worker on a pseudo-terminal, so that programs which buffer when piped stream line by line and see a terminal'
complete -c sc-spawn -l stdin -d 'Pass sc-spawn\'s stdin to the worker'
complete -c sc-spawn -l ask -d 'Agent workers ask for what their grant does not allow, and wait'
complete -c sc-spawn -l detach -d 'Run in the background: print the run\'s id and return at once'
complete -c sc-spawn -l no-control -d 'Serve no control socket and keep no copy of the stream'
complete -c sc-spawn -l no-progress -d 'Do not annotate output events with detected progress'
complete -c sc-spawn -l dangerously-skip-permissions -d 'Let the agent skip its permission checks (--dangerously-skip-permissions, --yolo, ...)'
complete -c sc-spawn -l worktree -d 'Run each worker in a git worktree of its own, on a branch of its own (sc/ID, from its first dependency\'s branch or HEAD), so that parallel agents never edit the same files'
complete -c sc-spawn -l fail-fast -d 'Plan mode: end the plan at the first task that fails'
complete -c sc-spawn -l no-multiplex -d 'A new ssh connection for every task'
complete -c sc-spawn -l slurm -d 'Run the worker (plan mode: every task that names no host) as a Slurm job step'
complete -c sc-spawn -l job-per-task -d 'With --slurm for a plan'
complete -c sc-spawn -l sandbox -d 'Confine every worker (KIND: bwrap, the default; landlock; podman:IMAGE)'
complete -c sc-spawn -l transfer -d 'Copy this sc-spawn to each remote host that lacks it (or has another build) before its first task there'
complete -c sc-spawn -s h -l help -d 'Print help (see more with \'--help\')'
complete -c sc-spawn -s V -l version -d 'Print version'
