//! `LOGTOJSON`: a log line matched by a format's regular expression, its groups named by the
//! format's fields (or `customFieldNames`), written as a JSON object of strings.

use regex::Regex;

use super::json;

/// Why a line is not a record of the format (the Agent drops such lines silently).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum LogParseError {
    /// The line does not match the format.
    #[error("the line does not match the log format")]
    NoMatch,
}

/// A log format ready to parse lines.
#[derive(Debug)]
pub(crate) struct LogParser {
    pattern: Regex,
    fields: Vec<String>,
    /// Apache writes `-` for a missing value: it becomes `null` (as in the Agent).
    dash_is_null: bool,
}

impl LogParser {
    /// A parser of `pattern` whose groups are named `fields` (as many as it has groups).
    pub(crate) fn new(pattern: Regex, fields: Vec<String>, dash_is_null: bool) -> LogParser {
        LogParser {
            pattern,
            fields,
            dash_is_null,
        }
    }

    /// Groups of the pattern (not counting the whole match).
    pub(crate) fn groups(pattern: &Regex) -> usize {
        pattern.captures_len().saturating_sub(1)
    }

    /// The JSON object of one line, or why there is none.
    pub(crate) fn parse(&self, data: &[u8]) -> Result<Vec<u8>, LogParseError> {
        let text = String::from_utf8_lossy(data);
        let line = super::strip_newline(&text);
        let captures = self.pattern.captures(line).ok_or(LogParseError::NoMatch)?;
        let value = |i: usize| {
            captures
                .get(i + 1)
                .map(|m| m.as_str())
                .filter(|v| !(self.dash_is_null && *v == "-"))
        };
        Ok(json::object(
            self.fields
                .iter()
                .enumerate()
                .map(|(i, name)| (name.as_str(), value(i))),
        ))
    }
}
