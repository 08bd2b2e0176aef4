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
}

/// What the remote sc-spawn is told besides the command.
#[derive(Debug, Clone, Default)]
pub struct RemoteRun {
    pub id: String,
    pub kind: String,
    pub cwd: Option<OsString>,
    pub env: Vec<(OsString, OsString)>,
    /// Flags passed on as they are (`--flush-ms 50`, `--heartbeat 5`, …).
    pub flags: Vec<OsString>,
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
    let (host, port) = host_and_port(&remote.host);
    let mut out: Vec<OsString> = remote.ssh.clone();
    out.extend(["-o".into(), "BatchMode=yes".into()]);
    if let Some(port) = port {
        out.extend(["-p".into(), port.into()]);
    }
    out.push(host.into());
    out.push("--".into());
    let mut line: Vec<u8> = b"exec ".to_vec();
    let mut word = |arg: &OsStr| {
        line.extend(quote(arg));
        line.push(b' ');
    };
    word(&remote.sc_spawn);
    word(OsStr::new("--end-on-stdin-eof"));
    word(OsStr::new("--id"));
    word(OsStr::new(&run.id));
    word(OsStr::new("--kind"));
    word(OsStr::new(&run.kind));
    if let Some(cwd) = &run.cwd {
        word(OsStr::new("--cwd"));
        word(cwd);
    }
    // The environment goes explicitly, not through ssh's AcceptEnv.
    for (key, value) in &run.env {
        let mut pair = key.clone();
        pair.push("=");
        pair.push(value);
        word(OsStr::new("--env"));
        word(&pair);
    }
    for flag in &run.flags {
        word(flag);
    }
    word(OsStr::new("--"));
    for arg in argv {
        word(arg);
    }
    line.pop();
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
        };
        let run = RemoteRun {
            id: "w".into(),
            kind: "shell".into(),
            ..RemoteRun::default()
        };
        let argv = ssh_argv(
            &remote,
            &run,
            &["echo".into(), "it's $(rm -rf /) \n two".into()],
        );
        assert_eq!(
            argv[..6],
            ["ssh", "-o", "BatchMode=yes", "-p", "2222", "me@box"].map(OsString::from)
        );
        let line = argv.last().unwrap().to_string_lossy().into_owned();
        assert_eq!(
            line,
            "exec 'sc-spawn' '--end-on-stdin-eof' '--id' 'w' '--kind' 'shell' '--' 'echo' 'it'\\''s $(rm -rf /) \n two'"
        );
        assert_eq!(host_and_port("lab"), ("lab", None));
        assert_eq!(host_and_port("[::1]"), ("[::1]", None));
    }
}
