//! The identity server's signing keys: where they come from ([`KeySource`]) and how long we trust a
//! copy ([`JwksCache`]).
//!
//! Policy:
//! - a fetched key set is fresh for `ttl`;
//! - a token with an unknown `kid` triggers a refetch (a key rotation), but at most one forced
//!   refetch per `min_refetch_interval`, so a flood of random kids cannot hammer the identity server;
//! - concurrent refreshes are coalesced into one fetch;
//! - when a refresh fails, the last good set keeps serving for `max_stale` past its TTL, then
//!   verification fails closed.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey};
use tokio::time::Instant;

/// A JWKS could not be obtained.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct KeySourceError(pub String);

/// Where signing keys come from.
#[async_trait]
pub trait KeySource: Send + Sync {
    /// Fetches the current key set.
    async fn fetch(&self) -> Result<JwkSet, KeySourceError>;
}

/// Largest JWKS document we read.
const MAX_JWKS_BYTES: usize = 256 * 1024;

/// Keys fetched over HTTPS from the configured JWKS URL (never from token headers).
pub struct HttpKeySource {
    client: reqwest::Client,
    url: String,
}

impl HttpKeySource {
    /// A source for `url` with a per-fetch `timeout`. Redirects are not followed.
    ///
    /// # Errors
    /// When the HTTP client cannot be built.
    pub fn new(url: &str, timeout: Duration) -> Result<Self, KeySourceError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| KeySourceError(format!("cannot build HTTP client: {e}")))?;
        Ok(Self {
            client,
            url: url.to_owned(),
        })
    }
}

#[async_trait]
impl KeySource for HttpKeySource {
    async fn fetch(&self) -> Result<JwkSet, KeySourceError> {
        let mut resp = self
            .client
            .get(&self.url)
            .header("accept", "application/json")
            .send()
            .await
            .map_err(|e| KeySourceError(format!("JWKS fetch failed: {e}")))?;
        if !resp.status().is_success() {
            return Err(KeySourceError(format!(
                "JWKS fetch answered {}",
                resp.status()
            )));
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| KeySourceError(format!("JWKS read failed: {e}")))?
        {
            if body.len() + chunk.len() > MAX_JWKS_BYTES {
                return Err(KeySourceError("JWKS document is too large".into()));
            }
            body.extend_from_slice(&chunk);
        }
        serde_json::from_slice(&body).map_err(|e| KeySourceError(format!("JWKS is not valid: {e}")))
    }
}

/// A fixed key set (the local development issuer, tests).
pub struct StaticKeySource(pub JwkSet);

#[async_trait]
impl KeySource for StaticKeySource {
    async fn fetch(&self) -> Result<JwkSet, KeySourceError> {
        Ok(self.0.clone())
    }
}

/// A usable verification key.
pub struct VerificationKey {
    /// The key.
    pub key: DecodingKey,
    /// The algorithm the JWK pins, if any.
    pub alg: Option<Algorithm>,
}

struct Snapshot {
    keys: HashMap<String, Arc<VerificationKey>>,
    fetched_at: Instant,
}

/// Cache timings.
#[derive(Clone, Copy, Debug)]
pub struct CachePolicy {
    /// How long a fetched set is fresh.
    pub ttl: Duration,
    /// Least time between two refetches forced by unknown kids.
    pub min_refetch_interval: Duration,
    /// How long past its TTL a set keeps serving while refreshes fail.
    pub max_stale: Duration,
}

impl Default for CachePolicy {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(600),
            min_refetch_interval: Duration::from_secs(30),
            max_stale: Duration::from_secs(3600),
        }
    }
}

/// Why no key was found.
#[derive(Debug, thiserror::Error)]
pub enum KeyLookupError {
    /// No key with this kid, even after a refetch (or a refetch was not allowed yet).
    #[error("no signing key with this kid")]
    UnknownKid,
    /// No usable key set: fetching failed and nothing fresh enough is cached.
    #[error("signing keys unavailable: {0}")]
    Unavailable(String),
}

/// A TTL cache of the identity server's keys, keyed by `kid`.
pub struct JwksCache {
    source: Arc<dyn KeySource>,
    policy: CachePolicy,
    snapshot: RwLock<Option<Arc<Snapshot>>>,
    refresh: tokio::sync::Mutex<RefreshState>,
}

/// Book-keeping of refetches, guarded by the refresh lock.
#[derive(Default)]
struct RefreshState {
    /// When an unknown kid last forced a refetch.
    last_forced: Option<Instant>,
    /// When the last fetch failed, and why. Inside `min_refetch_interval` no new fetch is tried.
    last_failure: Option<(Instant, String)>,
}

impl RefreshState {
    fn recent_failure(&self, interval: Duration) -> Option<&str> {
        self.last_failure
            .as_ref()
            .filter(|(at, _)| at.elapsed() < interval)
            .map(|(_, why)| why.as_str())
    }
}

impl JwksCache {
    /// A cache over `source`.
    #[must_use]
    pub fn new(source: Arc<dyn KeySource>, policy: CachePolicy) -> Self {
        Self {
            source,
            policy,
            snapshot: RwLock::new(None),
            refresh: tokio::sync::Mutex::new(RefreshState::default()),
        }
    }

    fn current(&self) -> Option<Arc<Snapshot>> {
        self.snapshot
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The key for `kid`, refreshing the set when it is stale or the kid is new.
    ///
    /// # Errors
    /// [`KeyLookupError`] when no key can be found.
    pub async fn key(&self, kid: &str) -> Result<Arc<VerificationKey>, KeyLookupError> {
        let now = Instant::now();
        let snap = self.current();
        if let Some(s) = &snap
            && now.duration_since(s.fetched_at) < self.policy.ttl
        {
            if let Some(k) = s.keys.get(kid) {
                return Ok(k.clone());
            }
            return self.refresh_for_unknown_kid(kid, s.fetched_at).await;
        }
        let lookup = |s: &Snapshot| s.keys.get(kid).cloned().ok_or(KeyLookupError::UnknownKid);
        let stale = snap
            .filter(|s| now.duration_since(s.fetched_at) < self.policy.ttl + self.policy.max_stale);
        match stale {
            // Expired but inside the stale window: refresh unless someone already is, and never
            // queue behind a slow identity server; serve the stale copy meanwhile.
            Some(stale) => {
                let Ok(mut state) = self.refresh.try_lock() else {
                    return lookup(&stale);
                };
                match self
                    .refresh_locked(&mut state, Some(stale.fetched_at))
                    .await
                {
                    Ok(s) => lookup(&s),
                    Err(e) => {
                        tracing::warn!(error = %e, "JWKS refresh failed; serving the cached key set");
                        lookup(&stale)
                    }
                }
            }
            // Nothing usable: wait for one coalesced fetch.
            None => {
                let mut state = self.refresh.lock().await;
                match self.refresh_locked(&mut state, None).await {
                    Ok(s) => lookup(&s),
                    Err(e) => Err(KeyLookupError::Unavailable(e.0)),
                }
            }
        }
    }

    async fn refresh_for_unknown_kid(
        &self,
        kid: &str,
        seen: Instant,
    ) -> Result<Arc<VerificationKey>, KeyLookupError> {
        let mut state = self.refresh.lock().await;
        // Someone refreshed while we waited: look again before fetching.
        if let Some(s) = self.current()
            && s.fetched_at > seen
        {
            return s.keys.get(kid).cloned().ok_or(KeyLookupError::UnknownKid);
        }
        let interval = self.policy.min_refetch_interval;
        if state.last_forced.is_some_and(|t| t.elapsed() < interval)
            || state.recent_failure(interval).is_some()
        {
            return Err(KeyLookupError::UnknownKid);
        }
        state.last_forced = Some(Instant::now());
        match self.fetch_recording(&mut state).await {
            Ok(s) => s.keys.get(kid).cloned().ok_or(KeyLookupError::UnknownKid),
            Err(e) => {
                tracing::warn!(error = %e, "JWKS refetch for an unknown kid failed");
                Err(KeyLookupError::UnknownKid)
            }
        }
    }

    /// Refreshes unless another task just did, or a fetch failed less than `min_refetch_interval` ago.
    async fn refresh_locked(
        &self,
        state: &mut RefreshState,
        seen: Option<Instant>,
    ) -> Result<Arc<Snapshot>, KeySourceError> {
        if let Some(s) = self.current()
            && Some(s.fetched_at) != seen
            && s.fetched_at.elapsed() < self.policy.ttl
        {
            return Ok(s);
        }
        if let Some(why) = state.recent_failure(self.policy.min_refetch_interval) {
            return Err(KeySourceError(why.to_owned()));
        }
        self.fetch_recording(state).await
    }

    async fn fetch_recording(
        &self,
        state: &mut RefreshState,
    ) -> Result<Arc<Snapshot>, KeySourceError> {
        match self.fetch_and_store().await {
            Ok(s) => {
                state.last_failure = None;
                Ok(s)
            }
            Err(e) => {
                state.last_failure = Some((Instant::now(), e.0.clone()));
                Err(e)
            }
        }
    }

    async fn fetch_and_store(&self) -> Result<Arc<Snapshot>, KeySourceError> {
        let set = self.source.fetch().await?;
        let snap = Arc::new(Snapshot {
            keys: usable_keys(&set),
            fetched_at: Instant::now(),
        });
        tracing::info!(keys = snap.keys.len(), "JWKS refreshed");
        *self
            .snapshot
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(snap.clone());
        Ok(snap)
    }
}

/// Signature keys with a kid that jsonwebtoken can use; encryption keys and keys without a kid are
/// skipped (we require a kid on every token).
fn usable_keys(set: &JwkSet) -> HashMap<String, Arc<VerificationKey>> {
    set.keys
        .iter()
        .filter(|k| {
            !matches!(
                k.common.public_key_use,
                Some(jsonwebtoken::jwk::PublicKeyUse::Encryption)
            )
        })
        .filter_map(|k: &Jwk| {
            let kid = k.common.key_id.clone()?;
            let key = DecodingKey::from_jwk(k).ok()?;
            // A key whose `alg` is not a signature algorithm (RSA-OAEP, ...) is not for us.
            let alg = match k.common.key_algorithm {
                None => None,
                Some(a) => Some(a.to_string().parse::<Algorithm>().ok()?),
            };
            Some((kid, Arc::new(VerificationKey { key, alg })))
        })
        .collect()
}
