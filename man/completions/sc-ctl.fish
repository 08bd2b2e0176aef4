# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_sc_ctl_global_optspecs
    string join \n control= generate= h/help V/version
end

function __fish_sc_ctl_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_sc_ctl_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_sc_ctl_using_subcommand
    set -l cmd (__fish_sc_ctl_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c sc-ctl -n "__fish_sc_ctl_needs_command" -l control -d 'The run\'s control socket [default: every run of this user]' -r -F
complete -c sc-ctl -n "__fish_sc_ctl_needs_command" -l generate -d 'Write generated documentation to stdout and exit' -r -f -a "man\t'The man page, as roff'
bash\t'Completions for bash'
zsh\t'Completions for zsh'
fish\t'Completions for fish'"
complete -c sc-ctl -n "__fish_sc_ctl_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c sc-ctl -n "__fish_sc_ctl_needs_command" -s V -l version -d 'Print version'
complete -c sc-ctl -n "__fish_sc_ctl_needs_command" -f -a "runs" -d 'The runs that serve a control socket, newest first'
complete -c sc-ctl -n "__fish_sc_ctl_needs_command" -f -a "asks" -d 'The asks still open, with their worker, tool and input'
complete -c sc-ctl -n "__fish_sc_ctl_needs_command" -f -a "say" -d 'Tell a running agent something: it reaches the model in the same session, as the user\'s next message (an agent run with --ask)'
complete -c sc-ctl -n "__fish_sc_ctl_needs_command" -f -a "stop" -d 'End a running worker, as Ctrl-C would'
complete -c sc-ctl -n "__fish_sc_ctl_needs_command" -f -a "answer" -d 'Decide an ask: allow, deny, or one of a question\'s options'
complete -c sc-ctl -n "__fish_sc_ctl_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c sc-ctl -n "__fish_sc_ctl_using_subcommand runs" -l control -d 'The run\'s control socket [default: every run of this user]' -r -F
complete -c sc-ctl -n "__fish_sc_ctl_using_subcommand runs" -s h -l help -d 'Print help'
complete -c sc-ctl -n "__fish_sc_ctl_using_subcommand asks" -l control -d 'The run\'s control socket [default: every run of this user]' -r -F
complete -c sc-ctl -n "__fish_sc_ctl_using_subcommand asks" -l json -d 'One `ask` event a line (JSON), for scripts'
complete -c sc-ctl -n "__fish_sc_ctl_using_subcommand asks" -s h -l help -d 'Print help'
complete -c sc-ctl -n "__fish_sc_ctl_using_subcommand say" -l control -d 'The run\'s control socket [default: every run of this user]' -r -F
complete -c sc-ctl -n "__fish_sc_ctl_using_subcommand say" -s h -l help -d 'Print help'
complete -c sc-ctl -n "__fish_sc_ctl_using_subcommand stop" -l control -d 'The run\'s control socket [default: every run of this user]' -r -F
complete -c sc-ctl -n "__fish_sc_ctl_using_subcommand stop" -s h -l help -d 'Print help'
complete -c sc-ctl -n "__fish_sc_ctl_using_subcommand answer" -l message -d 'Said to the agent with the decision (why a denial, say)' -r
complete -c sc-ctl -n "__fish_sc_ctl_using_subcommand answer" -l control -d 'The run\'s control socket [default: every run of this user]' -r -F
complete -c sc-ctl -n "__fish_sc_ctl_using_subcommand answer" -s h -l help -d 'Print help'
complete -c sc-ctl -n "__fish_sc_ctl_using_subcommand help; and not __fish_seen_subcommand_from runs asks say stop answer help" -f -a "runs" -d 'The runs that serve a control socket, newest first'
complete -c sc-ctl -n "__fish_sc_ctl_using_subcommand help; and not __fish_seen_subcommand_from runs asks say stop answer help" -f -a "asks" -d 'The asks still open, with their worker, tool and input'
complete -c sc-ctl -n "__fish_sc_ctl_using_subcommand help; and not __fish_seen_subcommand_from runs asks say stop answer help" -f -a "say" -d 'Tell a running agent something: it reaches the model in the same session, as the user\'s next message (an agent run with --ask)'
complete -c sc-ctl -n "__fish_sc_ctl_using_subcommand help; and not __fish_seen_subcommand_from runs asks say stop answer help" -f -a "stop" -d 'End a running worker, as Ctrl-C would'
complete -c sc-ctl -n "__fish_sc_ctl_using_subcommand help; and not __fish_seen_subcommand_from runs asks say stop answer help" -f -a "answer" -d 'Decide an ask: allow, deny, or one of a question\'s options'
complete -c sc-ctl -n "__fish_sc_ctl_using_subcommand help; and not __fish_seen_subcommand_from runs asks say stop answer help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
