//! Contracts: upload, list, read, download, rename, delete.
//!
//! Uploads stream: the body passes once through the type sniffer, SHA-256 and the document store's
//! (encrypting) writer, and is never held whole in memory. The type is decided from the bytes; a
//! claimed type (Content-Type, file name) that contradicts them is 415. The blob is committed first
//! (conditional create), then the metadata; a failure after the blob removes it, so no half-written
//! contract is ever visible.

use bytes::Bytes;
use clment_common::content::{
    ClaimError, ContentKind, FileName, SniffError, Sniffer, claimed_kind,
};
use clment_common::domain::ContractId;
use clment_common::ports::{
    ContractRecord, ContractStatus, Created, DocumentWriter, Failure, Job, PortError,
};
use clment_common::problem::ErrorCode;
use futures_util::StreamExt as _;
use http::header::{self, HeaderValue};
use http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use sha2::Digest as _;
use time::OffsetDateTime;
use warp::Reply as _;
use warp::reply::Response;

use crate::http::Ctx;
use crate::http::body::{BodyStream, read_json};
use crate::http::reply::{self, ApiError};

const PROBLEM: &str = "application/problem+json";
/// Room for multipart boundaries and headers above the file size cap.
const MULTIPART_SLACK: u64 = 64 * 1024;
const MAX_TITLE_CHARS: usize = 200;

/// A contract as the API shows it.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContractView {
    /// Id.
    #[schema(value_type = String)]
    id: ContractId,
    /// Title.
    title: String,
    /// Sanitised original file name.
    file_name: String,
    /// Media type decided from the bytes.
    content_type: String,
    /// Bytes.
    size: u64,
    /// SHA-256, hex.
    sha256: String,
    /// `pending`, `indexing`, `indexed` or `failed`.
    status: ContractStatus,
    /// Why indexing failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    failure: Option<Failure>,
    /// Uploader.
    created_by: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    updated_at: OffsetDateTime,
}

fn view(r: &ContractRecord) -> ContractView {
    ContractView {
        id: r.id,
        title: r.title.clone(),
        file_name: r.file_name.clone(),
        content_type: r.content_type.clone(),
        size: r.size,
        sha256: r.sha256.clone(),
        status: r.status,
        failure: r.failure.clone(),
        created_by: r.created_by.as_str().to_owned(),
        created_at: r.created_at,
        updated_at: r.updated_at,
    }
}

/// A page of contracts.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContractPage {
    /// Newest first.
    items: Vec<ContractView>,
    /// Pass as `continuation` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    continuation: Option<String>,
}

/// What the upload received.
struct Received {
    kind: ContentKind,
    size: u64,
    sha256: String,
    file_name: Option<String>,
    title: Option<String>,
}

pub(crate) fn contract_id(ctx: &Ctx<'_>) -> Result<ContractId, ApiError> {
    ContractId::parse(ctx.req.params.get("contractId").unwrap_or_default())
        .map_err(|e| ApiError::new(ErrorCode::InvalidPath, format!("contractId: {e}.")))
}

fn not_found() -> ApiError {
    ApiError::new(
        ErrorCode::NotFound,
        "No contract with this id in your organisation.",
    )
}

fn store_error(e: &PortError) -> ApiError {
    match e {
        PortError::NotFound => not_found(),
        PortError::Conflict(_) => ApiError::new(
            ErrorCode::Conflict,
            "The contract changed meanwhile; retry.",
        ),
        PortError::Unavailable(_) => ApiError::internal(e),
    }
}

/// The `Idempotency-Key` header, checked: 1 to 255 printable ASCII characters.
pub(super) fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(v) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let v = v.to_str().unwrap_or_default().trim();
    if v.is_empty() || v.len() > 255 || !v.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::new(
            ErrorCode::InvalidHeader,
            "Idempotency-Key: 1 to 255 printable ASCII characters.",
        ));
    }
    Ok(Some(v.to_owned()))
}

fn clean_title(raw: &str) -> Result<String, ApiError> {
    let t = raw.split_whitespace().collect::<Vec<_>>().join(" ");
    if t.is_empty() || t.chars().count() > MAX_TITLE_CHARS || t.chars().any(char::is_control) {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            format!("title: 1 to {MAX_TITLE_CHARS} characters, no control characters."),
        ));
    }
    Ok(t)
}

fn sniff_error(e: &SniffError) -> ApiError {
    match e {
        SniffError::Empty => ApiError::new(ErrorCode::EmptyUpload, "The file is empty."),
        other => ApiError::new(ErrorCode::UnsupportedMediaType, format!("{other}.")).with(
            "accepted",
            vec!["application/pdf", ContentKind::Docx.mime(), "text/plain"],
        ),
    }
}

fn claim_error(e: &ClaimError) -> ApiError {
    ApiError::new(ErrorCode::UnsupportedMediaType, format!("{e}.")).with(
        "accepted",
        vec!["application/pdf", ContentKind::Docx.mime(), "text/plain"],
    )
}

fn too_large(max: u64) -> ApiError {
    ApiError::new(
        ErrorCode::PayloadTooLarge,
        format!("The file is larger than the {max} bytes an upload may be."),
    )
    .with("maxBytes", max)
}

/// Streams one file's bytes into the writer through the sniffer and the hash. (Hashing on a separate
/// thread was measured slower on two cores than hashing here; sealing already runs on the blocking pool.)
async fn pump<S, E>(
    mut chunks: S,
    writer: &mut dyn DocumentWriter,
    claimed: Option<ContentKind>,
    max: u64,
) -> Result<(ContentKind, u64, String), ApiError>
where
    S: futures_util::Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let mut hash = sha2::Sha256::new();
    let mut sniffer = Sniffer::new().expecting(claimed);
    let mut size: u64 = 0;
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(|e| map_stream_error(&e.to_string(), max))?;
        size += chunk.len() as u64;
        if size > max {
            return Err(too_large(max));
        }
        sniffer.feed(&chunk).map_err(|e| sniff_error(&e))?;
        writer
            .write(&chunk)
            .await
            .map_err(|e| ApiError::internal(&e))?;
        hash.update(&chunk);
    }
    let sniffed = sniffer.finish().map_err(|e| sniff_error(&e))?;
    let digest: String = hash.finalize().iter().map(|b| format!("{b:02x}")).collect();
    Ok((sniffed.kind, size, digest))
}

fn map_stream_error(msg: &str, max: u64) -> ApiError {
    if msg.contains("size limit") || msg.contains("exceeded") {
        too_large(max)
    } else {
        ApiError::new(
            ErrorCode::InvalidRequest,
            "The upload was cut off or is not well-formed.",
        )
    }
}

fn file_name_from_disposition(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(header::CONTENT_DISPOSITION)?.to_str().ok()?;
    let mut plain = None;
    for part in v.split(';').map(str::trim) {
        if let Some(ext) = part.strip_prefix("filename*=") {
            // RFC 5987: charset'lang'percent-encoded
            let encoded = ext.splitn(3, '\'').nth(2)?;
            let bytes = percent_decode(encoded)?;
            return String::from_utf8(bytes).ok();
        }
        if let Some(p) = part.strip_prefix("filename=") {
            plain = Some(p.trim_matches('"').to_owned());
        }
    }
    plain
}

fn percent_decode(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Some(out)
}

async fn receive_raw(
    headers: &HeaderMap,
    body: BodyStream,
    writer: &mut dyn DocumentWriter,
    max: u64,
) -> Result<Received, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let file_name = file_name_from_disposition(headers);
    let claimed = claimed_kind(content_type, file_name.as_deref()).map_err(|e| claim_error(&e))?;
    let (kind, size, sha256) = pump(body, writer, claimed, max).await?;
    Ok(Received {
        kind,
        size,
        sha256,
        file_name,
        title: None,
    })
}

async fn receive_multipart(
    boundary: String,
    body: BodyStream,
    writer: &mut dyn DocumentWriter,
    max: u64,
) -> Result<Received, ApiError> {
    let constraints = multer::Constraints::new()
        .allowed_fields(vec!["file", "title"])
        .size_limit(
            multer::SizeLimit::new()
                .whole_stream(max + MULTIPART_SLACK)
                .per_field(max)
                .for_field("title", 4 * 1024),
        );
    let mut form = multer::Multipart::with_constraints(body, boundary, constraints);
    let mut got: Option<(ContentKind, u64, String, Option<String>)> = None;
    let mut title = None;
    loop {
        let field = match form.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => return Err(multipart_error(&e, max)),
        };
        match field.name() {
            Some("file") if got.is_none() => {
                let name = field.file_name().map(str::to_owned);
                let ct = field.content_type().map(ToString::to_string);
                let claimed =
                    claimed_kind(ct.as_deref(), name.as_deref()).map_err(|e| claim_error(&e))?;
                let (kind, size, sha) = pump(field, writer, claimed, max).await?;
                got = Some((kind, size, sha, name));
            }
            Some("title") if title.is_none() => {
                let text = field.text().await.map_err(|e| multipart_error(&e, max))?;
                title = Some(text);
            }
            _ => {
                return Err(ApiError::new(
                    ErrorCode::InvalidRequest,
                    "The form takes one `file` part and an optional `title` part.",
                ));
            }
        }
    }
    let (kind, size, sha256, file_name) = got
        .ok_or_else(|| ApiError::new(ErrorCode::InvalidRequest, "The form has no `file` part."))?;
    Ok(Received {
        kind,
        size,
        sha256,
        file_name,
        title,
    })
}

fn multipart_error(e: &multer::Error, max: u64) -> ApiError {
    match e {
        multer::Error::StreamSizeExceeded { .. } | multer::Error::FieldSizeExceeded { .. } => {
            too_large(max)
        }
        multer::Error::UnknownField { .. } => ApiError::new(
            ErrorCode::InvalidRequest,
            "The form takes one `file` part and an optional `title` part.",
        ),
        _ => ApiError::new(
            ErrorCode::InvalidRequest,
            "The multipart body is not well-formed.",
        ),
    }
}

/// Uploads a contract: `multipart/form-data` (part `file`, optional `title`) or the raw bytes with the
/// file's content type and a `Content-Disposition` file name. `Idempotency-Key` makes retries return the
/// first result.
#[utoipa::path(
    post, path = "/api/orgs/{orgId}/contracts", tag = "contracts",
    params(
        ("orgId" = String, Path, description = "The caller's organisation id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key return the first result"),
    ),
    request_body(content_type = "multipart/form-data", description = "`file` (PDF, DOCX or UTF-8 text) and optional `title`; or the raw file with its own content type"),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Stored; indexing follows", body = ContractView, headers(("Location" = String, description = "The contract"))),
        (status = 400, description = "Empty file or malformed form", body = clment_common::problem::Problem, content_type = PROBLEM),
        (status = 409, description = "Idempotency-Key reused for different content", body = clment_common::problem::Problem, content_type = PROBLEM),
        (status = 413, description = "Larger than the upload cap", body = clment_common::problem::Problem, content_type = PROBLEM),
        (status = 415, description = "Not PDF, DOCX or UTF-8 text, or not what it claims to be", body = clment_common::problem::Problem, content_type = PROBLEM),
    )
)]
/// # Errors
/// As documented above.
pub async fn upload(ctx: Ctx<'_>) -> Result<Response, ApiError> {
    let max = ctx.state.settings.max_upload_bytes;
    let headers = &ctx.req.headers;
    let idempotency = idempotency_key(headers)?;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let multipart = multer::parse_boundary(content_type).ok();
    if multipart.is_none()
        && content_type
            .trim_start()
            .to_ascii_lowercase()
            .starts_with("multipart/")
    {
        return Err(ApiError::new(
            ErrorCode::InvalidHeader,
            "Content-Type: a multipart upload needs multipart/form-data with a boundary.",
        ));
    }
    let cap = if multipart.is_some() {
        max + MULTIPART_SLACK
    } else {
        max
    };
    if declared.is_some_and(|n| n > cap) {
        return Err(too_large(max));
    }
    if declared == Some(0) && multipart.is_none() {
        return Err(ApiError::new(ErrorCode::EmptyUpload, "The file is empty."));
    }

    let scope = &ctx.granted.scope;
    let id = ContractId::new();
    let mut writer = ctx
        .state
        .documents
        .begin(scope, id)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let body = ctx.req.take_body();
    let received = match multipart {
        Some(boundary) => receive_multipart(boundary, body, writer.as_mut(), max).await,
        None => receive_raw(headers, body, writer.as_mut(), max).await,
    };
    let received = match received {
        Ok(r) => r,
        Err(e) => {
            writer.abort().await;
            return Err(e);
        }
    };
    let title = match received.title.as_deref().map(clean_title).transpose() {
        Ok(t) => t,
        Err(e) => {
            writer.abort().await;
            return Err(e);
        }
    };
    writer.commit().await.map_err(|e| ApiError::internal(&e))?;

    let file_name = FileName::sanitize(
        received.file_name.as_deref().unwrap_or_default(),
        received.kind.extension(),
    );
    let now = OffsetDateTime::now_utc();
    let record = ContractRecord {
        id,
        org: scope.org().clone(),
        title: title.unwrap_or_else(|| file_name.as_str().to_owned()),
        file_name: file_name.as_str().to_owned(),
        content_type: received.kind.mime().to_owned(),
        size: received.size,
        sha256: received.sha256,
        status: ContractStatus::Pending,
        failure: None,
        created_by: ctx.granted.principal.user_id().clone(),
        created_at: now,
        updated_at: now,
        idempotency_key: idempotency,
    };
    let undo_blob = || async {
        if let Err(e) = ctx.state.documents.delete(scope, id).await {
            tracing::error!(error = %e, contract = %id, "could not remove an orphan blob; the reconciler will");
        }
    };
    let created = match ctx.state.contracts.create(scope, record.clone()).await {
        Ok(c) => c,
        Err(e) => {
            undo_blob().await;
            return Err(ApiError::internal(&e));
        }
    };
    let stored = match created {
        Created::Existing(first) => {
            undo_blob().await;
            if first.sha256 != record.sha256 {
                return Err(ApiError::new(
                    ErrorCode::Conflict,
                    "This Idempotency-Key was already used for a different file.",
                ));
            }
            return Ok(created_response(&first));
        }
        Created::New(r) => r,
    };
    // Locally indexing is queued durably here; on Azure the blob trigger (Event Grid) starts it.
    let job = ctx.state.local.is_some().then(|| Job::IndexContract {
        org: stored.org.clone(),
        contract: id,
        size: Some(stored.size),
    });
    let details = serde_json::json!({ "fileName": stored.file_name, "size": stored.size, "sha256": stored.sha256, "contentType": stored.content_type });
    let done = async {
        if let Some(job) = job {
            ctx.state
                .jobs
                .enqueue(job)
                .await
                .map_err(|e| e.to_string())?;
        }
        ctx.audit("contract", &id.to_string(), Some(&id.to_string()), details)
            .await
            .map_err(|e| e.to_string())
    };
    if let Err(e) = done.await {
        let _ = ctx.state.contracts.remove(scope, id).await;
        undo_blob().await;
        return Err(ApiError::internal(&e));
    }
    ctx.state.work_ready.notify_one();
    tracing::info!(contract = %id, size = stored.size, kind = ?received.kind, "contract stored");
    Ok(created_response(&stored))
}

fn created_response(r: &ContractRecord) -> Response {
    let mut resp = reply::json(StatusCode::CREATED, &view(r));
    if let Ok(v) = HeaderValue::from_str(&format!("/api/orgs/{}/contracts/{}", r.org, r.id)) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}

/// The org's contracts, newest first.
#[utoipa::path(
    get, path = "/api/orgs/{orgId}/contracts", tag = "contracts",
    params(
        ("orgId" = String, Path, description = "The caller's organisation id"),
        ("limit" = Option<usize>, Query, description = "1 to 100, default 25"),
        ("continuation" = Option<String>, Query, description = "From the previous page"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page", body = ContractPage),
        (status = 400, description = "Bad limit or continuation", body = clment_common::problem::Problem, content_type = PROBLEM),
    )
)]
/// # Errors
/// As documented above.
pub async fn list(ctx: &Ctx<'_>) -> Result<Response, ApiError> {
    let page = super::paging::PageRequest::parse(&ctx.req.query)?;
    let items = ctx
        .state
        .contracts
        .list(
            &ctx.granted.scope,
            page.limit + 1,
            page.after.map(ContractId::from_u128),
        )
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let (items, continuation) = page.finish(items, |r| r.id.as_u128());
    Ok(reply::json(
        StatusCode::OK,
        &ContractPage {
            items: items.iter().map(view).collect(),
            continuation,
        },
    ))
}

pub(crate) async fn live(ctx: &Ctx<'_>, id: ContractId) -> Result<ContractRecord, ApiError> {
    match ctx
        .state
        .contracts
        .get(&ctx.granted.scope, id)
        .await
        .map_err(|e| ApiError::internal(&e))?
    {
        Some(r) if r.status != ContractStatus::Deleting => Ok(r),
        _ => Err(not_found()),
    }
}

/// One contract's metadata.
#[utoipa::path(
    get, path = "/api/orgs/{orgId}/contracts/{contractId}", tag = "contracts",
    params(("orgId" = String, Path, description = "The caller's organisation id"), ("contractId" = String, Path, description = "The contract id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The contract", body = ContractView),
        (status = 404, description = "No such contract in this organisation", body = clment_common::problem::Problem, content_type = PROBLEM),
    )
)]
/// # Errors
/// As documented above.
pub async fn get(ctx: &Ctx<'_>) -> Result<Response, ApiError> {
    let r = live(ctx, contract_id(ctx)?).await?;
    Ok(reply::json(StatusCode::OK, &view(&r)))
}

/// The original bytes, as uploaded.
#[utoipa::path(
    get, path = "/api/orgs/{orgId}/contracts/{contractId}/content", tag = "contracts",
    params(("orgId" = String, Path, description = "The caller's organisation id"), ("contractId" = String, Path, description = "The contract id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The file (Content-Disposition: attachment; ETag is its SHA-256)", content_type = "application/octet-stream"),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 404, description = "No such contract in this organisation", body = clment_common::problem::Problem, content_type = PROBLEM),
    )
)]
/// # Errors
/// As documented above.
pub async fn content(ctx: &Ctx<'_>) -> Result<Response, ApiError> {
    let r = live(ctx, contract_id(ctx)?).await?;
    let etag = format!("\"{}\"", r.sha256);
    let matches = ctx
        .req
        .headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut resp = if matches {
        reply::empty(StatusCode::NOT_MODIFIED)
    } else {
        let stream = ctx
            .state
            .documents
            .open(&ctx.granted.scope, r.id)
            .await
            .map_err(|e| ApiError::internal(&e))?
            .ok_or_else(|| {
                ApiError::internal(&format!("contract {} has metadata but no blob", r.id))
            })?;
        let mut resp = warp::reply::stream(stream).into_response();
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_str(&r.content_type)
                .unwrap_or(HeaderValue::from_static("application/octet-stream")),
        );
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(r.size));
        let name = FileName::sanitize(
            &r.file_name,
            ContentKind::from_mime(&r.content_type).map_or("bin", |k| k.extension()),
        );
        if let Ok(v) = HeaderValue::from_str(&name.content_disposition()) {
            h.insert(header::CONTENT_DISPOSITION, v);
        }
        resp
    };
    if let Ok(v) = HeaderValue::from_str(&etag) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    Ok(resp)
}

/// A rename.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rename {
    /// The new title (1 to 200 characters).
    pub title: String,
}

/// Renames a contract.
#[utoipa::path(
    patch, path = "/api/orgs/{orgId}/contracts/{contractId}", tag = "contracts",
    params(("orgId" = String, Path, description = "The caller's organisation id"), ("contractId" = String, Path, description = "The contract id")),
    request_body = Rename,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Renamed", body = ContractView),
        (status = 404, description = "No such contract in this organisation", body = clment_common::problem::Problem, content_type = PROBLEM),
        (status = 422, description = "Invalid title", body = clment_common::problem::Problem, content_type = PROBLEM),
    )
)]
/// # Errors
/// As documented above.
pub async fn rename(ctx: Ctx<'_>) -> Result<Response, ApiError> {
    let id = contract_id(&ctx)?;
    let body: Rename = read_json(
        &ctx.req.headers,
        ctx.req.take_body(),
        ctx.state.settings.max_json_bytes,
    )
    .await?;
    let title = clean_title(&body.title)?;
    let before = live(&ctx, id).await?;
    let mut after = before.clone();
    after.title = title;
    after.updated_at =
        OffsetDateTime::now_utc().max(before.updated_at + time::Duration::microseconds(1));
    let scope = &ctx.granted.scope;
    ctx.state
        .contracts
        .replace(scope, after.clone(), before.updated_at)
        .await
        .map_err(|e| store_error(&e))?;
    let details = serde_json::json!({ "before": { "title": before.title }, "after": { "title": after.title } });
    if let Err(e) = ctx
        .audit("contract", &id.to_string(), Some(&id.to_string()), details)
        .await
    {
        let _ = ctx
            .state
            .contracts
            .replace(scope, before, after.updated_at)
            .await;
        return Err(ApiError::internal(&e));
    }
    Ok(reply::json(StatusCode::OK, &view(&after)))
}

/// Deletes a contract and everything derived from it; the audit trail stays. Idempotent.
#[utoipa::path(
    delete, path = "/api/orgs/{orgId}/contracts/{contractId}", tag = "contracts",
    params(("orgId" = String, Path, description = "The caller's organisation id"), ("contractId" = String, Path, description = "The contract id")),
    security(("bearer" = [])),
    responses((status = 204, description = "Deleted (or already gone)"))
)]
/// # Errors
/// 500 when a store fails (retrying is safe).
pub async fn delete(ctx: &Ctx<'_>) -> Result<Response, ApiError> {
    let id = contract_id(ctx)?;
    let scope = &ctx.granted.scope;
    if let Some(r) = ctx
        .state
        .contracts
        .get(scope, id)
        .await
        .map_err(|e| ApiError::internal(&e))?
    {
        if r.status != ContractStatus::Deleting {
            // 1. Mark it deleting (invisible from now on) and audit, while the change is still undoable.
            let mut marked = r.clone();
            marked.status = ContractStatus::Deleting;
            marked.updated_at =
                OffsetDateTime::now_utc().max(r.updated_at + time::Duration::microseconds(1));
            ctx.state
                .contracts
                .replace(scope, marked.clone(), r.updated_at)
                .await
                .map_err(|e| store_error(&e))?;
            let details = serde_json::json!({ "fileName": r.file_name, "sha256": r.sha256 });
            if let Err(e) = ctx
                .audit("contract", &id.to_string(), Some(&id.to_string()), details)
                .await
            {
                let _ = ctx
                    .state
                    .contracts
                    .replace(scope, r, marked.updated_at)
                    .await;
                return Err(ApiError::internal(&e));
            }
        }
        // 2. Purge: derived data (none is kept yet), the blob, then the metadata. Each step is idempotent,
        //    and the reconciler finishes a delete a crash interrupted.
        crate::reconcile::purge(ctx.state, scope, id)
            .await
            .map_err(|e| ApiError::internal(&e))?;
    }
    Ok(reply::empty(StatusCode::NO_CONTENT))
}
