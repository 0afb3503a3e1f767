//! The ledger: every place a record waits in a stream's driver, in one list ([`Place`]).
//!
//! The TTL sweep, the stats (the oldest record's age) and shutdown (what is handed back)
//! all go through it, each with a `match` on the place, so a place cannot be swept but
//! missed by shutdown, or counted but never swept: a new place does not compile until
//! every one of them handles it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use futures::stream::FuturesUnordered;
use kinesis_agg::HashKey;
use tokio::task::{AbortHandle, JoinError};
use tokio::time::{Duration, Instant};

use super::Driver;
use super::outcome::Landing;
use crate::FastMap;
use crate::error::PutErrorKind;
use crate::io::sender::Sent;
use crate::pending::{Outgoing, Pending};

/// Where a record can wait in a driver, in pipeline order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Place {
    /// Taken in before the stream's first shard map (it goes at its deadline regardless).
    Premap,
    /// In its shard's open aggregate.
    Aggregation,
    /// In its shard's lane: rate limit, order.
    Lanes,
    /// In the collector, for the next request.
    Collector,
    /// In a request in flight (not swept: the request ends within its timeout).
    InFlight,
    /// Written to a shard the map did not predict, waiting for a fresh map to tell whether
    /// a KCL-style consumer would keep it.
    Unverified,
}

impl Place {
    pub(super) const ALL: [Place; 6] = [
        Place::Premap,
        Place::Aggregation,
        Place::Lanes,
        Place::Collector,
        Place::InFlight,
        Place::Unverified,
    ];
}

/// User records taken out of a place, as they were grouped there.
#[derive(Debug)]
pub(super) struct Held {
    pub(super) place: Place,
    /// The lane they were released from or queued in (`None`: the unmapped lane).
    pub(super) shard: Option<Arc<str>>,
    /// Their Kinesis record's hash key, where they form one.
    pub(super) hash: Option<HashKey>,
    pub(super) users: Vec<Pending>,
    /// Where they were written, for records awaiting verification.
    pub(super) landing: Option<Landing>,
}

impl Held {
    fn of(place: Place, users: Vec<Pending>) -> Held {
        Held {
            place,
            shard: None,
            hash: None,
            users,
            landing: None,
        }
    }

    fn from_outgoing(place: Place, o: Outgoing) -> Held {
        Held {
            place,
            hash: Some(o.record.explicit_hash_key()),
            shard: o.shard,
            users: o.users,
            landing: None,
        }
    }
}

/// Records taken in before the first shard map.
#[derive(Debug, Default)]
pub(super) struct Premap(pub(super) Vec<Pending>);

type RequestFuture = Pin<Box<dyn Future<Output = (u64, Result<Sent, JoinError>)> + Send>>;

/// The user records of one Kinesis record inside a request.
#[derive(Debug)]
pub(super) struct Sending {
    pub(super) shard: Option<Arc<str>>,
    /// The Kinesis record's hash key (its first user record's).
    pub(super) hash: HashKey,
    pub(super) users: Vec<Pending>,
    /// The Kinesis record's size (data + partition key).
    pub(super) bytes: usize,
}

/// A request in flight.
#[derive(Debug)]
pub(super) struct InFlight {
    pub(super) records: Vec<Sending>,
    pub(super) abort: AbortHandle,
    pub(super) oldest: Instant,
}

/// The requests in flight: their records, and their futures.
#[derive(Default)]
pub(super) struct Requests {
    pub(super) by_id: FastMap<u64, InFlight>,
    pub(super) futures: FuturesUnordered<RequestFuture>,
}

impl Requests {
    pub(super) fn is_empty(&self) -> bool {
        self.futures.is_empty()
    }

    /// The next request to end.
    pub(super) async fn next(&mut self) -> Option<(u64, Result<Sent, JoinError>)> {
        futures::StreamExt::next(&mut self.futures).await
    }
}

/// Records written where the map did not predict, waiting for a fresh map.
#[derive(Debug, Default)]
pub(super) struct Unverified(pub(super) Vec<(Landing, Vec<Pending>)>);

impl Driver {
    /// When the oldest record waiting in `place` was put.
    fn oldest_in(&self, place: Place) -> Option<Instant> {
        let arrived = |users: &[Pending]| users.iter().map(Pending::arrived).min();
        match place {
            Place::Premap => arrived(&self.premap.0),
            Place::Aggregation => self.aggregation.oldest(),
            Place::Lanes => self.lanes.oldest(),
            Place::Collector => self.collector.oldest(),
            Place::InFlight => self.requests.by_id.values().map(|r| r.oldest).min(),
            Place::Unverified => self
                .unverified
                .0
                .iter()
                .filter_map(|(_, u)| arrived(u))
                .min(),
        }
    }

    /// The earliest expiry of a record waiting in `place` (none in flight: a request ends
    /// within its timeout, and its records expire then if they must).
    fn next_expiry_in(&self, place: Place) -> Option<Instant> {
        let expiry = |users: &[Pending]| users.iter().map(Pending::expiry).min();
        match place {
            Place::Premap => expiry(&self.premap.0),
            Place::Aggregation => self.aggregation.next_expiry(),
            Place::Lanes => self.lanes.next_expiry(),
            Place::Collector => self.collector.next_expiry(),
            Place::InFlight => None,
            Place::Unverified => self
                .unverified
                .0
                .iter()
                .filter_map(|(_, u)| expiry(u))
                .min(),
        }
    }

    /// Takes out of `place` what holds a record expired at `now` (whole aggregates where
    /// records are encoded together; only the expired records elsewhere).
    fn take_expiring_in(&mut self, place: Place, now: Instant) -> Vec<Held> {
        let expired = |p: &Pending| p.expiry() <= now;
        match place {
            Place::Premap => {
                let (gone, kept) = std::mem::take(&mut self.premap.0)
                    .into_iter()
                    .partition(expired);
                self.premap.0 = kept;
                vec![Held::of(place, gone)]
            }
            Place::Aggregation => vec![Held::of(place, self.aggregation.take_expiring(now))],
            Place::Lanes => self
                .lanes
                .take_expiring(now)
                .into_iter()
                .map(|o| Held::from_outgoing(place, o))
                .collect(),
            Place::Collector => {
                let taken = self.collector.take_expiring(now);
                self.out_of_collector(taken)
            }
            Place::InFlight => Vec::new(),
            Place::Unverified => {
                let mut out = Vec::new();
                for (landing, users) in &mut self.unverified.0 {
                    let (gone, kept): (Vec<Pending>, Vec<Pending>) =
                        std::mem::take(users).into_iter().partition(expired);
                    *users = kept;
                    if !gone.is_empty() {
                        out.push(Held {
                            landing: Some(landing.clone()),
                            ..Held::of(place, gone)
                        });
                    }
                }
                self.unverified.0.retain(|(_, users)| !users.is_empty());
                out
            }
        }
    }

    /// Takes everything out of `place`; requests in flight are abandoned (their records
    /// may or may not have been written).
    fn drain_place(&mut self, place: Place) -> Vec<Held> {
        match place {
            Place::Premap => vec![Held::of(place, std::mem::take(&mut self.premap.0))],
            Place::Aggregation => vec![Held::of(place, self.aggregation.drain())],
            Place::Lanes => self
                .lanes
                .drain()
                .into_iter()
                .map(|o| Held::from_outgoing(place, o))
                .collect(),
            Place::Collector => {
                let taken = self.collector.drain();
                self.out_of_collector(taken)
            }
            Place::InFlight => {
                let mut out = Vec::new();
                for (_, request) in std::mem::take(&mut self.requests).by_id {
                    request.abort.abort();
                    for s in request.records {
                        self.lanes.settled(s.shard.as_ref(), s.hash);
                        out.push(Held {
                            shard: s.shard,
                            hash: Some(s.hash),
                            ..Held::of(place, s.users)
                        });
                    }
                }
                out
            }
            Place::Unverified => std::mem::take(&mut self.unverified.0)
                .into_iter()
                .map(|(landing, users)| Held {
                    landing: Some(landing),
                    ..Held::of(place, users)
                })
                .collect(),
        }
    }

    /// Records taken out of the collector: released by their lanes, now settled there.
    fn out_of_collector(&mut self, taken: Vec<Outgoing>) -> Vec<Held> {
        let held: Vec<Held> = taken
            .into_iter()
            .map(|o| Held::from_outgoing(Place::Collector, o))
            .collect();
        for h in &held {
            if let Some(hash) = h.hash {
                self.lanes.settled(h.shard.as_ref(), hash);
            }
        }
        held
    }

    /// When the oldest outstanding record was put, wherever it waits.
    pub(super) fn oldest(&self) -> Option<Instant> {
        Place::ALL
            .into_iter()
            .filter_map(|p| self.oldest_in(p))
            .min()
    }

    /// Everything waiting anywhere but in flight (the stream is gone: fail it all).
    pub(super) fn take_all_waiting(&mut self) -> Vec<Held> {
        let places = Place::ALL.into_iter().filter(|p| *p != Place::InFlight);
        places.flat_map(|p| self.drain_place(p)).collect::<Vec<_>>()
    }

    /// Everything, requests in flight included (abort).
    pub(super) fn take_everything(&mut self) -> Vec<Held> {
        Place::ALL
            .into_iter()
            .flat_map(|p| self.drain_place(p))
            .collect::<Vec<_>>()
    }

    /// Fails expired records wherever they wait; the others of the same aggregates go back
    /// where they came from (in ordered mode, ahead of everything newer of their shard).
    pub(super) fn sweep(&mut self, now: Instant) {
        if self.sweep_at.is_none_or(|at| at > now) {
            return;
        }
        for place in Place::ALL {
            for held in self.take_expiring_in(place, now) {
                self.expire(held, now);
            }
        }
        let next = Place::ALL
            .into_iter()
            .filter_map(|p| self.next_expiry_in(p))
            .min();
        // Records in flight come back within the request timeout: look again then.
        let look_again = now
            + self
                .shared
                .config
                .record_max_buffered_time
                .max(Duration::from_millis(100));
        self.sweep_at = match next {
            // At most one sweep (a scan of what waits) every millisecond.
            Some(at) => Some(at.max(now + SWEEP_GAP)),
            None => (self.outstanding > 0).then_some(look_again),
        };
    }

    /// Fails the expired records of `held`, and puts the others back.
    fn expire(&mut self, held: Held, now: Instant) {
        let (gone, kept): (Vec<Pending>, Vec<Pending>) =
            held.users.into_iter().partition(|p| p.expiry() <= now);
        for mut p in gone {
            if let Some(landing) = &held.landing {
                landing.record_unverified(&mut p);
            }
            self.fail(p, PutErrorKind::Expired);
        }
        if kept.is_empty() {
            return;
        }
        match held.place {
            Place::Lanes | Place::Collector if self.ordered() => self.requeue_front(kept, now),
            _ => kept.into_iter().for_each(|p| self.route(p)),
        }
    }
}

/// The least time between two sweeps.
const SWEEP_GAP: Duration = Duration::from_millis(1);

/// Schedules a sweep for a record expiring at `expiry`.
pub(super) fn sweep_by(sweep_at: &mut Option<Instant>, expiry: Instant) {
    *sweep_at = Some(sweep_at.map_or(expiry, |s| s.min(expiry)));
}
