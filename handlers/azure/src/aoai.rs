//! What the Azure OpenAI adapters ([`crate::embed`] and [`crate::foundry`]) share: sign-in (API key
//! or Entra ID bearer token), async-openai's `Config` for the deployment and v1 routes, endpoint
//! checks, and the HTTP service that replaces async-openai's retry layer.
//!
//! # Sign-in
//! An API key goes out as the `api-key` header (marked sensitive). Entra ID tokens go out as
//! `Authorization: Bearer …` for the scope [`TOKEN_SCOPE`]; async-openai's `Config` trait is
//! synchronous, so the token is fetched outside it: before each call the adapter refreshes its cached
//! token when it expires within [`TOKEN_REFRESH_MARGIN`], and the config only reads the cache.
//!
//! # Routes
//! - deployment: `{endpoint}/openai/deployments/{deployment}{path}?api-version={version}`;
//! - v1: `{endpoint}/openai/v1{path}` with no query (the deployment goes in the body's `model`).
//!
//! # Retries
//! async-openai's default client wraps every request in its own retry layer (3 retries on 429, 5xx
//! and connect errors; it honours `Retry-After` in whole seconds only, ignores `retry-after-ms`, has
//! no jitter, and logs rate-limit headers and, on a body it cannot parse, the whole body). The
//! adapters replace that layer: with async-openai's `middleware` feature the client's HTTP service is
//! [`RetryingTransport`], which
//! - gives each attempt the policy's request timeout (sending and reading the body), never more than
//!   what is left of the call's deadline when it has one;
//! - retries 408, 429, 5xx, timeouts and transport errors at most `max_retries` times, waiting what
//!   the service asks (`retry-after-ms`, `x-ms-retry-after-ms`, then `retry-after` in seconds or as an
//!   HTTP date) or else an exponential backoff with jitter (half fixed, half random) between the
//!   policy's bounds;
//! - gives up at once when the service asks to wait longer than the policy allows, or when the wait
//!   would end past the call's deadline;
//! - parses a successful body itself before handing it to async-openai, so async-openai never logs a
//!   body it cannot parse, and never reads an error body (of a 400 only the error code is read, to
//!   tell a content-filter refusal from other bad requests).
//!
//! Nothing here logs request or response bodies: failures carry status codes, attempt counts and
//! kinds only.

use std::fmt;
use std::future::Future;
use std::hash::BuildHasher as _;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::task::{Context, Poll};
use std::time::Duration;

use async_openai::Client;
use async_openai::config::Config;
use async_openai::error::OpenAIError;
use async_openai::middleware::HttpRequestFactory;
use azure_core::credentials::TokenCredential;
use azure_core::http::Url;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use secrecy::{ExposeSecret as _, SecretString};
use time::OffsetDateTime;
use tokio::time::Instant;

/// The API version sent by default: the latest GA dated version.
pub const DEFAULT_API_VERSION: &str = "2024-10-21";
/// The Entra ID scope for Azure OpenAI.
pub const TOKEN_SCOPE: &str = "https://cognitiveservices.azure.com/.default";
/// A cached token is replaced when it expires within this margin (longer than any request and its
/// retries take, so a token never expires in the middle of one).
pub const TOKEN_REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);

/// Connect timeout of the HTTP client (part of each attempt's budget too).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The most of a 400 answer's body read to find its error code.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// How an Azure OpenAI adapter signs in.
#[derive(Clone)]
pub enum OpenAiAuth {
    /// The resource's API key, sent as the `api-key` header.
    ApiKey(SecretString),
    /// Entra ID tokens (production: the function app's managed identity), sent as
    /// `Authorization: Bearer …`; the identity needs the "Cognitive Services OpenAI User" role.
    Credential(Arc<dyn TokenCredential>),
}

impl fmt::Debug for OpenAiAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ApiKey(_) => f.write_str("ApiKey(<redacted>)"),
            Self::Credential(c) => f.debug_tuple("Credential").field(c).finish(),
        }
    }
}

/// Which URL shape requests take.
#[derive(Clone, Debug)]
pub(crate) enum Route {
    /// `/openai/deployments/{deployment}{path}?api-version={api_version}`.
    Deployment {
        deployment: String,
        api_version: String,
    },
    /// `/openai/v1{path}`, no query.
    V1,
}

/// What an adapter calls, for messages and for checking successful answers.
#[derive(Debug)]
pub(crate) struct Service {
    /// The prefix of every failure message (`azure openai embeddings`).
    pub what: &'static str,
    /// What a successful answer is (`an embeddings response`).
    pub answer: &'static str,
    /// Whether a 2xx body is such an answer (async-openai logs bodies it cannot parse).
    pub valid: fn(&[u8]) -> bool,
}

/// Retry and timeout settings.
#[derive(Clone, Debug)]
pub(crate) struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// Time for one attempt (sending and reading the answer).
    pub request_timeout: Duration,
    /// The first backoff of our own; doubled per retry.
    pub initial_backoff: Duration,
    /// The longest backoff of our own.
    pub max_backoff: Duration,
    /// The longest wait the service may ask for before the call fails instead.
    pub max_retry_after: Duration,
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

/// The endpoint as an API base (no trailing `/`), or why it is unusable: it must be `https` with a
/// host (plain `http` only on loopback, for tests) and have no query or fragment.
pub(crate) fn api_base(endpoint: &Url) -> Result<String, &'static str> {
    let loopback = endpoint.host_str().is_some_and(|h| {
        h.eq_ignore_ascii_case("localhost")
            || h.trim_matches(['[', ']'])
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    });
    match endpoint.scheme() {
        "https" if endpoint.host().is_some() => {}
        "http" if loopback => {}
        _ => return Err("the endpoint must be an https URL with a host"),
    }
    if endpoint.query().is_some() || endpoint.fragment().is_some() {
        return Err("the endpoint must not have a query or fragment");
    }
    Ok(endpoint.as_str().trim_end_matches('/').to_owned())
}

/// Whether `name` is a usable deployment name (letters, digits, `-`, `_`, `.`; it goes in the path).
pub(crate) fn valid_deployment(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Whether `version` is a usable `api-version` value.
pub(crate) fn valid_api_version(version: &str) -> bool {
    !version.is_empty()
        && version.len() <= 32
        && version
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// An adapter's client: async-openai over [`RetryingTransport`], and the token cache when it signs
/// in with Entra ID.
pub(crate) struct Connection {
    client: Client<AoaiConfig>,
    transport: RetryingTransport,
    token: Option<Arc<TokenCache>>,
}

impl Connection {
    /// A connection to `api_base` (from [`api_base`]) on `route`. Does no I/O.
    pub(crate) fn new(
        api_base: String,
        route: Route,
        auth: &OpenAiAuth,
        policy: RetryPolicy,
        service: &'static Service,
    ) -> Result<Self, &'static str> {
        if policy.request_timeout.is_zero() {
            return Err("the request timeout must be positive");
        }
        let (auth, token) = match auth {
            OpenAiAuth::ApiKey(key) => {
                let mut header = HeaderValue::from_str(key.expose_secret())
                    .map_err(|_| "the API key is not a valid header value")?;
                header.set_sensitive(true);
                (
                    ConfigAuth::Key {
                        key: key.clone(),
                        header,
                    },
                    None,
                )
            }
            OpenAiAuth::Credential(credential) => {
                let cache = Arc::new(TokenCache::new(credential.clone()));
                (ConfigAuth::Bearer(cache.clone()), Some(cache))
            }
        };
        let config = AoaiConfig {
            api_base,
            route,
            auth,
            no_key: SecretString::from(String::new()),
        };
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT.min(policy.request_timeout))
            .build()
            .map_err(|_| "the HTTP client could not be built")?;
        let transport = RetryingTransport {
            http: http.clone(),
            policy: Arc::new(policy),
            service,
            call: None,
        };
        let client = Client::build(http, config).with_http_service(transport.clone());
        Ok(Self {
            client,
            transport,
            token,
        })
    }

    /// Whether it signs in with Entra ID.
    pub(crate) fn uses_entra_id(&self) -> bool {
        self.token.is_some()
    }

    /// Refreshes the Entra ID token when it is missing or about to expire (nothing with an API key).
    pub(crate) async fn refresh_token(&self, what: &str) -> Result<(), &'static str> {
        match &self.token {
            Some(token) => token.refresh_if_needed(what).await,
            None => Ok(()),
        }
    }

    /// The client, for calls that need no per-call state.
    pub(crate) fn client(&self) -> &Client<AoaiConfig> {
        &self.client
    }

    /// A client for one call whose attempts are counted in, and bounded by the deadline of, `call`.
    pub(crate) fn client_for(&self, call: Arc<CallState>) -> Client<AoaiConfig> {
        let mut transport = self.transport.clone();
        transport.call = Some(call);
        self.client.clone().with_http_service(transport)
    }
}

/// One call's shared state: its attempts so far and its deadline.
#[derive(Debug)]
pub(crate) struct CallState {
    attempts: AtomicU32,
    deadline: Option<Instant>,
}

impl CallState {
    /// A call that must be over by `deadline`.
    pub(crate) fn new(deadline: Option<Instant>) -> Self {
        Self {
            attempts: AtomicU32::new(0),
            deadline,
        }
    }

    /// Attempts started so far.
    pub(crate) fn attempts(&self) -> u32 {
        self.attempts.load(Ordering::SeqCst)
    }
}

/// Why a request failed for good. Its `Display` is the error text callers see.
#[derive(Debug)]
pub(crate) enum CallFailure {
    /// The last answer's status (after retries when it was retryable); `content_filter` when a 400
    /// said the prompt was filtered.
    Status {
        what: &'static str,
        status: u16,
        attempts: u32,
        content_filter: bool,
    },
    /// The service asked to wait longer than allowed (or past the deadline).
    WaitTooLong {
        what: &'static str,
        status: u16,
        wait: Duration,
    },
    /// No answer within the per-attempt timeout (or what was left of the deadline).
    Timeout {
        what: &'static str,
        attempts: u32,
        timeout: Duration,
    },
    /// The connection failed.
    Transport {
        what: &'static str,
        kind: &'static str,
        attempts: u32,
    },
    /// A 2xx answer that is not what the service answers.
    Malformed {
        what: &'static str,
        answer: &'static str,
    },
    /// async-openai could not build the request.
    Build { what: &'static str },
}

impl fmt::Display for CallFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Status {
                what,
                status,
                attempts,
                content_filter,
            } => {
                let filtered = if *content_filter {
                    ", content filter"
                } else {
                    ""
                };
                write!(
                    f,
                    "{what}: HTTP {status}{filtered} (after {attempts} attempts)"
                )
            }
            Self::WaitTooLong { what, status, wait } => write!(
                f,
                "{what}: HTTP {status}, the service asks to wait {} s",
                wait.as_secs()
            ),
            Self::Timeout {
                what,
                attempts,
                timeout,
            } => write!(
                f,
                "{what}: no answer within {} ms (after {attempts} attempts)",
                timeout.as_millis()
            ),
            Self::Transport {
                what,
                kind,
                attempts,
            } => write!(f, "{what}: {kind} (after {attempts} attempts)"),
            Self::Malformed { what, answer } => write!(f, "{what}: the answer is not {answer}"),
            Self::Build { what } => write!(f, "{what}: the request could not be built"),
        }
    }
}

impl std::error::Error for CallFailure {}

fn failure(f: CallFailure) -> OpenAIError {
    OpenAIError::Boxed(Box::new(f))
}

/// The [`CallFailure`] inside an async-openai error, if the transport made it.
pub(crate) fn call_failure(e: &OpenAIError) -> Option<&CallFailure> {
    match e {
        OpenAIError::Boxed(inner) => inner.downcast_ref::<CallFailure>(),
        _ => None,
    }
}

/// A reqwest failure's kind, for messages (never its text, which may hold the URL).
pub(crate) fn transport_kind(e: &reqwest::Error) -> &'static str {
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

/// The client's HTTP service: our retry loop over reqwest, in place of async-openai's.
#[derive(Clone, Debug)]
pub(crate) struct RetryingTransport {
    http: reqwest::Client,
    policy: Arc<RetryPolicy>,
    service: &'static Service,
    /// Set for clients made by [`Connection::client_for`].
    call: Option<Arc<CallState>>,
}

/// One attempt's outcome.
enum Attempt {
    /// A validated 2xx answer, rebuilt for async-openai.
    Done(reqwest::Response),
    /// A non-2xx answer, the wait the service asked for, and whether it was a content filter.
    Status(u16, Option<Duration>, bool),
}

enum AttemptError {
    /// Not worth retrying.
    Final(CallFailure),
    /// A network failure of this kind: retried.
    Transport(&'static str),
}

impl RetryingTransport {
    async fn run(self, factory: HttpRequestFactory) -> Result<reqwest::Response, OpenAIError> {
        let policy = &self.policy;
        let what = self.service.what;
        let deadline = self.call.as_ref().and_then(|c| c.deadline);
        let mut attempts: u32 = 0;
        loop {
            attempts += 1;
            if let Some(call) = &self.call {
                call.attempts.store(attempts, Ordering::SeqCst);
            }
            let budget = deadline.map_or(policy.request_timeout, |d| {
                policy
                    .request_timeout
                    .min(d.saturating_duration_since(Instant::now()))
            });
            let outcome = if budget.is_zero() {
                Err(())
            } else {
                tokio::time::timeout(budget, self.attempt(&factory))
                    .await
                    .map_err(|_| ())
            };
            let (give_up, asked, kind) = match outcome {
                Ok(Ok(Attempt::Done(response))) => return Ok(response),
                Ok(Ok(Attempt::Status(status, asked, content_filter))) => {
                    let end = CallFailure::Status {
                        what,
                        status,
                        attempts,
                        content_filter,
                    };
                    if !retryable(status) {
                        return Err(failure(end));
                    }
                    if let Some(wait) = asked.filter(|w| *w > policy.max_retry_after) {
                        return Err(failure(CallFailure::WaitTooLong { what, status, wait }));
                    }
                    (end, asked, status_kind(status))
                }
                Ok(Err(AttemptError::Final(f))) => return Err(failure(f)),
                Ok(Err(AttemptError::Transport(kind))) => (
                    CallFailure::Transport {
                        what,
                        kind,
                        attempts,
                    },
                    None,
                    kind,
                ),
                Err(()) => (
                    CallFailure::Timeout {
                        what,
                        attempts,
                        timeout: budget,
                    },
                    None,
                    "timed out",
                ),
            };
            if attempts > policy.max_retries {
                tracing::warn!(attempts, failure = kind, "{what}: giving up");
                return Err(failure(give_up));
            }
            let delay = asked.unwrap_or_else(|| policy.backoff(attempts));
            if deadline.is_some_and(|d| Instant::now() + delay >= d) {
                tracing::warn!(
                    attempts,
                    failure = kind,
                    "{what}: giving up, no time left for another attempt"
                );
                return Err(failure(give_up));
            }
            tracing::info!(
                attempt = attempts,
                failure = kind,
                delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                server_asked = asked.is_some(),
                "{what}: retrying"
            );
            tokio::time::sleep(delay).await;
        }
    }

    async fn attempt(&self, factory: &HttpRequestFactory) -> Result<Attempt, AttemptError> {
        let what = self.service.what;
        let request = factory
            .build()
            .await
            .map_err(|_| AttemptError::Final(CallFailure::Build { what }))?;
        let response = self
            .http
            .execute(request)
            .await
            .map_err(|e| AttemptError::from_reqwest(what, &e))?;
        let status = response.status();
        if !status.is_success() {
            let asked = retry_after(response.headers());
            // Other error bodies are never read: they are not needed, and they are not ours to log.
            let content_filter = status.as_u16() == 400 && is_content_filter(response).await;
            return Ok(Attempt::Status(status.as_u16(), asked, content_filter));
        }
        let body = response
            .bytes()
            .await
            .map_err(|e| AttemptError::from_reqwest(what, &e))?;
        // async-openai logs a body it cannot parse: check it first with the same type.
        if !(self.service.valid)(&body) {
            return Err(AttemptError::Final(CallFailure::Malformed {
                what,
                answer: self.service.answer,
            }));
        }
        let rebuilt = http::Response::builder()
            .status(status)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(body)
            .map_err(|_| {
                AttemptError::Final(CallFailure::Malformed {
                    what,
                    answer: self.service.answer,
                })
            })?;
        Ok(Attempt::Done(reqwest::Response::from(rebuilt)))
    }
}

impl AttemptError {
    fn from_reqwest(what: &'static str, e: &reqwest::Error) -> Self {
        if e.is_builder() {
            Self::Final(CallFailure::Build { what })
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

/// Whether a 400 answer is Azure's content filter refusing the prompt
/// (`{"error": {"code": "content_filter", "innererror": {"code": "ResponsibleAIPolicyViolation"}}}`).
/// Reads at most [`MAX_ERROR_BODY`] bytes and keeps nothing but the answer.
async fn is_content_filter(mut response: reqwest::Response) -> bool {
    #[derive(serde::Deserialize)]
    struct Wrapped {
        error: Codes,
    }
    #[derive(serde::Deserialize)]
    struct Codes {
        code: Option<String>,
        innererror: Option<Inner>,
    }
    #[derive(serde::Deserialize)]
    struct Inner {
        code: Option<String>,
    }
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        if body.len() + chunk.len() > MAX_ERROR_BODY {
            return false;
        }
        body.extend_from_slice(&chunk);
    }
    serde_json::from_slice::<Wrapped>(&body).is_ok_and(|w| {
        w.error.code.as_deref() == Some("content_filter")
            || w.error.innererror.and_then(|i| i.code).as_deref()
                == Some("ResponsibleAIPolicyViolation")
    })
}

/// 408, 429 and 5xx are worth another attempt.
pub(crate) fn retryable(status: u16) -> bool {
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
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
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

    async fn refresh_if_needed(&self, what: &str) -> Result<(), &'static str> {
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
                tracing::warn!(error = %e, "{what}: no Entra ID token");
                "no Entra ID token"
            })?;
        let mut header = HeaderValue::from_str(&format!("Bearer {}", token.token.secret()))
            .map_err(|_| "the Entra ID token is not a header value")?;
        header.set_sensitive(true);
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Some(CachedToken {
            header,
            expires_on: token.expires_on,
        });
        Ok(())
    }
}

/// How the config signs requests.
#[derive(Clone)]
enum ConfigAuth {
    /// `api-key: …` (the header value marked sensitive).
    Key {
        key: SecretString,
        header: HeaderValue,
    },
    /// `Authorization: Bearer …` from the cache, refreshed before every call.
    Bearer(Arc<TokenCache>),
}

/// async-openai's [`Config`] for both routes and both ways of signing in.
#[derive(Clone)]
pub(crate) struct AoaiConfig {
    api_base: String,
    route: Route,
    auth: ConfigAuth,
    /// The trait wants an API key; with Entra ID there is none.
    no_key: SecretString,
}

impl fmt::Debug for AoaiConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AoaiConfig")
            .field("api_base", &self.api_base)
            .field("route", &self.route)
            .finish_non_exhaustive()
    }
}

impl Config for AoaiConfig {
    fn headers(&self) -> HeaderMap {
        let mut headers = HeaderMap::new();
        match &self.auth {
            ConfigAuth::Key { header, .. } => {
                headers.insert("api-key", header.clone());
            }
            ConfigAuth::Bearer(cache) => {
                // Refreshed before every call; without one the service answers 401.
                if let Some(value) = cache.header() {
                    headers.insert(AUTHORIZATION, value);
                }
            }
        }
        headers
    }

    fn url(&self, path: &str) -> String {
        match &self.route {
            Route::Deployment { deployment, .. } => {
                format!("{}/openai/deployments/{deployment}{path}", self.api_base)
            }
            Route::V1 => format!("{}/openai/v1{path}", self.api_base),
        }
    }

    fn query(&self) -> Vec<(&str, &str)> {
        match &self.route {
            Route::Deployment { api_version, .. } => vec![("api-version", api_version.as_str())],
            Route::V1 => Vec::new(),
        }
    }

    fn api_base(&self) -> &str {
        &self.api_base
    }

    fn api_key(&self) -> &SecretString {
        match &self.auth {
            ConfigAuth::Key { key, .. } => key,
            ConfigAuth::Bearer(_) => &self.no_key,
        }
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

    #[test]
    fn endpoints_names_and_versions_are_checked() {
        let base = |s: &str| api_base(&s.parse().unwrap());
        assert_eq!(
            base("https://res.openai.azure.com/"),
            Ok("https://res.openai.azure.com".to_owned())
        );
        assert!(base("http://127.0.0.1:9/").is_ok());
        assert!(base("http://[::1]:9").is_ok());
        assert!(base("http://res.openai.azure.com").is_err());
        assert!(base("https://res.openai.azure.com/?a=b").is_err());
        assert!(base("https://res.openai.azure.com/#x").is_err());
        assert!(valid_deployment("gpt-4o_mini.2024"));
        for bad in ["", "a/../b", "a b", "a?b", &"x".repeat(65)] {
            assert!(!valid_deployment(bad), "{bad:?}");
        }
        assert!(valid_api_version("2024-10-21"));
        assert!(valid_api_version("2025-04-01-preview"));
        for bad in ["", "2024/10", "a&b=c", "v 1"] {
            assert!(!valid_api_version(bad), "{bad:?}");
        }
    }

    #[test]
    fn the_config_builds_both_routes() {
        static TEST: Service = Service {
            what: "test",
            answer: "anything",
            valid: |_| true,
        };
        let policy = RetryPolicy {
            max_retries: 0,
            request_timeout: Duration::from_secs(1),
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(1),
            max_retry_after: Duration::from_secs(1),
        };
        let key = OpenAiAuth::ApiKey(SecretString::from("sekrit".to_owned()));
        let connect = |route| {
            Connection::new(
                "https://res.openai.azure.com".into(),
                route,
                &key,
                policy.clone(),
                &TEST,
            )
            .unwrap()
        };
        let dated = connect(Route::Deployment {
            deployment: "gpt".into(),
            api_version: "2024-10-21".into(),
        });
        let config = dated.client().config();
        assert_eq!(
            config.url("/chat/completions"),
            "https://res.openai.azure.com/openai/deployments/gpt/chat/completions"
        );
        assert_eq!(config.query(), vec![("api-version", "2024-10-21")]);
        let v1 = connect(Route::V1);
        let config = v1.client().config();
        assert_eq!(
            config.url("/chat/completions"),
            "https://res.openai.azure.com/openai/v1/chat/completions"
        );
        assert!(config.query().is_empty());
        let headers = config.headers();
        assert_eq!(headers.len(), 1);
        let api_key = headers.get("api-key").unwrap();
        assert_eq!(api_key.to_str().unwrap(), "sekrit");
        assert!(api_key.is_sensitive());
        assert!(!format!("{config:?}").contains("sekrit"));
        assert!(!v1.uses_entra_id());
        assert!(
            Connection::new(
                "https://res.openai.azure.com".into(),
                Route::V1,
                &OpenAiAuth::ApiKey(SecretString::from("bad\nkey".to_owned())),
                policy.clone(),
                &TEST,
            )
            .is_err()
        );
    }
}
