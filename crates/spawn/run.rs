//! sc-spawn's job: the command line, as one run description, to the
//! library that runs it (or, on the far side of a placement, to what the
//! local side asked of this sc-spawn there).

use std::time::Duration;

use sc_capture::placement::there;
use sc_capture::run::EXIT_USAGE;

use crate::cli::Cli;

pub fn run(cli: Cli) -> i32 {
    if let Some(what) = cli.generate {
        return sc_clikit::generate::<Cli>("sc-spawn", what);
    }
    // The remote side of a placement, as the local side asks for it.
    if let Some(dir) = &cli.attach {
        return there::attach(dir, cli.id.as_deref().unwrap_or_default(), cli.from_byte);
    }
    if let Some(dir) = cli.spool.clone() {
        return there::spooled(&dir, Duration::from_secs(cli.lease), || run_here(&cli));
    }
    run_here(&cli)
}

/// Run the worker or the plan, with this process's stdin and stdout.
fn run_here(cli: &Cli) -> i32 {
    match crate::describe::describe(cli) {
        Ok(description) => sc_capture::run::run(description),
        Err(message) => {
            eprintln!("sc-spawn: {message}");
            EXIT_USAGE
        }
    }
}
