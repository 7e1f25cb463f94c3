//! Token attacks over HTTP against a configured identity server: every refused token is a 401 with the
//! `invalid_token` challenge, and none reaches a handler or the store (no org record, no audit row).
//!
//! The identity server here is a local warp server publishing a JWKS in the standard wire format. It is
//! a stand-in, not the real Clment identity server. The full matrix of 60 cases at the validator level
//! lives in handlers/common/tests/token_attacks.rs.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clment_handler::config::Identity;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use p256::pkcs8::{EncodePrivateKey as _, EncodePublicKey as _, LineEnding};
use serde_json::{Value, json};
use warp::Filter as _;

use crate::helpers::{assert_problem, audit_events, spawn_with, touches};

const ISS: &str = "https://id.clment.test";

struct Key {
    signer: EncodingKey,
    public_pem: String,
    jwk: Value,
}

fn key(kid: &str) -> Key {
    let secret = p256::SecretKey::random(&mut rand_core::OsRng);
    let pem = secret.to_pkcs8_pem(LineEnding::LF).unwrap();
    let mut jwk = serde_json::to_value(secret.public_key().to_jwk()).unwrap();
    jwk["kid"] = kid.into();
    jwk["alg"] = "ES256".into();
    jwk["use"] = "sig".into();
    Key {
        signer: EncodingKey::from_ec_pem(pem.as_bytes()).unwrap(),
        public_pem: secret
            .public_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap(),
        jwk,
    }
}

fn claims() -> Value {
    let now = jsonwebtoken::get_current_timestamp();
    json!({ "iss": ISS, "aud": "clment-api", "sub": "mallory", "org_id": "acme", "role": "owner",
            "org_region": "us", "amr": ["pwd", "mfa"], "exp": now + 600, "nbf": now - 5, "iat": now - 5 })
}

fn with(f: impl FnOnce(&mut serde_json::Map<String, Value>)) -> Value {
    let mut c = claims();
    f(c.as_object_mut().unwrap());
    c
}

fn header(kid: Option<&str>) -> Header {
    let mut h = Header::new(Algorithm::ES256);
    h.typ = Some("at+jwt".into());
    h.kid = kid.map(str::to_owned);
    h
}

fn sign(h: &Header, c: &Value, k: &EncodingKey) -> String {
    jsonwebtoken::encode(h, c, k).unwrap()
}

fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(v.to_string())
}

#[tokio::test]
async fn refused_tokens_are_401_and_never_reach_a_handler_or_the_store() {
    let ours = key("k1");
    let attacker = key("k1-attacker");
    let jwks = json!({ "keys": [ours.jwk.clone()] });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server =
        warp::serve(warp::path("jwks").map(move || warp::reply::json(&jwks))).incoming(listener);
    tokio::spawn(server.run());
    let app = spawn_with(|s| {
        s.identity = Identity::Issuer {
            issuer: ISS.into(),
            audience: "clment-api".into(),
            jwks_url: format!("http://{addr}/jwks"),
        }
    })
    .await;

    let now = jsonwebtoken::get_current_timestamp();
    let valid = sign(&header(Some("k1")), &claims(), &ours.signer);
    let (h, p, s) = {
        let mut parts = valid.split('.');
        (
            parts.next().unwrap().to_owned(),
            parts.next().unwrap().to_owned(),
            parts.next().unwrap().to_owned(),
        )
    };
    let mut jku = header(Some("k1-attacker"));
    jku.jku = Some("https://attacker.example/jwks".into());
    let mut typ_jwt = header(Some("k1"));
    typ_jwt.typ = Some("JWT".into());
    let hs = {
        let mut h = Header::new(Algorithm::HS256);
        h.typ = Some("at+jwt".into());
        h.kid = Some("k1".into());
        sign(
            &h,
            &claims(),
            &EncodingKey::from_secret(ours.public_pem.as_bytes()),
        )
    };
    let attacks: Vec<(&str, String)> = vec![
        (
            "alg none",
            format!(
                "{}.{}.",
                b64(&json!({ "alg": "none", "typ": "at+jwt", "kid": "k1" })),
                p
            ),
        ),
        ("HS256 with the public key as secret", hs),
        (
            "expired",
            sign(
                &header(Some("k1")),
                &with(|c| {
                    c.insert("exp".into(), json!(now - 3600));
                }),
                &ours.signer,
            ),
        ),
        (
            "not yet valid",
            sign(
                &header(Some("k1")),
                &with(|c| {
                    c.insert("nbf".into(), json!(now + 3600));
                }),
                &ours.signer,
            ),
        ),
        (
            "wrong iss",
            sign(
                &header(Some("k1")),
                &with(|c| {
                    c.insert("iss".into(), json!("https://evil"));
                }),
                &ours.signer,
            ),
        ),
        (
            "wrong aud",
            sign(
                &header(Some("k1")),
                &with(|c| {
                    c.insert("aud".into(), json!("other-api"));
                }),
                &ours.signer,
            ),
        ),
        (
            "ID token (typ JWT)",
            sign(&typ_jwt, &claims(), &ours.signer),
        ),
        (
            "unknown kid",
            sign(&header(Some("nope")), &claims(), &ours.signer),
        ),
        ("no kid", sign(&header(None), &claims(), &ours.signer)),
        (
            "tampered payload",
            format!(
                "{h}.{}.{s}",
                b64(&with(|c| {
                    c.insert("org_id".into(), json!("globex"));
                }))
            ),
        ),
        (
            "tampered signature",
            format!(
                "{h}.{p}.{}{}",
                &s[..s.len() - 2],
                if s.ends_with("AA") { "BB" } else { "AA" }
            ),
        ),
        (
            "missing org_id",
            sign(
                &header(Some("k1")),
                &with(|c| {
                    c.remove("org_id");
                }),
                &ours.signer,
            ),
        ),
        (
            "jku to the attacker",
            sign(&jku, &claims(), &attacker.signer),
        ),
        (
            "attacker key, our kid",
            sign(&header(Some("k1")), &claims(), &attacker.signer),
        ),
        (
            "oversized",
            sign(
                &header(Some("k1")),
                &with(|c| {
                    c.insert("pad".into(), json!("x".repeat(9000)));
                }),
                &ours.signer,
            ),
        ),
        ("garbage", "not-a-token".into()),
        ("API-key shaped garbage", format!("clm_{}", "a".repeat(60))),
    ];
    for (name, token) in &attacks {
        let resp = app.get_as("/api/orgs/acme", token).await;
        assert_eq!(resp.status(), 401, "{name}");
        assert_eq!(
            resp.headers()["www-authenticate"],
            "Bearer realm=\"clment\", error=\"invalid_token\"",
            "{name}"
        );
        assert_problem(resp, 401, "unauthenticated").await;
    }
    assert_eq!(
        touches(&app, "acme"),
        0,
        "a refused token reached tenant data"
    );
    assert!(audit_events(&app, "acme").await.is_empty());

    // The same server accepts the genuine token.
    assert_eq!(app.get_as("/api/orgs/acme", &valid).await.status(), 200);
}
