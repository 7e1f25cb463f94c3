//! Signed digests, CloudTrail-style: every so often the signer signs each org's chain head with an
//! Ed25519 key. A digest names the head (sequence number and hash), the time, and the previous
//! digest's signature, so digests form a chain of their own and an exported trail can be checked
//! offline with nothing but the public key.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier as _, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use super::canonical_json;
use crate::domain::OrgId;
use crate::ports::StoredEvent;

const DOMAIN: &[u8] = b"clment.audit.digest.v1\0";

/// A signed statement "org X's trail had head (seq, hash) at time T".
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Digest {
    /// The org.
    #[schema(value_type = String)]
    pub org_id: OrgId,
    /// Per-org digest number, from 1, gapless.
    pub number: u64,
    /// The head's sequence number.
    pub head_seq: u64,
    /// The head's hash.
    pub head_hash: String,
    /// When it was signed.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub at: OffsetDateTime,
    /// The previous digest's signature (none for digest 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prev_signature: Option<String>,
    /// Which key signed it ([`DigestSigner::key_id`]).
    pub key_id: String,
    /// Ed25519 signature over the canonical encoding of the fields above (base64url).
    pub signature: String,
}

impl Digest {
    fn signed_bytes(&self) -> Vec<u8> {
        let mut value = serde_json::to_value(self).unwrap_or_default();
        if let Some(map) = value.as_object_mut() {
            map.remove("signature");
        }
        let mut out = DOMAIN.to_vec();
        out.extend(canonical_json(&value));
        out
    }
}

/// The signing key was unusable.
#[derive(Debug, thiserror::Error)]
pub enum DigestKeyError {
    /// Not base64url of 32 bytes.
    #[error("the audit digest key must be 32 bytes in base64url (no padding)")]
    Malformed,
    /// A digest did not verify.
    #[error("the digest's signature does not verify")]
    BadSignature,
    /// No key with the digest's key id is known.
    #[error("the digest was signed by an unknown key {0}")]
    UnknownKey(String),
}

fn key_id(key: &VerifyingKey) -> String {
    hex::encode(&Sha256::digest(key.as_bytes())[..8])
}

/// Signs digests. The private key is zeroized when dropped and never printed.
pub struct DigestSigner {
    key: SigningKey,
}

impl std::fmt::Debug for DigestSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DigestSigner({})", self.key_id())
    }
}

impl DigestSigner {
    /// From a base64url-encoded 32-byte Ed25519 seed.
    ///
    /// # Errors
    /// When it is not 32 bytes of base64url.
    pub fn from_base64(seed: &str) -> Result<Self, DigestKeyError> {
        let bytes = Zeroizing::new(
            B64.decode(seed.trim().trim_end_matches('='))
                .map_err(|_| DigestKeyError::Malformed)?,
        );
        let seed: &[u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| DigestKeyError::Malformed)?;
        Ok(Self {
            key: SigningKey::from_bytes(seed),
        })
    }

    /// From a raw 32-byte seed.
    #[must_use]
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        Self {
            key: SigningKey::from_bytes(seed),
        }
    }

    /// A new random key, returned with its seed in base64url (for the local key file).
    #[must_use]
    pub fn generate() -> (Self, Zeroizing<String>) {
        let mut seed = Zeroizing::new([0u8; 32]);
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, seed.as_mut());
        let encoded = Zeroizing::new(B64.encode(seed.as_slice()));
        (
            Self {
                key: SigningKey::from_bytes(&seed),
            },
            encoded,
        )
    }

    /// The public key's id: the first 8 bytes of its SHA-256, hex.
    #[must_use]
    pub fn key_id(&self) -> String {
        key_id(&self.key.verifying_key())
    }

    /// The public key, base64url (for offline verification).
    #[must_use]
    pub fn public_key(&self) -> String {
        B64.encode(self.key.verifying_key().as_bytes())
    }

    /// A verifier that knows this key.
    #[must_use]
    pub fn verifier(&self) -> DigestVerifier {
        DigestVerifier {
            keys: vec![self.key.verifying_key()],
        }
    }

    /// Signs `head` as digest `number`, chained to `prev`.
    #[must_use]
    pub fn sign(&self, head: &StoredEvent, prev: Option<&Digest>, at: OffsetDateTime) -> Digest {
        let mut d = Digest {
            org_id: head.org_id.clone(),
            number: prev.map_or(1, |p| p.number + 1),
            head_seq: head.seq,
            head_hash: head.hash.clone(),
            at: at.to_offset(time::UtcOffset::UTC),
            prev_signature: prev.map(|p| p.signature.clone()),
            key_id: self.key_id(),
            signature: String::new(),
        };
        d.signature = B64.encode(self.key.sign(&d.signed_bytes()).to_bytes());
        d
    }
}

/// Checks digest signatures against a set of public keys (the current one and retired ones).
#[derive(Clone, Debug, Default)]
pub struct DigestVerifier {
    keys: Vec<VerifyingKey>,
}

impl DigestVerifier {
    /// From base64url public keys.
    ///
    /// # Errors
    /// When a key is not a valid Ed25519 public key.
    pub fn from_public_keys<'a>(
        keys: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self, DigestKeyError> {
        let mut out = Vec::new();
        for k in keys {
            let bytes = B64
                .decode(k.trim().trim_end_matches('='))
                .map_err(|_| DigestKeyError::Malformed)?;
            let arr: [u8; 32] = bytes
                .as_slice()
                .try_into()
                .map_err(|_| DigestKeyError::Malformed)?;
            out.push(VerifyingKey::from_bytes(&arr).map_err(|_| DigestKeyError::Malformed)?);
        }
        Ok(Self { keys: out })
    }

    /// `(key id, base64url public key)` of every key, for publishing.
    #[must_use]
    pub fn public_keys(&self) -> Vec<(String, String)> {
        self.keys
            .iter()
            .map(|k| (key_id(k), B64.encode(k.as_bytes())))
            .collect()
    }

    /// Adds the keys of `other`.
    #[must_use]
    pub fn with(mut self, other: &Self) -> Self {
        self.keys.extend(other.keys.iter().copied());
        self
    }

    /// Verifies one digest's signature.
    ///
    /// # Errors
    /// Unknown key or bad signature.
    pub fn verify(&self, d: &Digest) -> Result<(), DigestKeyError> {
        let key = self
            .keys
            .iter()
            .find(|k| key_id(k) == d.key_id)
            .ok_or_else(|| DigestKeyError::UnknownKey(d.key_id.clone()))?;
        let sig = B64
            .decode(&d.signature)
            .ok()
            .and_then(|b| Signature::from_slice(&b).ok())
            .ok_or(DigestKeyError::BadSignature)?;
        key.verify(&d.signed_bytes(), &sig)
            .map_err(|_| DigestKeyError::BadSignature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::seal;
    use crate::ports::{Actor, AuditEvent, Client, Outcome};

    fn head() -> StoredEvent {
        let e = AuditEvent {
            action: "security.updated".into(),
            actor: Actor::system("t"),
            resource_type: "org".into(),
            resource_id: "acme".into(),
            contract_id: None,
            outcome: Outcome::Success,
            reason: None,
            details: serde_json::json!({}),
            request_id: None,
            client: Client::default(),
        };
        seal(
            &OrgId::parse("acme").unwrap(),
            None,
            e,
            OffsetDateTime::now_utc(),
        )
    }

    #[test]
    fn signed_digests_verify_and_tampering_is_caught() {
        let (signer, seed) = DigestSigner::generate();
        let again = DigestSigner::from_base64(&seed).unwrap();
        assert_eq!(again.key_id(), signer.key_id());
        let d1 = signer.sign(&head(), None, OffsetDateTime::now_utc());
        let d2 = signer.sign(&head(), Some(&d1), OffsetDateTime::now_utc());
        assert_eq!(d2.number, 2);
        assert_eq!(d2.prev_signature.as_ref(), Some(&d1.signature));
        let v = DigestVerifier::from_public_keys([signer.public_key().as_str()]).unwrap();
        v.verify(&d1).unwrap();
        v.verify(&d2).unwrap();
        let mut bad = d2.clone();
        bad.head_seq += 1;
        assert!(matches!(v.verify(&bad), Err(DigestKeyError::BadSignature)));
        let (other, _) = DigestSigner::generate();
        assert!(matches!(
            other.verifier().verify(&d1),
            Err(DigestKeyError::UnknownKey(_))
        ));
        assert!(!format!("{signer:?}").contains(seed.as_str()));
    }

    #[test]
    fn malformed_keys_are_refused() {
        assert!(DigestSigner::from_base64("short").is_err());
        assert!(DigestSigner::from_base64(&B64.encode([1u8; 31])).is_err());
        assert!(DigestVerifier::from_public_keys(["!!"]).is_err());
    }
}
