//! `--worktree`: each task in a git worktree of its own, on a branch of its
//! own, so that parallel agents never edit the same files.
//!
//! A task's branch starts from its first dependency's branch (so the tests
//! task sees the code task's work), or from HEAD. When the task ends, what
//! it changed is committed on its branch, and its `exit` event says the
//! branch and a diff stat.

use std::path::{Path, PathBuf};
use std::process::Command;

use sc_events::WorktreeReport;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Worktree {
    pub path: PathBuf,
    pub branch: String,
    /// What the branch started from.
    pub base: String,
    /// The worker's directory inside the worktree (its cwd's place in the
    /// repository).
    pub cwd: PathBuf,
}

fn git(dir: &Path, args: &[&str]) -> Result<String, String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .map_err(|e| format!("running git: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    } else {
        Err(format!(
            "git {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// A branch name git accepts, from a worker id (`meta/login` → `sc/meta/login`).
fn branch_for(id: &str) -> String {
    let clean: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_/.".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("sc/{}", clean.trim_matches(|c| c == '/' || c == '.'))
}

/// Where `cwd` is inside the repository at `top` (the worker's directory
/// in its worktree is the same place).
fn place_in(cwd: &Path, top: &Path) -> PathBuf {
    cwd.canonicalize()
        .ok()
        .and_then(|c| {
            c.strip_prefix(top.canonicalize().ok()?)
                .ok()
                .map(Path::to_path_buf)
        })
        .unwrap_or_default()
}

/// Make a worktree for worker `id`, for work in `cwd` (inside a git
/// repository), branching from `base` (a branch) or HEAD.
pub fn create(cwd: &Path, id: &str, base: Option<&str>) -> Result<Worktree, String> {
    let top = PathBuf::from(git(cwd, &["rev-parse", "--show-toplevel"]).map_err(|e| {
        format!(
            "--worktree needs a git repository: {} is not in one ({e})",
            cwd.display()
        )
    })?);
    let git_dir = PathBuf::from(git(&top, &["rev-parse", "--absolute-git-dir"])?);
    let inside = place_in(cwd, &top);
    let base = match base {
        Some(branch) => branch.to_owned(),
        None => git(&top, &["rev-parse", "HEAD"])
            .map_err(|e| format!("--worktree needs a commit to branch from: {e}"))?,
    };
    let mut branch = branch_for(id);
    let mut n = 2;
    while git(
        &top,
        &[
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("refs/heads/{branch}"),
        ],
    )
    .is_ok()
    {
        branch = format!("{}-{n}", branch_for(id));
        n += 1;
    }
    // Inside .git: out of the way of the main worktree's status.
    let path = git_dir.join("sc-worktrees").join(branch.replace('/', "-"));
    git(
        &top,
        &[
            "worktree",
            "add",
            "--quiet",
            "-b",
            &branch,
            &path.to_string_lossy(),
            &base,
        ],
    )?;
    Ok(Worktree {
        cwd: path.join(inside),
        path,
        branch,
        base,
    })
}

/// Work again on `branch`, which an earlier run made (`--resume`): its
/// worktree where it still is, or a new one on the branch.
pub fn reuse(cwd: &Path, branch: &str) -> Result<Worktree, String> {
    let top = PathBuf::from(git(cwd, &["rev-parse", "--show-toplevel"])?);
    let git_dir = PathBuf::from(git(&top, &["rev-parse", "--absolute-git-dir"])?);
    git(
        &top,
        &[
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("refs/heads/{branch}"),
        ],
    )?;
    let inside = place_in(cwd, &top);
    let path = git_dir.join("sc-worktrees").join(branch.replace('/', "-"));
    if !path.join(".git").exists() {
        let _ = git(&top, &["worktree", "prune"]);
        git(
            &top,
            &[
                "worktree",
                "add",
                "--quiet",
                &path.to_string_lossy(),
                branch,
            ],
        )?;
    }
    // The diff stat covers all the branch's work, from where it forked.
    let base = git(&top, &["merge-base", branch, "HEAD"]).unwrap_or_default();
    Ok(Worktree {
        cwd: path.join(inside),
        path,
        branch: branch.to_owned(),
        base,
    })
}

impl Worktree {
    /// Commit what the worker changed on its branch; what the exit event
    /// says of it: path, branch, base, and the diff stat.
    pub fn finish(&self, id: &str) -> WorktreeReport {
        let commit = git(&self.path, &["add", "-A"]).and_then(|_| {
            let staged = git(&self.path, &["diff", "--cached", "--quiet"]).is_err();
            if staged {
                git(
                    &self.path,
                    &[
                        "-c",
                        "user.name=sc",
                        "-c",
                        "user.email=sc@localhost",
                        "commit",
                        "--quiet",
                        "--no-verify",
                        "-m",
                        &format!("sc: {id}"),
                    ],
                )?;
            }
            Ok(())
        });
        let diff =
            git(&self.path, &["diff", "--shortstat", &self.base, "HEAD"]).unwrap_or_default();
        WorktreeReport {
            path: self.path.to_string_lossy().into_owned(),
            branch: self.branch.clone(),
            base: self.base.clone(),
            diff: if diff.is_empty() {
                "no changes".to_owned()
            } else {
                diff
            },
            error: commit.err(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn branch_names_are_safe() {
        assert_eq!(branch_for("meta/login"), "sc/meta/login");
        assert_eq!(branch_for("a b:c"), "sc/a-b-c");
    }

    #[test]
    fn outside_a_repository_says_so() {
        let err = create(Path::new("/"), "x", None).unwrap_err();
        assert!(err.contains("needs a git repository"), "{err}");
    }
}
