#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a broken expectation panics

use super::*;
use aws_sdk_kinesis::operation::list_shards::ListShardsInput;
use aws_sdk_kinesis::operation::put_records::PutRecordsInput;
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_schema::protocol::ServiceShapeName;
use aws_smithy_schema::serde::ShapeSerializer;
use aws_smithy_types::config_bag::Layer;

/// What the generated client puts in the config bag for an operation.
fn cfg(operation: &'static str) -> ConfigBag {
    let mut layer = Layer::new("operation");
    layer.store_put(Metadata::new(operation, "Kinesis"));
    layer.store_put(ServiceShapeName::new("Kinesis_20131202"));
    ConfigBag::of_layers(vec![layer])
}

/// A request as comparable parts: method, URI, headers (sorted), body.
fn parts(request: &Request) -> (String, String, Vec<(String, String)>, Vec<u8>) {
    let mut headers: Vec<_> = request
        .headers()
        .iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    headers.sort();
    let body = request.body().bytes().expect("an in-memory body").to_vec();
    (
        request.method().to_owned(),
        request.uri().to_owned(),
        headers,
        body,
    )
}

/// Asserts that `input` becomes the same request through ours and through the SDK's protocol.
fn assert_same_as_the_sdk(input: &dyn SerializableStruct, schema: &Schema<'_>, op: &'static str) {
    let cfg = cfg(op);
    let ours =
        ClientProtocolInner::serialize_request(&KinesisJson::default(), input, schema, "", &cfg)
            .unwrap();
    let sdk = ClientProtocolInner::serialize_request(
        &KinesisJson::default().sdk,
        input,
        schema,
        "",
        &cfg,
    )
    .unwrap();
    assert_eq!(parts(&ours), parts(&sdk));
}

fn entry(data: &[u8], key: &str, hash: Option<&str>) -> PutRecordsRequestEntry {
    PutRecordsRequestEntry::builder()
        .data(Blob::new(data.to_vec()))
        .partition_key(key)
        .set_explicit_hash_key(hash.map(str::to_owned))
        .build()
        .unwrap()
}

#[test]
fn put_records_bodies_are_the_bytes_the_sdk_writes() {
    let keys = [
        "k",
        "ünïcode",
        "a \"quoted\" \\ key",
        "\u{1}\n\t\u{1f}",
        &"x".repeat(256),
    ];
    let records: Vec<_> = (0..40u8)
        .zip(keys.iter().cycle())
        .map(|(i, key)| {
            let data: Vec<u8> = (0..i.wrapping_mul(37) % 11)
                .map(|b| b.wrapping_mul(31) ^ i)
                .collect();
            let hash = (i % 3 == 0).then(|| format!("{}", u128::MAX / (u128::from(i) + 1)));
            entry(&data, key, hash.as_deref())
        })
        .collect();
    let by_name = PutRecordsInput::builder()
        .stream_name("orders")
        .set_records(Some(records.clone()))
        .build()
        .unwrap();
    let by_arn = PutRecordsInput::builder()
        .stream_arn("arn:aws:kinesis:eu-west-1:123456789012:stream/orders")
        .records(entry(&[0; 51_200], "big", None))
        .build()
        .unwrap();
    let empty = PutRecordsInput::builder().stream_name("s").build().unwrap();
    for input in [&by_name, &by_arn, &empty] {
        assert_same_as_the_sdk(input, PutRecordsInput::SCHEMA, "PutRecords");
    }
    let body = encode(&by_name, PutRecordsInput::SCHEMA).unwrap();
    assert_eq!(
        body.len(),
        body.capacity(),
        "written into a buffer of its exact size"
    );
}

/// A PutRecords input with a member type the writer leaves to the SDK.
struct WithAnInteger;

impl SerializableStruct for WithAnInteger {
    fn schema(&self) -> &Schema<'_> {
        PutRecordsInput::SCHEMA
    }

    fn serialize_members(&self, ser: &mut dyn ShapeSerializer) -> Result<(), SerdeError> {
        ser.write_string(&aws_smithy_schema::prelude::STRING, "s")?;
        ser.write_integer(&aws_smithy_schema::prelude::INTEGER, 7)
    }
}

#[test]
fn what_the_writer_does_not_write_goes_through_the_sdk_codec() {
    assert!(encode(&WithAnInteger, PutRecordsInput::SCHEMA).is_none());
    assert_same_as_the_sdk(&WithAnInteger, PutRecordsInput::SCHEMA, "PutRecords");
    let list = ListShardsInput::builder()
        .stream_name("orders")
        .max_results(5)
        .build()
        .unwrap();
    assert_same_as_the_sdk(&list, ListShardsInput::SCHEMA, "ListShards");
}

fn installed(builder: config::Builder) -> Config {
    install(&builder.build()).build()
}

#[test]
fn installed_unless_the_client_has_a_protocol_of_its_own() {
    let config = installed(config::Builder::new());
    let protocol = config.protocol().expect("a protocol set");
    assert!(
        format!("{protocol:?}").contains("KinesisJson"),
        "{protocol:?}"
    );

    let own = AwsJsonRpcProtocol::aws_json_1_1();
    let config = installed(config::Builder::new().protocol(own));
    let protocol = config.protocol().expect("a protocol set");
    assert!(
        !format!("{protocol:?}").contains("KinesisJson"),
        "{protocol:?}"
    );
    assert_eq!(protocol.protocol_id().as_str(), "aws.protocols#awsJson1_1");
}
