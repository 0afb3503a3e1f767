//! `dataProcessingOptions`: the steps a record goes through before it is sent, in order.
//!
//! Every step is total: malformed input gives a typed outcome, never a panic. Only
//! `LOGTOJSON` can refuse a record (the line does not match its format); then, as in the
//! Agent, nothing is sent for it and it is counted as skipped (or, with our option
//! `onParseFailure = "SEND_RAW"`, the record goes out unchanged). The Agent also falls back
//! to the raw record when a step throws; none of ours can.

mod apache;
mod csv;
mod json;
mod log;
mod single_line;
mod syslog;

use regex::Regex;

use crate::config::regex_error;
use crate::config::{ConfigError, LogFormat, OnParseFailure, ProcessingOption, SingleLineOption};
use log::LogParser;

/// What the steps made of a record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Processed {
    /// Send this.
    Data(Vec<u8>),
    /// Send nothing: `LOGTOJSON` found no record of its format.
    Skipped,
}

#[derive(Debug)]
enum Step {
    SingleLine {
        trim: bool,
        escape: bool,
    },
    Csv(csv::CsvToJson),
    Log {
        parser: LogParser,
        on_failure: OnParseFailure,
    },
}

/// The configured steps of a flow.
#[derive(Debug, Default)]
pub(crate) struct Chain {
    steps: Vec<Step>,
}

impl Chain {
    /// The steps of `options` (flow number `flow`, for errors).
    pub(crate) fn build(flow: usize, options: &[ProcessingOption]) -> Result<Chain, ConfigError> {
        let steps = options
            .iter()
            .map(|o| step(flow, o))
            .collect::<Result<_, _>>()?;
        Ok(Chain { steps })
    }

    /// Runs every step over `data`.
    pub(crate) fn apply(&self, data: Vec<u8>) -> Processed {
        let mut data = data;
        for step in &self.steps {
            data = match step {
                Step::SingleLine { trim, escape } => {
                    single_line::single_line(&data, *trim, *escape)
                }
                Step::Csv(csv) => csv.apply(&data),
                Step::Log { parser, on_failure } => match (parser.parse(&data), on_failure) {
                    (Ok(json), _) => json,
                    (Err(_), OnParseFailure::SendRaw) => data,
                    (Err(_), OnParseFailure::Skip) => return Processed::Skipped,
                },
            };
        }
        Processed::Data(data)
    }
}

fn step(flow: usize, option: &ProcessingOption) -> Result<Step, ConfigError> {
    Ok(match option {
        ProcessingOption::SingleLine { parse_options } => Step::SingleLine {
            trim: !parse_options.contains(&SingleLineOption::NoTrim),
            escape: parse_options.contains(&SingleLineOption::EscapeNewLine),
        },
        ProcessingOption::CsvToJson {
            custom_field_names,
            delimiter,
        } => {
            let delimiter = text_regex(flow, "delimiter", delimiter, delimiter)?;
            Step::Csv(csv::CsvToJson::new(custom_field_names.clone(), delimiter))
        }
        ProcessingOption::LogToJson {
            log_format,
            match_pattern,
            custom_field_names,
            on_parse_failure,
        } => {
            let parser = log_parser(
                flow,
                *log_format,
                match_pattern.as_deref(),
                custom_field_names.as_deref(),
            )?;
            Step::Log {
                parser,
                on_failure: *on_parse_failure,
            }
        }
    })
}

fn log_parser(
    flow: usize,
    format: LogFormat,
    pattern: Option<&str>,
    names: Option<&[String]>,
) -> Result<LogParser, ConfigError> {
    let (builtin, fields, dash): (String, &[&str], bool) = match format {
        LogFormat::CommonApacheLog => (apache::common(), &apache::COMMON_FIELDS, true),
        LogFormat::CombinedApacheLog => (apache::combined(), &apache::COMBINED_FIELDS, true),
        LogFormat::ApacheErrorLog => (apache::error(), &apache::ERROR_FIELDS, true),
        LogFormat::Syslog => (syslog::rfc3164(), &syslog::FIELDS, false),
        LogFormat::Rfc3339Syslog => (syslog::rfc3339(), &syslog::FIELDS, false),
    };
    let regex = match pattern {
        Some(p) => text_regex(flow, "matchPattern", &format!("^(?:{p})$"), p)?,
        None => text_regex(flow, "logFormat", &builtin, &builtin)?,
    };
    let groups = LogParser::groups(&regex);
    let fields: Vec<String> = match (names, pattern) {
        (None, Some(_)) => {
            return Err(ConfigError::FieldNames {
                flow,
                expected: groups,
                given: 0,
            });
        }
        (None, None) => fields.iter().map(|f| (*f).to_owned()).collect(),
        (Some(n), _) if n.len() != groups => {
            return Err(ConfigError::FieldNames {
                flow,
                expected: groups,
                given: n.len(),
            });
        }
        (Some(n), _) => n.to_vec(),
    };
    Ok(LogParser::new(regex, fields, dash))
}

fn text_regex(
    flow: usize,
    field: &'static str,
    expression: &str,
    given: &str,
) -> Result<Regex, ConfigError> {
    Regex::new(expression).map_err(regex_error(flow, field, given))
}

/// The line without its `\n` or `\r\n`.
pub(crate) fn strip_newline(text: &str) -> &str {
    let text = text.strip_suffix('\n').unwrap_or(text);
    text.strip_suffix('\r').unwrap_or(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(json: &str) -> Result<Chain, ConfigError> {
        let options: Vec<ProcessingOption> = serde_json::from_str(json).unwrap();
        Chain::build(0, &options)
    }

    #[test]
    fn steps_run_in_order_and_skip_what_does_not_parse() {
        let c = chain(
            r#"[{"optionName": "SINGLELINE"}, {"optionName": "LOGTOJSON", "logFormat": "SYSLOG"}]"#,
        )
        .unwrap();
        let out = c.apply(b"Mar  4 06:25:01 host app[7]: first\n   second\n".to_vec());
        let Processed::Data(json) = out else {
            panic!("{out:?}")
        };
        let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(v["message"], "firstsecond");
        assert_eq!(c.apply(b"not syslog\n".to_vec()), Processed::Skipped);
        let raw = chain(
            r#"[{"optionName": "LOGTOJSON", "logFormat": "SYSLOG", "onParseFailure": "SEND_RAW"}]"#,
        )
        .unwrap();
        assert_eq!(
            raw.apply(b"not syslog\n".to_vec()),
            Processed::Data(b"not syslog\n".to_vec())
        );
        assert_eq!(
            Chain::default().apply(b"x\n".to_vec()),
            Processed::Data(b"x\n".to_vec())
        );
    }

    #[test]
    fn custom_patterns_and_names_are_checked_against_the_groups() {
        let custom = chain(
            r#"[{"optionName": "LOGTOJSON", "logFormat": "COMMONAPACHELOG",
            "matchPattern": "(\\w+)=(\\w+)", "customFieldNames": ["key", "value"]}]"#,
        )
        .unwrap();
        let Processed::Data(json) = custom.apply(b"level=warn\n".to_vec()) else {
            panic!()
        };
        assert_eq!(json, b"{\"key\":\"level\",\"value\":\"warn\"}\n");
        assert!(matches!(
            chain(r#"[{"optionName": "LOGTOJSON", "logFormat": "SYSLOG", "matchPattern": "(a)"}]"#),
            Err(ConfigError::FieldNames {
                expected: 1,
                given: 0,
                ..
            })
        ));
        assert!(matches!(
            chain(
                r#"[{"optionName": "LOGTOJSON", "logFormat": "SYSLOG", "customFieldNames": ["a"]}]"#
            ),
            Err(ConfigError::FieldNames {
                expected: 5,
                given: 1,
                ..
            })
        ));
        assert!(matches!(
            chain(r#"[{"optionName": "CSVTOJSON", "customFieldNames": ["a"], "delimiter": "("}]"#),
            Err(ConfigError::Regex {
                field: "delimiter",
                ..
            })
        ));
        let renamed = chain(
            r#"[{"optionName": "LOGTOJSON", "logFormat": "SYSLOG",
            "customFieldNames": ["t", "h", "p", "pid", "m"]}]"#,
        )
        .unwrap();
        let Processed::Data(json) = renamed.apply(b"Mar  4 06:25:01 h p: m".to_vec()) else {
            panic!()
        };
        assert_eq!(
            json,
            b"{\"t\":\"Mar  4 06:25:01\",\"h\":\"h\",\"p\":\"p\",\"pid\":null,\"m\":\"m\"}\n"
        );
    }
}
