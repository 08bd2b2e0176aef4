//! sc-view's command line: defined once, for parsing, `--help` and the man page.

use std::path::PathBuf;

use clap::{Parser, ValueEnum};
use sc_clikit::{Generate, parse_speed};

const ABOUT: &str =
    "Show an sc event stream to a person: live rows on a terminal, plain lines in CI logs";

const LONG_ABOUT: &str = "\
Read an sc event stream (stdin, or FILEs one after another) and show it. On a terminal: a live \
row per running worker (spinner, id, role, a progress bar when progress is known, lines, elapsed \
time, its latest line) with its last --lines lines under it, queued tasks and a summary row (with \
the plan's ETA once a task has finished, as GNU parallel's --eta reckons it); \
finished workers leave a line with their mark (✔ ok, ✖ failed, ⏱ timed out, ⊘ skipped). Rows \
fit the terminal: with many workers running they give up their last lines, then the rest are \
counted. At the end: each failed worker's last lines (its last attempt's, stderr first, up to 20 \
of each stream), with the command that shows all of its output, as cargo test prints what \
failed, then a table of the workers that did not pass and the totals. Not on a terminal: plain \
lines, `[ID] text` (`[ID:err]` for stderr), one line when a worker starts and one when it ends, \
`\\r` redraws collapsed to their final state; with GITHUB_ACTIONS set, each worker's output in a \
::group:: when it ends; they end with a table of every worker.

An agent waiting on an ask (sc-spawn --ask) shows as `needs input` with what it asks; on a \
terminal, `a` allows and `d` denies the oldest open ask (through the control socket the ask \
names), and the summary says so. --attach watches a run that is already going.

Worker output is untrusted: it can never move the cursor, clear the screen, set the title, write \
the clipboard or ring the bell; control characters are shown escaped (\\x1b). What looks like an \
API key or token is masked (--no-redact to turn off); the stream itself is not changed.

--raw writes exactly the bytes the workers wrote (stdout payloads to stdout, stderr payloads to \
stderr), so `sc-spawn -- CMD | sc-view --raw` is byte for byte what CMD wrote. --check proves a \
saved stream is whole.";

const SHORT_AFTER_HELP: &str = "\
Examples:
  sc-spawn -- cargo test | sc-view
  sc-plan --kind shell 'make {}' ::: a b c | sc-spawn | sc-view -q --junit report.xml

Exit status: 0 when every worker succeeded, 1 when one did not, 2 for sc-view's own errors, \
128 + N when interrupted by signal N. More with --help; the stream: sc-events(7).";

const AFTER_HELP: &str = "\
Examples:
  sc-spawn -- cargo test | sc-view
  sc-spawn -- make | tee run.ndjson | sc-view --check
  sc-view --follow run.ndjson --worker 'meta/*'
  sc-view --replay --speed 4 demo.ndjson

Exit status: 0 when every worker succeeded; 1 when one failed, timed out, was skipped or has no \
exit (or the stream had no worker); 2 for sc-view's own errors. With --check: 0 only when the \
stream is whole. Interrupted (SIGINT, SIGTERM, SIGHUP): it reads on until the run has ended \
(while a worker it saw start has not ended, sc-spawn is still ending it; then until 2 s of \
quiet), 7 s after the signal at most (past sc-spawn's kill grace, before a CI runner's SIGKILL), \
writes its reports and summary, and exits 128 + the signal (130, 143, 129); after a second \
signal it waits a second for the killed workers' exits, and a third ends it at once. Attached (--attach), the signal is the view's alone: it ends at once, and the run goes on (a closed terminal never ends the run it watched).

Colour: --color, or NO_COLOR, CLICOLOR and CLICOLOR_FORCE.

See also: sc-spawn(1), sc-merge(1), sc-events(7).";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorWhen {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Parser)]
#[command(
    name = "sc-view",
    version,
    about = ABOUT,
    long_about = LONG_ABOUT,
    after_help = SHORT_AFTER_HELP,
    after_long_help = AFTER_HELP
)]
pub struct Cli {
    /// Streams to read, one after another (default: stdin)
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,

    /// Lines of output under each running worker on a terminal
    ///
    /// Fewer when many workers run: rows give up their last lines first,
    /// then the workers without a row are counted in the summary row.
    #[arg(help_heading = "Output", long, value_name = "N", default_value_t = 3)]
    pub lines: usize,

    /// Plain lines even on a terminal
    #[arg(help_heading = "Output", long)]
    pub plain: bool,

    /// Show only the workers that did not pass
    ///
    /// On a terminal, no line for a worker that passed; in plain lines, a
    /// worker's lines are held until it ends and said only if it failed
    /// (as cargo test shows a failed test's output).
    #[arg(help_heading = "Output", short = 'q', long, visible_alias = "quiet")]
    pub failures_only: bool,

    /// When to use colour in sc-view's own marks and table
    #[arg(
        help_heading = "Output",
        long,
        value_enum,
        value_name = "WHEN",
        default_value = "auto"
    )]
    pub color: ColorWhen,

    /// Let the workers' own SGR colour through in plain lines too
    ///
    /// Never cursor moves or other escapes, which are shown escaped. It is
    /// by default on a terminal and in logs GitHub and GitLab render
    /// (GITHUB_ACTIONS, GITLAB_CI); elsewhere it is left out.
    #[arg(help_heading = "Output", hide_short_help = true, long)]
    pub color_output: bool,

    /// Show API keys and tokens as written instead of masking them
    #[arg(help_heading = "Output", hide_short_help = true, long)]
    pub no_redact: bool,

    /// Write exactly the bytes of the workers' output, and nothing else
    #[arg(help_heading = "Output", long, conflicts_with_all = ["check", "plain"])]
    pub raw: bool,

    /// Keep reading every FILE as it grows, until every worker ended
    ///
    /// All files at once, until each has been read through and every
    /// worker seen in them has exited.
    #[arg(help_heading = "Input", long, requires = "files")]
    pub follow: bool,

    /// Watch a run that is already going, from its first event
    ///
    /// Until it ends. RUN is its control socket or its pid; without RUN,
    /// this user's newest run (every run serves one unless started with
    /// --no-control; `sc-ctl runs` lists them).
    #[arg(help_heading = "Input", long, value_name = "RUN", num_args = 0..=1, default_missing_value = "", conflicts_with_all = ["files", "follow"])]
    pub attach: Option<String>,

    /// Play a saved stream at its recorded pace
    #[arg(help_heading = "Input", long)]
    pub replay: bool,

    /// With --replay: this many times faster
    #[arg(help_heading = "Input", hide_short_help = true, long, value_name = "X", default_value_t = 1.0, requires = "replay", value_parser = parse_speed)]
    pub speed: f64,

    /// Only workers whose id matches (`*` and `?`; repeatable)
    #[arg(help_heading = "Select", long, value_name = "GLOB")]
    pub worker: Vec<String>,

    /// Only workers of this kind (shell, sc, claude-code, ...; repeatable)
    #[arg(help_heading = "Select", long, value_name = "KIND")]
    pub kind: Vec<String>,

    /// Verify the stream is whole (exit 0) or say what is missing
    ///
    /// Per worker: seq from 0 without gaps, one start and one exit, output
    /// bytes equal to the exit's count, no malformed line. A log of several
    /// runs (--resume LOG --log LOG) is read as runs: a worker that ended
    /// and begins again at seq 0 is its next run.
    #[arg(help_heading = "Reports", long, conflicts_with = "plain")]
    pub check: bool,

    /// Also write the run as a JUnit XML report to FILE, for CI
    ///
    /// At the end; from a live run or a saved stream. Each worker a
    /// testcase (its role or kind as the class name, its duration), a
    /// failure for a non-zero exit, signal or timeout, skipped for a
    /// skipped task, an error for one the stream never saw end (a run cut
    /// off, or sc-view interrupted), a retried task's failed attempts as
    /// flakyFailure (it passed later) or rerunFailure, each with its own
    /// output; its output (redacted as shown, up to 64 KiB per stream) as
    /// system-out/system-err — for an agent, what the view shows of it
    /// (its text, tool calls, asks and answers, result with cost and
    /// tokens), not the CLI's JSON (see --junit-raw).
    #[arg(help_heading = "Reports", long, value_name = "FILE")]
    pub junit: Option<std::path::PathBuf>,

    /// With --junit: an agent's output as the CLI wrote it (its JSON)
    #[arg(
        help_heading = "Reports",
        hide_short_help = true,
        long,
        requires = "junit"
    )]
    pub junit_raw: bool,

    /// Also write GNU parallel's job log to FILE
    ///
    /// At the end: a row per worker that ran, `Seq Host Starttime
    /// JobRuntime Send Receive Exitval Signal Command`, tab-separated, as
    /// `parallel --joblog` writes it.
    #[arg(help_heading = "Reports", long, value_name = "FILE")]
    pub joblog: Option<std::path::PathBuf>,

    /// Also draw the run as a timeline to FILE (an SVG)
    ///
    /// At the end: a lane per worker (nested ones under their parent), the
    /// time it waited for dependencies apart from the time it ran, bars
    /// coloured by outcome (each failed attempt apart), retries and stalls
    /// marked, dependency arrows, an agent's tool calls, asks (how long
    /// each waited) and result, its cost and tokens. Self-contained (no
    /// script): for a browser, a README, a CI artifact.
    #[arg(help_heading = "Reports", long, value_name = "FILE")]
    pub timeline: Option<std::path::PathBuf>,

    /// Serve a live page of the run to a browser (ADDR: 127.0.0.1:0)
    ///
    /// The same model as the terminal view, over Server-Sent Events: each
    /// worker with its state, time, lines, cost and tokens, its last
    /// lines (--lines) and newest (its whole output a click away), its dependencies, its worktree's branch and
    /// diff (--worktree), the timeline; open asks with Allow and Deny, and
    /// Stop and Say (attached to a run: --attach); filters for failures,
    /// running workers and a kind. The URL
    /// is said on stderr, with a token that the page exchanges for a
    /// cookie; only the loopback unless ADDR says otherwise. After the
    /// stream ends the page stays served until Ctrl-C
    #[arg(help_heading = "Browser", long, value_name = "ADDR", num_args = 0..=1, require_equals = true, default_missing_value = "127.0.0.1:0")]
    pub serve: Option<String>,

    /// Write generated documentation to stdout and exit
    #[arg(long, value_enum, hide = true)]
    pub generate: Option<Generate>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn modes_exclude_each_other() {
        assert!(Cli::try_parse_from(["sc-view", "--raw", "--check"]).is_err());
        assert!(Cli::try_parse_from(["sc-view", "--follow"]).is_err());
        assert!(Cli::try_parse_from(["sc-view", "--speed", "2"]).is_err());
        assert!(Cli::try_parse_from(["sc-view", "--replay", "--speed", "0", "f"]).is_err());
    }
}
