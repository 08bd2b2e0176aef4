//! sc-spawn: run a CLI worker and stream its output as NDJSON events.

mod attach;
mod cli;
mod run;
mod setup;

use clap::Parser;

fn main() {
    std::process::exit(run::run(cli::Cli::parse()));
}
