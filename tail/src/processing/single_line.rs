//! `SINGLELINE`: a multi-line record as one line.
//!
//! As the Agent: the record is split at newlines, each line trimmed (unless `NO_TRIM`), the
//! lines joined with nothing (or with the two characters `\n` under `ESCAPE_NEW_LINE`;
//! the Agent writes `\\n` there), empty lines at the end dropped, one newline appended.
//! Bytes that are not UTF-8 become U+FFFD, as in the Agent.

/// The record `data` on one line.
pub(crate) fn single_line(data: &[u8], trim: bool, escape_new_line: bool) -> Vec<u8> {
    let text = String::from_utf8_lossy(data);
    let mut lines: Vec<&str> = text
        .split('\n')
        .map(|l| if trim { l.trim() } else { l })
        .collect();
    while lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    let mut out = lines
        .join(if escape_new_line { "\\n" } else { "" })
        .into_bytes();
    out.push(b'\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stack_trace_becomes_one_line() {
        let trace = b"java.lang.IllegalStateException: boom\n    at com.example.App.run(App.java:42)\n    at com.example.App.main(App.java:7)\n";
        assert_eq!(
            single_line(trace, true, false),
            b"java.lang.IllegalStateException: boomat com.example.App.run(App.java:42)at com.example.App.main(App.java:7)\n"
        );
        assert_eq!(
            single_line(trace, false, true)
                .iter()
                .filter(|b| **b == b'\n')
                .count(),
            1
        );
        assert!(
            String::from_utf8(single_line(trace, true, true))
                .unwrap()
                .contains("boom\\nat com")
        );
    }

    #[test]
    fn odd_input_is_still_one_line() {
        assert_eq!(single_line(b"", true, false), b"\n");
        assert_eq!(single_line(b"\n\n\n", true, false), b"\n");
        assert_eq!(single_line(b"  keep  ", false, false), b"  keep  \n");
        assert_eq!(
            single_line(b"bad \xff byte\n", true, false),
            "bad \u{fffd} byte\n".as_bytes()
        );
    }
}
