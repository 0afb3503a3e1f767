//! Backpressure: the outstanding records and bytes of a producer, bounded. A permit is
//! taken before a record enters the pipeline and given back when it completes (written or
//! failed), so memory stays bounded however slow Kinesis is.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

/// Bytes of bookkeeping per outstanding record (its place in the pipeline, its completion
/// channel, its result, its share of the aggregate and request bodies, and the allocator's
/// slack), counted against `max_outstanding_bytes` with its data so that the bound bounds
/// memory even for small records (see the README's performance section).
pub const RECORD_OVERHEAD_BYTES: usize = 1280;

/// What a record counts against `max_outstanding_bytes`.
pub(crate) fn charge(user: &kinesis_agg::UserRecord) -> usize {
    charge_of(1, user.size())
}

/// What `records` records of `size` bytes in all count against the byte bound.
pub(crate) fn charge_of(records: usize, size: usize) -> usize {
    size + records * RECORD_OVERHEAD_BYTES
}

/// The bounds and what is in use.
#[derive(Debug)]
pub(crate) struct Budget {
    max_records: usize,
    max_bytes: usize,
    used: Mutex<Used>,
    freed: Notify,
    /// Puts waiting for room right now.
    waiters: AtomicUsize,
    /// Signalled when a put starts waiting: holding records back to fill aggregates is
    /// pointless then, so drivers send what they hold at once.
    pressure: Notify,
    /// How many times a put started waiting: a driver that looked at the pressure before
    /// a put started waiting sees the count moved, however late it starts listening.
    pressure_epoch: AtomicU64,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Used {
    pub(crate) records: usize,
    pub(crate) bytes: usize,
}

/// One record's share of the budget (or several records' after [`Permit::absorb`]),
/// returned when dropped.
#[derive(Debug)]
pub(crate) struct Permit {
    budget: Arc<Budget>,
    records: usize,
    bytes: usize,
}

impl Budget {
    pub(crate) fn new(max_records: usize, max_bytes: usize) -> Arc<Budget> {
        Arc::new(Budget {
            max_records,
            max_bytes,
            used: Mutex::new(Used::default()),
            freed: Notify::new(),
            waiters: AtomicUsize::new(0),
            pressure: Notify::new(),
            pressure_epoch: AtomicU64::new(0),
        })
    }

    /// A permit for a record of `bytes` if both bounds allow it now. A record larger than
    /// the byte bound is let in when nothing else is outstanding, so it cannot wait forever.
    pub(crate) fn try_acquire(self: &Arc<Self>, bytes: usize) -> Option<Permit> {
        let mut permit = self.empty();
        self.try_grow(&mut permit, bytes).then_some(permit)
    }

    /// A permit for nothing, to absorb others' shares (see [`Permit::absorb`]).
    pub(crate) fn empty(self: &Arc<Self>) -> Permit {
        Permit {
            budget: self.clone(),
            records: 0,
            bytes: 0,
        }
    }

    /// Adds a record of `bytes` to `permit` if both bounds allow it now (the rule of
    /// [`try_acquire`](Self::try_acquire), without a permit of its own).
    pub(crate) fn try_grow(&self, permit: &mut Permit, bytes: usize) -> bool {
        let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        let fits_bytes = used.bytes + bytes <= self.max_bytes || used.records == 0;
        if used.records >= self.max_records || !fits_bytes {
            return false;
        }
        used.records += 1;
        used.bytes += bytes;
        permit.records += 1;
        permit.bytes += bytes;
        true
    }

    /// Waits until a permit for `bytes` is available.
    pub(crate) async fn acquire(self: &Arc<Self>, bytes: usize) -> Permit {
        if let Some(permit) = self.try_acquire(bytes) {
            return permit;
        }
        let _waiting = Waiting::new(self);
        loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            if let Some(permit) = self.try_acquire(bytes) {
                return permit;
            }
            self.pressure_epoch.fetch_add(1, Ordering::SeqCst);
            self.pressure.notify_waiters();
            freed.await;
        }
    }

    /// Whether a put is waiting for room.
    pub(crate) fn under_pressure(&self) -> bool {
        self.waiters.load(Ordering::Relaxed) > 0
    }

    /// The count of puts that started waiting, to pass to
    /// [`pressured_since`](Self::pressured_since) (read it before looking at the pressure).
    pub(crate) fn pressure_epoch(&self) -> u64 {
        self.pressure_epoch.load(Ordering::SeqCst)
    }

    /// Resolves once a put has started waiting for room since the count was `seen`: at
    /// once if one did in between (a wake-up cannot be missed, however late this is polled).
    pub(crate) async fn pressured_since(&self, seen: u64) {
        loop {
            let notified = self.pressure.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.pressure_epoch() != seen {
                return;
            }
            notified.await;
        }
    }

    /// What is in use now.
    pub(crate) fn used(&self) -> Used {
        *self.used.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Counts a waiting put for as long as it waits.
struct Waiting<'a>(&'a Budget);

impl<'a> Waiting<'a> {
    fn new(budget: &'a Budget) -> Self {
        // SeqCst pairs with the load in `Permit::drop`: a waiter is counted before it
        // checks for room, so a release after that check sees it and wakes it.
        budget.waiters.fetch_add(1, Ordering::SeqCst);
        Waiting(budget)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.waiters.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Permit {
    /// Takes `other`'s share into this one (a driver holds the shares of all its records
    /// in one permit and returns a whole Kinesis record's in one release).
    pub(crate) fn absorb(&mut self, mut other: Permit) {
        self.records += std::mem::take(&mut other.records);
        self.bytes += std::mem::take(&mut other.bytes);
    }

    /// Returns `records` records and `bytes` bytes of this share to the budget now (the
    /// completed records of a larger share).
    pub(crate) fn release(&mut self, records: usize, bytes: usize) {
        let records = records.min(self.records);
        let bytes = bytes.min(self.bytes);
        self.records -= records;
        self.bytes -= bytes;
        self.budget.give_back(records, bytes);
    }
}

impl Budget {
    fn give_back(&self, records: usize, bytes: usize) {
        if records == 0 && bytes == 0 {
            return;
        }
        {
            let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
            used.records = used.records.saturating_sub(records);
            used.bytes = used.bytes.saturating_sub(bytes);
        }
        // Waking costs a lock: only when a put waits for room.
        if self.waiters.load(Ordering::SeqCst) > 0 {
            self.freed.notify_waiters();
        }
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        // Nothing left when absorbed by another permit or released.
        self.budget.give_back(self.records, self.bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn both_bounds_hold() {
        let b = Budget::new(2, 100);
        let p1 = b.try_acquire(60).unwrap();
        assert!(b.try_acquire(50).is_none(), "bytes bound");
        let p2 = b.try_acquire(40).unwrap();
        assert!(b.try_acquire(0).is_none(), "records bound");
        drop(p1);
        assert_eq!(
            b.used(),
            Used {
                records: 1,
                bytes: 40
            }
        );
        drop(p2);
        assert_eq!(b.used(), Used::default());
    }

    #[test]
    fn an_oversized_record_goes_alone() {
        let b = Budget::new(10, 100);
        let big = b.try_acquire(500).unwrap();
        assert!(b.try_acquire(1).is_none());
        drop(big);
        assert!(b.try_acquire(1).is_some());
    }

    #[test]
    fn absorbed_permits_are_returned_together() {
        let b = Budget::new(3, 100);
        let mut p1 = b.try_acquire(10).unwrap();
        let p2 = b.try_acquire(20).unwrap();
        let p3 = b.try_acquire(30).unwrap();
        p1.absorb(p2);
        p1.absorb(p3);
        assert_eq!(
            b.used(),
            Used {
                records: 3,
                bytes: 60
            },
            "nothing returned yet"
        );
        drop(p1);
        assert_eq!(b.used(), Used::default());
    }

    #[test]
    fn a_grown_permit_is_released_in_parts() {
        let b = Budget::new(3, 100);
        let mut held = b.empty();
        assert!(b.try_grow(&mut held, 40));
        assert!(b.try_grow(&mut held, 50));
        assert!(!b.try_grow(&mut held, 20), "bytes bound");
        assert!(b.try_grow(&mut held, 10));
        assert!(!b.try_grow(&mut held, 0), "records bound");
        held.release(2, 90);
        assert_eq!(
            b.used(),
            Used {
                records: 1,
                bytes: 10
            }
        );
        held.release(5, 500); // more than it holds: only what it holds
        assert_eq!(b.used(), Used::default());
        assert!(b.try_grow(&mut held, 100));
        drop(held);
        assert_eq!(b.used(), Used::default(), "the rest returned when dropped");
    }

    #[tokio::test]
    async fn a_put_that_waits_after_the_driver_looked_still_wakes_it() {
        let b = Budget::new(1, 100);
        let _held = b.try_acquire(10).unwrap();
        // The driver reads the count and the pressure (none), then works a while ...
        let seen = b.pressure_epoch();
        assert!(!b.under_pressure());
        // ... and meanwhile a put starts waiting ...
        let waiter = tokio::spawn({
            let b = b.clone();
            async move { b.acquire(10).await.bytes }
        });
        while !b.under_pressure() {
            tokio::task::yield_now().await;
        }
        // ... before the driver starts listening: it must still wake.
        let woke = tokio::time::timeout(Duration::from_secs(1), b.pressured_since(seen)).await;
        assert!(woke.is_ok(), "the wake-up was missed");
        waiter.abort();
    }

    #[tokio::test]
    async fn acquire_waits_for_a_release() {
        let b = Budget::new(1, 100);
        let held = b.try_acquire(10).unwrap();
        let waiter = tokio::spawn({
            let b = b.clone();
            async move { b.acquire(10).await.bytes }
        });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        assert!(b.under_pressure());
        drop(held);
        assert_eq!(waiter.await.unwrap(), 10);
        assert!(!b.under_pressure());
    }
}
