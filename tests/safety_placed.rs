//! Placed tasks kept to what they promise: host names that cannot reach
//! a shell through ssh's config, worktrees that are made where the agent
//! runs or refused, tasks naming a host that do not wait for `--hosts`
//! slots, and a plan's budget that holds across hosts.

use sc_events::Body;

use crate::util::{Captured, run_bounded, sc_spawn};

/// A host name reaches ssh, and through `ProxyCommand %h` or `Match exec`
/// a shell: one with `$ ( ) ; |` or quotes in it is refused before ssh
/// runs, in a plan line (the task fails, the rest runs) and in `--hosts`
/// (a usage error).
#[test]
fn host_names_with_shell_characters_are_refused() {
    let planted = std::env::temp_dir().join(format!("sc-pwned-{}", std::process::id()));
    let evil = format!("lab$(touch {})", planted.display());
    let plan = [
        serde_json::json!({"type": "task", "worker": "evil", "seq": 0, "ts": 1.0,
            "id": "evil", "host": evil, "argv": ["true"]}),
        serde_json::json!({"type": "task", "worker": "fine", "seq": 1, "ts": 1.0,
            "id": "fine", "argv": ["echo", "ran"]}),
    ]
    .map(|t| format!("{t}\n"))
    .concat();
    let ran = run_bounded(&mut sc_spawn(), plan.into_bytes());
    let run = Captured::parse(&ran.stdout);
    let exits = run.exits();
    let code = |id: &str| exits.iter().find(|(w, _)| *w == id).map(|(_, e)| e.code);
    assert_eq!(code("evil"), Some(Some(127)), "{:?}", run.errors());
    assert_eq!(code("fine"), Some(Some(0)));
    assert!(
        run.events.iter().any(|e| matches!(&e.body,
        Body::Error(error) if error.message.contains("no host name")
            && error.message.contains("`$`"))),
        "{:?}",
        run.errors()
    );
    assert!(!planted.exists());

    for hosts in ["a;b", "2/lab|x", "x'y", "lab`id`"] {
        let ran = run_bounded(
            sc_spawn().args(["--hosts", hosts]),
            b"{\"type\":\"task\",\"worker\":\"t\",\"seq\":0,\"ts\":1.0,\"id\":\"t\",\"argv\":[\"true\"]}\n"
                .to_vec(),
        );
        assert_eq!(ran.status.code(), Some(2), "--hosts {hosts}");
        let stderr = &ran.stderr;
        assert!(stderr.contains("no host name"), "--hosts {hosts}: {stderr}");
    }
}
