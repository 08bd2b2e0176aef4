//! sc-ctl's command line: defined once, for parsing, `--help` and the man page.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use sc_clikit::Generate;

const ABOUT: &str =
    "See, steer and stop the user's sc runs, and answer their asks, from any terminal";

const LONG_ABOUT: &str = "\
Every sc-spawn run started from a terminal, a script or CI serves a private control socket \
(unless --no-control). sc-ctl lists the user's runs (`sc-ctl runs`: each run's id, its \
directory, age, workers running, done and failed, asks open), stops a worker or a whole run, \
tells a running agent something, and answers asks: an agent worker run with `sc-spawn --ask` \
asks for what its grant does not allow (a command, a file to write, a question) and waits. \
What a person does is in the run's stream: a `say` or `stop` event, an `answer` event (by: \
person), each with `via: \"sc-ctl\"`.

The runs are found without flags: the sockets in $XDG_RUNTIME_DIR/sc (else /tmp/sc-UID), the \
user's alone. --run RUN names one by its id (sc-spawn's pid, as `sc-ctl runs` shows it); \
--control PATH by its socket (sc-spawn --control, or the `control` of an ask event). `sc-ctl \
asks` shows each ask's run as its last column; when two runs have an open ask of the same id \
(workers of the same id), or a worker of the same id, `answer`, `say` and `stop` are refused \
(exit 2) until --run or --control says which run.";

const AFTER_HELP: &str = "\
Examples:
  sc-ctl runs
  sc-ctl runs --json | jq 'select(.failed > 0) | .pid'
  sc-ctl stop 12345          # the whole run 12345
  sc-ctl forget 12345        # what is kept of detached run 12345, ended
  sc-ctl asks
  sc-ctl answer fix/1 allow
  sc-ctl answer fix/2 deny --message 'no network, use the vendored copy'
  sc-ctl asks --json | jq -r '.ask'
  sc-ctl say fix 'the tests live in tests/, not src/'
  sc-ctl stop fix

Exit status: 0 on success; 1 when the ask is not open (answered already, or unknown) or a run \
refused the request; 2 for a usage error; 3 when no run is there to ask.

See also: sc-spawn(1), sc-events(7).";

#[derive(Debug, Parser)]
#[command(
    name = "sc-ctl",
    version,
    about = ABOUT,
    long_about = LONG_ABOUT,
    after_help = AFTER_HELP
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// The run's control socket [default: every run of this user]
    #[arg(long, value_name = "PATH", global = true, conflicts_with = "run")]
    pub control: Option<PathBuf>,

    /// The run, by its id (sc-spawn's pid, as `sc-ctl runs` shows it)
    #[arg(long, value_name = "RUN", global = true)]
    pub run: Option<String>,

    /// Write generated documentation to stdout and exit
    #[arg(long, value_enum, value_name = "WHAT")]
    pub generate: Option<Generate>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The user's runs, newest first: id, state, age, workers running,
    /// done and failed, asks open, directory; detached runs that ended too
    Runs {
        /// One JSON object a line (pid, state, cwd, started, running, done,
        /// failed, asks, log, control), for scripts
        #[arg(long)]
        json: bool,
    },
    /// Remove what is kept of a detached run that ended (its stream)
    Forget {
        /// The run's id (as `sc-ctl runs` shows it)
        #[arg(value_name = "RUN")]
        id: String,
    },
    /// The asks still open, with their worker, tool and input
    Asks {
        /// One `ask` event a line (JSON), for scripts
        #[arg(long)]
        json: bool,
    },
    /// Tell a running agent something: it reaches the model in the same
    /// session, as the user's next message (an agent run with --ask)
    Say {
        /// The worker's id
        worker: String,
        /// What to tell it
        text: String,
    },
    /// End a running worker, or a whole run, as Ctrl-C would
    Stop {
        /// The worker's id, or a run's id (as `sc-ctl runs` shows it): the
        /// whole run
        target: String,
    },
    /// Decide an ask: allow, deny, or one of a question's options
    Answer {
        /// The ask's id (as `sc-ctl asks` and the `ask` event say it)
        ask: String,
        /// allow, deny, or one of a question's options (its `choices`)
        decision: String,
        /// Said to the agent with the decision (why a denial, say)
        #[arg(long, value_name = "TEXT")]
        message: Option<String>,
    },
}
