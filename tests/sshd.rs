//! An sshd of the tests' own on 127.0.0.1 (host aliases `lab`, `lab2`, and
//! `refused` for a port nobody listens on), and sc-spawn pointed at it:
//! shared by the ssh tests (remote, reconnect, multiplex, asks, matrix).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::util::*;

/// An sshd of the tests' own: its ssh_config (alias `lab`), or None when
/// no sshd is installed here.
pub(crate) fn sshd() -> Option<&'static Path> {
    static SSHD: OnceLock<Option<PathBuf>> = OnceLock::new();
    SSHD.get_or_init(|| start_sshd("shared")).as_deref()
}

/// Another sshd, for a test that counts what reaches it (its log is
/// `sshd.log` beside the config).
pub(crate) fn sshd_of_its_own(name: &str) -> Option<PathBuf> {
    start_sshd(name)
}

fn start_sshd(name: &str) -> Option<PathBuf> {
    if !Path::new("/usr/sbin/sshd").exists() {
        engine_missing("ssh remote-worker tests", "sshd", "openssh-server");
        return None;
    }
    let dir = temp_dir(&format!("sshd-{name}"));
    std::fs::create_dir_all("/run/sshd").unwrap();
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    for key in ["host_ed25519", "id_ed25519"] {
        let ok = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(dir.join(key))
            .status()
            .unwrap()
            .success();
        assert!(ok, "ssh-keygen");
    }
    std::fs::copy(dir.join("id_ed25519.pub"), dir.join("authorized_keys")).unwrap();
    let d = dir.display();
    // (SHLVL=1: bash reads no ~/.bashrc for the commands sshd runs; root's
    // here runs `pyenv init`, 0.3 s a session: see tests/setup/sshd-up.sh.)
    std::fs::write(
        dir.join("sshd_config"),
        format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_ed25519\nPidFile {d}/sshd.pid\n\
             AuthorizedKeysFile {d}/authorized_keys\nPasswordAuthentication no\n\
             KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\nUsePAM no\n\
             StrictModes no\nMaxStartups 100:30:200\nMaxSessions 100\nSetEnv SHLVL=1\n\
             AcceptEnv SC_BWRAP\n"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("ssh_config"),
        format!(
            "Host lab lab2\n  HostName 127.0.0.1\n  Port {port}\n  User root\n  IdentityFile {d}/id_ed25519\n\
             \x20 IdentitiesOnly yes\n  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n\
             \x20 LogLevel ERROR\nHost refused\n  HostName 127.0.0.1\n  Port 1\n  User root\n\
             \x20 IdentityFile {d}/id_ed25519\n  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n"
        ),
    )
    .unwrap();
    // sshd in the foreground, a child of a thread that lives as long as
    // the tests: when they end, the kernel ends it (PR_SET_PDEATHSIG).
    let (tx, rx) = std::sync::mpsc::channel();
    let (config_path, log) = (dir.join("sshd_config"), dir.join("sshd.log"));
    std::thread::spawn(move || {
        let mut command = Command::new("/usr/sbin/sshd");
        command
            .arg("-D")
            .arg("-f")
            .arg(&config_path)
            .arg("-E")
            .arg(&log);
        // SAFETY: prctl is async-signal-safe.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut command, || {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        let child = command.spawn();
        let _ = tx.send(child.is_ok());
        if let Ok(mut child) = child {
            let _ = child.wait();
        }
        loop {
            std::thread::park();
        }
    });
    assert!(rx.recv().unwrap(), "sshd did not start");
    let config = dir.join("ssh_config");
    eventually("sshd answers", || {
        Command::new("ssh")
            .arg("-F")
            .arg(&config)
            .args(["-o", "BatchMode=yes", "lab", "true"])
            .status()
            .is_ok_and(|s| s.success())
    });
    Some(config)
}

pub(crate) fn over_ssh(config: &Path, host: &str, args: &[&str]) -> Command {
    let mut command = sc_spawn();
    command
        .args(["--host", host, "--ssh"])
        .arg(format!("ssh -F {}", config.display()))
        .args(["--remote-sc", env!("CARGO_BIN_EXE_sc-spawn")])
        .args(args);
    command
}
