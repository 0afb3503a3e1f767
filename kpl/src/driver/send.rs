//! Requests out: the collector's batches onto free connections, while the backoff allows.

use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Instant;

use super::Driver;
use super::ledger::{InFlight, Sending};
use crate::io::sender;
use crate::pending::Outgoing;

impl Driver {
    /// Starts every request the collector has ready while connections are free.
    pub(super) fn send_ready(&mut self, now: Instant) {
        self.collector_blocked = false;
        let force = self.send_everything();
        while self.collector.ready(now, force) {
            if self.backoff.active(now) {
                self.collector_blocked = true;
                return;
            }
            let permit = match self.spare_connection.take() {
                Some(p) => p,
                None => match self.shared.connections.clone().try_acquire_owned() {
                    Ok(p) => p,
                    Err(_) => {
                        self.waiting_connection = true;
                        self.collector_blocked = true;
                        return;
                    }
                },
            };
            let Some(batch) = self.collector.take(now, force) else {
                self.collector_blocked = true;
                return;
            };
            self.send(batch, permit, now);
        }
    }

    /// Starts one PutRecords of `batch` on `permit`'s connection.
    fn send(&mut self, batch: Vec<Outgoing>, permit: OwnedSemaphorePermit, now: Instant) {
        let id = self.next_request;
        self.next_request += 1;
        let mut records = Vec::with_capacity(batch.len());
        let mut sending = Vec::with_capacity(batch.len());
        let mut oldest = now;
        for o in batch {
            oldest = oldest.min(o.oldest);
            let handles = self.metrics.shard(o.shard.as_ref()).clone();
            for u in o.users.iter().filter(|u| u.attempts().is_empty()) {
                handles
                    .buffering_time
                    .record((now - u.arrived()).as_secs_f64() * 1000.0);
            }
            let bytes = o.size();
            let hash = o.record.explicit_hash_key();
            records.push(o.record);
            sending.push(Sending {
                shard: o.shard,
                hash,
                users: o.users,
                bytes,
            });
        }
        let c = &self.shared.config;
        let handle = sender::spawn(
            self.shared.client.clone(),
            (*self.stream).clone(),
            id,
            records,
            c.request_timeout,
            permit,
        );
        let abort = handle.abort_handle();
        self.requests.by_id.insert(
            id,
            InFlight {
                records: sending,
                abort,
                oldest,
            },
        );
        self.requests
            .futures
            .push(Box::pin(async move { (id, handle.await) }));
    }
}
