//! `--worktree`: parallel agents kept apart in git worktrees of their own,
//! dependents working on where their dependencies left off.

use std::process::Command;

use sc_events::Body;

use crate::plan::shell_task;
use crate::util::*;

#[test]
fn worktrees_keep_parallel_workers_apart_and_chain_dependents() {
    let repo = temp_dir("worktree-repo");
    crate::git::repo_with_one_commit(&repo, "shared.txt", "base\n");
    let plan = [
        shell_task("left", "echo left > shared.txt", &[]),
        shell_task("right", "echo right > shared.txt", &[]),
        shell_task("after", "cat shared.txt", &["left"]),
    ]
    .concat();
    let out = run_bounded(
        sc_spawn()
            .args(["--worktree", "-j", "2"])
            .current_dir(&repo),
        plan,
    );
    assert_eq!(out.status.code(), Some(0), "{}", out.stderr);
    let run = Captured::parse(&out.stdout);
    // The dependent starts from its dependency's branch: it sees its work.
    let after: Vec<u8> = run
        .events
        .iter()
        .filter(|e| e.worker == "after")
        .filter_map(output)
        .flat_map(|(_, p)| p.as_bytes().to_vec())
        .collect();
    assert_eq!(after, b"left\n");
    for (id, branch) in [("left", "sc/left"), ("right", "sc/right")] {
        let exit = run
            .events
            .iter()
            .find(|e| e.worker == id && e.type_name() == "exit")
            .unwrap();
        let Body::Exit(exit) = &exit.body else {
            unreachable!()
        };
        let worktree = exit.worktree.as_ref().expect("the exit says its worktree");
        assert_eq!(worktree.branch, branch);
        assert_eq!(
            worktree.diff,
            "1 file changed, 1 insertion(+), 1 deletion(-)"
        );
    }
    // Each edit is on its own branch; the checkout itself is untouched.
    assert_eq!(
        std::fs::read_to_string(repo.join("shared.txt")).unwrap(),
        "base\n"
    );
    let show = |rev: &str| {
        let out = Command::new("git")
            .arg("-C")
            .arg(&repo)
            .args(["show", &format!("{rev}:shared.txt")])
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap()
    };
    assert_eq!(
        (show("sc/left"), show("sc/right")),
        ("left\n".into(), "right\n".into())
    );
}
