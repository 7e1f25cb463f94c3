//! Not the real Azure OpenAI service: a local server speaking the documented embeddings wire protocol
//! (`POST /openai/deployments/<deployment>/embeddings?api-version=2024-10-21`, an `input` array in,
//! `data[].{index, embedding}` out), on loopback over plain HTTP. It records every request and answers
//! what each test scripts, so the tests check what the adapter sends (path, query, auth headers, JSON)
//! and how it handles answers: batching, order, throttling, server errors, timeouts, bad answers.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use azure_core::credentials::{AccessToken, Secret, TokenCredential, TokenRequestOptions};
use clment_azure::embed::{AzureOpenAiEmbedder, EmbedAuth, EmbedderConfig, TOKEN_SCOPE, Url};
use clment_common::ports::{Embedder, PortError};
use secrecy::SecretString;
use serde_json::{Value, json};
use warp::Filter as _;

const DEPLOYMENT: &str = "emb-3-small";
const DIMS: usize = 4;
const API_KEY: &str = "test-api-key-123";
/// Planted in inputs (and echoed back by misbehaving servers): must never reach an error.
const CANARY: &str = "CANARY-7f3a-contract-text";

/// One request as the server saw it.
#[derive(Clone, Debug)]
struct Seen {
    method: String,
    path: String,
    query: HashMap<String, String>,
    headers: HashMap<String, String>,
    body: Value,
    at: Instant,
}

impl Seen {
    fn inputs(&self) -> Vec<String> {
        self.body["input"]
            .as_array()
            .expect("input is an array")
            .iter()
            .map(|v| v.as_str().expect("string input").to_owned())
            .collect()
    }
}

/// What the server answers to one request.
struct Answer {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
    delay: Duration,
}

impl Answer {
    fn status(status: u16, body: impl Into<String>) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: body.into(),
            delay: Duration::ZERO,
        }
    }

    fn header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.push((name, value.to_owned()));
        self
    }
}

/// The vector for one input: `[n, len, 0.5, -0.5, ...]` where `n` is the number after the input's
/// last space (so tests can check order), padded to `dims`.
fn vector_for(input: &str, dims: usize) -> Vec<f32> {
    let n: f32 = input
        .rsplit(' ')
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(-1.0);
    #[allow(clippy::cast_precision_loss)]
    let len = input.chars().count() as f32;
    let mut v = vec![n, len, 0.5, -0.5];
    v.resize(dims, 0.25);
    v
}

/// A well-formed answer to `body`, with `data` in reverse order (the index says where each belongs).
fn vectors(body: &Value, dims: usize) -> Answer {
    let inputs = body["input"].as_array().cloned().unwrap_or_default();
    let mut data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(i, input)| {
            json!({
                "object": "embedding",
                "index": i,
                "embedding": vector_for(input.as_str().unwrap_or_default(), dims),
            })
        })
        .collect();
    data.reverse();
    Answer::status(
        200,
        json!({
            "object": "list",
            "model": "text-embedding-3-small",
            "data": data,
            "usage": { "prompt_tokens": 7, "total_tokens": 7 },
        })
        .to_string(),
    )
}

type Script = dyn Fn(usize, &Value) -> Answer + Send + Sync;

struct Server {
    url: Url,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Server {
    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

/// Starts a server on loopback answering request `n` (from 0) with `script(n, body)`.
async fn serve(script: impl Fn(usize, &Value) -> Answer + Send + Sync + 'static) -> Server {
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let script: Arc<Script> = Arc::new(script);
    let record = seen.clone();
    let route = warp::method()
        .and(warp::path::full())
        .and(warp::query::<HashMap<String, String>>())
        .and(warp::header::headers_cloned())
        .and(warp::body::bytes())
        .then(
            move |method: http::Method,
                  path: warp::path::FullPath,
                  query: HashMap<String, String>,
                  headers: http::HeaderMap,
                  body: bytes::Bytes| {
                let record = record.clone();
                let script = script.clone();
                async move {
                    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    let n = {
                        let mut seen = record.lock().unwrap();
                        seen.push(Seen {
                            method: method.to_string(),
                            path: path.as_str().to_owned(),
                            query,
                            headers: headers
                                .iter()
                                .map(|(k, v)| {
                                    (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned())
                                })
                                .collect(),
                            body: body.clone(),
                            at: Instant::now(),
                        });
                        seen.len() - 1
                    };
                    let answer = script(n, &body);
                    tokio::time::sleep(answer.delay).await;
                    let mut response = http::Response::builder()
                        .status(answer.status)
                        .header("content-type", "application/json");
                    for (k, v) in answer.headers {
                        response = response.header(k, v);
                    }
                    response.body(answer.body).expect("response")
                }
            },
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(warp::serve(route).incoming(listener).run());
    Server {
        url: format!("http://{addr}").parse().unwrap(),
        seen,
    }
}

fn config(server: &Server) -> EmbedderConfig {
    let mut c = EmbedderConfig::new(
        server.url.clone(),
        DEPLOYMENT,
        DIMS,
        EmbedAuth::ApiKey(SecretString::from(API_KEY.to_owned())),
    );
    // Quick retries: these tests script their failures.
    c.initial_backoff = Duration::from_millis(20);
    c.max_backoff = Duration::from_millis(100);
    c.request_timeout = Duration::from_secs(10);
    c
}

fn embedder(config: EmbedderConfig) -> AzureOpenAiEmbedder {
    AzureOpenAiEmbedder::new(config).expect("embedder")
}

fn texts(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("chunk of a contract {i}")).collect()
}

fn assert_no_canary(err: &PortError) {
    assert!(!format!("{err}").contains("CANARY"), "{err}");
    assert!(!format!("{err:?}").contains("CANARY"), "{err:?}");
}

#[tokio::test]
async fn sends_the_documented_request_with_the_api_key() {
    let server = serve(|_, body| vectors(body, DIMS)).await;
    let mut c = config(&server);
    c.send_dimensions = true;
    let e = embedder(c);
    assert_eq!(e.dimensions(), DIMS);
    let inputs = vec!["Vertragsstrafe über 5 % 0".to_owned(), "契約 1".to_owned()];
    let out = e.embed(&inputs).await.expect("embed");
    assert_eq!(
        out,
        vec![vector_for(&inputs[0], DIMS), vector_for(&inputs[1], DIMS)]
    );

    let seen = server.seen();
    assert_eq!(seen.len(), 1);
    let r = &seen[0];
    assert_eq!(r.method, "POST");
    assert_eq!(
        r.path,
        format!("/openai/deployments/{DEPLOYMENT}/embeddings")
    );
    assert_eq!(
        r.query.get("api-version").map(String::as_str),
        Some("2024-10-21")
    );
    assert_eq!(r.query.len(), 1, "{:?}", r.query);
    assert_eq!(r.headers.get("api-key").map(String::as_str), Some(API_KEY));
    assert!(!r.headers.contains_key("authorization"), "{:?}", r.headers);
    assert_eq!(
        r.headers.get("content-type").map(String::as_str),
        Some("application/json")
    );
    assert_eq!(r.inputs(), inputs);
    assert_eq!(r.body["model"], DEPLOYMENT);
    assert_eq!(r.body["dimensions"], DIMS);
}

#[tokio::test]
async fn dimensions_are_sent_only_when_configured() {
    let server = serve(|_, body| vectors(body, DIMS)).await;
    let e = embedder(config(&server));
    e.embed(&texts(2)).await.expect("embed");
    let body = &server.seen()[0].body;
    assert!(body.get("dimensions").is_none(), "{body}");
    assert!(body.get("encoding_format").is_none(), "{body}");
}

#[tokio::test]
async fn nothing_to_embed_sends_nothing() {
    let server = serve(|_, body| vectors(body, DIMS)).await;
    let out = embedder(config(&server)).embed(&[]).await.expect("embed");
    assert!(out.is_empty());
    assert!(server.seen().is_empty());
}

/// A stand-in for the managed identity: hands out a fixed token and counts the calls.
#[derive(Debug)]
struct FakeCredential {
    calls: AtomicUsize,
    scopes: Mutex<Vec<String>>,
    lifetime: time::Duration,
}

impl FakeCredential {
    fn new(lifetime: time::Duration) -> Arc<Self> {
        Arc::new(Self {
            calls: AtomicUsize::new(0),
            scopes: Mutex::default(),
            lifetime,
        })
    }
}

#[async_trait]
impl TokenCredential for FakeCredential {
    async fn get_token(
        &self,
        scopes: &[&str],
        _options: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        self.scopes
            .lock()
            .unwrap()
            .extend(scopes.iter().map(|s| (*s).to_owned()));
        Ok(AccessToken::new(
            Secret::new(format!("fake-entra-token-{n}")),
            time::OffsetDateTime::now_utc() + self.lifetime,
        ))
    }
}

#[tokio::test]
async fn entra_id_sends_a_bearer_token_and_caches_it() {
    let server = serve(|_, body| vectors(body, DIMS)).await;
    let credential = FakeCredential::new(time::Duration::hours(1));
    let mut c = config(&server);
    c.auth = EmbedAuth::Credential(credential.clone());
    let e = embedder(c);
    e.embed(&texts(3)).await.expect("first");
    e.embed(&texts(2)).await.expect("second");

    let seen = server.seen();
    assert_eq!(seen.len(), 2);
    for r in &seen {
        assert_eq!(
            r.path,
            format!("/openai/deployments/{DEPLOYMENT}/embeddings")
        );
        assert_eq!(
            r.query.get("api-version").map(String::as_str),
            Some("2024-10-21")
        );
        assert_eq!(
            r.headers.get("authorization").map(String::as_str),
            Some("Bearer fake-entra-token-0")
        );
        assert!(!r.headers.contains_key("api-key"), "{:?}", r.headers);
    }
    // One token for both calls: it is cached until near its expiry.
    assert_eq!(credential.calls.load(Ordering::SeqCst), 1);
    assert_eq!(
        *credential.scopes.lock().unwrap(),
        vec![TOKEN_SCOPE.to_owned()]
    );
    assert!(!format!("{e:?}").contains("fake-entra-token"));
}

#[tokio::test]
async fn a_token_near_its_expiry_is_replaced_before_the_next_call() {
    let server = serve(|_, body| vectors(body, DIMS)).await;
    // Expires within the refresh margin: every call fetches a new one.
    let credential = FakeCredential::new(time::Duration::minutes(2));
    let mut c = config(&server);
    c.auth = EmbedAuth::Credential(credential.clone());
    let e = embedder(c);
    e.embed(&texts(1)).await.expect("first");
    e.embed(&texts(1)).await.expect("second");
    let auth: Vec<_> = server
        .seen()
        .iter()
        .map(|r| r.headers["authorization"].clone())
        .collect();
    assert_eq!(
        auth,
        ["Bearer fake-entra-token-0", "Bearer fake-entra-token-1"]
    );
    assert_eq!(credential.calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn inputs_go_out_in_batches_and_come_back_in_order() {
    let server = serve(|_, body| vectors(body, DIMS)).await;
    let e = embedder(config(&server)); // batch size 64 (the default)
    let inputs = texts(150);
    let out = e.embed(&inputs).await.expect("embed");
    assert_eq!(out.len(), 150);
    for (i, v) in out.iter().enumerate() {
        assert_eq!(v, &vector_for(&inputs[i], DIMS), "vector {i}");
    }
    let seen = server.seen();
    let sizes: Vec<_> = seen.iter().map(|r| r.inputs().len()).collect();
    assert_eq!(sizes, [64, 64, 22]);
    let sent: Vec<String> = seen.iter().flat_map(Seen::inputs).collect();
    assert_eq!(sent, inputs);
}

#[tokio::test]
async fn a_batch_size_is_configurable() {
    let server = serve(|_, body| vectors(body, DIMS)).await;
    let mut c = config(&server);
    c.batch_size = 2;
    let out = embedder(c).embed(&texts(5)).await.expect("embed");
    assert_eq!(out.len(), 5);
    let sizes: Vec<_> = server.seen().iter().map(|r| r.inputs().len()).collect();
    assert_eq!(sizes, [2, 2, 1]);
}

#[tokio::test]
async fn throttling_waits_as_long_as_the_service_asks() {
    let server = serve(|n, body| {
        if n == 0 {
            Answer::status(
                429,
                json!({"error": {"code": "429", "message": "Requests have exceeded the rate limit."}})
                    .to_string(),
            )
            .header("retry-after", "1")
        } else {
            vectors(body, DIMS)
        }
    })
    .await;
    let e = embedder(config(&server));
    let inputs = texts(3);
    let out = e.embed(&inputs).await.expect("embed after one 429");
    assert_eq!(out[2], vector_for(&inputs[2], DIMS));
    let seen = server.seen();
    assert_eq!(seen.len(), 2);
    let waited = seen[1].at - seen[0].at;
    assert!(
        waited >= Duration::from_millis(950),
        "waited only {waited:?}"
    );
    assert!(waited < Duration::from_secs(5), "waited {waited:?}");
    assert_eq!(seen[1].inputs(), inputs);
}

#[tokio::test]
async fn retry_after_ms_is_preferred() {
    let server = serve(|n, body| {
        if n == 0 {
            Answer::status(429, "{}")
                .header("retry-after", "30")
                .header("retry-after-ms", "300")
        } else {
            vectors(body, DIMS)
        }
    })
    .await;
    embedder(config(&server))
        .embed(&texts(1))
        .await
        .expect("embed");
    let seen = server.seen();
    let waited = seen[1].at - seen[0].at;
    assert!(
        waited >= Duration::from_millis(280) && waited < Duration::from_secs(5),
        "waited {waited:?}"
    );
}

#[tokio::test]
async fn a_wait_longer_than_allowed_fails_at_once() {
    let server = serve(|_, _| Answer::status(429, "{}").header("retry-after", "3600")).await;
    let err = embedder(config(&server))
        .embed(&texts(1))
        .await
        .expect_err("too long a wait");
    assert!(
        matches!(&err, PortError::Unavailable(m) if m.contains("429")),
        "{err}"
    );
    assert_eq!(server.seen().len(), 1);
}

#[tokio::test]
async fn persistent_server_errors_fail_after_the_retries_without_any_input() {
    // The server echoes the input in its error body, as a careless proxy might.
    let server = serve(|_, body| {
        Answer::status(
            500,
            json!({"error": {"message": body.to_string()}}).to_string(),
        )
    })
    .await;
    let mut c = config(&server);
    c.max_retries = 2;
    let inputs = vec![format!("{CANARY} clause 0"), format!("other {CANARY} 1")];
    let started = Instant::now();
    let err = embedder(c).embed(&inputs).await.expect_err("500s");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(server.seen().len(), 3, "one attempt and two retries");
    assert!(
        matches!(&err, PortError::Unavailable(m) if m.contains("500")),
        "{err}"
    );
    assert!(format!("{err}").contains("3 attempts"), "{err}");
    assert_no_canary(&err);
}

#[tokio::test]
async fn client_errors_are_not_retried() {
    let server = serve(|_, body| {
        Answer::status(
            400,
            json!({"error": {"message": body.to_string()}}).to_string(),
        )
    })
    .await;
    let err = embedder(config(&server))
        .embed(&[format!("{CANARY} 0")])
        .await
        .expect_err("400");
    assert_eq!(server.seen().len(), 1);
    assert!(
        matches!(&err, PortError::Unavailable(m) if m.contains("400")),
        "{err}"
    );
    assert_no_canary(&err);
}

#[tokio::test]
async fn a_slow_answer_times_out_and_is_retried() {
    let server = serve(|n, body| {
        let mut a = vectors(body, DIMS);
        if n == 0 {
            a.delay = Duration::from_secs(3);
        }
        a
    })
    .await;
    let mut c = config(&server);
    c.request_timeout = Duration::from_millis(300);
    let out = embedder(c).embed(&texts(2)).await.expect("second attempt");
    assert_eq!(out.len(), 2);
    assert_eq!(server.seen().len(), 2);
}

#[tokio::test]
async fn answers_that_do_not_match_the_request_are_refused() {
    // One vector short.
    let short = serve(|_, body| {
        let mut v: Value = serde_json::from_str(&vectors(body, DIMS).body).unwrap();
        v["data"].as_array_mut().unwrap().pop();
        Answer::status(200, v.to_string())
    })
    .await;
    let err = embedder(config(&short))
        .embed(&texts(3))
        .await
        .expect_err("short");
    assert!(
        matches!(&err, PortError::Unavailable(m) if m.contains("2 vectors for 3 inputs")),
        "{err}"
    );
    assert_eq!(short.seen().len(), 1, "not retried");

    // Vectors of the wrong length.
    let long = serve(|_, body| vectors(body, DIMS + 1)).await;
    let err = embedder(config(&long))
        .embed(&texts(2))
        .await
        .expect_err("long");
    assert!(
        matches!(&err, PortError::Unavailable(m) if m.contains("length 5")),
        "{err}"
    );

    // The same index twice.
    let twice = serve(|_, body| {
        let mut v: Value = serde_json::from_str(&vectors(body, DIMS).body).unwrap();
        for item in v["data"].as_array_mut().unwrap() {
            item["index"] = json!(0);
        }
        Answer::status(200, v.to_string())
    })
    .await;
    let err = embedder(config(&twice))
        .embed(&texts(2))
        .await
        .expect_err("twice");
    assert!(
        matches!(&err, PortError::Unavailable(m) if m.contains("indexes")),
        "{err}"
    );
}

#[tokio::test]
async fn a_malformed_answer_is_refused_without_quoting_it() {
    let server =
        serve(|_, body| Answer::status(200, format!("{{\"echo\": {body}, \"data\": 7}}"))).await;
    let err = embedder(config(&server))
        .embed(&[format!("{CANARY} 0")])
        .await
        .expect_err("malformed");
    assert!(
        matches!(&err, PortError::Unavailable(m) if m.contains("not an embeddings response")),
        "{err}"
    );
    assert_no_canary(&err);
    assert_eq!(server.seen().len(), 1);
}

#[tokio::test]
async fn an_unreachable_service_fails_after_the_retries() {
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut c = EmbedderConfig::new(
        format!("http://127.0.0.1:{port}").parse().unwrap(),
        DEPLOYMENT,
        DIMS,
        EmbedAuth::ApiKey(SecretString::from(API_KEY.to_owned())),
    );
    c.max_retries = 1;
    c.initial_backoff = Duration::from_millis(10);
    let err = embedder(c)
        .embed(&[format!("{CANARY} 0")])
        .await
        .expect_err("no server");
    assert!(
        matches!(&err, PortError::Unavailable(m) if m.contains("2 attempts")),
        "{err}"
    );
    assert_no_canary(&err);
}
