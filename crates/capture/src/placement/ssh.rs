//! Placed on another host over ssh: the command line that runs a remote
//! sc-spawn with the worker's task, quoted so that it arrives exactly
//! whatever its arguments hold, detached into a spool there when it is to
//! outlive a lost connection, and followed again after one.
//!
//! ssh joins its arguments with spaces and the remote shell parses the
//! result again: each argument is therefore put in single quotes (a quote
//! inside becomes `'\''`), which the shell takes byte for byte — spaces,
//! `$(…)`, newlines and bytes that are not UTF-8 included.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use super::host::{check_host, host_and_port};
use super::run::{RemoteRun, joined, quote, spool_dir};

/// How to reach a host.
#[derive(Debug, Clone)]
pub struct Remote {
    /// `[user@]host[:port]` or an ssh config alias.
    pub host: String,
    /// The ssh command (`ssh`, or `SC_SSH` / `--ssh`, e.g. `ssh -F config`).
    pub ssh: Vec<OsString>,
    /// The sc-spawn to run there (`sc-spawn` on its PATH, or `--remote-sc`).
    pub sc_spawn: OsString,
    /// `--reconnect N`: a lost connection is made again up to N times, the
    /// worker running on there meanwhile (0: a lost connection ends it).
    pub reconnect: u32,
    /// `--reconnect-lease`: how long a worker there runs on with nobody
    /// following it, in seconds.
    pub lease_s: u64,
    /// `--transfer`: this sc-spawn is copied there first (and `sc_spawn`
    /// is its path in the cache there).
    pub transfer: Option<crate::placement::transfer::Transfer>,
    /// The run's one connection per host (None: `--no-multiplex`, or the
    /// user's `--ssh` sets it up itself).
    pub multiplex: Option<std::sync::Arc<crate::placement::multiplex::Multiplex>>,
}

impl Remote {
    /// The spool for a worker with this id, when it is to survive a lost
    /// connection.
    pub fn spool_for(&self, id: &str) -> Option<String> {
        (self.reconnect > 0).then(|| spool_dir(id))
    }
}

/// The ssh engine: a task with a host (its own, or one `--hosts` gave it)
/// runs there, over the run's one connection per host.
#[derive(Debug)]
struct SshEngine {
    /// How every host is reached; the host is the task's.
    remote: Remote,
}

impl super::registry::Engine for SshEngine {
    fn place(
        &self,
        task: &sc_events::Task,
        assigned: Option<&str>,
    ) -> Option<Result<std::sync::Arc<dyn super::registry::Elsewhere>, String>> {
        let host = task
            .host
            .clone()
            .or(assigned.map(str::to_owned))
            .filter(|h| !h.trim().is_empty())?;
        Some(match check_host(&host) {
            Ok(()) => Ok(std::sync::Arc::new(Remote {
                host,
                ..self.remote.clone()
            })),
            Err(message) => Err(format!("task `{}`: {message}", task.id)),
        })
    }

    fn close(&self) {
        if let Some(multiplex) = &self.remote.multiplex {
            multiplex.close();
        }
    }
}

/// The run's ssh engine: its ssh command, the sc-spawn there, and its one
/// connection per host where it may use ssh at all (off with
/// `--no-multiplex`, or when the ssh command line sets up its own), the
/// masters of the hosts named up front opened in the background now.
pub(super) fn engine(
    settings: &super::registry::Where,
    notes: &mut Vec<String>,
) -> Result<Option<Box<dyn super::registry::Engine>>, String> {
    let ssh = super::registry::command(settings.ssh.as_deref(), "SC_SSH", "ssh");
    let transfer = transfer(settings)?;
    let sc_spawn = sc_spawn_there(settings)?;
    let may_ssh = settings.host.is_some() || settings.plan;
    let own = ssh.iter().any(|a| {
        let a = a.to_string_lossy();
        a.contains("Control") || a == "-S"
    });
    let multiplex = if !may_ssh || settings.no_multiplex || own || settings.placed_here {
        None
    } else {
        match crate::placement::multiplex::Multiplex::new(&crate::private::runs_path(), &ssh[0]) {
            Ok(mut multiplex) => {
                multiplex.respect_config(&ssh, &settings.named_hosts);
                Some(std::sync::Arc::new(multiplex))
            }
            Err(message) => {
                notes.push(message);
                None
            }
        }
    };
    let remote = Remote {
        host: String::new(),
        ssh,
        sc_spawn,
        reconnect: settings.reconnect,
        lease_s: settings.reconnect_lease,
        transfer,
        multiplex,
    };
    open_masters(&remote, &settings.named_hosts);
    Ok(Some(Box::new(SshEngine { remote })))
}

/// `--transfer`: this sc-spawn, to be copied to the hosts (read once).
fn transfer(settings: &super::registry::Where) -> Result<Option<super::transfer::Transfer>, String> {
    static MADE: std::sync::OnceLock<Result<Option<super::transfer::Transfer>, String>> =
        std::sync::OnceLock::new();
    if !settings.transfer {
        return Ok(None);
    }
    MADE.get_or_init(|| {
        let exe = std::env::current_exe()
            .map_err(|e| format!("--transfer: cannot find this sc-spawn: {e}"))?;
        super::transfer::Transfer::of(&exe).map(Some)
    })
    .clone()
}

/// The sc-spawn a placed task runs: the copy `--transfer` makes, else
/// `--remote-sc`, else `sc-spawn` on the PATH there.
pub(super) fn sc_spawn_there(settings: &super::registry::Where) -> Result<OsString, String> {
    Ok(match transfer(settings)? {
        Some(transfer) => transfer.remote.into(),
        None => settings
            .remote_sc
            .clone()
            .unwrap_or_else(|| "sc-spawn".into()),
    })
}

/// ssh's own options, and the host (a port given as `host:port` passed as
/// `-p`).
pub fn ssh_prefix(remote: &Remote) -> Vec<OsString> {
    let (host, port) = host_and_port(&remote.host);
    let mut out: Vec<OsString> = remote.ssh.clone();
    // Never a password prompt (it would hang the run); a dead link noticed
    // in seconds (keepalives), not when TCP gives up; a host that does not
    // answer said within a bound. A user's own ssh config still applies to
    // anything not set here.
    for option in [
        "BatchMode=yes",
        "ServerAliveInterval=5",
        "ServerAliveCountMax=3",
        "ConnectTimeout=20",
    ] {
        out.extend(["-o".into(), option.into()]);
    }
    // Its sessions on the host's one connection.
    if let Some(multiplex) = &remote.multiplex {
        out.extend(multiplex.options(&remote.host));
    }
    if let Some(port) = port {
        out.extend(["-p".into(), port.into()]);
    }
    // The host after `--`: one that starts with `-` is a host, not an option.
    out.push("--".into());
    out.push(host.into());
    out
}

/// Start opening the run's master connection to each of `hosts` now, side
/// by side, in the background: the first tasks on a host would otherwise
/// each make a connection of their own (only one of them becomes the
/// master). Nothing waits here — a slow or dead host holds up only its own
/// tasks, which wait for its master (see [`open_master`]).
pub fn open_masters(remote: &Remote, hosts: &[String]) {
    if remote.multiplex.is_none() {
        return;
    }
    for host in hosts {
        let remote = Remote {
            host: host.clone(),
            ..remote.clone()
        };
        std::thread::spawn(move || open_master(&remote));
    }
}

/// Open the run's master connection to `remote`'s host, once for the run
/// (a caller while it is being opened waits for it). Blocking, bounded by
/// ssh's connect timeout: never on the poller's thread. A host that
/// refuses is left to its tasks, whose own ssh says why; a host the user's
/// own configuration multiplexes is left to it.
pub fn open_master(remote: &Remote) {
    let Some(multiplex) = &remote.multiplex else {
        return;
    };
    multiplex.open_once(&remote.ssh, &remote.host, |options| {
        let mut argv = ssh_prefix(&Remote {
            multiplex: None,
            ..remote.clone()
        });
        // Before the `--` that ends ssh's options: a master that goes to
        // the background once it is up (`-f`), running nothing (`-N`).
        let at = argv.len() - 2;
        argv.splice(
            at..at,
            options.into_iter().chain(["-N".into(), "-f".into()]),
        );
        let Some((program, args)) = argv.split_first() else {
            return;
        };
        let _ = std::process::Command::new(program)
            .args(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    });
}

/// The command line that follows a spooled worker again after the
/// connection was lost: its stream from byte `from_byte` on.
pub fn attach_argv(remote: &Remote, dir: &str, id: &str, from_byte: u64) -> Vec<OsString> {
    let mut out = ssh_prefix(remote);
    let mut line: Vec<u8> = b"exec ".to_vec();
    for arg in [
        remote.sc_spawn.clone(),
        joined("--attach", OsStr::new(dir)),
        joined("--from-byte", OsStr::new(&from_byte.to_string())),
        joined("--id", OsStr::new(id)),
    ] {
        line.extend(quote(&arg));
        line.push(b' ');
    }
    line.pop();
    out.push(OsString::from_vec(line));
    out
}

/// The local command line: ssh, never asking for a password (a prompt
/// would hang the run), running the remote sc-spawn with `argv`.
pub fn ssh_argv(remote: &Remote, run: &RemoteRun, argv: &[OsString]) -> Vec<OsString> {
    let mut out = ssh_prefix(remote);
    let mut line: Vec<u8> = match &run.spool {
        // Detached from the connection (its own session, output to the
        // spool, the pid noted for end requests; a subshell between so
        // that the follower is not its parent), then followed.
        Some(dir) => {
            let mut head = b"d=".to_vec();
            head.extend(quote(OsStr::new(dir)));
            // 0700: prompts and agent output are the user's alone. A new
            // folder (no -p): one that is there already, someone else's
            // or a link planted in its place, fails the launch.
            head.extend_from_slice(
                b"; mkdir -m 700 \"$d\" && : >>\"$d/stream.ndjson\" && : >\"$d/attached\" && ( setsid ",
            );
            head
        }
        None => b"exec ".to_vec(),
    };
    let mut word = |arg: &OsStr| {
        line.extend(quote(arg));
        line.push(b' ');
    };
    word(&remote.sc_spawn);
    match &run.spool {
        Some(dir) => {
            word(&joined("--spool", OsStr::new(dir)));
            word(&joined("--lease", OsStr::new(&remote.lease_s.to_string())));
        }
        None => word(OsStr::new("--end-on-stdin-eof")),
    }
    for arg in run.args(argv) {
        word(&arg);
    }
    line.pop();
    if let Some(dir) = &run.spool {
        line.extend_from_slice(
            b" </dev/null >>\"$d/stream.ndjson\" 2>>\"$d/stderr\" & echo $! >\"$d/pid\" ) && ",
        );
        let attach = attach_argv(remote, dir, &run.id, 0);
        line.extend_from_slice(attach.last().expect("a command").as_bytes());
    }
    out.push(OsString::from_vec(line));
    out
}

impl super::registry::Elsewhere for Remote {
    fn name(&self) -> &str {
        &self.host
    }

    fn command(&self, run: &RemoteRun, argv: &[OsString]) -> Vec<OsString> {
        ssh_argv(self, run, argv)
    }

    fn spool(&self, id: &str) -> Option<String> {
        self.spool_for(id)
    }

    fn reconnects(&self) -> u32 {
        self.reconnect
    }

    fn attach(&self, dir: &str, id: &str, from: u64) -> Option<Vec<OsString>> {
        Some(attach_argv(self, dir, id, from))
    }

    fn needs_ready(&self) -> bool {
        let master = self
            .multiplex
            .as_ref()
            .is_some_and(|m| !m.ready(&self.host));
        self.transfer.is_some() || master
    }

    fn make_ready(&self) -> Result<(), String> {
        open_master(self);
        match &self.transfer {
            Some(transfer) => transfer.to_once(&self.host, ssh_prefix(self)),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_arguments_are_quoted_whole() {
        let remote = Remote {
            host: "me@box:2222".into(),
            ssh: vec!["ssh".into()],
            sc_spawn: "sc-spawn".into(),
            reconnect: 0,
            lease_s: 300,
            transfer: None,
            multiplex: None,
        };
        let run = RemoteRun {
            id: "w".into(),
            task: r#"{"id":"w"}"#.into(),
            ..RemoteRun::default()
        };
        let argv = ssh_argv(
            &remote,
            &run,
            &["echo".into(), "it's $(rm -rf /) \n two".into()],
        );
        assert_eq!(
            argv[argv.len() - 5..argv.len() - 1],
            ["-p", "2222", "--", "me@box"].map(OsString::from)
        );
        assert!(argv.contains(&OsString::from("BatchMode=yes")));
        assert!(argv.contains(&OsString::from("ServerAliveInterval=5")));
        let line = argv.last().unwrap().to_string_lossy().into_owned();
        assert_eq!(
            line,
            "exec 'sc-spawn' '--end-on-stdin-eof' '--task={\"id\":\"w\"}' '--' 'echo' 'it'\\''s $(rm -rf /) \n two'"
        );
        assert!(check_host("-oProxyCommand=x").is_err());
        assert!(check_host("a b").is_err());
        assert!(check_host("me@box:2222").is_ok());
        assert!(check_host("[::1]:22").is_ok());
        assert!(check_host("fe80::1%eth0").is_ok());
        for evil in [
            "a$(id)", "a;b", "a|b", "a&b", "a'b", "a\"b", "a`id`", "a\nb", "a>b", "a\\b",
        ] {
            assert!(
                check_host(evil).unwrap_err().contains("no host name"),
                "{evil}"
            );
        }
        assert_eq!(host_and_port("lab"), ("lab", None));
        assert_eq!(host_and_port("[::1]"), ("[::1]", None));
    }

    #[test]
    fn a_spooled_worker_runs_detached_and_is_followed() {
        let remote = Remote {
            host: "lab".into(),
            ssh: vec!["ssh".into()],
            sc_spawn: "sc-spawn".into(),
            reconnect: 2,
            lease_s: 60,
            transfer: None,
            multiplex: None,
        };
        let run = RemoteRun {
            id: "w".into(),
            task: r#"{"id":"w"}"#.into(),
            spool: Some("/tmp/sp it".into()),
            ..RemoteRun::default()
        };
        let argv = ssh_argv(&remote, &run, &["true".into()]);
        let line = argv.last().unwrap().to_string_lossy().into_owned();
        assert_eq!(
            line,
            "d='/tmp/sp it'; mkdir -m 700 \"$d\" && : >>\"$d/stream.ndjson\" && : >\"$d/attached\" && \
             ( setsid 'sc-spawn' '--spool=/tmp/sp it' '--lease=60' '--task={\"id\":\"w\"}' '--' 'true' \
             </dev/null >>\"$d/stream.ndjson\" 2>>\"$d/stderr\" & echo $! >\"$d/pid\" ) && \
             exec 'sc-spawn' '--attach=/tmp/sp it' '--from-byte=0' '--id=w'"
        );
        let again = attach_argv(&remote, "/tmp/sp it", "w", 1234);
        assert_eq!(
            again.last().unwrap(),
            "exec 'sc-spawn' '--attach=/tmp/sp it' '--from-byte=1234' '--id=w'"
        );
        assert!(remote.spool_for("a/b c").unwrap().ends_with("-a_b_c"));
    }
}
