//! The sandbox around a worker's command, made where it is launched,
//! whatever its kind: what every kind needs first (the agent's state
//! folders, the allow-list's proxy), then the kind's own wrapper
//! (bubblewrap's line, podman's, or sc-spawn's Landlock mode). Fail closed: any
//! step that cannot be done is an error, and the worker does not run.

use std::ffi::OsString;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::fcntl::{FcntlArg, OFlag, fcntl};

use super::net::Net;
use super::podman::Attach;
use super::proxy::Proxy;
use super::sandbox::{Kind, Sandbox, Status};

/// A worker's command, wrapped.
pub struct Wrapped {
    pub argv: Vec<OsString>,
    /// Set in the wrapper's environment (not passed into the sandbox).
    pub env: Vec<(OsString, OsString)>,
    /// Descriptors the wrapper inherits (closed here once it runs).
    pub inherit: Vec<OwnedFd>,
    /// What the running sandbox holds.
    pub confined: Confined,
    /// The allow-list's proxy, and the read end of its refusals.
    pub net: Option<(Proxy, OwnedFd)>,
}

/// What a running sandbox holds, until its worker is done.
#[derive(Debug, Default)]
pub struct Confined {
    /// bubblewrap's status: where its session's leader is learnt.
    status: Option<Status>,
    /// A container's guard, which removes it.
    guard: Option<super::podman::Guard>,
}

impl Confined {
    /// The sandbox's own session leader, where polite signals go instead
    /// of to the wrapper (bubblewrap would kill it outright); None: to
    /// the wrapper's group as to any worker's (podman passes them in).
    pub fn session(&mut self) -> Option<i32> {
        self.status.as_mut()?.child()
    }

    /// The wrapper runs as `pid`.
    pub fn launched(&self, pid: u32) {
        if let Some(guard) = &self.guard {
            guard.launched(pid);
        }
    }
}

/// The kind's program, found (or its kernel feature, checked).
enum Wrapper<'a> {
    Bwrap(PathBuf),
    Landlock,
    Podman(PathBuf, &'a str),
}

/// `command`, run in `dir` with the environment `env`, attached as
/// `attach` says, wrapped in `sandbox`.
pub fn wrap(
    sandbox: &Sandbox,
    dir: &Path,
    env: &[(OsString, OsString)],
    attach: Attach,
    limits: Option<&sc_events::Limits>,
    command: &[OsString],
) -> io::Result<Wrapped> {
    // The kind's own check first: nothing is made for a sandbox that
    // cannot be.
    let wrapper = match &sandbox.kind {
        Kind::Bwrap => Wrapper::Bwrap(super::sandbox::bwrap().map_err(io::Error::other)?),
        Kind::Landlock => {
            super::landlock::available().map_err(io::Error::other)?;
            Wrapper::Landlock
        }
        Kind::Podman(image) => {
            Wrapper::Podman(super::podman::podman().map_err(io::Error::other)?, image)
        }
    };
    sandbox.make_state()?;
    // A writable `/` (or /dev, where the relay's files go) would confine
    // nothing.
    if let Some(path) = sandbox
        .writable(dir)
        .into_iter()
        .find(|p| Path::new(super::inside::DIR).starts_with(p))
    {
        return Err(io::Error::other(format!(
            "--sandbox: {} would be writable inside (the worker's directory or \
             --sandbox-write), which confines nothing: run the worker in a folder of its \
             own; it does not run",
            path.display()
        )));
    }
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
    let mut wrapped = Wrapped {
        argv: Vec::new(),
        env: Vec::new(),
        inherit: Vec::new(),
        confined: Confined::default(),
        net: None,
    };
    match wrapper {
        Wrapper::Bwrap(bwrap) => {
            let (read, write) = os_pipe::pipe()?;
            fcntl(&read, FcntlArg::F_SETFL(OFlag::O_NONBLOCK))?;
            let fd = write.as_raw_fd();
            wrapped.argv = sandbox.argv(&bwrap, dir, home.as_deref(), fd, proxy, command);
            wrapped.inherit.push(OwnedFd::from(write));
            wrapped.confined.status = Some(Status::new(OwnedFd::from(read)));
        }
        Wrapper::Podman(podman, image) => {
            let files = match proxy {
                Some(_) => Some(super::podman::RelayFiles::of_this_process()?),
                None => None,
            };
            let mut vars: Vec<OsString> = std::env::vars_os().map(|(k, _)| k).collect();
            vars.extend(env.iter().map(|(k, _)| k.clone()));
            vars.sort();
            vars.dedup();
            let name = super::podman::container_name();
            let container = super::podman::Container {
                sandbox,
                image,
                podman: &podman,
                name: &name,
                dir,
                home: home.as_deref(),
                attach,
                memory_mib: limits.and_then(|l| l.max_rss_mib),
                vars,
                relay: proxy.zip(files.as_ref()),
            };
            wrapped.argv = container.argv(command).map_err(io::Error::other)?;
            if let Some(conf) = super::podman::containers_conf()? {
                wrapped.env.push(("CONTAINERS_CONF".into(), conf.into()));
            }
            wrapped.confined.guard = Some(super::podman::guard(&podman, &name)?);
        }
        Wrapper::Landlock => {
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
            wrapped.argv = super::landlock::argv(&write, &hidden, proxy, command)?;
        }
    }
    wrapped.net = net;
    Ok(wrapped)
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
