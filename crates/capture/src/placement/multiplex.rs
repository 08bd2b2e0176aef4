//! One ssh connection per host for a run: OpenSSH's own multiplexing
//! (ControlMaster), so that a task on a host costs a session on the
//! connection already there rather than a connection with its key
//! exchange. The first ssh to a host becomes its master (it stays in the
//! background, `ControlPersist`); every later one — tasks, spool followers,
//! reconnects — rides on it. A dead master is replaced by the next ssh
//! (its stale socket is taken over).
//!
//! The sockets live in a folder of this run's own, in this user's private
//! folder (0700), with a short name: a unix socket's path has room for 104
//! bytes. At the end of the run (Ctrl-C included) every master is told to
//! exit and the folder goes; a run that was killed before it could is
//! cleaned up by the next one (its folder names its pid), and an idle
//! master exits by itself after `PERSIST` anyway.

use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};

/// How long a master outlives its last session.
const PERSIST: &str = "ControlPersist=60";

/// The room a socket name takes after the folder: `/` and ssh's `%C`, a
/// 40-character hash.
const SOCKET_NAME: usize = 41;

/// The longest path a unix socket can have (sun_path, with its NUL).
const SUN_PATH: usize = 104;

/// This run's masters: their folder, and the hosts whose own ssh
/// configuration sets up multiplexing (left to it).
#[derive(Debug)]
pub struct Multiplex {
    dir: PathBuf,
    users_own: HashSet<String>,
    /// The ssh program that tells masters to exit.
    program: OsString,
    /// Each host's master, opened once: by the masters opened up front, or
    /// by the first task on a host (the others on it wait for that).
    opened: Mutex<HashMap<String, Arc<OnceLock<()>>>>,
}

impl Multiplex {
    /// This run's folder in `runs` (made 0700), cleaning up first what runs
    /// that were killed left there; None when the path would be too long
    /// for a socket (said why).
    pub fn new(runs: &Path, program: &OsString) -> Result<Multiplex, String> {
        sweep(runs);
        let dir = runs.join(format!("ssh-{}", std::process::id()));
        if dir.as_os_str().len() + SOCKET_NAME >= SUN_PATH {
            return Err(format!(
                "one connection per host is off: {} is too long a path for ssh's sockets (unix \
                 sockets have {SUN_PATH} bytes); set XDG_RUNTIME_DIR or TMPDIR to a shorter one",
                dir.display()
            ));
        }
        private_dir(&dir).map_err(|e| {
            format!(
                "one connection per host is off: cannot make {}: {e}",
                dir.display()
            )
        })?;
        Ok(Multiplex {
            dir,
            users_own: HashSet::new(),
            program: program.clone(),
            opened: Mutex::new(HashMap::new()),
        })
    }

    /// The hosts whose own ssh configuration (`ssh -G`, with the `ssh`
    /// command line given) multiplexes: left to it. Asked once per host,
    /// before the run, all side by side (`ssh -G` reads configuration, it
    /// connects nowhere, yet takes tens of milliseconds each).
    pub fn respect_config(&mut self, ssh: &[OsString], hosts: &[String]) {
        let Some((program, args)) = ssh.split_first() else {
            return;
        };
        let asked: Vec<_> = hosts
            .iter()
            .filter_map(|host| {
                Command::new(program)
                    .args(args)
                    .arg("-G")
                    .arg("--")
                    .arg(host)
                    .stdin(Stdio::null())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::null())
                    .spawn()
                    .ok()
                    .map(|child| (host, child))
            })
            .collect();
        for (host, child) in asked {
            let Ok(out) = child.wait_with_output() else {
                continue;
            };
            if multiplexes(&String::from_utf8_lossy(&out.stdout)) {
                self.users_own.insert(host.to_owned());
            }
        }
    }

    /// `host`'s sessions can go on: its master was opened (or tried), or
    /// the user's own configuration multiplexes. Cheap: asked on the
    /// poller's thread for each task placed there.
    pub fn ready(&self, host: &str) -> bool {
        self.users_own.contains(host)
            || self
                .opened
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(host)
                .is_some_and(|once| once.get().is_some())
    }

    /// Open `host`'s master with `open` unless it was already: the first
    /// caller for a host runs it, callers meanwhile wait for it, later ones
    /// return at once. Blocking: never on the poller's thread.
    pub fn open_once(&self, host: &str, open: impl FnOnce()) {
        let once = Arc::clone(
            self.opened
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .entry(host.to_owned())
                .or_default(),
        );
        once.get_or_init(open);
    }

    /// The ssh options that put `host`'s sessions on its master; none
    /// where the user's configuration does that itself.
    pub fn options(&self, host: &str) -> Vec<OsString> {
        self.control(host, "ControlMaster=auto")
    }

    /// The options that open `host`'s master itself (`ControlMaster=yes`);
    /// none where the user's configuration multiplexes.
    pub fn master_options(&self, host: &str) -> Vec<OsString> {
        self.control(host, "ControlMaster=yes")
    }

    fn control(&self, host: &str, master: &str) -> Vec<OsString> {
        if self.users_own.contains(host) {
            return Vec::new();
        }
        let path = format!("ControlPath={}/%C", self.dir.display());
        ["-o", master, "-o", &path, "-o", PERSIST]
            .iter()
            .map(OsString::from)
            .collect()
    }

    /// The end of the run: every master told to exit, the folder gone.
    pub fn close(&self) {
        close_dir(&self.dir, &self.program);
    }
}

impl Drop for Multiplex {
    fn drop(&mut self) {
        self.close();
    }
}

/// Every master whose socket is in `dir` told to exit (`ssh -O exit`; the
/// socket's path is all it needs), then `dir` removed.
/// `ssh -G`'s answer sets up multiplexing of its own.
fn multiplexes(config: &str) -> bool {
    let set = |key: &str, off: &[&str]| {
        config
            .lines()
            .filter_map(|l| l.split_once(' '))
            .any(|(k, v)| k == key && !off.contains(&v))
    };
    set("controlmaster", &["false", "no"]) || set("controlpath", &["none"])
}

fn close_dir(dir: &Path, program: &OsString) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let _ = Command::new(program)
            .arg("-o")
            .arg(format!("ControlPath={}", entry.path().display()))
            .args(["-O", "exit", "sc-master"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_file(entry.path());
    }
    let _ = std::fs::remove_dir(dir);
}

/// The folders of runs that are gone (killed before their end) closed.
fn sweep(runs: &Path) {
    let Ok(entries) = std::fs::read_dir(runs) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("ssh-"))
            .and_then(|p| p.parse::<i32>().ok())
        else {
            continue;
        };
        let alive = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok();
        if !alive {
            close_dir(&entry.path(), &OsString::from("ssh"));
        }
    }
}

fn private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    // The folders above too: this user's alone.
    if let Some(parent) = dir.parent() {
        std::fs::set_permissions(parent, std::fs::Permissions::from_mode(0o700))?;
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sockets_go_in_a_private_folder_of_the_runs_own_and_a_long_path_is_refused() {
        let runs = std::env::temp_dir().join(format!("sc-mux-test-{}", std::process::id()));
        let ssh = OsString::from("ssh");
        let mux = Multiplex::new(&runs, &ssh).unwrap();
        let options = mux.options("lab");
        assert!(options.contains(&OsString::from("ControlMaster=auto")));
        let path = options[3].to_string_lossy().into_owned();
        assert!(path.starts_with(&format!("ControlPath={}/ssh-", runs.display())));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&mux.dir).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        // A dead run's folder is swept by the next.
        let dead = runs.join("ssh-999999999");
        std::fs::create_dir_all(&dead).unwrap();
        drop(mux);
        let again = Multiplex::new(&runs, &ssh).unwrap();
        assert!(!dead.exists(), "a killed run's folder is cleaned up");
        drop(again);
        let long = runs.join("x".repeat(100));
        assert!(
            Multiplex::new(&long, &ssh)
                .unwrap_err()
                .contains("too long")
        );
        let _ = std::fs::remove_dir_all(&runs);
    }
}
