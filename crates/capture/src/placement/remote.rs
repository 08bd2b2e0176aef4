//! Running a worker on another host over ssh: the command line that runs
//! a remote sc-spawn with the worker's command, quoted so that it arrives
//! exactly whatever its arguments hold.
//!
//! ssh joins its arguments with spaces and the remote shell parses the
//! result again: each argument is therefore put in single quotes (a quote
//! inside becomes `'\''`), which the shell takes byte for byte — spaces,
//! `$(…)`, newlines and bytes that are not UTF-8 included.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};

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
}

impl Remote {
    /// The spool for a worker with this id, when it is to survive a lost
    /// connection.
    pub fn spool_for(&self, id: &str) -> Option<String> {
        (self.reconnect > 0).then(|| spool_dir(id))
    }
}

/// What the remote sc-spawn is told: the task itself (it runs there as a
/// plan of one, so its retries, caps, timeout, limits and resume happen
/// where the worker is), and how to run it.
#[derive(Debug, Clone, Default)]
pub struct RemoteRun {
    pub id: String,
    /// The task as a plan line's JSON.
    pub task: String,
    /// Its first attempt resumes this agent session.
    pub resume: Option<String>,
    pub cwd: Option<OsString>,
    pub env: Vec<(OsString, OsString)>,
    /// Flags passed on as they are (`--flush-ms=50`, `--pty=all`, …).
    pub flags: Vec<OsString>,
    /// `--reconnect`: the worker runs detached there, its stream kept in
    /// this directory, and the connection follows it (see [`attach_argv`]).
    pub spool: Option<String>,
}

impl RemoteRun {
    /// The remote sc-spawn's arguments after its mode (`--end-on-stdin-eof`,
    /// `--spool`): every value joined to its flag with `=`, so that one
    /// starting with `-` (an id, a directory) is never read as a flag.
    pub fn args(&self, argv: &[OsString]) -> Vec<OsString> {
        let mut out: Vec<OsString> = vec![joined("--task", OsStr::new(&self.task))];
        if let Some(session) = &self.resume {
            out.push(joined("--resume-session", OsStr::new(session)));
        }
        if let Some(cwd) = &self.cwd {
            out.push(joined("--cwd", cwd));
        }
        // The environment goes explicitly, not through ssh's AcceptEnv.
        for (key, value) in &self.env {
            let mut pair = key.clone();
            pair.push("=");
            pair.push(value);
            out.push(joined("--env", &pair));
        }
        out.extend(self.flags.iter().cloned());
        out.push("--".into());
        out.extend(argv.iter().cloned());
        out
    }
}

/// `--flag=value`.
pub fn joined(flag: &str, value: &OsStr) -> OsString {
    let mut out = OsString::from(flag);
    out.push("=");
    out.push(value);
    out
}

/// A directory name for a spooled run there, unique to this run and worker.
pub fn spool_dir(id: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let tidy: String = id
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .take(40)
        .collect();
    format!("/tmp/sc-spool-{}-{nanos}-{tidy}", std::process::id())
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
    if let Some(port) = port {
        out.extend(["-p".into(), port.into()]);
    }
    // The host after `--`: one that starts with `-` is a host, not an option.
    out.push("--".into());
    out.push(host.into());
    out
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

/// How to run a worker as a Slurm job step (`--slurm`, a task's `slurm`).
#[derive(Debug, Clone, Default)]
pub struct Slurm {
    /// The srun command (`srun`, or `SC_SRUN`).
    pub srun: Vec<OsString>,
    /// `--slurm=OPTIONS`, split on spaces: for every step.
    pub options: Vec<OsString>,
}

/// The command line of a Slurm job step running an sc-spawn with `argv`.
/// srun keeps argv as given (no shell between), takes output unbuffered
/// (`-u`: a partial line stays live) and passes its stdin to the step, so
/// that letting go of it ends the worker there, as over ssh.
pub fn srun_argv(
    slurm: &Slurm,
    sc_spawn: &OsStr,
    task: Option<&sc_events::SlurmTask>,
    run: &RemoteRun,
    argv: &[OsString],
) -> Vec<OsString> {
    let mut out: Vec<OsString> = slurm.srun.clone();
    out.extend(["-u", "-Q", "-N1", "-n1", "--job-name"].map(OsString::from));
    out.push(format!("sc-{}", run.id).into());
    out.extend(slurm.options.iter().cloned());
    if let Some(task) = task {
        let mut option = |flag: &str, value: Option<String>| {
            if let Some(value) = value {
                out.push(format!("{flag}={value}").into());
            }
        };
        option("--partition", task.partition.clone());
        option("--cpus-per-task", task.cpus.map(|c| c.to_string()));
        option("--mem", task.mem.clone());
        option("--time", task.time.clone());
    }
    out.push(sc_spawn.to_owned());
    out.extend(["--end-on-stdin-eof", "--slurm-step"].map(OsString::from));
    out.extend(run.args(argv));
    out
}

/// How much longer than a remote worker's own timeout the local side waits
/// before ending the connection itself.
pub const REMOTE_SLACK: std::time::Duration = std::time::Duration::from_secs(10);

/// How long this side waits for a worker placed elsewhere before ending
/// its connection itself: every attempt's own timeout (timed there) and
/// grace, the longest pauses between attempts, and some slack. None when
/// the task has no timeout.
pub fn backstop(
    timeout: Option<std::time::Duration>,
    kill_grace: std::time::Duration,
    retries: u32,
    delay: std::time::Duration,
) -> Option<std::time::Duration> {
    let attempt = timeout? + kill_grace;
    let pauses: std::time::Duration = (0..retries)
        .map(|k| {
            delay
                .saturating_mul(1 << k.min(16))
                .min(std::time::Duration::from_secs(300))
                .mul_f64(1.25)
        })
        .sum();
    Some(attempt.saturating_mul(retries + 1) + pauses + REMOTE_SLACK)
}

/// `arg` in single quotes, for a POSIX shell.
pub fn quote(arg: &OsStr) -> Vec<u8> {
    let mut out = Vec::with_capacity(arg.len() + 2);
    out.push(b'\'');
    for &b in arg.as_bytes() {
        if b == b'\'' {
            out.extend_from_slice(b"'\\''");
        } else {
            out.push(b);
        }
    }
    out.push(b'\'');
    out
}

/// A host as a plan line or `--hosts` gives it is checked before it
/// reaches ssh's command line: one that starts with `-` would be an ssh
/// option, and one with spaces or control characters is no host name.
pub fn check_host(host: &str) -> Result<(), String> {
    if host.starts_with('-') {
        return Err(format!(
            "host `{host}` starts with `-`: that is no host name (ssh would take it as an option)"
        ));
    }
    if host.is_empty() || host.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "host {host:?} is no host name: give `[user@]host[:port]` or an ssh config alias"
        ));
    }
    Ok(())
}

/// `user@host:port` → (`user@host`, Some(port)); an alias stays as it is.
fn host_and_port(host: &str) -> (&str, Option<&str>) {
    match host.rsplit_once(':') {
        Some((name, port))
            if !name.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) && !port.is_empty() =>
        {
            (name, Some(port))
        }
        _ => (host, None),
    }
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
            // 0700: prompts and agent output are the user's alone.
            head.extend_from_slice(
                b"; mkdir -m 700 -p \"$d\" && : >>\"$d/stream.ndjson\" && : >\"$d/attached\" && ( setsid ",
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
            "d='/tmp/sp it'; mkdir -m 700 -p \"$d\" && : >>\"$d/stream.ndjson\" && : >\"$d/attached\" && \
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

    #[test]
    fn a_job_step_keeps_argv_as_given_with_the_tasks_resources() {
        let slurm = Slurm {
            srun: vec!["srun".into()],
            options: vec!["-p".into(), "batch".into()],
        };
        let run = RemoteRun {
            id: "w".into(),
            task: r#"{"id":"w"}"#.into(),
            ..RemoteRun::default()
        };
        let task = sc_events::SlurmTask {
            cpus: Some(4),
            mem: Some("4G".into()),
            ..Default::default()
        };
        let argv = srun_argv(
            &slurm,
            OsStr::new("sc-spawn"),
            Some(&task),
            &run,
            &["echo".into(), "a b $(x)".into()],
        );
        let argv: Vec<String> = argv
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            argv,
            [
                "srun",
                "-u",
                "-Q",
                "-N1",
                "-n1",
                "--job-name",
                "sc-w",
                "-p",
                "batch",
                "--cpus-per-task=4",
                "--mem=4G",
                "sc-spawn",
                "--end-on-stdin-eof",
                "--slurm-step",
                r#"--task={"id":"w"}"#,
                "--",
                "echo",
                "a b $(x)"
            ]
        );
    }
}
