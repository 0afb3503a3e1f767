//! Reading a configuration from TOML or JSON text (the Agent's `agent.json` layout).

use std::path::Path;

use serde_json::Value;

use super::{ConfigError, TailConfig};

/// Processing options of the Agent this crate does not implement.
const UNSUPPORTED_OPTIONS: [&str; 4] = [
    "ADDMETADATA",
    "ADDEC2METADATA",
    "ADDBRACKETS",
    "USINGPLUGGIN",
];

impl TailConfig {
    /// Reads `path`: TOML when it ends `.toml`, JSON when it ends `.json`, otherwise JSON if
    /// the text starts with `{` and TOML if not. Validated.
    pub fn from_path(path: &Path) -> Result<TailConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        let json = match path.extension().and_then(|e| e.to_str()) {
            Some("json") => true,
            Some("toml") => false,
            _ => text.trim_start().starts_with('{'),
        };
        if json {
            TailConfig::from_json(&text)
        } else {
            TailConfig::from_toml(&text)
        }
    }

    /// A configuration from JSON text (the Agent's `agent.json`). Validated.
    pub fn from_json(text: &str) -> Result<TailConfig, ConfigError> {
        let value: Value = serde_json::from_str(text).map_err(|e| ConfigError::Parse {
            format: "JSON",
            message: e.to_string(),
        })?;
        TailConfig::from_value(value)
    }

    /// A configuration from TOML text (`[[flows]]` tables with the same names). Validated.
    ///
    /// ```
    /// // Guarantee shown: a typo in a flow option is an error that names it, not a default.
    /// let err = kinesis_tail::TailConfig::from_toml(
    ///     "[[flows]]\nfilePattern = \"/l/*.log\"\nkinesisStream = \"s\"\ninitialPositon = \"START_OF_FILE\"",
    /// ).unwrap_err();
    /// assert!(err.to_string().contains("initialPositon"));
    /// ```
    pub fn from_toml(text: &str) -> Result<TailConfig, ConfigError> {
        let value: Value = toml::from_str(text).map_err(|e| ConfigError::Parse {
            format: "TOML",
            message: e.to_string(),
        })?;
        TailConfig::from_value(value)
    }

    fn from_value(value: Value) -> Result<TailConfig, ConfigError> {
        refuse_unsupported(&value)?;
        let config: TailConfig = serde_json::from_value(value).map_err(|e| ConfigError::Parse {
            format: "configuration",
            message: e.to_string(),
        })?;
        config.validate()?;
        Ok(config)
    }
}

/// Firehose flows and processing options this crate does not have, as typed errors (serde
/// would only say "unknown field").
fn refuse_unsupported(value: &Value) -> Result<(), ConfigError> {
    let flows = value.get("flows").and_then(Value::as_array);
    for (index, flow) in flows.into_iter().flatten().enumerate() {
        if flow.get("deliveryStream").is_some() || flow.get("firehose.endpoint").is_some() {
            return Err(ConfigError::Unsupported {
                flow: index,
                what: "Firehose flows (deliveryStream): this agent writes Kinesis Data Streams"
                    .into(),
            });
        }
        let options = flow.get("dataProcessingOptions").and_then(Value::as_array);
        for option in options.into_iter().flatten() {
            let name = option
                .get("optionName")
                .and_then(Value::as_str)
                .unwrap_or("");
            if UNSUPPORTED_OPTIONS.contains(&name) {
                return Err(ConfigError::Unsupported {
                    flow: index,
                    what: format!("the processing option {name}"),
                });
            }
            if option.get("jsonFormat").and_then(Value::as_str) == Some("PRETTYPRINT") {
                return Err(ConfigError::Unsupported {
                    flow: index,
                    what: "jsonFormat PRETTYPRINT (a record is one line of compact JSON)".into(),
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_json_with_processing_options_loads() {
        let config = TailConfig::from_json(
            r#"{"flows": [{"filePattern": "/var/log/*.csv", "kinesisStream": "s",
                "initialPosition": "START_OF_FILE", "skipHeaderLines": 1,
                "partitionKeyOption": "DETERMINISTIC", "maxBufferAgeMillis": 5000,
                "dataProcessingOptions": [
                    {"optionName": "CSVTOJSON", "customFieldNames": ["a", "b"], "delimiter": "\\t"},
                    {"optionName": "SINGLELINE", "parseOptions": ["NO_TRIM"]}]}]}"#,
        )
        .unwrap();
        let flow = &config.flows[0];
        assert_eq!(flow.skip_header_lines, 1);
        assert_eq!(flow.data_processing_options.len(), 2);
    }

    #[test]
    fn toml_loads_the_same_names() {
        let config = TailConfig::from_toml(
            "checkpointFile = \"/tmp/c.json\"\n[[flows]]\nfilePattern = \"/l/*.log\"\nkinesisStream = \"s\"\n\
             [[flows.dataProcessingOptions]]\noptionName = \"LOGTOJSON\"\nlogFormat = \"SYSLOG\"\n",
        )
        .unwrap();
        assert_eq!(config.flows[0].data_processing_options.len(), 1);
    }

    #[test]
    fn firehose_flows_and_unknown_options_are_typed_errors() {
        let firehose = r#"{"flows": [{"filePattern": "/l/*.log", "deliveryStream": "d"}]}"#;
        assert!(matches!(
            TailConfig::from_json(firehose),
            Err(ConfigError::Unsupported { flow: 0, .. })
        ));
        let brackets = r#"{"flows": [{"filePattern": "/l/*.log", "kinesisStream": "s",
            "dataProcessingOptions": [{"optionName": "ADDBRACKETS"}]}]}"#;
        assert!(matches!(
            TailConfig::from_json(brackets),
            Err(ConfigError::Unsupported { .. })
        ));
        let unknown = r#"{"flows": [{"filePattern": "/l/*.log", "kinesisStream": "s",
            "dataProcessingOptions": [{"optionName": "CSVTOJSON", "customFieldNames": [], "x": 1}]}]}"#;
        assert!(matches!(
            TailConfig::from_json(unknown),
            Err(ConfigError::Parse { .. })
        ));
        assert!(matches!(
            TailConfig::from_json("{not json"),
            Err(ConfigError::Parse { format: "JSON", .. })
        ));
    }
}
