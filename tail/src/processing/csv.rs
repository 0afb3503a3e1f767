//! `CSVTOJSON`: delimited values to a JSON object with the configured field names.
//!
//! As the Agent: the delimiter is a regular expression (`,` by default, `\t`, `\|`), there
//! is no quoting, values are strings, columns past the names are ignored and names past the
//! columns get `null`. Unlike the Agent (Java's `split` drops trailing empty strings), an
//! empty column is `""` wherever it is, so `a,,` gives `"a"`, `""`, `""`. A trailing `\r`
//! is removed with the newline.

use regex::Regex;

use super::json;

/// A configured `CSVTOJSON` step.
#[derive(Debug)]
pub(crate) struct CsvToJson {
    names: Vec<String>,
    delimiter: Regex,
}

impl CsvToJson {
    pub(crate) fn new(names: Vec<String>, delimiter: Regex) -> CsvToJson {
        CsvToJson { names, delimiter }
    }

    /// The JSON object of one record (never fails: every line has some columns).
    pub(crate) fn apply(&self, data: &[u8]) -> Vec<u8> {
        let text = String::from_utf8_lossy(data);
        let line = super::strip_newline(&text);
        let mut columns = self.delimiter.split(line);
        json::object(
            self.names
                .iter()
                .map(|name| (name.as_str(), columns.next())),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csv(names: &[&str], delimiter: &str) -> CsvToJson {
        CsvToJson::new(
            names.iter().map(|n| n.to_string()).collect(),
            Regex::new(delimiter).unwrap(),
        )
    }

    fn parse(step: &CsvToJson, line: &[u8]) -> serde_json::Value {
        let out = step.apply(line);
        assert_eq!(out.last(), Some(&b'\n'));
        serde_json::from_slice(&out).unwrap()
    }

    #[test]
    fn columns_get_their_names_in_order() {
        let step = csv(&["time", "host", "status"], ",");
        let v = parse(&step, b"2024-03-01T10:00:00Z,web-1,200\r\n");
        assert_eq!(
            v,
            serde_json::json!({"time": "2024-03-01T10:00:00Z", "host": "web-1", "status": "200"})
        );
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        assert_eq!(keys.len(), 3);
        let tabs = csv(&["a", "b"], "\\t");
        assert_eq!(
            parse(&tabs, b"x\ty\n"),
            serde_json::json!({"a": "x", "b": "y"})
        );
        let pipes = csv(&["a", "b"], "\\|");
        assert_eq!(
            parse(&pipes, b"x|y"),
            serde_json::json!({"a": "x", "b": "y"})
        );
    }

    #[test]
    fn short_long_empty_and_binary_rows_still_give_objects() {
        let step = csv(&["a", "b", "c"], ",");
        assert_eq!(
            parse(&step, b"1\n"),
            serde_json::json!({"a": "1", "b": null, "c": null})
        );
        assert_eq!(
            parse(&step, b"1,2,3,4,5\n"),
            serde_json::json!({"a": "1", "b": "2", "c": "3"})
        );
        assert_eq!(
            parse(&step, b"1,,\n"),
            serde_json::json!({"a": "1", "b": "", "c": ""})
        );
        assert_eq!(
            parse(&step, b"\n"),
            serde_json::json!({"a": "", "b": null, "c": null})
        );
        assert_eq!(
            parse(&step, b"\xff,\"q\n"),
            serde_json::json!({"a": "\u{fffd}", "b": "\"q", "c": null})
        );
    }
}
