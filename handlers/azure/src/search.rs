//! The chunk index on Azure AI Search: the [`SearchIndex`] port over the service's REST API
//! (api-version [`API_VERSION`]; no usable Rust SDK exists), with reqwest and serde.
//!
//! One index per region holds every org's chunks. Isolation is a mandatory filter: every document
//! carries `orgId` taken from the [`TenantScope`] (never from the caller's data), and every query this
//! adapter sends (searches, counts, and the id lookups behind replace and delete) is filtered on
//! `orgId eq '<scope's org>'`, built here and nowhere else. Document keys are `{orgId}={chunkId}`
//! (`=` occurs in neither), so the same contract id in two orgs is two sets of documents and no write
//! in one org can overwrite another's; hits are checked to be the scope's org before they are returned.
//!
//! Writes:
//! - [`SearchIndex::replace_contract`] uploads the chunks (`upload`, which replaces whole documents,
//!   so a chunk re-indexed without a vector keeps no stale one), in batches of at most
//!   [`MAX_BATCH_DOCS`] documents and [`MAX_BATCH_BYTES`] bytes of JSON, then lists the contract's
//!   ids (the service has no delete-by-filter) and deletes those not in the new set. Retrying after a
//!   failure is safe: every step is idempotent.
//! - A `207 Multi-Status` answer is retried for the failed documents only, when their status is
//!   transient (409, 422, 429, 5xx), with exponential backoff ([`RetryPolicy`]); any other document
//!   failure is an error naming the document key and status code. Whole requests answered 408, 429 or
//!   5xx (or not answered at all) are retried too, honouring `Retry-After`.
//! - The service indexes in near real time: a document written a moment ago may not be listed yet. An
//!   id missing from the listing for that reason is one of the new set (kept anyway), so replacement
//!   stays correct.
//!
//! Contract text is in request and response bodies only: nothing here logs a body or puts one (or the
//! service's per-document error messages, which may quote documents) into an error. Logs carry counts,
//! sizes and HTTP statuses.
//!
//! Authentication: an admin `api-key`, or Entra ID bearer tokens for the scope [`TOKEN_SCOPE`] from a
//! [`TokenCredential`] (production: the function app's managed identity, which needs *Search Index
//! Data Contributor*, and *Search Service Contributor* for [`SearchIndex::ensure_ready`]'s schema
//! update). Tokens are cached until shortly before they expire.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use azure_core::credentials::TokenCredential;
use azure_core::http::Url;
use bytes::Bytes;
use clment_common::TenantScope;
use clment_common::domain::ContractId;
use clment_common::ports::{
    ChunkDoc, HealthCheck, PortError, SearchHit, SearchIndex, SearchMode, SearchPage, SearchQuery,
};
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::OffsetDateTime;

/// The data-plane REST API version sent with every request.
pub const API_VERSION: &str = "2025-09-01";
/// The Entra ID scope of Azure AI Search tokens.
pub const TOKEN_SCOPE: &str = "https://search.azure.com/.default";
/// The index that holds contract chunks, unless configured otherwise.
pub const DEFAULT_INDEX: &str = "contract-chunks";
/// Most documents the service accepts in one indexing batch.
pub const MAX_BATCH_DOCS: usize = 1000;
/// Most bytes of JSON this adapter sends in one indexing batch (the service's limit is "about
/// 16 MB"; this stays just under 16 000 000 bytes).
pub const MAX_BATCH_BYTES: usize = 16_000_000;
/// Time limit of every request (connecting, sending and reading the whole answer).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// The `api-key` header.
const API_KEY: HeaderName = HeaderName::from_static("api-key");
/// Results per id-listing page (the most one search answers with).
const ID_PAGE: usize = 1000;
/// The largest `skip` the service accepts.
const MAX_SKIP: usize = 100_000;
/// Nearest neighbours asked for per vector query (at least; more when a deep page needs them).
const VECTOR_K: usize = 50;
/// A cached token is replaced this long before it expires (or at half its life, when shorter).
const TOKEN_REFRESH_MARGIN: Duration = Duration::from_secs(300);
/// The longest `Retry-After` honoured; longer hints are cut to this.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);
/// The vector field, its profile and algorithm.
const VECTOR_FIELD: &str = "contentVector";
const VECTOR_PROFILE: &str = "chunk-vectors";
const VECTOR_ALGORITHM: &str = "chunk-hnsw";
/// The fields a search hit needs.
const HIT_FIELDS: &str = "id,orgId,contractId,start,end,pageStart,pageEnd,content";
/// `{"value":[` and `]}` around a batch's documents.
const BATCH_ENVELOPE: usize = br#"{"value":[]}"#.len();

/// A document key and its serialised index action (one element of a batch's `value`).
type Action = (String, Vec<u8>);

/// How the adapter signs requests.
#[derive(Clone)]
pub enum SearchAuth {
    /// An admin key, sent as the `api-key` header (development, tests).
    ApiKey(SecretString),
    /// Entra ID bearer tokens for [`TOKEN_SCOPE`] (production: the managed identity shared with the
    /// other Azure adapters).
    Credential(Arc<dyn TokenCredential>),
}

impl std::fmt::Debug for SearchAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::ApiKey(_) => f.write_str("ApiKey([redacted])"),
            Self::Credential(_) => f.write_str("Credential"),
        }
    }
}

/// Where the index lives and how to sign in.
#[derive(Clone, Debug)]
pub struct AiSearchConfig {
    /// The service URL (`https://<service>.search.windows.net`). Plain `http` is accepted for
    /// loopback hosts only (tests).
    pub endpoint: Url,
    /// The index (one per region): lowercase letters, digits and single dashes, at most 128
    /// characters, starting and ending with a letter or digit.
    pub index: String,
    /// How requests are signed.
    pub auth: SearchAuth,
    /// Dimensions of the chunk embeddings, when an embedding model is configured: the schema then
    /// has a vector field and searches given a vector are hybrid.
    pub vector_dimensions: Option<usize>,
}

impl AiSearchConfig {
    /// The service at `endpoint` with [`DEFAULT_INDEX`] and no vectors.
    #[must_use]
    pub fn new(endpoint: Url, auth: SearchAuth) -> Self {
        Self {
            endpoint,
            index: DEFAULT_INDEX.to_owned(),
            auth,
            vector_dimensions: None,
        }
    }
}

/// Bounded retries with exponential backoff, for transient whole-request failures and for the
/// documents of a `207` answer that failed transiently.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Tries in all (the first included); at least 1.
    pub attempts: u32,
    /// Wait before the second try; doubled for each further one.
    pub base_delay: Duration,
    /// The longest wait between tries (a `Retry-After` hint may ask for more, up to 60 s).
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    /// Five tries, waiting 0.5 s, 1 s, 2 s and 4 s.
    fn default() -> Self {
        Self {
            attempts: 5,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(8),
        }
    }
}

impl RetryPolicy {
    /// The wait after failed try `attempt` (from 1).
    fn backoff(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
        self.base_delay.saturating_mul(factor).min(self.max_delay)
    }
}

/// The adapter could not be configured (a bad endpoint or index name).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("azure ai search configuration: {0}")]
pub struct SearchConfigError(String);

/// The [`SearchIndex`] on Azure AI Search (and [`HealthCheck`], named `ai-search`).
pub struct AiSearchIndex {
    http: reqwest::Client,
    endpoint: Url,
    index: String,
    auth: Auth,
    vector_dimensions: Option<usize>,
    retry: RetryPolicy,
}

impl std::fmt::Debug for AiSearchIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AiSearchIndex")
            .field("endpoint", &self.endpoint.as_str())
            .field("index", &self.index)
            .field("vector_dimensions", &self.vector_dimensions)
            .finish_non_exhaustive()
    }
}

enum Auth {
    Key(HeaderValue),
    Bearer {
        credential: Arc<dyn TokenCredential>,
        cache: tokio::sync::Mutex<Option<CachedToken>>,
    },
}

struct CachedToken {
    header: HeaderValue,
    refresh_at: OffsetDateTime,
}

/// Whether `name` is a valid index name.
fn valid_index_name(name: &str) -> bool {
    (2..=128).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
        && !name.contains("--")
}

/// Whether `key` is a valid document key (letters, digits, `-`, `_` and `=`; at most 1024).
fn valid_key(key: &str) -> bool {
    (1..=1024).contains(&key.len())
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'='))
}

fn is_loopback(url: &Url) -> bool {
    let host = url.host_str().unwrap_or_default();
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

impl AiSearchIndex {
    /// An adapter for `config`, sending through `client` (or a new one). Does no I/O.
    ///
    /// # Errors
    /// When the endpoint is not an `https` URL with a host (or `http` on a non-loopback host), has a
    /// query or fragment, the index name is invalid, the vector dimensions are outside 2..=4096, or
    /// the API key is not a valid header value.
    pub fn new(
        config: AiSearchConfig,
        client: Option<reqwest::Client>,
    ) -> Result<Self, SearchConfigError> {
        let AiSearchConfig {
            mut endpoint,
            index,
            auth,
            vector_dimensions,
        } = config;
        let secure = endpoint.scheme() == "https";
        let local = endpoint.scheme() == "http" && is_loopback(&endpoint);
        if endpoint.host_str().is_none() || !(secure || local) {
            return Err(SearchConfigError(
                "the endpoint must be an https URL with a host".into(),
            ));
        }
        if endpoint.query().is_some() || endpoint.fragment().is_some() {
            return Err(SearchConfigError(
                "the endpoint must not have a query or fragment".into(),
            ));
        }
        endpoint
            .path_segments_mut()
            .map_err(|()| SearchConfigError("the endpoint is not a base URL".into()))?
            .pop_if_empty();
        if !valid_index_name(&index) {
            return Err(SearchConfigError(format!("bad index name {index:?}")));
        }
        if let Some(d) = vector_dimensions
            && !(2..=4096).contains(&d)
        {
            return Err(SearchConfigError(format!(
                "vector dimensions {d} outside 2..=4096"
            )));
        }
        let auth = match auth {
            SearchAuth::ApiKey(key) => {
                let mut value = HeaderValue::from_str(key.expose_secret())
                    .map_err(|_| SearchConfigError("the API key is not a header value".into()))?;
                value.set_sensitive(true);
                Auth::Key(value)
            }
            SearchAuth::Credential(credential) => Auth::Bearer {
                credential,
                cache: tokio::sync::Mutex::new(None),
            },
        };
        Ok(Self {
            http: client.unwrap_or_default(),
            endpoint,
            index,
            auth,
            vector_dimensions,
            retry: RetryPolicy::default(),
        })
    }

    /// The same adapter with another retry policy (tests use short waits).
    #[must_use]
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = RetryPolicy {
            attempts: retry.attempts.max(1),
            ..retry
        };
        self
    }

    /// The index name.
    #[must_use]
    pub fn index_name(&self) -> &str {
        &self.index
    }

    /// The service URL.
    #[must_use]
    pub fn endpoint(&self) -> &Url {
        &self.endpoint
    }

    /// The index definition this adapter creates: the chunk fields, and with vector dimensions the
    /// `contentVector` field and an HNSW (cosine) vector profile.
    #[must_use]
    pub fn schema(&self) -> Value {
        let hidden = |name: &str, ty: &str| {
            json!({"name": name, "type": ty, "searchable": false, "filterable": false,
                   "sortable": false, "facetable": false, "retrievable": true})
        };
        let mut fields = vec![
            json!({"name": "id", "type": "Edm.String", "key": true, "searchable": false,
                   "filterable": true, "sortable": true, "facetable": false, "retrievable": true}),
            json!({"name": "orgId", "type": "Edm.String", "searchable": false, "filterable": true,
                   "sortable": false, "facetable": false, "retrievable": true}),
            json!({"name": "contractId", "type": "Edm.String", "searchable": false,
                   "filterable": true, "sortable": false, "facetable": false, "retrievable": true}),
            hidden("ordinal", "Edm.Int32"),
            hidden("start", "Edm.Int64"),
            hidden("end", "Edm.Int64"),
            hidden("pageStart", "Edm.Int32"),
            hidden("pageEnd", "Edm.Int32"),
            json!({"name": "content", "type": "Edm.String", "searchable": true,
                   "analyzer": "en.lucene", "filterable": false, "sortable": false,
                   "facetable": false, "retrievable": true}),
        ];
        let mut schema = json!({"name": self.index});
        if let Some(dimensions) = self.vector_dimensions {
            fields.push(
                json!({"name": VECTOR_FIELD, "type": "Collection(Edm.Single)",
                "searchable": true, "retrievable": false, "dimensions": dimensions,
                "vectorSearchProfile": VECTOR_PROFILE}),
            );
            schema["vectorSearch"] = json!({
                "algorithms": [{"name": VECTOR_ALGORITHM, "kind": "hnsw", "hnswParameters":
                    {"m": 4, "efConstruction": 400, "efSearch": 500, "metric": "cosine"}}],
                "profiles": [{"name": VECTOR_PROFILE, "algorithm": VECTOR_ALGORITHM}],
            });
        }
        schema["fields"] = Value::Array(fields);
        schema
    }

    /// Checks that the index exists and answers (Get Index).
    ///
    /// # Errors
    /// [`PortError::Unavailable`] with an operator-facing reason (`index missing`, a status).
    pub async fn health(&self) -> Result<(), PortError> {
        let answer = self
            .call(Method::GET, self.url(&[]), None, "get index")
            .await?;
        if answer.status.is_success() {
            Ok(())
        } else {
            Err(failure("get index", answer.status))
        }
    }

    /// `{endpoint}/indexes/{index}/{rest…}?api-version=…`.
    fn url(&self, rest: &[&str]) -> Url {
        let mut url = self.endpoint.clone();
        if let Ok(mut segments) = url.path_segments_mut() {
            segments
                .extend(["indexes", self.index.as_str()])
                .extend(rest);
        }
        url.query_pairs_mut()
            .append_pair("api-version", API_VERSION);
        url
    }

    /// The header that signs a request: the key, or a (cached) bearer token.
    async fn signature(&self) -> Result<(HeaderName, HeaderValue), PortError> {
        let (credential, cache) = match &self.auth {
            Auth::Key(key) => return Ok((API_KEY, key.clone())),
            Auth::Bearer { credential, cache } => (credential, cache),
        };
        let mut cached = cache.lock().await;
        let now = OffsetDateTime::now_utc();
        if let Some(token) = cached.as_ref()
            && now < token.refresh_at
        {
            return Ok((AUTHORIZATION, token.header.clone()));
        }
        let token = credential
            .get_token(&[TOKEN_SCOPE], None)
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, "no token for azure ai search");
                PortError::Unavailable(format!("azure ai search token: {e}"))
            })?;
        let mut header = HeaderValue::from_str(&format!("Bearer {}", token.token.secret()))
            .map_err(|_| PortError::Unavailable("the search token is not a header value".into()))?;
        header.set_sensitive(true);
        let life = token.expires_on - now;
        let margin = time::Duration::try_from(TOKEN_REFRESH_MARGIN)
            .unwrap_or(time::Duration::ZERO)
            .min(life / 2)
            .max(time::Duration::ZERO);
        *cached = Some(CachedToken {
            header: header.clone(),
            refresh_at: token.expires_on - margin,
        });
        Ok((AUTHORIZATION, header))
    }

    /// Forgets the cached token (after a 401, so the next request fetches a new one).
    async fn forget_token(&self) {
        if let Auth::Bearer { cache, .. } = &self.auth {
            *cache.lock().await = None;
        }
    }

    /// One request, one answer (read whole, within [`REQUEST_TIMEOUT`]).
    async fn send(
        &self,
        method: Method,
        url: Url,
        body: Option<Bytes>,
        what: &'static str,
    ) -> Result<Answer, PortError> {
        let (name, value) = self.signature().await?;
        let mut request = self
            .http
            .request(method, url)
            .timeout(REQUEST_TIMEOUT)
            .header(name, value)
            .header(ACCEPT, "application/json");
        if let Some(body) = body {
            request = request.header(CONTENT_TYPE, "application/json").body(body);
        }
        let response = request.send().await.map_err(|e| transport(what, &e))?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.bytes().await.map_err(|e| transport(what, &e))?;
        if status == StatusCode::UNAUTHORIZED {
            self.forget_token().await;
        }
        Ok(Answer {
            status,
            headers,
            body,
        })
    }

    /// [`Self::send`], retried (per [`RetryPolicy`]) when nothing came back or the status is
    /// transient (408, 429, 500, 502, 503, 504). The last answer is returned whatever its status.
    async fn call(
        &self,
        method: Method,
        url: Url,
        body: Option<Bytes>,
        what: &'static str,
    ) -> Result<Answer, PortError> {
        let mut attempt = 1;
        loop {
            let delay = match self
                .send(method.clone(), url.clone(), body.clone(), what)
                .await
            {
                Ok(answer) if transient(answer.status) && attempt < self.retry.attempts => {
                    tracing::warn!(
                        what,
                        status = answer.status.as_u16(),
                        attempt,
                        "azure ai search busy; retrying"
                    );
                    retry_after(&answer.headers).unwrap_or_else(|| self.retry.backoff(attempt))
                }
                Err(e) if attempt < self.retry.attempts => {
                    tracing::warn!(what, error = %e, attempt, "azure ai search unreachable; retrying");
                    self.retry.backoff(attempt)
                }
                done => return done,
            };
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }

    /// POST `docs/search` with `body`, expecting 200.
    async fn query(&self, body: &Value, what: &'static str) -> Result<SearchAnswer, PortError> {
        let bytes = Bytes::from(serde_json::to_vec(body).map_err(|_| {
            PortError::Unavailable(format!("{what}: the query does not serialise"))
        })?);
        let answer = self
            .call(
                Method::POST,
                self.url(&["docs", "search"]),
                Some(bytes),
                what,
            )
            .await?;
        if answer.status != StatusCode::OK {
            tracing::warn!(
                what,
                status = answer.status.as_u16(),
                "azure ai search refused a query"
            );
            return Err(failure(what, answer.status));
        }
        parse(&answer.body, what)
    }

    /// Every chunk id of `contract` in the scope's org.
    async fn chunk_ids(
        &self,
        scope: &TenantScope,
        contract: ContractId,
    ) -> Result<Vec<String>, PortError> {
        let filter = org_filter(scope, Some(contract));
        let mut ids = Vec::new();
        loop {
            let skip = ids.len();
            if skip > MAX_SKIP {
                return Err(PortError::Unavailable(format!(
                    "the contract has more than {MAX_SKIP} chunks to list"
                )));
            }
            let body = json!({"search": "*", "queryType": "simple", "filter": filter,
                "select": "id", "orderby": "id asc", "top": ID_PAGE, "skip": skip});
            let answer = self.query(&body, "list chunk ids").await?;
            let got = answer.value.len();
            for row in answer.value {
                let row: IdRow = serde_json::from_value(row).map_err(|_| {
                    PortError::Unavailable("list chunk ids: malformed answer".into())
                })?;
                ids.push(row.id);
            }
            if got < ID_PAGE {
                tracing::debug!(index = %self.index, ids = ids.len(), "listed chunk ids");
                return Ok(ids);
            }
        }
    }

    /// Sends `docs` (serialised index actions, with their keys) in batches within the service's
    /// limits.
    async fn index_all(&self, docs: Vec<Action>, what: &'static str) -> Result<(), PortError> {
        for batch in batches(docs, MAX_BATCH_DOCS, MAX_BATCH_BYTES)? {
            self.index_batch(batch, what).await?;
        }
        Ok(())
    }

    /// One batch: sent, and its transiently failed documents resent, until all succeeded or the
    /// retry policy is spent.
    async fn index_batch(
        &self,
        mut pending: Vec<Action>,
        what: &'static str,
    ) -> Result<(), PortError> {
        let mut attempt = 1;
        loop {
            let body = batch_body(&pending);
            let size = body.len();
            let answer = self
                .call(
                    Method::POST,
                    self.url(&["docs", "index"]),
                    Some(Bytes::from(body)),
                    what,
                )
                .await?;
            tracing::debug!(index = %self.index, what, docs = pending.len(), bytes = size,
                status = answer.status.as_u16(), attempt, "azure ai search index batch");
            if !matches!(answer.status.as_u16(), 200 | 207) {
                tracing::warn!(
                    what,
                    status = answer.status.as_u16(),
                    docs = pending.len(),
                    "azure ai search refused a batch"
                );
                return Err(failure(what, answer.status));
            }
            let results: IndexAnswer = parse(&answer.body, what)?;
            let mut retry = HashSet::new();
            let mut first_retryable = None;
            for item in results.value.iter().filter(|i| !i.status) {
                if retryable_item(item.status_code) {
                    retry.insert(item.key.as_str());
                    first_retryable.get_or_insert((item.key.as_str(), item.status_code));
                } else {
                    let failed = results.value.iter().filter(|i| !i.status).count();
                    tracing::warn!(
                        what,
                        failed,
                        status = item.status_code,
                        "azure ai search refused documents"
                    );
                    return Err(PortError::Unavailable(format!(
                        "{what}: document {} failed with status {} ({failed} of {} failed)",
                        item.key,
                        item.status_code,
                        pending.len()
                    )));
                }
            }
            let Some((key, code)) = first_retryable else {
                return Ok(());
            };
            if attempt >= self.retry.attempts {
                tracing::warn!(
                    what,
                    failed = retry.len(),
                    attempt,
                    "azure ai search documents still failing"
                );
                return Err(PortError::Unavailable(format!(
                    "{what}: {} documents still failing after {attempt} attempts (document {key}: status {code})",
                    retry.len()
                )));
            }
            tracing::info!(
                what,
                failed = retry.len(),
                attempt,
                "retrying failed documents"
            );
            pending.retain(|(k, _)| retry.contains(k.as_str()));
            if pending.is_empty() {
                return Err(PortError::Unavailable(format!(
                    "{what}: the answer names documents that were not sent"
                )));
            }
            let delay = retry_after(&answer.headers).unwrap_or_else(|| self.retry.backoff(attempt));
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }

    /// Delete actions for `ids`, sent in batches.
    async fn delete_ids(&self, ids: &[String]) -> Result<(), PortError> {
        if ids.is_empty() {
            return Ok(());
        }
        let docs = ids
            .iter()
            .map(|id| {
                let json = serde_json::to_vec(&json!({"@search.action": "delete", "id": id}))
                    .unwrap_or_default();
                (id.clone(), json)
            })
            .collect();
        self.index_all(docs, "delete chunks").await
    }
}

/// A whole answer.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

#[derive(Deserialize)]
struct SearchAnswer {
    #[serde(rename = "@odata.count")]
    count: Option<u64>,
    #[serde(default)]
    value: Vec<Value>,
}

#[derive(Deserialize)]
struct IdRow {
    id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HitRow {
    #[serde(rename = "@search.score")]
    score: f64,
    id: String,
    org_id: String,
    contract_id: String,
    start: u64,
    end: u64,
    page_start: u32,
    page_end: u32,
    content: String,
}

/// An indexing answer. Each item's `errorMessage` is not read: it may quote the document.
#[derive(Deserialize)]
struct IndexAnswer {
    value: Vec<ItemResult>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ItemResult {
    key: String,
    status: bool,
    status_code: u16,
}

/// One chunk as an index action. `orgId` and `contractId` come from the scope and the call.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct UploadDoc<'a> {
    #[serde(rename = "@search.action")]
    action: &'static str,
    id: &'a str,
    org_id: &'a str,
    contract_id: String,
    ordinal: u32,
    start: u64,
    end: u64,
    page_start: u32,
    page_end: u32,
    content: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    content_vector: Option<&'a [f32]>,
}

/// Parses a JSON answer; the error names no part of the body (which may hold contract text).
fn parse<T: serde::de::DeserializeOwned>(body: &[u8], what: &str) -> Result<T, PortError> {
    serde_json::from_slice(body).map_err(|e| {
        PortError::Unavailable(format!(
            "{what}: malformed answer (line {}, column {})",
            e.line(),
            e.column()
        ))
    })
}

/// A transport failure: the kind only (reqwest's text may hold the URL, never a body).
fn transport(what: &str, e: &reqwest::Error) -> PortError {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_body() || e.is_decode() {
        "the answer broke off"
    } else {
        "request failed"
    };
    tracing::warn!(what, kind, "azure ai search request failed");
    PortError::Unavailable(format!("{what}: {kind}"))
}

/// A refused request: the status only (never the body).
fn failure(what: &str, status: StatusCode) -> PortError {
    match status.as_u16() {
        404 => PortError::Unavailable("index missing".into()),
        401 | 403 => PortError::Unavailable(format!(
            "{what}: the service refused the credentials ({})",
            status.as_u16()
        )),
        code => PortError::Unavailable(format!("{what}: azure ai search answered {code}")),
    }
}

/// Statuses worth sending the same request again for.
fn transient(status: StatusCode) -> bool {
    matches!(status.as_u16(), 408 | 429 | 500 | 502 | 503 | 504)
}

/// Per-document statuses worth resending the document for.
fn retryable_item(code: u16) -> bool {
    matches!(code, 409 | 422 | 429) || (500..600).contains(&code)
}

/// The service's wait hint: `retry-after-ms`, else `Retry-After` in seconds; at most 60 s.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let number = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    let hint = number("retry-after-ms")
        .map(Duration::from_millis)
        .or_else(|| number("retry-after").map(Duration::from_secs))?;
    Some(hint.min(MAX_RETRY_AFTER))
}

/// The document key of chunk `chunk` of `org`: `{org}={chunk}`. Org ids hold letters, digits, `-` and
/// `_`, chunk ids letters, digits and `-`: the key is unique across orgs and a valid key.
fn doc_key(org: &str, chunk: &str) -> String {
    format!("{org}={chunk}")
}

/// An OData string literal: quoted, with single quotes doubled.
fn odata_string(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// The filter of every query: the scope's org, and the contract when given. Built only here.
fn org_filter(scope: &TenantScope, contract: Option<ContractId>) -> String {
    let mut filter = format!("orgId eq {}", odata_string(scope.org().as_str()));
    if let Some(contract) = contract {
        filter.push_str(" and contractId eq ");
        filter.push_str(&odata_string(&contract.to_string()));
    }
    filter
}

/// The user's words as literal terms of the simple query syntax (its operators escaped).
fn literal_terms(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.trim().chars() {
        if matches!(
            c,
            '\\' | '+' | '-' | '|' | '"' | '(' | ')' | '*' | '~' | '&' | '!'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Splits serialised actions into batches of at most `max_docs` documents and `max_bytes` bytes of
/// request body.
fn batches(
    docs: Vec<Action>,
    max_docs: usize,
    max_bytes: usize,
) -> Result<Vec<Vec<Action>>, PortError> {
    let mut out: Vec<Vec<Action>> = Vec::new();
    let mut current = Vec::new();
    let mut size = BATCH_ENVELOPE;
    for (key, json) in docs {
        let alone = BATCH_ENVELOPE + json.len();
        if alone > max_bytes {
            return Err(PortError::Unavailable(format!(
                "document {key} is {} bytes, more than a batch may hold",
                json.len()
            )));
        }
        let grown = size + json.len() + usize::from(!current.is_empty());
        if !current.is_empty() && (current.len() >= max_docs || grown > max_bytes) {
            out.push(std::mem::take(&mut current));
            size = BATCH_ENVELOPE;
        }
        size += json.len() + usize::from(!current.is_empty());
        current.push((key, json));
    }
    if !current.is_empty() {
        out.push(current);
    }
    Ok(out)
}

/// `{"value":[doc,doc,…]}`.
fn batch_body(docs: &[Action]) -> Vec<u8> {
    let len = BATCH_ENVELOPE + docs.iter().map(|(_, j)| j.len() + 1).sum::<usize>();
    let mut body = Vec::with_capacity(len);
    body.extend_from_slice(br#"{"value":["#);
    for (i, (_, json)) in docs.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(json);
    }
    body.extend_from_slice(b"]}");
    body
}

#[async_trait]
impl SearchIndex for AiSearchIndex {
    async fn ensure_ready(&self) -> Result<(), PortError> {
        let body =
            Bytes::from(serde_json::to_vec(&self.schema()).map_err(|_| {
                PortError::Unavailable("the index schema does not serialise".into())
            })?);
        let answer = self
            .call(Method::PUT, self.url(&[]), Some(body), "create index")
            .await?;
        match answer.status.as_u16() {
            200 | 201 | 204 => {
                tracing::info!(index = %self.index, status = answer.status.as_u16(), "azure ai search index ready");
                Ok(())
            }
            400 => {
                tracing::warn!(index = %self.index, "azure ai search refused the index schema");
                Err(PortError::Unavailable(
                    "create index: the service refused the schema (400; an existing index with \
                     other fields or dimensions cannot be updated in place)"
                        .into(),
                ))
            }
            _ => {
                tracing::warn!(index = %self.index, status = answer.status.as_u16(), "azure ai search index not created");
                Err(failure("create index", answer.status))
            }
        }
    }

    async fn replace_contract(
        &self,
        scope: &TenantScope,
        contract: ContractId,
        chunks: Vec<ChunkDoc>,
    ) -> Result<(), PortError> {
        let org = scope.org().as_str();
        let mut keep = HashSet::with_capacity(chunks.len());
        let mut docs = Vec::with_capacity(chunks.len());
        for chunk in &chunks {
            let key = doc_key(org, &chunk.id);
            if chunk.id.contains('=') || !valid_key(&key) {
                return Err(PortError::Unavailable(format!(
                    "chunk id {:?} is not a valid document key",
                    chunk.id
                )));
            }
            if chunk.contract != contract {
                return Err(PortError::Unavailable(format!(
                    "chunk {} belongs to another contract",
                    chunk.id
                )));
            }
            if !keep.insert(key.clone()) {
                return Err(PortError::Unavailable(format!(
                    "chunk id {} appears twice",
                    chunk.id
                )));
            }
            let vector = match (self.vector_dimensions, chunk.vector.as_deref()) {
                (Some(dimensions), Some(v)) => {
                    if v.len() != dimensions || !v.iter().all(|x| x.is_finite()) {
                        return Err(PortError::Unavailable(format!(
                            "chunk {} has a vector of {} dimensions (the index takes {dimensions} finite values)",
                            chunk.id,
                            v.len()
                        )));
                    }
                    Some(v)
                }
                _ => None,
            };
            let doc = UploadDoc {
                action: "upload",
                id: &key,
                org_id: org,
                contract_id: contract.to_string(),
                ordinal: chunk.ordinal,
                start: chunk.start,
                end: chunk.end,
                page_start: chunk.page_start,
                page_end: chunk.page_end,
                content: &chunk.text,
                content_vector: vector,
            };
            let json = serde_json::to_vec(&doc).map_err(|_| {
                PortError::Unavailable(format!("chunk {} does not serialise", chunk.id))
            })?;
            docs.push((key, json));
        }
        let uploaded = docs.len();
        self.index_all(docs, "upload chunks").await?;
        let stale: Vec<String> = self
            .chunk_ids(scope, contract)
            .await?
            .into_iter()
            .filter(|id| !keep.contains(id))
            .collect();
        self.delete_ids(&stale).await?;
        tracing::info!(index = %self.index, uploaded, removed = stale.len(), "contract chunks replaced");
        Ok(())
    }

    async fn delete_contract(
        &self,
        scope: &TenantScope,
        contract: ContractId,
    ) -> Result<(), PortError> {
        let ids = self.chunk_ids(scope, contract).await?;
        self.delete_ids(&ids).await?;
        tracing::info!(index = %self.index, removed = ids.len(), "contract chunks deleted");
        Ok(())
    }

    async fn search(
        &self,
        scope: &TenantScope,
        query: &SearchQuery,
    ) -> Result<SearchPage, PortError> {
        let top = query.top;
        let mut body = json!({
            "search": literal_terms(&query.text),
            "searchFields": "content",
            "queryType": "simple",
            "searchMode": "any",
            "filter": org_filter(scope, query.contract),
            "select": HIT_FIELDS,
            "top": top + 1,
            "skip": query.skip,
        });
        let mut mode = SearchMode::Keyword;
        match (self.vector_dimensions, query.vector.as_deref()) {
            (Some(dimensions), Some(vector)) if vector.len() == dimensions => {
                let k = VECTOR_K.max(query.skip + top + 1);
                body["vectorQueries"] = json!([{"kind": "vector", "vector": vector,
                    "fields": VECTOR_FIELD, "k": k}]);
                body["vectorFilterMode"] = json!("preFilter");
                mode = SearchMode::Hybrid;
            }
            (dimensions, Some(vector)) => {
                tracing::warn!(
                    expected = dimensions,
                    got = vector.len(),
                    "query vector does not fit the index; searching by words only"
                );
            }
            (_, None) => {}
        }
        let answer = self.query(&body, "search").await?;
        let org = scope.org().as_str();
        let mut hits = Vec::with_capacity(answer.value.len());
        for row in answer.value {
            let row: HitRow = serde_json::from_value(row)
                .map_err(|_| PortError::Unavailable("search: malformed hit".into()))?;
            // The filter already confines the search to the org: a hit of another org is a bug (or a
            // corrupt index), refused rather than shown.
            let chunk_id = match row.id.strip_prefix(org).and_then(|r| r.strip_prefix('=')) {
                Some(chunk_id) if row.org_id == org => chunk_id.to_owned(),
                _ => {
                    tracing::error!(index = %self.index, "azure ai search returned a chunk of another org");
                    return Err(PortError::Unavailable(
                        "search: a hit is not of the scope's org".into(),
                    ));
                }
            };
            let contract = ContractId::parse(&row.contract_id).map_err(|_| {
                PortError::Unavailable(format!("search: hit {chunk_id} has a bad contract id"))
            })?;
            hits.push(SearchHit {
                chunk_id,
                contract,
                start: row.start,
                end: row.end,
                page_start: row.page_start,
                page_end: row.page_end,
                score: row.score,
                text: row.content,
            });
        }
        let more = hits.len() > top;
        hits.truncate(top);
        tracing::debug!(index = %self.index, hits = hits.len(), more, ?mode, "azure ai search answered");
        Ok(SearchPage { hits, more, mode })
    }

    async fn count(&self, scope: &TenantScope, contract: ContractId) -> Result<u64, PortError> {
        let body = json!({"search": "*", "queryType": "simple",
            "filter": org_filter(scope, Some(contract)), "count": true, "top": 0});
        let answer = self.query(&body, "count").await?;
        answer
            .count
            .ok_or_else(|| PortError::Unavailable("count: the answer has no count".into()))
    }
}

#[async_trait]
impl HealthCheck for AiSearchIndex {
    fn name(&self) -> &'static str {
        "ai-search"
    }

    async fn probe(&self) -> Result<(), String> {
        self.health().await.map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clment_common::domain::Region;

    #[test]
    fn filters_name_the_scope_org_and_double_quotes() {
        let scope = TenantScope::for_tests("acme", Region::Eu);
        assert_eq!(org_filter(&scope, None), "orgId eq 'acme'");
        let c = ContractId::new();
        assert_eq!(
            org_filter(&scope, Some(c)),
            format!("orgId eq 'acme' and contractId eq '{c}'")
        );
        assert_eq!(odata_string("o'brien"), "'o''brien'");
    }

    #[test]
    fn query_operators_are_escaped() {
        assert_eq!(
            literal_terms(" non-compete -fee \"x\" a*|b "),
            r#"non\-compete \-fee \"x\" a\*\|b"#
        );
    }

    fn doc(key: &str, size: usize) -> Action {
        (key.to_owned(), vec![b'x'; size])
    }

    #[test]
    fn batches_keep_both_limits() {
        let docs: Vec<_> = (0..25).map(|i| doc(&i.to_string(), 10)).collect();
        let split = batches(docs, 10, 10_000).unwrap();
        assert_eq!(split.iter().map(Vec::len).collect::<Vec<_>>(), [10, 10, 5]);
        // Bytes: each body is exactly measured.
        let docs: Vec<_> = (0..10).map(|i| doc(&i.to_string(), 100)).collect();
        let limit = BATCH_ENVELOPE + 3 * 100 + 2;
        let split = batches(docs, 1000, limit).unwrap();
        assert_eq!(split.iter().map(Vec::len).collect::<Vec<_>>(), [3, 3, 3, 1]);
        for b in &split {
            assert!(batch_body(b).len() <= limit);
        }
        assert_eq!(batch_body(&split[0]).len(), limit);
        assert!(batches(vec![doc("big", limit)], 1000, limit).is_err());
        assert!(batches(Vec::new(), 1000, limit).unwrap().is_empty());
    }

    #[test]
    fn retry_hints_and_backoff() {
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert("retry-after", HeaderValue::from_static("2"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
        h.insert("retry-after-ms", HeaderValue::from_static("150"));
        assert_eq!(retry_after(&h), Some(Duration::from_millis(150)));
        h.insert("retry-after-ms", HeaderValue::from_static("9999999"));
        assert_eq!(retry_after(&h), Some(MAX_RETRY_AFTER));
        let p = RetryPolicy::default();
        assert_eq!(p.backoff(1), Duration::from_millis(500));
        assert_eq!(p.backoff(3), Duration::from_secs(2));
        assert_eq!(p.backoff(30), p.max_delay);
        assert!(retryable_item(503) && retryable_item(409) && retryable_item(422));
        assert!(!retryable_item(400) && !retryable_item(404));
    }

    #[test]
    fn names_and_endpoints_are_checked() {
        let key = || SearchAuth::ApiKey(SecretString::from("k"));
        let cfg = |url: &str, index: &str| AiSearchConfig {
            index: index.to_owned(),
            ..AiSearchConfig::new(url.parse().unwrap(), key())
        };
        assert!(
            AiSearchIndex::new(
                cfg("https://svc.search.windows.net", "contract-chunks"),
                None
            )
            .is_ok()
        );
        assert!(AiSearchIndex::new(cfg("http://127.0.0.1:9", "contract-chunks"), None).is_ok());
        assert!(
            AiSearchIndex::new(
                cfg("http://svc.search.windows.net", "contract-chunks"),
                None
            )
            .is_err()
        );
        for bad in ["Chunks", "-a", "a-", "a--b", "a_b", "a"] {
            assert!(
                AiSearchIndex::new(cfg("https://svc.search.windows.net", bad), None).is_err(),
                "{bad}"
            );
        }
        let index = AiSearchIndex::new(
            cfg("https://svc.search.windows.net/", "contract-chunks"),
            None,
        )
        .unwrap();
        assert_eq!(
            index.url(&["docs", "search"]).as_str(),
            "https://svc.search.windows.net/indexes/contract-chunks/docs/search?api-version=2025-09-01"
        );
        assert!(valid_key("0190-ab_c="));
        assert_eq!(doc_key("acme_1", "c-0"), "acme_1=c-0");
        assert!(!valid_key("a/b") && !valid_key(""));
    }

    #[test]
    fn the_schema_has_vectors_only_with_dimensions() {
        let mut config = AiSearchConfig::new(
            "https://svc.search.windows.net".parse().unwrap(),
            SearchAuth::ApiKey(SecretString::from("k")),
        );
        let plain = AiSearchIndex::new(config.clone(), None).unwrap().schema();
        assert!(plain.get("vectorSearch").is_none());
        config.vector_dimensions = Some(1536);
        let schema = AiSearchIndex::new(config, None).unwrap().schema();
        let vector = schema["fields"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == VECTOR_FIELD)
            .unwrap();
        assert_eq!(vector["dimensions"], 1536);
        assert_eq!(vector["retrievable"], false);
        assert_eq!(
            schema["vectorSearch"]["algorithms"][0]["hnswParameters"]["metric"],
            "cosine"
        );
    }
}
