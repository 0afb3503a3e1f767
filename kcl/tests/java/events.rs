//! What the record processors of both sides did, in one form: the Java processor's JSON
//! lines (`processor.py`) and the kcl processors' calls (`kcl_side.rs`) become [`Event`]s
//! with the worker, the shard and the wall-clock time (the one clock both processes share;
//! within one side the order of the log is the order of the calls).

use std::path::Path;

use kcl::Position;

/// Which implementation a worker is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Java,
    Kcl,
}

/// One processor call, or one record of a `process_records` call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `initialize` with the lease's checkpoint (`None` when the daemon sent none).
    Initialize {
        checkpoint: Option<Position>,
    },
    /// A delivered user record.
    Record {
        position: Position,
        pk: String,
        data: String,
    },
    /// A checkpoint the processor asked for (`None`: everything delivered, or SHARD_END)
    /// and its outcome.
    Checkpoint {
        position: Option<Position>,
        error: Option<String>,
    },
    LeaseLost,
    ShardEnded,
    ShutdownRequested,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub side: Side,
    pub worker: String,
    pub shard: String,
    /// Microseconds since the Unix epoch.
    pub wall_us: u64,
    pub kind: Kind,
}

impl Event {
    /// The record's data and position, for a delivery.
    pub fn record(&self) -> Option<(&str, &Position)> {
        match &self.kind {
            Kind::Record { data, position, .. } => Some((data, position)),
            _ => None,
        }
    }

    /// A checkpoint that succeeded, with its position.
    pub fn checkpointed(&self) -> Option<Option<&Position>> {
        match &self.kind {
            Kind::Checkpoint {
                position,
                error: None,
            } => Some(position.as_ref()),
            _ => None,
        }
    }
}

/// Microseconds since the Unix epoch, now.
pub fn wall_us() -> u64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    now.map(|d| d.as_micros() as u64).unwrap_or(0)
}

/// Every event in the JSON-lines files of `dir` (one file per processor process), ordered
/// by time.
pub fn read_java_events(dir: &Path) -> Vec<Event> {
    let mut events = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return events;
    };
    for entry in entries.flatten() {
        let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
        // A line being written has no newline yet: only whole lines count.
        let whole = text.rfind('\n').map_or("", |end| &text[..end]);
        events.extend(whole.lines().map(parse_java_line));
    }
    events.sort_by_key(|e| e.wall_us);
    events
}

fn parse_java_line(line: &str) -> Event {
    let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
    let s = |k: &str| v[k].as_str().map(str::to_owned);
    let position = || {
        s("seq").map(|seq| Position::from_table(&seq, v["subseq"].as_u64().unwrap_or(0)).unwrap())
    };
    let kind = match v["ev"].as_str().unwrap_or_default() {
        "initialize" => Kind::Initialize {
            checkpoint: position(),
        },
        "record" => Kind::Record {
            position: position().unwrap(),
            pk: s("pk").unwrap_or_default(),
            data: s("data").unwrap_or_default(),
        },
        "checkpoint" => Kind::Checkpoint {
            position: position(),
            error: s("error"),
        },
        "lease_lost" => Kind::LeaseLost,
        "shard_ended" => Kind::ShardEnded,
        "shutdown_requested" => Kind::ShutdownRequested,
        other => panic!("unknown event {other:?}: {line}"),
    };
    Event {
        side: Side::Java,
        worker: s("worker").unwrap_or_default(),
        shard: s("shard").unwrap_or_default(),
        wall_us: v["wall_us"].as_u64().unwrap_or(0),
        kind,
    }
}
