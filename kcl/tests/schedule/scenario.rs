//! A schedule drawn from a seed (a pure function of it): the workers, how their
//! processors checkpoint, and what happens when during the fault phase.

use std::fmt;
use std::time::Duration;

use testkit::rng::Rng;
use testkit::{Fault, Rule};

/// How a worker's processors checkpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// `checkpoint()` after every batch.
    EveryBatch,
    /// `checkpoint()` after every n-th batch.
    EveryFew(u32),
    /// With this percent chance per batch, at everything or at a random record of it.
    Random(u64),
    /// A `RecordStream` user that checkpoints every record it takes.
    Stream,
}

/// A DynamoDB fault class.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DynamoFault {
    Throttle,
    ServerError,
    UnlistedServerError,
    ResetBefore,
    ResetAfter,
    ErrorAfter,
    Stall,
    AccessDenied,
    Validation,
    ExpiredToken,
    TableMissing,
}

/// A Kinesis fault class (never ResourceNotFound: that would end a live shard).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KinesisFault {
    Throttle,
    ServerError,
    ResetBefore,
    ResetAfter,
    Stall,
    ExpiredIterator,
}

/// Which client of a worker a fault is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Service {
    Dynamo(DynamoFault),
    Kinesis(KinesisFault),
}

/// Something that happens at a moment of the fault phase.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// A fault on one worker's client for a while.
    Fault {
        slot: usize,
        service: Service,
        operation: Option<&'static str>,
        percent: u64,
        lasting: Duration,
    },
    /// Split an open shard (picked by this number) in the middle of its range.
    Split(u64),
    /// Merge two adjacent open shards (picked by this number).
    Merge(u64),
    /// Abort the worker's run task.
    Abort(usize),
    /// `graceful_shutdown()` (aborted if it takes more than 10 s).
    Graceful(usize),
    /// Start the stopped worker again, under a new worker id or the same.
    Restart { slot: usize, new_id: bool },
}

/// One timed action.
#[derive(Clone, Debug, PartialEq)]
pub struct Timed {
    pub at: Duration,
    pub action: Action,
}

/// A whole schedule.
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    pub seed: u64,
    pub shards: i32,
    /// One checkpoint policy per worker slot.
    pub workers: Vec<Policy>,
    pub failover: Duration,
    /// Whether the producer writes KPL aggregates too.
    pub aggregated: bool,
    /// Faults and stops happen during this phase; then everything is healed.
    pub fault_phase: Duration,
    pub events: Vec<Timed>,
    /// Splits and merges made before the workers start (records produced meanwhile), so
    /// the application starts on a stream with closed shards.
    pub before_start: Vec<Action>,
    /// Whether the table holds items that are not this application's leases (a
    /// multi-stream lease key, another entity type) before the workers start.
    pub foreign_items: bool,
}

impl Scenario {
    /// The scenario of `seed`.
    pub fn draw(seed: u64) -> Scenario {
        let mut rng = Rng::new(seed ^ 0x5CED_0011);
        let slots = 2 + rng.below(3);
        let workers = (0..slots).map(|_| policy(&mut rng)).collect();
        let fault_phase = Duration::from_millis(6000 + 500 * rng.below(7) as u64);
        let mut s = Scenario {
            seed,
            shards: 1 + rng.below(3) as i32,
            workers,
            failover: Duration::from_millis(1000 + 250 * rng.below(5) as u64),
            aggregated: rng.chance(50),
            fault_phase,
            events: Vec::new(),
            before_start: Vec::new(),
            foreign_items: false,
        };
        s.events = events(&mut rng, slots, fault_phase);
        let reshards = if rng.chance(40) { 1 + rng.below(2) } else { 0 };
        s.before_start = (0..reshards)
            .map(|_| {
                if rng.chance(60) {
                    Action::Split(rng.next_u64())
                } else {
                    Action::Merge(rng.next_u64())
                }
            })
            .collect();
        s.foreign_items = rng.chance(30);
        s
    }
}

fn policy(rng: &mut Rng) -> Policy {
    match rng.below(10) {
        0..=2 => Policy::EveryBatch,
        3..=5 => Policy::EveryFew(2 + rng.below(4) as u32),
        6..=7 => Policy::Random(20 + rng.next_u64() % 60),
        _ => Policy::Stream,
    }
}

/// The timed actions: 10 to 17, at most two reshards, never every worker down at once.
fn events(rng: &mut Rng, slots: usize, phase: Duration) -> Vec<Timed> {
    let mut down: Vec<Option<Duration>> = vec![None; slots];
    let mut reshards = 0;
    let count = 10 + rng.below(8);
    let mut times: Vec<u64> = (0..count)
        .map(|_| 500 + rng.next_u64() % (phase.as_millis() as u64 - 1500))
        .collect();
    times.sort_unstable();
    let mut out = Vec::new();
    for t in times {
        let at = Duration::from_millis(t);
        for (slot, d) in down.iter_mut().enumerate() {
            if d.is_some_and(|until| until <= at) {
                *d = None;
                let new_id = rng.chance(50);
                out.push(Timed {
                    at,
                    action: Action::Restart { slot, new_id },
                });
            }
        }
        let action = match rng.below(10) {
            0..=4 => dynamo_fault(rng, slots),
            5 => kinesis_fault(rng, slots),
            6 if reshards < 2 => {
                reshards += 1;
                if rng.chance(60) {
                    Action::Split(rng.next_u64())
                } else {
                    Action::Merge(rng.next_u64())
                }
            }
            _ => match stop(rng, &mut down, at) {
                Some(a) => a,
                None => dynamo_fault(rng, slots),
            },
        };
        out.push(Timed { at, action });
    }
    out
}

/// Stops a running worker (abort or graceful) unless only one runs; it restarts after
/// 0.3 to 3 s (or when the faults stop).
fn stop(rng: &mut Rng, down: &mut [Option<Duration>], at: Duration) -> Option<Action> {
    let running: Vec<usize> = (0..down.len()).filter(|i| down[*i].is_none()).collect();
    if running.len() < 2 {
        return None;
    }
    let slot = *rng.pick(&running)?;
    down[slot] = Some(at + Duration::from_millis(300 + rng.next_u64() % 2700));
    Some(if rng.chance(60) {
        Action::Abort(slot)
    } else {
        Action::Graceful(slot)
    })
}

fn dynamo_fault(rng: &mut Rng, slots: usize) -> Action {
    use DynamoFault::*;
    let all = [
        Throttle,
        ServerError,
        UnlistedServerError,
        ResetBefore,
        ResetAfter,
        ErrorAfter,
        Stall,
        AccessDenied,
        Validation,
        ExpiredToken,
        TableMissing,
    ];
    let ops = [
        None,
        None,
        None,
        Some("UpdateItem"),
        Some("UpdateItem"),
        Some("Scan"),
        Some("GetItem"),
        Some("PutItem"),
    ];
    Action::Fault {
        slot: rng.below(slots),
        service: Service::Dynamo(*rng.pick(&all).unwrap_or(&Throttle)),
        operation: *rng.pick(&ops).unwrap_or(&None),
        percent: percent(rng),
        lasting: Duration::from_millis(500 + rng.next_u64() % 4500),
    }
}

fn kinesis_fault(rng: &mut Rng, slots: usize) -> Action {
    use KinesisFault::*;
    let all = [
        Throttle,
        ServerError,
        ResetBefore,
        ResetAfter,
        Stall,
        ExpiredIterator,
    ];
    let ops = [
        None,
        Some("GetRecords"),
        Some("GetRecords"),
        Some("GetShardIterator"),
        Some("ListShards"),
    ];
    let fault = *rng.pick(&all).unwrap_or(&Throttle);
    let operation = match fault {
        ExpiredIterator => Some("GetRecords"),
        _ => *rng.pick(&ops).unwrap_or(&None),
    };
    Action::Fault {
        slot: rng.below(slots),
        service: Service::Kinesis(fault),
        operation,
        percent: percent(rng),
        lasting: Duration::from_millis(500 + rng.next_u64() % 4500),
    }
}

/// Half the faults hit every matching request, the others 30 to 100 % of them.
fn percent(rng: &mut Rng) -> u64 {
    if rng.chance(50) {
        100
    } else {
        30 + rng.next_u64() % 71
    }
}

impl Service {
    /// The proxy rule of this fault.
    pub fn rule(self, operation: Option<&str>, percent: u64) -> Rule {
        let mut rule = Rule::new(self.fault()).with_probability(percent as f64 / 100.0);
        if let Some(op) = operation {
            rule = rule.on(op);
        }
        rule
    }

    fn fault(self) -> Fault {
        use DynamoFault as D;
        use KinesisFault as K;
        let dynamo_5xx = || Fault::dynamodb_internal_error();
        match self {
            Service::Dynamo(D::Throttle) => Fault::dynamodb_throttled(),
            Service::Dynamo(D::ServerError) => dynamo_5xx(),
            Service::Dynamo(D::UnlistedServerError) => Fault::dynamodb_unlisted_server_error(),
            Service::Dynamo(D::ResetBefore) | Service::Kinesis(K::ResetBefore) => Fault::Reset,
            Service::Dynamo(D::ResetAfter) | Service::Kinesis(K::ResetAfter) => {
                Fault::ResetAfterForward
            }
            Service::Dynamo(D::ErrorAfter) => match dynamo_5xx() {
                Fault::Error { status, error_type } => {
                    Fault::ErrorAfterForward { status, error_type }
                }
                other => other,
            },
            Service::Dynamo(D::Stall) | Service::Kinesis(K::Stall) => Fault::stall(),
            Service::Dynamo(D::AccessDenied) => Fault::dynamodb_access_denied(),
            Service::Dynamo(D::Validation) => Fault::dynamodb_validation(),
            Service::Dynamo(D::ExpiredToken) => Fault::expired_token(),
            Service::Dynamo(D::TableMissing) => Fault::dynamodb_resource_not_found(),
            Service::Kinesis(K::Throttle) => Fault::kinesis_throttled(),
            Service::Kinesis(K::ServerError) => Fault::internal_failure(),
            Service::Kinesis(K::ExpiredIterator) => Fault::expired_iterator(),
        }
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "seed {}: {} shard(s), workers {:?}, failover {:?}, aggregated {}, faults for {:?}, \
             before start {:?}, foreign items {}",
            self.seed,
            self.shards,
            self.workers,
            self.failover,
            self.aggregated,
            self.fault_phase,
            self.before_start,
            self.foreign_items
        )?;
        for e in &self.events {
            writeln!(f, "  {:>6}ms  {:?}", e.at.as_millis(), e.action)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scenario_is_a_pure_function_of_its_seed() {
        assert_eq!(Scenario::draw(7), Scenario::draw(7));
        assert_ne!(Scenario::draw(7), Scenario::draw(8));
        for seed in 0..200 {
            let s = Scenario::draw(seed);
            assert!((2..=4).contains(&s.workers.len()));
            assert!(s.events.windows(2).all(|w| w[0].at <= w[1].at));
            assert!(s.events.iter().all(|e| e.at < s.fault_phase));
        }
    }
}
