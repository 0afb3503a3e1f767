//! JSON input: a sequence of JSON objects (one per line, pretty-printed over several
//! lines, or back to back), each kept byte for byte as a record's data, and the
//! partition key taken from a field (`--key-field customer` or a path `user.id`).

use std::io::BufRead;

use serde_json::Value;
use serde_json::value::RawValue;

/// The JSON values of `reader`, in order, each as its text. A syntax error ends the
/// sequence (nothing after it can be trusted) with its line and column.
pub(crate) fn values(reader: impl BufRead) -> impl Iterator<Item = Result<Box<RawValue>, String>> {
    serde_json::Deserializer::from_reader(reader)
        .into_iter::<Box<RawValue>>()
        .map(|value| value.map_err(|e| format!("invalid JSON: {e}")))
}

/// Why the value `text` is not a record (`--json` takes objects), if it is not.
pub(crate) fn not_an_object(text: &str) -> Option<String> {
    (!text.starts_with('{')).then(|| format!("not a JSON object: {}", preview(text)))
}

/// The partition key of `object` from `field`: the member of that name, else the path
/// of names separated by dots. Strings are taken as they are, numbers and booleans as
/// written; anything else is refused with the reason.
pub(crate) fn key_of(object: &str, field: &str) -> Result<String, String> {
    let value: Value = serde_json::from_str(object).map_err(|e| format!("invalid JSON: {e}"))?;
    let found = value
        .get(field)
        .or_else(|| field.split('.').try_fold(&value, |v, name| v.get(name)));
    match found {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(v @ (Value::Number(_) | Value::Bool(_))) => Ok(v.to_string()),
        Some(Value::Null) | None => Err(format!("no field {field:?}")),
        Some(_) => Err(format!("field {field:?} is not a string or a number")),
    }
}

/// The first 60 characters of `text`, for messages.
fn preview(text: &str) -> String {
    let mut p: String = text.chars().take(60).collect();
    if p.len() < text.len() {
        p.push_str("...");
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(input: &str) -> Vec<Result<Result<String, String>, String>> {
        values(input.as_bytes())
            .map(|v| {
                v.map(|raw| match not_an_object(raw.get()) {
                    None => Ok(raw.get().to_owned()),
                    Some(why) => Err(why),
                })
            })
            .collect()
    }

    #[test]
    fn objects_keep_their_text_however_they_are_laid_out() {
        let input = "{\"a\": 1}\n{\n  \"b\": [1, 2]\n}{\"c\":\"x\"}  \n";
        assert_eq!(
            all(input),
            [
                Ok(Ok("{\"a\": 1}".to_owned())),
                Ok(Ok("{\n  \"b\": [1, 2]\n}".to_owned())),
                Ok(Ok("{\"c\":\"x\"}".to_owned())),
            ]
        );
    }

    #[test]
    fn values_that_are_not_objects_are_refused_one_by_one_and_bad_syntax_ends_the_input() {
        let got = all("{\"a\":1} 42 {\"b\":2} {\"c\": oops} {\"d\":4}");
        assert_eq!(got.len(), 4);
        assert!(matches!(&got[1], Ok(Err(m)) if m.contains("not a JSON object")));
        assert_eq!(got[2], Ok(Ok("{\"b\":2}".to_owned())));
        assert!(matches!(&got[3], Err(m) if m.contains("line 1")));
    }

    #[test]
    fn keys_come_from_a_field_or_a_dotted_path() {
        let o = r#"{"customer": "c-17", "n": 42, "ok": true, "user": {"id": "u9"}, "a.b": "dotted", "none": null, "list": [1]}"#;
        assert_eq!(key_of(o, "customer"), Ok("c-17".into()));
        assert_eq!(key_of(o, "n"), Ok("42".into()));
        assert_eq!(key_of(o, "ok"), Ok("true".into()));
        assert_eq!(key_of(o, "user.id"), Ok("u9".into()));
        assert_eq!(key_of(o, "a.b"), Ok("dotted".into()));
        assert!(key_of(o, "none").unwrap_err().contains("no field"));
        assert!(key_of(o, "missing").unwrap_err().contains("no field"));
        assert!(key_of(o, "list").unwrap_err().contains("not a string"));
        assert!(key_of("[1]", "x").is_err());
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_are_objects_or_messages(input in proptest::collection::vec(proptest::num::u8::ANY, 0..200), field in "\\PC{0,8}") {
            for v in values(&input[..]).take(50).flatten() {
                let _ = not_an_object(v.get());
                let _ = key_of(v.get(), &field);
            }
        }
    }
}
