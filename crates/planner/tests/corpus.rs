//! The rule planner on a corpus of ordinary task sentences, each with the
//! plan a person would expect: the lead role (and the followers asked for),
//! the lead's id, or the parts of a clear enumeration. The score is printed;
//! every sentence must come out right (a miss is a regression).

use sc_planner::roles::Catalogue;
use sc_planner::{PlanOptions, plan};
use serde_json::Value;

#[test]
fn the_corpus_comes_out_right() {
    let corpus: Vec<Value> = serde_json::from_str(include_str!("corpus.json")).unwrap();
    assert!(corpus.len() >= 40);
    let opts = PlanOptions {
        kind: "claude-code".into(),
        roles: None,
        catalogue: Catalogue::built_in(),
        sc_plan: "sc-plan".into(),
        sc_spawn: "sc-spawn".into(),
        demo: false,
        within: None,
    };
    let mut misses = Vec::new();
    for case in &corpus {
        let task = case["task"].as_str().unwrap();
        let plan = plan(task, &opts).unwrap();
        let got: Value = if case.get("parts").is_some() {
            serde_json::json!({"parts": plan.tasks.iter().map(|t| t.id.clone()).collect::<Vec<_>>()})
        } else {
            serde_json::json!({
                "roles": plan.tasks.iter().map(|t| t.role.clone()).collect::<Vec<_>>(),
                "id": plan.tasks[0].id,
            })
        };
        let mut want = case.clone();
        want.as_object_mut().unwrap().remove("task");
        if got != want {
            misses.push(format!("{task}\n    want {want}\n    got  {got}"));
        }
        // No agent ever receives a fragment: every prompt holds the sentence.
        for t in &plan.tasks {
            assert!(t.prompt.as_deref().unwrap().contains(task), "{task}: {t:?}");
        }
        // Followers need the lead's work, not each other's.
        for t in plan.tasks.iter().skip(1) {
            if t.role.as_deref() != Some("meta-orchestrator") {
                assert_eq!(t.depends_on, [plan.tasks[0].id.clone()], "{task}");
            }
        }
    }
    let right = corpus.len() - misses.len();
    println!("rule planner corpus: {right}/{} right", corpus.len());
    assert!(
        misses.is_empty(),
        "{}/{} right; misses:\n{}",
        right,
        corpus.len(),
        misses.join("\n")
    );
}
