//! Lines into records: header lines skipped (`skipHeaderLines`), lines grouped by
//! `multiLineStartPattern` (as the Agent: a line the pattern matches at its start begins a
//! record, other lines join the record before them, and lines before the first match form
//! a record of their own). A record's bytes are capped like a line's.

use regex::bytes::Regex;

use crate::reader::Line;

/// Lines that make one record (or one skipped header line), with their byte range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Unit {
    pub(crate) start: u64,
    pub(crate) end: u64,
    pub(crate) data: Vec<u8>,
    /// Bytes were dropped (longer than the cap).
    pub(crate) overflow: bool,
    pub(crate) lines: u64,
    /// A header line: nothing is sent for it.
    pub(crate) header: bool,
}

/// Groups one file's lines into records.
#[derive(Debug)]
pub(crate) struct Framer {
    start: Option<Regex>,
    headers_left: usize,
    pending: Option<Unit>,
    cap: usize,
}

impl Framer {
    /// A framer for a file read from its first byte (`from_start`: header lines are skipped)
    /// or from elsewhere.
    pub(crate) fn new(
        start: Option<Regex>,
        skip_header_lines: usize,
        from_start: bool,
        cap: usize,
    ) -> Framer {
        let headers_left = if from_start { skip_header_lines } else { 0 };
        Framer {
            start,
            headers_left,
            pending: None,
            cap,
        }
    }

    /// Takes one line; complete units go to `out`.
    pub(crate) fn push(&mut self, line: Line, out: &mut Vec<Unit>) {
        if self.headers_left > 0 {
            self.headers_left -= 1;
            out.push(Unit {
                header: true,
                ..unit(line)
            });
            return;
        }
        let Some(start) = &self.start else {
            out.push(unit(line));
            return;
        };
        let starts = start.is_match(&line.data);
        match self.pending.as_mut() {
            Some(pending) if !starts => {
                let room = self.cap.saturating_sub(pending.data.len());
                pending.overflow |= line.overflow || line.data.len() > room;
                pending.data.extend_from_slice(
                    line.data
                        .get(..room.min(line.data.len()))
                        .unwrap_or_default(),
                );
                pending.end = line.end;
                pending.lines += 1;
            }
            _ => {
                out.extend(self.pending.take());
                self.pending = Some(unit(line));
            }
        }
    }

    /// Hands out the record being gathered (the file is idle or finished).
    pub(crate) fn flush(&mut self, out: &mut Vec<Unit>) {
        out.extend(self.pending.take());
    }

    /// Whether a record is being gathered.
    pub(crate) fn has_pending(&self) -> bool {
        self.pending.is_some()
    }
}

fn unit(line: Line) -> Unit {
    Unit {
        start: line.start,
        end: line.end,
        data: line.data,
        overflow: line.overflow,
        lines: 1,
        header: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<Line> {
        let mut at = 0u64;
        text.split_inclusive('\n')
            .map(|l| {
                let line = Line {
                    start: at,
                    end: at + l.len() as u64,
                    data: l.as_bytes().to_vec(),
                    overflow: false,
                };
                at += l.len() as u64;
                line
            })
            .collect()
    }

    fn frame(framer: &mut Framer, text: &str) -> Vec<Unit> {
        let mut out = Vec::new();
        for line in lines(text) {
            framer.push(line, &mut out);
        }
        out
    }

    #[test]
    fn multi_line_records_start_at_the_pattern() {
        let start = Regex::new(r"^\d{4}-\d{2}-\d{2}").unwrap();
        let mut framer = Framer::new(Some(start), 0, true, 1000);
        let text = "orphan\n2024-03-01 ERROR boom\n  at a\n  at b\n2024-03-01 INFO ok\n";
        let mut out = frame(&mut framer, text);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].data, b"orphan\n");
        assert_eq!(
            (out[1].lines, out[1].data.as_slice()),
            (3, &b"2024-03-01 ERROR boom\n  at a\n  at b\n"[..])
        );
        assert_eq!(out[1].end, out[1].start + out[1].data.len() as u64);
        assert!(framer.has_pending());
        framer.flush(&mut out);
        assert_eq!(out[2].data, b"2024-03-01 INFO ok\n");
        assert_eq!(out[2].end, text.len() as u64);
    }

    #[test]
    fn header_lines_are_skipped_only_from_the_start() {
        let mut framer = Framer::new(None, 2, true, 1000);
        let out = frame(&mut framer, "h1\nh2\nrow\n");
        assert_eq!(
            out.iter().map(|u| u.header).collect::<Vec<_>>(),
            [true, true, false]
        );
        let mut resumed = Framer::new(None, 2, false, 1000);
        assert!(frame(&mut resumed, "row\n").iter().all(|u| !u.header));
    }

    #[test]
    fn a_long_multi_line_record_is_capped() {
        let mut framer = Framer::new(Some(Regex::new("^S").unwrap()), 0, true, 8);
        let mut out = frame(&mut framer, "S1234\ncontinued\nS\n");
        framer.flush(&mut out);
        assert_eq!(out[0].data, b"S1234\nco");
        assert!(out[0].overflow);
        assert_eq!(out[0].end, 16);
    }
}
