//! SDK clients for a given endpoint with dummy static credentials.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;

/// The region the embedded servers report and the clients use.
pub const REGION: &str = "us-east-1";

/// An SDK configuration for a local endpoint: fixed region, dummy static credentials.
///
/// ```
/// let config = testkit::sdk_config("http://127.0.0.1:4567");
/// assert_eq!(config.region().map(|r| r.as_ref()), Some("us-east-1"));
/// ```
pub fn sdk_config(endpoint: &str) -> SdkConfig {
    let credentials = Credentials::new("AKIDLOCAL", "local-secret", None, None, "testkit");
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .credentials_provider(SharedCredentialsProvider::new(credentials))
        .endpoint_url(endpoint)
        .build()
}

/// [`sdk_config`] with the SDK's own retries turned off: every fault reaches the caller.
pub fn sdk_config_without_retries(endpoint: &str) -> SdkConfig {
    sdk_config(endpoint)
        .into_builder()
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .build()
}

/// A Kinesis client for the server at `endpoint`.
pub fn kinesis_client(endpoint: &str) -> aws_sdk_kinesis::Client {
    aws_sdk_kinesis::Client::new(&sdk_config(endpoint))
}

/// A DynamoDB client for the server at `endpoint`.
pub fn dynamodb_client(endpoint: &str) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(&sdk_config(endpoint))
}
