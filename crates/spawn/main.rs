//! sc-spawn: run a CLI worker and stream its output as NDJSON events.

mod cli;
mod confine;
mod describe;
mod detach;
mod run;

use clap::{CommandFactory, FromArgMatches};

fn main() {
    // Inside a sandbox with a network allow-list, this binary is first the
    // relay to sc's proxy, then the worker's command (never a user's word).
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if sc_capture::process::inside::requested(args.get(1).map(|a| a.as_os_str())) {
        let e = sc_capture::process::inside::run(&args[2..]);
        eprintln!("sc-spawn (sandbox relay): {e}");
        std::process::exit(127);
    }
    // Under --sandbox=landlock, first this: it confines itself and becomes
    // the worker's command.
    if sc_capture::process::landlock::requested(args.get(1).map(|a| a.as_os_str())) {
        let e = sc_capture::process::landlock::run(&args[2..]);
        eprintln!("sc-spawn (landlock): {e}");
        std::process::exit(127);
    }
    // A podman container's guard: it removes the container once the
    // sc-spawn that started it lets go (or dies).
    if sc_capture::process::podman::requested(args.get(1).map(|a| a.as_os_str())) {
        let e = sc_capture::process::podman::run_guard(&args[2..]);
        eprintln!("sc-spawn (podman guard): {e}");
        std::process::exit(127);
    }
    let matches = cli::Cli::command()
        .try_get_matches()
        .unwrap_or_else(|e| usage_error(e));
    let mut cli = cli::Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    cli.given = matches
        .ids()
        .filter(|id| {
            matches.value_source(id.as_str()) == Some(clap::parser::ValueSource::CommandLine)
        })
        .map(|id| id.as_str().to_owned())
        .collect();
    std::process::exit(run::run(cli));
}

/// clap's usage error; a word that is no flag (`sc-spawn echo hi`) was
/// meant as the command: the message shows it after `--`.
fn usage_error(e: clap::Error) -> ! {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if e.kind() == ErrorKind::UnknownArgument
        && let Some(ContextValue::String(word)) = e.get(ContextKind::InvalidArg)
        && !word.starts_with('-')
    {
        let _ = e.print();
        let rest: Vec<String> = std::env::args()
            .skip_while(|a| a != word)
            .map(|a| shlex::try_quote(&a).map_or(a.clone(), |q| q.into_owned()))
            .collect();
        eprintln!(
            "\ntip: a command goes after `--`, so that its words are not taken for sc-spawn's \
             flags: sc-spawn -- {}",
            rest.join(" ")
        );
        std::process::exit(2);
    }
    e.exit()
}
