//! sc-view: show an sc event stream to a person.

mod cli;
mod ending;
mod keys;
mod pacer;
mod reports;
mod run;
mod serve;
mod source;

use clap::Parser;

fn main() {
    std::process::exit(run::run(cli::Cli::parse()));
}
