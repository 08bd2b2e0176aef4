complete -c sc-merge -l cmd -d 'A producer command, run with `sh -c` in a process group of its own; its stdout is an input (labelled cmd1, cmd2, ...). Repeatable. It is passed SIGINT/SIGTERM/SIGHUP when sc-merge gets them' -r
complete -c sc-merge -l max-line-bytes -d 'The longest input line passed through whole; a longer one is carried in pieces as output of the input\'s own worker' -r
complete -c sc-merge -l kill-grace -d 'After an interrupt: seconds that inputs get to end by themselves (producer commands are then killed)' -r
complete -c sc-merge -l prefix -d 'Rename every worker to LABEL/ID, not only those whose id another input already uses'
complete -c sc-merge -s h -l help -d 'Print help (see more with \'--help\')'
complete -c sc-merge -s V -l version -d 'Print version'
