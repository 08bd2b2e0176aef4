complete -c sc-plan -l kind -d 'The tasks\' kind: an agent, or shell (each TASK is a command line)' -r -f -a "shell\t''
sc\t''
claude-code\t'`-p --output-format stream-json`: live text, tool calls, cost, session'
codex\t'`exec --json`: items, tokens per turn, thread'
gemini\t'`-p --output-format stream-json`: text, tool calls, tokens, session'
qwen-code\t'Claude-shaped stream-json (after an `initialize` request): live text, tool calls, tokens, session'
copilot\t'`-p --output-format json`: live text, tool runs, the result (tokens from its usage file)'
opencode\t'`run --format json`: text, tool runs, tokens and cost per step, session'
acp\t'ACP `session/update`: live text, tool calls, plans, usage and cost where given'
aider\t'`--message --no-pretty` text: its `Tokens: … Cost:` lines'"
complete -c sc-plan -l roles -d 'Use these roles, in this order, instead of detecting them' -r
complete -c sc-plan -l roles-file -d 'A roles file laid over the built-in catalogue' -r -F
complete -c sc-plan -l planner -d 'Let an agent plan the task (claude-code, codex or gemini)' -r -f -a "claude-code\t''
codex\t''
gemini\t''"
complete -c sc-plan -l planner-arg -d 'With --planner: one more argument for the planner agent\'s CLI (repeatable), e.g. `--planner-arg=--model --planner-arg=opus`' -r
complete -c sc-plan -l planner-timeout -d 'With --planner: the most the planning run may take, in seconds' -r
complete -c sc-plan -l within -d 'The whole task this one is a part of' -r
complete -c sc-plan -l explain -d 'Say on stderr why each role was chosen'
complete -c sc-plan -l list-roles -d 'Print the role catalogue (built in, and --roles-file) as JSON'
complete -c sc-plan -l demo -d 'Agent tasks replay recorded runs: no agent CLI, no API key'
complete -c sc-plan -l planner-strict -d 'With --planner: fail (exit 1) instead of falling back to the rule planner when the agent\'s plan cannot be used'
complete -c sc-plan -s h -l help -d 'Print help (see more with \'--help\')'
complete -c sc-plan -s V -l version -d 'Print version'
