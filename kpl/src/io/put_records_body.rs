//! PutRecords request bodies written once into a buffer of their exact size.
//!
//! The SDK's JSON codec grows its output string by doubling and base64-encodes each record
//! into a temporary string before copying it in; for a 5 MiB PutRecords (about 7 MiB of
//! JSON) that is a dozen reallocations, each copying what was written so far. This protocol
//! is the SDK's own awsJson 1.1 protocol for Kinesis with one change: a PutRecords input is
//! measured first, then written in one pass (base64 straight into the body). The bytes are
//! the ones the SDK would send (a test compares them); anything it does not expect, such as
//! a member of a type PutRecords has no use for, goes through the SDK's codec unchanged.
//! It is installed through the SDK's public `Config::protocol` hook, so signing, retries,
//! interceptors and the HTTP client stay the SDK's.

use aws_sdk_kinesis::{Config, config};
use aws_smithy_json::protocol::aws_json_rpc::AwsJsonRpcProtocol;
use aws_smithy_runtime_api::http::{Request, Response};
use aws_smithy_schema::codec::DynCodec;
use aws_smithy_schema::protocol::ClientProtocolInner;
use aws_smithy_schema::serde::{
    SerdeError, SerializableStruct, ShapeDeserializer, ShapeSerializer,
};
use aws_smithy_schema::{Schema, ShapeId};
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::ConfigBag;
use aws_smithy_types::endpoint::Endpoint;
use aws_smithy_types::error::metadata::Builder as ErrorMetadataBuilder;

use crate::io::json_writer::{Counter, JsonWriter};

/// The shape whose serialization this protocol takes over.
const PUT_RECORDS_INPUT: &str = "com.amazonaws.kinesis.synthetic#PutRecordsInput";

/// `config` as a builder, with PutRecords bodies written by [`KinesisJson`] unless it names a
/// protocol of its own (which is then left alone).
pub(crate) fn install(config: &Config) -> config::Builder {
    let builder = config.to_builder();
    if config.protocol().is_some() {
        return builder;
    }
    builder.protocol(KinesisJson::default())
}

/// The SDK's awsJson 1.1 protocol for Kinesis, with PutRecords bodies sized before they are
/// written.
#[derive(Debug)]
pub(crate) struct KinesisJson {
    sdk: AwsJsonRpcProtocol,
}

impl Default for KinesisJson {
    fn default() -> Self {
        KinesisJson {
            sdk: AwsJsonRpcProtocol::aws_json_1_1().with_default_namespace("com.amazonaws.kinesis"),
        }
    }
}

/// Serializes `input` as JSON into a buffer of exactly its size, or `None` when it holds a
/// member type this writer leaves to the SDK.
fn encode(input: &dyn SerializableStruct, schema: &Schema<'_>) -> Option<Vec<u8>> {
    let mut count = JsonWriter::new(Counter::default());
    count.write_struct(schema, input).ok()?;
    let mut body = JsonWriter::new(Vec::with_capacity(count.into_inner().len()));
    body.write_struct(schema, input).ok()?;
    Some(body.into_inner())
}

/// A structure with no members: what the SDK's protocol serializes to get the request line
/// and headers of an operation without writing its body.
struct Skeleton<'s, 'a>(&'s Schema<'a>);

impl SerializableStruct for Skeleton<'_, '_> {
    fn schema(&self) -> &Schema<'_> {
        self.0
    }

    fn serialize_members(&self, _: &mut dyn ShapeSerializer) -> Result<(), SerdeError> {
        Ok(())
    }
}

impl ClientProtocolInner for KinesisJson {
    type Request = Request;
    type Response = Response;

    fn protocol_id(&self) -> &ShapeId<'static> {
        self.sdk.protocol_id()
    }

    fn serialize_request(
        &self,
        input: &dyn SerializableStruct,
        input_schema: &Schema<'_>,
        endpoint: &str,
        cfg: &ConfigBag,
    ) -> Result<Request, SerdeError> {
        let body = (input_schema.shape_id().as_str() == PUT_RECORDS_INPUT)
            .then(|| encode(input, input_schema))
            .flatten();
        let Some(body) = body else {
            return self
                .sdk
                .serialize_request(input, input_schema, endpoint, cfg);
        };
        let skeleton = Skeleton(input_schema);
        let mut request = self
            .sdk
            .serialize_request(&skeleton, input_schema, endpoint, cfg)?;
        if request.headers().contains_key("Content-Length") {
            request
                .headers_mut()
                .insert("Content-Length", body.len().to_string());
        }
        *request.body_mut() = SdkBody::from(body);
        Ok(request)
    }

    fn deserialize_response<'a>(
        &self,
        response: &'a Response,
        output_schema: &Schema<'_>,
        cfg: &'a ConfigBag,
    ) -> Result<Box<dyn ShapeDeserializer + 'a>, SerdeError> {
        self.sdk.deserialize_response(response, output_schema, cfg)
    }

    fn parse_error_metadata(
        &self,
        response: &Response,
        cfg: &ConfigBag,
    ) -> Result<ErrorMetadataBuilder, SerdeError> {
        self.sdk.parse_error_metadata(response, cfg)
    }

    fn deserialize_error_response<'a>(
        &self,
        response: &'a Response,
        cfg: &'a ConfigBag,
    ) -> Result<Box<dyn ShapeDeserializer + 'a>, SerdeError> {
        self.sdk.deserialize_error_response(response, cfg)
    }

    fn update_endpoint(
        &self,
        request: &mut Request,
        endpoint: &Endpoint,
        cfg: &ConfigBag,
    ) -> Result<(), SerdeError> {
        self.sdk.update_endpoint(request, endpoint, cfg)
    }

    fn payload_codec(&self) -> Option<&dyn DynCodec> {
        self.sdk.payload_codec()
    }

    fn event_stream_media_type(&self) -> Option<&str> {
        self.sdk.event_stream_media_type()
    }

    fn parse_event_stream_error_metadata(
        &self,
        payload: &[u8],
    ) -> Result<ErrorMetadataBuilder, SerdeError> {
        self.sdk.parse_event_stream_error_metadata(payload)
    }
}

#[cfg(test)]
#[path = "put_records_body_tests.rs"]
mod tests;
