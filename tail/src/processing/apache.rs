//! Apache httpd's access and error log formats, with the Agent's field names.
//!
//! - `COMMONAPACHELOG`: `host ident authuser [datetime] "request" response bytes`; anything
//!   after is allowed (so combined lines parse as common ones, as in the Agent).
//! - `COMBINEDAPACHELOG`: the same, then `"referer" "agent"`, then anything.
//! - `APACHEERRORLOG`: `[timestamp] [module:severity] [pid N:tid N] [client HOST] message`.
//!
//! Values are strings; `-` is `null`. Where the Agent is stricter than httpd we follow
//! httpd: IPv6 hosts, `user@example.com` users, empty or `\"`-escaped quoted fields, and
//! error lines without `[client ...]` (then `client` is `null`) all parse.

/// Fields of `COMMONAPACHELOG`.
pub(crate) const COMMON_FIELDS: [&str; 7] = [
    "host", "ident", "authuser", "datetime", "request", "response", "bytes",
];
/// Fields of `COMBINEDAPACHELOG`.
pub(crate) const COMBINED_FIELDS: [&str; 9] = [
    "host", "ident", "authuser", "datetime", "request", "response", "bytes", "referer", "agent",
];
/// Fields of `APACHEERRORLOG`.
pub(crate) const ERROR_FIELDS: [&str; 7] = [
    "timestamp",
    "module",
    "severity",
    "processid",
    "threadid",
    "client",
    "message",
];

const QUOTED: &str = r#""((?:[^"\\]|\\.)*)""#;
const HTTP_DATE: &str = r"\[(\d{1,2}/[A-Za-z]{3}/\d{4}:\d{1,2}:\d{2}:\d{2} [+-]\d{4})\]";

/// The expression of the common format.
pub(crate) fn common() -> String {
    format!(r"^(\S+) (\S+) (\S+) {HTTP_DATE} {QUOTED} (\d{{3}}|-) (\d+|-)(?:\s.*)?$")
}

/// The expression of the combined format.
pub(crate) fn combined() -> String {
    format!(
        r"^(\S+) (\S+) (\S+) {HTTP_DATE} {QUOTED} (\d{{3}}|-) (\d+|-) {QUOTED} {QUOTED}(?:\s.*)?$"
    )
}

/// The expression of the error log format (httpd 2.2 and 2.4).
pub(crate) fn error() -> String {
    r"^\[([A-Za-z]{3} [A-Za-z]{3} +\d{1,2} \d{1,2}:\d{2}:\d{2}(?:\.\d+)? \d{4})\] \[(?:([A-Za-z0-9_]+):)?([A-Za-z0-9_]+)\] \[pid (\d+)(?::tid (\d+))?\] (?:\[client ([^\]]+)\] )?(.*)$".to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::processing::log::{LogParseError, LogParser};
    use regex::Regex;

    fn parser(pattern: String, fields: &[&str], dash: bool) -> LogParser {
        LogParser::new(
            Regex::new(&pattern).unwrap(),
            fields.iter().map(|f| f.to_string()).collect(),
            dash,
        )
    }

    fn json(p: &LogParser, line: &str) -> serde_json::Value {
        serde_json::from_slice(&p.parse(line.as_bytes()).unwrap()).unwrap()
    }

    #[test]
    fn common_lines_parse_with_dashes_as_null() {
        let p = parser(common(), &COMMON_FIELDS, true);
        let v = json(
            &p,
            "127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] \"GET /apache_pb.gif HTTP/1.0\" 200 2326\n",
        );
        assert_eq!(
            v,
            serde_json::json!({"host": "127.0.0.1", "ident": null, "authuser": "frank",
            "datetime": "10/Oct/2000:13:55:36 -0700", "request": "GET /apache_pb.gif HTTP/1.0",
            "response": "200", "bytes": "2326"})
        );
        let v = json(
            &p,
            "2001:db8::1 - alice@example.com [01/Mar/2024:00:00:01 +0000] \"\" 400 -",
        );
        assert_eq!(v["host"], "2001:db8::1");
        assert_eq!(v["request"], "");
        assert_eq!(v["bytes"], serde_json::Value::Null);
        let escaped = json(
            &p,
            r#"10.0.0.1 - - [01/Mar/2024:00:00:01 +0000] "GET /?q=\"x\" HTTP/1.1" 200 5"#,
        );
        assert_eq!(escaped["request"], r#"GET /?q=\"x\" HTTP/1.1"#);
    }

    #[test]
    fn combined_lines_parse_and_also_parse_as_common() {
        let line = "203.0.113.9 - - [01/Mar/2024:10:12:01 +0100] \"POST /api/orders HTTP/1.1\" 201 512 \"https://shop.example/cart\" \"Mozilla/5.0 (X11; Linux x86_64)\"\r\n";
        let v = json(&parser(combined(), &COMBINED_FIELDS, true), line);
        assert_eq!(v["referer"], "https://shop.example/cart");
        assert_eq!(v["agent"], "Mozilla/5.0 (X11; Linux x86_64)");
        assert_eq!(v.as_object().unwrap().len(), 9);
        assert_eq!(
            json(&parser(common(), &COMMON_FIELDS, true), line)["response"],
            "201"
        );
    }

    #[test]
    fn malformed_access_lines_are_typed_no_matches() {
        let common = parser(common(), &COMMON_FIELDS, true);
        let combined = parser(combined(), &COMBINED_FIELDS, true);
        for bad in [
            "",
            "garbage",
            "127.0.0.1 - - [not a date] \"GET / HTTP/1.0\" 200 1",
            "127.0.0.1 - - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.0 200 1",
            "127.0.0.1 - - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.0\" two 1",
            "127.0.0.1 - - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.0\" 200",
        ] {
            assert_eq!(
                common.parse(bad.as_bytes()),
                Err(LogParseError::NoMatch),
                "{bad}"
            );
        }
        let common_only = "127.0.0.1 - - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.0\" 200 1";
        assert_eq!(
            combined.parse(common_only.as_bytes()),
            Err(LogParseError::NoMatch)
        );
        assert!(
            common
                .parse(b"\xff\xfe - - [10/Oct/2000:13:55:36 -0700] \"GET /\" 200 1")
                .is_ok()
        );
    }

    #[test]
    fn error_lines_parse_with_or_without_client() {
        let p = parser(error(), &ERROR_FIELDS, true);
        let v = json(
            &p,
            "[Fri Sep 09 10:42:29.902022 2011] [core:error] [pid 35708:tid 4328636416] [client 72.15.99.187] File does not exist: /usr/local/apache2/htdocs/favicon.ico",
        );
        assert_eq!(v["module"], "core");
        assert_eq!(v["severity"], "error");
        assert_eq!(v["threadid"], "4328636416");
        assert_eq!(v["client"], "72.15.99.187");
        let v = json(
            &p,
            "[Mon Mar 04 08:00:00 2024] [notice] [pid 12] AH00163: Apache/2.4.58 configured",
        );
        assert_eq!(v["module"], serde_json::Value::Null);
        assert_eq!(v["client"], serde_json::Value::Null);
        assert_eq!(
            p.parse(b"[yesterday] [error] oops"),
            Err(LogParseError::NoMatch)
        );
    }
}
