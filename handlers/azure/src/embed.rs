//! Embeddings from an Azure OpenAI deployment, through `async-openai` 0.43: the classic
//! deployment endpoint `POST {endpoint}/openai/deployments/{deployment}/embeddings?api-version=…`
//! (GA `2024-10-21` by default).
//!
//! Authentication is either an API key (the `api-key` header) or Entra ID (`Authorization: Bearer …`
//! for the scope [`TOKEN_SCOPE`]), both through an async-openai `Config` shared with the review
//! provider (`crate::aoai`). async-openai's `Config` trait is synchronous, so the token is fetched
//! outside it: before each request the adapter refreshes its cached token when it expires within
//! [`TOKEN_REFRESH_MARGIN`], and the config only reads the cache.
//!
//! Inputs go out in batches of [`EmbedderConfig::batch_size`] (at most [`MAX_BATCH_SIZE`], the
//! service's cap on inputs per request; the service also caps each input at 8,192 tokens, which the
//! caller's chunking has to respect). Each answer must hold one vector per input, with the indexes
//! `0..n` (vectors are put back in input order by `index`) and the configured length; anything else is
//! [`PortError::Unavailable`].
//!
//! # Retries
//! The client's HTTP service is the shared retrying transport of `crate::aoai` in place of
//! async-openai's own retry layer (which honours `Retry-After` in whole seconds only, has no jitter,
//! and logs bodies it cannot parse):
//! - each attempt gets [`EmbedderConfig::request_timeout`] (sending and reading the body);
//! - 408, 429, 5xx, timeouts and transport errors are retried at most
//!   [`EmbedderConfig::max_retries`] times, waiting what the service asks (`retry-after-ms`,
//!   `x-ms-retry-after-ms`, then `retry-after` in seconds or as an HTTP date) or else an exponential
//!   backoff with jitter (half fixed, half random) from [`EmbedderConfig::initial_backoff`] up to
//!   [`EmbedderConfig::max_backoff`];
//! - the call fails at once when the service asks to wait longer than
//!   [`EmbedderConfig::max_retry_after`] (the caller's job queue retries later);
//! - a successful body is parsed before async-openai sees it, so async-openai never logs a body it
//!   cannot parse, and never reads an error body (of a 400 the transport reads the error code only).
//!
//! Nothing here logs or returns input text or vectors: errors carry status codes, attempt counts
//! and kinds of failure only.

use std::fmt;
use std::time::Duration;

use async_openai::error::OpenAIError;
use async_openai::types::embeddings::{
    CreateEmbeddingRequest, CreateEmbeddingResponse, EmbeddingInput,
};
use async_trait::async_trait;
pub use azure_core::http::Url;
use clment_common::ports::{Embedder, PortError};

pub use crate::aoai::OpenAiAuth as EmbedAuth;
use crate::aoai::{self, Connection, RetryPolicy, Route, Service};
pub use crate::aoai::{DEFAULT_API_VERSION, TOKEN_REFRESH_MARGIN, TOKEN_SCOPE};

/// Inputs per request by default.
pub const DEFAULT_BATCH_SIZE: usize = 64;
/// The service's cap on inputs per request.
pub const MAX_BATCH_SIZE: usize = 2048;

const WHAT: &str = "azure openai embeddings";

/// What the transport checks a successful answer against.
static SERVICE: Service = Service {
    what: WHAT,
    answer: "an embeddings response",
    valid: is_embeddings_response,
};

/// Whether `body` is an embeddings response.
fn is_embeddings_response(body: &[u8]) -> bool {
    serde_json::from_slice::<CreateEmbeddingResponse>(body).is_ok()
}

/// Where the embedding deployment is and how to call it. [`EmbedderConfig::new`] fills in the
/// defaults; the fields are public to override them.
#[derive(Clone, Debug)]
pub struct EmbedderConfig {
    /// The resource endpoint, `https://<resource>.openai.azure.com` (plain `http` only on loopback,
    /// for tests).
    pub endpoint: Url,
    /// The deployment name (letters, digits, `-`, `_`, `.`).
    pub deployment: String,
    /// The `api-version` query value; default [`DEFAULT_API_VERSION`].
    pub api_version: String,
    /// The length of the vectors the deployment returns (checked on every answer).
    pub dimensions: usize,
    /// Whether requests carry `dimensions` (only `text-embedding-3-*` accepts it, to shorten its
    /// vectors); default `false`.
    pub send_dimensions: bool,
    /// How to sign in.
    pub auth: EmbedAuth,
    /// Inputs per request, 1 to [`MAX_BATCH_SIZE`]; default [`DEFAULT_BATCH_SIZE`].
    pub batch_size: usize,
    /// Retries per request after the first attempt; default 4.
    pub max_retries: u32,
    /// Time for one attempt, sending the request and reading the answer; default 60 s.
    pub request_timeout: Duration,
    /// The first backoff when the service gives no wait; doubled per retry. Default 500 ms.
    pub initial_backoff: Duration,
    /// The longest backoff of our own; default 30 s.
    pub max_backoff: Duration,
    /// The longest wait the service may ask for (`retry-after`) before the call fails instead;
    /// default 60 s.
    pub max_retry_after: Duration,
}

impl EmbedderConfig {
    /// A configuration with the defaults: API version [`DEFAULT_API_VERSION`], batches of
    /// [`DEFAULT_BATCH_SIZE`], 4 retries, 60 s per attempt, backoff from 500 ms to 30 s, server
    /// waits up to 60 s, `dimensions` not sent.
    #[must_use]
    pub fn new(
        endpoint: Url,
        deployment: impl Into<String>,
        dimensions: usize,
        auth: EmbedAuth,
    ) -> Self {
        Self {
            endpoint,
            deployment: deployment.into(),
            api_version: DEFAULT_API_VERSION.to_owned(),
            dimensions,
            send_dimensions: false,
            auth,
            batch_size: DEFAULT_BATCH_SIZE,
            max_retries: 4,
            request_timeout: Duration::from_secs(60),
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

/// The embedder could not be configured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("azure openai embeddings configuration: {0}")]
pub struct EmbedConfigError(String);

/// The [`Embedder`] on an Azure OpenAI embedding deployment.
pub struct AzureOpenAiEmbedder {
    connection: Connection,
    endpoint: String,
    deployment: String,
    dimensions: usize,
    send_dimensions: bool,
    batch_size: usize,
}

impl fmt::Debug for AzureOpenAiEmbedder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AzureOpenAiEmbedder")
            .field("endpoint", &self.endpoint)
            .field("deployment", &self.deployment)
            .field("dimensions", &self.dimensions)
            .field("batch_size", &self.batch_size)
            .field(
                "auth",
                &if self.connection.uses_entra_id() {
                    "entra-id"
                } else {
                    "api-key"
                },
            )
            .finish_non_exhaustive()
    }
}

impl AzureOpenAiEmbedder {
    /// An embedder for `config`. Does no I/O (an Entra ID token is fetched on first use).
    ///
    /// # Errors
    /// [`EmbedConfigError`] for an unusable endpoint (not `https`, except `http` on loopback; with
    /// a query or fragment), deployment name, API version, batch size (0 or over
    /// [`MAX_BATCH_SIZE`]), dimensions (0, or over `u32` when sent), zero request timeout, or an API
    /// key that cannot be a header value.
    pub fn new(config: EmbedderConfig) -> Result<Self, EmbedConfigError> {
        let err = |m: &str| EmbedConfigError(m.to_owned());
        let api_base = aoai::api_base(&config.endpoint).map_err(err)?;
        if !aoai::valid_deployment(&config.deployment) {
            return Err(err(
                "the deployment name must be letters, digits, '-', '_' or '.'",
            ));
        }
        if !aoai::valid_api_version(&config.api_version) {
            return Err(err("bad api-version"));
        }
        if !(1..=MAX_BATCH_SIZE).contains(&config.batch_size) {
            return Err(EmbedConfigError(format!(
                "the batch size must be 1 to {MAX_BATCH_SIZE}"
            )));
        }
        if config.dimensions == 0
            || (config.send_dimensions && u32::try_from(config.dimensions).is_err())
        {
            return Err(err("bad dimensions"));
        }
        let connection = Connection::new(
            api_base.clone(),
            Route::Deployment {
                deployment: config.deployment.clone(),
                api_version: config.api_version.clone(),
            },
            &config.auth,
            RetryPolicy {
                max_retries: config.max_retries,
                request_timeout: config.request_timeout,
                initial_backoff: config.initial_backoff,
                max_backoff: config.max_backoff,
                max_retry_after: config.max_retry_after,
            },
            &SERVICE,
        )
        .map_err(err)?;
        Ok(Self {
            connection,
            endpoint: api_base,
            deployment: config.deployment,
            dimensions: config.dimensions,
            send_dimensions: config.send_dimensions,
            batch_size: config.batch_size,
        })
    }

    async fn embed_batch(&self, inputs: &[String]) -> Result<Vec<Vec<f32>>, PortError> {
        self.connection
            .refresh_token(WHAT)
            .await
            .map_err(|m| PortError::Unavailable(format!("{WHAT}: {m}")))?;
        let request = CreateEmbeddingRequest {
            model: self.deployment.clone(),
            input: EmbeddingInput::StringArray(inputs.to_vec()),
            encoding_format: None,
            user: None,
            // Checked to fit in `new`.
            dimensions: if self.send_dimensions {
                u32::try_from(self.dimensions).ok()
            } else {
                None
            },
        };
        let response = self
            .connection
            .client()
            .embeddings()
            .create(request)
            .await
            .map_err(|e| port_error(&e))?;
        let mut data = response.data;
        if data.len() != inputs.len() {
            return Err(PortError::Unavailable(format!(
                "{WHAT}: {} vectors for {} inputs",
                data.len(),
                inputs.len()
            )));
        }
        data.sort_by_key(|e| e.index);
        let mut out = Vec::with_capacity(data.len());
        for (i, item) in data.into_iter().enumerate() {
            if usize::try_from(item.index).ok() != Some(i) {
                return Err(PortError::Unavailable(format!(
                    "{WHAT}: the answer's indexes are not 0..{}",
                    inputs.len()
                )));
            }
            if item.embedding.len() != self.dimensions {
                return Err(PortError::Unavailable(format!(
                    "{WHAT}: a vector of length {} (expected {})",
                    item.embedding.len(),
                    self.dimensions
                )));
            }
            out.push(item.embedding);
        }
        Ok(out)
    }
}

#[async_trait]
impl Embedder for AzureOpenAiEmbedder {
    fn dimensions(&self) -> usize {
        self.dimensions
    }

    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, PortError> {
        let mut out = Vec::with_capacity(texts.len());
        for batch in texts.chunks(self.batch_size) {
            out.extend(self.embed_batch(batch).await?);
        }
        Ok(out)
    }
}

/// An async-openai error as a [`PortError`]: status codes and kinds only. async-openai's own
/// variants can hold response bodies (which would be vectors), so none of their text is kept.
fn port_error(e: &OpenAIError) -> PortError {
    if let Some(failure) = aoai::call_failure(e) {
        return PortError::Unavailable(failure.to_string());
    }
    let detail = match e {
        OpenAIError::ApiError(api) => format!("HTTP {}", api.status_code.as_u16()),
        OpenAIError::Reqwest(e) => aoai::transport_kind(e).to_owned(),
        OpenAIError::JSONDeserialize(..) => "the answer is not an embeddings response".to_owned(),
        OpenAIError::InvalidArgument(_) => "the request could not be built".to_owned(),
        _ => "the request failed".to_owned(),
    };
    PortError::Unavailable(format!("{WHAT}: {detail}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;

    fn config(endpoint: &str) -> EmbedderConfig {
        EmbedderConfig::new(
            endpoint.parse().unwrap(),
            "emb",
            8,
            EmbedAuth::ApiKey(SecretString::from("k".to_owned())),
        )
    }

    #[test]
    fn configuration_is_checked() {
        assert!(AzureOpenAiEmbedder::new(config("https://res.openai.azure.com")).is_ok());
        assert!(AzureOpenAiEmbedder::new(config("http://127.0.0.1:9/")).is_ok());
        assert!(AzureOpenAiEmbedder::new(config("http://res.openai.azure.com")).is_err());
        assert!(AzureOpenAiEmbedder::new(config("https://res.openai.azure.com/?a=b")).is_err());
        let mut c = config("https://res.openai.azure.com");
        c.deployment = "a/../b".into();
        assert!(AzureOpenAiEmbedder::new(c).is_err());
        for bad in [0, MAX_BATCH_SIZE + 1] {
            let mut c = config("https://res.openai.azure.com");
            c.batch_size = bad;
            assert!(AzureOpenAiEmbedder::new(c).is_err());
        }
        let mut c = config("https://res.openai.azure.com");
        c.batch_size = MAX_BATCH_SIZE;
        assert!(AzureOpenAiEmbedder::new(c).is_ok());
        let mut c = config("https://res.openai.azure.com");
        c.auth = EmbedAuth::ApiKey(SecretString::from("bad\nkey".to_owned()));
        assert!(AzureOpenAiEmbedder::new(c).is_err());
    }

    #[test]
    fn debug_never_shows_the_key() {
        let mut c = config("https://res.openai.azure.com");
        c.auth = EmbedAuth::ApiKey(SecretString::from("sekrit-key".to_owned()));
        assert!(!format!("{c:?}").contains("sekrit"));
        let e = AzureOpenAiEmbedder::new(c).unwrap();
        assert!(!format!("{e:?}").contains("sekrit"));
    }
}
