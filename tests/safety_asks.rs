//! Answers bound to the request they were given for: ask ids unique within
//! a run (across attempts), a late answer to an ask that is gone refused
//! and said, policy commands with a deadline and a process group of their
//! own, and a broken policy failing closed.

use std::path::{Path, PathBuf};

use crate::util::*;

/// A fake Claude Code under `--ask`: each attempt (counted in `dir/n`)
/// asks to run `commands[attempt]` under the same request id, `r1`. The
/// first attempt exits 1 at once, without waiting for its answer (a retry
/// follows); a later one waits, and runs the command's stand-in (a marker
/// file named after the attempt) only when allowed.
fn fake_claude_asking(dir: &Path, commands: &[&str]) -> PathBuf {
    let cases: String = commands
        .iter()
        .enumerate()
        .map(|(i, c)| format!("{}) cmd='{c}';;\n", i + 1))
        .collect();
    let path = dir.join("claude");
    executable(
        &path,
        &format!(
            "#!/bin/sh\n\
             n=$(cat '{dir}/n' 2>/dev/null || echo 0); n=$((n+1)); echo $n > '{dir}/n'\n\
             case $n in\n{cases}esac\n\
             read prompt\n\
             echo '{{\"type\":\"system\",\"subtype\":\"init\",\"session_id\":\"s\",\"model\":\"claude-sonnet-4-5\"}}'\n\
             printf '%s\\n' \"{{\\\"type\\\":\\\"control_request\\\",\\\"request_id\\\":\\\"r1\\\",\\\"request\\\":{{\\\"subtype\\\":\\\"can_use_tool\\\",\\\"tool_name\\\":\\\"Bash\\\",\\\"input\\\":{{\\\"command\\\":\\\"$cmd\\\"}}}}}}\"\n\
             [ $n = 1 ] && exit 1\n\
             read answer\n\
             case \"$answer\" in *allow*) touch '{dir}'/ran-$n;; esac\n\
             echo '{{\"type\":\"result\",\"subtype\":\"success\",\"is_error\":false,\"result\":\"done\",\"session_id\":\"s\",\"total_cost_usd\":0.01}}'\n\
             while read line; do :; done\n",
            dir = dir.display()
        ),
    );
    path
}

fn sc_spawn_fake(fake: &Path, args: &[&str]) -> std::process::Command {
    let mut command = sc_spawn();
    command
        .args(["--kind", "claude-code", "--id", "w", "--prompt", "go"])
        .args(["--heartbeat", "0", "--kill-grace", "0.5", "--ask"])
        .args(["--retries", "1", "--retry-delay", "0.05"])
        .args(args)
        .env("SC_CLAUDE", fake);
    command
}

#[test]
fn a_policy_answer_for_an_earlier_attempt_never_reaches_a_later_ask() {
    let dir = temp_dir("stale-policy");
    let fake = fake_claude_asking(&dir, &["cat README", "rm -rf HOME"]);
    // Allows `cat README` only, and takes its time: its answer to attempt
    // 1 comes while attempt 2 waits on its own ask.
    let policy = "read ask; sleep 1; case \"$ask\" in *'cat README'*) echo allow;; *) sleep 1; echo deny no;; esac";
    let ran = run_bounded(
        &mut sc_spawn_fake(&fake, &["--ask-cmd", policy, "--ask-timeout", "20"]),
        Vec::new(),
    );
    let run = Captured::parse(&ran.stdout);
    let (asks, answers) = run.asks_and_answers();
    assert_eq!(asks.len(), 2, "{:?}", run.events);
    assert_ne!(
        asks[0].ask, asks[1].ask,
        "each ask its own id within the run"
    );
    assert!(
        !dir.join("ran-2").exists(),
        "the allow given for `cat README` ran `rm -rf HOME`: {:?}",
        run.events
    );
    let second: Vec<_> = answers.iter().filter(|a| a.ask == asks[1].ask).collect();
    assert_eq!(second.len(), 1, "{answers:?}");
    assert_eq!(
        (second[0].decision.as_str(), second[0].by.as_str()),
        ("deny", "command")
    );
    // The late answer is said, not dropped in silence.
    let errors = run.errors();
    assert!(
        errors
            .iter()
            .any(|e| e.contains(&asks[0].ask) && e.contains("no longer open")),
        "{errors:?}"
    );
    assert_view_checks(&ran.stdout);
}
