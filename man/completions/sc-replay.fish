complete -c sc-replay -l speed -d 'Play this much faster than recorded (0.5 is half speed)' -r
complete -c sc-replay -l worker -d 'The worker to play, in a stream of several [default: the first with output]' -r
complete -c sc-replay -l converse -d 'Play an agent\'s side of its approval channel (sc-spawn --ask): at each recorded request for a decision, wait for its answer on stdin before going on. When an answer denies and the same run recorded with that ask denied lies beside FILE (NAME.denied.ndjson for NAME.ndjson), the play goes on from there: what the agent did when it was denied'
complete -c sc-replay -s h -l help -d 'Print help (see more with \'--help\')'
complete -c sc-replay -s V -l version -d 'Print version'
