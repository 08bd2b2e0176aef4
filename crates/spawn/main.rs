//! sc-spawn: run a CLI worker and stream its output as NDJSON events.

mod attach;
mod cli;
mod run;
mod setup;

use clap::{CommandFactory, FromArgMatches};

fn main() {
    let matches = cli::Cli::command().get_matches();
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
