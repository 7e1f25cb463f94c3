//! The route table: every HTTP route the bundle serves, with what it needs. It is the single source
//! of truth: the dispatcher routes from it, the OpenAPI coverage test and the security matrices
//! iterate it, so a route cannot exist without an entry.

use clment_common::access::Permission;
use http::Method;

/// Every API route.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RouteId {
    /// `GET /api/health`.
    Health,
    /// `GET /api/openapi.json`.
    OpenApi,
    /// `GET /api/me`.
    Me,
    /// `GET /api/orgs/{orgId}`.
    Org,
    /// `GET /api/orgs/{orgId}/security`.
    SecurityGet,
    /// `PUT /api/orgs/{orgId}/security`.
    SecurityPut,
    /// `POST /api/orgs/{orgId}/api-keys`.
    ApiKeyCreate,
    /// `GET /api/orgs/{orgId}/api-keys`.
    ApiKeyList,
    /// `POST /api/orgs/{orgId}/api-keys/{keyId}/rotate`.
    ApiKeyRotate,
    /// `DELETE /api/orgs/{orgId}/api-keys/{keyId}`.
    ApiKeyRevoke,
    /// `POST /api/orgs/{orgId}/contracts`.
    ContractUpload,
    /// `GET /api/orgs/{orgId}/contracts`.
    ContractList,
    /// `GET /api/orgs/{orgId}/contracts/{contractId}`.
    ContractGet,
    /// `GET /api/orgs/{orgId}/contracts/{contractId}/content`.
    ContractContent,
    /// `PATCH /api/orgs/{orgId}/contracts/{contractId}`.
    ContractRename,
    /// `DELETE /api/orgs/{orgId}/contracts/{contractId}`.
    ContractDelete,
    /// `GET /api/orgs/{orgId}/contracts/{contractId}/activity`.
    ContractActivity,
    /// `POST /api/orgs/{orgId}/contracts/{contractId}/reviews`.
    ReviewCreate,
    /// `GET /api/orgs/{orgId}/contracts/{contractId}/reviews`.
    ReviewList,
    /// `GET /api/orgs/{orgId}/contracts/{contractId}/reviews/{reviewId}`.
    ReviewGet,
    /// `DELETE /api/orgs/{orgId}/contracts/{contractId}/reviews/{reviewId}`.
    ReviewDelete,
    /// `GET /api/orgs/{orgId}/search`.
    Search,
    /// `GET /api/orgs/{orgId}/audit`.
    AuditExport,
    /// `GET /api/orgs/{orgId}/audit/verify`.
    AuditVerify,
    /// `GET /api/orgs/{orgId}/audit/digests`.
    AuditDigests,
    /// `GET /api/orgs/{orgId}/usage`.
    Usage,
    /// `GET /api/operator/usage`.
    OperatorUsage,
}

/// Which credentials a route accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Credentials {
    /// Access tokens and API keys.
    Any,
    /// Only interactive sessions (access tokens): key management, security settings.
    InteractiveOnly,
}

/// How much a request costs, for rate limiting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cost {
    /// Ordinary.
    Standard,
    /// Uploads and reviews: a smaller budget.
    Expensive,
}

/// Who may call a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Anyone (no credentials read).
    Public,
    /// A verified principal in this region holding the permission.
    Principal(Permission),
    /// As `Principal`, and the `{orgId}` in the path must be the principal's own org.
    Tenant(Permission),
    /// An operator access token (its own audience): never a tenant token or an API key.
    Operator,
}

/// A row of the route table.
#[derive(Clone, Debug)]
pub struct RouteSpec {
    /// Which route.
    pub id: RouteId,
    /// Its method.
    pub method: Method,
    /// Its path template, `{name}` for parameters, as in OpenAPI.
    pub path: &'static str,
    /// Who may call it.
    pub access: Access,
    /// Which credentials it accepts.
    pub credentials: Credentials,
    /// Rate-limit class.
    pub cost: Cost,
    /// The audit action it writes when it changes state (`None` for reads).
    pub audit: Option<&'static str>,
}

impl RouteSpec {
    /// Marks the route as expensive (its own, smaller rate budget).
    const fn expensive(mut self) -> Self {
        self.cost = Cost::Expensive;
        self
    }

    /// Whether it changes state (and so must write an audit event).
    #[must_use]
    pub fn mutating(&self) -> bool {
        self.audit.is_some()
    }
}

const fn route(
    id: RouteId,
    method: Method,
    path: &'static str,
    access: Access,
    credentials: Credentials,
    audit: Option<&'static str>,
) -> RouteSpec {
    RouteSpec {
        id,
        method,
        path,
        access,
        credentials,
        cost: Cost::Standard,
        audit,
    }
}

/// The route table.
pub static ROUTES: &[RouteSpec] = &[
    route(
        RouteId::Health,
        Method::GET,
        "/api/health",
        Access::Public,
        Credentials::Any,
        None,
    ),
    route(
        RouteId::OpenApi,
        Method::GET,
        "/api/openapi.json",
        Access::Public,
        Credentials::Any,
        None,
    ),
    route(
        RouteId::Me,
        Method::GET,
        "/api/me",
        Access::Principal(Permission::ProfileRead),
        Credentials::Any,
        None,
    ),
    route(
        RouteId::Org,
        Method::GET,
        "/api/orgs/{orgId}",
        Access::Tenant(Permission::ProfileRead),
        Credentials::Any,
        None,
    ),
    route(
        RouteId::SecurityGet,
        Method::GET,
        "/api/orgs/{orgId}/security",
        Access::Tenant(Permission::SecurityManage),
        Credentials::InteractiveOnly,
        None,
    ),
    route(
        RouteId::SecurityPut,
        Method::PUT,
        "/api/orgs/{orgId}/security",
        Access::Tenant(Permission::SecurityManage),
        Credentials::InteractiveOnly,
        Some("security.updated"),
    ),
    route(
        RouteId::ApiKeyCreate,
        Method::POST,
        "/api/orgs/{orgId}/api-keys",
        Access::Tenant(Permission::ApiKeysManage),
        Credentials::InteractiveOnly,
        Some("apikey.created"),
    ),
    route(
        RouteId::ApiKeyList,
        Method::GET,
        "/api/orgs/{orgId}/api-keys",
        Access::Tenant(Permission::ApiKeysManage),
        Credentials::InteractiveOnly,
        None,
    ),
    route(
        RouteId::ApiKeyRotate,
        Method::POST,
        "/api/orgs/{orgId}/api-keys/{keyId}/rotate",
        Access::Tenant(Permission::ApiKeysManage),
        Credentials::InteractiveOnly,
        Some("apikey.rotated"),
    ),
    route(
        RouteId::ApiKeyRevoke,
        Method::DELETE,
        "/api/orgs/{orgId}/api-keys/{keyId}",
        Access::Tenant(Permission::ApiKeysManage),
        Credentials::InteractiveOnly,
        Some("apikey.revoked"),
    ),
    route(
        RouteId::ContractUpload,
        Method::POST,
        "/api/orgs/{orgId}/contracts",
        Access::Tenant(Permission::ContractsWrite),
        Credentials::Any,
        Some("contract.uploaded"),
    )
    .expensive(),
    route(
        RouteId::ContractList,
        Method::GET,
        "/api/orgs/{orgId}/contracts",
        Access::Tenant(Permission::ContractsRead),
        Credentials::Any,
        None,
    ),
    route(
        RouteId::ContractGet,
        Method::GET,
        "/api/orgs/{orgId}/contracts/{contractId}",
        Access::Tenant(Permission::ContractsRead),
        Credentials::Any,
        None,
    ),
    route(
        RouteId::ContractContent,
        Method::GET,
        "/api/orgs/{orgId}/contracts/{contractId}/content",
        Access::Tenant(Permission::ContractsRead),
        Credentials::Any,
        None,
    ),
    route(
        RouteId::ContractRename,
        Method::PATCH,
        "/api/orgs/{orgId}/contracts/{contractId}",
        Access::Tenant(Permission::ContractsWrite),
        Credentials::Any,
        Some("contract.renamed"),
    ),
    route(
        RouteId::ContractDelete,
        Method::DELETE,
        "/api/orgs/{orgId}/contracts/{contractId}",
        Access::Tenant(Permission::ContractsDelete),
        Credentials::Any,
        Some("contract.deleted"),
    ),
    route(
        RouteId::ContractActivity,
        Method::GET,
        "/api/orgs/{orgId}/contracts/{contractId}/activity",
        Access::Tenant(Permission::ContractsRead),
        Credentials::Any,
        None,
    ),
    route(
        RouteId::ReviewCreate,
        Method::POST,
        "/api/orgs/{orgId}/contracts/{contractId}/reviews",
        Access::Tenant(Permission::ReviewsRun),
        Credentials::Any,
        Some("review.requested"),
    )
    .expensive(),
    route(
        RouteId::ReviewList,
        Method::GET,
        "/api/orgs/{orgId}/contracts/{contractId}/reviews",
        Access::Tenant(Permission::ReviewsRead),
        Credentials::Any,
        None,
    ),
    route(
        RouteId::ReviewGet,
        Method::GET,
        "/api/orgs/{orgId}/contracts/{contractId}/reviews/{reviewId}",
        Access::Tenant(Permission::ReviewsRead),
        Credentials::Any,
        None,
    ),
    route(
        RouteId::ReviewDelete,
        Method::DELETE,
        "/api/orgs/{orgId}/contracts/{contractId}/reviews/{reviewId}",
        Access::Tenant(Permission::ReviewsRun),
        Credentials::Any,
        Some("review.deleted"),
    ),
    route(
        RouteId::Search,
        Method::GET,
        "/api/orgs/{orgId}/search",
        Access::Tenant(Permission::ContractsRead),
        Credentials::Any,
        None,
    ),
    route(
        RouteId::AuditExport,
        Method::GET,
        "/api/orgs/{orgId}/audit",
        Access::Tenant(Permission::AuditRead),
        Credentials::Any,
        None,
    ),
    route(
        RouteId::AuditVerify,
        Method::GET,
        "/api/orgs/{orgId}/audit/verify",
        Access::Tenant(Permission::AuditRead),
        Credentials::Any,
        None,
    ),
    route(
        RouteId::AuditDigests,
        Method::GET,
        "/api/orgs/{orgId}/audit/digests",
        Access::Tenant(Permission::AuditRead),
        Credentials::Any,
        None,
    ),
    route(
        RouteId::Usage,
        Method::GET,
        "/api/orgs/{orgId}/usage",
        Access::Tenant(Permission::UsageRead),
        Credentials::Any,
        None,
    ),
    route(
        RouteId::OperatorUsage,
        Method::GET,
        "/api/operator/usage",
        Access::Operator,
        Credentials::InteractiveOnly,
        None,
    )
    .expensive(),
];

/// Path parameters of a matched route, in template order.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PathParams(Vec<(&'static str, String)>);

impl PathParams {
    /// The raw value of parameter `name`.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The outcome of matching a method and path against the table.
#[derive(Debug)]
pub enum Match {
    /// A route matched.
    Found(&'static RouteSpec, PathParams),
    /// The path exists for other methods.
    WrongMethod(Vec<Method>),
    /// No route has this path.
    NotFound,
}

fn match_path(template: &'static str, path: &str) -> Option<PathParams> {
    let mut params = Vec::new();
    let mut t = template.split('/');
    let mut p = path.split('/');
    loop {
        match (t.next(), p.next()) {
            (None, None) => return Some(PathParams(params)),
            (Some(ts), Some(ps)) => {
                if let Some(name) = ts.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    if ps.is_empty() {
                        return None;
                    }
                    params.push((name, ps.to_owned()));
                } else if ts != ps {
                    return None;
                }
            }
            _ => return None,
        }
    }
}

/// Finds the route for `method` and `path`. `HEAD` matches `GET` routes.
#[must_use]
pub fn find(method: &Method, path: &str) -> Match {
    let mut allowed = Vec::new();
    for spec in ROUTES {
        if let Some(params) = match_path(spec.path, path) {
            if spec.method == method || (method == Method::HEAD && spec.method == Method::GET) {
                return Match::Found(spec, params);
            }
            allowed.push(spec.method.clone());
        }
    }
    if allowed.is_empty() {
        Match::NotFound
    } else {
        Match::WrongMethod(allowed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matching() {
        assert!(
            matches!(find(&Method::GET, "/api/health"), Match::Found(s, _) if s.id == RouteId::Health)
        );
        assert!(matches!(
            find(&Method::HEAD, "/api/health"),
            Match::Found(..)
        ));
        assert!(
            matches!(find(&Method::POST, "/api/health"), Match::WrongMethod(m) if m == vec![Method::GET])
        );
        assert!(matches!(
            find(&Method::GET, "/api/health/"),
            Match::NotFound
        ));
        assert!(matches!(find(&Method::GET, "/api/nope"), Match::NotFound));
        let p = match_path(
            "/api/orgs/{orgId}/contracts/{contractId}",
            "/api/orgs/acme/contracts/42",
        )
        .unwrap();
        assert_eq!(p.get("orgId"), Some("acme"));
        assert_eq!(p.get("contractId"), Some("42"));
        assert!(match_path("/api/orgs/{orgId}", "/api/orgs/").is_none());
    }

    #[test]
    fn table_has_unique_method_path_pairs_and_api_prefix() {
        let mut seen = std::collections::HashSet::new();
        for r in ROUTES {
            assert!(r.path.starts_with("/api/"), "{}", r.path);
            assert!(
                seen.insert((r.method.clone(), r.path)),
                "duplicate {} {}",
                r.method,
                r.path
            );
            if let Access::Tenant(_) = r.access {
                assert!(
                    r.path.starts_with("/api/orgs/{orgId}"),
                    "tenant route without org: {}",
                    r.path
                );
            }
        }
    }
}
