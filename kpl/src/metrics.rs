//! The KPL's metrics through the `metrics` crate: handles registered once per stream and
//! shard (as `MetricsGranularity` asks), nothing recorded at `MetricsLevel::None`.

use crate::FastMap;
use std::sync::Arc;

use metrics::{Counter, Histogram, Label};

use crate::config::{MetricsGranularity, MetricsLevel};

/// Metric names, as the KPL names them.
pub mod names {
    /// User records put by the application.
    pub const USER_RECORDS_RECEIVED: &str = "UserRecordsReceived";
    /// User records outstanding (put, not completed).
    pub const USER_RECORDS_PENDING: &str = "UserRecordsPending";
    /// User records written.
    pub const USER_RECORDS_PUT: &str = "UserRecordsPut";
    /// Bytes of user records written.
    pub const USER_RECORDS_DATA_PUT: &str = "UserRecordsDataPut";
    /// Kinesis records written.
    pub const KINESIS_RECORDS_PUT: &str = "KinesisRecordsPut";
    /// Bytes of Kinesis records written.
    pub const KINESIS_RECORDS_DATA_PUT: &str = "KinesisRecordsDataPut";
    /// Errors, labelled with `code`.
    pub const ERRORS_BY_CODE: &str = "ErrorsByCode";
    /// All errors.
    pub const ALL_ERRORS: &str = "AllErrors";
    /// User records failed as expired.
    pub const USER_RECORD_EXPIRED: &str = "UserRecordExpired";
    /// Retries of each completed user record.
    pub const RETRIES_PER_RECORD: &str = "RetriesPerRecord";
    /// Milliseconds from put to the first attempt.
    pub const BUFFERING_TIME: &str = "BufferingTime";
    /// Milliseconds of each PutRecords request.
    pub const REQUEST_TIME: &str = "RequestTime";
    /// User records per Kinesis record written.
    pub const USER_RECORDS_PER_KINESIS_RECORD: &str = "UserRecordsPerKinesisRecord";
    /// Kinesis records per PutRecords request.
    pub const KINESIS_RECORDS_PER_PUT_RECORDS_REQUEST: &str = "KinesisRecordsPerPutRecordsRequest";
    /// User records per PutRecords request.
    pub const USER_RECORDS_PER_PUT_RECORDS_REQUEST: &str = "UserRecordsPerPutRecordsRequest";
}

/// Handles of one label set (a stream, or a stream and a shard).
#[derive(Debug, Clone)]
pub(crate) struct Handles {
    pub(crate) user_records_put: Counter,
    pub(crate) user_records_data_put: Counter,
    pub(crate) kinesis_records_put: Counter,
    pub(crate) kinesis_records_data_put: Counter,
    pub(crate) all_errors: Counter,
    pub(crate) expired: Counter,
    pub(crate) retries_per_record: Histogram,
    pub(crate) buffering_time: Histogram,
    pub(crate) user_records_per_kinesis_record: Histogram,
}

/// The metrics of one stream's driver.
#[derive(Debug)]
pub(crate) struct Metrics {
    level: MetricsLevel,
    granularity: MetricsGranularity,
    stream: Arc<str>,
    by_shard: FastMap<Option<Arc<str>>, Handles>,
    request_time: Histogram,
    kinesis_per_request: Histogram,
    users_per_request: Histogram,
}

impl Metrics {
    pub(crate) fn new(
        level: MetricsLevel,
        granularity: MetricsGranularity,
        stream: Arc<str>,
    ) -> Metrics {
        let on = level != MetricsLevel::None;
        let labels = stream_labels(granularity, &stream);
        let hist = |name: &'static str| {
            if on {
                metrics::histogram!(name, labels.clone())
            } else {
                Histogram::noop()
            }
        };
        Metrics {
            level,
            granularity,
            request_time: hist(names::REQUEST_TIME),
            kinesis_per_request: hist(names::KINESIS_RECORDS_PER_PUT_RECORDS_REQUEST),
            users_per_request: hist(names::USER_RECORDS_PER_PUT_RECORDS_REQUEST),
            stream,
            by_shard: FastMap::default(),
        }
    }

    /// The handles for a shard (or for the stream when the granularity is coarser).
    pub(crate) fn shard(&mut self, shard: Option<&Arc<str>>) -> &Handles {
        let key = match self.granularity {
            MetricsGranularity::Shard => shard.cloned(),
            MetricsGranularity::Stream | MetricsGranularity::Global => None,
        };
        let (level, granularity, stream) = (self.level, self.granularity, self.stream.clone());
        self.by_shard
            .entry(key.clone())
            .or_insert_with(|| Handles::new(level, granularity, &stream, key.as_deref()))
    }

    /// One request ended.
    pub(crate) fn request(&self, millis: f64, kinesis_records: usize, user_records: usize) {
        if self.level == MetricsLevel::Detailed {
            self.request_time.record(millis);
            self.kinesis_per_request.record(kinesis_records as f64);
            self.users_per_request.record(user_records as f64);
        }
    }

    /// Errors of a code.
    pub(crate) fn errors(&mut self, code: &str, shard: Option<&Arc<str>>, n: u64) {
        if self.level == MetricsLevel::None {
            return;
        }
        let mut labels = stream_labels(self.granularity, &self.stream);
        labels.push(Label::new("code", code.to_owned()));
        metrics::counter!(names::ERRORS_BY_CODE, labels).increment(n);
        self.shard(shard).all_errors.increment(n);
    }

    /// Records received from the application.
    pub(crate) fn received(&self, n: u64) {
        if self.level != MetricsLevel::None {
            metrics::counter!(
                names::USER_RECORDS_RECEIVED,
                stream_labels(self.granularity, &self.stream)
            )
            .increment(n);
        }
    }

    /// Records outstanding now.
    pub(crate) fn pending(&self, n: usize) {
        if self.level != MetricsLevel::None {
            metrics::gauge!(
                names::USER_RECORDS_PENDING,
                stream_labels(self.granularity, &self.stream)
            )
            .set(n as f64);
        }
    }

    pub(crate) fn detailed(&self) -> bool {
        self.level == MetricsLevel::Detailed
    }
}

impl Handles {
    fn new(
        level: MetricsLevel,
        granularity: MetricsGranularity,
        stream: &str,
        shard: Option<&str>,
    ) -> Handles {
        let mut labels = stream_labels(granularity, stream);
        if let Some(shard) = shard {
            labels.push(Label::new("shard", shard.to_owned()));
        }
        let counter = |name: &'static str| {
            if level == MetricsLevel::None {
                Counter::noop()
            } else {
                metrics::counter!(name, labels.clone())
            }
        };
        let hist = |name: &'static str| {
            if level == MetricsLevel::Detailed {
                metrics::histogram!(name, labels.clone())
            } else {
                Histogram::noop()
            }
        };
        Handles {
            user_records_put: counter(names::USER_RECORDS_PUT),
            user_records_data_put: counter(names::USER_RECORDS_DATA_PUT),
            kinesis_records_put: counter(names::KINESIS_RECORDS_PUT),
            kinesis_records_data_put: counter(names::KINESIS_RECORDS_DATA_PUT),
            all_errors: counter(names::ALL_ERRORS),
            expired: counter(names::USER_RECORD_EXPIRED),
            retries_per_record: hist(names::RETRIES_PER_RECORD),
            buffering_time: hist(names::BUFFERING_TIME),
            user_records_per_kinesis_record: hist(names::USER_RECORDS_PER_KINESIS_RECORD),
        }
    }
}

fn stream_labels(granularity: MetricsGranularity, stream: &str) -> Vec<Label> {
    match granularity {
        MetricsGranularity::Global => Vec::new(),
        MetricsGranularity::Stream | MetricsGranularity::Shard => {
            vec![Label::new("stream", stream.to_owned())]
        }
    }
}
