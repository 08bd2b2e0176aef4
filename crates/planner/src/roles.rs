//! The role catalogue: what each role does, how long it may take, what its
//! agent may do. It is data (`roles.json`, built in), and a user's
//! `--roles-file` of the same form replaces or adds roles by name.

use std::collections::BTreeMap;

use sc_events::Limits;
use serde::Deserialize;
use serde_json::Value;

/// One role.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Role {
    /// `code-generator`, `test-specialist`, ...
    pub name: String,
    /// The short task id the role's task gets (`code`, `tests`, ...).
    pub id: String,
    pub timeout_s: f64,
    /// What the agent is told to do and not to do.
    pub instructions: String,
    /// The verb that opens the role's prompt (`Write and run tests for`).
    pub ask: String,
    /// Per agent kind: the least-privilege grant (tools, sandbox, approval).
    #[serde(default)]
    pub permissions: BTreeMap<String, Value>,
    #[serde(default)]
    pub limits: Option<Limits>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Catalogue {
    pub roles: Vec<Role>,
}

const BUILT_IN: &str = include_str!("roles.json");

impl Catalogue {
    /// The roles sc-plan knows without a roles file.
    pub fn built_in() -> Catalogue {
        serde_json::from_str(BUILT_IN).expect("the built-in roles.json is valid")
    }

    /// Read a roles file and lay it over these roles: a role of the same
    /// name is replaced, a new one added.
    pub fn overlay(&mut self, json: &str) -> Result<(), String> {
        let file: Catalogue = serde_json::from_str(json).map_err(|e| {
            format!("not a roles file ({e}); the form is {{\"roles\": [{{\"name\": ..., \"id\": ..., \"timeout_s\": ..., \"instructions\": ..., \"ask\": ...}}]}}")
        })?;
        for role in file.roles {
            // A wild timeout would panic where it becomes a duration: said
            // here, naming the role, before anything runs.
            if sc_events::duration_from_secs(role.timeout_s).is_none() {
                return Err(format!(
                    "role `{}`: `timeout_s` is {:?}: give a number of seconds from 0 to {} (0 for no timeout)",
                    role.name,
                    role.timeout_s,
                    sc_events::MAX_SECS as u64
                ));
            }
            match self.roles.iter_mut().find(|r| r.name == role.name) {
                Some(existing) => *existing = role,
                None => self.roles.push(role),
            }
        }
        Ok(())
    }

    pub fn get(&self, name: &str) -> Option<&Role> {
        self.roles.iter().find(|r| r.name == name)
    }

    pub fn names(&self) -> Vec<&str> {
        self.roles.iter().map(|r| r.name.as_str()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_roles_and_their_timeouts() {
        let catalogue = Catalogue::built_in();
        let timeouts: Vec<(&str, f64)> = catalogue
            .roles
            .iter()
            .map(|r| (r.name.as_str(), r.timeout_s))
            .collect();
        assert_eq!(
            timeouts,
            [
                ("code-generator", 600.0),
                ("test-specialist", 1800.0),
                ("documentation-specialist", 900.0),
                ("refactoring-specialist", 2400.0),
                ("bug-fixer", 1200.0),
                ("performance-optimizer", 3600.0),
                ("meta-orchestrator", 7200.0),
            ]
        );
        let docs = catalogue.get("documentation-specialist").unwrap();
        assert_eq!(
            docs.permissions["claude-code"]["disallowed_tools"][0],
            "Bash"
        );
    }

    #[test]
    fn every_agent_role_has_a_grant_for_every_agent_kind() {
        // A kind without one would run with its CLI's defaults: not least
        // privilege.
        for role in Catalogue::built_in().roles {
            if role.permissions.is_empty() {
                continue; // the meta-orchestrator runs no agent
            }
            for kind in sc_events::AGENT_KINDS {
                assert!(
                    role.permissions.contains_key(kind.name),
                    "{} has no grant for {}",
                    role.name,
                    kind.name
                );
            }
        }
    }

    #[test]
    fn a_roles_file_replaces_and_adds() {
        let mut catalogue = Catalogue::built_in();
        catalogue
            .overlay(r#"{"roles":[{"name":"bug-fixer","id":"fix","timeout_s":60,"instructions":"x","ask":"Fix"},
                {"name":"security-auditor","id":"audit","timeout_s":900,"instructions":"Audit.","ask":"Audit","limits":{"cpu_s":600}}]}"#)
            .unwrap();
        assert_eq!(catalogue.get("bug-fixer").unwrap().timeout_s, 60.0);
        assert_eq!(
            catalogue
                .get("security-auditor")
                .unwrap()
                .limits
                .as_ref()
                .unwrap()
                .cpu_s,
            Some(600)
        );
        for wild in ["1e300", "-1"] {
            let error = catalogue
                .overlay(&format!(
                    r#"{{"roles":[{{"name":"slow","id":"s","timeout_s":{wild},"instructions":"x","ask":"Do"}}]}}"#
                ))
                .unwrap_err();
            assert!(error.contains("role `slow`: `timeout_s`"), "{error}");
        }
        assert!(
            catalogue
                .overlay("{}")
                .unwrap_err()
                .contains("not a roles file")
        );
    }
}
