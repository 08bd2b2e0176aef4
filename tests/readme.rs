//! The README's commands are commands: every line of its `sh` blocks is
//! run as a reader would type it (the workspace's binaries first on PATH,
//! in a scratch folder with a small cargo project and some logs to work
//! on) and must succeed; and every flag any of them gives an sc tool is
//! one that tool has. A line whose comment says what it `needs` (an agent
//! CLI and a key, ssh hosts, a Slurm cluster, root) is only checked for
//! its flags.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::*;

/// Lines not run, and why: what runs this very test, what installs or
/// writes outside the scratch folder, what opens a pager.
const NOT_RUN: &[(&str, &str)] = &[
    ("scripts/test", "it runs this test"),
    ("cargo install", "it installs into ~/.cargo"),
    ("man ", "it opens a pager"),
    ("scripts/gen-docs", "it rewrites the checkout's man pages"),
];

/// The commands of the README's ```sh blocks, continuation lines joined.
fn readme_commands() -> Vec<String> {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md");
    let mut commands = Vec::new();
    let mut in_block = false;
    let mut pending = String::new();
    for line in readme.lines() {
        if line.starts_with("```") {
            in_block = line == "```sh";
            continue;
        }
        if !in_block {
            continue;
        }
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(head) = line.strip_suffix('\\') {
            pending.push_str(head);
            continue;
        }
        pending.push_str(line);
        commands.push(std::mem::take(&mut pending));
    }
    commands
}

/// A command and its comment (after `  #`).
fn split_comment(line: &str) -> (&str, &str) {
    match line.find("  #") {
        Some(at) => (line[..at].trim_end(), line[at + 3..].trim()),
        None => (line, ""),
    }
}

fn binary(tool: &str) -> Option<&'static str> {
    Some(match tool {
        "sc-spawn" => env!("CARGO_BIN_EXE_sc-spawn"),
        "sc-view" => env!("CARGO_BIN_EXE_sc-view"),
        "sc-plan" => env!("CARGO_BIN_EXE_sc-plan"),
        "sc-merge" => env!("CARGO_BIN_EXE_sc-merge"),
        "sc-ctl" => env!("CARGO_BIN_EXE_sc-ctl"),
        "sc-replay" => env!("CARGO_BIN_EXE_sc-replay"),
        _ => return None,
    })
}

/// The flags each sc tool in `command` is given that its `--help` lacks.
/// (The README spaces its pipes and redirections, so words tell them.)
fn unknown_flags(command: &str) -> Vec<String> {
    let Some(words) = shlex::split(command) else {
        return vec![format!("cannot read the words of `{command}`")];
    };
    let mut unknown = Vec::new();
    for segment in words.split(|w| matches!(w.as_str(), "|" | "||" | "&&" | ";")) {
        let Some(tool) = segment.first().and_then(|w| binary(w)) else {
            continue;
        };
        let help = Command::new(tool).arg("--help").output().expect("--help");
        let help = String::from_utf8_lossy(&help.stdout).into_owned();
        for word in &segment[1..] {
            // The worker's own command, a template's inputs, or a
            // redirection follow.
            if matches!(word.as_str(), "--" | ":::" | "<" | ">") {
                break;
            }
            let flag = word.split('=').next().unwrap_or(word);
            let known = if flag.starts_with("--") {
                [" ", "[", "\n", ","]
                    .iter()
                    .any(|after| help.contains(&format!("{flag}{after}")))
            } else if flag.len() == 2 && flag.starts_with('-') {
                help.contains(&format!("{flag}, "))
            } else {
                true
            };
            if !known {
                unknown.push(format!("{}: {flag}", segment[0]));
            }
        }
    }
    unknown
}

/// A scratch folder to run the README's commands in: a small cargo
/// project (build, test, clippy, doc), some logs, and the checkout's
/// scripts.
fn scratch() -> PathBuf {
    let dir = temp_dir("readme");
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(
        dir.join("Cargo.toml"),
        "[package]\nname = \"scratch\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[workspace]\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("src/lib.rs"),
        "/// Adds.\npub fn add(a: u32, b: u32) -> u32 {\n    a + b\n}\n\n#[test]\nfn adds() {\n    assert_eq!(add(2, 2), 4);\n}\n",
    )
    .unwrap();
    for name in ["a.log", "b.log", "c.log"] {
        std::fs::write(dir.join(name), format!("{name}\n").repeat(1000)).unwrap();
    }
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::os::unix::fs::symlink(repo.join("scripts"), dir.join("scripts")).unwrap();
    dir
}

#[test]
fn every_readme_command_runs_and_every_flag_exists() {
    let commands = readme_commands();
    assert!(commands.len() >= 15, "the README's commands: {commands:?}");
    let mut unknown = Vec::new();
    for line in &commands {
        let (command, _) = split_comment(line);
        unknown.extend(unknown_flags(command));
    }
    assert!(unknown.is_empty(), "flags no tool has: {unknown:?}");

    if Command::new("jq").arg("--version").output().is_err() {
        engine_missing("the README's commands", "jq", "jq");
        return;
    }
    let dir = scratch();
    let bin = Path::new(env!("CARGO_BIN_EXE_sc-spawn")).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut ran = 0;
    for line in &commands {
        let (command, comment) = split_comment(line);
        if comment.contains("needs") || NOT_RUN.iter().any(|(start, _)| command.starts_with(start))
        {
            continue;
        }
        let out = run_bounded(
            Command::new("sh")
                .arg("-c")
                .arg(command)
                .current_dir(&dir)
                .env("PATH", &path)
                .env("CARGO_TARGET_DIR", dir.join("target"))
                .env_remove("GITHUB_ACTIONS")
                .env_remove("GITLAB_CI"),
            Vec::new(),
        );
        assert!(
            out.status.success(),
            "the README's `{command}` failed ({:?}):\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            out.stderr
        );
        ran += 1;
    }
    assert!(ran >= 10, "only {ran} of the README's commands ran");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The README is a page a newcomer reads in minutes; the reference is in
/// docs/ and the man pages, and every link between them leads somewhere.
#[test]
fn the_readme_is_short_and_its_links_lead_somewhere() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(repo.join("README.md")).unwrap();
    assert!(
        readme.lines().count() <= 450,
        "README.md: {} lines",
        readme.lines().count()
    );
    let mut pages = vec![repo.join("README.md")];
    for entry in std::fs::read_dir(repo.join("docs")).unwrap() {
        pages.push(entry.unwrap().path());
    }
    let mut broken = Vec::new();
    for page in &pages {
        let text = std::fs::read_to_string(page).unwrap();
        for (at, _) in text.match_indices("](") {
            let rest = &text[at + 2..];
            let Some(end) = rest.find(')') else { continue };
            let target = &rest[..end];
            if target.starts_with("http") || target.starts_with('#') {
                continue;
            }
            let file = target.split('#').next().unwrap();
            if !page.parent().unwrap().join(file).exists() {
                broken.push(format!("{}: {target}", page.display()));
            }
        }
    }
    assert!(broken.is_empty(), "links to nothing: {broken:?}");
}
