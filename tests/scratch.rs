//! Where the end-to-end tests keep their files: one folder per run of
//! the suite, and what ended runs left removed.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Write `data` to a fresh temporary file and return its path.
pub fn temp_file(name: &str, data: &[u8]) -> PathBuf {
    let dir = scratch_root().join("files");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::File::create(&path)
        .unwrap()
        .write_all(data)
        .unwrap();
    path
}

/// A fresh folder of the test's own in this run's scratch folder.
pub fn temp_dir(name: &str) -> PathBuf {
    fresh(scratch_root().join(name))
}

/// A fresh folder of the test's own on the real disk, outside /tmp (which
/// a sandbox has of its own, and Landlock shares with the machine).
pub fn disk_dir(name: &str) -> PathBuf {
    fresh(disk_scratch_root().join(name))
}

fn fresh(dir: PathBuf) -> PathBuf {
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// This run's scratch folder in the temp folder, `sc-tests-PID`: every
/// test's files go in it.
pub fn scratch_root() -> &'static Path {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| scratch_in(&std::env::temp_dir()))
}

/// This run's scratch folder under cargo's target folder, on the real disk.
pub fn disk_scratch_root() -> &'static Path {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| scratch_in(Path::new(env!("CARGO_TARGET_TMPDIR"))))
}

/// `base/sc-tests-PID`, made. Made the first time, it also removes what
/// earlier runs left in `base` once their test process is gone. A run
/// keeps its files, to be looked at after a failure; without this sweep
/// each run of the suite left about a gigabyte (the agent CLIs unpack
/// themselves into their test homes) until the disk was full.
fn scratch_in(base: &Path) -> PathBuf {
    let me = std::process::id();
    for entry in std::fs::read_dir(base).into_iter().flatten().flatten() {
        let name = entry.file_name();
        let pid = name
            .to_str()
            .and_then(|n| n.strip_prefix("sc-tests-"))
            .and_then(|pid| pid.parse::<u32>().ok());
        if pid.is_some_and(|pid| pid != me && !Path::new(&format!("/proc/{pid}")).exists()) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
    let root = base.join(format!("sc-tests-{me}"));
    std::fs::create_dir_all(&root).unwrap();
    root
}

/// What a finished run left goes; what a live one is using stays, and
/// nothing else there is touched.
#[test]
fn a_test_run_sweeps_what_finished_runs_left() {
    let base = temp_dir("sweep");
    let mut ended = Command::new("true").spawn().unwrap();
    ended.wait().unwrap();
    let mut live = Command::new("sleep").arg("30").spawn().unwrap();
    let left = base.join(format!("sc-tests-{}", ended.id()));
    let in_use = base.join(format!("sc-tests-{}", live.id()));
    let other = base.join("sc-tests-not-a-pid");
    for dir in [&left, &in_use, &other] {
        std::fs::create_dir_all(dir.join("inside")).unwrap();
    }
    let mine = scratch_in(&base);
    assert!(!left.exists(), "its run has ended");
    assert!(in_use.exists() && other.exists() && mine.is_dir());
    live.kill().unwrap();
    live.wait().unwrap();
}

/// A CODEX_HOME of a test's own, outside the temp folder: under it, Codex
/// makes no helper for its own sandbox, and with a bubblewrap on the PATH
/// every shell call it runs is refused (sc warns of that; a test of its own
/// checks the warning).
pub fn codex_home(name: &str) -> PathBuf {
    disk_dir(&format!("codex-home-{name}"))
}
