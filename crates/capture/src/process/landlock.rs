//! `--sandbox=landlock`: the worker confined by the kernel's Landlock, for
//! machines where bubblewrap cannot make its namespaces (user namespaces
//! off, as on many HPC nodes). No namespaces: sc-spawn runs itself in a
//! small mode first (`__sc-landlock RULES -- CMD`), which restricts itself
//! and execs the worker, so the worker keeps that pid and signals reach it
//! as they reach any worker.
//!
//! What it holds: writes only where [`Sandbox::writable`] says (the
//! worker's directory, the temp folder, the agent's state, `--sandbox-write`)
//! and the harmless devices; the secrets' contents unreadable (every other
//! path readable, granted around them); TCP connections only to its proxy
//! (the allow-list, as with bubblewrap); no signals to processes outside
//! and no abstract unix sockets (where the kernel has Landlock's scopes).
//! What it cannot: hide a secret's name, keep a repository's hooks and
//! config read-only inside a writable checkout, filter UDP (DNS), give a
//! private /tmp. [`LIMITS`] says so in the stream.
//!
//! [`Sandbox::writable`]: super::sandbox::Sandbox::writable

use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::io;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};

use landlock::{
    ABI, Access, AccessFs, AccessNet, CompatLevel, Compatible, NetPort, PathBeneath, PathFd,
    Ruleset, RulesetAttr, RulesetCreatedAttr, RulesetStatus, Scope,
};

/// The first argument that asks for this mode (never a user's word).
pub const MODE: &str = "__sc-landlock";

/// What a Landlock sandbox cannot do, said in the stream when it starts.
pub const LIMITS: &str = "--sandbox=landlock: writes are confined and TCP goes only to its \
     proxy, but it cannot hide the secrets' names (their contents are unreadable), keep a \
     repository's hooks and config read-only, filter UDP (DNS), or give the worker a private \
     /tmp; use bubblewrap where user namespaces are on";

/// The oldest Landlock this needs: ABI 4 (TCP ports; Linux 6.7).
const NEEDED: ABI = ABI::V4;

/// Devices a program writes to in the course of things.
const DEVICES: &[&str] = &[
    "/dev/null",
    "/dev/zero",
    "/dev/full",
    "/dev/tty",
    "/dev/pts",
    "/dev/ptmx",
    "/dev/shm",
];

/// Whether this kernel has the Landlock this needs; Err says why not and
/// what to do (the worker does not run).
pub fn available() -> Result<(), String> {
    // SAFETY: landlock_create_ruleset with no attributes and the VERSION
    // flag only asks the kernel for its ABI; it touches no memory.
    let abi = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<u8>(),
            0usize,
            1u32,
        )
    };
    match abi {
        4.. => Ok(()),
        1..=3 => Err(format!(
            "--sandbox=landlock: this kernel's Landlock (ABI {abi}) cannot filter TCP (ABI 4, \
             Linux 6.7, can): the worker does not run; use bubblewrap (--sandbox)"
        )),
        _ => Err(format!(
            "--sandbox=landlock: Landlock is not enabled in this kernel ({}): the worker does \
             not run; use bubblewrap (--sandbox), or boot with lsm=...,landlock",
            io::Error::last_os_error()
        )),
    }
}

/// The words that run `command` confined: writable `write`, `hidden`
/// unreadable, TCP only to the proxy on `socket` (relayed from a port of
/// its own); without a socket, the whole network (`--sandbox-net host`).
pub fn argv(
    write: &[PathBuf],
    hidden: &[PathBuf],
    socket: Option<&Path>,
    command: &[OsString],
) -> io::Result<Vec<OsString>> {
    let mut argv: Vec<OsString> = vec![std::env::current_exe()?.into(), MODE.into()];
    argv.extend(["--parent".into(), std::process::id().to_string().into()]);
    for path in write {
        argv.extend(["--write".into(), path.into()]);
    }
    for path in hidden {
        argv.extend(["--hide".into(), path.into()]);
    }
    if let Some(socket) = socket {
        argv.extend(["--proxy".into(), socket.into()]);
    }
    argv.push("--".into());
    argv.extend(command.iter().cloned());
    Ok(argv)
}

/// Whether `arg` asks for this mode.
pub fn requested(arg: Option<&OsStr>) -> bool {
    arg == Some(OsStr::new(MODE))
}

/// The mode's arguments (after [`MODE`]): restrict this process, then
/// become the command. Returns only when that cannot be done (fail closed:
/// the error says what, and nothing runs).
pub fn run(args: &[OsString]) -> io::Error {
    let mut write = Vec::new();
    let mut hidden = Vec::new();
    let mut socket = None;
    let mut parent = None;
    let mut rest = args.iter();
    let command: Vec<OsString> = loop {
        match (rest.next().and_then(|a| a.to_str()), rest.clone().next()) {
            (Some("--write"), Some(path)) => write.push(PathBuf::from(path)),
            (Some("--hide"), Some(path)) => hidden.push(PathBuf::from(path)),
            (Some("--proxy"), Some(path)) => socket = Some(PathBuf::from(path)),
            (Some("--parent"), Some(pid)) => parent = pid.to_str().and_then(|p| p.parse().ok()),
            (Some("--"), _) => break rest.cloned().collect(),
            _ => {
                return io::Error::other(
                    "usage: [--parent PID] [--write P] [--hide P] [--proxy S] -- CMD...",
                );
            }
        }
        rest.next();
    };
    let Some(program) = command.first() else {
        return io::Error::other("no command");
    };
    // No PID namespace ends with sc-spawn (bubblewrap's --die-with-parent):
    // the worker is sent SIGKILL when sc-spawn dies, SIGKILL included (the
    // signal is kept through the exec). Already gone: nothing runs.
    // SAFETY: prctl with integer arguments; no memory touched.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
    if parent.is_some_and(|p: i32| nix::unistd::getppid().as_raw() != p) {
        return io::Error::other("sc-spawn is gone: the worker does not run");
    }
    // The relay's port first (the rules name it), the relay itself after
    // the rules: inside the domain, where the worker's end reaches it.
    let listener = match socket
        .as_ref()
        .map(|_| super::inside::listen(0))
        .transpose()
    {
        Ok(listener) => listener,
        Err(e) => return e,
    };
    let port = match listener.as_ref().map(|l| l.local_addr()).transpose() {
        Ok(addr) => addr.map(|a| a.port()),
        Err(e) => return e,
    };
    if let Err(e) = restrict(&write, &hidden, port) {
        return io::Error::other(format!("--sandbox=landlock could not be set up: {e}"));
    }
    if let (Some(listener), Some(socket)) = (listener, &socket)
        && let Err(e) = super::inside::fork_relay(listener, socket)
    {
        return e;
    }
    let mut exec = std::process::Command::new(program);
    exec.args(&command[1..]);
    for (var, value) in port.map(super::inside::proxy_vars).unwrap_or_default() {
        match value {
            Some(value) => exec.env(var, value),
            None => exec.env_remove(var),
        };
    }
    exec.exec()
}

/// This process confined, for good.
fn restrict(write: &[PathBuf], hidden: &[PathBuf], port: Option<u16>) -> Result<(), String> {
    let all = AccessFs::from_all(NEEDED);
    let read = AccessFs::from_read(NEEDED);
    let net = match port {
        Some(_) => AccessNet::ConnectTcp.into(),
        // The whole network: TCP not handled at all.
        None => landlock::BitFlags::<AccessNet>::EMPTY,
    };
    let mut ruleset = Ruleset::default()
        .set_compatibility(CompatLevel::HardRequirement)
        .handle_access(all)
        .and_then(|r| match port {
            Some(_) => r.handle_access(net),
            None => Ok(r),
        })
        // Scopes (ABI 6) where the kernel has them: no signals out, no
        // abstract sockets out.
        .map(|r| r.set_compatibility(CompatLevel::BestEffort))
        .and_then(|r| r.scope(Scope::from_all(ABI::V6)))
        .and_then(|r| r.create())
        .map_err(|e| e.to_string())?
        .set_compatibility(CompatLevel::HardRequirement);
    let hidden: HashSet<PathBuf> = hidden.iter().filter(|p| p.exists()).cloned().collect();
    let mut grants: Vec<(PathBuf, bool)> = Vec::new();
    readable_around(Path::new("/"), &hidden, &mut |path, whole| {
        grants.push((path.to_path_buf(), whole))
    });
    for (path, whole) in grants {
        // A folder holding a secret: listable only (its other entries have
        // rules of their own).
        let access = if whole {
            read
        } else {
            AccessFs::ReadDir.into()
        };
        ruleset = add(ruleset, &path, access)?;
    }
    let devices = DEVICES.iter().map(PathBuf::from);
    for path in write.iter().cloned().chain(devices) {
        if path.exists() {
            ruleset = add(ruleset, &path, all)?;
        }
    }
    if let Some(port) = port {
        ruleset = ruleset
            .add_rule(NetPort::new(port, AccessNet::ConnectTcp))
            .map_err(|e| e.to_string())?;
    }
    let status = ruleset.restrict_self().map_err(|e| e.to_string())?;
    match status.ruleset {
        RulesetStatus::FullyEnforced if status.no_new_privs => Ok(()),
        other => Err(format!("the kernel enforced it only partly ({other:?})")),
    }
}

fn add(
    ruleset: landlock::RulesetCreated,
    path: &Path,
    access: landlock::BitFlags<AccessFs>,
) -> Result<landlock::RulesetCreated, String> {
    // A file takes only the rights that apply to files.
    let access = match path.is_dir() {
        true => access,
        false => access & AccessFs::from_file(NEEDED),
    };
    let fd = PathFd::new(path).map_err(|e| format!("{}: {e}", path.display()))?;
    ruleset
        .add_rule(PathBeneath::new(fd, access))
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// Calls `grant(path, whole)` so that everything under `root` is readable
/// but what is `hidden`: a subtree holding nothing hidden whole, a folder
/// that holds something hidden listable only, and its entries in turn.
fn readable_around(root: &Path, hidden: &HashSet<PathBuf>, grant: &mut dyn FnMut(&Path, bool)) {
    if hidden.contains(root) {
        return;
    }
    if !hidden.iter().any(|h| h.starts_with(root)) {
        return grant(root, true);
    }
    grant(root, false);
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for entry in entries.flatten() {
        readable_around(&entry.path(), hidden, grant);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn everything_is_readable_around_what_is_hidden() {
        let dir = std::env::temp_dir().join(format!("sc-landlock-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for sub in ["home/.ssh", "home/code", "other"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        std::fs::write(dir.join("home/.netrc"), "secret").unwrap();
        std::fs::write(dir.join("home/.bashrc"), "").unwrap();
        let hidden: HashSet<PathBuf> = [dir.join("home/.ssh"), dir.join("home/.netrc")].into();
        let mut grants = Vec::new();
        readable_around(&dir, &hidden, &mut |p, whole| {
            grants.push((p.strip_prefix(&dir).unwrap().to_path_buf(), whole))
        });
        grants.sort();
        let want: Vec<(PathBuf, bool)> = [
            ("", false),
            ("home", false),
            ("home/.bashrc", true),
            ("home/code", true),
            ("other", true),
        ]
        .iter()
        .map(|(p, w)| (PathBuf::from(p), *w))
        .collect();
        assert_eq!(grants, want);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
