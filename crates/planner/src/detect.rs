//! Reading a task's words: which roles it needs, in which order, and
//! whether it is several independent parts.

/// A role chosen for a task, and why (for `--explain`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pick {
    pub role: String,
    pub why: String,
}

fn words(task: &str) -> Vec<String> {
    task.split(|c: char| !c.is_alphanumeric() && c != '-' && c != '\'')
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

fn is_test_word(word: &str) -> bool {
    matches!(
        word,
        "test" | "tests" | "tested" | "testing" | "unit-tests" | "coverage" | "regression-test"
    )
}

fn is_docs_word(word: &str) -> bool {
    matches!(
        word,
        "doc"
            | "docs"
            | "documentation"
            | "documented"
            | "readme"
            | "manual"
            | "guide"
            | "tutorial"
            | "changelog"
    )
}

/// Words that say something is wrong: a defect to repair.
const DEFECT: &[&str] = &[
    "bug",
    "bugs",
    "buggy",
    "crash",
    "crashes",
    "crashed",
    "crashing",
    "broken",
    "breaks",
    "fail",
    "fails",
    "failed",
    "failing",
    "failure",
    "failures",
    "regression",
    "panic",
    "panics",
    "segfault",
    "segfaults",
    "race",
    "deadlock",
    "deadlocks",
    "hang",
    "hangs",
    "hanging",
    "leak",
    "leaks",
    "leaking",
    "wrong",
    "incorrect",
    "incorrectly",
    "error",
    "errors",
    "exception",
    "flaky",
    "corrupt",
    "corrupts",
    "corrupted",
    "500",
    "404",
    "doesn't",
    "don't",
    "can't",
    "cannot",
    "won't",
    "isn't",
    "aren't",
    "stopped",
    "misses",
    "missing",
    "ignores",
    "loses",
    "overflow",
    "overflows",
    "timeout",
    "timeouts",
    "stuck",
    "freezes",
];

/// Words that say something is too slow or too big.
const PERF: &[&str] = &[
    "faster",
    "slow",
    "slower",
    "slowly",
    "slowness",
    "performance",
    "latency",
    "p99",
    "p95",
    "p50",
    "throughput",
    "optimize",
    "optimise",
    "optimization",
    "profile",
    "profiling",
    "benchmark",
    "allocations",
    "memory",
    "cpu",
    "speed",
    "speedup",
    "sluggish",
    "quicker",
];

/// Verbs of restructuring that keeps behaviour.
const REFACTOR: &[&str] = &[
    "refactor",
    "restructure",
    "reorganize",
    "reorganise",
    "split",
    "rename",
    "extract",
    "deduplicate",
    "dedupe",
    "simplify",
    "modularize",
    "modularise",
    "decouple",
    "inline",
    "consolidate",
    "tidy",
    "clean",
    "cleanup",
];

/// What decided a role (for `--explain`).
fn found(words: &[String], list: &[&str]) -> Option<String> {
    words.iter().find(|w| list.contains(&w.as_str())).cloned()
}

/// The first word, past a polite `please`.
fn lead_verb(words: &[String]) -> (&str, &[String]) {
    match words.split_first() {
        Some((first, rest)) if first == "please" => match rest.split_first() {
            Some((verb, rest)) => (verb.as_str(), rest),
            None => ("", rest),
        },
        Some((first, rest)) => (first.as_str(), rest),
        None => ("", &[]),
    }
}

/// `with tests`, `and docs`, `plus unit tests`, `then update the README`:
/// a word of `kind` within four words after a joining word.
fn asks_for(words: &[String], kind: fn(&str) -> bool) -> Option<String> {
    for (i, word) in words.iter().enumerate() {
        if matches!(
            word.as_str(),
            "with" | "and" | "plus" | "including" | "then" | "also"
        ) && let Some(found) = words[i + 1..].iter().take(4).find(|w| kind(w))
        {
            return Some(format!("{word} … {found}"));
        }
    }
    None
}

/// The role that leads a task: what its sentence asks for as a whole. A
/// leading verb says it outright (`Fix`, `Refactor`, `Add tests for`);
/// otherwise the words of a defect report (`fails`, `crashes`, `returns
/// 500`, `Users report that …`) or of slowness (`slow`, `p99`, `takes 8
/// seconds`) decide; new functionality is the default.
pub fn lead_role(task: &str) -> Pick {
    let words = words(task);
    let (verb, rest) = lead_verb(&words);
    let object_is = |kind: fn(&str) -> bool| rest.iter().take(4).any(|w| kind(w));
    let pick = |role: &str, why: String| Pick {
        role: role.into(),
        why,
    };
    match verb {
        "fix" | "debug" | "repair" | "resolve" | "patch" | "investigate" | "diagnose" => {
            return pick(
                "bug-fixer",
                format!("it starts with `{verb}`: a defect to repair"),
            );
        }
        "speed" | "optimize" | "optimise" | "profile" | "accelerate" => {
            return pick(
                "performance-optimizer",
                format!("it starts with `{verb}`: making code faster"),
            );
        }
        "reduce" | "cut" | "lower" | "shrink" if found(&words, PERF).is_some() => {
            let word = found(&words, PERF).unwrap_or_default();
            return pick(
                "performance-optimizer",
                format!("`{verb}` … `{word}`: making code faster or smaller"),
            );
        }
        "document" => {
            return pick(
                "documentation-specialist",
                "it starts with `document`: documentation is the deliverable".into(),
            );
        }
        "test" => {
            return pick(
                "test-specialist",
                "it starts with `test`: tests are the deliverable".into(),
            );
        }
        "add" | "write" | "create" | "improve" | "increase" | "extend" | "expand" | "cover"
            if object_is(is_test_word) =>
        {
            return pick(
                "test-specialist",
                format!("`{verb}` … tests: tests are the deliverable"),
            );
        }
        "add" | "write" | "create" | "update" | "improve" | "expand" | "rewrite"
            if object_is(is_docs_word) =>
        {
            return pick(
                "documentation-specialist",
                format!("`{verb}` … documentation: documentation is the deliverable"),
            );
        }
        v if REFACTOR.contains(&v)
            || v == "move"
            || v == "merge"
            || v == "remove"
                && rest
                    .iter()
                    .take(2)
                    .any(|w| w == "duplication" || w == "duplicated" || w == "duplicate") =>
        {
            return pick(
                "refactoring-specialist",
                format!("it starts with `{verb}`: changing structure, not behaviour"),
            );
        }
        _ => {}
    }
    if let Some(word) = found(&words, DEFECT) {
        return pick(
            "bug-fixer",
            format!("it reports a defect (`{word}`): a defect to repair"),
        );
    }
    if let Some(word) = found(&words, PERF) {
        return pick(
            "performance-optimizer",
            format!("it mentions `{word}`: making code faster"),
        );
    }
    if let Some(at) = words.iter().position(|w| w == "takes" || w == "took") {
        if words
            .get(at + 1)
            .is_some_and(|w| w.chars().all(|c| c.is_ascii_digit() || c == '.'))
            && words.get(at + 2).is_some_and(|w| {
                w.starts_with("second") || w.starts_with("minute") || w == "ms" || w == "s"
            })
        {
            return pick(
                "performance-optimizer",
                format!(
                    "`{} {} {}`: too slow",
                    words[at],
                    words[at + 1],
                    words[at + 2]
                ),
            );
        }
    }
    if verb.is_empty() {
        return pick(
            "code-generator",
            "an empty task: writing code is the default".into(),
        );
    }
    pick(
        "code-generator",
        format!("it starts with `{verb}`: new functionality to write"),
    )
}

/// The roles a task needs: its lead, then the followers it asks for
/// (tests, documentation), which build on the lead's work.
pub fn pick_roles(task: &str) -> Vec<Pick> {
    let words = words(task);
    let lead = lead_role(task);
    let mut picks = vec![lead];
    let lead_role = picks[0].role.clone();
    let tests = asks_for(&words, is_test_word).or_else(|| {
        // `add a regression test`, `cover it with tests` after a fix.
        (lead_role != "test-specialist")
            .then(|| found(&words[1.min(words.len())..], &["regression-test"]))
            .flatten()
    });
    if lead_role != "test-specialist"
        && let Some(phrase) = tests
    {
        picks.push(Pick {
            role: "test-specialist".into(),
            why: format!("it asks for tests (`{phrase}`), after {lead_role}"),
        });
    }
    // `and document the new format` asks for documentation as a verb.
    let docs = asks_for(&words, |w| is_docs_word(w) || w == "document");
    if lead_role != "documentation-specialist"
        && let Some(phrase) = docs
    {
        picks.push(Pick {
            role: "documentation-specialist".into(),
            why: format!("it asks for documentation (`{phrase}`), after {lead_role}"),
        });
    }
    picks
}

/// What the task is about, as a few words for ids (`Speed up the JSON
/// encoder, it is too slow` → `json encoder`; `Fix the crash in the config
/// parser` → `config parser`; `Users report that login fails` → `login`).
pub fn subject(task: &str) -> String {
    // The first clause, without what follows the deliverable.
    let lower = task.to_lowercase();
    let mut clause = lower.as_str();
    for cut in [
        ", ",
        "; ",
        ": ",
        " - ",
        " because ",
        " so that ",
        " so ",
        " which ",
        " when ",
        " since ",
        " after ",
        " before ",
        " with ",
        " and ",
        " then ",
        " plus ",
    ] {
        if let Some(at) = clause.find(cut) {
            clause = &clause[..at];
        }
    }
    let mut words: Vec<&str> = clause
        .split(|c: char| !c.is_alphanumeric() && c != '-' && c != '\'' && c != '.')
        .map(|w| w.trim_matches('.'))
        .filter(|w| !w.is_empty())
        .collect();
    // A report: `Users report that …`, `It seems that …`; `There is …`.
    if let Some(at) = words.iter().position(|w| *w == "that")
        && at <= 3
    {
        words.drain(..=at);
    }
    if words.first() == Some(&"there") {
        words.drain(..words.len().min(2));
    }
    const LEADS: &[&str] = &[
        "please",
        "fix",
        "debug",
        "repair",
        "resolve",
        "patch",
        "investigate",
        "diagnose",
        "implement",
        "add",
        "write",
        "create",
        "build",
        "make",
        "support",
        "introduce",
        "speed",
        "optimize",
        "optimise",
        "profile",
        "reduce",
        "cut",
        "lower",
        "improve",
        "increase",
        "extend",
        "expand",
        "cover",
        "document",
        "update",
        "rewrite",
        "refactor",
        "restructure",
        "reorganize",
        "split",
        "rename",
        "extract",
        "deduplicate",
        "simplify",
        "clean",
        "tidy",
        "move",
        "merge",
        "remove",
        "delete",
        "drop",
        "replace",
        "migrate",
        "port",
        "upgrade",
        "test",
        "allow",
        "enable",
        "let",
        "teach",
        "handle",
        "up",
        "out",
        "down",
    ];
    while words.first().is_some_and(|w| LEADS.contains(w)) {
        words.remove(0);
    }
    const FILLER: &[&str] = &[
        "the", "a", "an", "our", "my", "its", "this", "these", "those", "all", "some", "new",
        "unit", "more", "proper", "better",
    ];
    words.retain(|w| !FILLER.contains(w));
    // `crash in X`, `tests for X`, `memory usage of X`: X is the subject.
    const ABOUT: &[&str] = &[
        "crash",
        "bug",
        "bugs",
        "race",
        "leak",
        "panic",
        "deadlock",
        "regression",
        "hang",
        "tests",
        "test",
        "coverage",
        "documentation",
        "docs",
        "usage",
        "latency",
        "performance",
        "speed",
        "duplication",
        "memory",
        "throughput",
        "support",
        "readme",
        "section",
    ];
    /// The second word of a two-word noun of the same kind (`memory usage`).
    const ABOUT2: &[&str] = &[
        "usage",
        "time",
        "coverage",
        "latency",
        "performance",
        "duplication",
        "tests",
        "leak",
        "section",
        "chapter",
        "page",
    ];
    const OF: &[&str] = &["in", "of", "for", "on", "around", "at", "between"];
    loop {
        let at = if words.len() > 2 && ABOUT.contains(&words[0]) && OF.contains(&words[1]) {
            1
        } else if words.len() > 3 && ABOUT2.contains(&words[1]) && OF.contains(&words[2]) {
            2
        } else {
            break;
        };
        words.drain(..=at);
        words.retain(|w| !FILLER.contains(w));
    }
    // The subject ends where a verb or a preposition begins.
    let stop = words
        .iter()
        .position(|w| {
            matches!(
                *w,
                "in" | "on"
                    | "to"
                    | "from"
                    | "for"
                    | "into"
                    | "by"
                    | "at"
                    | "when"
                    | "if"
                    | "is"
                    | "are"
                    | "was"
                    | "takes"
                    | "took"
                    | "returns"
                    | "gets"
                    | "has"
                    | "should"
                    | "must"
                    | "so"
                    | "because"
                    | "across"
                    | "without"
                    | "using"
                    | "via"
                    | "under"
                    | "over"
                    | "after"
                    | "that"
                    | "which"
                    | "who"
            )
        })
        .unwrap_or(words.len());
    // A defect's verb ends it too, past its first word (`flaky test` and
    // `broken links` keep theirs).
    let stop = words[..stop]
        .iter()
        .skip(1)
        .position(|w| DEFECT.contains(w))
        .map_or(stop, |at| at + 1);
    let subject: Vec<&str> = words[..stop].iter().take(4).copied().collect();
    subject.join(" ")
}

#[cfg(test)]
mod tests;
