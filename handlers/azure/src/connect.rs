//! Building the production clients from configuration: one token credential (the function app's
//! managed identity) signs for Blob Storage, Cosmos DB and Queue Storage alike; no keys or connection
//! strings exist anywhere.
//!
//! Containers and queues are not created here: infrastructure provisions them, and the data-plane
//! identity is not allowed to. The Cosmos DB client reads the account's properties while it is built
//! (so [`connect`] needs the network and fails when the account cannot be reached within
//! [`COSMOS_CONNECT_TIMEOUT`]); the storage clients and the adapters' containers are resolved on first
//! use, so [`assemble`] does no I/O.

use std::sync::Arc;
use std::time::Duration;

pub use azure_core::credentials::TokenCredential;
use azure_core::http::ClientOptions;
pub use azure_core::http::Url;
use azure_data_cosmos::options::Region as CosmosRegion;
use azure_data_cosmos::{AccountReference, CosmosClient, RoutingStrategy};
use azure_identity::{ManagedIdentityCredential, ManagedIdentityCredentialOptions, UserAssignedId};
use clment_common::ports::{AuditArchive, HealthCheck, ReviewStore, SearchIndex, TextStore};

use crate::audit::{self, CosmosAudit};
use crate::audit_archive::{ARCHIVE_CONTAINER, BlobAuditArchive};
use crate::blob::{self, BlobDocuments};
use crate::cosmos::{self, CosmosContracts};
use crate::queue::{self, StorageQueueJobs};
use crate::reviews::{self, CosmosReviews};
use crate::search::{AiSearchConfig, AiSearchIndex, SearchAuth};
use crate::tenants::{self, CosmosApiKeys, CosmosOrgs};
use crate::texts::BlobTexts;

/// How long building the Cosmos DB client (which reads the account's properties) may take.
pub const COSMOS_CONNECT_TIMEOUT: Duration = Duration::from_secs(60);

/// Where the Azure backend's data lives: service endpoints and resource names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AzureEndpoints {
    /// Blob service URL (`https://<account>.blob.core.windows.net`).
    pub blob: Url,
    /// Cosmos DB account URL (`https://<account>.documents.azure.com`).
    pub cosmos: Url,
    /// Queue service URL (`https://<account>.queue.core.windows.net`).
    pub queue: Url,
    /// The Cosmos DB database holding every container.
    pub database: String,
    /// The blob container for contract originals.
    pub blob_container: String,
    /// The Cosmos DB container for contract metadata (partition key `/orgId`).
    pub contracts_container: String,
    /// The Cosmos DB container for org records (partition key `/orgId`).
    pub orgs_container: String,
    /// The Cosmos DB container for API keys (partition key `/id`).
    pub api_keys_container: String,
    /// The queue for background jobs.
    pub jobs_queue: String,
    /// The Cosmos DB container for audit events and digests (partition key `/orgId` + `/bucket`).
    pub audit_container: String,
    /// The Cosmos DB container for audit head hints (partition key `/orgId`).
    pub audit_heads_container: String,
    /// The Cosmos DB container for stored reviews (partition key `/orgId`).
    pub reviews_container: String,
    /// The Azure AI Search service (`https://<service>.search.windows.net`); required.
    pub search: Option<Url>,
    /// The region's search index.
    pub search_index: String,
    /// Length of the chunk embeddings when an embedding deployment is configured (the index then
    /// has a vector field).
    pub vector_dimensions: Option<usize>,
    /// The Azure region this app runs in (for example `westeurope`), which Cosmos DB routing prefers;
    /// `None` follows the account's own region order.
    pub cosmos_region: Option<String>,
}

impl AzureEndpoints {
    /// The three endpoints with the default resource names (`clment` database, `contracts` blob
    /// container, `contracts`/`orgs`/`apiKeys`/`reviews` Cosmos containers, `clment-jobs` queue).
    #[must_use]
    pub fn new(blob: Url, cosmos: Url, queue: Url) -> Self {
        Self {
            blob,
            cosmos,
            queue,
            database: cosmos::DEFAULT_DATABASE.to_owned(),
            blob_container: blob::DEFAULT_CONTAINER.to_owned(),
            contracts_container: cosmos::DEFAULT_CONTAINER.to_owned(),
            orgs_container: tenants::ORGS_CONTAINER.to_owned(),
            api_keys_container: tenants::API_KEYS_CONTAINER.to_owned(),
            jobs_queue: queue::DEFAULT_QUEUE.to_owned(),
            audit_container: audit::AUDIT_CONTAINER.to_owned(),
            audit_heads_container: audit::HEADS_CONTAINER.to_owned(),
            reviews_container: reviews::REVIEWS_CONTAINER.to_owned(),
            search: None,
            search_index: crate::search::DEFAULT_INDEX.to_owned(),
            vector_dimensions: None,
            cosmos_region: None,
        }
    }
}

/// Every Azure adapter, sharing one credential, plus their readiness checks.
#[derive(Clone)]
pub struct AzureBackend {
    /// Contract originals (Blob Storage).
    pub documents: Arc<BlobDocuments>,
    /// Contract metadata (Cosmos DB).
    pub contracts: Arc<CosmosContracts>,
    /// Org records (Cosmos DB).
    pub orgs: Arc<CosmosOrgs>,
    /// API keys (Cosmos DB).
    pub api_keys: Arc<CosmosApiKeys>,
    /// Background jobs (Queue Storage).
    pub jobs: Arc<StorageQueueJobs>,
    /// The audit trail (Cosmos DB).
    pub audit: Arc<CosmosAudit>,
    /// Stored reviews (Cosmos DB).
    pub reviews: Arc<dyn ReviewStore>,
    /// The chunk index (Azure AI Search).
    pub index: Arc<dyn SearchIndex>,
    /// Extracted texts (Blob Storage, beside the originals).
    pub texts: Arc<dyn TextStore>,
    /// The 90-day second copy of the audit trail (Blob Storage, container `audit-archive`).
    pub audit_archive: Arc<dyn AuditArchive>,
    /// The credential every adapter signs in with (also for the embedding deployment).
    pub credential: Arc<dyn TokenCredential>,
    /// One check per component: `blob-storage`, `cosmos-db`, `cosmos-orgs`, `cosmos-api-keys`,
    /// `storage-queue`, `cosmos-audit`. Their error text is for the log only.
    pub health: Vec<Arc<dyn HealthCheck>>,
}

impl std::fmt::Debug for AzureBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AzureBackend")
            .field("documents", &self.documents)
            .field("contracts", &self.contracts)
            .field("orgs", &self.orgs)
            .field("api_keys", &self.api_keys)
            .field("jobs", &self.jobs)
            .field("audit", &self.audit)
            .field("reviews", &"CosmosReviews")
            .field(
                "health",
                &self.health.iter().map(|h| h.name()).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// The Azure backend could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectError {
    /// An endpoint, name or credential setting is unusable.
    #[error("azure configuration: {0}")]
    Config(String),
    /// The Cosmos DB account could not be reached or refused the client.
    #[error("cosmos db: {0}")]
    Cosmos(String),
}

/// The production backend: builds the Cosmos DB client (network: reads the account's properties) and
/// then every adapter with `credential`.
///
/// # Errors
/// [`ConnectError::Config`] for unusable endpoints or names (every URL must be `https`),
/// [`ConnectError::Cosmos`] when the Cosmos DB account does not answer in time.
pub async fn connect(
    endpoints: &AzureEndpoints,
    credential: Arc<dyn TokenCredential>,
) -> Result<AzureBackend, ConnectError> {
    check_https(endpoints)?;
    let cosmos = cosmos_client(endpoints, credential.clone()).await?;
    assemble(endpoints, credential, cosmos, None)
}

/// The Cosmos DB client for `endpoints.cosmos`, signed in with `credential`, on the SDK's shared
/// runtime.
///
/// # Errors
/// [`ConnectError::Cosmos`] when the account cannot be reached within [`COSMOS_CONNECT_TIMEOUT`] or
/// refuses the client.
pub async fn cosmos_client(
    endpoints: &AzureEndpoints,
    credential: Arc<dyn TokenCredential>,
) -> Result<CosmosClient, ConnectError> {
    let routing = match &endpoints.cosmos_region {
        Some(region) => RoutingStrategy::ProximityTo(CosmosRegion::new(region.clone())),
        None => RoutingStrategy::PreferredRegions(Vec::new()),
    };
    let account = AccountReference::with_credential(endpoints.cosmos.clone().into(), credential);
    let build = CosmosClient::builder().build(account, routing);
    match tokio::time::timeout(COSMOS_CONNECT_TIMEOUT, build).await {
        Ok(Ok(client)) => Ok(client),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "cosmos db client could not be built");
            Err(ConnectError::Cosmos(e.to_string()))
        }
        Err(_) => Err(ConnectError::Cosmos(format!(
            "the account did not answer within {} s",
            COSMOS_CONNECT_TIMEOUT.as_secs()
        ))),
    }
}

/// Every adapter over an existing Cosmos DB client, without I/O: the storage clients are built with
/// `credential` and `storage_options` (transport and retries; `None` for the SDK defaults, which
/// production uses).
///
/// # Errors
/// [`ConnectError::Config`] for unusable storage endpoints or names.
pub fn assemble(
    endpoints: &AzureEndpoints,
    credential: Arc<dyn TokenCredential>,
    cosmos: CosmosClient,
    storage_options: Option<ClientOptions>,
) -> Result<AzureBackend, ConnectError> {
    check_https(endpoints)?;
    let documents = Arc::new(
        BlobDocuments::new(
            endpoints.blob.as_str(),
            Some(credential.clone()),
            storage_options.clone(),
            &endpoints.blob_container,
        )
        .map_err(|e| ConnectError::Config(e.to_string()))?,
    );
    let texts = Arc::new(
        BlobTexts::new(
            endpoints.blob.as_str(),
            Some(credential.clone()),
            storage_options.clone(),
            &endpoints.blob_container,
        )
        .map_err(|e| ConnectError::Config(e.to_string()))?,
    );
    let audit_archive = Arc::new(
        BlobAuditArchive::new(
            endpoints.blob.as_str(),
            Some(credential.clone()),
            storage_options.clone(),
            ARCHIVE_CONTAINER,
        )
        .map_err(|e| ConnectError::Config(e.to_string()))?,
    );
    let jobs = Arc::new(
        StorageQueueJobs::new(
            endpoints.queue.as_str(),
            Some(credential.clone()),
            storage_options,
            &endpoints.jobs_queue,
        )
        .map_err(|e| ConnectError::Config(e.to_string()))?,
    );
    let search_url = endpoints
        .search
        .clone()
        .ok_or_else(|| ConnectError::Config("the Azure AI Search URL is missing".into()))?;
    let mut search = AiSearchConfig::new(search_url, SearchAuth::Credential(credential.clone()));
    search.index.clone_from(&endpoints.search_index);
    search.vector_dimensions = endpoints.vector_dimensions;
    let index = Arc::new(
        AiSearchIndex::new(search, None).map_err(|e| ConnectError::Config(e.to_string()))?,
    );
    for (what, name) in [
        ("database", &endpoints.database),
        ("contracts container", &endpoints.contracts_container),
        ("orgs container", &endpoints.orgs_container),
        ("API keys container", &endpoints.api_keys_container),
        ("audit container", &endpoints.audit_container),
        ("audit heads container", &endpoints.audit_heads_container),
        ("reviews container", &endpoints.reviews_container),
    ] {
        if !valid_cosmos_name(name) {
            return Err(ConnectError::Config(format!(
                "bad cosmos {what} name {name:?}"
            )));
        }
    }
    let contracts = Arc::new(CosmosContracts::with_names(
        cosmos.clone(),
        endpoints.database.as_str(),
        endpoints.contracts_container.as_str(),
    ));
    let orgs = Arc::new(CosmosOrgs::with_names(
        cosmos.clone(),
        endpoints.database.as_str(),
        endpoints.orgs_container.as_str(),
    ));
    let audit = Arc::new(CosmosAudit::with_names(
        cosmos.clone(),
        endpoints.database.as_str(),
        endpoints.audit_container.as_str(),
        endpoints.audit_heads_container.as_str(),
    ));
    let reviews = Arc::new(CosmosReviews::with_names(
        cosmos.clone(),
        endpoints.database.as_str(),
        endpoints.reviews_container.as_str(),
    ));
    let api_keys = Arc::new(CosmosApiKeys::with_names(
        cosmos,
        endpoints.database.as_str(),
        endpoints.api_keys_container.as_str(),
    ));
    let health: Vec<Arc<dyn HealthCheck>> = vec![
        documents.clone(),
        contracts.clone(),
        orgs.clone(),
        api_keys.clone(),
        jobs.clone(),
        audit.clone(),
        reviews.clone(),
        index.clone(),
    ];
    Ok(AzureBackend {
        documents,
        contracts,
        orgs,
        api_keys,
        jobs,
        audit,
        reviews: reviews as Arc<dyn ReviewStore>,
        index,
        texts: texts as Arc<dyn TextStore>,
        audit_archive: audit_archive as Arc<dyn AuditArchive>,
        credential,
        health,
    })
}

/// The function app's managed identity: system-assigned, or the user-assigned identity with
/// `client_id`. Tokens are fetched on first use, not here.
///
/// # Errors
/// [`ConnectError::Config`] when the client id is empty or the SDK cannot set the credential up.
pub fn managed_identity(client_id: Option<&str>) -> Result<Arc<dyn TokenCredential>, ConnectError> {
    let user_assigned_id = match client_id.map(str::trim) {
        Some("") => {
            return Err(ConnectError::Config(
                "the managed identity client id is empty".into(),
            ));
        }
        Some(id) => Some(UserAssignedId::ClientId(id.to_owned())),
        None => None,
    };
    let options = ManagedIdentityCredentialOptions {
        user_assigned_id,
        ..Default::default()
    };
    let credential = ManagedIdentityCredential::new(Some(options))
        .map_err(|e| ConnectError::Config(format!("managed identity: {e}")))?;
    Ok(credential)
}

fn check_https(endpoints: &AzureEndpoints) -> Result<(), ConnectError> {
    for (what, url) in [
        ("blob", &endpoints.blob),
        ("cosmos", &endpoints.cosmos),
        ("queue", &endpoints.queue),
    ] {
        if url.scheme() != "https" || url.host_str().is_none() {
            return Err(ConnectError::Config(format!(
                "the {what} endpoint must be an https URL with a host"
            )));
        }
    }
    Ok(())
}

/// Cosmos DB database and container ids: 1 to 255 characters, none of `/ \ ? #`.
fn valid_cosmos_name(name: &str) -> bool {
    (1..=255).contains(&name.len())
        && !name.contains(['/', '\\', '?', '#'])
        && !name.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoints() -> AzureEndpoints {
        AzureEndpoints::new(
            "https://acct.blob.core.windows.net".parse().unwrap(),
            "https://acct.documents.azure.com".parse().unwrap(),
            "https://acct.queue.core.windows.net".parse().unwrap(),
        )
    }

    #[test]
    fn defaults_name_the_provisioned_resources() {
        let e = endpoints();
        assert_eq!(
            (
                e.database.as_str(),
                e.blob_container.as_str(),
                e.contracts_container.as_str(),
                e.orgs_container.as_str(),
                e.api_keys_container.as_str(),
                e.jobs_queue.as_str()
            ),
            (
                "clment",
                "contracts",
                "contracts",
                "orgs",
                "apiKeys",
                "clment-jobs"
            )
        );
        assert_eq!(e.reviews_container, "reviews");
    }

    #[test]
    fn plain_http_endpoints_are_refused() {
        let mut e = endpoints();
        e.queue = "http://acct.queue.core.windows.net".parse().unwrap();
        assert!(matches!(check_https(&e), Err(ConnectError::Config(m)) if m.contains("queue")));
        assert!(check_https(&endpoints()).is_ok());
    }

    #[test]
    fn cosmos_names_with_path_characters_are_refused() {
        assert!(valid_cosmos_name("apiKeys"));
        for bad in ["", "a/b", "a?b", "a#b", "a\\b", "a\nb"] {
            assert!(!valid_cosmos_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn a_managed_identity_is_built_without_network() {
        assert!(managed_identity(None).is_ok());
        assert!(managed_identity(Some("00000000-0000-0000-0000-000000000000")).is_ok());
        assert!(matches!(
            managed_identity(Some(" ")),
            Err(ConnectError::Config(_))
        ));
    }
}
