use std::collections::BTreeSet;

use clment_handler::http::routes::ROUTES;

use crate::helpers::spawn_app;

/// Every routed (method, path) is documented, and everything documented is routed.
#[tokio::test]
async fn the_openapi_document_covers_exactly_the_route_table() {
    let app = spawn_app().await;
    let resp = app.get("/api/openapi.json").await;
    assert_eq!(resp.status(), 200);
    let doc: serde_json::Value = resp.json().await.unwrap();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );

    let routed: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|r| (r.method.as_str().to_lowercase(), r.path.to_owned()))
        .collect();
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.insert((method.clone(), path.clone()));
        }
    }
    let missing: Vec<_> = routed.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&routed).collect();
    assert!(missing.is_empty(), "routed but not in OpenAPI: {missing:?}");
    assert!(extra.is_empty(), "in OpenAPI but not routed: {extra:?}");
}

/// Each documented route is really served: the dispatcher never answers `route_not_found` for it.
#[tokio::test]
async fn every_route_in_the_table_is_served() {
    let app = spawn_app().await;
    for r in ROUTES {
        let path = r
            .path
            .replace("{orgId}", "acme")
            .replace("{contractId}", "0190f0a0-0000-7000-8000-000000000000");
        let resp = app
            .client
            .request(r.method.clone(), app.url(&path))
            .send()
            .await
            .unwrap();
        let body: serde_json::Value = resp.json().await.unwrap_or_default();
        assert_ne!(body["code"], "route_not_found", "{} {}", r.method, r.path);
        assert_ne!(
            body["code"], "method_not_allowed",
            "{} {}",
            r.method, r.path
        );
    }
}
