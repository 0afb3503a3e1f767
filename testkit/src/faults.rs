//! What a [`FaultProxy`](crate::FaultProxy) does to the requests it forwards.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::rng::Rng;

/// How long [`Fault::stall`] holds a request: longer than any test.
pub(crate) const STALL: Duration = Duration::from_secs(3600);

/// One way to disturb a request.
#[derive(Clone, Debug, PartialEq)]
pub enum Fault {
    /// Answer with an AWS error without forwarding: nothing reaches the server.
    Error {
        /// HTTP status (400 for throttling, 500/503 for server errors).
        status: u16,
        /// The AWS error type (`__type`), e.g. `ProvisionedThroughputExceededException`.
        error_type: String,
    },
    /// Forward, then answer with an AWS error instead: the request took effect but the
    /// client cannot know.
    ErrorAfterForward {
        /// HTTP status.
        status: u16,
        /// The AWS error type.
        error_type: String,
    },
    /// Close the connection without answering, before forwarding.
    Reset,
    /// Forward, then close the connection without answering: the request took effect.
    ResetAfterForward,
    /// Wait this long, then forward (a client timeout shorter than this sees a timeout).
    Delay(Duration),
    /// PutRecords only: fail about this fraction of the entries with `error_code`; failed
    /// entries are not forwarded, the others are, and the response reports both.
    FailEntries {
        /// Fraction of entries to fail, 0.0 to 1.0.
        fraction: f64,
        /// The per-entry error code, e.g. `InternalFailure`.
        error_code: String,
    },
}

impl Fault {
    /// Kinesis throttling (400 ProvisionedThroughputExceededException), not forwarded.
    pub fn kinesis_throttled() -> Fault {
        Fault::Error {
            status: 400,
            error_type: "ProvisionedThroughputExceededException".into(),
        }
    }

    /// A Kinesis server error (500 InternalFailure), not forwarded.
    pub fn internal_failure() -> Fault {
        Fault::Error {
            status: 500,
            error_type: "InternalFailure".into(),
        }
    }

    /// 503 ServiceUnavailable, not forwarded.
    pub fn service_unavailable() -> Fault {
        Fault::Error {
            status: 503,
            error_type: "ServiceUnavailable".into(),
        }
    }

    /// DynamoDB throttling (400 ProvisionedThroughputExceededException), not forwarded.
    pub fn dynamodb_throttled() -> Fault {
        Fault::Error {
            status: 400,
            error_type: "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException"
                .into(),
        }
    }

    /// A DynamoDB server error (500 InternalServerError), not forwarded.
    pub fn dynamodb_internal_error() -> Fault {
        Fault::Error {
            status: 500,
            error_type: "com.amazonaws.dynamodb.v20120810#InternalServerError".into(),
        }
    }

    /// An AWS error with any status and error type, not forwarded (e.g. a 5xx whose type
    /// no client lists).
    pub fn aws_error(status: u16, error_type: &str) -> Fault {
        Fault::Error {
            status,
            error_type: error_type.into(),
        }
    }

    /// A DynamoDB 500 whose error type is in no list (`ServiceHiccup`): only its status
    /// says it is a server error.
    pub fn dynamodb_unlisted_server_error() -> Fault {
        Fault::aws_error(500, "com.amazonaws.dynamodb.v20120810#ServiceHiccup")
    }

    /// DynamoDB 400 AccessDeniedException (non-retryable), not forwarded.
    pub fn dynamodb_access_denied() -> Fault {
        Fault::aws_error(400, "com.amazon.coral.service#AccessDeniedException")
    }

    /// DynamoDB 400 ValidationException (non-retryable), not forwarded.
    pub fn dynamodb_validation() -> Fault {
        Fault::aws_error(400, "com.amazon.coral.validate#ValidationException")
    }

    /// 400 ExpiredTokenException (the credentials expired; non-retryable), not forwarded.
    pub fn expired_token() -> Fault {
        Fault::aws_error(400, "com.amazon.coral.service#ExpiredTokenException")
    }

    /// DynamoDB 400 ResourceNotFoundException (the table is missing), not forwarded.
    pub fn dynamodb_resource_not_found() -> Fault {
        Fault::aws_error(
            400,
            "com.amazonaws.dynamodb.v20120810#ResourceNotFoundException",
        )
    }

    /// Kinesis 400 ExpiredIteratorException, not forwarded.
    pub fn expired_iterator() -> Fault {
        Fault::aws_error(400, "ExpiredIteratorException")
    }

    /// No byte is sent back and nothing is forwarded until the client gives up (a
    /// [`Fault::Delay`] of an hour: a client timeout or a dropped call ends it first).
    pub fn stall() -> Fault {
        Fault::Delay(STALL)
    }

    /// PutRecords entries failing with `error_code` at about `fraction`.
    pub fn fail_entries(fraction: f64, error_code: &str) -> Fault {
        Fault::FailEntries {
            fraction,
            error_code: error_code.into(),
        }
    }
}

/// When a [`Fault`] applies: which operation, how often, how many times at most.
///
/// ```
/// use testkit::{Fault, Rule};
/// let rule = Rule::new(Fault::internal_failure()).on("PutRecords").with_probability(0.2).at_most(5);
/// assert_eq!(rule.operation.as_deref(), Some("PutRecords"));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    /// The operation (the part of `X-Amz-Target` after the dot, e.g. `PutRecords`,
    /// `UpdateItem`); `None` matches every request.
    pub operation: Option<String>,
    /// Chance that a matching request gets the fault, 0.0 to 1.0.
    pub probability: f64,
    /// Most times the fault is injected; `None` for no limit.
    pub max: Option<u64>,
    /// Only for requests whose body contains this text (a shard id, a lease key); `None`
    /// matches any body.
    pub body_contains: Option<String>,
    /// What happens.
    pub fault: Fault,
}

impl Rule {
    /// `fault` on every request.
    pub fn new(fault: Fault) -> Rule {
        Rule {
            operation: None,
            probability: 1.0,
            max: None,
            body_contains: None,
            fault,
        }
    }

    /// Only for requests of `operation`.
    pub fn on(mut self, operation: &str) -> Rule {
        self.operation = Some(operation.to_owned());
        self
    }

    /// Only for about this fraction of the matching requests.
    pub fn with_probability(mut self, probability: f64) -> Rule {
        self.probability = probability;
        self
    }

    /// At most `n` times.
    pub fn at_most(mut self, n: u64) -> Rule {
        self.max = Some(n);
        self
    }

    /// Only for requests whose body contains `text` (for example one shard's id, or one
    /// lease's key in a DynamoDB request).
    pub fn when_body_contains(mut self, text: &str) -> Rule {
        self.body_contains = Some(text.to_owned());
        self
    }
}

/// The rules in force, with their injection counts; decides request by request.
#[derive(Debug)]
pub(crate) struct Plan {
    rules: Vec<(Rule, AtomicU64)>,
    rng: Mutex<Rng>,
}

impl Plan {
    pub(crate) fn new(rules: Vec<Rule>, seed: u64) -> Plan {
        Plan {
            rules: rules.into_iter().map(|r| (r, AtomicU64::new(0))).collect(),
            rng: Mutex::new(Rng::new(seed)),
        }
    }

    /// Whether some rule looks at request bodies (the proxy then reads a body before
    /// deciding).
    pub(crate) fn needs_body(&self) -> bool {
        self.rules.iter().any(|(r, _)| r.body_contains.is_some())
    }

    /// The fault for one request of `operation` with `body` (when read), if a rule fires:
    /// the first that matches, wins its draw and has injections left.
    pub(crate) fn decide(&self, operation: &str, body: Option<&[u8]>) -> Option<Fault> {
        for (rule, fired) in &self.rules {
            if rule.operation.as_deref().is_some_and(|op| op != operation) {
                continue;
            }
            if let Some(text) = &rule.body_contains
                && !body.is_some_and(|b| contains(b, text.as_bytes()))
            {
                continue;
            }
            if !self.draw(rule.probability) {
                continue;
            }
            let count = fired.fetch_add(1, Ordering::Relaxed);
            if rule.max.is_some_and(|max| count >= max) {
                continue;
            }
            return Some(rule.fault.clone());
        }
        None
    }

    /// Whether an event of `probability` happens.
    pub(crate) fn draw(&self, probability: f64) -> bool {
        if probability >= 1.0 {
            return true;
        }
        let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
        let unit = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        unit < probability
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_matching_rule_wins_until_exhausted() {
        let plan = Plan::new(
            vec![
                Rule::new(Fault::Reset).on("PutRecords").at_most(2),
                Rule::new(Fault::internal_failure()),
            ],
            1,
        );
        assert_eq!(plan.decide("PutRecords", None), Some(Fault::Reset));
        assert_eq!(plan.decide("PutRecords", None), Some(Fault::Reset));
        assert_eq!(
            plan.decide("PutRecords", None),
            Some(Fault::internal_failure())
        );
        assert_eq!(
            plan.decide("ListShards", None),
            Some(Fault::internal_failure())
        );
    }

    #[test]
    fn a_body_rule_fires_only_on_bodies_holding_its_text() {
        let plan = Plan::new(
            vec![
                Rule::new(Fault::Reset)
                    .on("UpdateItem")
                    .when_body_contains("shard-7"),
            ],
            1,
        );
        assert!(plan.needs_body());
        assert_eq!(
            plan.decide("UpdateItem", Some(b"{\"k\":\"shard-7\"}")),
            Some(Fault::Reset)
        );
        assert_eq!(
            plan.decide("UpdateItem", Some(b"{\"k\":\"shard-8\"}")),
            None
        );
        assert_eq!(
            plan.decide("UpdateItem", None),
            None,
            "an unread body never matches"
        );
        assert!(!Plan::new(vec![Rule::new(Fault::Reset)], 1).needs_body());
    }

    #[test]
    fn probability_is_roughly_honoured() {
        let plan = Plan::new(vec![Rule::new(Fault::Reset).with_probability(0.25)], 7);
        let fired = (0..10_000)
            .filter(|_| plan.decide("X", None).is_some())
            .count();
        assert!((2_000..3_000).contains(&fired), "{fired}");
        let none = Plan::new(vec![Rule::new(Fault::Reset).with_probability(0.0)], 7);
        assert!((0..1000).all(|_| none.decide("X", None).is_none()));
    }
}
