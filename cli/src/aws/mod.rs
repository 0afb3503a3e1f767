//! The standard AWS configuration (environment, profiles, `AWS_ENDPOINT_URL*`) with the
//! global `--region`, `--profile` and `--endpoint-url`, the clients built from it, and
//! the conversion of a failed call into an error a person can act on.

mod call;
mod failure;

use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::ProvideCredentials;

pub(crate) use call::Retry;
pub(crate) use failure::{Failure, FailureKind};

use crate::args::GlobalArgs;
use crate::error::CliError;

/// One of the two services the tool talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Service {
    Kinesis,
    DynamoDb,
}

impl Service {
    fn name(self) -> &'static str {
        match self {
            Service::Kinesis => "Kinesis",
            Service::DynamoDb => "DynamoDB",
        }
    }

    fn env_name(self) -> &'static str {
        match self {
            Service::Kinesis => "KINESIS",
            Service::DynamoDb => "DYNAMODB",
        }
    }

    fn host_prefix(self) -> &'static str {
        match self {
            Service::Kinesis => "kinesis",
            Service::DynamoDb => "dynamodb",
        }
    }
}

/// The loaded AWS configuration.
#[derive(Clone, Debug)]
pub(crate) struct Aws {
    sdk: SdkConfig,
    region: String,
    kinesis_endpoint: Option<String>,
    dynamodb_endpoint: Option<String>,
    /// The per-call policy (`--timeout`).
    pub(crate) retry: Retry,
}

impl Aws {
    /// Loads the standard configuration, checks that there is a region and that the
    /// credential chain yields credentials (so a missing setting is named before any
    /// request), and applies the global options.
    pub(crate) async fn load(global: &GlobalArgs) -> Result<Aws, CliError> {
        let timeouts = aws_config::timeout::TimeoutConfig::builder()
            .connect_timeout(global.timeout.min(Duration::from_secs(5)))
            .build();
        let mut loader = aws_config::defaults(BehaviorVersion::latest()).timeout_config(timeouts);
        if let Some(region) = &global.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some(profile) = &global.profile {
            loader = loader.profile_name(profile);
        }
        let sdk = loader.load().await;
        let region = sdk
            .region()
            .map(|r| r.to_string())
            .ok_or(CliError::NoRegion)?;
        check_credentials(&sdk, global.timeout).await?;
        Ok(Aws {
            sdk,
            region,
            kinesis_endpoint: global.endpoint_url.clone(),
            dynamodb_endpoint: None,
            retry: Retry::new(global.timeout),
        })
    }

    /// The same configuration with DynamoDB at `endpoint` (`--dynamodb-endpoint-url`).
    pub(crate) fn with_dynamodb_endpoint(mut self, endpoint: Option<String>) -> Aws {
        self.dynamodb_endpoint = endpoint;
        self
    }

    /// The region in force.
    pub(crate) fn region(&self) -> &str {
        &self.region
    }

    /// A Kinesis client with the SDK's retries off: calls go through [`Retry::call`].
    pub(crate) fn kinesis(&self) -> aws_sdk_kinesis::Client {
        self.kinesis_client(false)
    }

    /// A Kinesis client with the SDK's standard retries, for the consumer library (which
    /// was built and tested on them; the producer replaces them with its own).
    pub(crate) fn kinesis_with_sdk_retries(&self) -> aws_sdk_kinesis::Client {
        self.kinesis_client(true)
    }

    fn kinesis_client(&self, sdk_retries: bool) -> aws_sdk_kinesis::Client {
        let mut config = aws_sdk_kinesis::config::Builder::from(&self.sdk);
        if !sdk_retries {
            config = config.retry_config(aws_sdk_kinesis::config::retry::RetryConfig::disabled());
        }
        if let Some(url) = &self.kinesis_endpoint {
            config = config.endpoint_url(url);
        }
        aws_sdk_kinesis::Client::from_conf(config.build())
    }

    /// A DynamoDB client with the SDK's standard retries, for the consumer library.
    pub(crate) fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        self.dynamodb_client(true)
    }

    /// A DynamoDB client with the SDK's retries off, for calls through [`Retry::call`].
    pub(crate) fn dynamodb_without_retries(&self) -> aws_sdk_dynamodb::Client {
        self.dynamodb_client(false)
    }

    fn dynamodb_client(&self, sdk_retries: bool) -> aws_sdk_dynamodb::Client {
        let mut config = aws_sdk_dynamodb::config::Builder::from(&self.sdk);
        if !sdk_retries {
            config = config.retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled());
        }
        if let Some(url) = &self.dynamodb_endpoint {
            config = config.endpoint_url(url);
        }
        aws_sdk_dynamodb::Client::from_conf(config.build())
    }

    /// Where `service` is reached, for messages: the option, the service's or the global
    /// `AWS_ENDPOINT_URL*` variable, or the regional AWS endpoint.
    pub(crate) fn endpoint(&self, service: Service) -> String {
        let option = match service {
            Service::Kinesis => &self.kinesis_endpoint,
            Service::DynamoDb => &self.dynamodb_endpoint,
        };
        let from_env = |name: String| std::env::var(name).ok().filter(|v| !v.is_empty());
        option
            .clone()
            .or_else(|| from_env(format!("AWS_ENDPOINT_URL_{}", service.env_name())))
            .or_else(|| from_env("AWS_ENDPOINT_URL".to_owned()))
            .unwrap_or_else(|| {
                format!(
                    "https://{}.{}.amazonaws.com",
                    service.host_prefix(),
                    self.region
                )
            })
    }

    /// The error a person reads for `failure` of a call to `service` about `resource`
    /// (a stream name, a table), if any.
    pub(crate) fn error(
        &self,
        service: Service,
        resource: Option<&str>,
        failure: Failure,
    ) -> CliError {
        let resource_name = resource.unwrap_or("the account").to_owned();
        let Failure {
            kind,
            operation,
            message,
            attempts,
            timeout,
        } = failure;
        match kind {
            FailureKind::NotFound if service == Service::Kinesis && resource.is_some() => {
                CliError::StreamNotFound {
                    stream: resource_name,
                    region: self.region.clone(),
                    endpoint: self.endpoint(service),
                }
            }
            FailureKind::AccessDenied => CliError::AccessDenied {
                operation,
                resource: resource_name,
                message,
            },
            FailureKind::BadCredentials => CliError::BadCredentials {
                service: service.name(),
                operation,
                message,
            },
            FailureKind::InUse => CliError::InUse {
                operation,
                resource: resource_name,
                message,
            },
            FailureKind::CannotConnect => CliError::CannotConnect {
                service: service.name(),
                env_service: service.env_name(),
                endpoint: self.endpoint(service),
                message,
            },
            FailureKind::Timeout => CliError::Timeout {
                service: service.name(),
                operation,
                endpoint: self.endpoint(service),
                timeout: timeout.unwrap_or(self.retry.timeout),
            },
            FailureKind::Throttled => CliError::Throttled {
                service: service.name(),
                operation,
                attempts,
                message,
            },
            FailureKind::InvalidArgument => CliError::InvalidArgument { operation, message },
            FailureKind::NotFound
            | FailureKind::Transient
            | FailureKind::ExpiredIterator
            | FailureKind::Other => CliError::Aws { operation, message },
        }
    }

    /// [`error`](Self::error) for a Kinesis call about `stream`.
    pub(crate) fn kinesis_error(&self, stream: &str, failure: Failure) -> CliError {
        self.error(Service::Kinesis, Some(stream), failure)
    }
}

/// Resolves credentials once, so that "no credentials" is said as such (the SDK would
/// report it as a dispatch failure of the first request).
async fn check_credentials(sdk: &SdkConfig, timeout: Duration) -> Result<(), CliError> {
    let Some(provider) = sdk.credentials_provider() else {
        return Err(CliError::NoCredentials {
            detail: "no credential provider configured".to_owned(),
        });
    };
    match tokio::time::timeout(timeout, provider.provide_credentials()).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(CliError::NoCredentials {
            detail: failure::innermost(&e),
        }),
        Err(_) => Err(CliError::NoCredentials {
            detail: format!("the credential chain gave no answer within {timeout:?}"),
        }),
    }
}
