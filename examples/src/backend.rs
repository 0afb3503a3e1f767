//! Where the AWS APIs come from.
//!
//! With no AWS configured the examples start the embedded local servers (`testkit`);
//! with an endpoint or credentials in the environment they use the standard AWS
//! configuration (region, credentials, `AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_KINESIS`,
//! `AWS_ENDPOINT_URL_DYNAMODB`). `KINESIS_EXAMPLES_BACKEND=local` or `=aws` overrides.
//!
//! ```no_run
//! # async fn demo() -> Result<(), kinesis_examples::BackendError> {
//! let aws = kinesis_examples::connect().await?;
//! println!("using {}", aws.description);
//! # Ok(()) }
//! ```

use testkit::LocalAws;

/// Clients for Kinesis and DynamoDB, and the embedded servers when those are used.
#[derive(Debug)]
pub struct Aws {
    /// The Kinesis client.
    pub kinesis: aws_sdk_kinesis::Client,
    /// The DynamoDB client.
    pub dynamodb: aws_sdk_dynamodb::Client,
    /// Where the APIs are, for the user.
    pub description: String,
    /// The embedded servers, kept alive while the clients are in use.
    pub local: Option<LocalAws>,
}

/// The embedded servers could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot start the embedded servers: {0}")]
pub struct BackendError(#[from] testkit::LocalAwsError);

const ENV_HINTS: [&str; 5] = [
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_KINESIS",
    "AWS_ACCESS_KEY_ID",
    "AWS_PROFILE",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
];

/// Whether the environment asks for a real AWS configuration.
pub fn aws_configured() -> bool {
    match std::env::var("KINESIS_EXAMPLES_BACKEND").as_deref() {
        Ok("local") => false,
        Ok("aws") => true,
        _ => ENV_HINTS.iter().any(|v| std::env::var_os(v).is_some()),
    }
}

/// Clients from the environment's AWS configuration, or for freshly started embedded servers.
pub async fn connect() -> Result<Aws, BackendError> {
    if aws_configured() {
        let config = aws_config::load_from_env().await;
        let region = config.region().map(|r| r.to_string()).unwrap_or_default();
        return Ok(Aws {
            kinesis: aws_sdk_kinesis::Client::new(&config),
            dynamodb: aws_sdk_dynamodb::Client::new(&config),
            description: format!("the configured AWS environment (region {region})"),
            local: None,
        });
    }
    let local = LocalAws::start().await?;
    Ok(Aws {
        kinesis: local.kinesis_client(),
        dynamodb: local.dynamodb_client(),
        description: format!(
            "embedded servers: Kinesis {} and DynamoDB {}",
            local.kinesis_endpoint(),
            local.dynamodb_endpoint()
        ),
        local: Some(local),
    })
}
