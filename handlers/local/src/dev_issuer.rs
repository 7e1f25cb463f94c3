//! The development issuer: signs access tokens that the local server accepts, so the bundle can be
//! tried without an identity server. Its ES256 key lives in `<data dir>/dev-issuer/signing-key.pem`
//! (0600). The handler refuses to enable it with the Azure backend or when a real issuer is configured.

use std::fmt;
use std::path::PathBuf;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use p256::SecretKey;
use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use serde::Serialize;

use clment_common::access::Role;
use clment_common::domain::{OrgId, Region, UserId};

use crate::data_dir::{DataDir, create_secret_file};

/// The development issuer's `iss`. Not a URL: it can never be mistaken for a real identity server.
pub const DEV_ISSUER: &str = "urn:clment:dev-issuer";

/// The development issuer could not load or create its key, or sign.
#[derive(Debug, thiserror::Error)]
pub enum DevIssuerError {
    /// File system trouble.
    #[error("dev issuer key {path}: {source}")]
    Io {
        /// The key file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The key file does not hold a P-256 PKCS#8 key.
    #[error("dev issuer key {0} is not a P-256 PKCS#8 PEM key")]
    BadKey(PathBuf),
    /// Signing failed.
    #[error("signing failed: {0}")]
    Sign(String),
}

/// What a development token says.
#[derive(Clone, Debug)]
pub struct DevTokenRequest {
    /// `org_id`.
    pub org: OrgId,
    /// `sub`.
    pub user: UserId,
    /// `role`.
    pub role: Role,
    /// `amr` values (`pwd`, `mfa`, `otp`, `external`).
    pub amr: Vec<String>,
    /// `org_region`.
    pub region: Region,
    /// `email`.
    pub email: Option<String>,
    /// Lifetime in seconds.
    pub ttl_secs: u64,
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    aud: &'a str,
    sub: &'a str,
    org_id: &'a str,
    role: &'a str,
    amr: &'a [String],
    org_region: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<&'a str>,
    iat: u64,
    nbf: u64,
    exp: u64,
    jti: String,
}

/// The local signing key and its public JWKS.
pub struct DevIssuer {
    encoding: EncodingKey,
    kid: String,
    jwks: JwkSet,
}

impl fmt::Debug for DevIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DevIssuer")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl DevIssuer {
    /// Loads the key from the data directory, creating it on first use.
    ///
    /// # Errors
    /// [`DevIssuerError`] when the key cannot be read, created or parsed.
    pub fn load_or_create(dir: &DataDir) -> Result<Self, DevIssuerError> {
        let folder = dir.subdir("dev-issuer").map_err(|e| DevIssuerError::Io {
            path: dir.root().join("dev-issuer"),
            source: std::io::Error::other(e.to_string()),
        })?;
        let path = folder.join("signing-key.pem");
        let io = |source| DevIssuerError::Io {
            path: path.clone(),
            source,
        };
        if !path.exists() {
            let key = SecretKey::random(&mut rand::rngs::OsRng);
            let pem = key
                .to_pkcs8_pem(LineEnding::LF)
                .map_err(|_| DevIssuerError::BadKey(path.clone()))?;
            create_secret_file(&path, pem.as_bytes()).map_err(io)?;
        }
        let pem = std::fs::read_to_string(&path).map_err(io)?;
        let secret =
            SecretKey::from_pkcs8_pem(&pem).map_err(|_| DevIssuerError::BadKey(path.clone()))?;
        let encoding = EncodingKey::from_ec_pem(pem.as_bytes())
            .map_err(|_| DevIssuerError::BadKey(path.clone()))?;

        let public = secret.public_key();
        let point = p256::EncodedPoint::from(public);
        let kid = {
            use sha2::Digest as _;
            let digest = sha2::Sha256::digest(point.as_bytes());
            format!("dev-{}", &URL_SAFE_NO_PAD.encode(digest)[..16])
        };
        let mut jwk = serde_json::to_value(public.to_jwk())
            .map_err(|e| DevIssuerError::Sign(e.to_string()))?;
        jwk["kid"] = kid.clone().into();
        jwk["alg"] = "ES256".into();
        jwk["use"] = "sig".into();
        let jwks: JwkSet = serde_json::from_value(serde_json::json!({ "keys": [jwk] }))
            .map_err(|e| DevIssuerError::Sign(e.to_string()))?;
        Ok(Self {
            encoding,
            kid,
            jwks,
        })
    }

    /// The public key set the local server verifies against.
    #[must_use]
    pub fn jwks(&self) -> &JwkSet {
        &self.jwks
    }

    /// Signs an access token (`typ` `at+jwt`, ES256) for `audience`.
    ///
    /// # Errors
    /// [`DevIssuerError::Sign`] when signing fails.
    pub fn mint(&self, req: &DevTokenRequest, audience: &str) -> Result<String, DevIssuerError> {
        let now = unix_now();
        let claims = Claims {
            iss: DEV_ISSUER,
            aud: audience,
            sub: req.user.as_str(),
            org_id: req.org.as_str(),
            role: req.role.as_str(),
            amr: &req.amr,
            org_region: req.region.as_str(),
            email: req.email.as_deref(),
            iat: now,
            nbf: now,
            exp: now + req.ttl_secs,
            jti: uuid::Uuid::new_v4().simple().to_string(),
        };
        self.sign(&claims)
    }

    /// Signs `claims` as an access token: ES256, `typ` `at+jwt`, this key's `kid`.
    fn sign<T: Serialize>(&self, claims: &T) -> Result<String, DevIssuerError> {
        let mut header = Header::new(Algorithm::ES256);
        header.typ = Some("at+jwt".into());
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding)
            .map_err(|e| DevIssuerError::Sign(e.to_string()))
    }

    /// Signs an operator access token for `audience` (the operator audience): `role` `operator`,
    /// `amr` password and a second factor, no org.
    ///
    /// # Errors
    /// [`DevIssuerError::Sign`] when signing fails.
    pub fn mint_operator(
        &self,
        user: &UserId,
        email: Option<&str>,
        ttl_secs: u64,
        audience: &str,
    ) -> Result<String, DevIssuerError> {
        let now = unix_now();
        let mut claims = serde_json::json!({
            "iss": DEV_ISSUER,
            "aud": audience,
            "sub": user.as_str(),
            "role": "operator",
            "amr": ["pwd", "mfa"],
            "iat": now,
            "nbf": now,
            "exp": now + ttl_secs,
            "jti": uuid::Uuid::new_v4().simple().to_string(),
        });
        if let Some(e) = email {
            claims["email"] = e.into();
        }
        self.sign(&claims)
    }
}

fn unix_now() -> u64 {
    time::OffsetDateTime::now_utc()
        .unix_timestamp()
        .unsigned_abs()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn key_is_created_once_owner_only_and_reused() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = DataDir::open(&tmp.path().join("data")).unwrap();
        let a = DevIssuer::load_or_create(&dir).unwrap();
        let b = DevIssuer::load_or_create(&dir).unwrap();
        assert_eq!(a.kid, b.kid);
        let mode = std::fs::metadata(dir.root().join("dev-issuer/signing-key.pem"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(
            std::fs::metadata(dir.root()).unwrap().permissions().mode() & 0o777,
            0o700
        );
        assert_eq!(a.jwks().keys.len(), 1);
    }
}
