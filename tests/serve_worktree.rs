//! `sc-view --serve` with `--worktree`: a worker's branch on the page, what
//! it changed once it ended, and its diff on demand, while it runs (what
//! it has edited so far) and after (what sc committed on its branch); a
//! worktree the stream names wrongly is refused, never given to git.

use crate::plan::shell_task;
use crate::serve::{events, get, serving, stop};
use crate::util::*;

#[test]
fn a_workers_branch_and_diff_are_on_the_page_while_it_runs_and_after() {
    let repo = temp_dir("serve-worktree-repo");
    crate::git::repo_with_one_commit(&repo, "shared.txt", "base\n");
    let aside = temp_dir("serve-worktree-aside");
    let gate = aside.join("gate");
    nix::unistd::mkfifo(&gate, nix::sys::stat::Mode::S_IRWXU).unwrap();
    let log = aside.join("run.ndjson");
    let script = format!(
        "echo '<b>edited</b>' > shared.txt; echo edited; cat '{}' >/dev/null",
        gate.display()
    );
    let mut live = Live::start_fed(
        sc_spawn()
            .current_dir(&repo)
            .env("XDG_RUNTIME_DIR", &aside)
            .args(["--worktree", "--log", log.to_str().unwrap()]),
        &shell_task("edit", &script, &[]),
    );
    live.until(|e| output(e).is_some());
    let (child, addr, token) = serving(&["--follow", log.to_str().unwrap()], None);
    let cookie = format!("Cookie: sc_view={token}\r\n");

    // While it runs: what it has edited so far, from where it started.
    eventually("the page has the worker's worktree", || {
        get(&addr, "/diff?worker=edit", &cookie).0 == 200
    });
    let (_, _, said) = get(&addr, "/diff?worker=edit", &cookie);
    assert!(said.contains("shared.txt"), "{said}");
    assert!(said.contains("\n-base\n+<b>edited</b>\n"), "{said}");
    let (status, _, _) = get(&addr, "/diff?worker=edit", "");
    assert_eq!(status, 403, "no token, no diff");

    // After: its branch and what it changed, and the diff of what sc
    // committed on the branch.
    std::fs::write(&gate, "go\n").unwrap();
    let (run, status) = live.finish();
    assert_eq!(status.code(), Some(0));
    assert_eq!(run.exit().code, Some(0));
    eventually("the page saw the exit", || {
        events_so_far(&addr, &token).contains("1 file changed")
    });
    let (_, _, said) = get(&addr, "/diff?worker=edit", &cookie);
    assert!(said.contains("+<b>edited</b>"), "{said}");
    stop(child);
    // The terminal and plain views say it too.
    let plain = std::process::Command::new(env!("CARGO_BIN_EXE_sc-view"))
        .arg("--plain")
        .arg(&log)
        .output()
        .unwrap();
    let plain = String::from_utf8_lossy(&plain.stdout);
    assert!(
        plain.contains("✔ exit 0 after")
            && plain.contains(", sc/edit: 1 file changed, 1 insertion(+), 1 deletion(-)\n"),
        "{plain}"
    );
    // The stream is over: the whole of the page's stream, its last row.
    let (child, addr, token) = serving(&[log.to_str().unwrap()], Some(b""));
    let rows = events(&addr, &token, None);
    let last = rows
        .iter()
        .rev()
        .find(|(_, kind, _)| kind == "row")
        .map(|(_, _, data)| serde_json::from_str::<serde_json::Value>(data).unwrap())
        .expect("a row");
    assert_eq!(last["worktree"]["branch"], "sc/edit");
    assert_eq!(
        last["worktree"]["diff"],
        "1 file changed, 1 insertion(+), 1 deletion(-)"
    );
    if let Some(python) = crate::serve_steer::playwright() {
        let shown = crate::serve_steer::click(&python, &addr, &token, "diff", "serve-diff-shot");
        assert!(shown.contains("+<b>edited</b>"), "{shown}");
    }
    stop(child);
}

/// The rows the page has been sent so far (the event stream read for a
/// moment: it stays open while the stream is followed).
fn events_so_far(addr: &str, token: &str) -> String {
    use std::io::{Read, Write};
    let mut conn = std::net::TcpStream::connect(addr).unwrap();
    conn.set_read_timeout(Some(std::time::Duration::from_millis(200)))
        .unwrap();
    write!(
        conn,
        "GET /events HTTP/1.1\r\nHost: {addr}\r\nCookie: sc_view={token}\r\n\r\n"
    )
    .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 65536];
    while let Ok(n) = conn.read(&mut buf) {
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&got).into_owned()
}

/// A stream that names a worktree wrongly (its base an option for git,
/// its path not absolute): the diff is refused, git never runs with it.
#[test]
fn a_worktree_named_wrongly_by_the_stream_is_refused() {
    let dir = temp_dir("serve-worktree-hostile");
    let planted = dir.join("planted");
    let start = |worker: &str, path: &str, base: &str| {
        serde_json::json!({
            "type": "start", "worker": worker, "seq": 0, "ts": 1.0, "argv": ["sh"],
            "pid": 1, "cwd": path, "kind": "shell", "pty": false, "schema": 1,
            "worktree": {"path": path, "branch": "sc/x", "base": base},
        })
        .to_string()
            + "\n"
    };
    let stream = [
        start(
            "option",
            dir.to_str().unwrap(),
            &format!("--output={}", planted.display()),
        ),
        start("relative", "some/where", &"a".repeat(40)),
    ]
    .concat();
    let (child, addr, token) = serving(&[], Some(stream.as_bytes()));
    let cookie = format!("Cookie: sc_view={token}\r\n");
    eventually("both rows are on the page", || {
        get(&addr, "/diff?worker=relative", &cookie).0 != 404
    });
    let (status, _, body) = get(&addr, "/diff?worker=option", &cookie);
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("not a commit id"), "{body}");
    let (status, _, body) = get(&addr, "/diff?worker=relative", &cookie);
    assert_eq!(status, 410, "{body}");
    let (status, _, _) = get(&addr, "/diff?worker=nobody", &cookie);
    assert_eq!(status, 404);
    assert!(!planted.exists(), "git was given the stream's option");
    stop(child);
}
