//! The sandbox around a worker's command, made where it is launched,
//! whatever its kind: what every kind needs first (the agent's state
//! folders, the allow-list's proxy), then the kind's own wrapper
//! (bubblewrap's line, or sc-spawn's Landlock mode). Fail closed: any
//! step that cannot be done is an error, and the worker does not run.

use std::ffi::OsString;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::fcntl::{FcntlArg, OFlag, fcntl};

use super::net::Net;
use super::proxy::Proxy;
use super::sandbox::{Kind, Sandbox};

/// A worker's command, wrapped.
pub struct Wrapped {
    pub argv: Vec<OsString>,
    /// bubblewrap's status pipe (read end, write end for the child).
    pub status: Option<(OwnedFd, OwnedFd)>,
    /// The allow-list's proxy, and the read end of its refusals.
    pub net: Option<(Proxy, OwnedFd)>,
}

/// `command`, run in `dir` with the environment `env`, wrapped in
/// `sandbox`.
pub fn wrap(
    sandbox: &Sandbox,
    dir: &Path,
    env: &[(OsString, OsString)],
    command: &[OsString],
) -> io::Result<Wrapped> {
    // The kind's own check first: nothing is made for a sandbox that
    // cannot be.
    let bwrap = match sandbox.kind {
        Kind::Bwrap => Some(super::sandbox::bwrap().map_err(io::Error::other)?),
        Kind::Landlock => {
            super::landlock::available().map_err(io::Error::other)?;
            None
        }
    };
    sandbox.make_state()?;
    let home = std::env::var_os("HOME").map(PathBuf::from);
    // Its proxy, whatever its allow-list, even an empty one: what a
    // confined program tried to reach is then said in the stream (why
    // `npm install` failed), not only refused. The whole network needs
    // none.
    let net = match sandbox.net {
        Net::Host => None,
        _ => Some(start_proxy(&sandbox.net)?),
    };
    let proxy = net.as_ref().map(|(proxy, _)| proxy.path());
    let mut status = None;
    let argv = match bwrap {
        Some(bwrap) => {
            let (read, write) = os_pipe::pipe()?;
            fcntl(&read, FcntlArg::F_SETFL(OFlag::O_NONBLOCK))?;
            let fd = write.as_raw_fd();
            let argv = sandbox.argv(&bwrap, dir, home.as_deref(), fd, proxy, command);
            status = Some((OwnedFd::from(read), OwnedFd::from(write)));
            argv
        }
        None => {
            // Its temp folder is the machine's (Landlock makes no private
            // one): writable, as the worker's environment names it.
            let temp = env
                .iter()
                .rev()
                .find(|(k, _)| k == "TMPDIR")
                .map(|(_, v)| PathBuf::from(v))
                .unwrap_or_else(std::env::temp_dir);
            let mut write = sandbox.writable(dir);
            for path in [PathBuf::from("/tmp"), temp] {
                if !write.contains(&path) {
                    write.push(path);
                }
            }
            let hidden = sandbox.hidden(home.as_deref());
            super::landlock::argv(&write, &hidden, proxy, command)?
        }
    };
    Ok(Wrapped { argv, status, net })
}

/// The allow-list's proxy, its refusals on a pipe whose read end is
/// returned (the write end the proxy's, never blocking it).
fn start_proxy(net: &Net) -> io::Result<(Proxy, OwnedFd)> {
    let (read, write) = os_pipe::pipe()?;
    fcntl(&read, FcntlArg::F_SETFL(OFlag::O_NONBLOCK))?;
    fcntl(&write, FcntlArg::F_SETFL(OFlag::O_NONBLOCK))?;
    let proxy = Proxy::start(net.clone(), OwnedFd::from(write))
        .map_err(|e| io::Error::new(e.kind(), format!("--sandbox-net: its proxy: {e}")))?;
    Ok((proxy, OwnedFd::from(read)))
}
