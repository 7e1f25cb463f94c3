//! Not the real Azure AI Search: a local stand-in that speaks its documented REST shapes (section 3
//! of azure-platform.md). No emulator of the service exists, so the search adapter's tests run
//! against this in-process HTTP server (warp on a loopback port). What it proves is that the adapter
//! sends well-formed requests of the documented shapes and handles the documented answers; relevance
//! here is naive and says nothing about the real service's ranking.
//!
//! It speaks:
//! - `PUT /indexes/{name}` (create or update: 201 with the definition, or 204; existing fields may not
//!   change), `GET /indexes/{name}` (200 or 404).
//! - `POST /indexes/{name}/docs/index`: `upload`, `merge`, `mergeOrUpload` and `delete` actions; 413
//!   above 1000 documents or 16 MiB; 400 for fields the schema lacks or values of the wrong type; 200
//!   when every document succeeded, else 207 with `key`/`status`/`errorMessage`/`statusCode` per
//!   document. It can be told to fail given keys (once or always, with a status) and to answer whole
//!   batches with a status and `Retry-After`; the failing documents' `errorMessage` quotes their
//!   content, so a test can prove the adapter never repeats it. It records every batch's size.
//! - `POST /indexes/{name}/docs/search`: only the filter grammar `orgId eq '…'` optionally followed
//!   by ` and contractId eq '…'` (400 for anything else, also for no filter), so the tests prove the
//!   adapter always sends the org filter; `search` scored as the number of distinct query words (Snowball
//!   English stems) in `content`, `*` matching everything; `top`, `skip`, `select`, `count`,
//!   `orderby` (`id` only) and `vectorQueries` (cosine similarity, `preFilter`, fused with the words'
//!   ranking by reciprocal rank fusion, k = 60). It records every query's filter.
//! - Every request must carry `api-version=2025-09-01` (400 otherwise) and the `api-key` (or, when
//!   configured, a bearer token): 401 otherwise.

// Shared by test binaries that use only part of it.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use rust_stemmers::{Algorithm, Stemmer};
use serde_json::{Map, Value, json};
use warp::Filter as _;
use warp::http::{HeaderMap, Method, Response};

/// The only api-version the stand-in accepts.
pub const API_VERSION: &str = "2025-09-01";
/// Most documents per indexing batch.
pub const MAX_DOCS: usize = 1000;
/// Most bytes per indexing request (16 MiB).
pub const MAX_BYTES: usize = 16 * 1024 * 1024;
/// The largest `skip`.
const MAX_SKIP: u64 = 100_000;
/// Reciprocal rank fusion's constant.
const RRF_K: f64 = 60.0;

/// How a request was signed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Signed {
    /// With the `api-key` header (its value).
    ApiKey(String),
    /// With `Authorization: Bearer` (the token).
    Bearer(String),
    /// Neither.
    Unsigned,
}

/// One request, as seen.
#[derive(Clone, Debug)]
pub struct Seen {
    /// `GET`, `PUT`, `POST`.
    pub method: String,
    /// The path.
    pub path: String,
    /// The `api-version` query parameter.
    pub api_version: Option<String>,
    /// The signature.
    pub signed: Signed,
    /// The answer's status.
    pub status: u16,
}

/// One indexing batch that reached the index (authorised, within the limits or not).
#[derive(Clone, Debug)]
pub struct Batch {
    /// Documents in it.
    pub docs: usize,
    /// Request body size in bytes.
    pub bytes: usize,
    /// Each document's action and key.
    pub actions: Vec<(String, String)>,
}

/// One search request.
#[derive(Clone, Debug)]
pub struct Query {
    /// The `filter`, as sent.
    pub filter: Option<String>,
    /// The `search` text.
    pub search: Option<String>,
    /// The `select`.
    pub select: Option<String>,
    /// Whether it had `vectorQueries`.
    pub vector: bool,
    /// The answer's status.
    pub status: u16,
}

#[derive(Clone, Debug)]
struct Field {
    ty: String,
    key: bool,
    searchable: bool,
    filterable: bool,
    sortable: bool,
    retrievable: bool,
    analyzer: Option<String>,
    dimensions: Option<usize>,
}

struct Index {
    definition: Value,
    fields: BTreeMap<String, Field>,
    key: String,
    docs: BTreeMap<String, Map<String, Value>>,
}

struct State {
    api_key: String,
    bearer: Option<String>,
    indexes: HashMap<String, Index>,
    seen: Vec<Seen>,
    batches: Vec<Batch>,
    queries: Vec<Query>,
    fail_once: HashMap<String, VecDeque<u16>>,
    fail_always: HashMap<String, u16>,
    busy: VecDeque<(u16, u64)>,
}

/// The stand-in, serving until the test's runtime ends.
#[derive(Clone)]
pub struct SearchServer {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
}

type Reply = Response<Vec<u8>>;

fn reply(status: u16, body: &Value) -> Reply {
    Response::builder()
        .status(status)
        .header("content-type", "application/json; charset=utf-8")
        .body(serde_json::to_vec(body).expect("json"))
        .expect("response")
}

fn error(status: u16, message: &str) -> Reply {
    reply(status, &json!({"error": {"code": "", "message": message}}))
}

fn empty(status: u16) -> Reply {
    Response::builder()
        .status(status)
        .body(Vec::new())
        .expect("response")
}

impl SearchServer {
    /// A stand-in on a free loopback port that accepts `api_key`.
    pub async fn start(api_key: &str) -> Self {
        let state = Arc::new(Mutex::new(State {
            api_key: api_key.to_owned(),
            bearer: None,
            indexes: HashMap::new(),
            seen: Vec::new(),
            batches: Vec::new(),
            queries: Vec::new(),
            fail_once: HashMap::new(),
            fail_always: HashMap::new(),
            busy: VecDeque::new(),
        }));
        let shared = state.clone();
        let route = warp::method()
            .and(warp::path::full())
            .and(warp::query::<HashMap<String, String>>())
            .and(warp::header::headers_cloned())
            .and(warp::body::bytes())
            .map(
                move |method: Method,
                      path: warp::path::FullPath,
                      query: HashMap<String, String>,
                      headers: HeaderMap,
                      body: Bytes| {
                    handle(&shared, &method, path.as_str(), &query, &headers, &body)
                },
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("address");
        tokio::spawn(warp::serve(route).incoming(listener).run());
        Self { addr, state }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().expect("state")
    }

    /// The service URL (`http://127.0.0.1:<port>`).
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Also accept `Authorization: Bearer <token>`.
    pub fn accept_bearer(&self, token: &str) {
        self.state().bearer = Some(token.to_owned());
    }

    /// The next time a batch holds `key`, that document fails with `status` (queued: several
    /// calls fail it several times).
    pub fn fail_once(&self, key: &str, status: u16) {
        self.state()
            .fail_once
            .entry(key.to_owned())
            .or_default()
            .push_back(status);
    }

    /// Every batch holding `key` fails that document with `status`.
    pub fn fail_always(&self, key: &str, status: u16) {
        self.state().fail_always.insert(key.to_owned(), status);
    }

    /// The next indexing batch is answered `status` with `Retry-After: <seconds>`, touching nothing.
    pub fn busy_once(&self, status: u16, retry_after_secs: u64) {
        self.state().busy.push_back((status, retry_after_secs));
    }

    /// Every request so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.state().seen.clone()
    }

    /// Every indexing batch so far.
    pub fn batches(&self) -> Vec<Batch> {
        self.state().batches.clone()
    }

    /// Every search request so far.
    pub fn queries(&self) -> Vec<Query> {
        self.state().queries.clone()
    }

    /// Forgets the request, batch and query logs.
    pub fn clear_logs(&self) {
        let mut s = self.state();
        s.seen.clear();
        s.batches.clear();
        s.queries.clear();
    }

    /// The stored definition of `index`.
    pub fn definition(&self, index: &str) -> Option<Value> {
        self.state()
            .indexes
            .get(index)
            .map(|i| i.definition.clone())
    }

    /// Every stored document of `index` (vectors included), by key.
    pub fn documents(&self, index: &str) -> BTreeMap<String, Map<String, Value>> {
        self.state()
            .indexes
            .get(index)
            .map(|i| i.docs.clone())
            .unwrap_or_default()
    }
}

fn handle(
    state: &Mutex<State>,
    method: &Method,
    path: &str,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
    body: &[u8],
) -> Reply {
    let mut s = state.lock().expect("state");
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let signed = match (header("api-key"), header("authorization")) {
        (Some(key), _) => Signed::ApiKey(key.to_owned()),
        (None, Some(auth)) => match auth.strip_prefix("Bearer ") {
            Some(token) => Signed::Bearer(token.to_owned()),
            None => Signed::Unsigned,
        },
        (None, None) => Signed::Unsigned,
    };
    let api_version = query.get("api-version").cloned();
    let answer = if api_version.as_deref() != Some(API_VERSION) {
        error(
            400,
            "Invalid or missing api-version query string parameter.",
        )
    } else if !match &signed {
        Signed::ApiKey(k) => *k == s.api_key,
        Signed::Bearer(t) => s.bearer.as_deref() == Some(t.as_str()),
        Signed::Unsigned => false,
    } {
        empty(401)
    } else {
        route(&mut s, method, path, body)
    };
    s.seen.push(Seen {
        method: method.to_string(),
        path: path.to_owned(),
        api_version,
        signed,
        status: answer.status().as_u16(),
    });
    answer
}

fn route(s: &mut State, method: &Method, path: &str, body: &[u8]) -> Reply {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (method.as_str(), parts.as_slice()) {
        ("PUT", ["indexes", name]) => put_index(s, name, body),
        ("GET", ["indexes", name]) => match s.indexes.get(*name) {
            Some(index) => reply(200, &index.definition),
            None => error(404, "No index with the name was found in the service."),
        },
        ("POST", ["indexes", name, "docs", "index"]) => index_docs(s, name, body),
        ("POST", ["indexes", name, "docs", "search"]) => {
            let (answer, query) = search(s, name, body);
            if let Some(mut query) = query {
                query.status = answer.status().as_u16();
                s.queries.push(query);
            }
            answer
        }
        _ => error(404, "Resource not found."),
    }
}

fn flag(f: &Value, name: &str, default: bool) -> bool {
    f.get(name).and_then(Value::as_bool).unwrap_or(default)
}

fn put_index(s: &mut State, name: &str, body: &[u8]) -> Reply {
    let Ok(def) = serde_json::from_slice::<Value>(body) else {
        return error(400, "The request body is not JSON.");
    };
    if def.get("name").and_then(Value::as_str) != Some(name) {
        return error(400, "The index name in the body does not match the URL.");
    }
    let profiles: HashMap<String, String> = def
        .pointer("/vectorSearch/profiles")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| {
            Some((
                p.get("name")?.as_str()?.to_owned(),
                p.get("algorithm")?.as_str()?.to_owned(),
            ))
        })
        .collect();
    let algorithms: HashSet<String> = def
        .pointer("/vectorSearch/algorithms")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|a| {
            matches!(
                a.get("kind").and_then(Value::as_str),
                Some("hnsw" | "exhaustiveKnn")
            )
        })
        .filter_map(|a| Some(a.get("name")?.as_str()?.to_owned()))
        .collect();
    let mut fields = BTreeMap::new();
    for f in def
        .get("fields")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(fname) = f.get("name").and_then(Value::as_str) else {
            return error(400, "A field has no name.");
        };
        let ty = f.get("type").and_then(Value::as_str).unwrap_or_default();
        let simple = matches!(
            ty,
            "Edm.String" | "Edm.Int32" | "Edm.Int64" | "Edm.Double" | "Edm.Boolean"
        );
        let vector = ty == "Collection(Edm.Single)";
        if !simple && !vector {
            return error(400, &format!("Field '{fname}' has an unsupported type."));
        }
        let analyzer = f.get("analyzer").and_then(Value::as_str).map(str::to_owned);
        if analyzer
            .as_deref()
            .is_some_and(|a| !matches!(a, "standard.lucene" | "en.lucene" | "en.microsoft"))
        {
            return error(400, &format!("Field '{fname}' has an unknown analyzer."));
        }
        let dimensions = f
            .get("dimensions")
            .and_then(Value::as_u64)
            .map(|d| d as usize);
        if vector {
            let profile = f.get("vectorSearchProfile").and_then(Value::as_str);
            let known = profile
                .and_then(|p| profiles.get(p))
                .is_some_and(|algorithm| algorithms.contains(algorithm));
            if !dimensions.is_some_and(|d| (2..=3072).contains(&d)) || !known {
                return error(
                    400,
                    &format!("Vector field '{fname}' needs dimensions and a known profile."),
                );
            }
        }
        let field = Field {
            ty: ty.to_owned(),
            key: flag(f, "key", false),
            searchable: flag(f, "searchable", ty == "Edm.String" || vector),
            filterable: flag(f, "filterable", !vector),
            sortable: flag(f, "sortable", simple),
            retrievable: flag(f, "retrievable", true),
            analyzer,
            dimensions,
        };
        if (field.analyzer.is_some() && (ty != "Edm.String" || !field.searchable))
            || (field.key && ty != "Edm.String")
        {
            return error(
                400,
                &format!("Field '{fname}' has contradictory attributes."),
            );
        }
        fields.insert(fname.to_owned(), field);
    }
    let keys: Vec<&String> = fields
        .iter()
        .filter(|(_, f)| f.key)
        .map(|(n, _)| n)
        .collect();
    let [key] = keys.as_slice() else {
        return error(400, "The index must have exactly one key field.");
    };
    let key = (*key).clone();
    if let Some(existing) = s.indexes.get_mut(name) {
        for (fname, old) in &existing.fields {
            let Some(new) = fields.get(fname) else {
                return error(400, &format!("Field '{fname}' cannot be removed."));
            };
            let same = old.ty == new.ty
                && old.key == new.key
                && old.searchable == new.searchable
                && old.filterable == new.filterable
                && old.sortable == new.sortable
                && old.analyzer == new.analyzer
                && old.dimensions == new.dimensions;
            if !same {
                return error(400, &format!("Existing field '{fname}' cannot be changed."));
            }
        }
        existing.definition = def;
        existing.fields = fields;
        return empty(204);
    }
    s.indexes.insert(
        name.to_owned(),
        Index {
            definition: def.clone(),
            fields,
            key,
            docs: BTreeMap::new(),
        },
    );
    reply(201, &def)
}

fn valid_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 1024
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'='))
}

/// Whether `value` fits `field`'s type (null always does).
fn fits(field: &Field, value: &Value) -> bool {
    match (field.ty.as_str(), value) {
        (_, Value::Null) => true,
        ("Edm.String", Value::String(_)) => true,
        ("Edm.Int32", Value::Number(n)) => n.as_i64().is_some_and(|v| i32::try_from(v).is_ok()),
        ("Edm.Int64", Value::Number(n)) => n.as_i64().is_some(),
        ("Edm.Double", Value::Number(_)) => true,
        ("Edm.Boolean", Value::Bool(_)) => true,
        ("Collection(Edm.Single)", Value::Array(items)) => {
            Some(items.len()) == field.dimensions && items.iter().all(Value::is_number)
        }
        _ => false,
    }
}

fn index_docs(s: &mut State, name: &str, body: &[u8]) -> Reply {
    if !s.indexes.contains_key(name) {
        return error(404, "No index with the name was found in the service.");
    }
    if body.len() > MAX_BYTES {
        return error(413, "The request is too large.");
    }
    let Some(actions) = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("value").and_then(Value::as_array).cloned())
    else {
        return error(400, "The request body must be {\"value\": [...]}.");
    };
    if actions.len() > MAX_DOCS {
        return error(413, "Too many documents in the batch.");
    }
    let index = s.indexes.get(name).expect("index");
    let key_field = index.key.clone();
    let mut logged = Vec::new();
    for doc in &actions {
        let Some(doc) = doc.as_object() else {
            return error(400, "A document is not an object.");
        };
        let action = doc
            .get("@search.action")
            .and_then(Value::as_str)
            .unwrap_or("upload");
        if !matches!(action, "upload" | "merge" | "mergeOrUpload" | "delete") {
            return error(400, "Unknown @search.action.");
        }
        for (field, value) in doc {
            if field == "@search.action" {
                continue;
            }
            match index.fields.get(field) {
                None => {
                    return error(
                        400,
                        &format!("The property '{field}' does not exist on the index."),
                    );
                }
                Some(f) if !fits(f, value) => {
                    return error(
                        400,
                        &format!("The value of '{field}' does not fit its type."),
                    );
                }
                Some(_) => {}
            }
        }
        let key = doc
            .get(&key_field)
            .and_then(Value::as_str)
            .unwrap_or_default();
        logged.push((action.to_owned(), key.to_owned()));
    }
    s.batches.push(Batch {
        docs: actions.len(),
        bytes: body.len(),
        actions: logged,
    });
    if let Some((status, after)) = s.busy.pop_front() {
        return Response::builder()
            .status(status)
            .header("retry-after", after.to_string())
            .body(Vec::new())
            .expect("response");
    }
    let mut results = Vec::new();
    let mut all_ok = true;
    for doc in actions {
        let doc = doc.as_object().cloned().unwrap_or_default();
        let key = doc
            .get(&key_field)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let content = doc
            .get("content")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let mut fail = |code: u16, message: String| {
            all_ok = false;
            results.push(
                json!({"key": key, "status": false, "errorMessage": message, "statusCode": code}),
            );
        };
        if !valid_key(&key) {
            fail(400, format!("Invalid document key: '{key}'."));
            continue;
        }
        let once = s.fail_once.get_mut(&key).and_then(VecDeque::pop_front);
        if let Some(code) = once.or_else(|| s.fail_always.get(&key).copied()) {
            // Quotes the document, as the real service's messages may: the adapter must not repeat it.
            fail(
                code,
                format!("Document '{key}' with content '{content}' could not be indexed."),
            );
            continue;
        }
        let index = s.indexes.get_mut(name).expect("index");
        let action = doc
            .get("@search.action")
            .and_then(Value::as_str)
            .unwrap_or("upload")
            .to_owned();
        let mut fields = doc.clone();
        fields.remove("@search.action");
        let code = match action.as_str() {
            "delete" => {
                index.docs.remove(&key);
                200
            }
            "upload" => match index.docs.insert(key.clone(), fields) {
                Some(_) => 200,
                None => 201,
            },
            "merge" | "mergeOrUpload" => match index.docs.get_mut(&key) {
                Some(existing) => {
                    existing.extend(fields);
                    200
                }
                None if action == "mergeOrUpload" => {
                    index.docs.insert(key.clone(), fields);
                    201
                }
                None => {
                    fail(404, format!("Document not found: '{key}'."));
                    continue;
                }
            },
            _ => unreachable!("checked above"),
        };
        results.push(json!({"key": key, "status": true, "errorMessage": null, "statusCode": code}));
    }
    reply(if all_ok { 200 } else { 207 }, &json!({"value": results}))
}

/// An OData string literal at the start of `s`: its value and the rest.
fn literal(s: &str) -> Option<(String, &str)> {
    let mut rest = s.strip_prefix('\'')?;
    let mut value = String::new();
    loop {
        let at = rest.find('\'')?;
        value.push_str(&rest[..at]);
        rest = &rest[at + 1..];
        match rest.strip_prefix('\'') {
            Some(after) => {
                value.push('\'');
                rest = after;
            }
            None => return Some((value, rest)),
        }
    }
}

/// The only filters the stand-in understands: `orgId eq '…'` [` and contractId eq '…'`].
pub fn parse_filter(filter: &str) -> Option<(String, Option<String>)> {
    let (org, rest) = literal(filter.strip_prefix("orgId eq ")?)?;
    if rest.is_empty() {
        return Some((org, None));
    }
    let (contract, rest) = literal(rest.strip_prefix(" and contractId eq ")?)?;
    rest.is_empty().then_some((org, Some(contract)))
}

/// Lowercase Snowball English stems of the letter-and-digit runs of `text`.
fn terms(text: &str) -> Vec<String> {
    let stemmer = Stemmer::create(Algorithm::English);
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| stemmer.stem(&w.to_lowercase()).into_owned())
        .collect()
}

fn cosine(a: &[f64], b: &[f64]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f64 = a.iter().map(|x| x * x).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| x * x).sum::<f64>().sqrt();
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na * nb)
    }
}

fn numbers(v: &Value) -> Option<Vec<f64>> {
    v.as_array()?.iter().map(Value::as_f64).collect()
}

const SEARCH_KEYS: &[&str] = &[
    "search",
    "searchFields",
    "queryType",
    "searchMode",
    "filter",
    "top",
    "skip",
    "select",
    "count",
    "orderby",
    "vectorQueries",
    "vectorFilterMode",
];

fn search(s: &mut State, name: &str, body: &[u8]) -> (Reply, Option<Query>) {
    let Ok(Value::Object(req)) = serde_json::from_slice::<Value>(body) else {
        return (error(400, "The request body is not a JSON object."), None);
    };
    let text = |k: &str| req.get(k).and_then(Value::as_str).map(str::to_owned);
    let mut query = Query {
        filter: text("filter"),
        search: text("search"),
        select: text("select"),
        vector: req.contains_key("vectorQueries"),
        status: 0,
    };
    let answer = search_answer(s, name, &req);
    query.status = answer.status().as_u16();
    (answer, Some(query))
}

fn search_answer(s: &State, name: &str, req: &Map<String, Value>) -> Reply {
    let Some(index) = s.indexes.get(name) else {
        return error(404, "No index with the name was found in the service.");
    };
    if let Some(k) = req.keys().find(|k| !SEARCH_KEYS.contains(&k.as_str())) {
        return error(400, &format!("Unknown parameter '{k}'."));
    }
    let text = |k: &str| req.get(k).and_then(Value::as_str);
    // The stand-in's strictness: the org filter, in exactly this grammar, on every query.
    let Some((org, contract)) = text("filter").and_then(parse_filter) else {
        return error(
            400,
            "The stand-in accepts only orgId eq '…' [and contractId eq '…'].",
        );
    };
    if text("queryType").is_some_and(|t| t != "simple")
        || text("searchMode").is_some_and(|m| m != "any")
    {
        return error(400, "The stand-in speaks queryType simple, searchMode any.");
    }
    let searchable: Vec<&String> = index
        .fields
        .iter()
        .filter(|(_, f)| f.searchable && f.ty == "Edm.String")
        .map(|(n, _)| n)
        .collect();
    if let Some(fields) = text("searchFields")
        && fields
            .split(',')
            .any(|f| !searchable.iter().any(|s| s.as_str() == f.trim()))
    {
        return error(400, "searchFields names a field that is not searchable.");
    }
    let select: Vec<String> = match text("select") {
        Some(list) => list.split(',').map(|f| f.trim().to_owned()).collect(),
        None => index
            .fields
            .iter()
            .filter(|(_, f)| f.retrievable)
            .map(|(n, _)| n.clone())
            .collect(),
    };
    if select
        .iter()
        .any(|f| !index.fields.get(f).is_some_and(|f| f.retrievable))
    {
        return error(400, "select names a field that is not retrievable.");
    }
    let top = req.get("top").map_or(Some(50), Value::as_u64);
    let skip = req.get("skip").map_or(Some(0), Value::as_u64);
    let (Some(top), Some(skip)) = (top, skip) else {
        return error(400, "top and skip must be numbers.");
    };
    if skip > MAX_SKIP {
        return error(400, "skip must be at most 100000.");
    }
    let top = top.min(1000) as usize;
    let skip = skip as usize;
    let order_by_id = match text("orderby") {
        None => None,
        Some("id" | "id asc") => Some(false),
        Some("id desc") => Some(true),
        Some(_) => return error(400, "The stand-in orders by id only."),
    };
    // Candidates: the filter's documents (pre-filtering, also for vectors).
    let candidates: Vec<(&String, &Map<String, Value>)> = index
        .docs
        .iter()
        .filter(|(_, d)| d.get("orgId").and_then(Value::as_str) == Some(org.as_str()))
        .filter(|(_, d)| {
            contract
                .as_deref()
                .is_none_or(|c| d.get("contractId").and_then(Value::as_str) == Some(c))
        })
        .collect();
    // Words.
    let words = text("search").unwrap_or("*").trim();
    let mut keyword: Vec<(&String, f64)> = if words.is_empty() || words == "*" {
        candidates.iter().map(|(k, _)| (*k, 1.0)).collect()
    } else {
        let wanted: HashSet<String> = terms(words).into_iter().collect();
        candidates
            .iter()
            .filter_map(|(k, d)| {
                let content = d.get("content").and_then(Value::as_str).unwrap_or_default();
                let have: HashSet<String> = terms(content).into_iter().collect();
                let score = wanted.intersection(&have).count() as f64;
                (score > 0.0).then_some((*k, score))
            })
            .collect()
    };
    keyword.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(b.0)));
    // Vectors, fused by reciprocal rank.
    let mut ranked = keyword;
    if let Some(vqs) = req.get("vectorQueries") {
        let Some(vqs) = vqs.as_array() else {
            return error(400, "vectorQueries must be an array.");
        };
        if text("vectorFilterMode").is_some_and(|m| m != "preFilter" && m != "postFilter") {
            return error(400, "Unknown vectorFilterMode.");
        }
        let mut lists = vec![ranked.iter().map(|(k, _)| *k).collect::<Vec<_>>()];
        for vq in vqs {
            let field = vq.get("fields").and_then(Value::as_str).unwrap_or_default();
            let dims = index.fields.get(field).and_then(|f| f.dimensions);
            let vector = vq.get("vector").and_then(numbers);
            let k = vq.get("k").and_then(Value::as_u64).unwrap_or(50) as usize;
            let (Some("vector"), Some(dims), Some(vector)) =
                (vq.get("kind").and_then(Value::as_str), dims, vector)
            else {
                return error(
                    400,
                    "A vector query needs kind vector, a vector field and a vector.",
                );
            };
            if vector.len() != dims {
                return error(
                    400,
                    "The query vector's length differs from the field's dimensions.",
                );
            }
            let mut near: Vec<(&String, f64)> = candidates
                .iter()
                .filter_map(|(key, d)| Some((*key, cosine(&vector, &numbers(d.get(field)?)?))))
                .collect();
            near.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(b.0)));
            near.truncate(k);
            lists.push(near.into_iter().map(|(key, _)| key).collect());
        }
        let mut fused: BTreeMap<&String, f64> = BTreeMap::new();
        for list in lists {
            for (rank, key) in list.into_iter().enumerate() {
                *fused.entry(key).or_default() += 1.0 / (RRF_K + rank as f64 + 1.0);
            }
        }
        ranked = fused.into_iter().collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(b.0)));
    }
    if let Some(descending) = order_by_id {
        ranked.sort_by(|a, b| {
            if descending {
                b.0.cmp(a.0)
            } else {
                a.0.cmp(b.0)
            }
        });
    }
    let total = ranked.len();
    let value: Vec<Value> = ranked
        .into_iter()
        .skip(skip)
        .take(top)
        .map(|(key, score)| {
            let doc = &index.docs[key];
            let mut hit = Map::new();
            hit.insert("@search.score".into(), json!(score));
            for f in &select {
                hit.insert(f.clone(), doc.get(f).cloned().unwrap_or(Value::Null));
            }
            Value::Object(hit)
        })
        .collect();
    let mut answer = json!({"value": value});
    if req.get("count").and_then(Value::as_bool) == Some(true) {
        answer["@odata.count"] = json!(total);
    }
    reply(200, &answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_org_filter_grammar_parses() {
        assert_eq!(parse_filter("orgId eq 'a'"), Some(("a".into(), None)));
        assert_eq!(
            parse_filter("orgId eq 'o''b' and contractId eq 'c'"),
            Some(("o'b".into(), Some("c".into())))
        );
        for bad in [
            "",
            "contractId eq 'c'",
            "orgId eq 'a' or orgId eq 'b'",
            "orgId eq 'a' and contractId eq 'c' or true",
            "orgId eq 'a",
            "orgId ne 'a'",
        ] {
            assert_eq!(parse_filter(bad), None, "{bad}");
        }
    }
}
