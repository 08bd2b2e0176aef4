//! Small readers of the agents' JSON, shared by every parser.

use serde_json::{Map, Value};

/// A string field of an object.
pub(crate) fn str_of<'a>(o: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    o.get(key)?.as_str()
}
