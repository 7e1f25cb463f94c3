//! Embeddings from an Azure OpenAI deployment, through `async-openai` 0.43: the classic
//! deployment endpoint `POST {endpoint}/openai/deployments/{deployment}/embeddings?api-version=…`
//! (GA `2024-10-21` by default).
//!
//! Authentication is either an API key (the `api-key` header, through async-openai's own
//! [`AzureConfig`]) or Entra ID (`Authorization: Bearer …` for the scope [`TOKEN_SCOPE`], through a
//! `Config` of ours). async-openai's `Config` trait is synchronous, so the token is fetched outside
//! it: before each request the adapter refreshes its cached token when it expires within
//! [`TOKEN_REFRESH_MARGIN`], and the config only reads the cache.
//!
//! Inputs go out in batches of [`EmbedderConfig::batch_size`] (at most [`MAX_BATCH_SIZE`], the
//! service's cap on inputs per request; the service also caps each input at 8,192 tokens, which the
//! caller's chunking has to respect). Each answer must hold one vector per input, with the indexes
//! `0..n` (vectors are put back in input order by `index`) and the configured length; anything else is
//! [`PortError::Unavailable`].
//!
//! # Retries
//! async-openai's default client wraps every request in its own retry layer (3 retries on 429, 5xx
//! and connect errors; it honours `Retry-After` in whole seconds only, ignores `retry-after-ms`, has
//! no jitter, and logs rate-limit headers and, on a body it cannot parse, the whole body). This
//! adapter replaces that layer: with async-openai's `middleware` feature the client's HTTP service is a
//! tower service of ours over reqwest that
//! - gives each attempt [`EmbedderConfig::request_timeout`] (sending and reading the body);
//! - retries 408, 429, 5xx, timeouts and transport errors at most [`EmbedderConfig::max_retries`]
//!   times, waiting what the service asks (`retry-after-ms`, `x-ms-retry-after-ms`, then
//!   `retry-after` in seconds or as an HTTP date) or else an exponential backoff with jitter
//!   (half fixed, half random) from [`EmbedderConfig::initial_backoff`] up to
//!   [`EmbedderConfig::max_backoff`];
//! - gives up at once when the service asks to wait longer than [`EmbedderConfig::max_retry_after`]
//!   (the caller's job queue retries later);
//! - parses a successful body itself before handing it to async-openai, so async-openai never logs a
//!   body it cannot parse, and never reads an error body at all.
//!
//! Nothing here logs or returns input text or vectors: errors carry status codes, attempt counts
//! and kinds of failure only.

use std::fmt;
use std::future::Future;
use std::hash::BuildHasher as _;
use std::pin::Pin;
use std::sync::{Arc, PoisonError, RwLock};
use std::task::{Context, Poll};
use std::time::Duration;

use async_openai::Client;
use async_openai::config::{AzureConfig, Config};
use async_openai::error::OpenAIError;
use async_openai::middleware::HttpRequestFactory;
use async_openai::types::embeddings::{
    CreateEmbeddingRequest, CreateEmbeddingResponse, EmbeddingInput,
};
use async_trait::async_trait;
use azure_core::credentials::TokenCredential;
pub use azure_core::http::Url;
use clment_common::ports::{Embedder, PortError};
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use secrecy::{ExposeSecret as _, SecretString};
use time::OffsetDateTime;

/// The API version sent by default: the latest GA dated version.
pub const DEFAULT_API_VERSION: &str = "2024-10-21";
/// Inputs per request by default.
pub const DEFAULT_BATCH_SIZE: usize = 64;
/// The service's cap on inputs per request.
pub const MAX_BATCH_SIZE: usize = 2048;
/// The Entra ID scope for Azure OpenAI (classic endpoints).
pub const TOKEN_SCOPE: &str = "https://cognitiveservices.azure.com/.default";
/// A cached token is replaced when it expires within this margin (longer than any request and its
/// retries take, so a token never expires in the middle of one).
pub const TOKEN_REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);

/// Connect timeout of the HTTP client (part of each attempt's budget too).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

const WHAT: &str = "azure openai embeddings";

/// How the adapter signs in.
#[derive(Clone)]
pub enum EmbedAuth {
    /// The resource's API key, sent as the `api-key` header.
    ApiKey(SecretString),
    /// Entra ID tokens (production: the function app's managed identity), sent as
    /// `Authorization: Bearer …`; the identity needs the "Cognitive Services OpenAI User" role.
    Credential(Arc<dyn TokenCredential>),
}

impl fmt::Debug for EmbedAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ApiKey(_) => f.write_str("ApiKey(<redacted>)"),
            Self::Credential(c) => f.debug_tuple("Credential").field(c).finish(),
        }
    }
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
    client: Client<Box<dyn Config>>,
    endpoint: String,
    deployment: String,
    dimensions: usize,
    send_dimensions: bool,
    batch_size: usize,
    /// Set with [`EmbedAuth::Credential`]: refreshed before each request.
    token: Option<Arc<TokenCache>>,
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
                &if self.token.is_some() {
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
        let endpoint = &config.endpoint;
        let loopback = endpoint.host_str().is_some_and(|h| {
            h.eq_ignore_ascii_case("localhost")
                || h.trim_matches(['[', ']'])
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        });
        match endpoint.scheme() {
            "https" if endpoint.host().is_some() => {}
            "http" if loopback => {}
            _ => return Err(err("the endpoint must be an https URL with a host")),
        }
        if endpoint.query().is_some() || endpoint.fragment().is_some() {
            return Err(err("the endpoint must not have a query or fragment"));
        }
        if config.deployment.is_empty()
            || !config
                .deployment
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err(err(
                "the deployment name must be letters, digits, '-', '_' or '.'",
            ));
        }
        if config.api_version.is_empty()
            || !config
                .api_version
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
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
        if config.request_timeout.is_zero() {
            return Err(err("the request timeout must be positive"));
        }

        let api_base = endpoint.as_str().trim_end_matches('/').to_owned();
        let (api_config, token): (Box<dyn Config>, _) = match &config.auth {
            EmbedAuth::ApiKey(key) => {
                // async-openai parses the key into a header value with `unwrap`: check it here.
                if HeaderValue::from_str(key.expose_secret()).is_err() {
                    return Err(err("the API key is not a valid header value"));
                }
                let azure = AzureConfig::new()
                    .with_api_base(api_base.clone())
                    .with_deployment_id(config.deployment.clone())
                    .with_api_version(config.api_version.clone())
                    .with_api_key(key.expose_secret().to_owned());
                (Box::new(azure), None)
            }
            EmbedAuth::Credential(credential) => {
                let cache = Arc::new(TokenCache::new(credential.clone()));
                let bearer = BearerConfig {
                    api_base: api_base.clone(),
                    deployment: config.deployment.clone(),
                    api_version: config.api_version.clone(),
                    token: cache.clone(),
                    no_key: SecretString::from(String::new()),
                };
                (Box::new(bearer), Some(cache))
            }
        };
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT.min(config.request_timeout))
            .build()
            .map_err(|_| err("the HTTP client could not be built"))?;
        let transport = RetryingTransport {
            http: http.clone(),
            policy: Arc::new(RetryPolicy {
                max_retries: config.max_retries,
                request_timeout: config.request_timeout,
                initial_backoff: config.initial_backoff,
                max_backoff: config.max_backoff,
                max_retry_after: config.max_retry_after,
            }),
        };
        let client = Client::build(http, api_config).with_http_service(transport);
        Ok(Self {
            client,
            endpoint: api_base,
            deployment: config.deployment,
            dimensions: config.dimensions,
            send_dimensions: config.send_dimensions,
            batch_size: config.batch_size,
            token,
        })
    }

    async fn embed_batch(&self, inputs: &[String]) -> Result<Vec<Vec<f32>>, PortError> {
        if let Some(token) = &self.token {
            token.refresh_if_needed().await?;
        }
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
            .client
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
    let detail = match e {
        OpenAIError::Boxed(inner) => match inner.downcast_ref::<CallFailure>() {
            Some(failure) => return PortError::Unavailable(failure.to_string()),
            None => "the request failed".to_owned(),
        },
        OpenAIError::ApiError(api) => format!("HTTP {}", api.status_code.as_u16()),
        OpenAIError::Reqwest(e) => transport_kind(e).to_owned(),
        OpenAIError::JSONDeserialize(..) => "the answer is not an embeddings response".to_owned(),
        OpenAIError::InvalidArgument(_) => "the request could not be built".to_owned(),
        _ => "the request failed".to_owned(),
    };
    PortError::Unavailable(format!("{WHAT}: {detail}"))
}

fn transport_kind(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_body() || e.is_decode() {
        "the answer broke off"
    } else if e.is_builder() {
        "the request could not be built"
    } else {
        "transport error"
    }
}

/// Why a request failed for good. Its `Display` is the error text callers see.
#[derive(Debug)]
enum CallFailure {
    /// The last answer's status (after retries when it was retryable).
    Status { status: u16, attempts: u32 },
    /// The service asked to wait longer than allowed.
    WaitTooLong { status: u16, wait: Duration },
    /// No answer within the per-attempt timeout.
    Timeout { attempts: u32, timeout: Duration },
    /// The connection failed.
    Transport { kind: &'static str, attempts: u32 },
    /// A 2xx answer that is not an embeddings response.
    Malformed,
    /// async-openai could not build the request.
    Build,
}

impl fmt::Display for CallFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Status { status, attempts } => {
                write!(f, "{WHAT}: HTTP {status} (after {attempts} attempts)")
            }
            Self::WaitTooLong { status, wait } => write!(
                f,
                "{WHAT}: HTTP {status}, the service asks to wait {} s",
                wait.as_secs()
            ),
            Self::Timeout { attempts, timeout } => write!(
                f,
                "{WHAT}: no answer within {} ms (after {attempts} attempts)",
                timeout.as_millis()
            ),
            Self::Transport { kind, attempts } => {
                write!(f, "{WHAT}: {kind} (after {attempts} attempts)")
            }
            Self::Malformed => write!(f, "{WHAT}: the answer is not an embeddings response"),
            Self::Build => write!(f, "{WHAT}: the request could not be built"),
        }
    }
}

impl std::error::Error for CallFailure {}

fn failure(f: CallFailure) -> OpenAIError {
    OpenAIError::Boxed(Box::new(f))
}

#[derive(Debug)]
struct RetryPolicy {
    max_retries: u32,
    request_timeout: Duration,
    initial_backoff: Duration,
    max_backoff: Duration,
    max_retry_after: Duration,
}

impl RetryPolicy {
    /// Exponential backoff before retry `retry` (from 1), with jitter: half fixed, half random.
    fn backoff(&self, retry: u32) -> Duration {
        let base = self
            .initial_backoff
            .saturating_mul(2_u32.saturating_pow(retry.saturating_sub(1)))
            .min(self.max_backoff);
        let half = base / 2;
        half + half.mul_f64(random_fraction())
    }
}

/// A number in `[0, 1)` for jitter (not for anything secret): std's randomly keyed hasher.
fn random_fraction() -> f64 {
    let bits = std::collections::hash_map::RandomState::new().hash_one(0_u8) >> 11;
    // 53 random bits: exact in an f64.
    #[allow(clippy::cast_precision_loss)]
    let fraction = bits as f64 / (1_u64 << 53) as f64;
    fraction
}

/// The client's HTTP service: our retry loop over reqwest, in place of async-openai's.
#[derive(Clone, Debug)]
struct RetryingTransport {
    http: reqwest::Client,
    policy: Arc<RetryPolicy>,
}

/// One attempt's outcome.
enum Attempt {
    /// A validated 2xx answer, rebuilt for async-openai.
    Done(reqwest::Response),
    /// A non-2xx answer and the wait the service asked for, if any.
    Status(u16, Option<Duration>),
}

impl RetryingTransport {
    async fn run(self, factory: HttpRequestFactory) -> Result<reqwest::Response, OpenAIError> {
        let policy = &self.policy;
        let mut attempts: u32 = 0;
        loop {
            attempts += 1;
            let outcome =
                tokio::time::timeout(policy.request_timeout, self.attempt(&factory)).await;
            let (give_up, asked, kind) = match outcome {
                Ok(Ok(Attempt::Done(response))) => return Ok(response),
                Ok(Ok(Attempt::Status(status, asked))) => {
                    let end = CallFailure::Status { status, attempts };
                    if !retryable(status) {
                        return Err(failure(end));
                    }
                    if let Some(wait) = asked.filter(|w| *w > policy.max_retry_after) {
                        return Err(failure(CallFailure::WaitTooLong { status, wait }));
                    }
                    (end, asked, status_kind(status))
                }
                Ok(Err(AttemptError::Final(f))) => return Err(failure(f)),
                Ok(Err(AttemptError::Transport(kind))) => {
                    (CallFailure::Transport { kind, attempts }, None, kind)
                }
                Err(_) => (
                    CallFailure::Timeout {
                        attempts,
                        timeout: policy.request_timeout,
                    },
                    None,
                    "timed out",
                ),
            };
            if attempts > policy.max_retries {
                tracing::warn!(attempts, failure = kind, "{WHAT}: giving up");
                return Err(failure(give_up));
            }
            let delay = asked.unwrap_or_else(|| policy.backoff(attempts));
            tracing::info!(
                attempt = attempts,
                failure = kind,
                delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                server_asked = asked.is_some(),
                "{WHAT}: retrying"
            );
            tokio::time::sleep(delay).await;
        }
    }

    async fn attempt(&self, factory: &HttpRequestFactory) -> Result<Attempt, AttemptError> {
        let request = factory
            .build()
            .await
            .map_err(|_| AttemptError::Final(CallFailure::Build))?;
        let response = self
            .http
            .execute(request)
            .await
            .map_err(|e| AttemptError::from_reqwest(&e))?;
        let status = response.status();
        if !status.is_success() {
            // The error body is never read: it is not needed, and it is not ours to log.
            return Ok(Attempt::Status(
                status.as_u16(),
                retry_after(response.headers()),
            ));
        }
        let body = response
            .bytes()
            .await
            .map_err(|e| AttemptError::from_reqwest(&e))?;
        // async-openai logs a body it cannot parse (vectors, here): parse it first with its own type.
        if serde_json::from_slice::<CreateEmbeddingResponse>(&body).is_err() {
            return Err(AttemptError::Final(CallFailure::Malformed));
        }
        let rebuilt = http::Response::builder()
            .status(status)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(body)
            .map_err(|_| AttemptError::Final(CallFailure::Malformed))?;
        Ok(Attempt::Done(reqwest::Response::from(rebuilt)))
    }
}

enum AttemptError {
    /// Not worth retrying.
    Final(CallFailure),
    /// A network failure of this kind: retried.
    Transport(&'static str),
}

impl AttemptError {
    fn from_reqwest(e: &reqwest::Error) -> Self {
        if e.is_builder() {
            Self::Final(CallFailure::Build)
        } else {
            Self::Transport(transport_kind(e))
        }
    }
}

impl tower::Service<HttpRequestFactory> for RetryingTransport {
    type Response = reqwest::Response;
    type Error = OpenAIError;
    type Future = Pin<Box<dyn Future<Output = Result<reqwest::Response, OpenAIError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, factory: HttpRequestFactory) -> Self::Future {
        Box::pin(self.clone().run(factory))
    }
}

/// 408, 429 and 5xx are worth another attempt.
fn retryable(status: u16) -> bool {
    status == 408 || status == 429 || (500..=599).contains(&status)
}

fn status_kind(status: u16) -> &'static str {
    match status {
        408 => "http-408",
        429 => "http-429",
        _ => "http-5xx",
    }
}

/// The wait the service asks for: `retry-after-ms` / `x-ms-retry-after-ms` (milliseconds), else
/// `retry-after` (seconds, or an HTTP date).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    let millis = ["retry-after-ms", "x-ms-retry-after-ms"]
        .into_iter()
        .find_map(|name| value(name)?.parse::<f64>().ok())
        .filter(|ms| ms.is_finite() && *ms >= 0.0)
        .and_then(|ms| Duration::try_from_secs_f64(ms / 1000.0).ok());
    if millis.is_some() {
        return millis;
    }
    let v = value("retry-after")?;
    if let Ok(secs) = v.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0)
            .then(|| Duration::try_from_secs_f64(secs).ok())
            .flatten();
    }
    let at = OffsetDateTime::parse(v, &time::format_description::well_known::Rfc2822).ok()?;
    let wait = at - OffsetDateTime::now_utc();
    Some(Duration::try_from(wait).unwrap_or(Duration::ZERO))
}

/// The Entra ID token, cached for the synchronous [`Config::headers`].
struct TokenCache {
    credential: Arc<dyn TokenCredential>,
    current: RwLock<Option<CachedToken>>,
    /// One refresh at a time.
    refresh: tokio::sync::Mutex<()>,
}

struct CachedToken {
    /// `Bearer …`, marked sensitive (its `Debug` is redacted).
    header: HeaderValue,
    expires_on: OffsetDateTime,
}

impl TokenCache {
    fn new(credential: Arc<dyn TokenCredential>) -> Self {
        Self {
            credential,
            current: RwLock::new(None),
            refresh: tokio::sync::Mutex::new(()),
        }
    }

    fn fresh(&self) -> bool {
        let current = self.current.read().unwrap_or_else(PoisonError::into_inner);
        current
            .as_ref()
            .is_some_and(|t| t.expires_on - OffsetDateTime::now_utc() > TOKEN_REFRESH_MARGIN)
    }

    fn header(&self) -> Option<HeaderValue> {
        let current = self.current.read().unwrap_or_else(PoisonError::into_inner);
        current.as_ref().map(|t| t.header.clone())
    }

    async fn refresh_if_needed(&self) -> Result<(), PortError> {
        if self.fresh() {
            return Ok(());
        }
        let _one = self.refresh.lock().await;
        if self.fresh() {
            return Ok(());
        }
        let token = self
            .credential
            .get_token(&[TOKEN_SCOPE], None)
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, "{WHAT}: no Entra ID token");
                PortError::Unavailable(format!("{WHAT}: no Entra ID token"))
            })?;
        let mut header = HeaderValue::from_str(&format!("Bearer {}", token.token.secret()))
            .map_err(|_| {
                PortError::Unavailable(format!("{WHAT}: the Entra ID token is not a header value"))
            })?;
        header.set_sensitive(true);
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Some(CachedToken {
            header,
            expires_on: token.expires_on,
        });
        Ok(())
    }
}

/// async-openai's [`Config`] for the classic deployment endpoint with an Entra ID bearer token: the
/// same URL and query as its `AzureConfig`, `Authorization` instead of `api-key`.
struct BearerConfig {
    api_base: String,
    deployment: String,
    api_version: String,
    token: Arc<TokenCache>,
    /// The trait wants an API key; there is none.
    no_key: SecretString,
}

impl Config for BearerConfig {
    fn headers(&self) -> HeaderMap {
        let mut headers = HeaderMap::new();
        // Refreshed before every request; without one the service answers 401.
        if let Some(value) = self.token.header() {
            headers.insert(AUTHORIZATION, value);
        }
        headers
    }

    fn url(&self, path: &str) -> String {
        format!(
            "{}/openai/deployments/{}{path}",
            self.api_base, self.deployment
        )
    }

    fn query(&self) -> Vec<(&str, &str)> {
        vec![("api-version", self.api_version.as_str())]
    }

    fn api_base(&self) -> &str {
        &self.api_base
    }

    fn api_key(&self) -> &SecretString {
        &self.no_key
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn retry_after_prefers_milliseconds() {
        assert_eq!(
            retry_after(&headers(&[
                ("retry-after-ms", "1500"),
                ("retry-after", "9")
            ])),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            retry_after(&headers(&[("x-ms-retry-after-ms", "20")])),
            Some(Duration::from_millis(20))
        );
        assert_eq!(
            retry_after(&headers(&[("retry-after", "2")])),
            Some(Duration::from_secs(2))
        );
        assert_eq!(retry_after(&headers(&[("retry-after", "soon")])), None);
        assert_eq!(retry_after(&headers(&[("retry-after", "-1")])), None);
        assert_eq!(retry_after(&HeaderMap::new()), None);
    }

    #[test]
    fn retry_after_reads_http_dates() {
        let past = headers(&[("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT")]);
        assert_eq!(retry_after(&past), Some(Duration::ZERO));
        let later = OffsetDateTime::now_utc() + time::Duration::seconds(30);
        let text = later
            .format(&time::format_description::well_known::Rfc2822)
            .unwrap();
        let wait = retry_after(&headers(&[("retry-after", &text)])).unwrap();
        assert!(
            wait > Duration::from_secs(25) && wait <= Duration::from_secs(30),
            "{wait:?}"
        );
    }

    #[test]
    fn backoff_doubles_within_bounds_with_jitter() {
        let policy = RetryPolicy {
            max_retries: 10,
            request_timeout: Duration::from_secs(1),
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(1000),
            max_retry_after: Duration::from_secs(1),
        };
        for (retry, base) in [
            (1, 100),
            (2, 200),
            (3, 400),
            (4, 800),
            (5, 1000),
            (30, 1000),
        ] {
            let d = policy.backoff(retry);
            let base = Duration::from_millis(base);
            assert!(d >= base / 2 && d <= base, "retry {retry}: {d:?}");
        }
        let spread: std::collections::HashSet<_> = (0..20).map(|_| policy.backoff(4)).collect();
        assert!(spread.len() > 1, "no jitter");
    }

    #[test]
    fn retryable_statuses() {
        for s in [408, 429, 500, 502, 503, 504] {
            assert!(retryable(s), "{s}");
        }
        for s in [400, 401, 403, 404, 409, 413, 422] {
            assert!(!retryable(s), "{s}");
        }
    }

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
