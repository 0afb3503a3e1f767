//! Syslog lines as rsyslog and syslog-ng write them to files, with the Agent's field names
//! `timestamp`, `hostname`, `program`, `processid`, `message`.
//!
//! `SYSLOG` is RFC 3164 as the Agent parses it: `Mmm dd hh:mm:ss` (one or two spaces before
//! a one-digit day, optional fraction of a second), an optional `<facility.priority>` after
//! it, the host (`[A-Za-z0-9._-]`), the program (`[A-Za-z0-9_./%-]`) with an optional
//! `[pid]`, then `: ` and the message. `RFC3339SYSLOG` is the same with an RFC 3339
//! timestamp. Unlike the Agent we also accept a leading `<PRI>` (as on the wire) and drop
//! it. A missing pid is `null`; a line without `program: ` does not match.

/// Fields of both formats.
pub(crate) const FIELDS: [&str; 5] = ["timestamp", "hostname", "program", "processid", "message"];

const MONTH: &str = "(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*";
const REST: &str =
    r"(?:<\d+\.\d+> )?([A-Za-z0-9._-]+) ([A-Za-z0-9_./%-]+)(?:\[([1-9][0-9]*)\])?: (.*)$";

/// The expression of `SYSLOG`.
pub(crate) fn rfc3164() -> String {
    format!(
        r"^(?:<\d{{1,3}}>)?({MONTH}\s+\d{{1,2}}\s+\d{{1,2}}:\d{{2}}:\d{{2}}(?:[.,]\d+)?) {REST}"
    )
}

/// The expression of `RFC3339SYSLOG`.
pub(crate) fn rfc3339() -> String {
    format!(
        r"^(?:<\d{{1,3}}>)?(\d{{4}}-\d{{2}}-\d{{2}}T\d{{2}}:\d{{2}}:\d{{2}}(?:\.\d+)?(?:Z|[+-]\d{{2}}:\d{{2}})) {REST}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::processing::log::{LogParseError, LogParser};
    use regex::Regex;

    fn parser(pattern: String) -> LogParser {
        LogParser::new(
            Regex::new(&pattern).unwrap(),
            FIELDS.iter().map(|f| f.to_string()).collect(),
            false,
        )
    }

    fn json(p: &LogParser, line: &str) -> serde_json::Value {
        serde_json::from_slice(&p.parse(line.as_bytes()).unwrap()).unwrap()
    }

    #[test]
    fn rsyslog_lines_parse() {
        let p = parser(rfc3164());
        let v = json(
            &p,
            "Mar  4 06:25:01 ip-10-0-0-12 CRON[2841]: (root) CMD (command -v debian-sa1 > /dev/null)\n",
        );
        assert_eq!(
            v,
            serde_json::json!({"timestamp": "Mar  4 06:25:01", "hostname": "ip-10-0-0-12",
            "program": "CRON", "processid": "2841", "message": "(root) CMD (command -v debian-sa1 > /dev/null)"})
        );
        let v = json(
            &p,
            "Oct 11 22:14:15 mymachine kernel: [    0.000000] Linux version 6.1.0",
        );
        assert_eq!(v["processid"], serde_json::Value::Null);
        assert_eq!(v["program"], "kernel");
        let v = json(
            &p,
            "<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8",
        );
        assert_eq!(v["timestamp"], "Oct 11 22:14:15");
        let v = json(&p, "Jan 15 10:00:00 host systemd[1]: ");
        assert_eq!(v["message"], "");
    }

    #[test]
    fn rfc3339_lines_parse() {
        let p = parser(rfc3339());
        let v = json(
            &p,
            "2024-03-04T06:25:01.123456+00:00 web-1 sshd[991]: Accepted publickey for admin",
        );
        assert_eq!(v["timestamp"], "2024-03-04T06:25:01.123456+00:00");
        assert_eq!(v["program"], "sshd");
        assert!(p.parse(b"Mar  4 06:25:01 web-1 sshd[991]: x").is_err());
    }

    #[test]
    fn malformed_syslog_lines_are_typed_no_matches() {
        let p = parser(rfc3164());
        for bad in [
            "",
            "Mar  4 06:25:01 host last message repeated 3 times",
            "Foo  4 06:25:01 host prog: x",
            "Mar  4 6:25 host prog: x",
            "Mar  4 06:25:01 host prog[0]: pid zero",
            "Mar  4 06:25:01 host prog:no space",
            "2024-03-04T06:25:01Z host prog: x",
        ] {
            assert_eq!(
                p.parse(bad.as_bytes()),
                Err(LogParseError::NoMatch),
                "{bad}"
            );
        }
    }
}
