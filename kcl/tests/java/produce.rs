//! Records for the interop tests: plain records and KPL aggregates (made with kinesis_agg,
//! every sub-record's key inside the shard the aggregate goes to, as the KPL does), and the
//! user records read back from the stream.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use kcl::Position;
use kcl::agg::{Aggregator, Deaggregated, Deaggregator, HashKey, HashRange, UserRecord};
use tokio::sync::watch;

/// One PutRecords entry.
#[derive(Clone, Debug)]
pub enum Put {
    /// A plain record: (partition key, data).
    Plain(String, String),
    /// A KPL aggregate of these (partition key, data) user records.
    Aggregate(Vec<(String, String)>),
}

impl Put {
    /// Its user records: (partition key, data).
    pub fn user_records(&self) -> Vec<(String, String)> {
        match self {
            Put::Plain(pk, data) => vec![(pk.clone(), data.clone())],
            Put::Aggregate(records) => records.clone(),
        }
    }

    fn entry(&self) -> PutRecordsRequestEntry {
        let builder = match self {
            Put::Plain(pk, data) => PutRecordsRequestEntry::builder()
                .partition_key(pk)
                .data(Blob::new(data.as_bytes())),
            Put::Aggregate(records) => {
                let mut agg = Aggregator::default();
                for (pk, data) in records {
                    agg.try_add(UserRecord::new(pk.clone(), data.clone()).unwrap())
                        .unwrap();
                }
                let r = agg.finish().unwrap();
                assert!(r.aggregated);
                PutRecordsRequestEntry::builder()
                    .partition_key(&r.partition_key)
                    .explicit_hash_key(r.explicit_hash_key_decimal())
                    .data(Blob::new(r.data.to_vec()))
            }
        };
        builder.build().unwrap()
    }
}

/// Puts `puts` in order, 100 entries per PutRecords call.
pub async fn put(kinesis: &aws_sdk_kinesis::Client, stream: &str, puts: &[Put]) {
    for chunk in puts.chunks(100) {
        let out = kinesis
            .put_records()
            .stream_name(stream)
            .set_records(Some(chunk.iter().map(Put::entry).collect()))
            .send()
            .await
            .unwrap();
        assert_eq!(out.failed_record_count(), Some(0));
    }
}

/// The open shards of the stream and their hash ranges, by shard id.
pub async fn open_shards(
    kinesis: &aws_sdk_kinesis::Client,
    stream: &str,
) -> Vec<(String, HashRange)> {
    let mut shards: Vec<(String, HashRange)> = testkit::streams::list_shards(kinesis, stream)
        .await
        .unwrap()
        .into_iter()
        .filter(|s| {
            s.sequence_number_range()
                .and_then(|r| r.ending_sequence_number())
                .is_none()
        })
        .map(|s| {
            let r = s.hash_key_range().unwrap();
            let range =
                HashRange::from_decimal(r.starting_hash_key(), r.ending_hash_key()).unwrap();
            (s.shard_id().to_owned(), range)
        })
        .collect();
    shards.sort_by(|a, b| a.0.cmp(&b.0));
    shards
}

/// `per_shard` partition keys `k<i>` hashing into each of `shards`, in shard order.
pub fn keys_by_shard(shards: &[(String, HashRange)], per_shard: usize) -> Vec<Vec<String>> {
    let mut keys = vec![Vec::new(); shards.len()];
    for i in 0.. {
        if keys.iter().all(|k: &Vec<String>| k.len() >= per_shard) {
            break;
        }
        let pk = format!("k{i}");
        let hash = HashKey::from_partition_key(&pk);
        if let Some(n) = shards.iter().position(|(_, r)| r.contains(hash))
            && keys[n].len() < per_shard
        {
            keys[n].push(pk);
        }
    }
    keys
}

/// For each shard: `plain` plain records, then `aggregates` aggregates of `per_aggregate`
/// user records; data `<tag>-s<shard>-p<i>` and `<tag>-s<shard>-a<j>.<k>`, keys cycling
/// over that shard's `keys`.
pub fn round(
    tag: &str,
    keys: &[Vec<String>],
    plain: usize,
    aggregates: usize,
    per_aggregate: usize,
) -> Vec<Put> {
    let mut puts = Vec::new();
    for (s, keys) in keys.iter().enumerate() {
        let key = |i: usize| keys[i % keys.len()].clone();
        puts.extend((0..plain).map(|i| Put::Plain(key(i), format!("{tag}-s{s}-p{i}"))));
        for j in 0..aggregates {
            let records = (0..per_aggregate)
                .map(|k| (key(j + k), format!("{tag}-s{s}-a{j}.{k}")))
                .collect();
            puts.push(Put::Aggregate(records));
        }
    }
    puts
}

/// A user record as the stream holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InStream {
    pub shard: String,
    pub position: Position,
    pub pk: String,
    pub data: String,
}

/// Every user record of the stream, de-aggregated, in shard order (shards by id).
pub async fn read_back(kinesis: &aws_sdk_kinesis::Client, stream: &str) -> Vec<InStream> {
    let mut out = Vec::new();
    for (shard, record) in testkit::streams::read_stream(kinesis, stream)
        .await
        .unwrap()
    {
        let seq = record.sequence_number().to_owned();
        let data = bytes::Bytes::copy_from_slice(record.data().as_ref());
        let one = |sub: u64, pk: &str, data: &[u8]| InStream {
            shard: shard.clone(),
            position: Position::at(&seq, sub).unwrap(),
            pk: pk.to_owned(),
            data: String::from_utf8_lossy(data).into_owned(),
        };
        match Deaggregator::new().deaggregate(data) {
            Deaggregated::Aggregated(agg) => {
                for sub in agg.records() {
                    out.push(one(sub.sub_sequence_number, &sub.partition_key, &sub.data));
                }
            }
            Deaggregated::NotAggregated(data) => {
                out.push(one(0, record.partition_key().unwrap_or_default(), &data))
            }
            Deaggregated::Dropped(_) => unreachable!("no hash range given"),
        }
    }
    out
}

/// Produces a round every 300 ms (each open shard: 4 plain records and one aggregate of 4,
/// keys re-predicted from ListShards each round, as the KPL does) until paused or dropped.
pub struct Producer {
    produced: Arc<Mutex<Vec<(String, String)>>>,
    paused: watch::Sender<bool>,
    busy: watch::Receiver<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Producer {
    pub fn start(kinesis: &aws_sdk_kinesis::Client, stream: &str) -> Producer {
        let produced: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
        let paused = watch::channel(false).0;
        let (busy_tx, busy) = watch::channel(false);
        let (kinesis, stream, out, mut pause) = (
            kinesis.clone(),
            stream.to_owned(),
            produced.clone(),
            paused.subscribe(),
        );
        let task = tokio::spawn(async move {
            for n in 0.. {
                busy_tx.send_replace(false);
                let _ = pause.wait_for(|p| !p).await;
                // Busy first, then the pause looked at again: `pause` never misses a round.
                busy_tx.send_replace(true);
                if *pause.borrow() {
                    continue;
                }
                let keys = keys_by_shard(&open_shards(&kinesis, &stream).await, 4);
                let puts = round(&format!("t{n}"), &keys, 4, 1, 4);
                put(&kinesis, &stream, &puts).await;
                out.lock()
                    .unwrap()
                    .extend(puts.iter().flat_map(Put::user_records));
                busy_tx.send_replace(false);
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        });
        Producer {
            produced,
            paused,
            busy,
            task,
        }
    }

    /// Stops producing once the round being put (if any) is in the stream.
    pub async fn pause(&mut self) {
        self.paused.send_replace(true);
        let _ = self.busy.wait_for(|b| !b).await;
    }

    pub fn resume(&self) {
        self.paused.send_replace(false);
    }

    /// Every (partition key, data) put so far, in production order.
    pub fn produced(&self) -> Vec<(String, String)> {
        self.produced.lock().unwrap().clone()
    }
}

impl Drop for Producer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
