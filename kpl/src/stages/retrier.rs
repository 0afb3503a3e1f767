//! What happens to a Kinesis record after its attempt: a pure decision over the outcome,
//! the prediction and the configuration (the mechanism lives in the driver).

use crate::error::{ErrorCode, PutErrorKind};
use crate::io::sender::EntryOutcome;

/// The decision for one Kinesis record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Written where its user records belong: complete them.
    Done,
    /// Written, but not on the shard it was aggregated for: its user records may belong to
    /// other shards. Check them against the shard's range once the map is fresh.
    Check,
    /// Send its user records again (`throttled` slows its shard down).
    Retry { throttled: bool },
    /// Fail its user records.
    Fail(PutErrorKind),
}

/// Judges an entry's outcome. `predicted` is the shard it was aggregated for, `users` the
/// number of user records it carries.
pub(crate) fn judge(
    outcome: &EntryOutcome,
    predicted: Option<&str>,
    users: usize,
    fail_if_throttled: bool,
) -> Verdict {
    match outcome {
        EntryOutcome::Written { shard_id, .. } => {
            // A record alone is routed by its own hash key: wherever it landed is right.
            if users <= 1 || predicted == Some(&**shard_id) {
                Verdict::Done
            } else {
                Verdict::Check
            }
        }
        EntryOutcome::Failed(e) => judge_error(&e.code, fail_if_throttled, e),
    }
}

/// Judges a failure (of an entry or of the whole request).
pub(crate) fn judge_error(
    code: &ErrorCode,
    fail_if_throttled: bool,
    error: &crate::record::AttemptError,
) -> Verdict {
    match code {
        ErrorCode::Throttled if fail_if_throttled => Verdict::Fail(PutErrorKind::Throttled),
        ErrorCode::Throttled => Verdict::Retry { throttled: true },
        ErrorCode::StreamNotFound => Verdict::Fail(PutErrorKind::StreamNotFound),
        c if c.is_retryable() => Verdict::Retry { throttled: false },
        _ => Verdict::Fail(PutErrorKind::Service(error.clone())),
    }
}

/// Whether the written shard tells that the map is stale.
pub(crate) fn mispredicted(outcome: &EntryOutcome, predicted: Option<&str>) -> bool {
    match (outcome, predicted) {
        (EntryOutcome::Written { shard_id, .. }, Some(p)) => **shard_id != *p,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::AttemptError;

    fn written(shard: &str) -> EntryOutcome {
        EntryOutcome::Written {
            shard_id: shard.into(),
            sequence_number: "1".into(),
        }
    }

    fn failed(code: &str) -> EntryOutcome {
        EntryOutcome::Failed(AttemptError::new(ErrorCode::from_entry(code), ""))
    }

    #[test]
    fn written_where_predicted_is_done() {
        assert_eq!(judge(&written("a"), Some("a"), 10, false), Verdict::Done);
        assert!(!mispredicted(&written("a"), Some("a")));
    }

    #[test]
    fn an_aggregate_on_another_shard_is_checked_and_invalidates_the_map() {
        assert_eq!(judge(&written("b"), Some("a"), 10, false), Verdict::Check);
        assert!(mispredicted(&written("b"), Some("a")));
        // a single record is routed by its own key: fine anywhere, but the map is still stale
        assert_eq!(judge(&written("b"), Some("a"), 1, false), Verdict::Done);
        assert_eq!(judge(&written("b"), None, 1, false), Verdict::Done);
    }

    #[test]
    fn failures_are_retried_or_failed_by_code() {
        let throttled = failed("ProvisionedThroughputExceededException");
        assert_eq!(
            judge(&throttled, Some("a"), 3, false),
            Verdict::Retry { throttled: true }
        );
        assert_eq!(
            judge(&throttled, Some("a"), 3, true),
            Verdict::Fail(PutErrorKind::Throttled)
        );
        assert_eq!(
            judge(&failed("InternalFailure"), None, 1, false),
            Verdict::Retry { throttled: false }
        );
        assert_eq!(
            judge(&failed("KMSThrottlingException"), None, 1, true),
            Verdict::Retry { throttled: false }
        );
        assert_eq!(
            judge(&failed("ResourceNotFoundException"), None, 1, false),
            Verdict::Fail(PutErrorKind::StreamNotFound)
        );
        assert!(matches!(
            judge(&failed("KMSAccessDeniedException"), None, 1, false),
            Verdict::Fail(PutErrorKind::Service(_))
        ));
        let timeout = AttemptError::new(ErrorCode::Timeout, "");
        assert_eq!(
            judge_error(&timeout.code, false, &timeout),
            Verdict::Retry { throttled: false }
        );
    }
}
