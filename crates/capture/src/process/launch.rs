//! Launching a worker: its own process group, its stdin, and its outputs on
//! pipes or a pseudo-terminal.

use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use nix::fcntl::{FcntlArg, FdFlag, fcntl};
use nix::pty::{Winsize, openpty};
use nix::sys::termios::{self, LocalFlags, OutputFlags, SetArg};
use sc_events::{Limits, Stream};

use crate::process::limits::{Applied, apply};

/// What the worker reads on stdin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StdinMode {
    /// /dev/null: agent CLIs wait forever on an inherited stdin that never
    /// closes, so nothing is passed unless asked for.
    #[default]
    Null,
    /// sc-spawn's own stdin.
    Inherit,
    /// A pipe whose write end sc-spawn holds, writing nothing: the worker
    /// sees end of file when sc-spawn lets go of it (how a remote worker
    /// over ssh, which forwards no signal, is asked to end).
    Held,
    /// sc-spawn's own stdin, a terminal whose foreground sc-spawn is: the
    /// worker's process group is made the terminal's foreground, as a shell
    /// does for a job, so that it may read it (a background group reading
    /// its terminal is stopped by SIGTTIN). [`take_terminal_back`] undoes it.
    Terminal,
}

/// Make sc-spawn's own process group the foreground of the terminal on
/// stdin again, after a worker launched with [`StdinMode::Terminal`].
pub fn take_terminal_back() {
    // SAFETY: plain system calls on stdin and our own signal disposition.
    unsafe {
        // A background group calling tcsetpgrp is sent SIGTTOU unless it
        // ignores it.
        let old = libc::signal(libc::SIGTTOU, libc::SIG_IGN);
        libc::tcsetpgrp(0, libc::getpgrp());
        libc::signal(libc::SIGTTOU, old);
    }
}

/// Whether stdin is a terminal whose foreground process group is ours.
pub fn owns_terminal() -> bool {
    // SAFETY: plain queries on stdin.
    unsafe { libc::isatty(0) == 1 && libc::tcgetpgrp(0) == libc::getpgrp() }
}

/// Where the worker's stdout and stderr go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PtyMode {
    /// Two pipes: stdout and stderr stay apart.
    #[default]
    Off,
    /// Both on one pseudo-terminal (stream `pty`): the worker sees a terminal
    /// everywhere, as it would in a person's shell.
    All,
    /// stdout on a pseudo-terminal, so it is line-buffered and live, and
    /// stderr still on its own pipe, so the two stay apart.
    Stdout,
}

/// How to launch one worker.
#[derive(Debug, Clone, Default)]
pub struct Spec {
    pub argv: Vec<OsString>,
    pub cwd: Option<PathBuf>,
    /// Set in the worker's environment on top of sc-spawn's own.
    pub env: Vec<(OsString, OsString)>,
    pub stdin: StdinMode,
    pub pty: PtyMode,
    /// Columns and rows of the pseudo-terminal.
    pub pty_size: (u16, u16),
    /// Resource limits applied at launch.
    pub limits: Option<Limits>,
    /// With [`StdinMode::Held`]: written to its stdin first (a conversing
    /// agent's prompt), by the worker.
    pub input: Option<Vec<u8>>,
    /// The worker runs in a cgroup v2 of its own where one can be made, so
    /// that what it leaves behind, a `setsid` daemon too, is ended with
    /// it: an agent's (it runs unattended and starts servers). Not every
    /// command's: a process that joins a cgroup is started with fork, not
    /// posix_spawn, then moved (2,000 trivial tasks took 1.7× as long,
    /// measured), and a placed worker's ssh or srun gets none (its
    /// cgroup is there; the user's `ControlPersist` master is to outlive
    /// it). A memory limit gets one regardless.
    pub own_cgroup: bool,
    /// `--sandbox`: confined (bubblewrap, Landlock, podman), wrapped here.
    pub sandbox: Option<super::sandbox::Sandbox>,
}

/// The absolute directory a worker launched in `cwd` runs in.
fn working_dir(cwd: Option<&std::path::Path>) -> Option<PathBuf> {
    let here = std::env::current_dir().ok()?;
    Some(match cwd {
        Some(dir) if dir.is_absolute() => dir.to_path_buf(),
        Some(dir) => here.join(dir),
        None => here,
    })
}

/// A launched worker.
#[derive(Debug)]
pub struct Launched {
    pub child: Child,
    /// Also the id of its process group.
    pub pid: u32,
    /// The read ends of its outputs, one per stream.
    pub outputs: Vec<(Stream, OwnedFd)>,
    /// How its limits are held.
    pub limits: Applied,
    /// [`StdinMode::Held`]: the write end of its stdin.
    pub stdin: Option<OwnedFd>,
    /// Sandboxed: what its sandbox holds while it runs.
    pub sandbox: Option<super::wrap::Confined>,
    /// With a network allow-list: its proxy (ended when dropped), and the
    /// read end of the pipe its refusals come on.
    pub net: Option<(super::proxy::Proxy, OwnedFd)>,
}

/// Launch the worker in a process group of its own (a session of its own on
/// a pseudo-terminal, whose controlling terminal it then is).
pub fn launch(spec: &Spec) -> io::Result<Launched> {
    if spec.argv.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "no command given",
        ));
    }
    // Sandboxed: its wrapper runs it (fail closed: no sandbox, no worker).
    let wrapped = match &spec.sandbox {
        None => None,
        Some(sandbox) => {
            let dir = working_dir(spec.cwd.as_deref()).unwrap_or_else(|| "/".into());
            let attach = super::podman::Attach {
                terminal: spec.pty != PtyMode::Off,
                stderr_apart: spec.pty == PtyMode::Stdout,
                stdin: spec.stdin != StdinMode::Null,
            };
            let limits = spec.limits.as_ref();
            Some(super::wrap::wrap(
                sandbox, &dir, &spec.env, attach, limits, &spec.argv,
            )?)
        }
    };
    let argv = wrapped.as_ref().map_or(&spec.argv, |w| &w.argv);
    let (program, args) = argv.split_first().expect("a command");
    let mut command = Command::new(program);
    command
        .args(args)
        .envs(spec.env.iter().map(|(k, v)| (k, v)));
    if let Some(wrapped) = &wrapped {
        command.envs(wrapped.env.iter().map(|(k, v)| (k, v)));
    }
    if let Some(cwd) = &spec.cwd {
        command.current_dir(cwd);
    }
    // $PWD names the directory it runs in, as a shell would pass it:
    // programs that take their directory from it (OpenCode does) would
    // otherwise work in sc-spawn's, or wherever a stale $PWD points. One
    // the worker's environment sets is left as it is.
    if !spec.env.iter().any(|(k, _)| k == "PWD")
        && let Some(dir) = working_dir(spec.cwd.as_deref())
    {
        command.env("PWD", dir);
    }
    let mut held = None;
    command.stdin(match spec.stdin {
        StdinMode::Null => Stdio::null(),
        StdinMode::Inherit | StdinMode::Terminal => Stdio::inherit(),
        StdinMode::Held => {
            let (read, write) = os_pipe::pipe()?;
            held = Some(OwnedFd::from(write));
            Stdio::from(read)
        }
    });
    if spec.stdin == StdinMode::Terminal && spec.pty == PtyMode::Off {
        // SAFETY: signal, getpgrp and tcsetpgrp are async-signal-safe; the
        // child has its own process group already (set before this runs).
        unsafe {
            command.pre_exec(|| {
                let old = libc::signal(libc::SIGTTOU, libc::SIG_IGN);
                libc::tcsetpgrp(0, libc::getpgrp());
                libc::signal(libc::SIGTTOU, old);
                Ok(())
            });
        }
    }

    let mut outputs = Vec::with_capacity(2);
    match spec.pty {
        PtyMode::Off => {
            let (out_r, out_w) = os_pipe::pipe()?;
            let (err_r, err_w) = os_pipe::pipe()?;
            enlarge_pipe(&out_r);
            command.stdout(out_w).stderr(err_w).process_group(0);
            outputs.push((Stream::Stdout, OwnedFd::from(out_r)));
            outputs.push((Stream::Stderr, OwnedFd::from(err_r)));
        }
        PtyMode::All | PtyMode::Stdout => {
            let (master, slave) = open_pty(spec.pty_size)?;
            command.stdout(Stdio::from(slave.try_clone()?));
            if spec.pty == PtyMode::All {
                command.stderr(Stdio::from(slave));
                outputs.push((Stream::Pty, master));
            } else {
                drop(slave);
                let (err_r, err_w) = os_pipe::pipe()?;
                command.stderr(err_w);
                outputs.push((Stream::Stdout, master));
                outputs.push((Stream::Stderr, OwnedFd::from(err_r)));
            }
            // SAFETY: setsid and ioctl are async-signal-safe, and the closure
            // touches nothing but the child's own file descriptor 1.
            unsafe {
                command.pre_exec(|| {
                    nix::unistd::setsid()?;
                    if libc::ioctl(1, libc::TIOCSCTTY, 0) != 0 {
                        return Err(io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
    }
    let inherit: Vec<i32> = wrapped
        .iter()
        .flat_map(|w| w.inherit.iter().map(|fd| fd.as_raw_fd()))
        .collect();
    if !inherit.is_empty() {
        // SAFETY: fcntl is async-signal-safe; it only lets the wrapper's
        // descriptors (bubblewrap's status, podman's configuration)
        // through the exec.
        unsafe {
            command.pre_exec(move || {
                for &fd in &inherit {
                    if libc::fcntl(fd, libc::F_SETFD, 0) != 0 {
                        return Err(io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
    }
    let mut limits = apply(&mut command, spec.limits.as_ref(), spec.own_cgroup);
    let spawned = command.spawn();
    limits.launched();
    let child = match spawned {
        Ok(child) => child,
        Err(e) => {
            limits.cleanup();
            return Err(e);
        }
    };
    // `command` still holds the write ends; dropping it closes them here, so
    // that end of file arrives when the worker (and its children) close theirs.
    drop(command);
    let (sandbox, net) = match wrapped {
        Some(w) => {
            w.confined.launched(child.id());
            (Some(w.confined), w.net)
        }
        None => (None, None),
    };
    Ok(Launched {
        pid: child.id(),
        child,
        outputs,
        limits,
        stdin: held,
        sandbox,
        net,
    })
}

/// The size (columns, rows) of the terminal on file descriptor `fd`, if it
/// is one.
pub fn terminal_size(fd: i32) -> Option<(u16, u16)> {
    let mut size = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one winsize into `size`, which lives across
    // the call; a descriptor that is not a terminal just returns an error.
    let ok = unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut size) } == 0;
    (ok && size.ws_col > 0 && size.ws_row > 0).then_some((size.ws_col, size.ws_row))
}

/// Fewer, larger reads when a worker writes at full speed. Only stdout, and
/// only 256 KiB: an unprivileged user's pipes share a quota, past which new
/// pipes get a single page, and plan mode runs hundreds of workers.
fn enlarge_pipe(pipe: &os_pipe::PipeReader) {
    let _ = fcntl(pipe.as_fd(), FcntlArg::F_SETPIPE_SZ(256 * 1024));
}

/// A pseudo-terminal whose output is passed on untranslated: without OPOST
/// the line discipline would turn each `\n` the worker writes into `\r\n`,
/// and the stream would no longer hold the bytes the worker wrote.
fn open_pty((cols, rows): (u16, u16)) -> io::Result<(OwnedFd, File)> {
    let size = Winsize {
        ws_row: rows.max(1),
        ws_col: cols.max(1),
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    let pty = openpty(&size, None)?;
    for fd in [pty.master.as_fd(), pty.slave.as_fd()] {
        // openpty does not set close-on-exec: without it every later worker
        // would inherit these and keep the terminal open.
        fcntl(fd, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC))?;
    }
    let mut attrs = termios::tcgetattr(pty.slave.as_fd())?;
    attrs.output_flags.remove(OutputFlags::OPOST);
    attrs.local_flags.remove(LocalFlags::ECHO);
    termios::tcsetattr(pty.slave.as_fd(), SetArg::TCSANOW, &attrs)?;
    Ok((pty.master, File::from(pty.slave)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn read_all(fd: OwnedFd) -> Vec<u8> {
        let mut out = Vec::new();
        let mut file = File::from(fd);
        // A pseudo-terminal master reports EIO once the last slave closes.
        let _ = file.read_to_end(&mut out);
        out
    }

    fn sh(script: &str, pty: PtyMode) -> Launched {
        launch(&Spec {
            argv: vec!["sh".into(), "-c".into(), script.into()],
            pty,
            pty_size: (80, 24),
            ..Spec::default()
        })
        .unwrap()
    }

    #[test]
    fn pipes_keep_streams_apart_in_a_new_group() {
        let mut w = sh("echo out; echo err >&2; ps -o pgid= -p $$", PtyMode::Off);
        let mut outputs = w.outputs.drain(..);
        let (s1, out) = outputs.next().unwrap();
        let (s2, err) = outputs.next().unwrap();
        assert_eq!((s1, s2), (Stream::Stdout, Stream::Stderr));
        let out = String::from_utf8(read_all(out)).unwrap();
        assert_eq!(read_all(err), b"err\n");
        let mut lines = out.lines();
        assert_eq!(lines.next(), Some("out"));
        assert_eq!(
            lines.next().map(str::trim),
            Some(w.pid.to_string().as_str())
        );
        assert!(w.child.wait().unwrap().success());
    }

    #[test]
    fn pty_is_a_terminal_and_passes_newlines_untranslated() {
        let mut w = sh(
            "test -t 1 && test -t 2 && printf 'a\\nb\\n'; stty size </dev/tty",
            PtyMode::All,
        );
        let (stream, fd) = w.outputs.pop().unwrap();
        assert_eq!(stream, Stream::Pty);
        assert_eq!(read_all(fd), b"a\nb\n24 80\n");
        assert!(w.child.wait().unwrap().success());
    }

    #[test]
    fn split_pty_keeps_stderr_on_a_pipe() {
        let mut w = sh(
            "test -t 1 && ! test -t 2 && echo tty; echo e >&2",
            PtyMode::Stdout,
        );
        let (_, err) = w.outputs.pop().unwrap();
        let (_, out) = w.outputs.pop().unwrap();
        assert_eq!(read_all(out), b"tty\n");
        assert_eq!(read_all(err), b"e\n");
        w.child.wait().unwrap();
    }

    #[test]
    fn missing_program_is_an_error() {
        let err = launch(&Spec {
            argv: vec!["/no/such/program".into()],
            ..Spec::default()
        })
        .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }
}
