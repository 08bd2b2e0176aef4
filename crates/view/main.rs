//! sc-view: show an sc event stream to a person.

mod cli;
mod keys;
mod run;
mod source;

use clap::Parser;

fn main() {
    std::process::exit(run::run(cli::Cli::parse()));
}
