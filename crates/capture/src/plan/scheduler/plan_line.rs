//! Plan lines that are not whole events: a task written by hand without
//! the common fields (made whole), and a task whose fields are of the
//! wrong type (each one named).

use sc_events::{Task, now_ts};

/// A `task` line without `seq`, `ts`, or one of `worker` and `id` (they
/// name the same thing), made whole: seq 0, ts now. None for anything
/// else, and for a line that lacks none of them (it is malformed some
/// other way).
pub(super) fn completed_task_line(line: &[u8]) -> Option<Vec<u8>> {
    let serde_json::Value::Object(mut fields) = serde_json::from_slice(line).ok()? else {
        return None;
    };
    if fields.get("type").and_then(|t| t.as_str()) != Some("task") {
        return None;
    }
    let name = fields
        .get("worker")
        .or_else(|| fields.get("id"))
        .and_then(|n| n.as_str())
        .filter(|n| !n.is_empty())?
        .to_owned();
    if ["worker", "id", "seq", "ts"]
        .iter()
        .all(|key| fields.contains_key(*key))
    {
        return None;
    }
    // The four common fields first, as every event has them; then the
    // task's own (the line is rewritten once more, restamped, when taken).
    let mut whole = format!(
        "{{\"type\":\"task\",\"worker\":{},\"seq\":0,\"ts\":{},\"id\":{}",
        serde_json::Value::from(name.clone()),
        now_ts(),
        serde_json::Value::from(name)
    );
    for key in ["type", "worker", "seq", "ts", "id"] {
        fields.remove(key);
    }
    for (key, value) in fields {
        whole.push(',');
        whole.push_str(&serde_json::Value::from(key).to_string());
        whole.push(':');
        whole.push_str(&value.to_string());
    }
    whole.push_str("}\n");
    Some(whole.into_bytes())
}

/// Which fields of a malformed task line are of the wrong type, each with
/// serde's word on it (serde names the type, not the field: each field is
/// tried alone to find it).
pub(super) fn wrong_fields(line: &[u8]) -> Option<String> {
    let serde_json::Value::Object(fields) = serde_json::from_slice(line).ok()? else {
        return None;
    };
    let problems: Vec<String> = fields
        .iter()
        .filter(|(name, _)| !matches!(name.as_str(), "type" | "worker" | "seq" | "ts"))
        .filter_map(|(name, value)| {
            let mut alone = serde_json::Map::new();
            alone.insert("id".into(), "x".into());
            alone.insert(name.clone(), value.clone());
            serde_json::from_value::<Task>(serde_json::Value::Object(alone))
                .err()
                .map(|e| format!("field `{name}` is {value}: {e}"))
        })
        .collect();
    (!problems.is_empty()).then(|| problems.join("; "))
}
