complete -c sc-view -l lines -d 'Lines of output under each running worker on a terminal' -r
complete -c sc-view -l color -d 'When to use colour in sc-view\'s own marks and table' -r -f -a "auto\t''
always\t''
never\t''"
complete -c sc-view -l attach -d 'Watch a run that is already going, from its first event' -r
complete -c sc-view -l speed -d 'With --replay: this many times faster' -r
complete -c sc-view -l worker -d 'Only workers whose id matches (`*` and `?`; repeatable)' -r
complete -c sc-view -l kind -d 'Only workers of this kind (shell, sc, claude-code, ...; repeatable)' -r
complete -c sc-view -l junit -d 'Also write the run as a JUnit XML report to FILE, for CI' -r -F
complete -c sc-view -l joblog -d 'Also write GNU parallel\'s job log to FILE' -r -F
complete -c sc-view -l timeline -d 'Also draw the run as a timeline to FILE (an SVG)' -r -F
complete -c sc-view -l plain -d 'Plain lines even on a terminal'
complete -c sc-view -s q -l failures-only -l quiet -d 'Show only the workers that did not pass'
complete -c sc-view -l color-output -d 'Let the workers\' own SGR colour through in plain lines too'
complete -c sc-view -l no-redact -d 'Show API keys and tokens as written instead of masking them'
complete -c sc-view -l raw -d 'Write exactly the bytes of the workers\' output, and nothing else'
complete -c sc-view -l follow -d 'Keep reading every FILE as it grows, until every worker ended'
complete -c sc-view -l replay -d 'Play a saved stream at its recorded pace'
complete -c sc-view -l check -d 'Verify the stream is whole (exit 0) or say what is missing'
complete -c sc-view -l junit-raw -d 'With --junit: an agent\'s output as the CLI wrote it (its JSON)'
complete -c sc-view -l serve -d 'Serve a live page of the run to a browser (ADDR: 127.0.0.1:0)'
complete -c sc-view -s h -l help -d 'Print help (see more with \'--help\')'
complete -c sc-view -s V -l version -d 'Print version'
