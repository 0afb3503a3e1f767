//! The shard consumer's state machine, as a pure transition function.
//!
//! `WaitingOnParents -> Initializing -> Processing -> ShuttingDown(reason) -> Done(reason)`.
//! Shutdown reasons rank `LeaseLost > ShardEnd > Requested`: a stronger reason arriving
//! before the shutdown work ran replaces a weaker one. Before the processor was
//! initialized there is nothing to tell it, so a shutdown goes straight to `Done`.

/// Why a shard consumer shuts down, weakest first (the derived order is the rank).
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ShutdownReason {
    /// The worker is shutting down gracefully; the lease is still held.
    Requested,
    /// The shard is closed and every record was delivered.
    ShardEnd,
    /// The lease is no longer ours.
    LeaseLost,
}

/// Where a shard consumer is.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ConsumerState {
    /// Waiting until every parent shard is finished (or its lease is gone).
    WaitingOnParents,
    /// About to initialize the processor and start retrieval.
    Initializing,
    /// Delivering records.
    Processing,
    /// Running the shutdown work for the reason (processor call, shard end actions).
    ShuttingDown(ShutdownReason),
    /// Finished.
    Done(ShutdownReason),
}

/// What happened.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ConsumerEvent {
    /// Every parent is finished or gone.
    ParentsDone,
    /// The processor was initialized and retrieval started.
    Initialized,
    /// A batch was delivered and the shard goes on.
    BatchDelivered,
    /// The last records of a closed shard were delivered.
    ShardEndReached,
    /// A shutdown for this reason (lease lost, or a graceful shutdown requested).
    Shutdown(ShutdownReason),
    /// The shutdown work finished.
    ShutdownComplete,
}

/// The next state after `event` in `state`; an event that does not apply leaves the
/// state unchanged.
///
/// ```
/// use kcl::shard::{transition, ConsumerEvent as E, ConsumerState as S, ShutdownReason as R};
/// let s = transition(S::Processing, E::ShardEndReached);
/// assert_eq!(s, S::ShuttingDown(R::ShardEnd));
/// assert_eq!(transition(s, E::Shutdown(R::LeaseLost)), S::ShuttingDown(R::LeaseLost));
/// assert_eq!(transition(s, E::Shutdown(R::Requested)), S::ShuttingDown(R::ShardEnd));
/// ```
pub fn transition(state: ConsumerState, event: ConsumerEvent) -> ConsumerState {
    use ConsumerEvent as E;
    use ConsumerState as S;
    match (state, event) {
        (S::Done(r), _) => S::Done(r),
        (S::WaitingOnParents, E::ParentsDone) => S::Initializing,
        (S::WaitingOnParents | S::Initializing, E::Shutdown(r)) => S::Done(r),
        (S::Initializing, E::Initialized) => S::Processing,
        (S::Processing, E::BatchDelivered) => S::Processing,
        (S::Processing, E::ShardEndReached) => S::ShuttingDown(ShutdownReason::ShardEnd),
        (S::Processing, E::Shutdown(r)) => S::ShuttingDown(r),
        (S::ShuttingDown(current), E::Shutdown(r)) => S::ShuttingDown(current.max(r)),
        (S::ShuttingDown(r), E::ShutdownComplete) => S::Done(r),
        (s, _) => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ConsumerEvent as E;
    use ConsumerState as S;
    use ShutdownReason as R;

    const REASONS: [R; 3] = [R::Requested, R::ShardEnd, R::LeaseLost];

    fn all_events() -> Vec<E> {
        let mut v = vec![
            E::ParentsDone,
            E::Initialized,
            E::BatchDelivered,
            E::ShardEndReached,
            E::ShutdownComplete,
        ];
        v.extend(REASONS.map(E::Shutdown));
        v
    }

    #[test]
    fn the_happy_path() {
        let mut s = S::WaitingOnParents;
        for (event, expected) in [
            (E::ParentsDone, S::Initializing),
            (E::Initialized, S::Processing),
            (E::BatchDelivered, S::Processing),
            (E::ShardEndReached, S::ShuttingDown(R::ShardEnd)),
            (E::ShutdownComplete, S::Done(R::ShardEnd)),
        ] {
            s = transition(s, event);
            assert_eq!(s, expected);
        }
    }

    #[test]
    fn waiting_on_parents() {
        for e in all_events() {
            let expected = match e {
                E::ParentsDone => S::Initializing,
                E::Shutdown(r) => S::Done(r),
                _ => S::WaitingOnParents,
            };
            assert_eq!(transition(S::WaitingOnParents, e), expected, "{e:?}");
        }
    }

    #[test]
    fn initializing() {
        for e in all_events() {
            let expected = match e {
                E::Initialized => S::Processing,
                E::Shutdown(r) => S::Done(r),
                _ => S::Initializing,
            };
            assert_eq!(transition(S::Initializing, e), expected, "{e:?}");
        }
    }

    #[test]
    fn processing() {
        for e in all_events() {
            let expected = match e {
                E::ShardEndReached => S::ShuttingDown(R::ShardEnd),
                E::Shutdown(r) => S::ShuttingDown(r),
                _ => S::Processing,
            };
            assert_eq!(transition(S::Processing, e), expected, "{e:?}");
        }
    }

    #[test]
    fn shutting_down_keeps_the_strongest_reason() {
        for current in REASONS {
            for e in all_events() {
                let expected = match e {
                    E::Shutdown(r) => S::ShuttingDown(current.max(r)),
                    E::ShutdownComplete => S::Done(current),
                    _ => S::ShuttingDown(current),
                };
                assert_eq!(transition(S::ShuttingDown(current), e), expected);
            }
        }
        assert!(R::LeaseLost > R::ShardEnd && R::ShardEnd > R::Requested);
    }

    #[test]
    fn done_is_final() {
        for r in REASONS {
            for e in all_events() {
                assert_eq!(transition(S::Done(r), e), S::Done(r));
            }
        }
    }
}
