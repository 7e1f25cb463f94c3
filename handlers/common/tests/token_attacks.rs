//! Attacks on access-token validation, and the behaviour of the JWKS cache under rotation,
//! floods of unknown kids, concurrency and identity-server outages.
//!
//! Keys are generated at test time: one RSA 2048 key (cached in a `OnceLock`, RSA key generation is
//! slow in debug builds) and P-256 keys. Tokens are signed with `jsonwebtoken::encode`; the unsigned
//! and tampered ones are put together by hand.
//!
//! Tests named `regression_*` pin bugs found and fixed in review (kept so they stay fixed).

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clment_common::Principal;
use clment_common::access::Role;
use clment_common::auth::jwks::{
    CachePolicy, HttpKeySource, JwksCache, KeySource, KeySourceError, StaticKeySource,
};
use clment_common::auth::jwt::{TokenError, TokenPolicy, TokenValidator};
use clment_common::auth::principal::{Credential, SignIn};
use clment_common::domain::Region;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use tokio::time::Instant;

const ISS: &str = "https://id.clment.test";
const AUD: &str = "clment-api";
const ORG: &str = "org_acme";
const SUB: &str = "user-123";

// ---------------------------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------------------------

struct RsaKey {
    /// PKCS#8 private key PEM, for signing.
    private_pem: String,
    /// SPKI public key PEM: what an attacker can download, used as an HMAC secret in the HS/RS confusion.
    public_pem: String,
    n: String,
    e: String,
}

fn rsa_key() -> &'static RsaKey {
    static KEY: OnceLock<RsaKey> = OnceLock::new();
    KEY.get_or_init(|| {
        use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
        use rsa::traits::PublicKeyParts;
        let key =
            rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).expect("RSA key generation");
        let public = key.to_public_key();
        RsaKey {
            private_pem: key
                .to_pkcs8_pem(LineEnding::LF)
                .expect("RSA PKCS#8 PEM")
                .to_string(),
            public_pem: public
                .to_public_key_pem(LineEnding::LF)
                .expect("RSA SPKI PEM"),
            n: URL_SAFE_NO_PAD.encode(public.n().to_bytes_be()),
            e: URL_SAFE_NO_PAD.encode(public.e().to_bytes_be()),
        }
    })
}

fn rsa_signer() -> EncodingKey {
    EncodingKey::from_rsa_pem(rsa_key().private_pem.as_bytes()).expect("RSA encoding key")
}

/// A public RSA JWK for our key; `alg` pins the algorithm when given.
fn rsa_jwk(kid: &str, alg: Option<&str>) -> Jwk {
    let k = rsa_key();
    let mut v = json!({ "kty": "RSA", "n": k.n, "e": k.e, "kid": kid, "use": "sig" });
    if let Some(alg) = alg {
        v["alg"] = json!(alg);
    }
    serde_json::from_value(v).expect("RSA JWK")
}

struct EcKey {
    private_pem: String,
    /// `{"kty":"EC","crv":"P-256","x":..,"y":..}`
    public_jwk: Value,
}

impl EcKey {
    fn generate() -> Self {
        use p256::pkcs8::{EncodePrivateKey, LineEnding};
        let secret = p256::SecretKey::random(&mut rand::rngs::OsRng);
        let public_jwk =
            serde_json::from_str(&secret.public_key().to_jwk_string()).expect("EC JWK JSON");
        Self {
            private_pem: secret
                .to_pkcs8_pem(LineEnding::LF)
                .expect("EC PKCS#8 PEM")
                .to_string(),
            public_jwk,
        }
    }

    fn signer(&self) -> EncodingKey {
        EncodingKey::from_ec_pem(self.private_pem.as_bytes()).expect("EC encoding key")
    }

    fn jwk(&self, kid: &str) -> Jwk {
        let mut v = self.public_jwk.clone();
        v["kid"] = json!(kid);
        v["alg"] = json!("ES256");
        v["use"] = json!("sig");
        serde_json::from_value(v).expect("EC JWK")
    }
}

fn jwks(keys: Vec<Jwk>) -> JwkSet {
    JwkSet { keys }
}

// ---------------------------------------------------------------------------------------------
// Tokens
// ---------------------------------------------------------------------------------------------

fn now() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .as_secs(),
    )
    .expect("time")
}

fn b64json(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).expect("json"))
}

/// The claims the identity server puts in a member's access token.
fn claims() -> Value {
    let t = now();
    json!({
        "iss": ISS,
        "aud": AUD,
        "exp": t + 600,
        "nbf": t - 5,
        "iat": t - 5,
        "sub": SUB,
        "org_id": ORG,
        "role": "member",
        "org_region": "eu",
        "amr": ["pwd", "mfa"],
        "email": "ada@acme.test",
    })
}

/// `claims()` with `f` applied.
fn claims_with(f: impl FnOnce(&mut serde_json::Map<String, Value>)) -> Value {
    let mut c = claims();
    f(c.as_object_mut().expect("object"));
    c
}

/// An access-token header: `typ` `at+jwt` and the given `kid`.
fn header(alg: Algorithm, kid: Option<&str>) -> Header {
    let mut h = Header::new(alg);
    h.typ = Some("at+jwt".into());
    h.kid = kid.map(str::to_owned);
    h
}

fn sign(h: &Header, c: &Value, key: &EncodingKey) -> String {
    jsonwebtoken::encode(h, c, key).expect("sign")
}

fn rs256(c: &Value) -> String {
    sign(
        &header(Algorithm::RS256, Some("rsa-rs256")),
        c,
        &rsa_signer(),
    )
}

/// The token with its payload replaced by `c` and the original signature kept.
fn with_payload(token: &str, c: &Value) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    format!("{}.{}.{}", parts[0], b64json(c), parts[2])
}

/// The token with one byte of its decoded signature flipped (re-encoded, so still valid base64url).
fn with_flipped_signature(token: &str) -> String {
    let (message, sig) = token.rsplit_once('.').expect("three parts");
    let mut raw = URL_SAFE_NO_PAD.decode(sig).expect("signature is base64url");
    raw[7] ^= 0xff;
    format!("{message}.{}", URL_SAFE_NO_PAD.encode(raw))
}

/// A token put together by hand, signature and all.
fn hand_built(h: &Value, c: &Value, sig: &str) -> String {
    format!("{}.{}.{sig}", b64json(h), b64json(c))
}

// ---------------------------------------------------------------------------------------------
// Validators and key sources
// ---------------------------------------------------------------------------------------------

fn validator_over(source: Arc<dyn KeySource>, cache: CachePolicy) -> TokenValidator {
    TokenValidator::new(
        TokenPolicy::new(ISS, AUD),
        Arc::new(JwksCache::new(source, cache)),
    )
}

/// A key source whose set can be swapped (rotation) or made to fail (outage), and which counts
/// fetch attempts (failed ones included).
struct SwappableSource {
    set: Mutex<JwkSet>,
    fetches: AtomicUsize,
    failing: AtomicBool,
    delay: Duration,
}

impl SwappableSource {
    fn new(set: JwkSet, delay: Duration) -> Arc<Self> {
        Arc::new(Self {
            set: Mutex::new(set),
            fetches: AtomicUsize::new(0),
            failing: AtomicBool::new(false),
            delay,
        })
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }

    fn rotate(&self, set: JwkSet) {
        *self.set.lock().expect("lock") = set;
    }

    fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }
}

#[async_trait]
impl KeySource for SwappableSource {
    async fn fetch(&self) -> Result<JwkSet, KeySourceError> {
        self.fetches.fetch_add(1, Ordering::SeqCst);
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        if self.failing.load(Ordering::SeqCst) {
            return Err(KeySourceError("identity server is down".into()));
        }
        Ok(self.set.lock().expect("lock").clone())
    }
}

fn random_kid() -> String {
    format!("kid-{:016x}", rand::random::<u64>())
}

// ---------------------------------------------------------------------------------------------
// 1. The attack matrix
// ---------------------------------------------------------------------------------------------

enum Expect {
    /// Accepted, and the principal carries these values (org id and user are always ORG and SUB).
    Accept {
        role: Role,
        region: Region,
        sign_in: SignIn,
    },
    /// Refused for exactly this reason.
    Refuse(TokenError),
}

impl Expect {
    fn member_eu() -> Self {
        Self::Accept {
            role: Role::Member,
            region: Region::Eu,
            sign_in: pwd_mfa(),
        }
    }

    fn check(&self, got: &Result<Principal, TokenError>) -> Result<(), String> {
        match (self, got) {
            (Self::Refuse(want), Err(e)) if want == e => Ok(()),
            (Self::Refuse(want), other) => {
                Err(format!("expected Err({want:?}), got {}", show(other)))
            }
            (
                Self::Accept {
                    role,
                    region,
                    sign_in,
                },
                Ok(p),
            ) => {
                let mut wrong = Vec::new();
                if p.org_id().as_str() != ORG {
                    wrong.push(format!("org_id {}", p.org_id().as_str()));
                }
                if p.user_id().as_str() != SUB {
                    wrong.push(format!("user_id {}", p.user_id().as_str()));
                }
                if p.role() != *role {
                    wrong.push(format!("role {:?} (want {role:?})", p.role()));
                }
                if p.home_region() != *region {
                    wrong.push(format!(
                        "home_region {:?} (want {region:?})",
                        p.home_region()
                    ));
                }
                if p.sign_in() != sign_in {
                    wrong.push(format!("sign_in {:?} (want {sign_in:?})", p.sign_in()));
                }
                if *p.credential() != Credential::AccessToken {
                    wrong.push(format!("credential {:?}", p.credential()));
                }
                if wrong.is_empty() {
                    Ok(())
                } else {
                    Err(format!("accepted, but {}", wrong.join(", ")))
                }
            }
            (Self::Accept { .. }, Err(e)) => Err(format!("expected Ok, got Err({e:?})")),
        }
    }
}

fn show(r: &Result<Principal, TokenError>) -> String {
    match r {
        Ok(p) => format!("Ok(role {:?}, org {})", p.role(), p.org_id().as_str()),
        Err(e) => format!("Err({e:?})"),
    }
}

fn pwd_mfa() -> SignIn {
    SignIn {
        password: true,
        sso: false,
        second_factor: true,
    }
}

struct Case {
    name: &'static str,
    token: String,
    expect: Expect,
}

fn case(name: &'static str, token: String, expect: Expect) -> Case {
    Case {
        name,
        token,
        expect,
    }
}

fn refuse(e: TokenError) -> Expect {
    Expect::Refuse(e)
}

fn missing(claim: &str) -> Expect {
    Expect::Refuse(TokenError::MissingClaim(claim.into()))
}

/// The JWKS the matrix validator trusts.
fn matrix_jwks(ec: &EcKey) -> JwkSet {
    jwks(vec![
        rsa_jwk("rsa-rs256", Some("RS256")),
        rsa_jwk("rsa-ps256", Some("PS256")),
        rsa_jwk("rsa-noalg", None),
        ec.jwk("ec-1"),
        // An encryption key published without `use`: its `alg` marks it as not for signatures.
        {
            let mut k = serde_json::to_value(rsa_jwk("rsa-oaep", None)).unwrap();
            k["alg"] = "RSA-OAEP".into();
            k.as_object_mut().unwrap().remove("use");
            serde_json::from_value(k).unwrap()
        },
    ])
}

#[allow(clippy::too_many_lines)]
fn attack_cases(ec: &EcKey, attacker: &EcKey) -> Vec<Case> {
    let t = now();
    let rsa = rsa_signer();
    let valid = rs256(&claims());
    let unsigned_header = json!({ "alg": "none", "typ": "at+jwt", "kid": "rsa-rs256" });

    // The classic RS/HS confusion: the published RSA public key used as an HMAC secret, with the kid
    // of the RSA key, hoping the verifier picks HMAC because the header says so.
    let hs_confusion = sign(
        &header(Algorithm::HS256, Some("rsa-rs256")),
        &claims(),
        &EncodingKey::from_secret(rsa_key().public_pem.as_bytes()),
    );

    let mut jku = header(Algorithm::ES256, Some("attacker-1"));
    jku.jku = Some("https://attacker.example/.well-known/jwks.json".into());
    let mut jku_our_kid = jku.clone();
    jku_our_kid.kid = Some("ec-1".into());

    let mut embedded = header(Algorithm::ES256, Some("attacker-1"));
    embedded.jwk = Some(attacker.jwk("attacker-1"));
    let mut embedded_our_kid = embedded.clone();
    embedded_our_kid.kid = Some("ec-1".into());
    let mut embedded_no_kid = embedded.clone();
    embedded_no_kid.kid = None;

    let mut crit = header(Algorithm::RS256, Some("rsa-rs256"));
    crit.crit = Some(vec!["exp".into()]);

    let typ = |t: Option<&str>| {
        let mut h = header(Algorithm::RS256, Some("rsa-rs256"));
        h.typ = t.map(str::to_owned);
        sign(&h, &claims(), &rsa)
    };
    let typ_jwt = typ(Some("JWT"));
    let typ_missing = typ(None);
    let typ_full = typ(Some("application/at+jwt"));
    let typ_upper = typ(Some("AT+JWT"));

    vec![
        // --- accepted ---
        case("valid RS256", valid.clone(), Expect::member_eu()),
        case(
            "valid PS256",
            sign(
                &header(Algorithm::PS256, Some("rsa-ps256")),
                &claims_with(|c| {
                    c.insert("role".into(), json!("owner"));
                    c.insert("org_region".into(), json!("us"));
                }),
                &rsa,
            ),
            Expect::Accept {
                role: Role::Owner,
                region: Region::Us,
                sign_in: pwd_mfa(),
            },
        ),
        case(
            "valid ES256",
            sign(
                &header(Algorithm::ES256, Some("ec-1")),
                &claims_with(|c| {
                    c.insert("role".into(), json!("viewer"));
                    c.insert("org_region".into(), json!("au"));
                    c.insert("amr".into(), json!(["external"]));
                }),
                &ec.signer(),
            ),
            Expect::Accept {
                role: Role::Viewer,
                region: Region::Au,
                sign_in: SignIn {
                    password: false,
                    sso: true,
                    second_factor: false,
                },
            },
        ),
        case(
            "valid PS256 with a JWK that pins no alg",
            sign(
                &header(Algorithm::PS256, Some("rsa-noalg")),
                &claims(),
                &rsa,
            ),
            Expect::member_eu(),
        ),
        case(
            "expired 30 s ago: inside the 60 s leeway",
            rs256(&claims_with(|c| {
                c.insert("exp".into(), json!(t - 30));
            })),
            Expect::member_eu(),
        ),
        case(
            "nbf 30 s ahead: inside the 60 s leeway",
            rs256(&claims_with(|c| {
                c.insert("nbf".into(), json!(t + 30));
            })),
            Expect::member_eu(),
        ),
        case(
            "aud array containing ours",
            rs256(&claims_with(|c| {
                c.insert("aud".into(), json!(["https://other.example", AUD]));
            })),
            Expect::member_eu(),
        ),
        case("typ application/at+jwt", typ_full, Expect::member_eu()),
        case(
            "typ AT+JWT (case-insensitive)",
            typ_upper,
            Expect::member_eu(),
        ),
        case(
            "role array [viewer, admin]: the highest wins",
            rs256(&claims_with(|c| {
                c.insert("role".into(), json!(["viewer", "admin"]));
            })),
            Expect::Accept {
                role: Role::Admin,
                region: Region::Eu,
                sign_in: pwd_mfa(),
            },
        ),
        case(
            "role array with an unknown name next to a known one",
            rs256(&claims_with(|c| {
                c.insert("role".into(), json!(["superuser", "viewer"]));
            })),
            Expect::Accept {
                role: Role::Viewer,
                region: Region::Eu,
                sign_in: pwd_mfa(),
            },
        ),
        // --- algorithm attacks ---
        case(
            "alg none, unsigned",
            hand_built(&unsigned_header, &claims(), ""),
            refuse(TokenError::Malformed),
        ),
        case(
            "alg none, with the signature of a valid token",
            hand_built(
                &unsigned_header,
                &claims(),
                valid.rsplit_once('.').expect("sig").1,
            ),
            refuse(TokenError::Malformed),
        ),
        case(
            "alg None (other spelling), unsigned",
            hand_built(
                &json!({ "alg": "None", "typ": "at+jwt", "kid": "rsa-rs256" }),
                &claims(),
                "",
            ),
            refuse(TokenError::Malformed),
        ),
        case(
            "HS256 signed with the RSA public key (RS/HS confusion)",
            hs_confusion,
            refuse(TokenError::AlgorithmNotAllowed("HS256".into())),
        ),
        case(
            "ES256 token, kid of an RSA key pinned to RS256",
            sign(
                &header(Algorithm::ES256, Some("rsa-rs256")),
                &claims(),
                &ec.signer(),
            ),
            refuse(TokenError::KeyMismatch),
        ),
        case(
            "ES256 token, kid of an RSA key that pins no alg",
            sign(
                &header(Algorithm::ES256, Some("rsa-noalg")),
                &claims(),
                &ec.signer(),
            ),
            refuse(TokenError::KeyMismatch),
        ),
        case(
            "RS256 token, kid of an EC key",
            sign(&header(Algorithm::RS256, Some("ec-1")), &claims(), &rsa),
            refuse(TokenError::KeyMismatch),
        ),
        case(
            "RS256 token, kid of the same RSA key pinned to PS256",
            sign(
                &header(Algorithm::RS256, Some("rsa-ps256")),
                &claims(),
                &rsa,
            ),
            refuse(TokenError::KeyMismatch),
        ),
        // --- time ---
        case(
            "expired an hour ago",
            rs256(&claims_with(|c| {
                c.insert("iat".into(), json!(t - 7200));
                c.insert("nbf".into(), json!(t - 7200));
                c.insert("exp".into(), json!(t - 3600));
            })),
            refuse(TokenError::Expired),
        ),
        case(
            "expired 5 minutes ago (beyond the leeway)",
            rs256(&claims_with(|c| {
                c.insert("exp".into(), json!(t - 300));
            })),
            refuse(TokenError::Expired),
        ),
        case(
            "nbf an hour ahead",
            rs256(&claims_with(|c| {
                c.insert("nbf".into(), json!(t + 3600));
                c.insert("exp".into(), json!(t + 7200));
            })),
            refuse(TokenError::NotYetValid),
        ),
        case(
            "no exp",
            rs256(&claims_with(|c| {
                c.remove("exp");
            })),
            missing("exp"),
        ),
        // --- issuer and audience ---
        case(
            "wrong iss",
            rs256(&claims_with(|c| {
                c.insert("iss".into(), json!("https://id.attacker.example"));
            })),
            refuse(TokenError::WrongIssuer),
        ),
        case(
            "iss differs only by a trailing slash",
            rs256(&claims_with(|c| {
                c.insert("iss".into(), json!(format!("{ISS}/")));
            })),
            refuse(TokenError::WrongIssuer),
        ),
        case(
            "wrong aud",
            rs256(&claims_with(|c| {
                c.insert("aud".into(), json!("clment-admin"));
            })),
            refuse(TokenError::WrongAudience),
        ),
        case(
            "aud array without ours",
            rs256(&claims_with(|c| {
                c.insert("aud".into(), json!(["a", "b"]));
            })),
            refuse(TokenError::WrongAudience),
        ),
        case(
            "no aud",
            rs256(&claims_with(|c| {
                c.remove("aud");
            })),
            missing("aud"),
        ),
        // --- token type ---
        case(
            "typ JWT (an ID token)",
            typ_jwt,
            refuse(TokenError::WrongType),
        ),
        case("no typ", typ_missing, refuse(TokenError::WrongType)),
        // --- kid and key source ---
        case(
            "no kid",
            sign(&header(Algorithm::RS256, None), &claims(), &rsa),
            refuse(TokenError::MissingKid),
        ),
        case(
            "empty kid",
            sign(&header(Algorithm::RS256, Some("")), &claims(), &rsa),
            refuse(TokenError::MissingKid),
        ),
        case(
            "unknown kid",
            sign(
                &header(Algorithm::RS256, Some("rsa-retired")),
                &claims(),
                &rsa,
            ),
            refuse(TokenError::UnknownKid),
        ),
        case(
            "crit header naming an extension we do not understand",
            sign(&crit, &claims(), &rsa),
            refuse(TokenError::Malformed),
        ),
        case(
            "kid of an encryption key (alg RSA-OAEP, no use)",
            sign(&header(Algorithm::RS256, Some("rsa-oaep")), &claims(), &rsa),
            refuse(TokenError::UnknownKid),
        ),
        case(
            "jku to the attacker's JWKS, attacker key, unknown kid",
            sign(&jku, &claims(), &attacker.signer()),
            refuse(TokenError::UnknownKid),
        ),
        case(
            "jku to the attacker's JWKS, attacker key, our kid",
            sign(&jku_our_kid, &claims(), &attacker.signer()),
            refuse(TokenError::BadSignature),
        ),
        case(
            "embedded jwk with the attacker key, unknown kid",
            sign(&embedded, &claims(), &attacker.signer()),
            refuse(TokenError::UnknownKid),
        ),
        case(
            "embedded jwk with the attacker key, our kid",
            sign(&embedded_our_kid, &claims(), &attacker.signer()),
            refuse(TokenError::BadSignature),
        ),
        case(
            "embedded jwk with the attacker key, no kid",
            sign(&embedded_no_kid, &claims(), &attacker.signer()),
            refuse(TokenError::MissingKid),
        ),
        // --- integrity ---
        case(
            "tampered payload: role raised to owner, signature kept",
            with_payload(
                &valid,
                &claims_with(|c| {
                    c.insert("role".into(), json!("owner"));
                }),
            ),
            refuse(TokenError::BadSignature),
        ),
        case(
            "tampered payload: other org, signature kept",
            with_payload(
                &valid,
                &claims_with(|c| {
                    c.insert("org_id".into(), json!("org_victim"));
                }),
            ),
            refuse(TokenError::BadSignature),
        ),
        case(
            "tampered RS256 signature (one byte flipped)",
            with_flipped_signature(&valid),
            refuse(TokenError::BadSignature),
        ),
        case(
            "tampered ES256 signature (one byte flipped)",
            with_flipped_signature(&sign(
                &header(Algorithm::ES256, Some("ec-1")),
                &claims(),
                &ec.signer(),
            )),
            refuse(TokenError::BadSignature),
        ),
        case(
            "signature stripped",
            format!("{}.", valid.rsplit_once('.').expect("sig").0),
            refuse(TokenError::BadSignature),
        ),
        // --- Clment claims ---
        case(
            "no org_id",
            rs256(&claims_with(|c| {
                c.remove("org_id");
            })),
            missing("org_id"),
        ),
        case(
            "org_id with path characters",
            rs256(&claims_with(|c| {
                c.insert("org_id".into(), json!("../org_victim"));
            })),
            refuse(TokenError::InvalidClaim("org_id")),
        ),
        case(
            "no role",
            rs256(&claims_with(|c| {
                c.remove("role");
            })),
            missing("role"),
        ),
        case(
            "unknown role only",
            rs256(&claims_with(|c| {
                c.insert("role".into(), json!("superuser"));
            })),
            refuse(TokenError::InvalidClaim("role")),
        ),
        case(
            "role array of unknown names only",
            rs256(&claims_with(|c| {
                c.insert("role".into(), json!(["superuser", "root"]));
            })),
            refuse(TokenError::InvalidClaim("role")),
        ),
        case(
            "empty role array",
            rs256(&claims_with(|c| {
                c.insert("role".into(), json!([]));
            })),
            refuse(TokenError::InvalidClaim("role")),
        ),
        case(
            "no org_region",
            rs256(&claims_with(|c| {
                c.remove("org_region");
            })),
            missing("org_region"),
        ),
        case(
            "unknown org_region",
            rs256(&claims_with(|c| {
                c.insert("org_region".into(), json!("mars"));
            })),
            refuse(TokenError::InvalidClaim("org_region")),
        ),
        // --- shape ---
        case(
            "oversized (> 8 KiB), otherwise valid",
            rs256(&claims_with(|c| {
                c.insert("padding".into(), json!("x".repeat(9 * 1024)));
            })),
            refuse(TokenError::TooLarge),
        ),
        case(
            "garbage: empty string",
            String::new(),
            refuse(TokenError::Malformed),
        ),
        case("garbage: abc", "abc".into(), refuse(TokenError::Malformed)),
        case(
            "garbage: a.b.c",
            "a.b.c".into(),
            refuse(TokenError::Malformed),
        ),
        case(
            "garbage: two parts",
            "eyJhbGciOiJSUzI1NiJ9.e30".into(),
            refuse(TokenError::Malformed),
        ),
        case(
            "garbage: not base64",
            "!!!.@@@.###".into(),
            refuse(TokenError::Malformed),
        ),
        case(
            "garbage: header is base64 but not JSON",
            format!(
                "{}.{}.",
                URL_SAFE_NO_PAD.encode("not json"),
                b64json(&claims())
            ),
            refuse(TokenError::Malformed),
        ),
    ]
}

/// Runs every case and answers one line per failing case.
async fn run_cases(validator: &TokenValidator, cases: &[Case]) -> Vec<String> {
    let mut names = HashSet::new();
    let mut failures = Vec::new();
    for c in cases {
        assert!(names.insert(c.name), "duplicate case name {:?}", c.name);
        let got = validator.verify(&c.token).await;
        if let Err(why) = c.expect.check(&got) {
            failures.push(format!("  - {}: {why}", c.name));
        }
    }
    failures
}

#[tokio::test]
async fn attack_matrix() {
    let ec = EcKey::generate();
    let attacker = EcKey::generate();
    let validator = validator_over(
        Arc::new(StaticKeySource(matrix_jwks(&ec))),
        CachePolicy::default(),
    );

    let cases = attack_cases(&ec, &attacker);
    assert!(
        cases.len() >= 15,
        "the matrix has only {} cases",
        cases.len()
    );
    let failures = run_cases(&validator, &cases).await;
    assert!(
        failures.is_empty(),
        "{} of {} attack cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// Regression (fixed; jwt.rs, `verify`, the `jsonwebtoken::decode::<AccessClaims>` call and its
/// `ErrorKind::Json(_)` arm): jsonwebtoken deserialises the claims into `AccessClaims` *before* it
/// checks the registered claims, and `AccessClaims::sub` is a required `String`. So a token without
/// `sub`, or with any Clment claim of the wrong JSON type, is logged as
/// `MissingClaim("a required Clment claim")`, even when it is also expired; the
/// `MissingRequiredClaim("sub")` mapping is dead code. Every such token is still refused (no security
/// impact), but the log reason is not the precise one the module promises. These cases state the
/// precise reason and fail until that is fixed.
#[tokio::test]
async fn regression_claim_errors_name_the_claim() {
    let validator = validator_over(
        Arc::new(StaticKeySource(jwks(vec![rsa_jwk(
            "rsa-rs256",
            Some("RS256"),
        )]))),
        CachePolicy::default(),
    );
    let t = now();
    let cases = vec![
        case(
            "no sub",
            rs256(&claims_with(|c| {
                c.remove("sub");
            })),
            missing("sub"),
        ),
        case(
            "role of the wrong JSON type",
            rs256(&claims_with(|c| {
                c.insert("role".into(), json!(5));
            })),
            refuse(TokenError::InvalidClaim("role")),
        ),
        case(
            "org_id of the wrong JSON type",
            rs256(&claims_with(|c| {
                c.insert("org_id".into(), json!({ "id": ORG }));
            })),
            refuse(TokenError::InvalidClaim("org_id")),
        ),
        case(
            "expired an hour ago, and role of the wrong JSON type",
            rs256(&claims_with(|c| {
                c.insert("role".into(), json!(5));
                c.insert("exp".into(), json!(t - 3600));
            })),
            refuse(TokenError::Expired),
        ),
    ];
    let failures = run_cases(&validator, &cases).await;
    assert!(
        failures.is_empty(),
        "{} of {} cases got an imprecise reason:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// The policy cannot be weakened: HMAC is dropped from the allowlist even when configured (and even
/// when the JWKS holds a symmetric key), and the leeway is capped at 60 s.
#[tokio::test]
async fn policy_cannot_be_weakened() {
    let hmac_jwk: Jwk = serde_json::from_value(json!({
        "kty": "oct", "k": URL_SAFE_NO_PAD.encode(b"shared-secret"), "kid": "hmac-1", "alg": "HS256", "use": "sig"
    }))
    .expect("oct JWK");
    let set = jwks(vec![rsa_jwk("rsa-rs256", Some("RS256")), hmac_jwk]);
    let mut policy = TokenPolicy::new(ISS, AUD);
    policy.algorithms = vec![Algorithm::HS256, Algorithm::RS256];
    policy.leeway = Duration::from_secs(3600);
    let validator = TokenValidator::new(
        policy,
        Arc::new(JwksCache::new(
            Arc::new(StaticKeySource(set)),
            CachePolicy::default(),
        )),
    );

    let hs_with_jwks_secret = sign(
        &header(Algorithm::HS256, Some("hmac-1")),
        &claims(),
        &EncodingKey::from_secret(b"shared-secret"),
    );
    assert_eq!(
        validator.verify(&hs_with_jwks_secret).await.err(),
        Some(TokenError::AlgorithmNotAllowed("HS256".into()))
    );
    let hs_confusion = sign(
        &header(Algorithm::HS256, Some("rsa-rs256")),
        &claims(),
        &EncodingKey::from_secret(rsa_key().public_pem.as_bytes()),
    );
    assert_eq!(
        validator.verify(&hs_confusion).await.err(),
        Some(TokenError::AlgorithmNotAllowed("HS256".into()))
    );
    // RS256 with the kid of the symmetric key: the key family does not fit.
    let rs_on_oct = sign(
        &header(Algorithm::RS256, Some("hmac-1")),
        &claims(),
        &rsa_signer(),
    );
    assert_eq!(
        validator.verify(&rs_on_oct).await.err(),
        Some(TokenError::KeyMismatch)
    );

    let t = now();
    let expired_10_min = rs256(&claims_with(|c| {
        c.insert("exp".into(), json!(t - 600));
    }));
    assert_eq!(
        validator.verify(&expired_10_min).await.err(),
        Some(TokenError::Expired)
    );
    let early_10_min = rs256(&claims_with(|c| {
        c.insert("nbf".into(), json!(t + 600));
    }));
    assert_eq!(
        validator.verify(&early_10_min).await.err(),
        Some(TokenError::NotYetValid)
    );
    assert!(validator.verify(&rs256(&claims())).await.is_ok());
}

// ---------------------------------------------------------------------------------------------
// 2. Key rotation
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn rotated_key_is_picked_up_with_one_refetch() {
    let old = EcKey::generate();
    let new = EcKey::generate();
    let source = SwappableSource::new(jwks(vec![old.jwk("ec-2024")]), Duration::ZERO);
    let validator = validator_over(source.clone(), CachePolicy::default());

    let old_token = sign(
        &header(Algorithm::ES256, Some("ec-2024")),
        &claims(),
        &old.signer(),
    );
    let new_token = sign(
        &header(Algorithm::ES256, Some("ec-2025")),
        &claims(),
        &new.signer(),
    );

    assert!(validator.verify(&old_token).await.is_ok());
    assert_eq!(source.fetches(), 1, "cold cache: one fetch");
    assert!(validator.verify(&old_token).await.is_ok());
    assert_eq!(source.fetches(), 1, "warm cache: no fetch");

    // The identity server publishes the new key next to the old one and starts signing with it.
    source.rotate(jwks(vec![old.jwk("ec-2024"), new.jwk("ec-2025")]));
    let p = validator
        .verify(&new_token)
        .await
        .expect("new key accepted after refetch");
    assert_eq!(p.role(), Role::Member);
    assert_eq!(
        source.fetches(),
        2,
        "the new kid caused exactly one refetch"
    );

    assert!(validator.verify(&new_token).await.is_ok());
    assert!(validator.verify(&old_token).await.is_ok());
    assert_eq!(source.fetches(), 2, "both keys now cached");
}

// ---------------------------------------------------------------------------------------------
// 3. Refetch limiting
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn unknown_kid_flood_causes_at_most_one_refetch_per_interval() {
    const INTERVAL: Duration = Duration::from_millis(500);
    let ec = EcKey::generate();
    let attacker = EcKey::generate();
    let source = SwappableSource::new(jwks(vec![ec.jwk("ec-1")]), Duration::ZERO);
    let validator = validator_over(
        source.clone(),
        CachePolicy {
            ttl: Duration::from_secs(600),
            min_refetch_interval: INTERVAL,
            max_stale: Duration::from_secs(3600),
        },
    );
    let good = sign(
        &header(Algorithm::ES256, Some("ec-1")),
        &claims(),
        &ec.signer(),
    );
    // Signed in advance so that the flood fits well inside the interval.
    let flood: Vec<String> = (0..100)
        .map(|_| {
            sign(
                &header(Algorithm::ES256, Some(&random_kid())),
                &claims(),
                &attacker.signer(),
            )
        })
        .collect();
    let late = sign(
        &header(Algorithm::ES256, Some(&random_kid())),
        &claims(),
        &attacker.signer(),
    );
    let later = sign(
        &header(Algorithm::ES256, Some(&random_kid())),
        &claims(),
        &attacker.signer(),
    );

    assert!(validator.verify(&good).await.is_ok());
    assert_eq!(source.fetches(), 1);

    let start = Instant::now();
    for t in &flood {
        assert_eq!(
            validator.verify(t).await.err(),
            Some(TokenError::UnknownKid)
        );
    }
    let flood_took = start.elapsed();
    assert!(
        flood_took < INTERVAL,
        "the flood took {flood_took:?}, longer than the interval; the test proves nothing"
    );
    let forced = source.fetches() - 1;
    assert!(
        forced <= 1,
        "100 unknown kids caused {forced} forced refetches"
    );
    assert!(
        validator.verify(&good).await.is_ok(),
        "known kids still verify during the flood"
    );

    tokio::time::sleep_until(start + INTERVAL + Duration::from_millis(150)).await;
    let before = source.fetches();
    assert_eq!(
        validator.verify(&late).await.err(),
        Some(TokenError::UnknownKid)
    );
    assert_eq!(
        source.fetches(),
        before + 1,
        "after the interval one more refetch is allowed"
    );
    assert_eq!(
        validator.verify(&later).await.err(),
        Some(TokenError::UnknownKid)
    );
    assert_eq!(source.fetches(), before + 1, "and only one");
}

// ---------------------------------------------------------------------------------------------
// 4. Concurrency
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_verifications_on_a_cold_cache_fetch_once() {
    let ec = EcKey::generate();
    // The delay keeps the first fetch in flight while the other 49 arrive.
    let source = SwappableSource::new(
        jwks(vec![rsa_jwk("rsa-rs256", Some("RS256")), ec.jwk("ec-1")]),
        Duration::from_millis(100),
    );
    let validator = Arc::new(validator_over(source.clone(), CachePolicy::default()));
    let tokens = [
        Arc::new(rs256(&claims())),
        Arc::new(sign(
            &header(Algorithm::ES256, Some("ec-1")),
            &claims(),
            &ec.signer(),
        )),
    ];

    let barrier = Arc::new(tokio::sync::Barrier::new(50));
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let (validator, barrier, token) =
                (validator.clone(), barrier.clone(), tokens[i % 2].clone());
            tokio::spawn(async move {
                barrier.wait().await;
                validator.verify(&token).await
            })
        })
        .collect();
    for t in tasks {
        let r = t.await.expect("task");
        assert!(r.is_ok(), "{r:?}");
    }
    assert_eq!(
        source.fetches(),
        1,
        "50 concurrent verifications on a cold cache"
    );

    // A concurrent burst of unknown kids on the warm cache: at most one forced refetch.
    let attacker = EcKey::generate();
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let validator = validator.clone();
            let token = sign(
                &header(Algorithm::ES256, Some(&random_kid())),
                &claims(),
                &attacker.signer(),
            );
            tokio::spawn(async move { validator.verify(&token).await })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.expect("task").err(), Some(TokenError::UnknownKid));
    }
    assert!(source.fetches() <= 2, "{} fetches", source.fetches());
}

// ---------------------------------------------------------------------------------------------
// 5. Stale-on-error
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn stale_keys_serve_within_max_stale_then_fail_closed() {
    let ttl = Duration::from_millis(200);
    let max_stale = Duration::from_millis(600);
    let ec = EcKey::generate();
    let source = SwappableSource::new(jwks(vec![ec.jwk("ec-1")]), Duration::ZERO);
    let validator = validator_over(
        source.clone(),
        CachePolicy {
            ttl,
            // Short, so that a cache that backs off after a failed refresh still retries below.
            min_refetch_interval: Duration::from_millis(100),
            max_stale,
        },
    );
    // A new token per call (distinct jti): repeated calls with one token are answered by the
    // verified-token cache and would never reach the key cache under test here.
    let counter = AtomicUsize::new(0);
    let fresh = || {
        let n = counter.fetch_add(1, Ordering::SeqCst);
        sign(
            &header(Algorithm::ES256, Some("ec-1")),
            &claims_with(|c| {
                c.insert("jti".into(), json!(format!("stale-{n}")));
            }),
            &ec.signer(),
        )
    };

    assert!(validator.verify(&fresh()).await.is_ok());
    let fetched = Instant::now();
    assert_eq!(source.fetches(), 1);
    // The identity server goes down after the first fetch.
    source.set_failing(true);

    assert!(validator.verify(&fresh()).await.is_ok(), "fresh");
    assert_eq!(source.fetches(), 1);

    // Past the TTL, inside the stale window: the refresh fails, the cached set still serves.
    tokio::time::sleep_until(fetched + ttl + Duration::from_millis(200)).await;
    let r = validator.verify(&fresh()).await;
    assert!(r.is_ok(), "stale set should serve: {r:?}");
    assert!(source.fetches() >= 2, "a refresh was attempted");

    // Past TTL + max_stale: fail closed.
    tokio::time::sleep_until(fetched + ttl + max_stale + Duration::from_millis(300)).await;
    let r = validator.verify(&fresh()).await;
    assert!(matches!(r, Err(TokenError::KeysUnavailable(_))), "{r:?}");

    // The identity server comes back (after any back-off from the failed refreshes).
    source.set_failing(false);
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(
        validator.verify(&fresh()).await.is_ok(),
        "recovers once the source answers"
    );
}

#[tokio::test]
async fn cold_cache_with_failing_source_is_keys_unavailable() {
    let source = SwappableSource::new(
        jwks(vec![rsa_jwk("rsa-rs256", Some("RS256"))]),
        Duration::ZERO,
    );
    source.set_failing(true);
    let validator = validator_over(source.clone(), CachePolicy::default());
    let r = validator.verify(&rs256(&claims())).await;
    assert!(matches!(r, Err(TokenError::KeysUnavailable(_))), "{r:?}");
    assert_eq!(source.fetches(), 1);
}

/// Regression (fixed; jwks.rs `refresh_if_older`): once the cached set is past its TTL and the identity
/// server fails, every verification makes its own fetch attempt, one after another under the
/// refresh mutex. The module promises that concurrent refreshes are coalesced into one fetch; with a
/// real `HttpKeySource` each attempt can take up to its timeout, so N concurrent requests wait up to
/// N × timeout. Correct behaviour: the requests queued behind a failed refresh reuse its outcome and
/// fall back to the stale set without fetching again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn regression_failed_stale_refreshes_are_coalesced() {
    let ttl = Duration::from_millis(100);
    let ec = EcKey::generate();
    let source = SwappableSource::new(jwks(vec![ec.jwk("ec-1")]), Duration::from_millis(100));
    let validator = Arc::new(validator_over(
        source.clone(),
        CachePolicy {
            ttl,
            min_refetch_interval: Duration::from_secs(30),
            max_stale: Duration::from_secs(3600),
        },
    ));
    let token = Arc::new(sign(
        &header(Algorithm::ES256, Some("ec-1")),
        &claims(),
        &ec.signer(),
    ));
    assert!(validator.verify(&token).await.is_ok());
    source.set_failing(true);
    tokio::time::sleep(ttl + Duration::from_millis(50)).await;

    let before = source.fetches();
    let start = Instant::now();
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (validator, token) = (validator.clone(), token.clone());
            tokio::spawn(async move { validator.verify(&token).await })
        })
        .collect();
    for t in tasks {
        let r = t.await.expect("task");
        assert!(r.is_ok(), "the stale set should serve: {r:?}");
    }
    let attempts = source.fetches() - before;
    assert!(
        attempts <= 1,
        "20 concurrent verifications during an outage made {attempts} fetch attempts, serialised \
         under the refresh lock ({:?} in all; each attempt takes 100 ms here, up to the HTTP \
         timeout in production)",
        start.elapsed()
    );
}

/// Regression (fixed; jwks.rs `key`, stale branch): past the TTL, unknown kids go through
/// `refresh_if_older`, which is not subject to `min_refetch_interval`; while the identity server is
/// failing, every token with a random kid causes a fetch. The module promises that a flood of random
/// kids cannot hammer the identity server. Correct behaviour: at most one fetch attempt per
/// `min_refetch_interval` (or some backoff) while refreshes fail.
#[tokio::test]
async fn regression_unknown_kid_flood_during_outage_does_not_hammer_the_source() {
    let ttl = Duration::from_millis(100);
    let ec = EcKey::generate();
    let attacker = EcKey::generate();
    let source = SwappableSource::new(jwks(vec![ec.jwk("ec-1")]), Duration::ZERO);
    let validator = validator_over(
        source.clone(),
        CachePolicy {
            ttl,
            min_refetch_interval: Duration::from_secs(30),
            max_stale: Duration::from_secs(3600),
        },
    );
    let good = sign(
        &header(Algorithm::ES256, Some("ec-1")),
        &claims(),
        &ec.signer(),
    );
    let flood: Vec<String> = (0..50)
        .map(|_| {
            sign(
                &header(Algorithm::ES256, Some(&random_kid())),
                &claims(),
                &attacker.signer(),
            )
        })
        .collect();
    assert!(validator.verify(&good).await.is_ok());
    source.set_failing(true);
    tokio::time::sleep(ttl + Duration::from_millis(50)).await;

    let before = source.fetches();
    for t in &flood {
        assert_eq!(
            validator.verify(t).await.err(),
            Some(TokenError::UnknownKid)
        );
    }
    let attempts = source.fetches() - before;
    assert!(
        attempts <= 1,
        "50 random kids during an outage caused {attempts} fetch attempts within one min_refetch_interval"
    );
}

// ---------------------------------------------------------------------------------------------
// 6. HttpKeySource
// ---------------------------------------------------------------------------------------------

/// A local stand-in for the identity server: it speaks the JWKS wire format (a JSON `{"keys":[...]}`
/// document over HTTP) on 127.0.0.1, port 0. It is not the real identity service; it only lets the
/// tests drive `HttpKeySource` through real sockets, statuses, redirects, large bodies and silence.
struct IdpStandIn {
    addr: SocketAddr,
    /// Requests answered on `/jwks`.
    jwks_hits: Arc<AtomicUsize>,
}

impl IdpStandIn {
    async fn start(set: &JwkSet) -> Self {
        use warp::Filter as _;
        use warp::http::{StatusCode, Uri};

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let jwks_hits = Arc::new(AtomicUsize::new(0));

        let body = serde_json::to_string(set).expect("JWKS JSON");
        let hits = jwks_hits.clone();
        let jwks = warp::path!("jwks").map(move || {
            hits.fetch_add(1, Ordering::SeqCst);
            warp::reply::with_header(body.clone(), "content-type", "application/json")
        });
        let fail = warp::path!("fail").map(|| {
            warp::reply::with_status("identity server error", StatusCode::INTERNAL_SERVER_ERROR)
        });
        // Valid JWKS JSON (unknown members are ignored), so only its size can get it refused.
        let big = warp::path!("big").map(|| padded_jwks(300 * 1024));
        let almost_big = warp::path!("almost-big").map(|| padded_jwks(200 * 1024));
        let location = format!("http://{addr}/jwks");
        let redirect = warp::path!("redirect")
            .map(move || warp::redirect::found(Uri::try_from(location.as_str()).expect("uri")));
        let hang = warp::path!("hang").then(|| async {
            std::future::pending::<()>().await;
            "never"
        });

        let routes = jwks.or(fail).or(big).or(almost_big).or(redirect).or(hang);
        tokio::spawn(warp::serve(routes).incoming(listener).run());
        Self { addr, jwks_hits }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}/{path}", self.addr)
    }
}

/// `{"keys":[],"padding":"xxx..."}` of about `bytes` bytes.
fn padded_jwks(bytes: usize) -> String {
    format!(r#"{{"keys":[],"padding":"{}"}}"#, "x".repeat(bytes))
}

fn http_source(url: &str, timeout: Duration) -> HttpKeySource {
    HttpKeySource::new(url, timeout).expect("HTTP client")
}

#[tokio::test]
async fn http_source_fetches_a_jwks_and_tokens_verify_against_it() {
    let ec = EcKey::generate();
    let set = jwks(vec![rsa_jwk("rsa-rs256", Some("RS256")), ec.jwk("ec-1")]);
    let idp = IdpStandIn::start(&set).await;

    let source = http_source(&idp.url("jwks"), Duration::from_secs(5));
    let got = source.fetch().await.expect("JWKS");
    assert_eq!(got.keys.len(), 2);
    assert!(got.find("rsa-rs256").is_some() && got.find("ec-1").is_some());

    let validator = validator_over(Arc::new(source), CachePolicy::default());
    assert!(validator.verify(&rs256(&claims())).await.is_ok());
    let es = sign(
        &header(Algorithm::ES256, Some("ec-1")),
        &claims(),
        &ec.signer(),
    );
    assert!(validator.verify(&es).await.is_ok());
    assert_eq!(
        idp.jwks_hits.load(Ordering::SeqCst),
        2,
        "one direct fetch, one by the cache"
    );
}

#[tokio::test]
async fn http_source_refuses_an_error_status() {
    let idp = IdpStandIn::start(&jwks(vec![])).await;
    let err = http_source(&idp.url("fail"), Duration::from_secs(5))
        .fetch()
        .await
        .expect_err("500 is an error");
    assert!(err.0.contains("500"), "{err}");

    let err = http_source(&idp.url("no-such-path"), Duration::from_secs(5))
        .fetch()
        .await
        .expect_err("404 is an error");
    assert!(err.0.contains("404"), "{err}");
}

#[tokio::test]
async fn http_source_refuses_a_body_over_256_kib() {
    let idp = IdpStandIn::start(&jwks(vec![])).await;
    assert!(
        serde_json::from_str::<JwkSet>(&padded_jwks(300 * 1024)).is_ok(),
        "the large body is a valid JWKS, so only its size can get it refused"
    );
    let err = http_source(&idp.url("big"), Duration::from_secs(5))
        .fetch()
        .await
        .expect_err("over 256 KiB");
    assert!(err.0.contains("too large"), "{err}");

    let ok = http_source(&idp.url("almost-big"), Duration::from_secs(5))
        .fetch()
        .await;
    assert!(ok.is_ok(), "200 KiB is under the limit: {:?}", ok.err());
}

#[tokio::test]
async fn http_source_does_not_follow_redirects() {
    let idp = IdpStandIn::start(&jwks(vec![rsa_jwk("rsa-rs256", Some("RS256"))])).await;
    let err = http_source(&idp.url("redirect"), Duration::from_secs(5))
        .fetch()
        .await
        .expect_err("a redirect is an error");
    assert!(err.0.contains("302"), "{err}");
    assert_eq!(
        idp.jwks_hits.load(Ordering::SeqCst),
        0,
        "the redirect target was never requested"
    );
}

#[tokio::test]
async fn http_source_times_out_when_the_server_never_answers() {
    let idp = IdpStandIn::start(&jwks(vec![])).await;
    let timeout = Duration::from_millis(300);
    let source = http_source(&idp.url("hang"), timeout);
    let start = Instant::now();
    let r = tokio::time::timeout(Duration::from_secs(10), source.fetch())
        .await
        .expect("HttpKeySource did not give up on its own within 10 s");
    let took = start.elapsed();
    assert!(r.is_err(), "a silent server is an error");
    assert!(
        took >= timeout - Duration::from_millis(50),
        "gave up too early: {took:?}"
    );
    assert!(
        took < timeout + Duration::from_secs(1),
        "took {took:?} for a {timeout:?} timeout"
    );

    // Through the cache, a silent identity server on a cold cache is KeysUnavailable.
    let validator = validator_over(
        Arc::new(http_source(&idp.url("hang"), timeout)),
        CachePolicy::default(),
    );
    let r = validator.verify(&rs256(&claims())).await;
    assert!(matches!(r, Err(TokenError::KeysUnavailable(_))), "{r:?}");
}

/// Verified tokens are remembered (no key lookup on the second call), tampered copies are not, and a
/// cached token is never accepted once the key cache would refuse a fresh verification of it.
#[tokio::test]
async fn verified_tokens_are_cached_by_exact_token() {
    let ec = EcKey::generate();
    let source = SwappableSource::new(jwks(vec![ec.jwk("ec-1")]), Duration::ZERO);
    let validator = validator_over(source.clone(), CachePolicy::default());
    let token = sign(
        &header(Algorithm::ES256, Some("ec-1")),
        &claims(),
        &ec.signer(),
    );
    assert!(validator.verify(&token).await.is_ok());
    assert!(validator.verify(&token).await.is_ok());
    assert_eq!(source.fetches(), 1);
    // One flipped character in the signature is a different token: verified in full, and refused.
    let mut tampered = token.clone().into_bytes();
    let last = tampered.len() - 2;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    assert!(validator.verify(&tampered).await.is_err());
    // A token already past its exp (beyond leeway) is never cached, so never served from the cache.
    let expired = sign(
        &header(Algorithm::ES256, Some("ec-1")),
        &claims_with(|c| {
            c.insert("exp".into(), json!(now() - 3600));
        }),
        &ec.signer(),
    );
    assert!(matches!(
        validator.verify(&expired).await,
        Err(TokenError::Expired)
    ));
    assert!(matches!(
        validator.verify(&expired).await,
        Err(TokenError::Expired)
    ));
}

// ---------------------------------------------------------------------------------------------
// Operator tokens
// ---------------------------------------------------------------------------------------------

const OPERATOR_AUD: &str = "clment-operator";

fn operator_claims() -> Value {
    let t = now();
    json!({
        "iss": ISS,
        "aud": OPERATOR_AUD,
        "exp": t + 600,
        "nbf": t - 5,
        "iat": t - 5,
        "sub": "ops-1",
        "role": ["operator"],
        "amr": ["pwd", "otp"],
        "email": "ops@clment.test",
    })
}

fn operator_with(f: impl FnOnce(&mut serde_json::Map<String, Value>)) -> Value {
    let mut c = operator_claims();
    f(c.as_object_mut().expect("object"));
    c
}

/// Operator tokens: their own audience, `role` operator, a second factor; and the two audiences
/// never cross (a tenant token is no operator token, an operator token is no tenant token).
#[tokio::test]
async fn operator_tokens_are_checked_apart_from_tenant_tokens() {
    let source: Arc<dyn KeySource> = Arc::new(StaticKeySource(jwks(vec![rsa_jwk(
        "rsa-rs256",
        Some("RS256"),
    )])));
    let keys = Arc::new(JwksCache::new(source, CachePolicy::default()));
    let operators = TokenValidator::new(TokenPolicy::new(ISS, OPERATOR_AUD), Arc::clone(&keys));
    let tenants = TokenValidator::new(TokenPolicy::new(ISS, AUD), keys);

    let good = rs256(&operator_claims());
    let op = operators.verify_operator(&good).await.expect("operator");
    assert_eq!(op.subject.as_str(), "ops-1");
    // A plain-string role works too.
    let single = rs256(&operator_with(|c| {
        c.insert("role".into(), json!("operator"));
    }));
    assert!(operators.verify_operator(&single).await.is_ok());

    // The operator token is refused as a tenant token (wrong audience), and vice versa.
    assert_eq!(
        tenants.verify(&good).await.unwrap_err(),
        TokenError::WrongAudience
    );
    let tenant = rs256(&claims_with(|c| {
        c.insert("role".into(), json!(["owner", "operator"]));
    }));
    assert_eq!(
        operators.verify_operator(&tenant).await.unwrap_err(),
        TokenError::WrongAudience
    );

    let cases: Vec<(&str, String, TokenError)> = vec![
        (
            "no operator role",
            rs256(&operator_with(|c| {
                c.insert("role".into(), json!(["owner"]));
            })),
            TokenError::InvalidClaim("role"),
        ),
        (
            "role missing",
            rs256(&operator_with(|c| {
                c.remove("role");
            })),
            TokenError::MissingClaim("role".into()),
        ),
        (
            "also an org member's token",
            rs256(&operator_with(|c| {
                c.insert("org_id".into(), json!(ORG));
            })),
            TokenError::InvalidClaim("org_id"),
        ),
        (
            "password only",
            rs256(&operator_with(|c| {
                c.insert("amr".into(), json!(["pwd"]));
            })),
            TokenError::InvalidClaim("amr"),
        ),
        (
            "no amr",
            rs256(&operator_with(|c| {
                c.remove("amr");
            })),
            TokenError::InvalidClaim("amr"),
        ),
        (
            "expired",
            rs256(&operator_with(|c| {
                c.insert("exp".into(), json!(now() - 3600));
            })),
            TokenError::Expired,
        ),
        (
            "wrong issuer",
            rs256(&operator_with(|c| {
                c.insert("iss".into(), json!("https://evil.test"));
            })),
            TokenError::WrongIssuer,
        ),
        (
            "tampered signature",
            with_flipped_signature(&good),
            TokenError::BadSignature,
        ),
        (
            "tampered payload",
            with_payload(
                &rs256(&operator_with(|c| {
                    c.insert("role".into(), json!(["viewer"]));
                })),
                &operator_claims(),
            ),
            TokenError::BadSignature,
        ),
        (
            "alg none",
            hand_built(
                &json!({"alg": "none", "typ": "at+jwt", "kid": "rsa-rs256"}),
                &operator_claims(),
                "",
            ),
            TokenError::Malformed,
        ),
        (
            "unknown kid",
            sign(
                &header(Algorithm::RS256, Some("nobody")),
                &operator_claims(),
                &rsa_signer(),
            ),
            TokenError::UnknownKid,
        ),
    ];
    let mut failures = Vec::new();
    for (name, token, want) in cases {
        match operators.verify_operator(&token).await {
            Err(e) if e == want => {}
            other => failures.push(format!("{name}: want {want:?}, got {other:?}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
