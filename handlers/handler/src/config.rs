//! Typed configuration, read once at start-up from the environment (Functions app settings are
//! environment variables) and validated. A missing or malformed setting stops start-up with a
//! message naming it; values of secret settings are never echoed.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use std::num::NonZeroU32;

use clment_common::auth::jwt::is_asymmetric;
use clment_common::domain::Region;
use clment_common::ratelimit::{Budget, Limits};
use jsonwebtoken::Algorithm;

/// Every setting the bundle reads, with its default and meaning (the README's table is checked against this).
pub const SETTINGS: &[(&str, &str, &str)] = &[
    (
        "FUNCTIONS_CUSTOMHANDLER_PORT",
        "7071",
        "Port on 127.0.0.1; the Functions host sets it.",
    ),
    (
        "CLMENT_BACKEND",
        "local",
        "`local` (embedded, no network) or `azure`.",
    ),
    (
        "CLMENT_REGION",
        "us (local only)",
        "This deployment's region: `us`, `eu` or `au`. Required with `azure`.",
    ),
    (
        "CLMENT_DATA_DIR",
        "./.clment",
        "Local backend: the one directory that holds all state.",
    ),
    (
        "CLMENT_AUTH_ISSUER",
        "(dev issuer)",
        "Identity server issuer (`iss`), exact match. Required with `azure`.",
    ),
    (
        "CLMENT_AUTH_AUDIENCE",
        "clment-api",
        "Audience that the token's `aud` must contain.",
    ),
    (
        "CLMENT_AUTH_JWKS_URL",
        "(dev issuer)",
        "Identity server JWKS URL; https (http only for loopback in local mode).",
    ),
    (
        "CLMENT_AUTH_ALGORITHMS",
        "RS256,PS256,ES256",
        "Allowed token algorithms; asymmetric only.",
    ),
    (
        "CLMENT_AUTH_TOKEN_TYPE",
        "at+jwt",
        "Required `typ` header; `any` skips the check.",
    ),
    (
        "CLMENT_AUTH_JWKS_CACHE_SECS",
        "600",
        "How long a fetched JWKS is fresh.",
    ),
    (
        "CLMENT_OPERATOR_AUDIENCE",
        "clment-operator",
        "Audience of operator access tokens (same issuer and JWKS; `role` must name `operator`, `amr` a second factor); only they reach `/api/operator/...`, and they reach nothing else.",
    ),
    (
        "CLMENT_AZURE_PLACEMENT",
        "",
        "Azure backend: where each resource lives, as the infrastructure wrote it (JSON: `locations`, `aiDeployments`); start-up refuses any location outside the region's geography, a Global model deployment, or a `REGION_NAME` elsewhere. Required with `azure`.",
    ),
    (
        "CLMENT_AZURE_BLOB_URL",
        "",
        "Azure backend: Blob Storage account URL (https).",
    ),
    (
        "CLMENT_AZURE_COSMOS_URL",
        "",
        "Azure backend: Cosmos DB account URL (https).",
    ),
    (
        "CLMENT_MAX_JSON_BYTES",
        "65536",
        "Largest JSON request body on API routes.",
    ),
    (
        "CLMENT_MAX_INVOCATION_BYTES",
        "134217728",
        "Largest trigger invocation payload from the Functions host.",
    ),
    (
        "CLMENT_SHUTDOWN_GRACE_SECS",
        "25",
        "How long in-flight requests may finish after SIGTERM or Ctrl-C.",
    ),
    (
        "CLMENT_LOG",
        "info",
        "Log filter (tracing `EnvFilter` syntax).",
    ),
    (
        "CLMENT_LOG_FORMAT",
        "json",
        "`json` (one object per line) or `pretty`.",
    ),
    (
        "CLMENT_AZURE_QUEUE_URL",
        "",
        "Azure backend: Queue Storage URL (`https://<account>.queue.core.windows.net`); required with `azure`.",
    ),
    (
        "CLMENT_AZURE_COSMOS_DATABASE",
        "clment",
        "Azure backend: the Cosmos DB database (its containers are created by the infrastructure).",
    ),
    (
        "CLMENT_AZURE_CLIENT_ID",
        "(system-assigned)",
        "Azure backend: client id of a user-assigned managed identity; default: the app's system-assigned identity.",
    ),
    (
        "CLMENT_AUDIT_SIGNING_KEY",
        "(key file)",
        "Ed25519 seed (base64url, 32 bytes) that signs audit digests; required on Azure (a Key Vault reference); locally a key file in the data dir (0600). Secret.",
    ),
    (
        "CLMENT_AUDIT_RETIRED_PUBLIC_KEYS",
        "(none)",
        "Comma-separated base64url Ed25519 public keys of retired digest keys, still accepted when verifying.",
    ),
    (
        "CLMENT_AUDIT_DIGEST_INTERVAL_SECS",
        "3600",
        "How often each org's audit chain head is signed (local background task; on Azure the `audit-digest` timer).",
    ),
    (
        "CLMENT_RECONCILE_GRACE_SECS",
        "900",
        "How old (0 to 86400 s) an orphan blob or an unfinished delete must be before the reconciler (the `reconcile` timer every 15 minutes; locally a background task) removes or finishes it; protects uploads and deletes in flight.",
    ),
    (
        "CLMENT_AZURE_SEARCH_URL",
        "",
        "Azure backend: Azure AI Search service URL (`https://<service>.search.windows.net`); required with `azure`.",
    ),
    (
        "CLMENT_AZURE_SEARCH_INDEX",
        "contract-chunks",
        "Azure backend: the region's search index (created or updated at start-up).",
    ),
    (
        "CLMENT_EMBEDDING_ENDPOINT",
        "(none: keyword search)",
        "Azure OpenAI resource URL for chunk embeddings (`https://<resource>.openai.azure.com`); without it search is keyword-only.",
    ),
    (
        "CLMENT_EMBEDDING_DEPLOYMENT",
        "",
        "The embedding deployment's name; required with CLMENT_EMBEDDING_ENDPOINT.",
    ),
    (
        "CLMENT_EMBEDDING_DIMENSIONS",
        "1536",
        "Length of the embedding vectors (2 to 3072).",
    ),
    (
        "CLMENT_EMBEDDING_API_KEY",
        "(managed identity)",
        "API key for the embedding deployment; without it the managed identity is used (Azure backend only). Secret.",
    ),
    (
        "CLMENT_EXTRACT_TIMEOUT_SECS",
        "60",
        "Wall-clock limit for extracting one document's text (the worker process is killed after it).",
    ),
    (
        "CLMENT_EXTRACT_MEMORY_MB",
        "1024",
        "Address-space limit of each extraction worker process, in MiB.",
    ),
    (
        "CLMENT_EXTRACT_WORKERS",
        "2",
        "Extraction worker processes that may run at once (more wait).",
    ),
    (
        "CLMENT_EXTRACT_MAX_PAGES",
        "2000",
        "Documents with more pages fail with `too_large`.",
    ),
    (
        "CLMENT_REVIEW_PROVIDER",
        "offline",
        "`offline` (rules in-process, no network) or `foundry` (Azure AI Foundry / Azure OpenAI chat completions).",
    ),
    (
        "CLMENT_FOUNDRY_ENDPOINT",
        "",
        "Azure OpenAI / AI Foundry resource URL (`https://<resource>.openai.azure.com`); required with `foundry`.",
    ),
    (
        "CLMENT_FOUNDRY_DEPLOYMENT",
        "",
        "The chat deployment's name (a model with structured outputs, e.g. gpt-4o 2024-08-06 or later); required with `foundry`.",
    ),
    (
        "CLMENT_FOUNDRY_API_VERSION",
        "v1",
        "`v1` (the `/openai/v1/` path, GA) or a dated api-version for the deployment path; `store: false` is sent on `v1` and on dated versions from 2024-12-01-preview (older ones have no stored completions).",
    ),
    (
        "CLMENT_FOUNDRY_API_KEY",
        "(managed identity)",
        "API key for the chat deployment; without it the managed identity is used (Azure backend only). Secret.",
    ),
    (
        "CLMENT_FOUNDRY_TIMEOUT_SECS",
        "120",
        "Time limit for one review's model call, retries included (5 to 480: a `run-job` invocation must end within host.json's 10-minute `functionTimeout`); past it the review fails with `timeout`.",
    ),
    (
        "CLMENT_REVIEW_CONTEXT_PERCENT",
        "35",
        "Largest share of a contract's tokens, in percent (5 to 100), that a `foundry` review sends the model. On CUAD dev the labelled clauses inside what is sent: 78 % at 25, 86 % at 35, 90 % at 45, 94 % at 60 (`handler eval-review --context-percent N`).",
    ),
    (
        "CLMENT_INDEX_INLINE_MAX_BYTES",
        "16777216",
        "Blob trigger: above this size the blob is read through the storage port instead of the payload's copy.",
    ),
];

/// A setting is missing or malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("setting {setting}: {problem}")]
pub struct ConfigError {
    /// The setting's name.
    pub setting: &'static str,
    /// What is wrong (never the value of a secret).
    pub problem: String,
}

fn bad(setting: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        setting,
        problem: problem.into(),
    }
}

/// Which backend holds the data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Backend {
    /// Embedded: everything under one data directory, no network.
    Local {
        /// The data directory.
        data_dir: PathBuf,
    },
    /// Azure Blob Storage, Cosmos DB, AI Search, Azure AI Foundry.
    Azure {
        /// Blob service URL.
        blob_url: String,
        /// Cosmos DB account URL.
        cosmos_url: String,
        /// Queue service URL.
        queue_url: String,
        /// Cosmos DB database name.
        cosmos_database: String,
        /// Client id of a user-assigned managed identity (`None`: the system-assigned one).
        managed_identity_client_id: Option<String>,
        /// Azure AI Search service URL.
        search_url: String,
        /// The region's search index.
        search_index: String,
    },
}

/// The embedding deployment, when one is configured.
#[derive(Clone, Debug)]
pub struct EmbeddingSettings {
    /// Azure OpenAI resource URL.
    pub endpoint: String,
    /// Deployment name.
    pub deployment: String,
    /// Vector length.
    pub dimensions: usize,
    /// API key (else the managed identity).
    pub api_key: Option<secrecy::SecretString>,
}

/// Which provider reviews contracts.
#[derive(Clone, Debug)]
pub enum ReviewSettings {
    /// Rules in-process; nothing leaves the process.
    Offline,
    /// Azure AI Foundry / Azure OpenAI chat completions.
    Foundry {
        /// Resource URL.
        endpoint: String,
        /// Chat deployment name.
        deployment: String,
        /// Dated api-version, or `v1` for the `/openai/v1/` path.
        api_version: String,
        /// API key (else the managed identity).
        api_key: Option<secrecy::SecretString>,
        /// Limit for one review's model call, retries included.
        timeout: Duration,
        /// Largest share of a contract's tokens sent to the model, in percent.
        context_percent: u8,
    },
}

/// Limits and switches of the indexing pipeline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexingSettings {
    /// Wall-clock limit per extraction.
    pub extract_timeout: Duration,
    /// Address-space limit per worker, bytes.
    pub extract_memory_bytes: u64,
    /// Concurrent worker processes.
    pub extract_workers: usize,
    /// Page cap.
    pub extract_max_pages: u64,
    /// Above this the trigger reads the blob through the storage port.
    pub inline_max_bytes: u64,
    /// The executable whose `extract-worker` subcommand extracts (default: this one). Not an
    /// environment setting: tests whose executable is not the handler point it at the handler.
    pub worker_program: Option<PathBuf>,
    /// Whether the local server runs its indexing workers (always in production; tests of other
    /// concerns turn them off so the queue and the audit trail hold only what they wrote).
    pub background: bool,
}

/// Where access tokens are verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Identity {
    /// The local development issuer (local backend only, no `CLMENT_AUTH_*` given).
    DevIssuer {
        /// Audience minted into and required from dev tokens.
        audience: String,
    },
    /// A real OpenID Connect identity server.
    Issuer {
        /// Exact `iss`.
        issuer: String,
        /// Required audience.
        audience: String,
        /// JWKS URL.
        jwks_url: String,
    },
}

/// Log output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line.
    Json,
    /// Human-readable.
    Pretty,
}

/// The validated configuration.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Listen address (always loopback: the host calls 127.0.0.1).
    pub addr: SocketAddr,
    /// This deployment's region.
    pub region: Region,
    /// The backend.
    pub backend: Backend,
    /// Token verification.
    pub identity: Identity,
    /// Required audience of operator tokens.
    pub operator_audience: String,
    /// Where the Azure resources live (checked at start-up); `None` on the local backend.
    pub placement: Option<clment_common::placement::Placement>,
    /// Allowed token algorithms.
    pub algorithms: Vec<Algorithm>,
    /// Required `typ`, or none.
    pub token_type: Option<String>,
    /// JWKS freshness.
    pub jwks_cache: Duration,
    /// Per-tenant rate limits.
    pub rate_limits: Limits,
    /// Upload cap.
    pub max_upload_bytes: u64,
    /// Local master key, when configured (otherwise a key file in the data dir).
    pub master_key: Option<secrecy::SecretString>,
    /// The audit digest signing seed, when configured (otherwise a key file in the data dir).
    pub audit_signing_key: Option<secrecy::SecretString>,
    /// Retired digest public keys (base64url), still accepted when verifying.
    pub audit_retired_keys: Vec<String>,
    /// Digest signing interval.
    pub audit_digest_interval: Duration,
    /// How old an orphan blob or a `deleting` record must be before the reconciler acts on it.
    pub reconcile_grace: Duration,
    /// JSON body cap on API routes.
    pub max_json_bytes: usize,
    /// Invocation payload cap on trigger routes.
    pub max_invocation_bytes: usize,
    /// Shutdown grace period.
    pub shutdown_grace: Duration,
    /// Indexing limits.
    pub indexing: IndexingSettings,
    /// The review provider.
    pub review: ReviewSettings,
    /// The embedding deployment (`None`: keyword search only).
    pub embeddings: Option<EmbeddingSettings>,
    /// Log filter.
    pub log_filter: String,
    /// Log format.
    pub log_format: LogFormat,
}

/// The longest `CLMENT_FOUNDRY_TIMEOUT_SECS`: a review (model call plus reads and writes) must end
/// within host.json's `functionTimeout` (10 minutes) when `run-job` runs it.
pub const MAX_FOUNDRY_TIMEOUT_SECS: u64 = 480;

/// The default audience.
pub const DEFAULT_AUDIENCE: &str = "clment-api";

/// The default audience of operator tokens.
pub const DEFAULT_OPERATOR_AUDIENCE: &str = "clment-operator";

impl Settings {
    /// Reads the process environment.
    ///
    /// # Errors
    /// [`ConfigError`] naming the first bad setting.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_map(&std::env::vars().collect())
    }

    /// Reads settings from a map (tests pass their own).
    ///
    /// # Errors
    /// [`ConfigError`] naming the first bad setting.
    pub fn from_map(env: &HashMap<String, String>) -> Result<Self, ConfigError> {
        let get = |k: &str| env.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());

        let port = match get("FUNCTIONS_CUSTOMHANDLER_PORT") {
            None => 7071,
            Some(v) => v.parse::<u16>().map_err(|_| {
                bad(
                    "FUNCTIONS_CUSTOMHANDLER_PORT",
                    format!("must be a port number 0-65535, got {v:?}"),
                )
            })?,
        };

        let backend_name = get("CLMENT_BACKEND").unwrap_or("local");
        let azure = match backend_name {
            "local" => false,
            "azure" => true,
            other => {
                return Err(bad(
                    "CLMENT_BACKEND",
                    format!("must be `local` or `azure`, got {other:?}"),
                ));
            }
        };

        let region = match get("CLMENT_REGION") {
            Some(v) => v.parse::<Region>().map_err(|_| {
                bad(
                    "CLMENT_REGION",
                    format!("must be one of us, eu, au, got {v:?}"),
                )
            })?,
            None if azure => {
                return Err(bad(
                    "CLMENT_REGION",
                    "is required with the azure backend (us, eu or au)",
                ));
            }
            None => Region::Us,
        };

        let backend = if azure {
            Backend::Azure {
                blob_url: https_url(get, "CLMENT_AZURE_BLOB_URL", true)?,
                cosmos_url: https_url(get, "CLMENT_AZURE_COSMOS_URL", true)?,
                queue_url: https_url(get, "CLMENT_AZURE_QUEUE_URL", true)?,
                cosmos_database: match get("CLMENT_AZURE_COSMOS_DATABASE").unwrap_or("clment") {
                    d if !d.is_empty()
                        && d.len() <= 255
                        && d.chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') =>
                    {
                        d.to_owned()
                    }
                    d => {
                        return Err(bad(
                            "CLMENT_AZURE_COSMOS_DATABASE",
                            format!("must be letters, digits, '-' or '_', got {d:?}"),
                        ));
                    }
                },
                managed_identity_client_id: get("CLMENT_AZURE_CLIENT_ID").map(str::to_owned),
                search_url: https_url(get, "CLMENT_AZURE_SEARCH_URL", true)?,
                search_index: match get("CLMENT_AZURE_SEARCH_INDEX").unwrap_or("contract-chunks") {
                    i if (2..=128).contains(&i.len())
                        && i.chars()
                            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                        && !i.starts_with('-') =>
                    {
                        i.to_owned()
                    }
                    i => {
                        return Err(bad(
                            "CLMENT_AZURE_SEARCH_INDEX",
                            format!("must be 2-128 lower-case letters, digits or '-', got {i:?}"),
                        ));
                    }
                },
            }
        } else {
            Backend::Local {
                data_dir: PathBuf::from(get("CLMENT_DATA_DIR").unwrap_or("./.clment")),
            }
        };

        let audience = get("CLMENT_AUTH_AUDIENCE")
            .unwrap_or(DEFAULT_AUDIENCE)
            .to_owned();
        let issuer = get("CLMENT_AUTH_ISSUER");
        let jwks = get("CLMENT_AUTH_JWKS_URL");
        let identity = match (issuer, jwks) {
            (None, None) if !azure => Identity::DevIssuer { audience },
            (None, _) => {
                return Err(bad(
                    "CLMENT_AUTH_ISSUER",
                    if azure {
                        "is required with the azure backend (the development issuer is local-only)"
                    } else {
                        "is required when CLMENT_AUTH_JWKS_URL is set"
                    },
                ));
            }
            (Some(_), None) => {
                return Err(bad(
                    "CLMENT_AUTH_JWKS_URL",
                    "is required when CLMENT_AUTH_ISSUER is set",
                ));
            }
            (Some(iss), Some(_)) => Identity::Issuer {
                issuer: iss.to_owned(),
                audience,
                jwks_url: https_url(get, "CLMENT_AUTH_JWKS_URL", azure)?,
            },
        };

        let algorithms = match get("CLMENT_AUTH_ALGORITHMS") {
            None => vec![Algorithm::RS256, Algorithm::PS256, Algorithm::ES256],
            Some(list) => {
                let mut algs = Vec::new();
                for name in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                    let alg = name.parse::<Algorithm>().map_err(|_| {
                        bad(
                            "CLMENT_AUTH_ALGORITHMS",
                            format!("unknown algorithm {name:?}"),
                        )
                    })?;
                    if !is_asymmetric(alg) {
                        return Err(bad(
                            "CLMENT_AUTH_ALGORITHMS",
                            format!("{name} is symmetric; only asymmetric algorithms are allowed"),
                        ));
                    }
                    algs.push(alg);
                }
                if algs.is_empty() {
                    return Err(bad("CLMENT_AUTH_ALGORITHMS", "names no algorithm"));
                }
                algs
            }
        };

        let token_type = match get("CLMENT_AUTH_TOKEN_TYPE") {
            None => Some("at+jwt".to_owned()),
            Some("any") => None,
            Some(t) => Some(t.to_owned()),
        };

        let log_format = match get("CLMENT_LOG_FORMAT").unwrap_or("json") {
            "json" => LogFormat::Json,
            "pretty" => LogFormat::Pretty,
            other => {
                return Err(bad(
                    "CLMENT_LOG_FORMAT",
                    format!("must be `json` or `pretty`, got {other:?}"),
                ));
            }
        };

        let budget = |rps: &'static str,
                      burst: &'static str,
                      d_rps: u64,
                      d_burst: u64|
         -> Result<Budget, ConfigError> {
            let r = number(get, rps, d_rps, 1, 1_000_000)?;
            let b = number(get, burst, d_burst, 1, 1_000_000)?;
            let nz = |n: u64, name| {
                u32::try_from(n)
                    .ok()
                    .and_then(NonZeroU32::new)
                    .ok_or_else(|| bad(name, "must be from 1 to 1000000"))
            };
            Ok(Budget::new(nz(r, rps)?, nz(b, burst)?))
        };
        let org = budget("CLMENT_RATE_LIMIT_RPS", "CLMENT_RATE_LIMIT_BURST", 50, 100)?;
        let org_expensive = budget(
            "CLMENT_RATE_LIMIT_EXPENSIVE_RPS",
            "CLMENT_RATE_LIMIT_EXPENSIVE_BURST",
            2,
            10,
        )?;
        let key = budget(
            "CLMENT_RATE_LIMIT_KEY_RPS",
            "CLMENT_RATE_LIMIT_KEY_BURST",
            20,
            40,
        )?;
        let rate_limits = Limits {
            org,
            org_expensive,
            key,
            key_expensive: org_expensive,
        };

        let embeddings = match get("CLMENT_EMBEDDING_ENDPOINT") {
            None => None,
            Some(_) => {
                let api_key = env
                    .get("CLMENT_EMBEDDING_API_KEY")
                    .map(|v| v.trim())
                    .filter(|v| !v.is_empty())
                    .map(|v| secrecy::SecretString::from(v.to_owned()));
                if api_key.is_none() && !azure {
                    return Err(bad(
                        "CLMENT_EMBEDDING_API_KEY",
                        "is required with CLMENT_EMBEDDING_ENDPOINT on the local backend (no managed identity)",
                    ));
                }
                Some(EmbeddingSettings {
                    endpoint: https_url(get, "CLMENT_EMBEDDING_ENDPOINT", azure)?,
                    deployment: get("CLMENT_EMBEDDING_DEPLOYMENT")
                        .ok_or_else(|| {
                            bad(
                                "CLMENT_EMBEDDING_DEPLOYMENT",
                                "is required with CLMENT_EMBEDDING_ENDPOINT",
                            )
                        })?
                        .to_owned(),
                    dimensions: usize::try_from(number(
                        get,
                        "CLMENT_EMBEDDING_DIMENSIONS",
                        1536,
                        2,
                        3072,
                    )?)
                    .unwrap_or(1536),
                    api_key,
                })
            }
        };
        let review = match get("CLMENT_REVIEW_PROVIDER").unwrap_or("offline") {
            "offline" => ReviewSettings::Offline,
            "foundry" => {
                let api_key = env
                    .get("CLMENT_FOUNDRY_API_KEY")
                    .map(|v| v.trim())
                    .filter(|v| !v.is_empty())
                    .map(|v| secrecy::SecretString::from(v.to_owned()));
                if api_key.is_none() && !azure {
                    return Err(bad(
                        "CLMENT_FOUNDRY_API_KEY",
                        "is required with CLMENT_REVIEW_PROVIDER=foundry on the local backend (no managed identity)",
                    ));
                }
                let api_version = get("CLMENT_FOUNDRY_API_VERSION").unwrap_or("v1");
                let dated = api_version.len() >= 10
                    && api_version.as_bytes()[..10]
                        .iter()
                        .enumerate()
                        .all(|(i, b)| {
                            if i == 4 || i == 7 {
                                *b == b'-'
                            } else {
                                b.is_ascii_digit()
                            }
                        })
                    && api_version[10..]
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c == '-');
                if api_version != "v1" && !dated {
                    return Err(bad(
                        "CLMENT_FOUNDRY_API_VERSION",
                        format!(
                            "must be `v1` or a dated version such as 2024-10-21, got {api_version:?}"
                        ),
                    ));
                }
                ReviewSettings::Foundry {
                    endpoint: https_url(get, "CLMENT_FOUNDRY_ENDPOINT", azure)?,
                    deployment: match get("CLMENT_FOUNDRY_DEPLOYMENT") {
                        Some(d)
                            if d.len() <= 64
                                && d.chars().all(|c| {
                                    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')
                                }) =>
                        {
                            d.to_owned()
                        }
                        Some(d) => {
                            return Err(bad(
                                "CLMENT_FOUNDRY_DEPLOYMENT",
                                format!(
                                    "must be up to 64 letters, digits, '-', '_' or '.', got {d:?}"
                                ),
                            ));
                        }
                        None => {
                            return Err(bad(
                                "CLMENT_FOUNDRY_DEPLOYMENT",
                                "is required with CLMENT_REVIEW_PROVIDER=foundry",
                            ));
                        }
                    },
                    api_version: api_version.to_owned(),
                    api_key,
                    timeout: Duration::from_secs(number(
                        get,
                        "CLMENT_FOUNDRY_TIMEOUT_SECS",
                        120,
                        5,
                        MAX_FOUNDRY_TIMEOUT_SECS,
                    )?),
                    context_percent: u8::try_from(number(
                        get,
                        "CLMENT_REVIEW_CONTEXT_PERCENT",
                        35,
                        5,
                        100,
                    )?)
                    .unwrap_or(35),
                }
            }
            other => {
                return Err(bad(
                    "CLMENT_REVIEW_PROVIDER",
                    format!("must be `offline` or `foundry`, got {other:?}"),
                ));
            }
        };
        let indexing = IndexingSettings {
            extract_timeout: Duration::from_secs(number(
                get,
                "CLMENT_EXTRACT_TIMEOUT_SECS",
                60,
                1,
                3600,
            )?),
            extract_memory_bytes: number(get, "CLMENT_EXTRACT_MEMORY_MB", 1024, 256, 65_536)? << 20,
            extract_workers: usize::try_from(number(get, "CLMENT_EXTRACT_WORKERS", 2, 1, 64)?)
                .unwrap_or(2),
            extract_max_pages: number(get, "CLMENT_EXTRACT_MAX_PAGES", 2000, 1, 100_000)?,
            inline_max_bytes: number(get, "CLMENT_INDEX_INLINE_MAX_BYTES", 16 << 20, 0, 1 << 30)?,
            worker_program: None,
            background: true,
        };

        let operator_audience = get("CLMENT_OPERATOR_AUDIENCE")
            .unwrap_or(DEFAULT_OPERATOR_AUDIENCE)
            .to_owned();
        let (Identity::Issuer { audience, .. } | Identity::DevIssuer { audience }) = &identity;
        if *audience == operator_audience {
            return Err(bad(
                "CLMENT_OPERATOR_AUDIENCE",
                "must differ from CLMENT_AUTH_AUDIENCE (operator and tenant tokens must not be interchangeable)",
            ));
        }
        let placement = if azure {
            let raw = get("CLMENT_AZURE_PLACEMENT").ok_or_else(|| {
                bad(
                    "CLMENT_AZURE_PLACEMENT",
                    "is required with the azure backend (the infrastructure writes it)",
                )
            })?;
            let placement = clment_common::placement::Placement::parse(raw)
                .map_err(|e| bad("CLMENT_AZURE_PLACEMENT", e.to_string()))?;
            let mut required = vec!["storage", "cosmos", "search"];
            if embeddings.is_some() || matches!(review, ReviewSettings::Foundry { .. }) {
                required.push("openai");
            }
            placement
                .check(region, &required, get("REGION_NAME"))
                .map_err(|e| bad("CLMENT_AZURE_PLACEMENT", e.to_string()))?;
            Some(placement)
        } else {
            None
        };

        Ok(Self {
            operator_audience,
            placement,
            indexing,
            review,
            embeddings,
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            rate_limits,
            region,
            backend,
            identity,
            algorithms,
            token_type,
            jwks_cache: Duration::from_secs(number(
                get,
                "CLMENT_AUTH_JWKS_CACHE_SECS",
                600,
                1,
                86_400,
            )?),
            max_upload_bytes: number(get, "CLMENT_MAX_UPLOAD_BYTES", 100 << 20, 1, 1 << 40)?,
            // Secret: never echoed. Its format is checked when the key is loaded (naming the setting only).
            master_key: env
                .get("CLMENT_MASTER_KEY")
                .filter(|v| !v.trim().is_empty())
                .map(|v| secrecy::SecretString::from(v.trim().to_owned())),
            audit_signing_key: match env.get("CLMENT_AUDIT_SIGNING_KEY").map(|v| v.trim()) {
                Some(v) if !v.is_empty() => {
                    // Checked now, so a bad key stops start-up; the value is never echoed.
                    clment_common::audit::DigestSigner::from_base64(v).map_err(|_| {
                        bad(
                            "CLMENT_AUDIT_SIGNING_KEY",
                            "must be base64url of exactly 32 bytes (an Ed25519 seed)",
                        )
                    })?;
                    Some(secrecy::SecretString::from(v.to_owned()))
                }
                _ if azure => {
                    return Err(bad(
                        "CLMENT_AUDIT_SIGNING_KEY",
                        "is required with CLMENT_BACKEND=azure (a Key Vault reference)",
                    ));
                }
                _ => None,
            },
            audit_retired_keys: {
                let keys: Vec<String> = get("CLMENT_AUDIT_RETIRED_PUBLIC_KEYS")
                    .unwrap_or_default()
                    .split(',')
                    .map(str::trim)
                    .filter(|k| !k.is_empty())
                    .map(str::to_owned)
                    .collect();
                clment_common::audit::DigestVerifier::from_public_keys(
                    keys.iter().map(String::as_str),
                )
                .map_err(|_| {
                    bad(
                        "CLMENT_AUDIT_RETIRED_PUBLIC_KEYS",
                        "must be comma-separated base64url Ed25519 public keys",
                    )
                })?;
                keys
            },
            audit_digest_interval: Duration::from_secs(number(
                get,
                "CLMENT_AUDIT_DIGEST_INTERVAL_SECS",
                3600,
                1,
                86_400,
            )?),
            reconcile_grace: Duration::from_secs(number(
                get,
                "CLMENT_RECONCILE_GRACE_SECS",
                crate::reconcile::RECONCILE_GRACE.as_secs(),
                0,
                86_400,
            )?),
            max_json_bytes: usize::try_from(number(
                get,
                "CLMENT_MAX_JSON_BYTES",
                65_536,
                1_024,
                16 << 20,
            )?)
            .unwrap_or(65_536),
            max_invocation_bytes: usize::try_from(number(
                get,
                "CLMENT_MAX_INVOCATION_BYTES",
                128 << 20,
                1_024,
                1 << 30,
            )?)
            .unwrap_or(128 << 20),
            shutdown_grace: Duration::from_secs(number(
                get,
                "CLMENT_SHUTDOWN_GRACE_SECS",
                25,
                0,
                600,
            )?),
            log_filter: get("CLMENT_LOG").unwrap_or("info").to_owned(),
            log_format,
        })
    }

    /// Settings for tests: local backend in `data_dir`, port 0, dev issuer.
    #[must_use]
    pub fn for_tests(data_dir: &std::path::Path) -> Self {
        let mut env = HashMap::new();
        env.insert("FUNCTIONS_CUSTOMHANDLER_PORT".into(), "0".into());
        env.insert("CLMENT_DATA_DIR".into(), data_dir.display().to_string());
        Self::from_map(&env).expect("test settings are valid")
    }
}

fn number<'a>(
    get: impl Fn(&str) -> Option<&'a str>,
    name: &'static str,
    default: u64,
    min: u64,
    max: u64,
) -> Result<u64, ConfigError> {
    match get(name) {
        None => Ok(default),
        Some(v) => match v.parse::<u64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            _ => Err(bad(
                name,
                format!("must be a whole number from {min} to {max}, got {v:?}"),
            )),
        },
    }
}

/// An absolute http(s) URL; `https` is required unless `allow_loopback_http` and the host is loopback.
fn https_url<'a>(
    get: impl Fn(&str) -> Option<&'a str>,
    name: &'static str,
    strict: bool,
) -> Result<String, ConfigError> {
    let v = get(name).ok_or_else(|| bad(name, "is required"))?;
    let parsed = reqwest::Url::parse(v)
        .map_err(|_| bad(name, format!("must be an absolute URL, got {v:?}")))?;
    let loopback = matches!(parsed.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    match parsed.scheme() {
        "https" => Ok(v.to_owned()),
        "http" if loopback && !strict => Ok(v.to_owned()),
        _ => Err(bad(
            name,
            if strict {
                "must be an https URL"
            } else {
                "must be an https URL (http only for 127.0.0.1/localhost)"
            },
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// base64url of 32 zero bytes: a well-formed (test-only) Ed25519 seed.
    const TEST_SIGNING_KEY: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn defaults_are_local_with_dev_issuer() {
        let s = Settings::from_map(&env(&[])).unwrap();
        assert_eq!(s.addr.port(), 7071);
        assert!(s.addr.ip().is_loopback());
        assert_eq!(s.region, Region::Us);
        assert_eq!(
            s.backend,
            Backend::Local {
                data_dir: "./.clment".into()
            }
        );
        assert_eq!(
            s.identity,
            Identity::DevIssuer {
                audience: "clment-api".into()
            }
        );
        assert_eq!(s.reconcile_grace, Duration::from_secs(900));
        let s = Settings::from_map(&env(&[("CLMENT_RECONCILE_GRACE_SECS", "0")])).unwrap();
        assert_eq!(s.reconcile_grace, Duration::ZERO);
    }

    #[test]
    fn each_bad_setting_is_named() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (
                &[("FUNCTIONS_CUSTOMHANDLER_PORT", "70000")],
                "FUNCTIONS_CUSTOMHANDLER_PORT",
            ),
            (&[("CLMENT_BACKEND", "s3")], "CLMENT_BACKEND"),
            (&[("CLMENT_REGION", "apac")], "CLMENT_REGION"),
            (&[("CLMENT_BACKEND", "azure")], "CLMENT_REGION"),
            (
                &[("CLMENT_BACKEND", "azure"), ("CLMENT_REGION", "eu")],
                "CLMENT_AZURE_BLOB_URL",
            ),
            (
                &[
                    ("CLMENT_BACKEND", "azure"),
                    ("CLMENT_REGION", "eu"),
                    ("CLMENT_AZURE_BLOB_URL", "http://x.blob.core.windows.net"),
                ],
                "CLMENT_AZURE_BLOB_URL",
            ),
            (
                &[
                    ("CLMENT_BACKEND", "azure"),
                    ("CLMENT_REGION", "eu"),
                    ("CLMENT_AZURE_BLOB_URL", "https://x.blob.core.windows.net"),
                    ("CLMENT_AZURE_COSMOS_URL", "https://x.documents.azure.com"),
                ],
                "CLMENT_AZURE_QUEUE_URL",
            ),
            (
                &[
                    ("CLMENT_BACKEND", "azure"),
                    ("CLMENT_REGION", "eu"),
                    ("CLMENT_AZURE_BLOB_URL", "https://x.blob.core.windows.net"),
                    ("CLMENT_AZURE_COSMOS_URL", "https://x.documents.azure.com"),
                    ("CLMENT_AZURE_QUEUE_URL", "https://x.queue.core.windows.net"),
                ],
                "CLMENT_AZURE_SEARCH_URL",
            ),
            (
                &[("CLMENT_EMBEDDING_ENDPOINT", "http://127.0.0.1:9")],
                "CLMENT_EMBEDDING_API_KEY",
            ),
            (
                &[
                    ("CLMENT_EMBEDDING_ENDPOINT", "http://127.0.0.1:9"),
                    ("CLMENT_EMBEDDING_API_KEY", "k"),
                ],
                "CLMENT_EMBEDDING_DEPLOYMENT",
            ),
            (
                &[("CLMENT_EXTRACT_MEMORY_MB", "16")],
                "CLMENT_EXTRACT_MEMORY_MB",
            ),
            (
                &[
                    ("CLMENT_BACKEND", "azure"),
                    ("CLMENT_REGION", "eu"),
                    ("CLMENT_AZURE_BLOB_URL", "https://x.blob.core.windows.net"),
                    ("CLMENT_AZURE_COSMOS_URL", "https://x.documents.azure.com"),
                    ("CLMENT_AZURE_QUEUE_URL", "https://x.queue.core.windows.net"),
                    ("CLMENT_AZURE_SEARCH_URL", "https://x.search.windows.net"),
                    ("CLMENT_AUTH_ISSUER", "https://id.example"),
                    ("CLMENT_AUTH_JWKS_URL", "https://id.example/jwks"),
                    ("CLMENT_AZURE_PLACEMENT", EU_PLACEMENT),
                ],
                "CLMENT_AUDIT_SIGNING_KEY",
            ),
            (
                &[
                    ("CLMENT_BACKEND", "azure"),
                    ("CLMENT_REGION", "eu"),
                    ("CLMENT_AZURE_BLOB_URL", "https://x.blob.core.windows.net"),
                    ("CLMENT_AZURE_COSMOS_URL", "https://x.documents.azure.com"),
                    ("CLMENT_AZURE_QUEUE_URL", "https://x.queue.core.windows.net"),
                    ("CLMENT_AZURE_SEARCH_URL", "https://x.search.windows.net"),
                    ("CLMENT_AUDIT_SIGNING_KEY", "c2hvcnQ"),
                    ("CLMENT_AUTH_ISSUER", "https://id.example"),
                    ("CLMENT_AUTH_JWKS_URL", "https://id.example/jwks"),
                    ("CLMENT_AZURE_PLACEMENT", EU_PLACEMENT),
                ],
                "CLMENT_AUDIT_SIGNING_KEY",
            ),
            (
                &[
                    ("CLMENT_BACKEND", "azure"),
                    ("CLMENT_REGION", "eu"),
                    ("CLMENT_AZURE_BLOB_URL", "https://x.blob.core.windows.net"),
                    ("CLMENT_AZURE_COSMOS_URL", "https://x.documents.azure.com"),
                    ("CLMENT_AZURE_QUEUE_URL", "https://x.queue.core.windows.net"),
                    ("CLMENT_AZURE_SEARCH_URL", "https://x.search.windows.net"),
                    ("CLMENT_AUDIT_SIGNING_KEY", TEST_SIGNING_KEY),
                ],
                "CLMENT_AUTH_ISSUER",
            ),
            (
                &[("CLMENT_AUDIT_RETIRED_PUBLIC_KEYS", "not-a-key")],
                "CLMENT_AUDIT_RETIRED_PUBLIC_KEYS",
            ),
            (
                &[("CLMENT_AUTH_ISSUER", "https://id.example")],
                "CLMENT_AUTH_JWKS_URL",
            ),
            (
                &[("CLMENT_AUTH_JWKS_URL", "https://id.example/jwks")],
                "CLMENT_AUTH_ISSUER",
            ),
            (
                &[
                    ("CLMENT_AUTH_ISSUER", "https://id"),
                    ("CLMENT_AUTH_JWKS_URL", "http://id.example/jwks"),
                ],
                "CLMENT_AUTH_JWKS_URL",
            ),
            (
                &[("CLMENT_AUTH_ALGORITHMS", "RS256,HS256")],
                "CLMENT_AUTH_ALGORITHMS",
            ),
            (
                &[("CLMENT_AUTH_ALGORITHMS", "none")],
                "CLMENT_AUTH_ALGORITHMS",
            ),
            (&[("CLMENT_MAX_JSON_BYTES", "12")], "CLMENT_MAX_JSON_BYTES"),
            (
                &[("CLMENT_RECONCILE_GRACE_SECS", "86401")],
                "CLMENT_RECONCILE_GRACE_SECS",
            ),
            (&[("CLMENT_LOG_FORMAT", "xml")], "CLMENT_LOG_FORMAT"),
        ];
        for (pairs, setting) in cases {
            let e = Settings::from_map(&env(pairs)).unwrap_err();
            assert_eq!(e.setting, *setting, "{pairs:?} -> {e}");
            assert!(e.to_string().starts_with(&format!("setting {setting}:")));
        }
    }

    #[test]
    fn the_dev_issuer_cannot_be_enabled_with_azure() {
        // With azure, the only way to start is with a real issuer.
        let e = Settings::from_map(&env(&[
            ("CLMENT_BACKEND", "azure"),
            ("CLMENT_REGION", "au"),
            ("CLMENT_AZURE_BLOB_URL", "https://x.blob.core.windows.net"),
            ("CLMENT_AZURE_COSMOS_URL", "https://x.documents.azure.com"),
            ("CLMENT_AZURE_QUEUE_URL", "https://x.queue.core.windows.net"),
            ("CLMENT_AZURE_SEARCH_URL", "https://x.search.windows.net"),
            ("CLMENT_AUDIT_SIGNING_KEY", TEST_SIGNING_KEY),
        ]))
        .unwrap_err();
        assert_eq!(e.setting, "CLMENT_AUTH_ISSUER");
        let s = Settings::from_map(&env(&[
            ("CLMENT_BACKEND", "azure"),
            ("CLMENT_REGION", "au"),
            ("CLMENT_AZURE_BLOB_URL", "https://x.blob.core.windows.net"),
            ("CLMENT_AZURE_COSMOS_URL", "https://x.documents.azure.com"),
            ("CLMENT_AZURE_QUEUE_URL", "https://x.queue.core.windows.net"),
            ("CLMENT_AZURE_SEARCH_URL", "https://x.search.windows.net"),
            ("CLMENT_AUDIT_SIGNING_KEY", TEST_SIGNING_KEY),
            ("CLMENT_AUTH_ISSUER", "https://id.clment.example"),
            ("CLMENT_AUTH_JWKS_URL", "https://id.clment.example/jwks"),
            ("CLMENT_AZURE_PLACEMENT", AU_PLACEMENT),
        ]))
        .unwrap();
        assert!(matches!(s.identity, Identity::Issuer { .. }));
    }

    const EU_PLACEMENT: &str = r#"{"locations":{"storage":"westeurope","cosmos":["westeurope","northeurope"],"search":"westeurope","openai":"westeurope"}}"#;

    const AU_PLACEMENT: &str = r#"{"locations":{"functionApp":"australiaeast","storage":"australiaeast","cosmos":["australiaeast","australiasoutheast"],"search":"australiaeast","openai":"australiaeast","keyVault":"australiaeast"},"aiDeployments":{"chat":"Standard","embedding":"Standard"}}"#;

    /// The bundle refuses to start in Azure mode when its resources are not in its region's geography.
    #[test]
    fn azure_start_up_refuses_resources_outside_the_region() {
        let base = [
            ("CLMENT_BACKEND", "azure"),
            ("CLMENT_REGION", "au"),
            ("CLMENT_AZURE_BLOB_URL", "https://x.blob.core.windows.net"),
            ("CLMENT_AZURE_COSMOS_URL", "https://x.documents.azure.com"),
            ("CLMENT_AZURE_QUEUE_URL", "https://x.queue.core.windows.net"),
            ("CLMENT_AZURE_SEARCH_URL", "https://x.search.windows.net"),
            ("CLMENT_AUDIT_SIGNING_KEY", TEST_SIGNING_KEY),
            ("CLMENT_AUTH_ISSUER", "https://id.clment.example"),
            ("CLMENT_AUTH_JWKS_URL", "https://id.clment.example/jwks"),
        ];
        let with = |extra: &[(&str, &str)]| {
            let mut pairs = base.to_vec();
            pairs.extend_from_slice(extra);
            Settings::from_map(&env(&pairs))
        };
        let e = with(&[]).unwrap_err();
        assert_eq!(e.setting, "CLMENT_AZURE_PLACEMENT");
        let ok = with(&[
            ("CLMENT_AZURE_PLACEMENT", AU_PLACEMENT),
            ("REGION_NAME", "Australia East"),
        ])
        .unwrap();
        assert!(ok.placement.is_some());
        let cases = [
            AU_PLACEMENT.replace("australiasoutheast", "southeastasia"),
            AU_PLACEMENT.replacen("australiaeast", "eastus2", 2),
            AU_PLACEMENT.replace("\"chat\":\"Standard\"", "\"chat\":\"GlobalStandard\""),
            AU_PLACEMENT.replace("\"chat\":\"Standard\"", "\"chat\":\"DataZoneStandard\""),
            r#"{"locations":{"storage":"australiaeast"}}"#.to_owned(),
            "australiaeast".to_owned(),
        ];
        for bad in &cases {
            let e = with(&[("CLMENT_AZURE_PLACEMENT", bad)]).unwrap_err();
            assert_eq!(e.setting, "CLMENT_AZURE_PLACEMENT", "{bad}");
        }
        // The platform says the app itself runs elsewhere.
        let e = with(&[
            ("CLMENT_AZURE_PLACEMENT", AU_PLACEMENT),
            ("REGION_NAME", "East US 2"),
        ])
        .unwrap_err();
        assert!(e.to_string().contains("REGION_NAME"), "{e}");
        // A model endpoint in use needs its location recorded.
        let no_openai = AU_PLACEMENT.replace("\"openai\":\"australiaeast\",", "");
        assert!(
            with(&[("CLMENT_AZURE_PLACEMENT", &no_openai)]).is_ok(),
            "offline reviews and keyword search use no model"
        );
        let e = with(&[
            ("CLMENT_AZURE_PLACEMENT", &no_openai),
            ("CLMENT_REVIEW_PROVIDER", "foundry"),
            ("CLMENT_FOUNDRY_ENDPOINT", "https://x.openai.azure.com"),
            ("CLMENT_FOUNDRY_DEPLOYMENT", "chat"),
        ])
        .unwrap_err();
        assert!(e.to_string().contains("openai"), "{e}");
    }

    #[test]
    fn the_review_context_share_is_a_bounded_percent() {
        let foundry = [
            ("CLMENT_REVIEW_PROVIDER", "foundry"),
            ("CLMENT_FOUNDRY_ENDPOINT", "http://127.0.0.1:9"),
            ("CLMENT_FOUNDRY_DEPLOYMENT", "chat"),
            ("CLMENT_FOUNDRY_API_KEY", "k"),
        ];
        let percent = |extra: &[(&str, &str)]| {
            let mut vars = foundry.to_vec();
            vars.extend_from_slice(extra);
            Settings::from_map(&env(&vars)).map(|s| match s.review {
                ReviewSettings::Foundry {
                    context_percent, ..
                } => context_percent,
                ReviewSettings::Offline => 0,
            })
        };
        assert_eq!(percent(&[]), Ok(35), "the issue's budget by default");
        assert_eq!(percent(&[("CLMENT_REVIEW_CONTEXT_PERCENT", "45")]), Ok(45));
        assert_eq!(
            percent(&[("CLMENT_REVIEW_CONTEXT_PERCENT", "100")]),
            Ok(100)
        );
        assert_eq!(
            percent(&[("CLMENT_REVIEW_CONTEXT_PERCENT", "")]),
            Ok(35),
            "empty is unset, as for every setting"
        );
        for bad in ["4", "101", "35.5", "-1", "all"] {
            let e = percent(&[("CLMENT_REVIEW_CONTEXT_PERCENT", bad)]).unwrap_err();
            assert_eq!(e.setting, "CLMENT_REVIEW_CONTEXT_PERCENT", "{bad:?}");
            assert!(e.to_string().contains("5 to 100"), "{e}");
        }
    }

    #[test]
    fn operator_and_tenant_audiences_must_differ() {
        let e = Settings::from_map(&env(&[("CLMENT_OPERATOR_AUDIENCE", DEFAULT_AUDIENCE)]))
            .unwrap_err();
        assert_eq!(e.setting, "CLMENT_OPERATOR_AUDIENCE");
        let s = Settings::from_map(&env(&[])).unwrap();
        assert_eq!(s.operator_audience, DEFAULT_OPERATOR_AUDIENCE);
    }

    #[test]
    fn a_configured_issuer_replaces_the_dev_issuer_locally() {
        let s = Settings::from_map(&env(&[
            ("CLMENT_AUTH_ISSUER", "https://id.example"),
            ("CLMENT_AUTH_JWKS_URL", "http://127.0.0.1:9/jwks"),
        ]))
        .unwrap();
        assert!(matches!(s.identity, Identity::Issuer { .. }));
    }
}
