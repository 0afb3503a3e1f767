//! One case of the model-based test, drawn from a seed: a configuration, streams, a
//! workload, a fault schedule and reshards.

use std::time::Duration;

use kpl::{Ordering, ProducerConfig, Record};
use testkit::rng::Rng;
use testkit::{Fault, Rule};

/// What the workload does, in order.
#[derive(Clone, Debug)]
pub(crate) enum Op {
    Put(Spec),
    TryPut(Spec),
    Batch(Vec<Spec>),
    Flush,
    /// Let time pass (deadlines, retries, reshards).
    Pause(Duration),
    /// Split or merge a shard of a stream.
    Reshard {
        stream: usize,
        split: bool,
    },
    /// Shut the producer down (later puts fail with ShutDown).
    Shutdown(Duration),
}

/// One user record to put: `id` is unique in the case and written into its data (or its
/// partition key, for records of fewer than 8 bytes).
#[derive(Clone, Debug)]
pub(crate) struct Spec {
    pub(crate) id: u64,
    pub(crate) stream: usize,
    pub(crate) key: usize,
    pub(crate) size: usize,
    pub(crate) explicit: bool,
}

/// A drawn case.
#[derive(Clone, Debug)]
pub(crate) struct Case {
    pub(crate) seed: u64,
    pub(crate) config: ProducerConfig,
    /// Shards of each stream at the start.
    pub(crate) shards: Vec<i32>,
    pub(crate) enforce_limits: bool,
    pub(crate) faults: Vec<Rule>,
    pub(crate) ops: Vec<Op>,
}

impl Case {
    pub(crate) fn stream_name(stream: usize) -> String {
        format!("model-{stream}")
    }

    /// Draws a case from `seed`.
    pub(crate) fn draw(seed: u64) -> Case {
        let mut rng = Rng::new(seed);
        let config = config(&mut rng);
        let shards: Vec<i32> = (0..1 + rng.below(2))
            .map(|_| [1, 2, 3, 4][rng.below(4)])
            .collect();
        let enforce_limits = rng.chance(15);
        let faults = faults(&mut rng, &config);
        let ops = ops(&mut rng, &config, shards.len(), enforce_limits);
        Case {
            seed,
            config,
            shards,
            enforce_limits,
            faults,
            ops,
        }
    }
}

fn pick<T: Copy>(rng: &mut Rng, items: &[T]) -> T {
    *rng.pick(items).unwrap_or_else(|| panic!("nothing to pick"))
}

fn config(rng: &mut Rng) -> ProducerConfig {
    let ms = Duration::from_millis;
    let max_user = pick(rng, &[1 << 20, 200 * 1024, 64 * 1024]);
    let max_bytes = pick(rng, &[2 << 20, 8 << 20, 64 << 20]).max(max_user);
    let agg_size = pick(rng, &[64, 300, 4096, 51_200, max_user]).min(max_user);
    ProducerConfig::default()
        .aggregation_enabled(!rng.chance(25))
        .ordering(if rng.chance(40) {
            Ordering::PerShard
        } else {
            Ordering::Unordered
        })
        .aggregation_max_size(agg_size)
        .aggregation_max_count(pick(rng, &[1, 5, 1000, u64::from(u32::MAX)]))
        .collection_max_count(pick(rng, &[1, 3, 50, 500]))
        .collection_max_size(pick(rng, &[52_224, 300_000, 5 << 20]))
        .record_max_buffered_time(ms(pick(rng, &[0, 5, 30, 100])))
        .record_ttl(ms(pick(rng, &[800, 3000, 10_000])))
        .request_timeout(ms(pick(rng, &[300, 1000, 3000])))
        .max_connections(pick(rng, &[1, 2, 8, 24]))
        .rate_limit(pick(rng, &[20, 100, 150, 400]))
        .fail_if_throttled(rng.chance(10))
        .max_user_record_size(max_user)
        .max_outstanding_records(pick(rng, &[20, 500, 100_000]))
        .max_outstanding_bytes(max_bytes)
}

/// Whole-request errors of every class, per-entry failures, timeouts, resets before and
/// after the server acted, and a stalling or failing ListShards.
fn faults(rng: &mut Rng, config: &ProducerConfig) -> Vec<Rule> {
    let error = |status: u16, error_type: &str| Fault::Error {
        status,
        error_type: error_type.into(),
    };
    let timeout = config.request_timeout + Duration::from_millis(100);
    let menu = [
        Fault::fail_entries(0.3, "ProvisionedThroughputExceededException"),
        Fault::fail_entries(0.3, "InternalFailure"),
        error(500, "InternalFailure"),
        error(503, "ServiceUnavailable"),
        error(500, "SomethingUnlistedException"),
        error(400, "ThrottlingException"),
        error(400, "ProvisionedThroughputExceededException"),
        error(400, "AccessDeniedException"),
        Fault::Delay(timeout),
        Fault::Reset,
        Fault::ResetAfterForward,
        Fault::ErrorAfterForward {
            status: 500,
            error_type: "InternalFailure".into(),
        },
    ];
    let mut rules = Vec::new();
    for _ in 0..rng.below(4) {
        let fault = rng.pick(&menu).cloned().unwrap_or(Fault::Reset);
        let probability = pick(rng, &[0.02, 0.05, 0.15]);
        rules.push(
            Rule::new(fault)
                .on("PutRecords")
                .with_probability(probability)
                .at_most(40),
        );
    }
    if rng.chance(20) {
        let stall = Fault::Delay(Duration::from_secs(3600));
        rules.push(
            Rule::new(stall)
                .on("ListShards")
                .at_most(1 + rng.below(2) as u64),
        );
    }
    if rng.chance(20) {
        let failing = error(500, "InternalFailure");
        rules.push(
            Rule::new(failing)
                .on("ListShards")
                .with_probability(0.5)
                .at_most(4),
        );
    }
    rules
}

fn ops(rng: &mut Rng, config: &ProducerConfig, streams: usize, enforce: bool) -> Vec<Op> {
    let records = pick(rng, &[50, 300, 1200]);
    let keys = pick(rng, &[1, 4, 50, 10_000]);
    // With the server's limits on, a few MiB at most (1 MiB/s per shard).
    let budget: usize = if enforce { 3 << 20 } else { 24 << 20 };
    let mut ops: Vec<Op> = Vec::new();
    let mut id = 0;
    let mut reshards = rng.below(3);
    let limit = config.max_user_record_size;
    let explicit_keys = rng.chance(40);
    let mut spec = |rng: &mut Rng| {
        id += 1;
        let key = rng.below(keys);
        Spec {
            id,
            stream: rng.below(streams),
            key,
            size: size(rng, limit),
            // A key routed by an explicit hash key always is (and keeps its order).
            explicit: explicit_keys && key.is_multiple_of(3),
        }
    };
    while ops.iter().map(Op::records).sum::<usize>() < records && spent_below(&ops, budget) {
        let op = match rng.below(100) {
            0..=54 => Op::Put(spec(rng)),
            55..=69 => Op::TryPut(spec(rng)),
            70..=89 => {
                let n = 1 + rng.below(60);
                Op::Batch((0..n).map(|_| spec(rng)).collect())
            }
            90..=93 => Op::Flush,
            94..=97 => Op::Pause(Duration::from_millis(rng.below(150) as u64)),
            _ if reshards > 0 => {
                reshards -= 1;
                Op::Reshard {
                    stream: rng.below(streams),
                    split: rng.chance(60),
                }
            }
            _ => Op::Pause(Duration::from_millis(20)),
        };
        ops.push(op);
    }
    if rng.chance(30) {
        let at = rng.below(ops.len() + 1);
        ops.insert(
            at,
            Op::Shutdown(Duration::from_millis(pick(rng, &[0, 200, 2000]) as u64)),
        );
    }
    ops
}

/// Whether the records of `ops` take fewer than `budget` bytes.
fn spent_below(ops: &[Op], budget: usize) -> bool {
    ops.iter()
        .flat_map(Op::specs)
        .map(|s| s.size)
        .sum::<usize>()
        < budget
}

impl Op {
    /// The records it puts.
    pub(crate) fn specs(&self) -> &[Spec] {
        match self {
            Op::Put(s) | Op::TryPut(s) => std::slice::from_ref(s),
            Op::Batch(specs) => specs,
            _ => &[],
        }
    }

    fn records(&self) -> usize {
        self.specs().len()
    }
}

/// Sizes from 0 B to the limit (data + partition key), mostly small.
fn size(rng: &mut Rng, limit: usize) -> usize {
    match rng.below(100) {
        0..=4 => rng.below(8),
        5..=64 => 8 + rng.below(200),
        65..=89 => 200 + rng.below(10_000),
        90..=96 => rng.below(limit / 2),
        _ => limit - 8,
    }
}

impl Spec {
    /// The record; keys `k{key}` (at most 8 bytes: `size` counts them), data led by the id.
    pub(crate) fn record(&self) -> Record {
        let stream = Case::stream_name(self.stream);
        let (key, mut data) = if self.size < 8 {
            (format!("u{}", self.id), vec![b'.'; self.size])
        } else {
            (
                format!("k{}", self.key % 10_000_000),
                self.id.to_le_bytes().to_vec(),
            )
        };
        let total = self.size.saturating_sub(key.len()).max(data.len());
        data.resize(total, b'x');
        let record = Record::new(stream, key, data);
        if self.explicit {
            // Per key: records of a key share their explicit hash key (and their order).
            let ehk = (self.key as u128).wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835);
            return record.with_explicit_hash_key(ehk.to_string());
        }
        record
    }
}
