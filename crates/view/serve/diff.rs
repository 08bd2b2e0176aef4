//! A worker's diff for the page (`GET /diff?worker=ID`): what it changed in
//! its git worktree (`--worktree`) from where its branch started. While
//! it runs, that is its working tree against the base (what it has edited
//! so far, files it made and not yet added left out); once it ended,
//! sc has committed its work, and it is the branch against the base.
//!
//! The worktree's path and base come from the stream, which is outside
//! input: the path must be an absolute directory, the base a commit id,
//! and git is run without a shell, with no external diff program, no
//! textconv filter, no pager and no colour.

use std::io;
use std::path::Path;
use std::process::{Command, Stdio};

use tiny_http::Response;

use super::{h, refused};

/// The most of a diff one page request is sent.
const MAX_DIFF: usize = 8 << 20;

/// The diff of the worktree at `path` from `base`, each line made safe as
/// the view makes it.
pub(super) fn diff(worker: &str, path: &str, base: &str) -> Response<io::Cursor<Vec<u8>>> {
    if !is_commit_id(base) {
        return refused(409, "the worktree's base in the stream is not a commit id");
    }
    let dir = Path::new(path);
    if !dir.is_absolute() || !dir.is_dir() {
        return refused(
            410,
            "the worktree is gone (removed since the run, or on another host)",
        );
    }
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "--no-pager",
            "-c",
            "core.fsmonitor=false",
            "diff",
            "--no-ext-diff",
            "--no-textconv",
            "--no-color",
            "--stat",
            "--patch",
            base,
            "--",
        ])
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(Stdio::null())
        .output();
    let out = match out {
        Ok(out) if out.status.success() => out.stdout,
        Ok(out) => {
            return refused(
                500,
                &format!("git diff: {}", String::from_utf8_lossy(&out.stderr).trim()),
            );
        }
        Err(e) => return refused(500, &format!("cannot run git: {e}")),
    };
    let mut text = String::new();
    for line in String::from_utf8_lossy(&out).split_inclusive('\n') {
        super::output::push_safe(&mut text, line);
        if text.len() > MAX_DIFF {
            text.push_str(&format!(
                "\n[cut at {} MiB: `git -C {path} diff {base}` shows it all]\n",
                MAX_DIFF >> 20
            ));
            break;
        }
    }
    if text.is_empty() {
        text = format!("{worker} changed nothing yet\n");
    }
    Response::from_data(text.into_bytes())
        .with_header(h("Content-Type", "text/plain; charset=utf-8"))
}

/// A commit id as git prints it: 40 (SHA-1) or 64 (SHA-256) hex digits.
fn is_commit_id(base: &str) -> bool {
    matches!(base.len(), 40 | 64) && base.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_commit_ids_reach_git() {
        assert!(is_commit_id(&"a".repeat(40)));
        assert!(is_commit_id(&"0123456789abcdef".repeat(4)));
        for bad in [
            "",
            "HEAD",
            "--output=/tmp/x",
            &"g".repeat(40),
            &"a".repeat(41),
        ] {
            assert!(!is_commit_id(bad), "{bad}");
        }
    }
}
