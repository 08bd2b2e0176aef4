//! A task of several independent parts (`Implement login, password reset
//! and audit logging, each with tests`), told apart from a sentence that
//! only has commas in it.

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
