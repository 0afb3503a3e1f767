//! The lease table shown: a row per lease, then each worker's lease count; or one JSON
//! object per lease (unreadable items as `{"shard", "unreadable"}`).

use kcl::admin::LeaseListing;
use kcl::{Lease, Position};
use serde::Serialize;

use crate::table::Table;

/// A position as the table stores it, with its sub-sequence number when it has one.
pub(super) fn position(p: &Position) -> String {
    match p {
        Position::At { seq, sub_seq } => format!("{}:{sub_seq}", seq.as_str()),
        other => other.to_table().0,
    }
}

fn list(ids: &[String]) -> String {
    if ids.is_empty() {
        "-".to_owned()
    } else {
        ids.join(",")
    }
}

/// The leases, then the owners, as text tables.
pub(super) fn tables(app: &str, listing: &LeaseListing) -> String {
    if listing.leases.is_empty() && listing.unreadable.is_empty() {
        return format!("lease table {app} holds no leases\n");
    }
    let mut leases = Table::new(&[
        "SHARD",
        "OWNER",
        "CHECKPOINT OWNER",
        "CHECKPOINT",
        "SUB",
        "COUNTER",
        "SWITCHES",
        "PARENTS",
        "CHILDREN",
        "FINISHED",
    ]);
    for l in &listing.leases {
        let (checkpoint, sub) = l.checkpoint.to_table();
        leases.row(vec![
            l.key.clone(),
            l.owner.clone().unwrap_or_else(|| "-".to_owned()),
            l.checkpoint_owner.clone().unwrap_or_else(|| "-".to_owned()),
            checkpoint,
            sub.to_string(),
            l.counter.to_string(),
            l.owner_switches_since_checkpoint.to_string(),
            list(&l.parent_shard_ids),
            list(&l.child_shard_ids),
            if l.is_finished() { "yes" } else { "no" }.to_owned(),
        ]);
    }
    for (key, error) in &listing.unreadable {
        leases.row(vec![key.clone(), format!("(unreadable: {error})")]);
    }
    let mut owners = Table::new(&["WORKER", "LEASES"]);
    for (worker, count) in listing.owners() {
        owners.row(vec![worker, count.to_string()]);
    }
    let unowned = listing
        .leases
        .iter()
        .filter(|l| l.actual_owner().is_none())
        .count();
    if unowned > 0 {
        owners.row(vec!["(none)".to_owned(), unowned.to_string()]);
    }
    format!("{}\n{}", leases.render(), owners.render())
}

#[derive(Serialize)]
struct JsonLease<'a> {
    shard: &'a str,
    owner: Option<&'a str>,
    checkpoint_owner: Option<&'a str>,
    checkpoint: String,
    sub_sequence: u64,
    pending_checkpoint: Option<String>,
    counter: u64,
    owner_switches_since_checkpoint: u64,
    parents: &'a [String],
    children: &'a [String],
    finished: bool,
    starting_hash_key: Option<String>,
    ending_hash_key: Option<String>,
}

impl<'a> JsonLease<'a> {
    fn of(l: &'a Lease) -> JsonLease<'a> {
        let (checkpoint, sub_sequence) = l.checkpoint.to_table();
        JsonLease {
            shard: &l.key,
            owner: l.owner.as_deref(),
            checkpoint_owner: l.checkpoint_owner.as_deref(),
            checkpoint,
            sub_sequence,
            pending_checkpoint: l.pending_checkpoint.as_ref().map(position),
            counter: l.counter,
            owner_switches_since_checkpoint: l.owner_switches_since_checkpoint,
            parents: &l.parent_shard_ids,
            children: &l.child_shard_ids,
            finished: l.is_finished(),
            starting_hash_key: l.hash_range.as_ref().map(|r| r.start().to_string()),
            ending_hash_key: l.hash_range.as_ref().map(|r| r.end().to_string()),
        }
    }
}

/// One JSON object a line per lease, then one per unreadable item.
pub(super) fn json(listing: &LeaseListing) -> String {
    let mut out = String::new();
    for l in &listing.leases {
        if let Ok(line) = serde_json::to_string(&JsonLease::of(l)) {
            out.push_str(&line);
            out.push('\n');
        }
    }
    for (key, error) in &listing.unreadable {
        let v = serde_json::json!({ "shard": key, "unreadable": error.to_string() });
        out.push_str(&v.to_string());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hand_off_shows_both_workers_and_counts_the_one_holding_it() {
        let mut a = Lease::new("shardId-000000000000", Position::at("49", 2).unwrap());
        a.owner = Some("w2".into());
        a.checkpoint_owner = Some("w1".into());
        a.counter = 7;
        let mut b = Lease::new("shardId-000000000001", Position::ShardEnd);
        b.child_shard_ids = vec!["shardId-000000000002".into()];
        let listing = LeaseListing {
            leases: vec![a, b],
            unreadable: vec![],
        };
        let text = tables("app", &listing);
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[1].starts_with("shardId-000000000000  w2     w1"),
            "{text}"
        );
        assert!(lines[1].contains(" 49 "), "{text}");
        assert!(
            lines[2].contains("SHARD_END") && lines[2].ends_with("yes"),
            "{text}"
        );
        assert!(
            text.contains("\nWORKER  LEASES\nw1      1\n(none)  1\n"),
            "{text}"
        );
        let json = json(&listing);
        let first: serde_json::Value = serde_json::from_str(json.lines().next().unwrap()).unwrap();
        assert_eq!(first["checkpoint_owner"], "w1");
        assert_eq!(first["sub_sequence"], 2);
    }
}
