//! Reading a task's words: which roles it needs, in which order, and
//! whether it is several independent parts.

/// A role chosen for a task, and why (for `--explain`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pick {
    pub role: String,
    pub why: String,
}

fn words(task: &str) -> Vec<String> {
    task.split(|c: char| !c.is_alphanumeric() && c != '-')
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

fn is_test_word(word: &str) -> bool {
    matches!(word, "test" | "tests" | "tested" | "testing" | "unit-tests")
}

fn is_docs_word(word: &str) -> bool {
    matches!(
        word,
        "doc" | "docs" | "documentation" | "documented" | "readme" | "manual"
    )
}

/// `with tests`, `and docs`, `plus unit tests`: a word of `kind` within two
/// words after `with`, `and` or `plus`.
fn asks_for(words: &[String], kind: fn(&str) -> bool) -> Option<String> {
    for (i, word) in words.iter().enumerate() {
        if matches!(word.as_str(), "with" | "and" | "plus" | "including") {
            if let Some(found) = words[i + 1..].iter().take(3).find(|w| kind(w)) {
                return Some(format!("{word} … {found}"));
            }
        }
    }
    None
}

/// The roles a task needs, in order: each depends on the one before.
pub fn pick_roles(task: &str) -> Vec<Pick> {
    let words = words(task);
    let first = words.first().map(String::as_str).unwrap_or("");
    let has = |list: &[&str]| words.iter().find(|w| list.contains(&w.as_str())).cloned();
    let early_tests = words.iter().skip(1).take(3).any(|w| is_test_word(w));
    let early_docs = words.iter().skip(1).take(3).any(|w| is_docs_word(w));

    let primary = if matches!(first, "fix" | "debug" | "repair" | "resolve" | "patch") {
        Pick {
            role: "bug-fixer".into(),
            why: format!("the task starts with `{first}`: a defect to repair"),
        }
    } else if let Some(word) = has(&[
        "crash",
        "crashes",
        "bug",
        "broken",
        "regression",
        "panic",
        "panics",
        "segfault",
    ]) {
        Pick {
            role: "bug-fixer".into(),
            why: format!("the task mentions `{word}`: a defect to repair"),
        }
    } else if first == "speed" || first == "optimize" || first == "optimise" {
        Pick {
            role: "performance-optimizer".into(),
            why: format!("the task starts with `{first}`: making code faster"),
        }
    } else if let Some(word) = has(&[
        "faster",
        "performance",
        "latency",
        "throughput",
        "slow",
        "optimize",
        "optimise",
    ]) {
        Pick {
            role: "performance-optimizer".into(),
            why: format!("the task mentions `{word}`: making code faster"),
        }
    } else if let Some(word) = has(&[
        "refactor",
        "restructure",
        "cleanup",
        "simplify",
        "deduplicate",
    ]) {
        Pick {
            role: "refactoring-specialist".into(),
            why: format!("the task mentions `{word}`: changing structure, not behaviour"),
        }
    } else if matches!(
        first,
        "add" | "write" | "create" | "improve" | "increase" | "extend" | "test"
    ) && early_tests
        || first == "test"
    {
        Pick {
            role: "test-specialist".into(),
            why: "the task asks for tests and nothing else".into(),
        }
    } else if first == "document"
        || matches!(first, "add" | "write" | "update" | "improve") && early_docs
    {
        Pick {
            role: "documentation-specialist".into(),
            why: "the task asks for documentation and nothing else".into(),
        }
    } else if first.is_empty() {
        Pick {
            role: "code-generator".into(),
            why: "an empty task: writing code is the default".into(),
        }
    } else {
        Pick {
            role: "code-generator".into(),
            why: format!("the task starts with `{first}`: new code to write"),
        }
    };

    let mut picks = vec![primary];
    if picks[0].role != "test-specialist"
        && let Some(phrase) = asks_for(&words, is_test_word)
    {
        picks.push(Pick {
            role: "test-specialist".into(),
            why: format!(
                "the task asks for tests (`{phrase}`), after {}",
                picks[0].role
            ),
        });
    }
    if picks[0].role != "documentation-specialist"
        && let Some(phrase) = asks_for(&words, is_docs_word)
    {
        let after = picks.last().map_or(String::new(), |p| p.role.clone());
        picks.push(Pick {
            role: "documentation-specialist".into(),
            why: format!("the task asks for documentation (`{phrase}`), after {after}"),
        });
    }
    picks
}

/// A task of several independent parts: `VERB a, b and c[, each QUALIFIER]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parts {
    pub verb: String,
    pub parts: Vec<String>,
    /// What applies to each part (`with tests`), possibly empty.
    pub each: String,
}

impl Parts {
    /// The task for one part: `Implement login with tests`.
    pub fn task(&self, part: &str) -> String {
        [self.verb.as_str(), part, self.each.as_str()]
            .iter()
            .filter(|s| !s.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// The parts of a task, when it clearly lists several things to do apart:
/// an enumeration whose last item is joined with `and` (`login, password
/// reset and audit logging`), or one that says `each` (`login and logout,
/// each with tests`). A comma alone is not a list: `Speed up the JSON
/// encoder, it is too slow` is one task, and so is `Implement OAuth2 with
/// tests and docs`.
pub fn split_parts(task: &str) -> Option<Parts> {
    let task = task.trim().trim_end_matches('.');
    let (body, each) = match task.find(", each ").or_else(|| task.find(" each ")) {
        Some(at) => {
            let rest = task[at..].trim_start_matches(',').trim();
            (task[..at].trim(), rest.trim_start_matches("each").trim())
        }
        None => (task, ""),
    };
    if !body.contains(',') && each.is_empty() {
        return None;
    }
    let (verb, object) = body.split_once(' ')?;
    let chunks: Vec<&str> = object.split(',').map(str::trim).collect();
    // An enumeration ends in `and`/`or` (`a, b and c`, `a, b, and c`).
    let last = chunks.last().copied().unwrap_or_default();
    let joined = last.starts_with("and ")
        || last.starts_with("or ")
        || last.contains(" and ")
        || last.contains(" or ");
    if chunks.len() > 1 && !joined {
        return None;
    }
    let mut parts = Vec::new();
    for chunk in chunks {
        let chunk = chunk
            .strip_prefix("and ")
            .or_else(|| chunk.strip_prefix("or "))
            .unwrap_or(chunk);
        for part in chunk.split(" and ").flat_map(|p| p.split(" or ")) {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            if !is_item(part) {
                return None;
            }
            parts.push(part.to_owned());
        }
    }
    (parts.len() >= 2).then(|| Parts {
        verb: verb.to_owned(),
        parts,
        each: each.to_owned(),
    })
}

/// Whether `part` reads like an item of a list (a short noun phrase), not a
/// clause of its own (`it is too slow`, `which breaks the build`).
fn is_item(part: &str) -> bool {
    const CLAUSE: &[&str] = &[
        "it", "it's", "its", "is", "are", "was", "were", "this", "that", "which", "because", "but",
        "so", "since", "they", "we", "i", "too", "when", "if", "then", "does", "doesn't", "don't",
        "fails", "breaks",
    ];
    let words: Vec<String> = part
        .split_whitespace()
        .map(|w| w.to_ascii_lowercase())
        .collect();
    words.len() <= 6 && !words.iter().any(|w| CLAUSE.contains(&w.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roles(task: &str) -> Vec<String> {
        pick_roles(task).into_iter().map(|p| p.role).collect()
    }

    #[test]
    fn roles_from_the_task_words() {
        assert_eq!(
            roles("Implement OAuth2 authentication with tests and docs"),
            [
                "code-generator",
                "test-specialist",
                "documentation-specialist"
            ]
        );
        assert_eq!(roles("Fix the crash in the config parser"), ["bug-fixer"]);
        assert_eq!(roles("The exporter crashes on empty input"), ["bug-fixer"]);
        assert_eq!(
            roles("Speed up the JSON encoder"),
            ["performance-optimizer"]
        );
        assert_eq!(
            roles("Refactor the session store"),
            ["refactoring-specialist"]
        );
        assert_eq!(
            roles("Add unit tests for the tokenizer"),
            ["test-specialist"]
        );
        assert_eq!(
            roles("Document the public API"),
            ["documentation-specialist"]
        );
        assert_eq!(roles("Add a --verbose flag"), ["code-generator"]);
        assert_eq!(
            roles("Fix the login bug and add tests"),
            ["bug-fixer", "test-specialist"]
        );
    }

    #[test]
    fn every_pick_says_why() {
        for pick in pick_roles("Implement OAuth2 authentication with tests and docs") {
            assert!(!pick.why.is_empty());
        }
        assert!(
            pick_roles("Implement X with tests")[1]
                .why
                .contains("after code-generator")
        );
    }

    #[test]
    fn independent_parts() {
        let parts =
            split_parts("Implement login, password reset and audit logging, each with tests")
                .unwrap();
        assert_eq!(parts.parts, ["login", "password reset", "audit logging"]);
        assert_eq!(
            parts.task(&parts.parts[1]),
            "Implement password reset with tests"
        );
        assert_eq!(
            split_parts("Implement OAuth2 authentication with tests and docs"),
            None
        );
        assert_eq!(split_parts("Fix the crash"), None);
        let parts = split_parts("Add search, filters, and export").unwrap();
        assert_eq!(parts.parts, ["search", "filters", "export"]);
        assert_eq!(parts.each, "");
    }

    #[test]
    fn a_comma_is_not_a_list() {
        for task in [
            "Speed up the JSON encoder, it is too slow",
            "Fix the parser, it crashes on empty input",
            "Refactor the session store, which is hard to follow",
            "Add a cache, then measure it",
        ] {
            assert!(split_parts(task).is_none(), "{task}");
        }
        let parts =
            split_parts("Implement login, password reset and audit logging, each with tests")
                .expect("an enumeration");
        assert_eq!(parts.parts, ["login", "password reset", "audit logging"]);
        let parts = split_parts("Add export to CSV, JSON, and YAML").expect("an enumeration");
        assert_eq!(parts.parts, ["export to CSV", "JSON", "YAML"]);
    }
}
