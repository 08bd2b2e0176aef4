//! One run, from its description: what sc-spawn's flags (or a placed task)
//! come to, as plain data — what to run (a plan on stdin, or one task),
//! its policies, and where its workers may go — run on this process's
//! stdin and stdout to its exit status. The binary turns flags into a
//! [`RunDescription`]; everything from there on is here.

use std::io;
use std::os::fd::AsFd;
use std::path::PathBuf;

use sc_events::Task;

use crate::placement::registry::{Placements, Where};
use crate::plan::resume::EarlierRun;
use crate::plan::scheduler::PlanOptions;
use crate::process::launch::StdinMode;
use crate::{InputSpec, Supervisor};

/// Usage errors: a task that cannot be run as given.
pub const EXIT_USAGE: i32 = 2;
/// sc-spawn itself failed (its poller, writing its stream or its log, its
/// control socket, reading the plan): not the worker's code, not a usage
/// error — as timeout(1) says its own failure.
pub const EXIT_TROUBLE: i32 = 125;

/// What is said on stderr is said as this program.
const PROGRAM: &str = "sc-spawn";

/// A run, as data.
pub struct RunDescription {
    /// How every task runs: the template, the policies, the agents (its
    /// `placements` are made here, from `placement`).
    pub options: PlanOptions,
    /// Where its workers may go besides here, as data: the placement
    /// engines are made from it as the run starts, and closed at its end.
    pub placement: Where,
    /// One task (a command, an agent, a placed task); None: a plan on
    /// stdin.
    pub one: Option<Task>,
    /// What an earlier run left done, and where it was read.
    pub earlier: Option<(EarlierRun, String)>,
    /// The run's control socket.
    pub control: PathBuf,
    /// It must be served (`--ask`, `--control`): a run that cannot does
    /// not start.
    pub controlled: bool,
    /// It is served (and the stream kept for `sc-view --attach`): asked
    /// for, or by default where it can be (a run of its own); not with
    /// `--no-control`.
    pub serves: bool,
    /// `--log FILE`: the stream also appended there.
    pub log: Option<PathBuf>,
    /// `--worktree`, `--budget-usd`, `--fail-fast`.
    pub worktrees: bool,
    pub budget_usd: Option<f64>,
    pub fail_fast: bool,
    /// A task placed here by another sc-spawn: stdin carries its requests.
    pub end_on_stdin_eof: bool,
    /// `--detach`: the run's kept stream stays after its end (as
    /// `ended-PID-START.ndjson`, for `sc-view --attach` and `sc-ctl runs`
    /// until `sc-ctl forget` or its age), and `ready` is told (a line)
    /// once the run can be reached.
    pub detached: bool,
    pub ready: Option<std::os::fd::OwnedFd>,
}

/// Run it; the exit status sc-spawn exits with.
pub fn run(mut description: RunDescription) -> i32 {
    // The engines that place tasks elsewhere: ssh's connections to the
    // hosts named up front start opening, a Slurm allocation is made.
    match Placements::new(&description.placement) {
        Ok((placements, notes)) => {
            for note in notes {
                eprintln!("{PROGRAM}: {note}");
            }
            description.options.placements = std::sync::Arc::new(placements);
        }
        Err(message) => {
            eprintln!("{PROGRAM}: {message}");
            return EXIT_USAGE;
        }
    }
    let stdout = io::stdout();
    let mut supervisor = match Supervisor::new(stdout.as_fd()) {
        Ok(supervisor) => supervisor,
        Err(e) => {
            eprintln!("{PROGRAM}: cannot set up the poller and signal handlers: {e}");
            return EXIT_TROUBLE;
        }
    };
    supervisor.set_notices(PROGRAM);
    supervisor.set_view_downstream(view_downstream(&stdout));
    if let Err(code) = serve_control(&description, &mut supervisor) {
        return code;
    }
    let own_log = match keep_log(&description, &mut supervisor) {
        Ok(own) => own,
        Err(code) => return code,
    };
    if let Some(ready) = description.ready.take() {
        // The one who detached it says its id and returns; from now on
        // nobody reads this terminal's stderr for the run (its errors are
        // `error` events in its stream).
        let _ = nix::unistd::write(&ready, b"ready\n");
        if let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") {
            use std::os::fd::AsRawFd;
            // SAFETY: dup2 onto stderr, which this process holds.
            unsafe {
                libc::dup2(null.as_raw_fd(), 2);
            }
        }
    }
    let detached = description.detached;
    let placements = description.options.placements.clone();
    let started = supervisor.started();
    let code = supervise(description, &mut supervisor);
    drop(supervisor);
    // Its connections closed, its allocation given back: every worker has
    // ended (Ctrl-C included).
    placements.close();
    if let Some(path) = own_log {
        // A detached run's stream is kept under the name of an ended run;
        // any other run's goes with it.
        let kept =
            path.with_file_name(crate::control::ended_file_name(std::process::id(), started));
        if !detached || std::fs::rename(&path, kept).is_err() {
            let _ = std::fs::remove_file(path);
        }
    }
    code
}

/// How long an ended detached run's stream is kept: `SC_KEEP_DAYS` (7).
fn keep_days() -> std::time::Duration {
    let days: f64 = std::env::var("SC_KEEP_DAYS")
        .ok()
        .and_then(|d| d.trim().parse().ok())
        .filter(|d: &f64| d.is_finite() && *d >= 0.0)
        .unwrap_or(7.0);
    std::time::Duration::from_secs_f64(days * 86_400.0)
}

/// The control socket: served when asked for (failing the run when it
/// cannot be), and by default where it can be, so that any run is
/// reached from another terminal (`sc-view --attach`, `sc-ctl`); the
/// sockets and kept streams of the user's runs that were killed before
/// their end are swept first.
fn serve_control(run: &RunDescription, supervisor: &mut Supervisor) -> Result<(), i32> {
    if !run.serves {
        return Ok(());
    }
    if let Ok(dir) = crate::private::runs_dir() {
        use nix::sys::stat::SFlag;
        crate::private::sweep_dead(&dir, "run", SFlag::S_IFSOCK);
        crate::private::sweep_dead(&dir, "run", SFlag::S_IFREG);
        crate::private::sweep_old_files(&dir, "ended-", ".ndjson", keep_days());
    }
    if let Err(e) = supervisor.set_control(&run.control) {
        let message = format!(
            "cannot serve the control socket {}: {e}",
            run.control.display()
        );
        if run.controlled {
            eprintln!("{PROGRAM}: {message}");
            return Err(EXIT_TROUBLE);
        }
        supervisor.say_error(format!(
            "{message}: this run cannot be reached from another terminal (sc-view --attach, \
             sc-ctl), and its asks are answered only by --ask-cmd or the timeout"
        ));
    }
    Ok(())
}

/// `--log FILE`, or for a run with a control socket its stream kept (so
/// that `sc-view --attach` can follow it from its first event): a new file
/// of sc's in the private runs folder, never one derived from a path the
/// user gave; removed when the run ends (the path returned).
fn keep_log(run: &RunDescription, supervisor: &mut Supervisor) -> Result<Option<PathBuf>, i32> {
    if let Some(path) = &run.log {
        let mut options = std::fs::OpenOptions::new();
        options.create(true).append(true);
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        return match options.open(path) {
            Ok(file) => match supervisor.set_log(file, true) {
                Ok(()) => {
                    supervisor.set_log_path(path.clone());
                    Ok(None)
                }
                Err(e) => {
                    eprintln!("{PROGRAM}: cannot write the log {}: {e}", path.display());
                    Err(EXIT_TROUBLE)
                }
            },
            Err(e) => {
                eprintln!("{PROGRAM}: cannot open the log {}: {e}", path.display());
                Err(EXIT_TROUBLE)
            }
        };
    }
    if !run.serves {
        return Ok(None);
    }
    let name = format!("run-{}.ndjson", std::process::id());
    let kept = crate::private::runs_dir()
        .and_then(|dir| dir.create_file_anew(&name))
        .and_then(|(file, path)| match supervisor.set_log(file, false) {
            Ok(()) => Ok(path),
            Err(e) => {
                // Made just now, by this run: removed again.
                let _ = std::fs::remove_file(&path);
                Err(e)
            }
        });
    match kept {
        Ok(path) => {
            supervisor.set_log_path(path.clone());
            Ok(Some(path))
        }
        Err(e) => {
            supervisor.say_error(format!(
                "the run's stream is not kept for `sc-view --attach`: {e}"
            ));
            Ok(None)
        }
    }
}

/// The run itself, its supervisor set up.
fn supervise(run: RunDescription, supervisor: &mut Supervisor) -> i32 {
    if run.end_on_stdin_eof {
        crate::placement::there::end_on_stdin_eof(run.control.clone());
    }
    let took_terminal = run.options.template_spec.stdin == StdinMode::Terminal;
    let single = run.one.is_some();
    let planned = match run.one {
        None => supervisor
            .plan_from(&InputSpec::Stdin, run.options)
            .map_err(|e| (format!("cannot read the plan on stdin: {e}"), EXIT_TROUBLE)),
        // A task that cannot be run as given: the command line's fault.
        Some(task) => supervisor
            .plan_one(task, run.options)
            .map_err(|message| (message, EXIT_USAGE)),
    };
    if let Err((message, code)) = planned {
        eprintln!("{PROGRAM}: {message}");
        return code;
    }
    supervisor.set_worktrees(run.worktrees);
    supervisor.set_budget(run.budget_usd);
    supervisor.set_fail_fast(run.fail_fast);
    if let Some((earlier, log)) = run.earlier {
        if earlier.unreadable > 0 {
            eprintln!(
                "{PROGRAM}: {log}: {} line(s) are not events and were passed over",
                earlier.unreadable
            );
        }
        supervisor.set_earlier(earlier, log);
    }
    let result = supervisor.run();
    if took_terminal {
        crate::take_terminal_back();
    }
    match result {
        Ok(report) => exit_status(&report, single, supervisor),
        Err(e) => {
            eprintln!("{PROGRAM}: polling failed: {e}");
            EXIT_TROUBLE
        }
    }
}

/// What the run's report comes to as sc-spawn's exit status.
fn exit_status(report: &crate::RunReport, single: bool, supervisor: &Supervisor) -> i32 {
    if let Some(e) = &report.write_error {
        eprintln!("{PROGRAM}: writing the event stream to stdout failed: {e}");
        return EXIT_TROUBLE;
    }
    if report.downstream_closed {
        // Like `rg ... | head`: the reader chose to stop; not an error.
        return 0;
    }
    // The plan (stdin) could not be read: what ran is not all that was
    // asked for, whatever the tasks that did run said.
    if let Some(message) = report.unreadable_inputs.first() {
        eprintln!("{PROGRAM}: {message}");
        return EXIT_TROUBLE;
    }
    // A plan interrupted: as the signal would have ended it, however its
    // workers ended (a second Ctrl-C kills them: not 137). One command's
    // status stays its worker's (the contract).
    if let (Some(signal), false) = (report.interrupted, single) {
        return 128 + signal;
    }
    if !single && report.no_plan {
        eprintln!(
            "{PROGRAM}: stdin held lines but no task: sc-spawn runs a plan of `task` events \
             (sc-events(7)), never a line as a command. Make one from command lines with \
             sc-plan: `printf '%s\\n' 'cargo build' 'cargo test' | sc-plan --kind shell | \
             sc-spawn`, or run one command: `sc-spawn -- cargo build`"
        );
        return EXIT_USAGE;
    }
    match single {
        true => supervisor.exit_code(0),
        false => i32::from(report.plan_succeeded != Some(true)),
    }
}

/// The stream goes down a pipe while stderr is a terminal: a view (or the
/// next program) shares the terminal and gets its Ctrl-C too.
fn view_downstream(stdout: &io::Stdout) -> bool {
    use std::os::unix::fs::FileTypeExt;
    let piped = stdout
        .as_fd()
        .try_clone_to_owned()
        .map(std::fs::File::from)
        .and_then(|f| f.metadata())
        .is_ok_and(|m| m.file_type().is_fifo());
    piped && std::io::IsTerminal::is_terminal(&io::stderr())
}
