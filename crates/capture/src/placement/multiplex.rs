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

/// This run's masters and their folder. Hosts are named as the run was
/// given them (`user@host:port`, an alias).
#[derive(Debug)]
pub struct Multiplex {
    /// This user's runs folder, and this run's folder in it.
    runs: PathBuf,
    dir: PathBuf,
    /// The folder was made (true), or could not be (false, said once):
    /// only when a task first goes to a host, so that a run that uses no
    /// ssh makes no ssh state at all.
    made: OnceLock<bool>,
    /// The ssh program that tells masters to exit.
    program: OsString,
    masters: Mutex<Masters>,
}

/// Each connection's master, opened once: by the masters opened up front,
/// or by the first task on a host (the others on it wait for that). Keyed
/// by what ssh's `%C` socket name stands for (host name, port, user, jump
/// host): two names of one host share one socket, so they share one
/// master — a second master would find the socket taken and stay on as a
/// plain connection nobody closes.
#[derive(Debug, Default)]
struct Masters {
    /// Each host name's connection key, from `ssh -G`.
    keys: HashMap<String, String>,
    /// The hosts whose own ssh configuration sets up multiplexing: left to
    /// it. Learnt with their keys, up front or when a plan line first
    /// names the host.
    users_own: HashSet<String>,
    opened: HashMap<String, Arc<OnceLock<()>>>,
}

impl Multiplex {
    /// This run's folder in `runs` (made 0700 when a task first needs it,
    /// cleaning up first what runs that were killed left there); an error
    /// when the path would be too long for a socket (said why).
    pub fn new(runs: &Path, program: &OsString) -> Result<Multiplex, String> {
        let dir = runs.join(format!("ssh-{}", std::process::id()));
        if dir.as_os_str().len() + SOCKET_NAME >= SUN_PATH {
            return Err(format!(
                "one connection per host is off: {} is too long a path for ssh's sockets (unix \
                 sockets have {SUN_PATH} bytes); set XDG_RUNTIME_DIR or TMPDIR to a shorter one",
                dir.display()
            ));
        }
        Ok(Multiplex {
            runs: runs.to_owned(),
            dir,
            made: OnceLock::new(),
            program: program.clone(),
            masters: Mutex::default(),
        })
    }

    /// The hosts whose own ssh configuration (`ssh -G`, with the `ssh`
    /// command line given) multiplexes: left to it. Asked once per host,
    /// before the run, all side by side (`ssh -G` reads configuration, it
    /// connects nowhere, yet takes tens of milliseconds each).
    pub fn respect_config(&mut self, ssh: &[OsString], hosts: &[String]) {
        let configs: Vec<Option<String>> = std::thread::scope(|scope| {
            let asking: Vec<_> = hosts
                .iter()
                .map(|host| scope.spawn(|| ssh_config(ssh, host)))
                .collect();
            asking
                .into_iter()
                .map(|a| a.join().ok().flatten())
                .collect()
        });
        let masters = self.masters.get_mut().unwrap_or_else(|e| e.into_inner());
        for (host, config) in hosts.iter().zip(configs) {
            if let Some(config) = config {
                masters.learn(host, &config);
            }
        }
    }

    /// `host`'s sessions can go on: its connection's master was opened (or
    /// tried), or the user's own configuration multiplexes. Cheap: asked on
    /// the poller's thread for each task placed there.
    pub fn ready(&self, host: &str) -> bool {
        let masters = lock(&self.masters);
        masters.users_own.contains(host)
            || masters
                .keys
                .get(host)
                .and_then(|key| masters.opened.get(key))
                .is_some_and(|once| once.get().is_some())
    }

    /// Open `host`'s master with `open`, given the options that make it
    /// one, unless its connection's master was already (under this name or
    /// another) or the user's own configuration multiplexes: the first
    /// caller runs it, callers meanwhile wait for it, later ones return at
    /// once. Blocking (`ssh -G` for a host not named up front, then
    /// `open`): never on the poller's thread.
    pub fn open_once(&self, ssh: &[OsString], host: &str, open: impl FnOnce(Vec<OsString>)) {
        let known = lock(&self.masters).keys.get(host).cloned();
        let key = known.unwrap_or_else(|| {
            let config = ssh_config(ssh, host).unwrap_or_default();
            let mut masters = lock(&self.masters);
            masters.learn(host, &config);
            masters.keys[host].clone()
        });
        if lock(&self.masters).users_own.contains(host) {
            return;
        }
        let once = Arc::clone(lock(&self.masters).opened.entry(key).or_default());
        once.get_or_init(|| open(self.control(host, "ControlMaster=yes")));
    }

    /// The ssh options that put `host`'s sessions on its master; none
    /// where the user's configuration does that itself.
    pub fn options(&self, host: &str) -> Vec<OsString> {
        self.control(host, "ControlMaster=auto")
    }

    fn control(&self, host: &str, master: &str) -> Vec<OsString> {
        if lock(&self.masters).users_own.contains(host) || !self.folder() {
            return Vec::new();
        }
        let path = format!("ControlPath={}/%C", self.dir.display());
        ["-o", master, "-o", &path, "-o", PERSIST]
            .iter()
            .map(OsString::from)
            .collect()
    }

    /// The run's folder, made (and what killed runs left swept) the first
    /// time a host needs it; false when it cannot be (said once: each ssh
    /// then makes a connection of its own).
    fn folder(&self) -> bool {
        *self.made.get_or_init(|| {
            let made = crate::private::make_dir(&self.runs).and_then(|_| {
                sweep(&self.runs);
                crate::private::make_dir(&self.dir)
            });
            if let Err(e) = &made {
                eprintln!("sc-spawn: one connection per host is off: {e}");
            }
            made.is_ok()
        })
    }

    /// The end of the run: every master told to exit, the folder gone.
    pub fn close(&self) {
        if self.made.get() == Some(&true) {
            close_dir(&self.dir, &self.program);
        }
    }
}

impl Drop for Multiplex {
    fn drop(&mut self) {
        self.close();
    }
}

impl Masters {
    /// What `ssh -G`'s answer for `host` says: its connection's key (the
    /// host's name itself when there is no answer), and whether the user's
    /// configuration multiplexes it.
    fn learn(&mut self, host: &str, config: &str) {
        if multiplexes(config) {
            self.users_own.insert(host.to_owned());
        }
        let key = connection_key(config).unwrap_or_else(|| host.to_owned());
        self.keys.insert(host.to_owned(), key);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// `ssh -G host` with the run's ssh command line (a `host:port` asked
/// with `-p`, as tasks connect): the configuration ssh would use (it
/// connects nowhere).
fn ssh_config(ssh: &[OsString], host: &str) -> Option<String> {
    let (program, args) = ssh.split_first()?;
    let (name, port) = super::host::host_and_port(host);
    let out = Command::new(program)
        .args(args)
        .args(port.map(|p| ["-p", p]).into_iter().flatten())
        .arg("-G")
        .arg("--")
        .arg(name)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// What ssh's `%C` socket name is a hash of, from `ssh -G`'s answer: the
/// host name, port, user and jump host (the local host is the same for
/// every one).
fn connection_key(config: &str) -> Option<String> {
    let value = |key| setting(config, key);
    Some(format!(
        "{}@{}:{} via {}",
        value("user")?,
        value("hostname")?,
        value("port")?,
        value("proxyjump").unwrap_or_default()
    ))
}

/// `ssh -G`'s answer sets up multiplexing of its own.
fn multiplexes(config: &str) -> bool {
    setting(config, "controlmaster").is_some_and(|v| v != "false" && v != "no")
        || setting(config, "controlpath").is_some_and(|v| v != "none")
}

/// One setting of `ssh -G`'s answer (a `key value` line each).
fn setting<'a>(config: &'a str, key: &str) -> Option<&'a str> {
    config
        .lines()
        .filter_map(|l| l.split_once(' '))
        .find_map(|(k, v)| (k == key).then_some(v))
}

/// Every master whose socket is in `dir` told to exit (`ssh -O exit`; the
/// socket's path is all it needs), then `dir` removed. Only a folder of
/// this user's, never through a link, and in it only sockets of this
/// user's: what sc made.
fn close_dir(dir: &Path, program: &OsString) {
    use nix::sys::stat::SFlag;
    if !crate::private::is_own(dir, SFlag::S_IFDIR) {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if !crate::private::is_own(&entry.path(), SFlag::S_IFSOCK) {
            continue;
        }
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

/// The folders of runs that are gone (killed before their end) closed;
/// `runs` was checked private.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_names_of_one_host_are_one_connection() {
        let lab = "host lab\nuser root\nhostname 127.0.0.1\nport 2299\ncontrolmaster false\n";
        let lab2 = "host lab2\nuser root\nhostname 127.0.0.1\nport 2299\n";
        let other = "host lab\nuser me\nhostname 127.0.0.1\nport 2299\n";
        assert_eq!(connection_key(lab), connection_key(lab2));
        assert_ne!(connection_key(lab), connection_key(other));
        assert_eq!(connection_key("host x\n"), None, "not ssh -G's answer");
    }

    #[test]
    fn a_host_learnt_to_multiplex_itself_gets_none_of_the_runs_options() {
        // A host first named by a plan line is learnt before its task's
        // command line is made (the host's preparation): from then on.
        let runs = std::env::temp_dir().join(format!("sc-mux-learn-{}", std::process::id()));
        let mux = Multiplex::new(&runs, &OsString::from("ssh")).unwrap();
        lock(&mux.masters).learn("own", "user u\nhostname h\nport 22\ncontrolmaster auto\n");
        lock(&mux.masters).learn("ours", "user u\nhostname g\nport 22\ncontrolmaster false\n");
        assert!(mux.options("own").is_empty());
        assert!(mux.ready("own"), "nothing of the run's to wait for");
        assert!(
            mux.options("ours")
                .contains(&OsString::from("ControlMaster=auto"))
        );
        drop(mux);
        let _ = std::fs::remove_dir_all(&runs);
    }

    #[test]
    fn sockets_go_in_a_private_folder_of_the_runs_own_and_a_long_path_is_refused() {
        let runs = std::env::temp_dir().join(format!("sc-mux-test-{}", std::process::id()));
        let ssh = OsString::from("ssh");
        let mux = Multiplex::new(&runs, &ssh).unwrap();
        assert!(!runs.exists(), "nothing made before a host needs it");
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
        again.options("lab");
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
