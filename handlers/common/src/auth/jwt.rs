//! Access-token validation (RFC 9068 JWT profile) against the identity server's JWKS.
//!
//! Checks, in order: size, header (algorithm allowlist, `typ`, `kid`), key lookup by `kid` from
//! the configured JWKS only (`jku`, `x5u`, `jwk` and `x5c` headers are ignored), signature, then
//! `iss`, `aud`, `exp`, `nbf` with bounded skew, then the Clment claims. Every refusal has a
//! precise [`TokenError`] for the log; callers answer the client with a generic 401.

use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;

use super::jwks::{JwksCache, KeyLookupError};
use super::principal::{Credential, Principal, SignIn};
use crate::access::Role;
use crate::domain::{OrgId, Region, UserId};

/// What a token must satisfy.
#[derive(Clone, Debug)]
pub struct TokenPolicy {
    /// Exact expected `iss`.
    pub issuer: String,
    /// Audience that `aud` must contain.
    pub audience: String,
    /// Allowed signature algorithms; only asymmetric ones are accepted.
    pub algorithms: Vec<Algorithm>,
    /// Required `typ` header (case-insensitive, `application/` prefix optional); `None` skips the check.
    pub required_typ: Option<String>,
    /// Clock skew allowed on `exp` and `nbf` (at most 60 s).
    pub leeway: Duration,
    /// Longest accepted token.
    pub max_token_bytes: usize,
}

impl TokenPolicy {
    /// The default policy for an issuer and audience: RS256, PS256, ES256; `typ` `at+jwt`; 60 s skew; 8 KiB.
    #[must_use]
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            audience: audience.into(),
            algorithms: vec![Algorithm::RS256, Algorithm::PS256, Algorithm::ES256],
            required_typ: Some("at+jwt".into()),
            leeway: Duration::from_secs(60),
            max_token_bytes: 8 * 1024,
        }
    }
}

/// Whether an algorithm may ever be allowed: asymmetric signatures only (never `none`, never HMAC).
#[must_use]
pub fn is_asymmetric(alg: Algorithm) -> bool {
    !matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512)
}

/// Why a token was refused. Logged; never shown to the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Longer than the policy allows.
    #[error("token is too large")]
    TooLarge,
    /// Not a JWS compact serialisation with a readable header.
    #[error("token is malformed")]
    Malformed,
    /// `alg` is not in the allowlist.
    #[error("algorithm {0} is not allowed")]
    AlgorithmNotAllowed(String),
    /// `typ` is missing or not the required one.
    #[error("token type is not an access token")]
    WrongType,
    /// No `kid` header.
    #[error("token has no kid")]
    MissingKid,
    /// No key with this `kid` in the JWKS.
    #[error("no signing key with this kid")]
    UnknownKid,
    /// The key does not fit the token's algorithm.
    #[error("key does not match the algorithm")]
    KeyMismatch,
    /// The signature does not verify.
    #[error("signature does not verify")]
    BadSignature,
    /// `exp` is past.
    #[error("token has expired")]
    Expired,
    /// `nbf` is in the future.
    #[error("token is not yet valid")]
    NotYetValid,
    /// `iss` differs.
    #[error("wrong issuer")]
    WrongIssuer,
    /// `aud` does not contain ours.
    #[error("wrong audience")]
    WrongAudience,
    /// A required claim is absent.
    #[error("claim {0} is missing")]
    MissingClaim(String),
    /// A claim has an unusable value.
    #[error("claim {0} is invalid")]
    InvalidClaim(&'static str),
    /// The keys could not be fetched (answered 503, not 401: the token may be fine).
    #[error("signing keys unavailable: {0}")]
    KeysUnavailable(String),
}

/// The Clment claims, read loosely so that a missing or mistyped claim gets a precise reason
/// after jsonwebtoken has checked the signature and the registered claims.
#[derive(Deserialize)]
struct AccessClaims {
    /// Checked by jsonwebtoken (required); kept to bound the verified-token cache.
    exp: Option<u64>,
    sub: Option<serde_json::Value>,
    org_id: Option<serde_json::Value>,
    role: Option<serde_json::Value>,
    org_region: Option<serde_json::Value>,
    email: Option<serde_json::Value>,
    amr: Option<serde_json::Value>,
}

fn required_str<'a>(
    v: Option<&'a serde_json::Value>,
    name: &'static str,
) -> Result<&'a str, TokenError> {
    match v {
        None | Some(serde_json::Value::Null) => Err(TokenError::MissingClaim(name.into())),
        Some(serde_json::Value::String(s)) => Ok(s),
        Some(_) => Err(TokenError::InvalidClaim(name)),
    }
}

/// Verifies access tokens.
pub struct TokenValidator {
    policy: TokenPolicy,
    keys: Arc<JwksCache>,
    verified: VerifiedCache,
}

/// Recently verified tokens, keyed by SHA-256 of the whole token, so a session's repeated calls skip
/// the signature check. An entry lives until the token's `exp` (no leeway) and at most
/// [`VerifiedCache::MAX_AGE`]; the map holds at most [`VerifiedCache::CAPACITY`] entries.
/// Only successes are cached: a refused token is checked in full every time.
struct VerifiedCache {
    entries: dashmap::DashMap<[u8; 32], (Principal, std::time::Instant)>,
}

impl VerifiedCache {
    const CAPACITY: usize = 50_000;
    const MAX_AGE: Duration = Duration::from_secs(300);

    fn key(token: &str) -> [u8; 32] {
        use sha2::Digest as _;
        sha2::Sha256::digest(token.as_bytes()).into()
    }

    fn get(&self, key: &[u8; 32]) -> Option<Principal> {
        let hit = self.entries.get(key)?;
        if hit.1 > std::time::Instant::now() {
            return Some(hit.0.clone());
        }
        drop(hit);
        self.entries.remove(key);
        None
    }

    fn put(&self, key: [u8; 32], principal: &Principal, exp: u64) {
        let now_unix = jsonwebtoken::get_current_timestamp();
        let left = Duration::from_secs(exp.saturating_sub(now_unix)).min(Self::MAX_AGE);
        if left.is_zero() {
            return;
        }
        if self.entries.len() >= Self::CAPACITY {
            let now = std::time::Instant::now();
            self.entries.retain(|_, v| v.1 > now);
            if self.entries.len() >= Self::CAPACITY {
                self.entries.clear();
            }
        }
        self.entries
            .insert(key, (principal.clone(), std::time::Instant::now() + left));
    }
}

impl TokenValidator {
    /// A validator for `policy` with keys from `keys`. Symmetric algorithms are dropped from the allowlist.
    #[must_use]
    pub fn new(mut policy: TokenPolicy, keys: Arc<JwksCache>) -> Self {
        policy.algorithms.retain(|a| is_asymmetric(*a));
        policy.leeway = policy.leeway.min(Duration::from_secs(60));
        Self {
            policy,
            keys,
            verified: VerifiedCache {
                entries: dashmap::DashMap::new(),
            },
        }
    }

    /// Verifies `token` and returns the principal it names.
    ///
    /// # Errors
    /// [`TokenError`] saying precisely why the token was refused.
    pub async fn verify(&self, token: &str) -> Result<Principal, TokenError> {
        if token.len() > self.policy.max_token_bytes {
            return Err(TokenError::TooLarge);
        }
        let cache_key = VerifiedCache::key(token);
        if let Some(p) = self.verified.get(&cache_key) {
            return Ok(p);
        }
        let claims: AccessClaims = self.decode(token).await?;
        let exp = claims.exp.unwrap_or(0);
        let principal = principal_from(claims)?;
        self.verified.put(cache_key, &principal, exp);
        Ok(principal)
    }

    /// Verifies an operator's token: this validator's policy (build it with the operator audience),
    /// plus `role` naming `operator` and a second factor in `amr`. Never cached: operator calls
    /// are rare and each is checked in full.
    ///
    /// # Errors
    /// [`TokenError`] saying precisely why the token was refused.
    pub async fn verify_operator(&self, token: &str) -> Result<Operator, TokenError> {
        if token.len() > self.policy.max_token_bytes {
            return Err(TokenError::TooLarge);
        }
        let c: OperatorClaims = self.decode(token).await?;
        // An operator is nobody's org member: a token that also names an org is refused, so one
        // token can never serve as both a tenant and an operator credential.
        if c.org_id.as_ref().is_some_and(|v| !v.is_null()) {
            return Err(TokenError::InvalidClaim("org_id"));
        }
        let subject = UserId::parse(required_str(c.sub.as_ref(), "sub")?)
            .map_err(|_| TokenError::InvalidClaim("sub"))?;
        let roles: Vec<String> = match c.role {
            None | Some(serde_json::Value::Null) => {
                return Err(TokenError::MissingClaim("role".into()));
            }
            Some(serde_json::Value::String(r)) => vec![r],
            Some(serde_json::Value::Array(rs)) => rs
                .into_iter()
                .filter_map(|r| r.as_str().map(str::to_owned))
                .collect(),
            Some(_) => return Err(TokenError::InvalidClaim("role")),
        };
        if !roles.iter().any(|r| r == OPERATOR_ROLE) {
            return Err(TokenError::InvalidClaim("role"));
        }
        let amr: Vec<String> = match c.amr {
            Some(serde_json::Value::Array(v)) => v
                .into_iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect(),
            Some(serde_json::Value::String(s)) => vec![s],
            _ => Vec::new(),
        };
        if !SignIn::from_amr(&amr).second_factor {
            return Err(TokenError::InvalidClaim("amr"));
        }
        let email = match c.email {
            Some(serde_json::Value::String(e)) if e.len() <= 320 => Some(e),
            _ => None,
        };
        Ok(Operator { subject, email })
    }

    /// Every check but the Clment claims: header, key, signature, `iss`, `aud`, `exp`, `nbf`.
    async fn decode<T: serde::de::DeserializeOwned>(&self, token: &str) -> Result<T, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
        if !self.policy.algorithms.contains(&header.alg) {
            return Err(TokenError::AlgorithmNotAllowed(format!("{:?}", header.alg)));
        }
        if let Some(required) = &self.policy.required_typ {
            let typ = header
                .typ
                .as_deref()
                .unwrap_or_default()
                .to_ascii_lowercase();
            let typ = typ.strip_prefix("application/").unwrap_or(&typ);
            if typ != required.to_ascii_lowercase() {
                return Err(TokenError::WrongType);
            }
        }
        // We understand no critical header extensions, so any `crit` makes the token unusable (RFC 7515 4.1.11).
        if header.crit.is_some() {
            return Err(TokenError::Malformed);
        }
        let kid = header
            .kid
            .as_deref()
            .filter(|k| !k.is_empty())
            .ok_or(TokenError::MissingKid)?;
        let key = self.keys.key(kid).await.map_err(|e| match e {
            KeyLookupError::UnknownKid => TokenError::UnknownKid,
            KeyLookupError::Unavailable(why) => TokenError::KeysUnavailable(why),
        })?;
        if key.alg.is_some_and(|a| a != header.alg) || key.key.family() != header.alg.family() {
            return Err(TokenError::KeyMismatch);
        }

        let mut v = Validation::new(header.alg);
        v.algorithms = vec![header.alg];
        v.set_issuer(&[&self.policy.issuer]);
        v.set_audience(&[&self.policy.audience]);
        v.leeway = self.policy.leeway.as_secs();
        v.validate_exp = true;
        v.validate_nbf = true;
        v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        jsonwebtoken::decode::<T>(token, &key.key, &v)
            .map(|data| data.claims)
            .map_err(|e| match e.kind() {
                ErrorKind::InvalidSignature => TokenError::BadSignature,
                ErrorKind::ExpiredSignature => TokenError::Expired,
                ErrorKind::ImmatureSignature => TokenError::NotYetValid,
                ErrorKind::InvalidIssuer => TokenError::WrongIssuer,
                ErrorKind::InvalidAudience => TokenError::WrongAudience,
                ErrorKind::MissingRequiredClaim(c) => TokenError::MissingClaim(c.clone()),
                ErrorKind::InvalidAlgorithm
                | ErrorKind::InvalidAlgorithmName
                | ErrorKind::InvalidKeyFormat => TokenError::KeyMismatch,
                _ => TokenError::Malformed,
            })
    }
}

/// The `role` value an operator token must carry.
pub const OPERATOR_ROLE: &str = "operator";

/// An operator's claims, read loosely (see [`AccessClaims`]).
#[derive(Deserialize)]
struct OperatorClaims {
    sub: Option<serde_json::Value>,
    org_id: Option<serde_json::Value>,
    role: Option<serde_json::Value>,
    email: Option<serde_json::Value>,
    amr: Option<serde_json::Value>,
}

/// A verified operator: a person running the region, not a member of any org. Operator tokens have
/// their own audience, so they are never accepted on tenant routes, nor tenant tokens on operator
/// routes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operator {
    /// `sub`.
    pub subject: UserId,
    /// `email`, when present.
    pub email: Option<String>,
}

fn principal_from(c: AccessClaims) -> Result<Principal, TokenError> {
    use serde_json::Value;
    let user = UserId::parse(required_str(c.sub.as_ref(), "sub")?)
        .map_err(|_| TokenError::InvalidClaim("sub"))?;
    let org = OrgId::parse(required_str(c.org_id.as_ref(), "org_id")?)
        .map_err(|_| TokenError::InvalidClaim("org_id"))?;
    // `role` is a string or an array of strings; the highest known role wins, unknown names grant nothing.
    let roles: Vec<&str> = match &c.role {
        None | Some(Value::Null) => return Err(TokenError::MissingClaim("role".into())),
        Some(Value::String(r)) => vec![r.as_str()],
        Some(Value::Array(rs)) => rs
            .iter()
            .map(|r| r.as_str().ok_or(TokenError::InvalidClaim("role")))
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(TokenError::InvalidClaim("role")),
    };
    let role = roles
        .iter()
        .filter_map(|r| r.parse::<Role>().ok())
        .max()
        .ok_or(TokenError::InvalidClaim("role"))?;
    let region = required_str(c.org_region.as_ref(), "org_region")?
        .parse::<Region>()
        .map_err(|_| TokenError::InvalidClaim("org_region"))?;
    let email = match c.email {
        Some(Value::String(e)) if e.len() <= 320 => Some(e),
        _ => None,
    };
    let amr: Vec<String> = match c.amr {
        Some(Value::Array(v)) => v
            .into_iter()
            .filter_map(|x| x.as_str().map(str::to_owned))
            .collect(),
        Some(Value::String(s)) => vec![s],
        _ => Vec::new(),
    };
    Ok(Principal::new(
        user,
        org,
        role,
        region,
        SignIn::from_amr(&amr),
        email,
        Credential::AccessToken,
    ))
}
