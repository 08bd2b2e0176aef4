complete -c sc-view -l lines -d 'Lines of output shown under each running worker on a terminal' -r
complete -c sc-view -l color -d 'When to use colour in sc-view\'s own marks and table' -r -f -a "auto\t''
always\t''
never\t''"
complete -c sc-view -l attach -d 'Watch a run that is already going, from its first event, until it ends: RUN is its control socket or its pid; without RUN, this user\'s newest run (runs started with sc-spawn --ask or --control; `sc-ctl runs` lists them)' -r
complete -c sc-view -l worker -d 'Only workers whose id matches (`*` and `?`; repeatable)' -r
complete -c sc-view -l kind -d 'Only workers of this kind (shell, sc, claude-code, ...; repeatable)' -r
complete -c sc-view -l speed -d 'With --replay: this many times faster' -r
complete -c sc-view -l junit -d 'Also write the run as a JUnit XML report to FILE (at the end; from a live run or a saved stream), for CI test reports: each worker a testcase (its role or kind as the class name, its duration), a failure for a non-zero exit, signal or timeout, skipped for a skipped task, an error for one the stream never saw end (a run cut off, or sc-view interrupted), a retried task\'s failed attempts as flakyFailure (it passed later) or rerunFailure, each with its own output; its output (redacted as shown, up to 64 KiB per stream) as system-out/system-err — for an agent, what the view shows of it (its text, tool calls, asks and answers, result with cost and tokens), not the CLI\'s JSON (see --junit-raw)' -r -F
complete -c sc-view -l joblog -d 'Also write GNU parallel\'s job log to FILE (at the end): a row per worker that ran, `Seq Host Starttime JobRuntime Send Receive Exitval Signal Command`, tab-separated, as `parallel --joblog` writes it' -r -F
complete -c sc-view -l timeline -d 'Also draw the run as a timeline to FILE (an SVG, at the end): a lane per worker (nested ones under their parent), the time it waited for dependencies apart from the time it ran, bars coloured by outcome (each failed attempt apart), retries and stalls marked, dependency arrows, an agent\'s tool calls, asks (how long each waited) and result, its cost and tokens. Self-contained (no script): for a browser, a README, a CI artifact' -r -F
complete -c sc-view -l plain -d 'Plain lines even on a terminal'
complete -c sc-view -s q -l failures-only -l quiet -d 'Show only the workers that did not pass: on a terminal, no line for a worker that passed; in plain lines, a worker\'s lines are held until it ends and said only if it failed (as cargo test shows a failed test\'s output)'
complete -c sc-view -l color-output -d 'Let the workers\' own SGR colour through in plain lines too (never cursor moves or other escapes, which are shown escaped). It is by default on a terminal and in logs GitHub and GitLab render (GITHUB_ACTIONS, GITLAB_CI); elsewhere it is left out'
complete -c sc-view -l no-redact -d 'Show API keys and tokens as written instead of masking them'
complete -c sc-view -l follow -d 'Keep reading every FILE as it grows, all at once, until each has been read through and every worker seen in them has exited'
complete -c sc-view -l replay -d 'Play a saved stream at its recorded pace'
complete -c sc-view -l raw -d 'Write exactly the bytes of the workers\' output, and nothing else'
complete -c sc-view -l check -d 'Verify the stream: per worker seq from 0 without gaps, one start and one exit, output bytes equal to the exit\'s count, no malformed line. A log of several runs (--resume LOG --log LOG) is read as runs: a worker that ended and begins again at seq 0 is its next run'
complete -c sc-view -l junit-raw -d 'With --junit: an agent\'s output in the report as the CLI wrote it (its JSON transport), not as the view shows it'
complete -c sc-view -s h -l help -d 'Print help (see more with \'--help\')'
complete -c sc-view -s V -l version -d 'Print version'
