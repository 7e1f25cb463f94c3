//! The `foundry` review provider against a local stand-in for Azure OpenAI chat completions
//! (`support/chat_server.rs`): not the real service, a loopback server speaking the documented
//! OpenAI-compatible wire protocol. The tests check what the provider sends (route, query, auth
//! headers, `store: false`, `temperature: 0`, the strict schema, only the selected passages, contract
//! text only in the message body) and how it reads scripted answers: findings and quotes, a
//! hallucinated quote through the whole review pipeline, throttling, timeouts, server errors,
//! content filters, broken answers, and that nothing of the contract reaches an error or a log line.

#[path = "support/chat_server.rs"]
mod chat_server;

use std::io::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use azure_core::credentials::{AccessToken, Secret, TokenCredential, TokenRequestOptions};
use chat_server::{ChatServer, Reply, Seen};
use clment_azure::foundry::{
    FoundryAuth, FoundryConfig, FoundryProvider, INSTRUCTIONS, SCHEMA_NAME, TOKEN_SCOPE, V1,
    response_schema,
};
use clment_common::domain::ContractId;
use clment_common::ports::Extracted;
use clment_common::review::context::{Evidence, Passage, SelectOptions, Selection};
use clment_common::review::{
    Category, ProviderAnswer, ProviderError, ProviderRequest, ReviewDocument, ReviewProvider,
    RiskLevel, run,
};
use secrecy::SecretString;
use serde_json::{Value, json};

const DEPLOYMENT: &str = "gpt-4o-review";
const API_KEY: &str = "test-api-key-123";
/// Planted in a selected passage: it may appear in the request's messages and nowhere else.
const CANARY: &str = "CANARY-7f3a";
/// Planted in a passage that is not selected: it must not be sent at all.
const UNSENT: &str = "UNSENT-91c2";

const GOVERNING: &str = "This Agreement shall be governed by the laws of the State of Delaware";
const RENEWAL: &str = "this Agreement shall automatically renew for successive one-year terms";

/// A contract of several chunks: the governing-law clause (with the canary) near the start, the
/// unsent marker in the middle, the renewal clause at the end.
fn contract() -> ReviewDocument {
    let mut text = String::from(
        "MASTER SUPPLY AGREEMENT\n\nThis Master Supply Agreement is made on May 8, 2014 between \
         Acme Corp. and Globex Ltd.\n\n1. GOVERNING LAW\n\n",
    );
    text.push_str(&format!(
        "{GOVERNING}, without regard to its conflict of laws rules. Reference {CANARY}.\n\n"
    ));
    for (i, topic) in [
        "delivery",
        "pricing",
        "invoicing",
        "warranty",
        "audits",
        "insurance",
    ]
    .iter()
    .enumerate()
    {
        text.push_str(&format!("{}. {}\n\n", i + 2, topic.to_uppercase()));
        for j in 0..4 {
            text.push_str(&format!(
                "Clause {}.{j} on {topic}: the Supplier shall keep records of {topic} number {j} \
                 and make them available to the Buyer upon reasonable written request. ",
                i + 2
            ));
        }
        if *topic == "invoicing" {
            text.push_str(&format!("Internal marker {UNSENT}. "));
        }
        text.push_str("\n\n");
    }
    text.push_str(&format!(
        "8. TERM\n\nUnless terminated earlier, {RENEWAL} unless either party gives ninety days \
         notice.\n"
    ));
    ReviewDocument::new(
        ContractId::new(),
        Extracted {
            text,
            pages: vec![0],
        },
    )
}

/// The chunk holding the first occurrence of `needle`.
fn chunk_of(doc: &ReviewDocument, needle: &str) -> u32 {
    let text = doc.text().expose_to_provider();
    let byte = text.find(needle).expect("needle in the contract");
    doc.chunk_of(text[..byte].chars().count() as u64)
}

/// Three categories, in taxonomy order (as the pipeline passes them).
fn categories() -> Vec<&'static Category> {
    let mut cats: Vec<_> = ["governing-law", "parties", "renewal-term"]
        .iter()
        .map(|k| Category::find(k).unwrap())
        .collect();
    cats.sort_by_key(|c| c.index());
    cats
}

const KEYS: [&str; 3] = ["parties", "renewal-term", "governing-law"];

/// The passages holding the two clauses (their chunks; not the unsent marker's).
fn selection(doc: &ReviewDocument) -> Selection {
    let mut chunks = vec![chunk_of(doc, GOVERNING), chunk_of(doc, RENEWAL)];
    chunks.sort_unstable();
    chunks.dedup();
    assert!(!chunks.contains(&chunk_of(doc, UNSENT)), "bad fixture");
    Selection {
        groups: Vec::new(),
        passages: chunks
            .iter()
            .map(|&k| {
                let c = doc.chunks()[k as usize];
                Passage {
                    start: c.start,
                    end: c.end,
                    start_byte: c.start_byte,
                    end_byte: c.end_byte,
                    chunk: k,
                }
            })
            .collect(),
        ..Selection::default()
    }
}

/// The id of the sent passage holding the first occurrence of `needle` (its index in
/// [`selection`]).
fn passage_of(doc: &ReviewDocument, needle: &str) -> u32 {
    let text = doc.text().expose_to_provider();
    let at = text[..text.find(needle).expect("needle in the contract")]
        .chars()
        .count() as u64;
    let i = selection(doc)
        .passages
        .iter()
        .position(|p| p.start <= at && at < p.end)
        .expect("needle in a sent passage");
    u32::try_from(i).unwrap()
}

fn config(server: &ChatServer) -> FoundryConfig {
    let mut c = FoundryConfig::new(
        server.url.parse().unwrap(),
        DEPLOYMENT,
        FoundryAuth::ApiKey(SecretString::from(API_KEY.to_owned())),
    );
    // Quick retries: these tests script their failures.
    c.initial_backoff = Duration::from_millis(20);
    c.max_backoff = Duration::from_millis(100);
    c.request_timeout = Duration::from_secs(10);
    c.deadline = Duration::from_secs(20);
    c
}

fn provider(config: FoundryConfig) -> FoundryProvider {
    FoundryProvider::new(config).expect("provider")
}

async fn review(p: &FoundryProvider) -> Result<ProviderAnswer, ProviderError> {
    let doc = contract();
    let cats = categories();
    let sel = selection(&doc);
    p.review(&ProviderRequest {
        document: &doc,
        categories: &cats,
        selection: &sel,
    })
    .await
}

/// A good answer for [`contract`]: quotes from the passages the request carried.
fn good_answer(doc: &ReviewDocument) -> Value {
    json!({
        "findings": [
            {
                "category": "governing-law",
                "present": true,
                "quotes": [{"passage": passage_of(doc, GOVERNING), "text": GOVERNING}],
                "answer": "Delaware",
                "risk": "low",
                "reason": "A common, neutral choice of law.",
            },
            {
                "category": "renewal-term",
                "present": true,
                "quotes": [{"passage": passage_of(doc, RENEWAL), "text": RENEWAL}],
                "answer": "successive one-year terms",
                "risk": "medium",
                "reason": "Renews on its own unless someone gives notice in time.",
            },
            {
                "category": "parties",
                "present": false,
                "quotes": [],
                "answer": null,
                "risk": null,
                "reason": null,
            },
        ],
        "summary": "A supply agreement between two companies, renewing yearly.",
    })
}

fn assert_no_contract_text(err: &ProviderError) {
    for s in [format!("{err}"), format!("{err:?}")] {
        assert!(!s.contains("CANARY") && !s.contains("UNSENT"), "{s}");
        assert!(!s.contains("Delaware"), "{s}");
    }
}

/// Contract text is in the user message only: not in the path, the query or any header, and not in
/// any other part of the body.
fn assert_text_only_in_the_user_message(r: &Seen) {
    for marker in [CANARY, "Delaware", UNSENT] {
        assert!(!r.path.contains(marker), "{}", r.path);
        for (k, v) in &r.query {
            assert!(!k.contains(marker) && !v.contains(marker), "{k}={v}");
        }
        for (k, v) in &r.headers {
            assert!(!k.contains(marker) && !v.contains(marker), "{k}: {v}");
        }
    }
    assert!(r.message(1).contains(CANARY));
    let mut rest = r.body.clone();
    rest["messages"][1]["content"] = json!("");
    assert!(!rest.to_string().contains(CANARY), "{rest}");
}

/// As [`assert_text_only_in_the_user_message`], and the passage that was not selected was not sent.
fn assert_only_the_selection_sent(r: &Seen) {
    assert_text_only_in_the_user_message(r);
    assert!(
        !r.raw_body.contains(UNSENT),
        "an unselected passage was sent"
    );
}

#[tokio::test]
async fn sends_the_documented_request_with_the_api_key() {
    let doc = contract();
    let answer = good_answer(&doc);
    let server = ChatServer::start(move |_, _| Reply::answer(&answer)).await;
    let p = provider(config(&server));
    review(&p).await.expect("review");

    let seen = server.seen();
    assert_eq!(seen.len(), 1);
    let r = &seen[0];
    assert_eq!(r.method, "POST");
    assert_eq!(
        r.path,
        format!("/openai/deployments/{DEPLOYMENT}/chat/completions")
    );
    assert_eq!(r.query.len(), 1, "{:?}", r.query);
    assert_eq!(
        r.query.get("api-version").map(String::as_str),
        Some("2024-10-21")
    );
    assert_eq!(r.headers.get("api-key").map(String::as_str), Some(API_KEY));
    assert!(!r.headers.contains_key("authorization"), "{:?}", r.headers);
    assert_eq!(
        r.headers.get("content-type").map(String::as_str),
        Some("application/json")
    );

    let b = &r.body;
    assert_eq!(b["model"], DEPLOYMENT);
    assert_eq!(b["temperature"].as_f64(), Some(0.0));
    // 2024-10-21 has no stored completions (and has refused the parameter): not sent.
    assert!(b.get("store").is_none(), "{b}");
    assert_eq!(b["max_tokens"], json!(8192));
    assert!(b.get("max_completion_tokens").is_none(), "{b}");
    assert!(b.get("stream").is_none(), "{b}");
    assert_eq!(b["response_format"]["type"], "json_schema");
    assert_eq!(b["response_format"]["json_schema"]["name"], SCHEMA_NAME);
    assert_eq!(b["response_format"]["json_schema"]["strict"], json!(true));
    assert_eq!(
        b["response_format"]["json_schema"]["schema"],
        serde_json::to_value(response_schema(&categories())).unwrap()
    );

    // Two messages: the constant instructions, then the categories and the selected passages.
    let messages = b["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0]["role"], "system");
    assert_eq!(r.message(0), INSTRUCTIONS);
    assert_eq!(messages[1]["role"], "user");
    let user = r.user_json();
    let keys: Vec<&str> = user["categories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, KEYS);
    let gl = Category::find("governing-law").unwrap();
    assert_eq!(
        user["categories"][2],
        json!({"key": gl.key, "name": gl.name, "description": gl.description, "answer": "jurisdiction"})
    );
    let sel = selection(&doc);
    let passages = user["passages"].as_array().unwrap();
    let text = doc.text().expose_to_provider();
    assert_eq!(passages.len(), sel.passages.len());
    for (i, (p, sent)) in passages.iter().zip(&sel.passages).enumerate() {
        assert_eq!(p["passage"], json!(i));
        assert_eq!(
            p["text"].as_str(),
            Some(&text[sent.start_byte..sent.end_byte])
        );
    }
    assert_eq!(
        user.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["categories", "passages"]
    );
    assert_only_the_selection_sent(r);
}

/// Every object in the schema requires all its properties and allows no others.
fn assert_strict(schema: &Value, at: &str) {
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        let mut required: Vec<&str> = schema["required"]
            .as_array()
            .unwrap_or_else(|| panic!("{at}: no required"))
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        required.sort_unstable();
        let mut keys: Vec<&str> = props.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(required, keys, "{at}");
        assert_eq!(schema["additionalProperties"], json!(false), "{at}");
        for (k, v) in props {
            assert_strict(v, &format!("{at}.{k}"));
        }
    }
    if let Some(items) = schema.get("items") {
        assert_strict(items, &format!("{at}[]"));
    }
}

#[tokio::test]
async fn the_response_schema_is_strict() {
    let doc = contract();
    let answer = good_answer(&doc);
    let server = ChatServer::start(move |_, _| Reply::answer(&answer)).await;
    review(&provider(config(&server))).await.expect("review");
    let sent = server.seen()[0].body["response_format"].clone();
    insta::assert_json_snapshot!("response_format", sent);

    let schema = &sent["json_schema"]["schema"];
    assert_strict(schema, "$");
    let finding = &schema["properties"]["findings"]["items"]["properties"];
    assert_eq!(finding["category"]["enum"], json!(KEYS));
    for nullable in ["answer", "risk", "reason"] {
        assert_eq!(finding[nullable]["type"], json!(["string", "null"]));
    }
    assert_eq!(
        finding["risk"]["enum"],
        json!(["low", "medium", "high", null])
    );
    // The model writes properties in schema order: the quotes before the answer, the risk before
    // its reason, the findings before the summary.
    let raw = &server.seen()[0].raw_body;
    let schema_at = raw.find("\"schema\"").unwrap();
    let at = |k: &str| schema_at + raw[schema_at..].find(&format!("\"{k}\"")).unwrap();
    assert!(at("findings") < at("summary"));
    assert!(at("category") < at("present") && at("present") < at("quotes"));
    assert!(at("quotes") < at("answer") && at("answer") < at("risk") && at("risk") < at("reason"));
}

#[tokio::test]
async fn versions_with_stored_completions_get_store_false() {
    let doc = contract();
    let answer = good_answer(&doc);
    let server = ChatServer::start(move |_, _| Reply::answer(&answer)).await;
    let mut c = config(&server);
    c.api_version = "2025-04-01-preview".into();
    review(&provider(c)).await.expect("review");
    let r = &server.seen()[0];
    assert_eq!(
        r.query.get("api-version").map(String::as_str),
        Some("2025-04-01-preview")
    );
    assert_eq!(r.body["store"], json!(false));
    assert_eq!(r.body["temperature"].as_f64(), Some(0.0));
    assert_only_the_selection_sent(r);
}

#[tokio::test]
async fn the_v1_route_sends_the_deployment_as_the_model() {
    let doc = contract();
    let answer = good_answer(&doc);
    let server = ChatServer::start(move |_, _| Reply::answer(&answer)).await;
    let mut c = config(&server);
    c.api_version = V1.into();
    c.max_output_tokens = 3000;
    review(&provider(c)).await.expect("review");
    let r = &server.seen()[0];
    assert_eq!(r.path, "/openai/v1/chat/completions");
    assert!(r.query.is_empty(), "{:?}", r.query);
    assert_eq!(r.body["model"], DEPLOYMENT);
    assert_eq!(r.body["max_completion_tokens"], json!(3000));
    assert!(r.body.get("max_tokens").is_none());
    assert_eq!(r.body["store"], json!(false));
    assert_eq!(r.headers.get("api-key").map(String::as_str), Some(API_KEY));
    assert_only_the_selection_sent(r);
}

/// A stand-in for the managed identity: hands out a fixed token and counts the calls.
#[derive(Debug, Default)]
struct FakeCredential {
    calls: AtomicUsize,
    scopes: Mutex<Vec<String>>,
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
            time::OffsetDateTime::now_utc() + time::Duration::hours(1),
        ))
    }
}

#[tokio::test]
async fn entra_id_sends_a_cached_bearer_token() {
    let doc = contract();
    let answer = good_answer(&doc);
    let server = ChatServer::start(move |_, _| Reply::answer(&answer)).await;
    let credential = Arc::new(FakeCredential::default());
    for api_version in ["2024-10-21", V1] {
        let mut c = config(&server);
        c.auth = FoundryAuth::Credential(credential.clone());
        c.api_version = api_version.into();
        let p = provider(c);
        review(&p).await.expect("first");
        review(&p).await.expect("second");
        assert!(!format!("{p:?}").contains("fake-entra-token"));
    }
    let seen = server.seen();
    assert_eq!(seen.len(), 4);
    for r in &seen {
        let auth = r.headers.get("authorization").map(String::as_str);
        assert!(
            auth.is_some_and(|a| a.starts_with("Bearer fake-entra-token-")),
            "{auth:?}"
        );
        assert!(!r.headers.contains_key("api-key"), "{:?}", r.headers);
        assert_only_the_selection_sent(r);
    }
    // One token per provider: cached between calls.
    assert_eq!(credential.calls.load(Ordering::SeqCst), 2);
    assert_eq!(
        *credential.scopes.lock().unwrap(),
        vec![TOKEN_SCOPE.to_owned(), TOKEN_SCOPE.to_owned()]
    );
    assert_eq!(TOKEN_SCOPE, "https://cognitiveservices.azure.com/.default");
}

#[tokio::test]
async fn a_good_answer_is_read_into_findings() {
    let doc = contract();
    let mut answer = good_answer(&doc);
    let findings = answer["findings"].as_array_mut().unwrap();
    // Ignored: a category nobody asked for, an unknown one, and a later duplicate.
    findings.push(json!({"category": "non-compete", "present": true,
        "quotes": [{"passage": 0, "text": "Acme Corp."}], "answer": null, "risk": "high", "reason": "x"}));
    findings.push(
        json!({"category": "made-up", "present": true, "quotes": [], "answer": null,
        "risk": null, "reason": null}),
    );
    findings.push(
        json!({"category": "governing-law", "present": false, "quotes": [],
        "answer": null, "risk": null, "reason": null}),
    );
    let server = ChatServer::start(move |_, _| Reply::answer(&answer)).await;
    let a = review(&provider(config(&server))).await.expect("review");

    assert_eq!(a.model.as_deref(), Some(DEPLOYMENT));
    assert_eq!(a.usage.calls, 1);
    assert_eq!(a.usage.prompt_tokens, 1234);
    assert_eq!(a.usage.completion_tokens, 56);
    assert_eq!(
        a.summary.as_deref(),
        Some("A supply agreement between two companies, renewing yearly.")
    );
    let keys: Vec<&str> = a.findings.iter().map(|f| f.category.key).collect();
    assert_eq!(keys, ["governing-law", "renewal-term", "parties"]);
    let gl = &a.findings[0];
    assert!(gl.present);
    assert_eq!(gl.quotes.len(), 1);
    assert_eq!(gl.quotes[0].text.expose_to_provider(), GOVERNING);
    // The passage cited becomes a hint: its chunk and where it starts.
    let sent = selection(&doc).passages[passage_of(&doc, GOVERNING) as usize];
    assert_eq!(gl.quotes[0].chunk, Some(chunk_of(&doc, GOVERNING)));
    assert_eq!(gl.quotes[0].start_hint, Some(sent.start));
    assert_eq!(
        gl.answer.as_ref().map(|t| t.expose_to_provider()),
        Some("Delaware")
    );
    let risk = gl.risk.as_ref().unwrap();
    assert_eq!(risk.level, RiskLevel::Low);
    assert_eq!(risk.reason, "A common, neutral choice of law.");
    let rt = &a.findings[1];
    assert_eq!(rt.quotes[0].chunk, Some(chunk_of(&doc, RENEWAL)));
    assert_eq!(rt.risk.as_ref().unwrap().level, RiskLevel::Medium);
    let parties = &a.findings[2];
    assert!(!parties.present && parties.quotes.is_empty());
    assert!(parties.answer.is_none() && parties.risk.is_none());
    // Debug output of the answer never shows the quotes.
    assert!(!format!("{a:?}").contains("Delaware"));
}

#[tokio::test]
async fn a_quote_of_a_passage_that_was_not_sent_keeps_no_chunk_hint() {
    let doc = contract();
    let unsent = selection(&doc).passages.len();
    let answer = json!({"findings": [{"category": "governing-law", "present": true,
        "quotes": [{"passage": unsent, "text": GOVERNING}, {"passage": -3, "text": GOVERNING}],
        "answer": null, "risk": null, "reason": null}], "summary": ""});
    let server = ChatServer::start(move |_, _| Reply::answer(&answer)).await;
    let a = review(&provider(config(&server))).await.expect("review");
    assert_eq!(a.findings[0].quotes.len(), 2);
    assert!(
        a.findings[0]
            .quotes
            .iter()
            .all(|q| q.chunk.is_none() && q.start_hint.is_none())
    );
    assert_eq!(a.summary, None);
}

#[tokio::test]
async fn nothing_to_send_makes_no_call() {
    let server = ChatServer::start(|_, _| Reply::status(500, "{}")).await;
    let p = provider(config(&server));
    let doc = contract();
    let cats = categories();
    let sel = selection(&doc);
    let none = Selection::default();
    for (categories, selection) in [(&cats[..], &none), (&[][..], &sel)] {
        let a = p
            .review(&ProviderRequest {
                document: &doc,
                categories,
                selection,
            })
            .await
            .expect("an empty answer");
        assert!(a.findings.is_empty());
        assert_eq!(a.usage.calls, 0);
        assert_eq!(a.model.as_deref(), Some(DEPLOYMENT));
    }
    assert!(server.seen().is_empty());
}

#[tokio::test]
async fn a_hallucinated_quote_is_dropped_by_the_review_pipeline() {
    let doc = contract();
    const INVENTED: &str = "This Agreement shall be governed by the laws of the State of Texas";
    let answer = json!({"findings": [
        {"category": "governing-law", "present": true,
         "quotes": [{"passage": 0, "text": GOVERNING},
                    {"passage": 0, "text": INVENTED}],
         "answer": "Delaware", "risk": "low", "reason": "Neutral."},
        {"category": "renewal-term", "present": true,
         "quotes": [{"passage": 1, "text": RENEWAL}],
         "answer": "successive one-year terms", "risk": "medium", "reason": "Auto-renews."},
        {"category": "parties", "present": false, "quotes": [], "answer": null, "risk": null,
         "reason": null},
    ], "summary": "A supply agreement."});
    let server = ChatServer::start(move |_, _| Reply::answer(&answer)).await;
    let p = provider(config(&server));
    let result = run(
        &doc,
        &categories(),
        &p,
        Evidence::default(),
        &SelectOptions::default(),
    )
    .await
    .expect("review");

    assert_eq!(result.provider, "foundry");
    assert_eq!(result.model.as_deref(), Some(DEPLOYMENT));
    assert_eq!(result.dropped_quotes, 1);
    assert_eq!(result.usage.calls, 1);
    assert_eq!(result.summary, "A supply agreement.");
    let keys: Vec<&str> = result
        .categories
        .iter()
        .map(|f| f.category.as_str())
        .collect();
    assert_eq!(keys, KEYS);
    let gl = &result.categories[2];
    assert!(gl.present);
    assert_eq!(gl.excerpts.len(), 1);
    assert_eq!(gl.excerpts[0].text, GOVERNING);
    let all: Vec<&str> = result
        .categories
        .iter()
        .flat_map(|f| f.excerpts.iter().map(|e| e.text.as_str()))
        .collect();
    assert!(!all.iter().any(|t| t.contains("Texas")), "{all:?}");
    assert!(all.contains(&RENEWAL));
    // The provider sent the passages the pipeline selected (and counted), with their text, and
    // contract text nowhere but in the user message.
    let r = &server.seen()[0];
    let passages = r.user_json()["passages"].as_array().unwrap().clone();
    assert!(result.minimisation.passages > 0);
    assert_eq!(passages.len() as u32, result.minimisation.passages);
    let text = doc.text().expose_to_provider();
    for (i, p) in passages.iter().enumerate() {
        assert_eq!(p["passage"], json!(i));
        let sent = p["text"].as_str().unwrap();
        assert!(
            !sent.is_empty() && text.contains(sent),
            "passages are the contract's text"
        );
    }
    assert_text_only_in_the_user_message(r);
}

#[tokio::test]
async fn throttling_is_retried_after_the_wait_the_service_asks() {
    let doc = contract();
    let answer = good_answer(&doc);
    let server = ChatServer::start(move |n, _| {
        if n == 0 {
            Reply::status(
                429,
                json!({"error": {"code": "429", "message": "Rate limit exceeded."}}).to_string(),
            )
            .header("retry-after-ms", "300")
            .header("retry-after", "30")
        } else {
            Reply::answer(&answer)
        }
    })
    .await;
    let a = review(&provider(config(&server)))
        .await
        .expect("after one 429");
    assert_eq!(a.usage.calls, 2);
    assert_eq!(a.findings.len(), 3);
    let seen = server.seen();
    assert_eq!(seen.len(), 2);
    let waited = seen[1].at - seen[0].at;
    assert!(
        waited >= Duration::from_millis(280) && waited < Duration::from_secs(5),
        "waited {waited:?}"
    );
    assert_eq!(seen[0].raw_body, seen[1].raw_body, "the same request again");
}

#[tokio::test]
async fn a_server_that_never_answers_times_out_quickly() {
    let server =
        ChatServer::start(|_, _| Reply::status(200, "{}").after(Duration::from_secs(3600))).await;
    let mut c = config(&server);
    c.request_timeout = Duration::from_millis(200);
    c.max_retries = 1;
    c.deadline = Duration::from_secs(2);
    let started = Instant::now();
    let err = review(&provider(c)).await.expect_err("no answer");
    assert_eq!(err, ProviderError::Timeout);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(server.seen().len(), 2, "one attempt and one retry");
}

#[tokio::test]
async fn the_deadline_bounds_the_whole_call() {
    // Each attempt would be allowed 10 s, but the call as a whole only 700 ms.
    let server =
        ChatServer::start(|_, _| Reply::status(200, "{}").after(Duration::from_secs(3600))).await;
    let mut c = config(&server);
    c.deadline = Duration::from_millis(700);
    let started = Instant::now();
    let err = review(&provider(c)).await.expect_err("no answer");
    assert_eq!(err, ProviderError::Timeout);
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(650) && took < Duration::from_secs(2),
        "{took:?}"
    );

    // A wait that would end past the deadline is not waited: the call fails at once.
    let server =
        ChatServer::start(|_, _| Reply::status(429, "{}").header("retry-after-ms", "5000")).await;
    let mut c = config(&server);
    c.deadline = Duration::from_secs(2);
    let started = Instant::now();
    let err = review(&provider(c)).await.expect_err("throttled");
    assert_eq!(err, ProviderError::RateLimited);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(server.seen().len(), 1);
}

#[tokio::test]
async fn server_errors_fail_after_the_retries_without_contract_text() {
    // The server echoes the request in its error body, as a careless proxy might.
    let server = ChatServer::start(|_, r| {
        Reply::status(500, json!({"error": {"message": r.raw_body}}).to_string())
    })
    .await;
    let mut c = config(&server);
    c.max_retries = 2;
    let err = review(&provider(c)).await.expect_err("500s");
    assert_eq!(server.seen().len(), 3, "one attempt and two retries");
    assert!(
        matches!(&err, ProviderError::Unavailable(m) if m.contains("500") && m.contains("3 attempts")),
        "{err}"
    );
    assert_eq!(err.code(), "provider_unavailable");
    assert_no_contract_text(&err);
}

#[tokio::test]
async fn persistent_throttling_is_rate_limited() {
    let server =
        ChatServer::start(|_, _| Reply::status(429, "{}").header("retry-after-ms", "10")).await;
    let mut c = config(&server);
    c.max_retries = 2;
    let err = review(&provider(c)).await.expect_err("429s");
    assert_eq!(err, ProviderError::RateLimited);
    assert_eq!(err.code(), "rate_limited");
    assert_eq!(server.seen().len(), 3);
}

#[tokio::test]
async fn content_filters_and_refusals_are_refused() {
    // The answer withheld by the output filter.
    let server = ChatServer::start(|_, _| Reply::completion(None, "content_filter", None)).await;
    let err = review(&provider(config(&server)))
        .await
        .expect_err("filtered");
    assert!(
        matches!(&err, ProviderError::Refused(m) if m.contains("content filter")),
        "{err}"
    );
    assert_eq!(err.code(), "provider_refused");

    // The prompt refused by the input filter: Azure's 400 with code `content_filter`; not retried.
    let server = ChatServer::start(|_, r| {
        Reply::status(
            400,
            json!({"error": {"code": "content_filter", "status": 400, "param": "prompt",
                "message": format!("The response was filtered: {}", r.raw_body),
                "innererror": {"code": "ResponsibleAIPolicyViolation"}}})
            .to_string(),
        )
    })
    .await;
    let err = review(&provider(config(&server)))
        .await
        .expect_err("filtered");
    assert!(
        matches!(&err, ProviderError::Refused(m) if m.contains("content filter")),
        "{err}"
    );
    assert_eq!(server.seen().len(), 1);
    assert_no_contract_text(&err);

    // A refusal (structured outputs' `refusal` field).
    let server = ChatServer::start(|_, _| {
        Reply::completion(None, "stop", Some("I can't help with that. CANARY-7f3a"))
    })
    .await;
    let err = review(&provider(config(&server)))
        .await
        .expect_err("refused");
    assert!(matches!(&err, ProviderError::Refused(_)), "{err}");
    assert_no_contract_text(&err);
}

#[tokio::test]
async fn client_errors_are_not_retried() {
    for (status, refused) in [
        (400, true),
        (401, false),
        (403, false),
        (404, false),
        (422, true),
    ] {
        let server = ChatServer::start(move |_, r| {
            Reply::status(
                status,
                json!({"error": {"message": r.raw_body}}).to_string(),
            )
        })
        .await;
        let err = review(&provider(config(&server))).await.expect_err("4xx");
        assert_eq!(server.seen().len(), 1, "{status}");
        let detail = match &err {
            ProviderError::Refused(m) if refused => m,
            ProviderError::Unavailable(m) if !refused => m,
            other => panic!("{status}: {other:?}"),
        };
        assert!(detail.contains(&format!("HTTP {status}")), "{detail}");
        assert!(!detail.contains("content filter"), "{detail}");
        assert_no_contract_text(&err);
    }
}

#[tokio::test]
async fn truncated_and_broken_answers_are_invalid() {
    let cases: Vec<(Reply, &str)> = vec![
        (
            Reply::completion(Some("{\"findings\": [{\"category\": \"gov"), "length", None),
            "cut off",
        ),
        (
            Reply::completion(
                Some(&format!("Sure! {CANARY} is governed by Delaware law.")),
                "stop",
                None,
            ),
            "does not follow the schema",
        ),
        (
            Reply::completion(
                Some(
                    &json!({"findings": [{"category": "governing-law", "present": "yes",
                    "quotes": [{"passage": 0, "text": CANARY}]}]})
                    .to_string(),
                ),
                "stop",
                None,
            ),
            "does not follow the schema",
        ),
        (Reply::completion(None, "stop", None), "empty"),
        (
            Reply::status(
                200,
                format!("{{\"echo\": \"{CANARY} Delaware\", \"choices\": 7}}"),
            ),
            "not a chat completion",
        ),
    ];
    for (reply, expected) in cases {
        let server = ChatServer::start(move |_, _| reply.clone()).await;
        let err = review(&provider(config(&server)))
            .await
            .expect_err("invalid");
        assert!(
            matches!(&err, ProviderError::InvalidAnswer(m) if m.contains(expected)),
            "{expected}: {err}"
        );
        assert_eq!(err.code(), "invalid_answer");
        assert_eq!(server.seen().len(), 1, "not retried");
        assert_no_contract_text(&err);
    }
}

#[tokio::test]
async fn an_unreachable_service_is_unavailable() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut c = FoundryConfig::new(
        format!("http://127.0.0.1:{port}").parse().unwrap(),
        DEPLOYMENT,
        FoundryAuth::ApiKey(SecretString::from(API_KEY.to_owned())),
    );
    c.max_retries = 1;
    c.initial_backoff = Duration::from_millis(10);
    let err = review(&provider(c)).await.expect_err("no server");
    assert!(
        matches!(&err, ProviderError::Unavailable(m) if m.contains("2 attempts")),
        "{err}"
    );
}

/// Collects everything the subscriber writes.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// With every log line at TRACE captured (this crate's, async-openai's, reqwest's, hyper's, and
/// `log` records), a review that is retried, answered and verified, and reviews that fail in the
/// ways that carry contract text back (echoing error bodies, broken answers), log no contract text.
#[tokio::test]
async fn nothing_of_the_contract_is_logged_even_at_trace() {
    use tracing_subscriber::util::SubscriberInitExt as _;
    let captured = Captured::default();
    let sink = captured.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || sink.clone())
        .finish()
        .try_init()
        .expect("the only global subscriber in this binary");

    let doc = contract();
    let answer = good_answer(&doc);
    let server = ChatServer::start(move |n, r| match n {
        0 => Reply::status(500, json!({"error": {"message": r.raw_body}}).to_string()),
        1 => Reply::status(429, r.raw_body.clone()).header("retry-after-ms", "20"),
        _ => Reply::answer(&answer),
    })
    .await;
    let p = provider(config(&server));
    let result = run(
        &doc,
        &categories(),
        &p,
        Evidence::default(),
        &SelectOptions::default(),
    )
    .await
    .expect("review");
    assert_eq!(result.usage.calls, 3);
    assert!(result.categories[2].excerpts[0].text.contains("Delaware"));

    for reply in [
        Reply::status(200, format!("{{\"echo\": \"{CANARY}\"}}")),
        Reply::completion(Some(&format!("not json {CANARY}")), "stop", None),
        Reply::status(400, format!("{{\"error\": {{\"message\": \"{CANARY}\"}}}}")),
    ] {
        let server = ChatServer::start(move |_, _| reply.clone()).await;
        review(&provider(config(&server))).await.expect_err("fails");
    }

    std::io::stdout().flush().unwrap();
    let logs = String::from_utf8_lossy(&captured.0.lock().unwrap()).into_owned();
    assert!(logs.contains("retrying"), "nothing captured: {logs}");
    assert!(logs.contains("review answered"), "{logs}");
    for marker in [CANARY, UNSENT, "Delaware", "renew for successive", API_KEY] {
        assert!(!logs.contains(marker), "{marker} in the logs:\n{logs}");
    }
}
