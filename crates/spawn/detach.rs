//! `--detach`: the run goes on in the background. This process forks:
//! the child becomes the run, in a session of its own (no terminal, so no
//! hang-up reaches it), and says when it can be reached; the parent then
//! prints the run's id (the child's pid: `sc-view --attach ID`, `sc-ctl
//! stop ID`) and returns. Until the run is reachable its errors go to the
//! terminal as any run's would; from then on its stream goes to its kept
//! copy only.

use std::io::{IsTerminal, Read};
use std::os::fd::{AsRawFd, OwnedFd};

use nix::unistd::{ForkResult, fork, setsid};
use sc_capture::run::RunDescription;

/// In the run (the child): the description, to be run, with its ready
/// line to write. The parent never returns: it exits with what it says.
/// `default_control`: the run's socket is the user's default one, named
/// after its pid, which is the child's from here on.
pub fn detach(mut description: RunDescription, default_control: bool) -> RunDescription {
    let (read, write) = match nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC) {
        Ok(pipe) => pipe,
        Err(e) => {
            eprintln!("sc-spawn: --detach: {e}");
            std::process::exit(sc_capture::run::EXIT_TROUBLE);
        }
    };
    // SAFETY: sc-spawn has started no thread yet (the run's poller, its
    // chores and its connections come later, in the child).
    match unsafe { fork() } {
        Err(e) => {
            eprintln!("sc-spawn: --detach: cannot fork: {e}");
            std::process::exit(sc_capture::run::EXIT_TROUBLE);
        }
        Ok(ForkResult::Parent { child }) => {
            drop(write);
            std::process::exit(parent(read, child));
        }
        Ok(ForkResult::Child) => {}
    }
    drop(read);
    let _ = setsid();
    // Its stream goes to its kept copy: stdout is nobody's. A terminal on
    // stdin is not its to read (a plan piped in still is).
    redirect_null(1);
    if std::io::stdin().is_terminal() {
        redirect_null(0);
    }
    description.detached = true;
    description.ready = Some(write);
    if default_control {
        let control = sc_capture::control::default_path(false);
        description.options.ask_policy.control = Some(control.display().to_string());
        description.control = control;
    }
    description
}

/// The parent: waits for the run to say it can be reached, prints its id;
/// or, when it could not start, its exit status (its reason is on the
/// terminal already).
fn parent(ready: OwnedFd, child: nix::unistd::Pid) -> i32 {
    let mut said = String::new();
    let _ = std::fs::File::from(ready).read_to_string(&mut said);
    if said.starts_with("ready") {
        println!("{child}");
        if std::io::stderr().is_terminal() {
            eprintln!(
                "sc-spawn: run {child} goes on in the background: `sc-view --attach {child}` \
                 watches it, `sc-ctl stop {child}` ends it"
            );
        }
        return 0;
    }
    match nix::sys::wait::waitpid(child, None) {
        Ok(nix::sys::wait::WaitStatus::Exited(_, code)) if code != 0 => code,
        _ => {
            eprintln!("sc-spawn: --detach: the run ended before it could be reached");
            sc_capture::run::EXIT_TROUBLE
        }
    }
}

fn redirect_null(fd: i32) {
    if let Ok(null) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
    {
        // SAFETY: dup2 onto a standard descriptor this process holds.
        unsafe {
            libc::dup2(null.as_raw_fd(), fd);
        }
    }
}
