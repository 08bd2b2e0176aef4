//! sc-ctl: answer the asks of running sc workers, from any terminal.

mod cli;
mod run;

use clap::Parser;

fn main() {
    std::process::exit(run::run(cli::Cli::parse()));
}
