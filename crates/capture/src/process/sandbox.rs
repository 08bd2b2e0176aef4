//! `--sandbox`: a worker confined by bubblewrap, wrapped where it is
//! launched. The user's root is read-only, the worker's directory and a
//! private /tmp writable, secrets hidden, no network, its own PID, IPC,
//! UTS and user namespaces, no new privileges and — what makes it hold as
//! root — every capability dropped (with capabilities, root inside could
//! unmount the cover over `~/.ssh` or remount `/` writable: measured).
//!
//! Signals: bubblewrap kills its child outright on SIGTERM, so a polite
//! end goes to the sandbox's own session instead, whose leader's pid
//! bubblewrap writes on its status descriptor (`--json-status-fd`); the
//! hard stop is still SIGKILL to bubblewrap's group, which takes the whole
//! PID namespace with it.

use std::ffi::OsString;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

/// How a worker is confined.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Kind {
    /// bubblewrap: namespaces of its own (the default).
    #[default]
    Bwrap,
    /// The kernel's Landlock, where user namespaces are off.
    Landlock,
    /// A podman container of this image.
    Podman(String),
}

impl Kind {
    /// Its name in `--sandbox=KIND`, a task's `sandbox.kind` and `start`
    /// (`podman:IMAGE`).
    pub fn name(&self) -> String {
        match self {
            Kind::Bwrap => "bwrap".to_owned(),
            Kind::Landlock => "landlock".to_owned(),
            Kind::Podman(image) => format!("podman:{image}"),
        }
    }

    /// What this kind cannot hold, said in the stream when a worker
    /// starts in it (None: it holds the whole line).
    pub fn limits(&self) -> Option<&'static str> {
        match self {
            Kind::Bwrap | Kind::Podman(_) => None,
            Kind::Landlock => Some(super::landlock::LIMITS),
        }
    }

    /// A kind by its name (`bubblewrap` too; `podman:IMAGE`).
    pub fn parse(name: &str) -> Result<Kind, String> {
        match name {
            "bwrap" | "bubblewrap" => Ok(Kind::Bwrap),
            "landlock" => Ok(Kind::Landlock),
            other => {
                // `podman` alone lacks its image: checked as an empty one.
                let image = other
                    .strip_prefix("podman:")
                    .or((other == "podman").then_some(""));
                match image {
                    Some(image) => {
                        super::podman::check_image(image)?;
                        Ok(Kind::Podman(image.to_owned()))
                    }
                    None => Err(format!(
                        "unknown sandbox kind `{other}`: bwrap (bubblewrap), landlock or \
                         podman:IMAGE"
                    )),
                }
            }
        }
    }
}

/// What a sandbox lets a worker do beyond its directory and /tmp.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sandbox {
    /// How it is confined.
    pub kind: Kind,
    /// More paths it may write (`--sandbox-write`).
    pub write: Vec<PathBuf>,
    /// More paths hidden from it (`--sandbox-hide`).
    pub hide: Vec<PathBuf>,
    /// What network it may reach (`--sandbox-net`): none by default.
    pub net: super::net::Net,
    /// Its directory stays read-only (an agent whose grant reads only).
    pub read_only: bool,
    /// An agent's state folders: made (0700) if missing, then writable.
    pub state: Vec<PathBuf>,
}

/// Secrets under $HOME that no sandboxed worker sees.
pub const SECRETS: &[&str] = &[
    ".ssh",
    ".aws",
    ".gnupg",
    ".config/gh",
    ".config/gcloud",
    ".azure",
    ".kube",
    ".docker",
    ".netrc",
    ".git-credentials",
    ".npmrc",
    ".pypirc",
];

/// The bubblewrap program: `$SC_BWRAP`, else `bwrap` on the PATH. Err says
/// how to get it: a sandbox that cannot be set up runs nothing.
pub fn bwrap() -> Result<PathBuf, String> {
    use super::program::{Missing, find};
    find("bwrap", "SC_BWRAP").map_err(|missing| match missing {
        Missing::Named(path) => format!(
            "--sandbox: SC_BWRAP names {}, which is no file: the worker does not run",
            path.display()
        ),
        Missing::NotOnPath => "--sandbox: bubblewrap (bwrap) is not installed: install it \
             (apt-get install bubblewrap) or name it with SC_BWRAP; the worker does not run"
            .to_owned(),
    })
}

impl Sandbox {
    /// What an agent needs inside, granted: its state writable, its API
    /// reached (unless the whole network is open already).
    pub fn grant(&mut self, needs: crate::agent::SandboxNeeds) {
        for path in needs.write {
            if !self.write.contains(&path) {
                self.write.push(path);
            }
        }
        for path in needs.state {
            if !self.state.contains(&path) {
                self.state.push(path);
            }
        }
        for host in &needs.net {
            // The agents' own names are well formed; one that is not is
            // left out rather than widened.
            let _ = self.net.add(host);
        }
        self.read_only |= needs.read_only;
    }

    /// What it may write, run in `dir`: its directory (unless read-only),
    /// `--sandbox-write`, the agent's state, a worktree's repository. Only
    /// what exists.
    pub fn writable(&self, dir: &Path) -> Vec<PathBuf> {
        let own = Some(dir).filter(|_| !self.read_only);
        own.into_iter()
            .chain(self.write.iter().map(PathBuf::as_path))
            .chain(self.state.iter().map(PathBuf::as_path))
            .map(Path::to_path_buf)
            .chain(common_dir(dir))
            .filter(|p| p.exists())
            .collect()
    }

    /// What it may not see: the secrets under `home` and `--sandbox-hide`.
    /// Only what exists.
    pub fn hidden(&self, home: Option<&Path>) -> Vec<PathBuf> {
        home.into_iter()
            .flat_map(|home| SECRETS.iter().map(move |s| home.join(s)))
            .chain(self.hide.iter().cloned())
            .filter(|p| p.exists())
            .collect()
    }

    /// bubblewrap's command line around `command`, run in `dir` (made
    /// writable), with `home` for the secrets to hide, its status written
    /// on descriptor `status_fd`; with an allow-list, `proxy` is the
    /// proxy's socket on the host.
    pub fn argv(
        &self,
        bwrap: &Path,
        dir: &Path,
        home: Option<&Path>,
        status_fd: i32,
        proxy: Option<&Path>,
        command: &[OsString],
    ) -> Vec<OsString> {
        let mut out: Vec<OsString> = vec![bwrap.into()];
        let mut add = |words: &[&std::ffi::OsStr]| out.extend(words.iter().map(|w| w.into()));
        add(&[
            "--die-with-parent".as_ref(),
            "--new-session".as_ref(),
            "--unshare-all".as_ref(),
            "--unshare-user".as_ref(),
            "--disable-userns".as_ref(),
            "--cap-drop".as_ref(),
            "ALL".as_ref(),
            "--ro-bind".as_ref(),
            "/".as_ref(),
            "/".as_ref(),
            "--dev".as_ref(),
            "/dev".as_ref(),
            "--proc".as_ref(),
            "/proc".as_ref(),
            "--tmpfs".as_ref(),
            "/tmp".as_ref(),
        ]);
        // A worktree's repository (its git common dir, elsewhere) is
        // writable too, so that it can commit.
        for path in self.writable(dir) {
            add(&["--bind".as_ref(), path.as_os_str(), path.as_os_str()]);
        }
        if self.read_only {
            // Still there (under /tmp it would be hidden), read-only.
            add(&["--ro-bind".as_ref(), dir.as_os_str(), dir.as_os_str()]);
        }
        // In any checkout the hooks and config stay read-only: a hook
        // written here would run outside, in the user's next commit.
        let git = git_dir(dir);
        for name in ["hooks", "config"] {
            let path = git.join(name);
            if path.exists() {
                add(&["--ro-bind".as_ref(), path.as_os_str(), path.as_os_str()]);
            }
        }
        // Only what exists can be covered under a read-only root.
        for path in self.hidden(home) {
            if path.is_dir() {
                add(&["--tmpfs".as_ref(), path.as_os_str()]);
            } else {
                add(&["--ro-bind".as_ref(), "/dev/null".as_ref(), path.as_os_str()]);
            }
        }
        if self.net == super::net::Net::Host {
            add(&["--share-net".as_ref()]);
        }
        // An allow-list: the proxy's socket and this binary (the relay)
        // bound into the sandbox's own /tmp, and the proxy variables
        // pointing at the relay (both cases: curl reads only lower case
        // `http_proxy`); nothing bypasses it.
        let relayed = proxy.zip(std::env::current_exe().ok());
        if let Some((socket, exe)) = &relayed {
            use super::inside::{PORT, RELAY, SOCKET};
            add(&["--bind".as_ref(), socket.as_os_str(), SOCKET.as_ref()]);
            add(&["--ro-bind".as_ref(), exe.as_os_str(), RELAY.as_ref()]);
            for (var, value) in super::inside::proxy_vars(PORT) {
                match &value {
                    Some(value) => add(&["--setenv".as_ref(), var.as_ref(), value.as_ref()]),
                    None => add(&["--unsetenv".as_ref(), var.as_ref()]),
                }
            }
        }
        let fd = status_fd.to_string();
        add(&[
            "--chdir".as_ref(),
            dir.as_os_str(),
            "--json-status-fd".as_ref(),
            fd.as_ref(),
            "--".as_ref(),
        ]);
        match relayed {
            Some(_) => out.extend(super::inside::argv(command)),
            None => out.extend(command.iter().cloned()),
        }
        out
    }
}

impl Sandbox {
    /// Make the agent's state folders that are missing (as it would on its
    /// first run; under a read-only home it cannot). Only folders, never
    /// through a link's target of someone else's: `create_dir_all` makes
    /// what is missing and leaves what is there.
    pub fn make_state(&self) -> std::io::Result<()> {
        use std::os::unix::fs::DirBuilderExt;
        for dir in &self.state {
            if !dir.exists() {
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(dir)
                    .map_err(|e| {
                        std::io::Error::new(
                            e.kind(),
                            format!("--sandbox: making the agent's {}: {e}", dir.display()),
                        )
                    })?;
            }
        }
        Ok(())
    }
}

/// The git dir whose hooks and config stay read-only in any checkout: a
/// worktree's repository's, else the directory's own `.git`.
pub fn git_dir(dir: &Path) -> PathBuf {
    common_dir(dir).unwrap_or_else(|| dir.join(".git"))
}

/// A worktree's git common dir (its `.git` is a file naming its own git
/// dir, whose `commondir` names the repository's), read from those files
/// (no git run at launch). None for a plain checkout or no checkout.
fn common_dir(dir: &Path) -> Option<PathBuf> {
    let pointer = std::fs::read_to_string(dir.join(".git")).ok()?;
    let gitdir = dir.join(pointer.strip_prefix("gitdir:")?.trim());
    let common = match std::fs::read_to_string(gitdir.join("commondir")) {
        Ok(common) => gitdir.join(common.trim()),
        Err(_) => gitdir,
    };
    common.canonicalize().ok()
}

/// A sandboxed worker's status descriptor: where its session's leader is
/// learnt, for signals that are to reach it politely.
#[derive(Debug)]
pub struct Status {
    fd: OwnedFd,
    read: Vec<u8>,
    child: Option<i32>,
}

impl Status {
    pub fn new(fd: OwnedFd) -> Status {
        Status {
            fd,
            read: Vec::new(),
            child: None,
        }
    }

    /// The sandbox's session leader, once bubblewrap has said it (read
    /// without blocking: it says so as the sandbox starts).
    pub fn child(&mut self) -> Option<i32> {
        if self.child.is_none() {
            let mut buf = [0u8; 512];
            while let Ok(n) = nix::unistd::read(&self.fd, &mut buf) {
                if n == 0 {
                    break;
                }
                self.read.extend_from_slice(&buf[..n]);
            }
            let line = self.read.split(|b| *b == b'\n').next().unwrap_or_default();
            self.child = serde_json::from_slice::<serde_json::Value>(line)
                .ok()
                .and_then(|v| v.get("child-pid")?.as_i64())
                .and_then(|p| i32::try_from(p).ok())
                .filter(|&p| p > 1);
        }
        self.child
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_drops_capabilities_hides_secrets_and_binds_the_directory() {
        let home = std::env::temp_dir().join(format!("sc-sandbox-home-{}", std::process::id()));
        std::fs::create_dir_all(home.join(".ssh")).unwrap();
        std::fs::write(home.join(".netrc"), "machine x").unwrap();
        let sandbox = Sandbox::default();
        let argv: Vec<String> = sandbox
            .argv(
                Path::new("/usr/bin/bwrap"),
                Path::new("/tmp"),
                Some(&home),
                5,
                None,
                &["make".into()],
            )
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let line = argv.join(" ");
        assert!(line.contains("--cap-drop ALL"), "{line}");
        assert!(line.contains("--unshare-all"), "{line}");
        assert!(line.contains("--ro-bind / /"), "{line}");
        assert!(line.contains("--bind /tmp /tmp"), "{line}");
        assert!(
            line.contains(&format!("--tmpfs {}/.ssh", home.display())),
            "{line}"
        );
        assert!(
            line.contains(&format!("--ro-bind /dev/null {}/.netrc", home.display())),
            "{line}"
        );
        assert!(!line.contains(".aws"), "only what exists: {line}");
        assert!(line.ends_with("--json-status-fd 5 -- make"), "{line}");
        let _ = std::fs::remove_dir_all(home);
    }
}
