//! `--transfer`: the local sc-spawn copied to a host that lacks it (or has
//! another build), into a per-user cache there named by the binary's
//! content, so that a host holds each build once and a build never
//! overwrites one in use.

use std::ffi::OsString;
use std::hash::Hasher;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::placement::run::quote;

/// The local binary to copy, and its name in the cache there (relative to
/// the remote home, where ssh's commands start).
#[derive(Debug, Clone)]
pub struct Transfer {
    pub local: PathBuf,
    pub remote: String,
}

impl Transfer {
    /// This machine's sc-spawn (`exe`), named by a hash of its bytes.
    pub fn of(exe: &Path) -> Result<Transfer, String> {
        let mut file = std::fs::File::open(exe)
            .map_err(|e| format!("--transfer: cannot read {}: {e}", exe.display()))?;
        // Not cryptographic: it tells builds apart, nothing more.
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            match file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => hasher.write(&buf[..n]),
                Err(e) => return Err(format!("--transfer: reading {}: {e}", exe.display())),
            }
        }
        Ok(Transfer {
            local: exe.to_owned(),
            remote: format!(".cache/sc/sc-spawn-{:016x}", hasher.finish()),
        })
    }

    /// [`Transfer::to`] once per host for this process: later tasks on a
    /// host get the first one's outcome.
    /// Copies to different hosts run side by side: only the copy to one
    /// host is waited for by that host's other tasks.
    /// `ssh`: the ssh command line that runs a command on `host`.
    pub fn to_once(&self, host: &str, ssh: Vec<OsString>) -> Result<(), String> {
        type Once = std::sync::Arc<std::sync::OnceLock<Result<(), String>>>;
        static HOSTS: std::sync::Mutex<Vec<(String, Once)>> = std::sync::Mutex::new(Vec::new());
        let once: Once = {
            let mut hosts = HOSTS.lock().unwrap_or_else(|e| e.into_inner());
            match hosts.iter().find(|(known, _)| *known == host) {
                Some((_, once)) => once.clone(),
                None => {
                    let once = Once::default();
                    hosts.push((host.to_owned(), once.clone()));
                    once
                }
            }
        };
        once.get_or_init(|| self.to(host, ssh)).clone()
    }

    /// Copy it to `host` (reached by the command line `ssh`) unless it is
    /// there already. Blocking (an ssh run): never on the poller's thread.
    pub fn to(&self, host: &str, ssh: Vec<OsString>) -> Result<(), String> {
        let path = quote(std::ffi::OsStr::new(&self.remote));
        let path = String::from_utf8_lossy(&path);
        // Written under a temporary name and renamed: a reader never sees
        // half a binary, and two runs copying at once do not collide.
        let script = format!(
            "p={path}; [ -x \"$p\" ] && exit 0; mkdir -p .cache/sc && cat > \"$p.$$\" && chmod 755 \"$p.$$\" && mv -f \"$p.$$\" \"$p\""
        );
        let mut argv = ssh;
        argv.push(OsString::from(script));
        let file = std::fs::File::open(&self.local)
            .map_err(|e| format!("--transfer: cannot read {}: {e}", self.local.display()))?;
        let output = Command::new(&argv[0])
            .args(&argv[1..])
            .stdin(file)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .map_err(|e| format!("--transfer: cannot run {}: {e}", argv[0].to_string_lossy()))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(format!(
                "--transfer: copying sc-spawn to {} failed: {}",
                host,
                String::from_utf8_lossy(&output.stderr).trim()
            ))
        }
    }
}
