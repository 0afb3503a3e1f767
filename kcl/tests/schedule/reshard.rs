//! Splits and merges during a run, on open shards picked by a number of the scenario.

use aws_sdk_kinesis::Client;
use testkit::streams;

/// Open shards as (id, starting hash key, ending hash key), by starting hash key.
async fn open_shards(kinesis: &Client, stream: &str) -> Vec<(String, u128, u128)> {
    let shards = streams::list_shards(kinesis, stream)
        .await
        .unwrap_or_default();
    let mut open: Vec<_> = shards
        .iter()
        .filter(|s| {
            s.sequence_number_range()
                .is_some_and(|r| r.ending_sequence_number().is_none())
        })
        .filter_map(|s| {
            let r = s.hash_key_range()?;
            let start = r.starting_hash_key().parse().ok()?;
            Some((
                s.shard_id().to_owned(),
                start,
                r.ending_hash_key().parse().ok()?,
            ))
        })
        .collect();
    open.sort_by_key(|(_, start, _)| *start);
    open
}

/// Splits the `pick`-th open shard in the middle of its range (not above 6 open shards).
pub async fn split(kinesis: &Client, stream: &str, pick: u64) {
    let open = open_shards(kinesis, stream).await;
    if open.is_empty() || open.len() >= 6 {
        return;
    }
    let (id, start, end) = &open[(pick % open.len() as u64) as usize];
    let middle = start + (end - start) / 2 + 1;
    let out = kinesis
        .split_shard()
        .stream_name(stream)
        .shard_to_split(id)
        .new_starting_hash_key(middle.to_string())
        .send()
        .await;
    if let Err(e) = out {
        eprintln!("split of {id} refused: {e:?}");
    }
    streams::wait_active(kinesis, stream).await.unwrap();
}

/// Merges the `pick`-th pair of adjacent open shards.
pub async fn merge(kinesis: &Client, stream: &str, pick: u64) {
    let open = open_shards(kinesis, stream).await;
    let pairs: Vec<_> = open.windows(2).filter(|w| w[0].2 + 1 == w[1].1).collect();
    if pairs.is_empty() {
        return;
    }
    let pair = pairs[(pick % pairs.len() as u64) as usize];
    let out = kinesis
        .merge_shards()
        .stream_name(stream)
        .shard_to_merge(&pair[0].0)
        .adjacent_shard_to_merge(&pair[1].0)
        .send()
        .await;
    if let Err(e) = out {
        eprintln!("merge of {} and {} refused: {e:?}", pair[0].0, pair[1].0);
    }
    streams::wait_active(kinesis, stream).await.unwrap();
}
