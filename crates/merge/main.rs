//! sc-merge: many live sc event streams into one.

mod cli;
mod run;

use clap::Parser;

fn main() {
    std::process::exit(run::run(cli::Cli::parse()));
}
