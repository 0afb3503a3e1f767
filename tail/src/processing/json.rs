//! JSON objects with their fields in the given order (the Agent's field order), compact, on
//! one line.

/// `{"a":"x","b":null}` for `[("a", Some("x")), ("b", None)]`, then a newline.
pub(crate) fn object<'a>(fields: impl IntoIterator<Item = (&'a str, Option<&'a str>)>) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    out.push(b'{');
    for (i, (name, value)) in fields.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        string(&mut out, name);
        out.push(b':');
        match value {
            Some(v) => string(&mut out, v),
            None => out.extend_from_slice(b"null"),
        }
    }
    out.extend_from_slice(b"}\n");
    out
}

fn string(out: &mut Vec<u8>, s: &str) {
    // Writing a &str into a Vec cannot fail; fall back to an empty string all the same.
    if serde_json::to_writer(&mut *out, s).is_err() {
        out.extend_from_slice(b"\"\"");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_keep_their_order_and_are_escaped() {
        let json = object([
            ("z", Some("a \"quoted\"\tvalue")),
            ("a", None),
            ("m", Some("é\\")),
        ]);
        assert_eq!(
            String::from_utf8(json.clone()).unwrap(),
            "{\"z\":\"a \\\"quoted\\\"\\tvalue\",\"a\":null,\"m\":\"é\\\\\"}\n"
        );
        let parsed: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(parsed["z"], "a \"quoted\"\tvalue");
        assert_eq!(object([]), b"{}\n");
    }
}
