use crate::helpers::{assert_security_headers, spawn_app};

#[tokio::test]
async fn the_host_readiness_probe_is_answered() {
    let app = spawn_app().await;
    let resp = app.get("/").await;
    assert_eq!(resp.status(), 200);
    assert_security_headers(&resp);
    assert_eq!(
        resp.json::<serde_json::Value>().await.unwrap()["status"],
        "ready"
    );
}

#[tokio::test]
async fn health_reports_liveness_and_each_backend_check() {
    let app = spawn_app().await;
    let resp = app.get("/api/health").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/json");
    assert_security_headers(&resp);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["region"], "us");
    assert_eq!(body["backend"], "local");
    let checks = body["checks"].as_array().unwrap();
    assert!(!checks.is_empty());
    assert!(
        checks
            .iter()
            .all(|c| c["status"] == "ok" && c["name"].is_string())
    );
}

#[tokio::test]
async fn head_is_answered_like_get() {
    let app = spawn_app().await;
    let resp = app
        .client
        .head(app.url("/api/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_security_headers(&resp);
}
