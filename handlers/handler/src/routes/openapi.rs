//! `GET /api/openapi.json`: the OpenAPI 3.1 document, generated from the handlers' annotations.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// The served document. Rendered once at start-up.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "meta",
    responses((status = 200, description = "This document", content_type = "application/json"))
)]
#[expect(
    dead_code,
    reason = "annotation carrier: the document is served from state"
)]
fn openapi_json() {}

struct Bearer;

impl Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The API description.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Clment API",
        description = "Contract upload, search, AI review and audit, scoped to the caller's organisation. \
                       Every error is application/problem+json with a stable `code` and the `requestId`."
    ),
    paths(
        super::health::health,
        openapi_json,
        super::me::me,
        super::orgs::get_org,
        super::orgs::get_security,
        super::orgs::put_security,
        super::api_keys::create,
        super::api_keys::list,
        super::api_keys::rotate,
        super::api_keys::revoke,
        super::contracts::upload,
        super::contracts::list,
        super::contracts::get,
        super::contracts::content,
        super::contracts::rename,
        super::contracts::delete,
        super::audit::activity,
        super::reviews::create,
        super::reviews::list,
        super::reviews::get,
        super::reviews::delete,
        super::search::search,
        super::audit::export,
        super::audit::verify,
        super::audit::digests,
        super::usage::org,
        super::usage::region,
    ),
    components(schemas(clment_common::problem::Problem, clment_common::problem::ErrorCode)),
    modifiers(&Bearer),
    tags((name = "meta"), (name = "identity"), (name = "organisation"), (name = "api-keys"), (name = "contracts"), (name = "reviews"), (name = "search"), (name = "audit"), (name = "operator"))
)]
pub struct ApiDoc;

/// The document as JSON bytes.
#[must_use]
pub fn render() -> bytes::Bytes {
    bytes::Bytes::from(ApiDoc::openapi().to_json().unwrap_or_else(|_| "{}".into()))
}
