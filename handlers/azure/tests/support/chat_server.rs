//! Not the real Azure OpenAI service: a local stand-in speaking the documented OpenAI-compatible
//! chat-completions wire protocol (`POST /openai/deployments/<deployment>/chat/completions?api-version=…`
//! or `POST /openai/v1/chat/completions`, a JSON request with `messages`, and a `chat.completion`
//! object with `choices[].message.content`, `finish_reason` and `usage` back), on loopback over
//! plain HTTP. It records every request (method, path, query, headers, raw and parsed body, arrival
//! time) and answers what each test scripts: well-formed completions, throttling with
//! `retry-after-ms`, server errors, content-filter answers, or nothing at all for a long time. It
//! checks nothing itself: the tests assert on what it saw.

// Included by test binaries that use only part of it.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use warp::Filter as _;

/// One request as the server saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    /// `POST`.
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The query parameters.
    pub query: HashMap<String, String>,
    /// The headers, names lowercase.
    pub headers: HashMap<String, String>,
    /// The body as sent.
    pub raw_body: String,
    /// The body parsed (`Null` when it is not JSON).
    pub body: Value,
    /// When it arrived.
    pub at: Instant,
}

impl Seen {
    /// The `content` of message `i`.
    pub fn message(&self, i: usize) -> &str {
        self.body["messages"][i]["content"]
            .as_str()
            .expect("a string content")
    }

    /// The user message (the second) parsed as JSON.
    pub fn user_json(&self) -> Value {
        serde_json::from_str(self.message(1)).expect("the user message is JSON")
    }
}

/// What the server answers to one request.
#[derive(Clone, Debug)]
pub struct Reply {
    /// The status.
    pub status: u16,
    /// Extra headers.
    pub headers: Vec<(&'static str, String)>,
    /// The body.
    pub body: String,
    /// How long to wait before answering.
    pub delay: Duration,
}

impl Reply {
    /// `status` with `body`.
    pub fn status(status: u16, body: impl Into<String>) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: body.into(),
            delay: Duration::ZERO,
        }
    }

    /// Adds a header.
    #[must_use]
    pub fn header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.push((name, value.to_owned()));
        self
    }

    /// Answers only after `delay`.
    #[must_use]
    pub fn after(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// A `chat.completion` whose one choice has `content` (or `null`), `finish_reason` and, when
    /// given, a `refusal`; usage 1234 prompt and 56 completion tokens. Shaped like Azure's answers
    /// (with `prompt_filter_results` and `content_filter_results`).
    pub fn completion(content: Option<&str>, finish_reason: &str, refusal: Option<&str>) -> Self {
        Self::status(
            200,
            json!({
                "id": "chatcmpl-stand-in",
                "object": "chat.completion",
                "created": 1_732_000_000,
                "model": "gpt-4o-2024-08-06",
                "system_fingerprint": "fp_stand_in",
                "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": {}}],
                "choices": [{
                    "index": 0,
                    "finish_reason": finish_reason,
                    "logprobs": null,
                    "message": {"role": "assistant", "content": content, "refusal": refusal},
                    "content_filter_results": {},
                }],
                "usage": {"prompt_tokens": 1234, "completion_tokens": 56, "total_tokens": 1290},
            })
            .to_string(),
        )
    }

    /// A normal completion whose content is `answer` (serialised).
    pub fn answer(answer: &Value) -> Self {
        Self::completion(Some(&answer.to_string()), "stop", None)
    }
}

type Script = dyn Fn(usize, &Seen) -> Reply + Send + Sync;

/// A running stand-in.
pub struct ChatServer {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl ChatServer {
    /// Starts a server on loopback answering request `n` (from 0) with `script(n, request)`.
    pub async fn start(script: impl Fn(usize, &Seen) -> Reply + Send + Sync + 'static) -> Self {
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
                        let raw_body = String::from_utf8_lossy(&body).into_owned();
                        let request = Seen {
                            method: method.to_string(),
                            path: path.as_str().to_owned(),
                            query,
                            headers: headers
                                .iter()
                                .map(|(k, v)| {
                                    (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned())
                                })
                                .collect(),
                            body: serde_json::from_str(&raw_body).unwrap_or(Value::Null),
                            raw_body,
                            at: Instant::now(),
                        };
                        let n = {
                            let mut seen = record.lock().unwrap();
                            seen.push(request.clone());
                            seen.len() - 1
                        };
                        let reply = script(n, &request);
                        tokio::time::sleep(reply.delay).await;
                        let mut response = http::Response::builder()
                            .status(reply.status)
                            .header("content-type", "application/json")
                            .header("apim-request-id", "stand-in");
                        for (k, v) in reply.headers {
                            response = response.header(k, v);
                        }
                        response.body(reply.body).expect("response")
                    }
                },
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(warp::serve(route).incoming(listener).run());
        Self {
            url: format!("http://{addr}"),
            seen,
        }
    }

    /// Every request so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}
