//! The I/O edge of the pipeline: the only code that talks to Kinesis (PutRecords and
//! ListShards, each with a timeout) and the PutRecords body writer.

pub(crate) mod json_writer;
pub(crate) mod listing;
pub(crate) mod put_records_body;
pub(crate) mod sender;
