//! Loading a configuration from TOML or environment variables (KPL names).

use std::time::Duration;

use super::{ConfigError, ProducerConfig};

/// Prefix of the environment variables [`ProducerConfig::from_env`] reads.
pub const ENV_PREFIX: &str = "KPL_";

impl ProducerConfig {
    /// A configuration from TOML with the KPL's names (durations in milliseconds); fields
    /// not given keep their defaults, unknown names are an error. Validated.
    ///
    /// ```
    /// let c = kpl::ProducerConfig::from_toml("AggregationEnabled = false\nOrdering = \"PerShard\"").unwrap();
    /// assert!(!c.aggregation_enabled);
    /// assert!(kpl::ProducerConfig::from_toml("AgregationEnabled = false").is_err());
    /// ```
    pub fn from_toml(text: &str) -> Result<ProducerConfig, ConfigError> {
        let config: ProducerConfig =
            toml::from_str(text).map_err(|e| ConfigError::Parse(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    /// A configuration from the process environment: `KPL_` + the field's name in capitals
    /// (`KPL_RECORD_MAX_BUFFERED_TIME=50`, `KPL_ORDERING=PerShard`). Validated. Unknown
    /// `KPL_` variables (knobs of the Java KPL this producer does not have, typos) are
    /// logged as warnings and ignored.
    pub fn from_env() -> Result<ProducerConfig, ConfigError> {
        ProducerConfig::from_vars(std::env::vars())
    }

    /// Like [`from_env`](Self::from_env), from the given variables.
    ///
    /// ```
    /// let vars = [("KPL_RATE_LIMIT".to_string(), "80".to_string()), ("HOME".into(), "/".into())];
    /// let c = kpl::ProducerConfig::from_vars(vars).unwrap();
    /// assert_eq!(c.rate_limit, 80);
    /// ```
    pub fn from_vars(
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<ProducerConfig, ConfigError> {
        let known = known_fields();
        let mut table = toml::Table::new();
        for (name, value) in vars {
            let Some(field) = name.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            let field = pascal_case(field);
            if !known.contains_key(&field) {
                // Another KPL's knob, or a typo: a service must still start; say so.
                tracing::warn!(variable = %name, "unknown {ENV_PREFIX} variable ignored");
                continue;
            }
            table.insert(field, scalar(&value));
        }
        let config: ProducerConfig = toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Parse(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    /// The configuration as TOML, in the form [`from_toml`](Self::from_toml) reads.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_default()
    }
}

/// The field names, as written in TOML.
fn known_fields() -> toml::Table {
    toml::Table::try_from(ProducerConfig::default()).unwrap_or_default()
}

/// `RECORD_MAX_BUFFERED_TIME` -> `RecordMaxBufferedTime`.
fn pascal_case(upper_snake: &str) -> String {
    upper_snake
        .split('_')
        .filter(|w| !w.is_empty())
        .map(|w| {
            let lower = w.to_ascii_lowercase();
            let mut chars = lower.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// An environment value as TOML: a boolean, an integer, or else a string.
fn scalar(value: &str) -> toml::Value {
    if let Ok(b) = value.parse::<bool>() {
        return toml::Value::Boolean(b);
    }
    if let Ok(i) = value.parse::<i64>() {
        return toml::Value::Integer(i);
    }
    toml::Value::String(value.to_owned())
}

/// Durations as whole milliseconds, as the KPL's configuration writes them.
pub(super) mod millis {
    use super::Duration;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{MetricsGranularity, MetricsLevel, Ordering};

    #[test]
    fn env_names_map_to_fields() {
        assert_eq!(
            pascal_case("RECORD_MAX_BUFFERED_TIME"),
            "RecordMaxBufferedTime"
        );
        assert_eq!(pascal_case("RECORD_TTL"), "RecordTtl");
        let vars = [
            ("KPL_RECORD_TTL", "5000"),
            ("KPL_FAIL_IF_THROTTLED", "true"),
            ("KPL_ORDERING", "PerShard"),
            ("KPL_MAX_OUTSTANDING_BYTES", "2097152"),
        ];
        let c = ProducerConfig::from_vars(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())))
            .unwrap();
        assert_eq!(c.record_ttl, Duration::from_secs(5));
        assert!(c.fail_if_throttled);
        assert_eq!(c.ordering, Ordering::PerShard);
        assert_eq!(c.max_outstanding_bytes, 2 << 20);
    }

    #[test]
    fn unknown_kpl_variables_are_ignored_with_a_warning() {
        // The KPL's own knobs we do not have (and typos) must not stop a service starting.
        let vars = [
            ("KPL_RATE_LIMITT", "5"),
            ("KPL_CLOUDWATCH_ENDPOINT", "x"),
            ("KPL_RATE_LIMIT", "80"),
        ];
        let c = ProducerConfig::from_vars(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())))
            .unwrap();
        assert_eq!(c.rate_limit, 80);
    }

    #[test]
    fn enums_accept_the_kpls_spellings() {
        let c = ProducerConfig::from_toml(
            "MetricsLevel = \"detailed\"\nMetricsGranularity = \"shard\"\nOrdering = \"per_shard\"",
        )
        .unwrap();
        assert_eq!(
            (c.metrics_level, c.metrics_granularity, c.ordering),
            (
                MetricsLevel::Detailed,
                MetricsGranularity::Shard,
                Ordering::PerShard
            )
        );
        for (text, level) in [
            ("none", MetricsLevel::None),
            ("SUMMARY", MetricsLevel::Summary),
        ] {
            let c = ProducerConfig::from_vars([("KPL_METRICS_LEVEL".into(), text.into())]).unwrap();
            assert_eq!(c.metrics_level, level);
        }
        let c = ProducerConfig::from_vars([("KPL_METRICS_GRANULARITY".into(), "global".into())]);
        assert_eq!(c.unwrap().metrics_granularity, MetricsGranularity::Global);
        assert!(ProducerConfig::from_toml("MetricsLevel = \"loud\"").is_err());
    }

    #[test]
    fn bad_values_are_typed_errors() {
        let typo = ProducerConfig::from_toml("RateLimitt = 5");
        assert!(
            matches!(typo, Err(ConfigError::Parse(_))),
            "a file's typo is an error"
        );
        let range = ProducerConfig::from_vars([("KPL_RATE_LIMIT".to_string(), "0".to_string())]);
        assert!(matches!(
            range,
            Err(ConfigError::OutOfRange {
                field: "RateLimit",
                ..
            })
        ));
    }

    #[test]
    fn toml_round_trip() {
        let c = ProducerConfig::default()
            .rate_limit(80)
            .ordering(Ordering::PerShard);
        assert_eq!(ProducerConfig::from_toml(&c.to_toml()).unwrap(), c);
    }
}
