//! Where reading starts: `--from trim_horizon | latest | timestamp:T | sequence:S`.

use std::str::FromStr;
use std::time::SystemTime;

use aws_sdk_kinesis::primitives::{DateTime, DateTimeFormat};

/// A starting position in a shard.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum StartFrom {
    /// The oldest record kept.
    TrimHorizon,
    /// Records written from now on.
    Latest,
    /// Records written at or after this time.
    Timestamp(SystemTime),
    /// The record with this sequence number and those after it (one shard's).
    Sequence(String),
}

const HELP: &str = "trim_horizon, latest, timestamp:T (RFC 3339 like 2024-05-01T12:00:00Z, or seconds since 1970) or sequence:S";

impl FromStr for StartFrom {
    type Err = String;

    fn from_str(s: &str) -> Result<StartFrom, String> {
        let lower = s.to_ascii_lowercase();
        match lower.as_str() {
            "trim_horizon" | "trim-horizon" | "oldest" => return Ok(StartFrom::TrimHorizon),
            "latest" | "newest" => return Ok(StartFrom::Latest),
            _ => {}
        }
        let (kind, value) = s
            .split_once(':')
            .ok_or_else(|| format!("{s:?} is not a position: use {HELP}"))?;
        match kind.to_ascii_lowercase().as_str() {
            "timestamp" | "at_timestamp" => parse_time(value).map(StartFrom::Timestamp),
            "sequence" | "at_sequence_number" => parse_sequence(value).map(StartFrom::Sequence),
            _ => Err(format!("{s:?} is not a position: use {HELP}")),
        }
    }
}

/// RFC 3339 (`2024-05-01T12:00:00Z`, with fractions and offsets) or epoch seconds.
pub(crate) fn parse_time(value: &str) -> Result<SystemTime, String> {
    let value = value.trim();
    let parsed = match value.parse::<f64>() {
        Ok(secs) if secs.is_finite() && secs >= 0.0 => Ok(DateTime::from_secs_f64(secs)),
        Ok(_) => Err(()),
        Err(_) => DateTime::from_str(value, DateTimeFormat::DateTime).map_err(|_| ()),
    };
    parsed
        .ok()
        .and_then(|t| SystemTime::try_from(t).ok())
        .ok_or_else(|| {
            format!(
                "{value:?} is not a time: use RFC 3339 (2024-05-01T12:00:00Z) or seconds since 1970"
            )
        })
}

fn parse_sequence(value: &str) -> Result<String, String> {
    kcl::SequenceNumber::parse(value.trim())
        .map(|s| s.as_str().to_owned())
        .map_err(|e| format!("sequence:{value}: {e}"))
}

/// An RFC 3339 time with milliseconds (`2024-05-01T12:00:00.123Z`), as output shows times.
pub(crate) fn format_time(t: SystemTime) -> Option<String> {
    let t = DateTime::from(t);
    let millis = t.to_millis().ok()?;
    DateTime::from_millis(millis)
        .fmt(DateTimeFormat::DateTime)
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn positions_parse_in_every_spelling() {
        assert_eq!("trim_horizon".parse(), Ok(StartFrom::TrimHorizon));
        assert_eq!("TRIM_HORIZON".parse(), Ok(StartFrom::TrimHorizon));
        assert_eq!("latest".parse(), Ok(StartFrom::Latest));
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_714_564_800);
        assert_eq!("timestamp:1714564800".parse(), Ok(StartFrom::Timestamp(t)));
        assert_eq!(
            "timestamp:2024-05-01T12:00:00Z".parse(),
            Ok(StartFrom::Timestamp(t))
        );
        assert_eq!(
            "timestamp:2024-05-01T12:00:00.250Z".parse(),
            Ok(StartFrom::Timestamp(t + Duration::from_millis(250)))
        );
        assert_eq!(
            "sequence:0042".parse(),
            Ok(StartFrom::Sequence("0042".into()))
        );
    }

    #[test]
    fn bad_positions_say_what_is_expected() {
        for bad in [
            "",
            "start",
            "timestamp:",
            "timestamp:yesterday",
            "timestamp:-5",
            "timestamp:NaN",
            "sequence:",
            "sequence:12a",
            "offset:5",
        ] {
            let e = bad.parse::<StartFrom>().unwrap_err();
            assert!(!e.is_empty(), "{bad}");
        }
    }

    #[test]
    fn times_are_shown_as_rfc3339_with_millis() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_millis(1_714_564_800_123);
        assert_eq!(format_time(t).unwrap(), "2024-05-01T12:00:00.123Z");
    }

    proptest::proptest! {
        #[test]
        fn any_text_is_a_position_or_a_message(s in "\\PC{0,40}") {
            let _ = s.parse::<StartFrom>();
            let _ = parse_time(&s);
        }
    }
}
