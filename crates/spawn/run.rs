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
    // The command line, as one run description: the library runs it (in
    // a spool there, when the local side asks for one).
    let mut described = crate::describe::describe(&cli);
    // --detach: from here on this is the run, in the background (the
    // parent has printed its id and exited).
    if cli.detach
        && let Ok(description) = described
    {
        described = Ok(crate::detach::detach(description, cli.control.is_none()));
    }
    let run = move || match described {
        Ok(description) => sc_capture::run::run(description),
        Err(message) => {
            eprintln!("sc-spawn: {message}");
            EXIT_USAGE
        }
    };
    match &cli.spool {
        Some(dir) => there::spooled(dir, Duration::from_secs(cli.lease), run),
        None => run(),
    }
}
