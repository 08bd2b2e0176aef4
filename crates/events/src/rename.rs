//! Renaming an event line: a new `worker` and `seq` (and, for a task, the
//! `id` that equals its worker), every other field kept exactly as it was
//! written (values byte for byte, fields in their order).
//!
//! Tools that merge or nest streams must keep ids unique without touching
//! what they do not understand: a field added by a newer producer passes
//! through a rename unchanged.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

use crate::reader::ReadError;
use crate::writer::push_json_str;

/// The top-level fields of a JSON object, in order, values unparsed.
struct Fields<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'de> Deserialize<'de> for Fields<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FieldsVisitor;
        impl<'de> Visitor<'de> for FieldsVisitor {
            type Value = Fields<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fields<'de>, A::Error> {
                let mut fields = Vec::with_capacity(map.size_hint().unwrap_or(8));
                while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                    fields.push((key, map.next_value::<&'de RawValue>()?));
                }
                Ok(Fields(fields))
            }
        }
        deserializer.deserialize_map(FieldsVisitor)
    }
}

/// Append `line` to `out` with its `worker` set to `worker` and its `seq` to
/// `seq`, and a final newline. The line must be a JSON object; whether it is
/// an event is not checked again here: every caller has read its head
/// ([`crate::parse_head`]) first, and this is on sc-merge's path.
pub fn rename_line(
    line: &[u8],
    worker: &str,
    seq: u64,
    out: &mut Vec<u8>,
) -> Result<(), ReadError> {
    restamp_line(line, worker, seq, None, out)
}

/// [`rename_line`], and with `ts` its `ts` set too (sc-spawn stamps the
/// task lines it takes with the time it took them: a plan file's own time
/// is when it was written, not when its tasks were queued).
pub fn restamp_line(
    line: &[u8],
    worker: &str,
    seq: u64,
    ts: Option<f64>,
    out: &mut Vec<u8>,
) -> Result<(), ReadError> {
    let text = std::str::from_utf8(line.strip_suffix(b"\n").unwrap_or(line)).map_err(|e| {
        ReadError::NotUtf8 {
            valid_up_to: e.valid_up_to(),
        }
    })?;
    let fields: Fields<'_> =
        serde_json::from_str(text).map_err(|e| ReadError::NotJson(e.to_string()))?;
    out.push(b'{');
    let mut seen_worker = false;
    let mut seen_seq = false;
    // A task's `id` is its worker id: renamed with it.
    let task = fields
        .0
        .iter()
        .any(|(k, v)| k == "type" && v.get() == "\"task\"");
    let mut seen_id = false;
    let mut seen_ts = false;
    for (i, (key, value)) in fields.0.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        push_json_str(out, key);
        out.push(b':');
        match key.as_ref() {
            "worker" if !seen_worker => {
                seen_worker = true;
                push_json_str(out, worker);
            }
            "seq" if !seen_seq => {
                seen_seq = true;
                out.extend_from_slice(itoa::Buffer::new().format(seq).as_bytes());
            }
            "id" if task && !seen_id => {
                seen_id = true;
                push_json_str(out, worker);
            }
            "ts" if !seen_ts && ts.is_some_and(f64::is_finite) => {
                seen_ts = true;
                let _ = serde_json::to_writer(&mut *out, &ts.unwrap_or_default());
            }
            _ => out.extend_from_slice(value.get().as_bytes()),
        }
    }
    out.extend_from_slice(b"}\n");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn renamed(line: &str, worker: &str, seq: u64) -> String {
        let mut out = Vec::new();
        rename_line(line.as_bytes(), worker, seq, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn changes_only_worker_and_seq() {
        let line = r#"{"type":"output","worker":"w","seq":7,"ts":1.000001,"stream":"stdout","text":"a\u00e9\n","future":{"x": [1, 2.50]}}"#;
        assert_eq!(
            renamed(line, "in/w\"q", 0),
            r#"{"type":"output","worker":"in/w\"q","seq":0,"ts":1.000001,"stream":"stdout","text":"a\u00e9\n","future":{"x": [1, 2.50]}}"#
                .to_owned()
                + "\n"
        );
    }

    #[test]
    fn a_task_keeps_its_id_equal_to_its_worker() {
        let line =
            r#"{"type":"task","worker":"leaf","seq":0,"ts":1,"id":"leaf","depends_on":["x"]}"#;
        assert_eq!(
            renamed(line, "outer/leaf", 0),
            r#"{"type":"task","worker":"outer/leaf","seq":0,"ts":1,"id":"outer/leaf","depends_on":["x"]}"#.to_owned() + "\n"
        );
    }

    #[test]
    fn a_restamped_line_gets_its_new_time_and_keeps_the_rest() {
        let line = r#"{"type":"task","worker":"a","seq":3,"ts":0,"id":"a","x":[1]}"#;
        let mut out = Vec::new();
        restamp_line(line.as_bytes(), "a", 0, Some(12.5), &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"type":"task","worker":"a","seq":0,"ts":12.5,"id":"a","x":[1]}"#.to_owned() + "\n"
        );
    }

    #[test]
    fn refuses_what_is_not_an_object() {
        let mut out = Vec::new();
        assert!(rename_line(b"[1]", "w", 0, &mut out).is_err());
        assert!(rename_line(b"{\"a\":", "w", 0, &mut out).is_err());
        assert!(rename_line(b"\xff", "w", 0, &mut out).is_err());
    }
}
