//! One Slurm allocation for a run's job steps. A step started by a bare
//! `srun` outside any job is a job of its own: the controller schedules
//! it, allocates, launches, then tears it down — about a second per task
//! on an idle one-node cluster. Steps inside one allocation skip all of
//! that (`srun --jobid=J --overlap`: 40 short tasks 6.1 s → 0.9 s here).
//!
//! The allocation is held by `salloc` running a command that only waits
//! for its stdin to end: sc-spawn holds that pipe, so the allocation is
//! given back when the run ends — on Ctrl-C too, and when sc-spawn is
//! killed outright (the kernel closes the pipe), with nothing to sweep.

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

/// The command salloc runs on this machine while the allocation lasts:
/// say the job's id, then wait for sc-spawn to let go of stdin. A fixed
/// string: nothing of the user's reaches this shell.
const HOLD: &str = "echo \"$SLURM_JOB_ID\"; exec cat >/dev/null";

/// How long Slurm has to grant the allocation (`salloc --immediate`): an
/// idle cluster does in milliseconds; a busy or small one (more tasks than
/// it has CPUs, which salloc would wait for forever) gets a job per task,
/// each queued on its own as a bare srun would be.
const GRANT_WITHIN_S: u32 = 2;

/// How long the end of the run waits for salloc to give the allocation
/// back before leaving it to do so on its own.
const RELEASE_WAIT: Duration = Duration::from_secs(5);

/// A run's allocation: its job id, held while this lives.
#[derive(Debug)]
pub struct Allocation {
    /// The job id steps are launched in (`srun --jobid`).
    pub job: String,
    child: Option<Child>,
    hold: Option<ChildStdin>,
}

impl Allocation {
    /// Ask for an allocation of `ntasks` tasks with the run's `--slurm`
    /// options (`salloc` is `salloc`, or `SC_SALLOC`), waiting until Slurm
    /// grants it (2 s at most). Err says why not, in salloc's words.
    pub fn make(
        salloc: &[OsString],
        options: &[OsString],
        ntasks: usize,
        name: &str,
    ) -> Result<Allocation, String> {
        let (program, args) = salloc
            .split_first()
            .ok_or_else(|| "no salloc command".to_owned())?;
        let mut child = Command::new(program)
            .args(args)
            .arg("-Q")
            .arg(format!("--immediate={GRANT_WITHIN_S}"))
            .arg(format!("--job-name={name}"))
            .arg(format!("--ntasks={ntasks}"))
            .args(options)
            .args(["--", "sh", "-c", HOLD])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group: a Ctrl-C on the terminal is sc-spawn's
            // to handle; the allocation ends when sc-spawn lets go of it.
            .process_group(0)
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", program.to_string_lossy()))?;
        // What salloc says on stderr, kept for the error (and drained, so
        // that salloc never blocks on it while the allocation lasts).
        let said = child.stderr.take().map(|mut stderr| {
            std::thread::spawn(move || {
                let mut text = String::new();
                let _ = stderr.read_to_string(&mut text);
                text
            })
        });
        let hold = child.stdin.take();
        let mut line = String::new();
        if let Some(stdout) = child.stdout.take() {
            let _ = BufReader::new(stdout).read_line(&mut line);
        }
        let job = line.trim().to_owned();
        if !job.is_empty() && job.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(Allocation {
                job,
                child: Some(child),
                hold,
            });
        }
        drop(hold);
        let status = child.wait();
        let said = said.and_then(|t| t.join().ok()).unwrap_or_default();
        Err(format!(
            "salloc gave no allocation ({}): {}",
            status.map_or_else(|e| e.to_string(), |s| s.to_string()),
            said.trim()
        ))
    }

    /// Give the allocation back now (steps still in it are ended by
    /// Slurm), waiting a little for salloc to say it did.
    pub fn release(&mut self) {
        drop(self.hold.take());
        let Some(mut child) = self.child.take() else {
            return;
        };
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = child.wait();
            let _ = tx.send(());
        });
        let _ = rx.recv_timeout(RELEASE_WAIT);
    }
}

impl Drop for Allocation {
    fn drop(&mut self) {
        self.release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_allocation_is_said_in_sallocs_words() {
        let salloc = [
            "sh",
            "-c",
            "echo 'salloc: error: no such partition' >&2; exit 1",
            "salloc",
        ]
        .map(OsString::from);
        let err = Allocation::make(&salloc, &[], 4, "sc-test").unwrap_err();
        assert!(err.contains("no such partition"), "{err}");
    }
}
