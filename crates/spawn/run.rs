//! sc-spawn's job: turn the command line into one worker and supervise it.

use std::ffi::OsString;
use std::io::{self, IsTerminal, Write};
use std::os::fd::AsFd;
use std::path::Path;
use std::time::Duration;

use clap::CommandFactory;
use sc_capture::{InputSpec, PtyMode, Spec, StdinMode, Supervisor, WorkerOptions, terminal_size};
use sc_events::Limits;

use crate::cli::{Cli, Generate, PtyArg};

/// Usage errors and sc-spawn's own failures (not the worker's).
const EXIT_USAGE: i32 = 2;

pub fn run(cli: Cli) -> i32 {
    if let Some(Generate::Man) = cli.generate {
        return generate_man();
    }
    let plan_mode = cli.command.is_empty();
    if plan_mode && io::stdin().is_terminal() {
        eprintln!(
            "sc-spawn: no command, and no plan on stdin: run a command with `sc-spawn -- CMD [ARGS...]`, \
             or pipe a plan in (`sc-plan TASK | sc-spawn`); see --help"
        );
        return EXIT_USAGE;
    }
    if plan_mode && (cli.stdin || cli.id.is_some()) {
        eprintln!(
            "sc-spawn: --stdin and --id need a command: in plan mode stdin is the plan and ids come from it"
        );
        return EXIT_USAGE;
    }
    let id = match cli.command.first() {
        Some(program) => cli.id.clone().unwrap_or_else(|| default_id(program)),
        None => String::new(),
    };
    let spec = spec(&cli, &id);
    let opts = WorkerOptions {
        id,
        kind: "shell".into(),
        flush: Duration::from_millis(cli.flush_ms),
        max_event_bytes: usize::try_from(cli.max_event_bytes).unwrap_or(usize::MAX),
        heartbeat: secs(cli.heartbeat),
        stall: secs(cli.stall),
        timeout: secs(cli.timeout),
        kill_grace: Duration::from_secs_f64(cli.kill_grace),
        drain: Duration::from_millis(cli.drain_ms),
        progress: !cli.no_progress,
        ..WorkerOptions::default()
    };
    let stdout = io::stdout();
    let mut supervisor = match Supervisor::new(stdout.as_fd()) {
        Ok(supervisor) => supervisor,
        Err(e) => {
            eprintln!("sc-spawn: cannot set up the poller and signal handlers: {e}");
            return EXIT_USAGE;
        }
    };
    supervisor.set_notices("sc-spawn");
    if let Some(path) = &cli.log {
        match std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            Ok(file) => supervisor.set_log(file),
            Err(e) => {
                eprintln!("sc-spawn: cannot open the log {}: {e}", path.display());
                return EXIT_USAGE;
            }
        }
    }
    let index = if plan_mode {
        let outer = std::env::var("SC_WORKER").ok().filter(|p| !p.is_empty());
        let jobs = usize::try_from(cli.jobs).unwrap_or(usize::MAX);
        if let Err(e) = supervisor.plan_from(&InputSpec::Stdin, jobs, opts, spec, outer) {
            eprintln!("sc-spawn: cannot read the plan on stdin: {e}");
            return EXIT_USAGE;
        }
        None
    } else {
        Some(supervisor.spawn(opts, &spec))
    };
    match supervisor.run() {
        Ok(report) => {
            if let Some(e) = report.write_error {
                eprintln!("sc-spawn: writing the event stream to stdout failed: {e}");
                return EXIT_USAGE;
            }
            if report.downstream_closed {
                // Like `rg ... | head`: the reader chose to stop; not an error.
                return 0;
            }
            match index {
                Some(index) => supervisor.worker(index).exit_code(),
                None => i32::from(report.plan_succeeded != Some(true)),
            }
        }
        Err(e) => {
            eprintln!("sc-spawn: polling failed: {e}");
            EXIT_USAGE
        }
    }
}

fn spec(cli: &Cli, id: &str) -> Spec {
    // Nested sc-spawns name themselves after this one: `outer/inner`.
    let path = match std::env::var("SC_WORKER") {
        Ok(outer) if !outer.is_empty() => format!("{outer}/{id}"),
        _ => id.to_owned(),
    };
    let mut env = vec![(OsString::from("SC_WORKER"), OsString::from(path))];
    env.extend(cli.env.iter().cloned());
    Spec {
        argv: cli.command.clone(),
        cwd: cli.cwd.clone(),
        env,
        stdin: if cli.stdin {
            StdinMode::Inherit
        } else {
            StdinMode::Null
        },
        pty: match cli.pty {
            None => PtyMode::Off,
            Some(PtyArg::All) => PtyMode::All,
            Some(PtyArg::Stdout) => PtyMode::Stdout,
        },
        // Its stdout is usually the stream's pipe: ask stderr, then stdin.
        limits: limits(cli),
        pty_size: terminal_size(2)
            .or_else(|| terminal_size(0))
            .unwrap_or((80, 24)),
    }
}

fn limits(cli: &Cli) -> Option<Limits> {
    let limits = Limits {
        max_rss_mib: cli.max_rss_mib,
        cpu_s: cli.cpu_s,
        nice: cli.nice,
    };
    (limits != Limits::default()).then_some(limits)
}

fn default_id(program: &OsString) -> String {
    Path::new(program)
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "worker".into())
}

fn secs(value: f64) -> Option<Duration> {
    (value > 0.0).then(|| Duration::from_secs_f64(value))
}

fn generate_man() -> i32 {
    let mut page = Vec::new();
    if let Err(e) = clap_mangen::Man::new(Cli::command()).render(&mut page) {
        eprintln!("sc-spawn: rendering the man page: {e}");
        return EXIT_USAGE;
    }
    match io::stdout().write_all(&page) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("sc-spawn: writing the man page: {e}");
            EXIT_USAGE
        }
    }
}
