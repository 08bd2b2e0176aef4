//! A git repository for the tests of `--worktree`: made, with one file
//! committed on `main`.

use std::path::Path;
use std::process::Command;

/// Make `repo` (created if need be) a git repository whose `main` holds
/// one commit of `file` with `contents`.
pub fn repo_with_one_commit(repo: &Path, file: &str, contents: &str) {
    std::fs::create_dir_all(repo).unwrap();
    let git = |args: &[&str]| {
        let ok = Command::new("git")
            .arg("-C")
            .arg(repo)
            .args(args)
            .status()
            .unwrap()
            .success();
        assert!(ok, "git {args:?}");
    };
    git(&["init", "-q", "-b", "main"]);
    std::fs::write(repo.join(file), contents).unwrap();
    git(&["add", file]);
    git(&[
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@example.com",
        "commit",
        "-qm",
        "init",
    ]);
}
