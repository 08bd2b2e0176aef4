complete -c sc-ctl -l control -d 'The run\'s control socket [default: every run of this user]' -r -F
complete -c sc-ctl -l run -d 'The run, by its id (sc-spawn\'s pid, as `sc-ctl runs` shows it)' -r
complete -c sc-ctl -l generate -d 'Write generated documentation to stdout and exit' -r -f -a "man\t'The man page, as roff'
bash\t'Completions for bash'
zsh\t'Completions for zsh'
fish\t'Completions for fish'"
complete -c sc-ctl -s h -l help -d 'Print help (see more with \'--help\')'
complete -c sc-ctl -s V -l version -d 'Print version'
