//! The one warp filter: every request gets a request id, is routed from the route table (or to a
//! trigger), passes authentication and authorisation for its route, and leaves with security
//! headers and a log line. Handlers never reject: they answer, errors included (warp #388).

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use bytes::{Buf, Bytes};
use clment_common::domain::RequestId;
use clment_common::ports::{Actor, AuditEvent, Client, Outcome, PortError};
use clment_common::problem::ErrorCode;
use futures_util::StreamExt;
use http::header::{self, HeaderValue};
use http::{HeaderMap, Method, StatusCode};
use tracing::Instrument;
use warp::Filter;
use warp::reply::Response;

use super::body::BodyStream;
use super::reply::{self, ApiError, REQUEST_ID};
use super::routes::{self, Access, Match, PathParams, RouteId, RouteSpec};
use crate::state::AppState;
use crate::{routes as handlers, triggers};

/// The caller's address and user agent, for the audit trail. Behind the Functions host the peer is
/// the host on loopback, so the client is the first `X-Forwarded-For` entry the host (and Azure's
/// front end) wrote; from any other peer the header is the caller's own claim and is ignored.
fn client_of(headers: &HeaderMap, remote: Option<SocketAddr>) -> Client {
    let forwarded = || {
        headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .map(str::trim)
            .and_then(|first| {
                first
                    .parse::<IpAddr>()
                    .ok()
                    .or_else(|| first.parse::<SocketAddr>().ok().map(|a| a.ip()))
            })
    };
    let address = match remote {
        Some(peer) if peer.ip().is_loopback() => forwarded().or(Some(peer.ip())),
        Some(peer) => Some(peer.ip()),
        None => forwarded(),
    };
    let user_agent = headers
        .get(header::USER_AGENT)
        .map(|v| String::from_utf8_lossy(v.as_bytes()))
        .map(|ua| {
            ua.chars()
                .filter(|c| !c.is_control())
                .take(256)
                .collect::<String>()
        })
        .filter(|ua| !ua.is_empty());
    Client {
        address: address.map(|a| a.to_string()),
        user_agent,
    }
}

/// Everything a handler gets about its request.
pub struct Request {
    /// The request id.
    pub id: RequestId,
    /// Method.
    pub method: Method,
    /// Path parameters.
    pub params: PathParams,
    /// Raw query string (no leading `?`).
    pub query: String,
    /// Headers.
    pub headers: HeaderMap,
    /// Where it came from (for the audit trail).
    pub client: Client,
    /// Body, taken once by the handler that reads it ([`Request::take_body`]).
    body: std::sync::Mutex<Option<BodyStream>>,
}

impl Request {
    /// Builds a request.
    #[must_use]
    pub fn new(
        id: RequestId,
        method: Method,
        params: PathParams,
        query: String,
        headers: HeaderMap,
        remote: Option<SocketAddr>,
        body: BodyStream,
    ) -> Self {
        Self {
            id,
            method,
            params,
            query,
            client: client_of(&headers, remote),
            headers,
            body: std::sync::Mutex::new(Some(body)),
        }
    }

    /// The body stream; empty when it was already taken.
    pub fn take_body(&self) -> BodyStream {
        self.body
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
            .unwrap_or_else(|| Box::pin(futures_util::stream::empty()))
    }
}

/// The bundle's warp filter.
pub fn filter(state: AppState) -> impl Filter<Extract = (Response,), Error = Infallible> + Clone {
    warp::method()
        .and(warp::path::full())
        .and(warp::query::raw().or(warp::any().map(String::new)).unify())
        .and(warp::header::headers_cloned())
        .and(warp::addr::remote())
        .and(warp::body::stream())
        .and(warp::any().map(move || state.clone()))
        .then(
            |method: Method,
             path: warp::path::FullPath,
             query: String,
             headers: HeaderMap,
             remote: Option<SocketAddr>,
             body,
             state: AppState| {
                handle(
                    state,
                    Incoming {
                        method,
                        path: path.as_str().to_owned(),
                        query,
                        headers,
                        remote,
                    },
                    boxed(body),
                )
            },
        )
        .recover(|rejection: warp::Rejection| async move {
            // Unreachable in practice (the filter above never rejects), but a rejection must still be a problem.
            let id = RequestId::new();
            tracing::error!(?rejection, "unexpected warp rejection");
            let mut resp = ApiError::new(ErrorCode::Internal, "The request could not be handled.")
                .into_response(&id);
            reply::finish(&mut resp, &id);
            Ok::<_, Infallible>(resp)
        })
        .unify()
}

fn boxed<S, B>(body: S) -> BodyStream
where
    S: futures_util::Stream<Item = Result<B, warp::Error>> + Send + 'static,
    B: Buf,
{
    Box::pin(body.map(|r| r.map(|mut b| b.copy_to_bytes(b.remaining()))))
}

/// The request line and headers as warp hands them over.
struct Incoming {
    method: Method,
    path: String,
    query: String,
    headers: HeaderMap,
    remote: Option<SocketAddr>,
}

async fn handle(state: AppState, incoming: Incoming, body: BodyStream) -> Response {
    let started = Instant::now();
    let headers = &incoming.headers;
    let method = incoming.method.clone();
    let id = RequestId::from_header_or_new(headers.get(REQUEST_ID).and_then(|v| v.to_str().ok()));
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %method,
        route = tracing::field::Empty,
        org = tracing::field::Empty,
        invocation_id = tracing::field::Empty,
    );
    let mut resp = route(&state, id.clone(), incoming, body)
        .instrument(span.clone())
        .await;
    reply::finish(&mut resp, &id);
    let status = resp.status().as_u16();
    let latency_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    span.in_scope(|| {
        if status >= 500 {
            tracing::error!(status, latency_us, "request finished");
        } else {
            tracing::info!(status, latency_us, "request finished");
        }
    });
    resp
}

async fn route(state: &AppState, id: RequestId, incoming: Incoming, body: BodyStream) -> Response {
    let Incoming {
        method,
        path,
        query,
        headers,
        remote,
    } = incoming;
    let path = path.as_str();
    let span = tracing::Span::current();
    // The host's readiness probe: any answer means ready, so answer at once.
    if path == "/" {
        span.record("route", "/");
        return reply::json(StatusCode::OK, &serde_json::json!({ "status": "ready" }));
    }
    if path == "/api" || path.starts_with("/api/") {
        return match routes::find(&method, path) {
            Match::Found(spec, params) => {
                span.record("route", spec.path);
                let req = Request::new(id.clone(), method, params, query, headers, remote, body);
                match api(state, spec, req).await {
                    Ok(r) => r,
                    Err(e) => e.into_response(&id),
                }
            }
            Match::WrongMethod(allowed) => {
                span.record("route", "(wrong method)");
                method_not_allowed(&method, &allowed).into_response(&id)
            }
            Match::NotFound => {
                span.record("route", "(no route)");
                ApiError::new(
                    ErrorCode::RouteNotFound,
                    format!("No route matches {path}."),
                )
                .into_response(&id)
            }
        };
    }
    // Anything else is a trigger invocation: POST /{FunctionName}.
    let name = path.trim_start_matches('/');
    if let Some(spec) = triggers::find(name) {
        span.record("route", spec.name);
        if method != Method::POST {
            return method_not_allowed(&method, &[Method::POST]).into_response(&id);
        }
        if let Some(inv) = headers
            .get("x-azure-functions-invocationid")
            .and_then(|v| v.to_str().ok())
        {
            span.record("invocation_id", inv);
        }
        return match triggers::invoke(state, spec, &headers, body).await {
            Ok(r) => r,
            Err(e) => e.into_response(&id),
        };
    }
    span.record("route", "(no route)");
    if name.contains('/') || name.is_empty() {
        ApiError::new(
            ErrorCode::RouteNotFound,
            format!("No route matches {path}."),
        )
        .into_response(&id)
    } else {
        ApiError::new(ErrorCode::UnknownFunction, "No function has this name.")
            .with(
                "functions",
                triggers::TRIGGERS
                    .iter()
                    .map(|t| t.name)
                    .collect::<Vec<_>>(),
            )
            .into_response(&id)
    }
}

fn method_not_allowed(method: &Method, allowed: &[Method]) -> ApiError {
    let list = allowed
        .iter()
        .map(Method::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    let mut e = ApiError::new(
        ErrorCode::MethodNotAllowed,
        format!("{method} is not allowed here; allowed: {list}."),
    );
    if let Ok(v) = HeaderValue::from_str(&list) {
        e = e.header(header::ALLOW, v);
    }
    e
}

/// Authenticates and authorises per the route's [`Access`], then calls its handler.
async fn api(
    state: &AppState,
    spec: &'static RouteSpec,
    req: Request,
) -> Result<Response, ApiError> {
    if spec.access == Access::Public {
        return match spec.id {
            RouteId::Health => handlers::health::health(state).await,
            RouteId::OpenApi => Ok(reply::bytes_response(
                StatusCode::OK,
                "application/json",
                Bytes::clone(&state.openapi),
            )),
            other => Err(ApiError::internal(&format!(
                "public route {other:?} has no handler"
            ))),
        };
    }
    if spec.access == Access::Operator {
        let operator = super::auth::authenticate_operator(state, &req.headers).await?;
        let decision = super::limits::check_operator(state, spec, &operator)?;
        let mut resp = match spec.id {
            RouteId::OperatorUsage => handlers::usage::region(state, &operator, &req.query).await?,
            other => {
                return Err(ApiError::internal(&format!(
                    "operator route {other:?} has no handler"
                )));
            }
        };
        super::limits::annotate(&mut resp, &decision);
        return Ok(resp);
    }
    let principal = super::auth::authenticate(state, &req.headers).await?;
    tracing::Span::current().record("org", principal.org_id().as_str());
    // The tenant's budget is spent before anything touches storage.
    let decision = super::limits::check(state, spec, &principal)?;
    let granted = super::auth::gate(state, spec, &req, principal).await?;
    let ctx = Ctx {
        state,
        spec,
        granted,
        req,
    };
    let mut resp = route_to_handler(ctx).await?;
    super::limits::annotate(&mut resp, &decision);
    Ok(resp)
}

async fn route_to_handler(ctx: Ctx<'_>) -> Result<Response, ApiError> {
    let spec = ctx.spec;
    match spec.id {
        RouteId::Me => Ok(handlers::me::me(&ctx.granted.principal)),
        RouteId::Org => Ok(handlers::orgs::get_org(&ctx)),
        RouteId::SecurityGet => Ok(handlers::orgs::get_security(&ctx)),
        RouteId::SecurityPut => handlers::orgs::put_security(ctx).await,
        RouteId::ApiKeyCreate => handlers::api_keys::create(ctx).await,
        RouteId::ApiKeyList => handlers::api_keys::list(&ctx).await,
        RouteId::ApiKeyRotate => handlers::api_keys::rotate(ctx).await,
        RouteId::ApiKeyRevoke => handlers::api_keys::revoke(&ctx).await,
        RouteId::ContractUpload => handlers::contracts::upload(ctx).await,
        RouteId::ContractList => handlers::contracts::list(&ctx).await,
        RouteId::ContractGet => handlers::contracts::get(&ctx).await,
        RouteId::ContractContent => handlers::contracts::content(&ctx).await,
        RouteId::ContractRename => handlers::contracts::rename(ctx).await,
        RouteId::ContractDelete => handlers::contracts::delete(&ctx).await,
        RouteId::ContractActivity => handlers::audit::activity(&ctx).await,
        RouteId::ReviewCreate => handlers::reviews::create(ctx).await,
        RouteId::ReviewList => handlers::reviews::list(&ctx).await,
        RouteId::ReviewGet => handlers::reviews::get(&ctx).await,
        RouteId::ReviewDelete => handlers::reviews::delete(&ctx).await,
        RouteId::Search => handlers::search::search(&ctx).await,
        RouteId::AuditExport => handlers::audit::export(&ctx).await,
        RouteId::AuditVerify => handlers::audit::verify(&ctx).await,
        RouteId::AuditDigests => handlers::audit::digests(&ctx).await,
        RouteId::Usage => handlers::usage::org(&ctx).await,
        RouteId::Health | RouteId::OpenApi | RouteId::OperatorUsage => {
            Err(ApiError::internal(&"public route behind the gate"))
        }
    }
}

/// What an authorised handler gets.
pub struct Ctx<'a> {
    /// Shared state.
    pub state: &'a AppState,
    /// The matched route.
    pub spec: &'static RouteSpec,
    /// The caller, their org's scope and record.
    pub granted: super::auth::Granted,
    /// The request.
    pub req: Request,
}

impl Ctx<'_> {
    /// Appends a success event for this route's audit action to the caller's org trail. For
    /// contracts and reviews `contract` names the contract, which files the event in its activity
    /// trail.
    ///
    /// # Errors
    /// The append failed; the caller must undo its change (no silent gaps).
    pub async fn audit(
        &self,
        resource_type: &str,
        resource_id: &str,
        contract: Option<&str>,
        details: serde_json::Value,
    ) -> Result<(), PortError> {
        self.append(self.event(resource_type, resource_id, contract, details))
            .await
    }

    /// The success event [`Self::audit`] appends, for a route that must change it first (another
    /// action, a failure outcome).
    #[must_use]
    pub fn event(
        &self,
        resource_type: &str,
        resource_id: &str,
        contract: Option<&str>,
        details: serde_json::Value,
    ) -> AuditEvent {
        AuditEvent {
            action: self.spec.audit.unwrap_or("unknown").to_owned(),
            actor: Actor::of(&self.granted.principal),
            resource_type: resource_type.to_owned(),
            resource_id: resource_id.to_owned(),
            contract_id: contract.map(str::to_owned),
            outcome: Outcome::Success,
            reason: None,
            details,
            request_id: Some(self.req.id.as_str().to_owned()),
            client: self.req.client.clone(),
        }
    }

    /// Appends `event` to the caller's org trail.
    ///
    /// # Errors
    /// The append failed.
    pub async fn append(&self, event: AuditEvent) -> Result<(), PortError> {
        self.state
            .audit
            .append(&self.granted.scope, event, time::OffsetDateTime::now_utc())
            .await
            .map(|_| ())
    }
}
