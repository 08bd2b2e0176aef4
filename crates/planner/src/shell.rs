//! `sc-plan --kind shell`: command lines as tasks, one each, named by what
//! tells them apart (`cargo build`, `cargo test` → `build`, `test`) or by
//! the user (`build='cargo build'`); and GNU parallel's templates:
//! `sc-plan --kind shell 'gzip -9 {}' ::: *.log` makes a task per input,
//! named by it, as `parallel --tag` shows it.

use sc_events::Task;

use crate::{Plan, shell_quote, slug, unique_id};

/// Each command line a task, run as given (`sh -c`). A line of
/// `NAME=COMMAND` (a name of lowercase letters, digits and `-`, starting
/// with a letter) names its task; `:::` makes the words before it
/// templates and those after it their inputs.
pub fn plan_commands(words: &[String]) -> Plan {
    match words.iter().position(|w| w == ":::") {
        Some(at) => plan_template(&words[..at], &words[at + 1..]),
        None => plan_lines(words),
    }
}

fn plan_lines(commands: &[String]) -> Plan {
    let named: Vec<(Option<&str>, &str)> = commands.iter().map(|c| named(c)).collect();
    let unnamed: Vec<&str> = named
        .iter()
        .filter(|(name, _)| name.is_none())
        .map(|(_, c)| *c)
        .collect();
    let common = common_words(&unnamed);
    let mut tasks: Vec<Task> = Vec::new();
    let mut explanation = Vec::new();
    for (name, command) in named {
        let wanted = match name {
            Some(name) => name.to_owned(),
            None => slug(&telling_word(command, common)),
        };
        let id = unique_id(&wanted, &tasks);
        explanation.push(format!("{id}: runs `{command}` as given"));
        tasks.push(shell_task(id, command.to_owned()));
    }
    Plan { tasks, explanation }
}

/// `build=cargo build` → (`build`, `cargo build`); anything else (an
/// environment assignment is upper case: `CC=clang make`) is a command.
fn named(line: &str) -> (Option<&str>, &str) {
    if let Some((name, command)) = line.split_once('=') {
        let is_name = name.starts_with(|c: char| c.is_ascii_lowercase())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if is_name && !command.trim().is_empty() && !command.starts_with('=') {
            return (Some(name), command.trim());
        }
    }
    (None, line)
}

/// How many leading words all the command lines share (none for one).
fn common_words(commands: &[&str]) -> usize {
    if commands.len() < 2 {
        return 0;
    }
    let words: Vec<Vec<&str>> = commands
        .iter()
        .map(|c| c.split_whitespace().collect())
        .collect();
    let shortest = words.iter().map(Vec::len).min().unwrap_or(0);
    (0..shortest)
        .take_while(|&i| words.iter().all(|w| w[i] == words[0][i]))
        .count()
}

/// The word that tells a command line from the others: the first after
/// the words they share (`cargo test` among `cargo …` → `test`), else its
/// program's name (`./build.sh --all` → `build.sh`).
fn telling_word(command: &str, common: usize) -> String {
    let words: Vec<&str> = command.split_whitespace().collect();
    let word = words
        .get(common)
        .filter(|w| !w.starts_with('-'))
        .or(words.first())
        .copied()
        .unwrap_or("cmd");
    word.rsplit('/').next().unwrap_or(word).to_owned()
}

/// GNU parallel's replacement strings in `template`, for `input` (job
/// `number`); each value shell-quoted, as parallel quotes them: an input is
/// data, never a command. A template with none gets the input at its end.
fn fill(template: &str, input: &str, number: usize) -> String {
    let base = input.rsplit('/').next().unwrap_or(input);
    let dir = match input.rsplit_once('/') {
        Some(("", _)) => "/",
        Some((dir, _)) => dir,
        None => ".",
    };
    let no_ext = |path: &str| -> String {
        match path.rsplit_once('.') {
            Some((stem, _)) if !stem.is_empty() && !stem.ends_with('/') => stem.to_owned(),
            _ => path.to_owned(),
        }
    };
    let strings = [
        ("{//}", shell_quote(dir)),
        ("{/.}", shell_quote(&no_ext(base))),
        ("{/}", shell_quote(base)),
        ("{.}", shell_quote(&no_ext(input))),
        ("{#}", number.to_string()),
        ("{}", shell_quote(input)),
    ];
    let mut out = String::new();
    let mut rest = template;
    let mut replaced = false;
    'scan: while !rest.is_empty() {
        for (pattern, value) in &strings {
            if let Some(after) = rest.strip_prefix(pattern) {
                out.push_str(value);
                rest = after;
                replaced = true;
                continue 'scan;
            }
        }
        let mut chars = rest.chars();
        out.extend(chars.next());
        rest = chars.as_str();
    }
    if !replaced {
        out.push(' ');
        out.push_str(&shell_quote(input));
    }
    out
}

/// A task per input (and template), named by the input.
fn plan_template(templates: &[String], inputs: &[String]) -> Plan {
    let mut tasks: Vec<Task> = Vec::new();
    let mut explanation = Vec::new();
    let templates: Vec<&str> = templates.iter().map(String::as_str).collect();
    for (n, input) in inputs.iter().enumerate() {
        for (t, template) in templates.iter().enumerate() {
            let command = fill(template, input, n + 1);
            let wanted = match templates.len() {
                1 => slug(input),
                _ => format!("{}-{}", slug(input), t + 1),
            };
            let id = unique_id(&wanted, &tasks);
            explanation.push(format!("{id}: runs `{command}`"));
            tasks.push(shell_task(id, command));
        }
    }
    Plan { tasks, explanation }
}

fn shell_task(id: String, command: String) -> Task {
    Task {
        id,
        kind: Some("shell".into()),
        argv: Some(vec!["sh".into(), "-c".into(), command]),
        ..Task::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(plan: &Plan) -> Vec<&str> {
        plan.tasks.iter().map(|t| t.id.as_str()).collect()
    }

    fn script(plan: &Plan, i: usize) -> &str {
        &plan.tasks[i].argv.as_ref().unwrap()[2]
    }

    fn words(list: &[&str]) -> Vec<String> {
        list.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn tasks_are_named_by_what_tells_them_apart() {
        let plan = plan_commands(&words(&["cargo build", "cargo test", "cargo clippy --all"]));
        assert_eq!(ids(&plan), ["build", "test", "clippy"]);
        let plan = plan_commands(&words(&["./build.sh --all", "make", "make docs"]));
        assert_eq!(ids(&plan), ["build-sh", "make", "make-2"]);
        let plan = plan_commands(&words(&["cargo test --all", "cargo test --doc"]));
        assert_eq!(ids(&plan), ["cargo", "cargo-2"]);
        assert_eq!(script(&plan, 1), "cargo test --doc");
    }

    #[test]
    fn a_name_may_be_given() {
        let plan = plan_commands(&words(&[
            "unit=cargo test",
            "CC=clang make",
            "docs=mdbook build",
        ]));
        assert_eq!(ids(&plan), ["unit", "cc-clang", "docs"]);
        assert_eq!(script(&plan, 0), "cargo test");
        assert_eq!(script(&plan, 1), "CC=clang make");
    }

    #[test]
    fn templates_as_gnu_parallel_fills_them() {
        let plan = plan_commands(&words(&["gzip -9 {}", ":::", "logs/a.log", "b c.log"]));
        assert_eq!(ids(&plan), ["logs-a-log", "b-c-log"]);
        assert_eq!(script(&plan, 0), "gzip -9 logs/a.log");
        assert_eq!(script(&plan, 1), "gzip -9 'b c.log'");
        assert_eq!(
            fill("mv {} {.}.gz {/} {//} {/.} {#}", "d/x.tar", 3),
            "mv d/x.tar d/x.gz x.tar d x 3"
        );
        assert_eq!(fill("echo", "$(rm -rf ~)", 1), "echo '$(rm -rf ~)'");
        assert_eq!(fill("wc -l {}", "it's", 1), r"wc -l 'it'\''s'");
    }
}
