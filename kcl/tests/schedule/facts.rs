//! What happened in a run, as the checkers see it: records produced and read back,
//! deliveries with their instants, the lease writes of the proxy log, the table at the end.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::{Duration, Instant};

use kcl::Position;
use serde_json::Value;
use testkit::{Outcome, ProxyEvent};

/// A user record as the producer numbered it: key `k{key}`, the key's `n`-th record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RecordId {
    pub key: u32,
    pub n: u32,
}

impl RecordId {
    /// The record's data: `k{key}:{n}`.
    pub fn data(&self) -> String {
        format!("k{}:{}", self.key, self.n)
    }

    /// The record's partition key.
    pub fn partition_key(&self) -> String {
        format!("k{}", self.key)
    }

    /// Parses `k{key}:{n}`.
    pub fn parse(data: &[u8]) -> Option<RecordId> {
        let s = std::str::from_utf8(data).ok()?;
        let (key, n) = s.strip_prefix('k')?.split_once(':')?;
        Some(RecordId {
            key: key.parse().ok()?,
            n: n.parse().ok()?,
        })
    }
}

impl fmt::Display for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "k{}:{}", self.key, self.n)
    }
}

/// A record the producer wrote (acknowledged at `at`).
#[derive(Clone, Debug)]
pub struct Produced {
    pub id: RecordId,
    pub at: Instant,
    /// Produced after the faults stopped.
    pub after_faults: bool,
}

/// A user record as read back from the stream.
#[derive(Clone, Debug)]
pub struct Stored {
    pub shard: String,
    pub position: Position,
    pub id: RecordId,
}

/// One `process_records` call (or one record taken from a `RecordStream`).
#[derive(Clone, Debug)]
pub struct Delivery {
    pub worker: String,
    /// Which processor instance (one per lease acquisition).
    pub acquisition: u64,
    /// When that processor was created.
    pub acquired: Instant,
    pub shard: String,
    pub start: Instant,
    pub records: Vec<(Position, RecordId)>,
    /// Taken from a `RecordStream` (which buffers ahead of its reader).
    pub via_stream: bool,
}

/// A lifecycle call a processor got.
#[derive(Clone, Debug)]
pub struct Lifecycle {
    pub worker: String,
    pub acquired: Instant,
    pub shard: String,
    /// `lease_lost`, `shard_ended` or `shutdown_requested`.
    pub call: &'static str,
    pub at: Instant,
}

/// A write to the lease table, from the proxy log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WriteKind {
    Create(Position),
    Take,
    Renew,
    Checkpoint(Position),
    Prepare,
    ChildIds,
    Release,
    Delete,
    Other,
    /// A read of the item (GetItem), not a write.
    Read,
}

/// A lease write one worker sent.
#[derive(Clone, Debug)]
pub struct LeaseWrite {
    pub worker: String,
    pub key: String,
    pub kind: WriteKind,
    pub start: Instant,
    /// When the server answered (the client may have given up before).
    pub end: Instant,
    /// The server answered 200: the write took effect, whatever the client saw.
    pub applied: bool,
    /// The fault injected on it, if any.
    pub fault: Option<String>,
    /// The client got a 200.
    pub confirmed: bool,
    /// The client got ConditionalCheckFailedException.
    pub refused: bool,
    /// The request body, to tell a re-sent request.
    pub body: String,
}

/// A lease item read back from the table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FinalLease {
    pub key: String,
    pub owner: Option<String>,
    pub checkpoint: Position,
}

/// Which worker id a proxy carried from when (proxy name, worker id, from).
#[derive(Clone, Debug)]
pub struct Incarnation {
    pub proxy: String,
    pub worker: String,
    pub from: Instant,
}

/// Everything a run leaves for the checkers.
#[derive(Clone, Debug)]
pub struct Facts {
    pub t0: Instant,
    pub failover: Duration,
    pub produced: Vec<Produced>,
    pub stored: Vec<Stored>,
    pub deliveries: Vec<Delivery>,
    pub lifecycle: Vec<Lifecycle>,
    pub writes: Vec<LeaseWrite>,
    /// The table when the run was judged finished (for liveness).
    pub leases_at_end: Vec<FinalLease>,
    /// Live workers then, with the leases each said it held.
    pub live: BTreeMap<String, BTreeSet<String>>,
    /// The table after every worker stopped (for checkpoint order).
    pub final_leases: Vec<FinalLease>,
    /// What the run did, when.
    pub journal: Vec<(Instant, String)>,
    /// The whole proxy log (for diagnostics).
    pub proxy_events: Vec<ProxyEvent>,
}

impl Facts {
    /// `t` as milliseconds since the run began, for messages.
    pub fn ms(&self, t: Instant) -> String {
        format!("{}ms", t.saturating_duration_since(self.t0).as_millis())
    }
}

/// The lease writes of a proxy log (and the item reads, as [`WriteKind::Read`]): DynamoDB
/// requests on one item, attributed to the worker the proxy
/// carried when each request started.
pub fn lease_writes(events: &[ProxyEvent], incarnations: &[Incarnation]) -> Vec<LeaseWrite> {
    events
        .iter()
        .filter_map(|e| {
            let (key, kind) = classify(&e.operation, &e.request)?;
            let worker = incarnations
                .iter()
                .filter(|i| i.proxy == e.proxy && i.from <= e.start)
                .max_by_key(|i| i.from)?
                .worker
                .clone();
            Some(LeaseWrite {
                worker,
                key,
                kind,
                start: e.start,
                // When the server answered, if it was asked (it applied the write by then).
                end: e.upstream_end.or(e.end).unwrap_or(e.start),
                applied: e.upstream_status == Some(200),
                fault: e.fault.as_ref().map(|f| format!("{f:?}")),
                confirmed: matches!(e.outcome, Outcome::Status { status: 200, .. }),
                refused: matches!(&e.outcome, Outcome::Status { error_type: Some(t), .. }
                    if t.contains("ConditionalCheckFailed")),
                body: e.request.to_string(),
            })
        })
        .collect()
}

/// The lease key and kind of a DynamoDB write request; `None` for reads.
pub fn classify(operation: &str, request: &Value) -> Option<(String, WriteKind)> {
    match operation {
        "PutItem" => {
            let item = &request["Item"];
            let key = item["leaseKey"]["S"].as_str()?.to_owned();
            let position = position(&item["checkpoint"], &item["checkpointSubSequenceNumber"]);
            Some((key, WriteKind::Create(position?)))
        }
        "GetItem" => Some((
            request["Key"]["leaseKey"]["S"].as_str()?.to_owned(),
            WriteKind::Read,
        )),
        "DeleteItem" => Some((
            request["Key"]["leaseKey"]["S"].as_str()?.to_owned(),
            WriteKind::Delete,
        )),
        "UpdateItem" => {
            let key = request["Key"]["leaseKey"]["S"].as_str()?.to_owned();
            Some((key, update_kind(request)))
        }
        _ => None,
    }
}

/// What an UpdateItem does, from the attributes its SET and REMOVE clauses name.
fn update_kind(request: &Value) -> WriteKind {
    let expression = request["UpdateExpression"].as_str().unwrap_or_default();
    let names = &request["ExpressionAttributeNames"];
    let values = &request["ExpressionAttributeValues"];
    let clauses = clauses(expression, names);
    let set = |attr: &str| clauses.iter().find(|(a, _)| a == attr).map(|(_, v)| v);
    if let Some(cp) = set("checkpoint") {
        let sub = set("checkpointSubSequenceNumber").map_or(&Value::Null, |v| &values[v]);
        return position(&values[cp.as_str()], sub).map_or(WriteKind::Other, WriteKind::Checkpoint);
    }
    let removed = expression
        .split("REMOVE")
        .nth(1)
        .is_some_and(|r| r.contains("leaseOwner"));
    if set("leaseOwner").is_some() {
        WriteKind::Take
    } else if removed {
        WriteKind::Release
    } else if set("pendingCheckpoint").is_some() {
        WriteKind::Prepare
    } else if set("childShardIds").is_some() {
        WriteKind::ChildIds
    } else if set("leaseCounter").is_some() {
        WriteKind::Renew
    } else {
        WriteKind::Other
    }
}

/// The `attribute = value` pairs of the SET clause (names resolved through `#aliases`).
fn clauses(expression: &str, names: &Value) -> Vec<(String, String)> {
    let Some(set) = expression.split("SET").nth(1) else {
        return Vec::new();
    };
    let set = set.split(" REMOVE ").next().unwrap_or(set);
    let set = set.split(" ADD ").next().unwrap_or(set);
    set.split(',')
        .filter_map(|c| c.split_once('='))
        .map(|(a, v)| {
            let a = a.trim();
            let a = names[a].as_str().unwrap_or(a).to_owned();
            (a, v.trim().to_owned())
        })
        .collect()
}

/// A checkpoint position from `checkpoint` (S) and its sub-sequence number (N) values.
fn position(checkpoint: &Value, sub: &Value) -> Option<Position> {
    let cp = checkpoint["S"].as_str()?;
    let sub = sub["N"].as_str().and_then(|n| n.parse().ok()).unwrap_or(0);
    Position::from_table(cp, sub).ok()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn lease_writes_are_classified_by_what_they_set() {
        let checkpoint = json!({
            "Key": {"leaseKey": {"S": "shardId-1"}},
            "UpdateExpression": "SET checkpoint = :cp, checkpointSubSequenceNumber = :sub, leaseCounter = :next REMOVE pendingCheckpoint",
            "ExpressionAttributeValues": {":cp": {"S": "42"}, ":sub": {"N": "3"}, ":next": {"N": "2"}}
        });
        assert_eq!(
            classify("UpdateItem", &checkpoint),
            Some((
                "shardId-1".into(),
                WriteKind::Checkpoint(Position::at("42", 3).unwrap())
            ))
        );
        let kind = |e: &str| {
            let r = json!({"Key": {"leaseKey": {"S": "s"}}, "UpdateExpression": e});
            classify("UpdateItem", &r).unwrap().1
        };
        assert_eq!(
            kind("SET leaseOwner = :me, leaseCounter = :next ADD x :one"),
            WriteKind::Take
        );
        assert_eq!(kind("SET leaseCounter = :next"), WriteKind::Renew);
        assert_eq!(kind("SET #unknown = :next"), WriteKind::Other);
        assert_eq!(
            kind("SET leaseCounter = leaseCounter + :one REMOVE leaseOwner"),
            WriteKind::Release
        );
        assert_eq!(
            kind("SET childShardIds = :c, leaseCounter = :next"),
            WriteKind::ChildIds
        );
        assert_eq!(
            kind("SET pendingCheckpoint = :p, leaseCounter = :next"),
            WriteKind::Prepare
        );
        let aliased = json!({"Key": {"leaseKey": {"S": "s"}}, "UpdateExpression": "SET #o = :me",
            "ExpressionAttributeNames": {"#o": "leaseOwner"}});
        assert_eq!(classify("UpdateItem", &aliased).unwrap().1, WriteKind::Take);
        let create = json!({"Item": {"leaseKey": {"S": "s"}, "checkpoint": {"S": "TRIM_HORIZON"}}});
        assert_eq!(
            classify("PutItem", &create).unwrap().1,
            WriteKind::Create(Position::TrimHorizon)
        );
        assert_eq!(classify("Scan", &json!({})), None);
    }
}
