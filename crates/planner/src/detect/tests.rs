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
