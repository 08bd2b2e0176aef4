//! `--sandbox=podman:IMAGE`: the worker in a container of an image (the
//! devcontainer case: a toolchain the host lacks), with the rules of every
//! sandbox: the worker's directory (and what else is writable) bound at
//! the same path, everything else of the host absent, a read-only root and
//! a private /tmp, no network but the allow-list's proxy, no new
//! privileges and every capability dropped.
//!
//! Podman's own pitfalls, measured: `podman run` passes SIGTERM and SIGINT
//! in, but a SIGKILLed `podman run` leaves its container running, so each
//! container has a guard (a small mode of this binary, outside the worker's
//! group) that removes it once sc-spawn lets go of it, or dies; its PID 1
//! would ignore SIGTERM, so it gets podman's init; the environment is the
//! image's, so sc's is passed by name (never a value on a command line);
//! and podman's default ulimits fail where its caller's hard limits are
//! lower, so podman is told to add none (a containers.conf of sc's own)
//! and the container keeps the limits sc gave it (`--ulimit host`).

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::sandbox::Sandbox;

/// The first argument of the guard's mode (never a user's word).
pub const GUARD: &str = "__sc-podman-guard";

/// Where the relay's binary and the libraries it is linked with are bound
/// inside: an image need not have the host's C library.
const LIBS: &str = "/dev/.sc-net/lib";

/// The podman program: `$SC_PODMAN`, else `podman` on the PATH. Err says
/// how to get it (the worker does not run).
pub fn podman() -> Result<PathBuf, String> {
    use super::program::{Missing, find};
    find("podman", "SC_PODMAN").map_err(|missing| match missing {
        Missing::Named(path) => format!(
            "--sandbox=podman: SC_PODMAN names {}, which is no file: the worker does not run",
            path.display()
        ),
        Missing::NotOnPath => "--sandbox=podman: podman is not installed: install it \
             (apt-get install podman) or name it with SC_PODMAN; the worker does not run"
            .to_owned(),
    })
}

/// An image's name as `--sandbox=podman:IMAGE` gives it: a word podman
/// takes for an image, never for one of its flags.
pub fn check_image(image: &str) -> Result<(), String> {
    if image.is_empty() {
        return Err("--sandbox=podman needs an image: --sandbox=podman:IMAGE \
                    (for example podman:docker.io/library/rust:1)"
            .to_owned());
    }
    if image.starts_with('-') || image.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "--sandbox=podman:{image}: not an image name (no leading `-`, no spaces)"
        ));
    }
    Ok(())
}

/// Variables that describe the host, not the work: the image has its own.
const HOST_ONLY: &[&str] = &[
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "PWD",
    "OLDPWD",
    "TMPDIR",
    "HOSTNAME",
    "MAIL",
    "LD_LIBRARY_PATH",
    "LD_PRELOAD",
    "SSH_AUTH_SOCK",
    "CONTAINERS_CONF",
    "XDG_RUNTIME_DIR",
    "XDG_CONFIG_HOME",
    "XDG_DATA_HOME",
    "XDG_CACHE_HOME",
    "XDG_STATE_HOME",
];

/// How the worker is attached: a terminal (`--pty`; `--pty=stdout` keeps
/// stderr apart), a stdin.
#[derive(Debug, Clone, Copy, Default)]
pub struct Attach {
    pub terminal: bool,
    pub stderr_apart: bool,
    pub stdin: bool,
}

/// The relay's files on the host: this binary, its dynamic loader and
/// the libraries it is linked with (from its own memory map: exactly what
/// it runs with).
#[derive(Debug, Clone)]
pub struct RelayFiles {
    pub exe: PathBuf,
    pub loader: Option<PathBuf>,
    pub libs: Vec<PathBuf>,
}

impl RelayFiles {
    pub fn of_this_process() -> io::Result<RelayFiles> {
        let exe = std::env::current_exe()?;
        let maps = std::fs::read_to_string("/proc/self/maps")?;
        let mut libs: Vec<PathBuf> = Vec::new();
        for path in maps.lines().filter_map(|l| l.split_whitespace().nth(5)) {
            let path = PathBuf::from(path);
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
            if name.is_some_and(|n| n.contains(".so")) && path.is_file() && !libs.contains(&path) {
                libs.push(path);
            }
        }
        let loader = libs
            .iter()
            .find(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("ld-"))
            })
            .cloned();
        Ok(RelayFiles { exe, loader, libs })
    }
}

/// One container's command line.
pub struct Container<'a> {
    pub sandbox: &'a Sandbox,
    pub image: &'a str,
    pub podman: &'a Path,
    /// Its name: what the guard removes.
    pub name: &'a str,
    pub dir: &'a Path,
    pub home: Option<&'a Path>,
    pub attach: Attach,
    /// The worker's memory limit: the container has a cgroup of its own,
    /// out of reach of the one sc would make.
    pub memory_mib: Option<u64>,
    /// The names of the variables passed in (their values podman takes
    /// from its own environment).
    pub vars: Vec<OsString>,
    /// With an allow-list: the proxy's socket and the relay's files.
    pub relay: Option<(&'a Path, &'a RelayFiles)>,
}

impl Container<'_> {
    /// `podman run …` around `command`; Err names a path podman's syntax
    /// cannot carry.
    pub fn argv(&self, command: &[OsString]) -> Result<Vec<OsString>, String> {
        let mut out: Vec<OsString> = vec![self.podman.into()];
        let mut add = |words: &[&OsStr]| out.extend(words.iter().map(|w| w.to_os_string()));
        let net = match self.sandbox.net {
            super::net::Net::Host => "host",
            _ => "none",
        };
        add(&[
            "run".as_ref(),
            "--rm".as_ref(),
            "--init".as_ref(),
            "--name".as_ref(),
            self.name.as_ref(),
            "--ulimit".as_ref(),
            "host".as_ref(),
            "--cap-drop".as_ref(),
            "all".as_ref(),
            "--security-opt".as_ref(),
            "no-new-privileges".as_ref(),
            "--read-only".as_ref(),
            "--read-only-tmpfs=false".as_ref(),
            "--tmpfs".as_ref(),
            "/tmp:rw,notmpcopyup,mode=1777".as_ref(),
            "--network".as_ref(),
            net.as_ref(),
        ]);
        if self.attach.terminal {
            if self.attach.stderr_apart {
                return Err(
                    "--pty=stdout cannot keep stderr apart in a podman container \
                     (its terminal takes both): use --pty, or pipes (no --pty); the worker \
                     does not run"
                        .to_owned(),
                );
            }
            // podman's own terminal inside, passed on (it writes `\r\n`).
            add(&["--tty".as_ref()]);
        }
        if self.attach.stdin {
            add(&["--interactive".as_ref()]);
        }
        if let Some(mib) = self.memory_mib {
            let bytes = format!("{mib}m");
            add(&["--memory".as_ref(), bytes.as_ref()]);
            add(&["--memory-swap".as_ref(), bytes.as_ref()]);
        }
        let mut binds: Vec<(PathBuf, PathBuf, bool)> = Vec::new();
        let writable = self.sandbox.writable(self.dir);
        for path in &writable {
            binds.push((path.clone(), path.clone(), false));
        }
        if self.sandbox.read_only && self.dir.exists() {
            binds.push((self.dir.into(), self.dir.into(), true));
        }
        let git = super::sandbox::git_dir(self.dir);
        for name in ["hooks", "config"] {
            let path = git.join(name);
            if path.exists() {
                binds.push((path.clone(), path, true));
            }
        }
        // Only what is bound in can be seen: a secret under a bound path
        // is covered, the rest of the host is not there at all.
        let seen = |p: &Path| binds.iter().any(|(host, ..)| p.starts_with(host));
        let mut covers = Vec::new();
        for path in self
            .sandbox
            .hidden(self.home)
            .into_iter()
            .filter(|p| seen(p))
        {
            covers.push(path);
        }
        if let Some((socket, files)) = self.relay {
            use super::inside::{RELAY, SOCKET};
            binds.push((socket.into(), SOCKET.into(), false));
            binds.push((files.exe.clone(), RELAY.into(), true));
            for lib in &files.libs {
                let name = lib.file_name().unwrap_or_default();
                binds.push((lib.clone(), Path::new(LIBS).join(name), true));
            }
        }
        for (host, inside, ro) in &binds {
            let spec = mount(host, inside, *ro)?;
            add(&["--mount".as_ref(), spec.as_ref()]);
        }
        for path in &covers {
            let path = text(path)?;
            if Path::new(path).is_dir() {
                add(&[
                    "--tmpfs".as_ref(),
                    format!("{path}:rw,notmpcopyup").as_ref(),
                ]);
            } else {
                let spec = mount(Path::new("/dev/null"), Path::new(path), true)?;
                add(&["--mount".as_ref(), spec.as_ref()]);
            }
        }
        let relayed = self.relay.is_some();
        for var in &self.vars {
            let proxy = super::inside::proxy_vars(0)
                .iter()
                .any(|(name, _)| OsStr::new(name) == var);
            let host_only = HOST_ONLY.iter().any(|name| OsStr::new(name) == var);
            let ours = relayed && proxy;
            if !host_only && !ours {
                add(&["--env".as_ref(), var.as_ref()]);
            }
        }
        let pwd = format!("PWD={}", text(self.dir)?);
        add(&["--env".as_ref(), pwd.as_ref()]);
        if relayed {
            use super::inside::PORT;
            // Not secrets: their values may stand on the command line.
            for (var, value) in super::inside::proxy_vars(PORT) {
                if let Some(value) = value {
                    add(&["--env".as_ref(), format!("{var}={value}").as_ref()]);
                }
            }
        }
        add(&[
            "--workdir".as_ref(),
            self.dir.as_ref(),
            "--".as_ref(),
            self.image.as_ref(),
        ]);
        match self.relay {
            None => out.extend(command.iter().cloned()),
            Some((_, files)) => {
                // The relay runs with the host's loader and libraries, so
                // that any image of this architecture can run it.
                if let Some(loader) = &files.loader {
                    let name = loader.file_name().unwrap_or_default();
                    out.push(Path::new(LIBS).join(name).into());
                    out.extend(["--library-path".into(), LIBS.into()]);
                }
                out.extend(super::inside::argv(command));
            }
        }
        Ok(out)
    }
}

/// A path as text for podman's option syntax, which separates with `,` and
/// `:` and has no escape for them.
fn text(path: &Path) -> Result<&str, String> {
    path.to_str()
        .filter(|p| !p.contains([',', ':', '\n']))
        .ok_or_else(|| {
            format!(
                "--sandbox=podman cannot bind {} (podman's options cannot carry a path with \
                 `,` or `:` or that is not UTF-8): the worker does not run",
                path.display()
            )
        })
}

fn mount(host: &Path, inside: &Path, read_only: bool) -> Result<String, String> {
    let mut spec = format!(
        "type=bind,source={},destination={}",
        text(host)?,
        text(inside)?
    );
    if read_only {
        spec.push_str(",readonly=true");
    }
    Ok(spec)
}

/// A container name of this process's own.
pub fn container_name() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("sc-{}-{n}", std::process::id())
}

/// podman's configuration for sc's containers: no default ulimits, so
/// that the container has the limits sc gave it. A file in sc's private
/// folder (podman hands its path on to the cleanup it runs after the
/// container, so a descriptor would not do: with one, `podman run` hung
/// 20 s at each end, measured). None when the user names one of their own
/// (CONTAINERS_CONF): theirs is used.
pub fn containers_conf() -> io::Result<Option<PathBuf>> {
    if std::env::var_os("CONTAINERS_CONF").is_some() {
        return Ok(None);
    }
    let dir = crate::private::runs_dir()?;
    let path = dir.file_holding("podman.conf", b"[containers]\ndefault_ulimits = []\n")?;
    Ok(Some(path))
}

/// Held while the container may run: when it is dropped (the worker is
/// done) or sc-spawn dies, its guard removes the container (a SIGKILLed
/// `podman run` would leave it running).
#[derive(Debug)]
pub struct Guard {
    hold: OwnedFd,
}

impl Guard {
    /// Tells the guard `podman run`'s pid: should sc-spawn die while it
    /// still makes the container, the guard ends it first (a container
    /// removed before it was made would be made after all).
    pub fn launched(&self, pid: u32) {
        // A few bytes into an empty pipe: never blocks.
        let _ = nix::unistd::write(&self.hold, format!("{pid}\n").as_bytes());
    }
}

/// Starts the guard of container `name`: it waits, outside the worker's
/// group and session, for the end of a pipe whose write end the returned
/// [`Guard`] holds.
pub fn guard(podman: &Path, name: &str) -> io::Result<Guard> {
    let (read, write) = os_pipe::pipe()?;
    let mut child = Command::new(std::env::current_exe()?)
        .arg(GUARD)
        .arg(podman)
        .arg(name)
        .stdin(read)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .map_err(|e| io::Error::new(e.kind(), format!("--sandbox=podman: its guard: {e}")))?;
    // It forks and its first process returns at once: the one that waits
    // is no child of ours, and leaves no zombie behind.
    let status = child.wait()?;
    if !status.success() {
        return Err(io::Error::other(
            "--sandbox=podman: its guard could not start",
        ));
    }
    Ok(Guard {
        hold: OwnedFd::from(write),
    })
}

/// Whether `arg` asks for the guard's mode.
pub fn requested(arg: Option<&OsStr>) -> bool {
    arg == Some(OsStr::new(GUARD))
}

/// The guard's mode (after [`GUARD`]): PODMAN NAME. Returns only when it
/// cannot do its job (the error says what).
pub fn run_guard(args: &[OsString]) -> io::Error {
    let [podman, name] = args else {
        return io::Error::other("usage: PODMAN NAME");
    };
    // SAFETY: this runs first thing in sc-spawn's main, single-threaded.
    match unsafe { nix::unistd::fork() } {
        Err(e) => return io::Error::other(format!("fork: {e}")),
        Ok(nix::unistd::ForkResult::Parent { .. }) => std::process::exit(0),
        Ok(nix::unistd::ForkResult::Child) => {}
    }
    // Its own session: no terminal's hang-up or Ctrl-C reaches it.
    let _ = nix::unistd::setsid();
    let mut said = Vec::new();
    let mut buf = [0u8; 64];
    loop {
        match nix::unistd::read(std::io::stdin(), &mut buf) {
            Ok(0) => break,
            Ok(n) => said.extend_from_slice(&buf[..n]),
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => break,
        }
    }
    // `podman run` may still be making the container: it is ended first
    // (if that pid is still the `podman run` of this container), so that
    // nothing is made after the removal.
    let pid = String::from_utf8_lossy(&said)
        .lines()
        .next()
        .and_then(|l| l.trim().parse::<i32>().ok())
        .filter(|&pid| pid > 1);
    if let Some(pid) = pid.filter(|&pid| runs_container(pid, name)) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
        let until = std::time::Instant::now() + std::time::Duration::from_secs(5);
        super::gone::wait_gone(&[pid], until);
    }
    Command::new(podman)
        .args(["rm", "--force", "--time", "0", "--ignore"])
        .arg(name)
        .stdin(Stdio::null())
        .exec()
}

/// Whether process `pid` is the `podman run` of container `name` (its
/// command line names it).
fn runs_container(pid: i32, name: &OsStr) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let mut words = cmdline.split(|b| *b == 0);
    words.any(|w| w == b"--name") && words.next() == Some(name.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(sandbox: &Sandbox, relay: Option<(&Path, &RelayFiles)>) -> String {
        let container = Container {
            sandbox,
            image: "localhost/img",
            podman: Path::new("/usr/bin/podman"),
            name: "sc-1-1",
            dir: Path::new("/tmp"),
            home: None,
            attach: Attach::default(),
            memory_mib: Some(64),
            vars: vec!["PATH".into(), "API_KEY".into(), "HTTP_PROXY".into()],
            relay,
        };
        let argv = container.argv(&["make".into()]).unwrap();
        argv.iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn the_line_drops_capabilities_binds_the_directory_and_passes_names_only() {
        let line = line(&Sandbox::default(), None);
        assert!(
            line.starts_with("/usr/bin/podman run --rm --init --name sc-1-1"),
            "{line}"
        );
        assert!(line.contains("--cap-drop all"), "{line}");
        assert!(line.contains("--security-opt no-new-privileges"), "{line}");
        assert!(line.contains("--read-only "), "{line}");
        assert!(line.contains("--network none"), "{line}");
        assert!(line.contains("--memory 64m --memory-swap 64m"), "{line}");
        assert!(
            line.contains("--mount type=bind,source=/tmp,destination=/tmp "),
            "{line}"
        );
        assert!(line.contains("--env API_KEY "), "{line}");
        assert!(!line.contains("--env PATH"), "the image's PATH: {line}");
        assert!(line.contains("--env HTTP_PROXY "), "{line}");
        assert!(
            line.ends_with("--workdir /tmp -- localhost/img make"),
            "{line}"
        );
    }

    #[test]
    fn an_allow_list_runs_the_relay_with_the_hosts_loader() {
        let files = RelayFiles {
            exe: "/bin/sc-spawn".into(),
            loader: Some("/lib64/ld-linux-x86-64.so.2".into()),
            libs: vec![
                "/lib64/ld-linux-x86-64.so.2".into(),
                "/lib/libc.so.6".into(),
            ],
        };
        let line = line(
            &Sandbox::default(),
            Some((Path::new("/run/p.sock"), &files)),
        );
        assert!(
            !line.contains("--env HTTP_PROXY "),
            "sc's own value: {line}"
        );
        assert!(
            line.contains("--env HTTP_PROXY=http://127.0.0.1:3128"),
            "{line}"
        );
        assert!(
            line.contains(
                "source=/lib/libc.so.6,destination=/dev/.sc-net/lib/libc.so.6,readonly=true"
            ),
            "{line}"
        );
        assert!(
            line.ends_with(
                "localhost/img /dev/.sc-net/lib/ld-linux-x86-64.so.2 --library-path \
                 /dev/.sc-net/lib /dev/.sc-net/sc-spawn __sc-sandbox-relay \
                 /dev/.sc-net/proxy.sock 3128 -- make"
            ),
            "{line}"
        );
    }

    #[test]
    fn paths_podman_cannot_carry_and_bad_images_are_refused() {
        assert!(text(Path::new("/a,b")).is_err());
        assert!(text(Path::new("/a:b")).is_err());
        assert!(check_image("").is_err());
        assert!(check_image("--privileged").is_err());
        assert!(check_image("a b").is_err());
        assert!(check_image("docker.io/library/rust:1").is_ok());
    }

    #[test]
    fn the_relay_files_are_this_process_libraries() {
        let files = RelayFiles::of_this_process().unwrap();
        assert!(files.exe.is_file());
        assert!(
            files
                .libs
                .iter()
                .any(|l| l.to_string_lossy().contains("libc.so"))
        );
        assert!(files.loader.is_some());
    }
}
