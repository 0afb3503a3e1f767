//! The shard table of `stream describe` (and of `--wait` after resharding): one row per
//! shard, open and closed, with its parents and hash range.

use kinesis_agg::HashRange;

use crate::shards::ShardInfo;
use crate::table::Table;

/// The shards as a table: SHARD, STATE, PARENTS, HASH RANGE (decimal, as `split --at`
/// takes it), and the share of the key space.
pub(crate) fn shard_table(shards: &[ShardInfo]) -> String {
    let mut table = Table::new(&["SHARD", "STATE", "PARENTS", "KEYS", "HASH RANGE"]);
    for shard in shards {
        let parents: Vec<&str> = shard.parents().collect();
        table.row(vec![
            shard.id.clone(),
            if shard.closed { "closed" } else { "open" }.to_owned(),
            if parents.is_empty() {
                "-".to_owned()
            } else {
                parents.join(",")
            },
            share(shard.range),
            format!("{} - {}", shard.range.start(), shard.range.end()),
        ]);
    }
    table.render()
}

/// The range's share of the 2^128 key space, in percent with two decimals.
fn share(range: HashRange) -> String {
    let width = range.end().get() - range.start().get();
    // (width + 1) / 2^128 without overflow: u128 -> f64 is exact enough for a percentage.
    #[allow(clippy::cast_precision_loss)]
    let fraction = (width as f64 + 1.0) / 2f64.powi(128);
    format!("{:.2}%", fraction * 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kinesis_agg::HashKey;

    fn shard(id: &str, start: u128, end: u128, parents: &[&str], closed: bool) -> ShardInfo {
        ShardInfo {
            id: id.into(),
            parent: parents.first().map(|p| (*p).to_owned()),
            adjacent_parent: parents.get(1).map(|p| (*p).to_owned()),
            range: HashRange::new(HashKey::new(start), HashKey::new(end)).unwrap(),
            closed,
        }
    }

    #[test]
    fn rows_show_state_parents_share_and_range() {
        let half = u128::MAX / 2;
        let text = shard_table(&[
            shard("shardId-000000000000", 0, u128::MAX, &[], true),
            shard(
                "shardId-000000000001",
                0,
                half,
                &["shardId-000000000000"],
                false,
            ),
            shard(
                "shardId-000000000002",
                half + 1,
                u128::MAX,
                &["shardId-000000000000", "shardId-000000000009"],
                false,
            ),
        ]);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("SHARD"));
        assert!(lines[1].contains("closed") && lines[1].contains("100.00%"));
        assert!(lines[1].contains(&format!("0 - {}", u128::MAX)));
        assert!(lines[2].contains("open") && lines[2].contains("50.00%"));
        assert!(lines[3].contains("shardId-000000000000,shardId-000000000009"));
    }
}
