//! The shard map: listings started on schedule (each with a timeout), and what a new map,
//! a missing stream or a failed listing changes.

use tokio::task::JoinError;
use tokio::time::Instant;

use super::Driver;
use crate::error::{ErrorCode, PutErrorKind};
use crate::io::listing::{self, ListError};
use crate::record::AttemptError;
use crate::stages::shard_map::ShardMap;

impl Driver {
    /// Starts a ListShards if the map is due for one. It has the request timeout: a
    /// stalled listing ends as failed, and the next one comes after the backoff.
    pub(super) fn start_listing(&mut self, now: Instant) {
        if !self.refresh.due(now) {
            return;
        }
        self.refresh.started();
        let (client, stream) = (self.shared.client.clone(), self.stream.clone());
        let timeout = self.shared.config.request_timeout;
        self.listing = Some(tokio::spawn(async move {
            match tokio::time::timeout(timeout, listing::open_shards(&client, &stream)).await {
                Ok(listed) => listed,
                Err(_) => Err(ListError::Failed(AttemptError::new(
                    ErrorCode::Timeout,
                    format!("ListShards: no response within {timeout:?}"),
                ))),
            }
        }));
    }

    /// A listing ended.
    pub(super) fn on_listed(
        &mut self,
        listed: Result<Result<ShardMap, ListError>, JoinError>,
        now: Instant,
    ) {
        match listed {
            Ok(Ok(map)) if !map.is_empty() => {
                self.refresh.succeeded(now);
                self.missing = false;
                self.map = Some(map);
                self.after_new_map(now);
            }
            Ok(Err(ListError::StreamNotFound)) => {
                self.refresh.failed(now);
                self.missing = true;
                tracing::warn!(stream = %self.stream, "stream not found");
                for held in self.take_all_waiting() {
                    for p in held.users {
                        self.fail(p, PutErrorKind::StreamNotFound);
                    }
                }
            }
            Ok(Ok(_)) | Ok(Err(ListError::Failed(_))) | Err(_) => {
                tracing::debug!(stream = %self.stream, "listing shards failed; retrying with backoff");
                self.refresh.failed(now);
                // Records written where the map did not predict cannot be verified now;
                // records waiting for a first map go without one.
                self.resend_unverified_alone();
                self.release_premap(now, true);
            }
        }
    }

    /// With a fresh map: route the held records, move aggregates of closed shards' (their
    /// records are routed again), settle the records written to unexpected shards, and in
    /// ordered mode move records that went out without a map to their shards' lanes.
    fn after_new_map(&mut self, now: Instant) {
        let Some(map) = self.map.take() else { return };
        let orphans = self.aggregation.remap(|id| map.place(id));
        self.lanes.retain_open(|id| map.place(id).is_some());
        self.lanes.adopt_unmapped(
            |hash| map.predict_place(hash).map(|(_, s)| s.id.clone()),
            now,
        );
        self.map = Some(map);
        for p in std::mem::take(&mut self.premap.0)
            .into_iter()
            .chain(orphans)
        {
            self.route(p);
        }
        self.settle_unverified();
    }
}
