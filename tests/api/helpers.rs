use std::time::Duration;

use clment_common::access::Role;
use clment_common::domain::{OrgId, Region, UserId};
use clment_handler::state::AppState;
use clment_handler::{Application, Settings};
use clment_local::{DataDir, DevIssuer, DevTokenRequest};
use tempfile::TempDir;

/// A running application on 127.0.0.1:<random port>, with its own data directory.
pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub state: AppState,
    issuer: DevIssuer,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    _data: TempDir,
}

pub async fn spawn_app() -> TestApp {
    spawn_with(|_| {}).await
}

/// An application whose indexing workers run, as in production.
pub async fn spawn_indexing() -> TestApp {
    spawn_with(|s| s.indexing.background = true).await
}

pub async fn spawn_with(tweak: impl FnOnce(&mut Settings)) -> TestApp {
    let data = tempfile::tempdir().expect("temp dir");
    let mut settings = Settings::for_tests(data.path());
    // Generous budgets: tests that exercise rate limiting set their own.
    let plenty = clment_common::ratelimit::Budget::new(
        std::num::NonZeroU32::new(10_000).unwrap(),
        std::num::NonZeroU32::new(10_000).unwrap(),
    );
    settings.rate_limits.org = plenty;
    settings.rate_limits.org_expensive = plenty;
    settings.rate_limits.key = plenty;
    settings.rate_limits.key_expensive = plenty;
    // Extraction workers are processes of the real handler executable.
    settings.indexing.worker_program = Some(env!("CARGO_BIN_EXE_handler").into());
    // Indexing workers only where a test asks for them (`spawn_indexing`): other tests count queued
    // jobs and audit sequence numbers.
    settings.indexing.background = false;
    tweak(&mut settings);
    let app = Application::build(settings).await.expect("app builds");
    let base = format!("http://127.0.0.1:{}", app.port());
    let state = app.state().clone();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(app.run_until(async {
        let _ = rx.await;
    }));
    let issuer = DevIssuer::load_or_create(&DataDir::open(data.path()).unwrap()).unwrap();
    TestApp {
        base,
        client: reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap(),
        state,
        issuer,
        stop: Some(tx),
        task: Some(task),
        _data: data,
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request")
    }

    pub async fn get_as(&self, path: &str, token: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("request")
    }

    /// A development token (the issuer the local server trusts).
    pub fn token(&self, org: &str, role: Role, amr: &[&str], region: Region) -> String {
        self.issuer
            .mint(
                &DevTokenRequest {
                    org: OrgId::parse(org).unwrap(),
                    user: UserId::parse("user-1").unwrap(),
                    role,
                    amr: amr.iter().map(|s| (*s).to_owned()).collect(),
                    region,
                    email: Some("user-1@example.com".into()),
                    ttl_secs: 600,
                },
                "clment-api",
            )
            .unwrap()
    }

    /// An operator access token from the development issuer (operator audience, `role` operator, MFA).
    pub fn operator_token(&self) -> String {
        self.issuer
            .mint_operator(
                &UserId::parse("ops-1").unwrap(),
                Some("ops-1@clment.example"),
                600,
                clment_handler::config::DEFAULT_OPERATOR_AUDIENCE,
            )
            .unwrap()
    }

    pub async fn invoke(&self, function: &str, payload: &serde_json::Value) -> reqwest::Response {
        self.client
            .post(self.url(&format!("/{function}")))
            .header("content-type", "application/json; charset=utf-8")
            .header(
                "x-azure-functions-invocationid",
                "83a3c0de-0000-4000-8000-000000000001",
            )
            .body(payload.to_string())
            .send()
            .await
            .expect("request")
    }

    /// The application's data directory.
    pub fn data_dir(&self) -> &std::path::Path {
        self._data.path()
    }

    #[allow(dead_code)]
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// Asserts the RFC 9457 shape, the code, and that `requestId` equals the echoed header. Returns the body.
pub async fn assert_problem(resp: reqwest::Response, status: u16, code: &str) -> serde_json::Value {
    assert_eq!(resp.status().as_u16(), status, "status for {code}");
    let ct = resp.headers()["content-type"].to_str().unwrap().to_owned();
    assert_eq!(ct, "application/problem+json", "content type for {code}");
    let rid = resp.headers()["x-request-id"].to_str().unwrap().to_owned();
    let body: serde_json::Value = resp.json().await.expect("problem body is JSON");
    assert_eq!(body["type"], format!("urn:clment:problem:{code}"));
    assert_eq!(body["code"], code);
    assert_eq!(body["status"], status);
    assert!(body["title"].as_str().is_some_and(|t| !t.is_empty()));
    assert!(body["detail"].as_str().is_some_and(|t| !t.is_empty()));
    assert_eq!(body["requestId"], rid.as_str());
    body
}

/// Asserts the headers every response carries.
pub fn assert_security_headers(resp: &reqwest::Response) {
    let h = resp.headers();
    let hsts = h["strict-transport-security"].to_str().unwrap();
    let max_age: u64 = hsts
        .split(';')
        .find_map(|p| p.trim().strip_prefix("max-age="))
        .and_then(|v| v.parse().ok())
        .expect("max-age");
    assert!(max_age >= 31_536_000, "{hsts}");
    assert!(hsts.contains("includeSubDomains"), "{hsts}");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["cache-control"], "no-store");
    assert!(h.get("server").is_none(), "server banner present");
    assert!(h.get("x-powered-by").is_none());
    assert!(h.get("x-request-id").is_some());
}

/// A free loopback port (bound then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The caller's org trail as stored (oldest first).
pub async fn audit_events(app: &TestApp, org: &str) -> Vec<clment_common::ports::StoredEvent> {
    let scope = clment_common::TenantScope::for_tests(org, Region::Us);
    app.state.audit.read(&scope, 0, 10_000).await.unwrap()
}

/// How many tenant-data operations touched `org`.
pub fn touches(app: &TestApp, org: &str) -> u64 {
    app.state.local.as_ref().unwrap().tenant_touches(org)
}

impl TestApp {
    /// The local in-process job queue behind `state.jobs`.
    pub fn queue(&self) -> &clment_local::LocalStore {
        self.state.local.as_ref().unwrap()
    }

    /// Sends `method path` with a bearer credential and an optional JSON body.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        credential: &str,
        body: Option<serde_json::Value>,
    ) -> reqwest::Response {
        let mut req = self
            .client
            .request(method.parse().unwrap(), self.url(path))
            .bearer_auth(credential);
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        req.send().await.expect("request")
    }

    /// Creates an API key through the API as an org admin; returns (key id, secret).
    pub async fn create_key(&self, org: &str, scopes: &[&str], role: Role) -> (String, String) {
        let admin = self.token(org, role, &["pwd", "mfa"], Region::Us);
        let resp = self
            .call(
                "POST",
                &format!("/api/orgs/{org}/api-keys"),
                &admin,
                Some(serde_json::json!({ "name": "ci", "scopes": scopes })),
            )
            .await;
        assert_eq!(resp.status(), 201, "{}", resp.text().await.unwrap());
        let body: serde_json::Value = resp.json().await.unwrap();
        (
            body["id"].as_str().unwrap().to_owned(),
            body["secret"].as_str().unwrap().to_owned(),
        )
    }
}

/// A request body for [`TestApp::send`].
pub enum Body {
    /// No body.
    None,
    /// JSON.
    Json(serde_json::Value),
    /// Raw bytes with a content type and an optional file name (Content-Disposition).
    File(Vec<u8>, &'static str, Option<String>),
}

impl TestApp {
    /// Sends a request with any kind of body.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        credential: &str,
        body: Body,
    ) -> reqwest::Response {
        let mut req = self
            .client
            .request(method.parse().unwrap(), self.url(path))
            .bearer_auth(credential);
        req = match body {
            Body::None => req,
            Body::Json(v) => req
                .header("content-type", "application/json")
                .body(v.to_string()),
            Body::File(bytes, ct, name) => {
                let req = req.header("content-type", ct);
                let req = match name {
                    Some(n) => req.header(
                        "content-disposition",
                        format!("attachment; filename=\"{n}\""),
                    ),
                    None => req,
                };
                req.body(bytes)
            }
        };
        req.send().await.expect("request")
    }

    /// Uploads a small text contract as an owner of `org`; returns its id.
    pub async fn upload_text(&self, org: &str, text: &str) -> String {
        let owner = self.token(org, Role::Owner, &["pwd", "mfa"], Region::Us);
        let resp = self
            .send(
                "POST",
                &format!("/api/orgs/{org}/contracts"),
                &owner,
                Body::File(
                    text.as_bytes().to_vec(),
                    "text/plain",
                    Some("contract.txt".into()),
                ),
            )
            .await;
        assert_eq!(resp.status(), 201, "{}", resp.text().await.unwrap());
        resp.json::<serde_json::Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Asks for a review of `contract` (all categories) as an owner; returns the review id.
    pub async fn request_review(&self, org: &str, contract: &str) -> String {
        let owner = self.token(org, Role::Owner, &["pwd", "mfa"], Region::Us);
        let resp = self
            .send(
                "POST",
                &format!("/api/orgs/{org}/contracts/{contract}/reviews"),
                &owner,
                Body::None,
            )
            .await;
        assert_eq!(resp.status(), 202, "{}", resp.text().await.unwrap());
        resp.json::<serde_json::Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }
}
