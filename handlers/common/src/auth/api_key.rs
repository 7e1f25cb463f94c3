//! API keys: an org's machine credentials.
//!
//! Format: `clm_` + a 16-hex-digit key id + `_` + 43 base64url characters (256 random bits), 64 characters in
//! all. The prefix makes leaked keys recognisable to secret scanners; the id finds the record without
//! scanning; only SHA-256 of the secret part is stored (the secret has full entropy, so a slow hash adds
//! nothing), and hashes are compared in constant time. **Never change the prefix.**

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;
use secrecy::{ExposeSecret as _, SecretString};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;
use time::OffsetDateTime;

use super::principal::Principal;
use crate::domain::Region;
use crate::ports::{ApiKeyRecord, ApiKeyStore, PortError};

/// Every key starts with this.
pub const PREFIX: &str = "clm_";
const ID_LEN: usize = 16;
const SECRET_LEN: usize = 43;
/// Length of a whole key.
pub const KEY_LEN: usize = PREFIX.len() + ID_LEN + 1 + SECRET_LEN;

/// A freshly generated key: shown to its creator once, never stored.
pub struct NewKey {
    /// The public key id.
    pub id: String,
    /// The whole key, for the creator.
    pub plain: SecretString,
    /// What is stored.
    pub hash: SecretHash,
}

/// SHA-256 of a key's secret part, hex-encoded for storage.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct SecretHash(String);

impl fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretHash(..)")
    }
}

impl SecretHash {
    fn of(secret: &str) -> Self {
        let digest = Sha256::digest(secret.as_bytes());
        Self(digest.iter().map(|b| format!("{b:02x}")).collect())
    }

    /// Constant-time equality.
    #[must_use]
    pub fn matches(&self, other: &Self) -> bool {
        self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
    }
}

/// Generates a key with 64 bits of id and 256 bits of secret from the OS random source.
#[must_use]
pub fn generate() -> NewKey {
    let mut rng = rand::rngs::OsRng;
    let mut id = [0u8; ID_LEN / 2];
    rng.fill_bytes(&mut id);
    let id: String = id.iter().map(|b| format!("{b:02x}")).collect();
    let mut secret = [0u8; 32];
    rng.fill_bytes(&mut secret);
    let secret = URL_SAFE_NO_PAD.encode(secret);
    let hash = SecretHash::of(&secret);
    NewKey {
        plain: SecretString::from(format!("{PREFIX}{id}_{secret}")),
        id,
        hash,
    }
}

/// A new secret for an existing key id (rotation): same id, fresh 256-bit secret.
#[must_use]
pub fn generate_secret_for(id: &str) -> NewKey {
    let mut secret = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut secret);
    let secret = URL_SAFE_NO_PAD.encode(secret);
    let hash = SecretHash::of(&secret);
    NewKey {
        plain: SecretString::from(format!("{PREFIX}{id}_{secret}")),
        id: id.to_owned(),
        hash,
    }
}

/// Splits a presented key into its id and the hash of its secret. `None` when it is not shaped like a key.
#[must_use]
pub fn parse(presented: &str) -> Option<(String, SecretHash)> {
    if presented.len() != KEY_LEN || !presented.is_ascii() {
        return None;
    }
    let rest = presented.strip_prefix(PREFIX)?;
    let (id, rest) = rest.split_at(ID_LEN);
    let secret = rest.strip_prefix('_')?;
    let hex = |c: u8| c.is_ascii_digit() || (b'a'..=b'f').contains(&c);
    let b64 = |c: u8| c.is_ascii_alphanumeric() || c == b'-' || c == b'_';
    if !id.bytes().all(hex) || secret.len() != SECRET_LEN || !secret.bytes().all(b64) {
        return None;
    }
    Some((id.to_owned(), SecretHash::of(secret)))
}

/// Whether a string looks like one of our keys (the prefix decides; used to pick the credential kind).
#[must_use]
pub fn looks_like_key(presented: &str) -> bool {
    presented.starts_with(PREFIX)
}

/// Why a key was refused. Logged; clients get a generic 401.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Not shaped like a key.
    #[error("not a well-formed API key")]
    Malformed,
    /// No key with this id.
    #[error("unknown API key id")]
    Unknown,
    /// The secret does not match any live secret of the key.
    #[error("API key secret does not match")]
    Mismatch,
    /// Revoked.
    #[error("API key is revoked")]
    Revoked,
    /// Past its expiry.
    #[error("API key has expired")]
    Expired,
    /// The store failed.
    #[error("API key store failed: {0}")]
    Store(String),
}

/// How often `last_used_at` is written at most, per key.
const TOUCH_EVERY: time::Duration = time::Duration::minutes(1);

/// Verifies a presented key and returns the principal it stands for. `region` is this deployment's:
/// keys live in their org's regional store, so a key found here belongs to an org homed here.
///
/// # Errors
/// [`KeyError`] with the precise reason.
pub async fn authenticate(
    store: &dyn ApiKeyStore,
    presented: &str,
    region: Region,
    now: OffsetDateTime,
) -> Result<Principal, KeyError> {
    let (id, hash) = parse(presented).ok_or(KeyError::Malformed)?;
    let key = store
        .find_for_authentication(&id)
        .await
        .map_err(|e: PortError| KeyError::Store(e.to_string()))?
        .ok_or(KeyError::Unknown)?;
    // Check every secret without short-cutting, so timing does not say which one matched.
    let matched = key.secrets.iter().fold(false, |acc, s| {
        acc | (s.hash.matches(&hash) && s.retires_at.is_none_or(|t| t > now))
    });
    if !matched {
        return Err(KeyError::Mismatch);
    }
    if key.revoked_at.is_some() {
        return Err(KeyError::Revoked);
    }
    if key.expires_at <= now {
        return Err(KeyError::Expired);
    }
    if key.last_used_at.is_none_or(|t| now - t >= TOUCH_EVERY)
        && let Err(e) = store.touch(&id, now).await
    {
        tracing::warn!(key_id = %id, error = %e, "could not record API key use");
    }
    Ok(Principal::for_api_key(
        key.created_by.clone(),
        key.org.clone(),
        key.creator_role,
        region,
        key.id.clone(),
        key.scopes.clone(),
    ))
}

/// The presented secret, for logs: only the key id ever appears.
#[must_use]
pub fn redact(presented: &SecretString) -> String {
    parse(presented.expose_secret()).map_or_else(
        || "clm_(malformed)".into(),
        |(id, _)| format!("{PREFIX}{id}_…"),
    )
}

/// A convenience for records: is the key usable at `now`?
#[must_use]
pub fn is_live(key: &ApiKeyRecord, now: OffsetDateTime) -> bool {
    key.revoked_at.is_none() && key.expires_at > now
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn generated_keys_parse_to_their_id_and_hash() {
        let k = generate();
        assert_eq!(k.plain.expose_secret().len(), KEY_LEN);
        let (id, hash) = parse(k.plain.expose_secret()).unwrap();
        assert_eq!(id, k.id);
        assert!(hash.matches(&k.hash));
        assert!(!generate().hash.matches(&k.hash));
        assert_eq!(format!("{:?}", k.hash), "SecretHash(..)");
    }

    #[test]
    fn near_misses_do_not_parse() {
        let k = generate();
        let s = k.plain.expose_secret().to_owned();
        assert!(parse(&s[1..]).is_none());
        assert!(parse(&format!("{s}x")).is_none());
        assert!(parse(&s.replacen("clm_", "clx_", 1)).is_none());
        assert!(parse(&s.replacen('_', "-", 2)).is_none());
    }

    proptest! {
        #[test]
        fn parse_never_panics(s in "\\PC{0,80}") {
            let _ = parse(&s);
        }

        #[test]
        fn generate_parse_hash_round_trip(_n in 0u8..16) {
            let k = generate();
            let (id, hash) = parse(k.plain.expose_secret()).unwrap();
            prop_assert_eq!(id, k.id);
            prop_assert!(hash.matches(&k.hash));
        }
    }
}
