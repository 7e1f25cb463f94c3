//! Org records and API keys in Cosmos DB.
//!
//! Two containers in the same database as the contracts (default `clment`):
//!
//! - `orgs`, partition key `/orgId`: one document per org, `{"id": <orgId>, ...OrgRecord}` (the record
//!   already carries `orgId`). The partition and the id are always the calling scope's org. First use
//!   creates the record (a conditional create: 409 means another instance won, so its record is read and
//!   returned); changes read the record with its etag and replace it with `If-Match`, retrying on 412,
//!   so concurrent changes are never lost.
//! - `apiKeys`, partition key `/id` (the key id): `{...ApiKeyRecord, "orgId"}`. Authentication only
//!   knows the key id, before any scope exists, so the partition key has to be derivable from the id for
//!   `find_for_authentication` and `touch` to be single point reads. The trade-off: an org's keys are not
//!   one logical partition, so listing them is a cross-partition query filtered on `orgId` (fan-out over
//!   the container's physical partitions; fine for an admin page with few keys per org, and indexed on
//!   `orgId`), and there is no per-org transactional batch. Isolation does not rely on the partition:
//!   every scoped operation checks the stored `orgId` (and the record's `org`) against the scope and
//!   treats another org's key as absent. Only hashes of secrets are stored, never a secret.
//!
//! Containers are provisioned by infrastructure ([`orgs_container_properties`],
//! [`api_keys_container_properties`] give their shape). SDK errors become [`PortError`]s here: 404 ->
//! `NotFound` (or `None`), 409 -> `Conflict`, a write that keeps losing races -> `Conflict`, everything
//! else -> `Unavailable`.

use std::sync::Arc;

use async_trait::async_trait;
use azure_core::http::Etag;
use azure_data_cosmos::clients::ContainerClient;
use azure_data_cosmos::models::ContainerProperties;
use azure_data_cosmos::options::{ItemWriteOptions, Precondition};
use azure_data_cosmos::{CosmosClient, CosmosError, FeedScope, Query};
use clment_common::TenantScope;
use clment_common::domain::OrgId;
use clment_common::ports::{
    ApiKeyRecord, ApiKeyStore, HealthCheck, OrgRecord, OrgStore, Plan, PortError, SecuritySettings,
    SecurityUpdate,
};
use futures_util::TryStreamExt as _;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tokio::sync::OnceCell;

use crate::cosmos::DEFAULT_DATABASE;

/// The org records container, unless configured otherwise.
pub const ORGS_CONTAINER: &str = "orgs";
/// The orgs container's partition key path: one document per org, in its own partition.
pub const ORGS_PARTITION_KEY_PATH: &str = "/orgId";
/// The API keys container, unless configured otherwise.
pub const API_KEYS_CONTAINER: &str = "apiKeys";
/// The API keys container's partition key path: the key id, so authentication is a point read.
pub const API_KEYS_PARTITION_KEY_PATH: &str = "/id";

/// How often a read-modify-write that lost a race is retried before giving up with `Conflict`.
const ATTEMPTS: usize = 10;

/// The properties to provision the orgs container with (partition key `/orgId`).
#[must_use]
pub fn orgs_container_properties(container: &str) -> ContainerProperties {
    ContainerProperties::new(container.to_owned(), ORGS_PARTITION_KEY_PATH.into())
}

/// The properties to provision the API keys container with (partition key `/id`).
#[must_use]
pub fn api_keys_container_properties(container: &str) -> ContainerProperties {
    ContainerProperties::new(container.to_owned(), API_KEYS_PARTITION_KEY_PATH.into())
}

/// A container resolved on first use (resolution reads its metadata); a failed resolution is retried by
/// the next call, so the service starts even while Cosmos DB is unreachable.
pub(crate) struct LazyContainer {
    client: CosmosClient,
    database: String,
    container: String,
    resolved: OnceCell<ContainerClient>,
}

impl LazyContainer {
    pub(crate) fn new(client: CosmosClient, database: String, container: String) -> Self {
        Self {
            client,
            database,
            container,
            resolved: OnceCell::new(),
        }
    }

    pub(crate) async fn get(&self) -> Result<&ContainerClient, PortError> {
        self.resolved
            .get_or_try_init(|| async {
                self.client
                    .database_client(self.database.as_str())
                    .container_client(self.container.as_str(), None)
                    .await
                    .map_err(|e| {
                        tracing::warn!(error = %e, database = %self.database,
                            container = %self.container, "cosmos container unavailable");
                        PortError::Unavailable(format!("cosmos container {}: {e}", self.container))
                    })
            })
            .await
    }

    pub(crate) async fn probe(&self) -> Result<(), String> {
        let c = self.get().await.map_err(|e| e.to_string())?;
        c.read(None)
            .await
            .map(drop)
            .map_err(|e| format!("cosmos container {}: {e}", self.container))
    }
}

impl std::fmt::Debug for LazyContainer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Container")
            .field("database", &self.database)
            .field("container", &self.container)
            .finish_non_exhaustive()
    }
}

fn unavailable(what: &str, e: &CosmosError) -> PortError {
    tracing::warn!(error = %e, "cosmos {what} failed");
    PortError::Unavailable(format!("cosmos {what}: {e}"))
}

fn lost_races(what: &str) -> PortError {
    tracing::warn!("cosmos {what}: gave up after {ATTEMPTS} concurrent changes");
    PortError::Conflict(format!("{what}: changed concurrently"))
}

// ---------------------------------------------------------------------------------------------------
// Orgs

/// An org document as written: the record (which carries `orgId`, the partition key) plus its id.
#[derive(Serialize)]
struct OrgDoc<'a> {
    id: &'a str,
    #[serde(flatten)]
    record: &'a OrgRecord,
}

/// [`OrgStore`] (and [`HealthCheck`], named `cosmos-orgs`) over one Cosmos DB container partitioned by
/// `/orgId`. Cheap to clone; clones share the resolved container client.
#[derive(Clone, Debug)]
pub struct CosmosOrgs {
    container: Arc<LazyContainer>,
}

impl CosmosOrgs {
    /// Org records in [`DEFAULT_DATABASE`] / [`ORGS_CONTAINER`].
    #[must_use]
    pub fn new(client: CosmosClient) -> Self {
        Self::with_names(client, DEFAULT_DATABASE, ORGS_CONTAINER)
    }

    /// Org records in the named database and container (which must exist, partitioned by `/orgId`).
    #[must_use]
    pub fn with_names(
        client: CosmosClient,
        database: impl Into<String>,
        container: impl Into<String>,
    ) -> Self {
        Self {
            container: Arc::new(LazyContainer::new(
                client,
                database.into(),
                container.into(),
            )),
        }
    }

    /// Resolves the container now rather than on first use (start-up check).
    ///
    /// # Errors
    /// `Unavailable` when the container cannot be resolved (missing, unreachable, not authorised).
    pub async fn connect(&self) -> Result<(), PortError> {
        self.container.get().await.map(drop)
    }

    /// Reads the org's record and its etag; `None` when absent.
    async fn read(&self, scope: &TenantScope) -> Result<Option<(OrgRecord, Etag)>, PortError> {
        let org = scope.org().as_str();
        let c = self.container.get().await?;
        match c.read_item(org.to_owned(), org, None).await {
            Ok(resp) => {
                let etag = resp
                    .headers()
                    .etag()
                    .cloned()
                    .ok_or_else(|| PortError::Unavailable("cosmos read org: no etag".into()))?;
                let record = resp
                    .into_model::<OrgRecord>()
                    .map_err(|e| unavailable("decode org", &e))?;
                if &record.org_id != scope.org() {
                    tracing::warn!(org = %org, "cosmos org document names another org");
                    return Err(PortError::Unavailable(
                        "cosmos org document names another org".into(),
                    ));
                }
                Ok(Some((record, etag)))
            }
            Err(e) if e.status().is_not_found() => Ok(None),
            Err(e) => Err(unavailable("read org", &e)),
        }
    }

    /// Applies `change` to the org's record with optimistic concurrency; `NotFound` when it is absent.
    async fn change(
        &self,
        scope: &TenantScope,
        now: OffsetDateTime,
        change: impl Fn(&mut OrgRecord) + Send,
    ) -> Result<(OrgRecord, OrgRecord), PortError> {
        let org = scope.org().as_str();
        for _ in 0..ATTEMPTS {
            let Some((before, etag)) = self.read(scope).await? else {
                return Err(PortError::NotFound);
            };
            let mut after = before.clone();
            change(&mut after);
            after.updated_at = now;
            let doc = OrgDoc {
                id: org,
                record: &after,
            };
            let options =
                ItemWriteOptions::default().with_precondition(Precondition::if_match(etag));
            let c = self.container.get().await?;
            match c
                .replace_item(org.to_owned(), org, &doc, Some(options))
                .await
            {
                Ok(_) => return Ok((before, after)),
                Err(e) if e.status().is_precondition_failed() => {}
                Err(e) if e.status().is_not_found() => return Err(PortError::NotFound),
                Err(e) => return Err(unavailable("replace org", &e)),
            }
        }
        Err(lost_races("org update"))
    }
}

#[async_trait]
impl OrgStore for CosmosOrgs {
    async fn get_or_create(
        &self,
        scope: &TenantScope,
        now: OffsetDateTime,
    ) -> Result<OrgRecord, PortError> {
        let org = scope.org().as_str();
        for _ in 0..ATTEMPTS {
            if let Some((record, _)) = self.read(scope).await? {
                return Ok(record);
            }
            let record = OrgRecord {
                org_id: scope.org().clone(),
                home_region: scope.region(),
                plan: Plan::Free,
                security: SecuritySettings::default(),
                created_at: now,
                updated_at: now,
            };
            let doc = OrgDoc {
                id: org,
                record: &record,
            };
            let c = self.container.get().await?;
            match c.create_item(org.to_owned(), org, &doc, None).await {
                Ok(_) => return Ok(record),
                // Another request created it first: read theirs.
                Err(e) if e.status().is_conflict() => {}
                Err(e) => return Err(unavailable("create org", &e)),
            }
        }
        Err(lost_races("org creation"))
    }

    async fn update_security(
        &self,
        scope: &TenantScope,
        update: SecurityUpdate,
        now: OffsetDateTime,
    ) -> Result<(OrgRecord, OrgRecord), PortError> {
        self.change(scope, now, |r| r.security = update.apply(&r.security))
            .await
    }

    async fn set_plan(
        &self,
        scope: &TenantScope,
        plan: Plan,
        now: OffsetDateTime,
    ) -> Result<(OrgRecord, OrgRecord), PortError> {
        self.change(scope, now, |r| r.plan = plan).await
    }

    async fn list_orgs(
        &self,
        after: Option<&OrgId>,
        limit: usize,
    ) -> Result<Vec<OrgRecord>, PortError> {
        let c = self.container.get().await?;
        // One document per org, each in its own partition: a cross-partition read of the whole
        // container, ordered here (a region holds thousands of orgs, not millions; operators only).
        let query = Query::from("SELECT * FROM c".to_owned());
        let mut orgs: Vec<OrgRecord> = c
            .query_items::<OrgRecord>(query, FeedScope::full_container(), None)
            .await
            .map_err(|e| unavailable("list orgs", &e))?
            .try_collect()
            .await
            .map_err(|e| unavailable("list orgs", &e))?;
        orgs.retain(|o| after.is_none_or(|a| o.org_id.as_str() > a.as_str()));
        orgs.sort_by(|a, b| a.org_id.as_str().cmp(b.org_id.as_str()));
        orgs.truncate(limit);
        Ok(orgs)
    }
}

#[async_trait]
impl HealthCheck for CosmosOrgs {
    fn name(&self) -> &'static str {
        "cosmos-orgs"
    }

    async fn probe(&self) -> Result<(), String> {
        self.container.probe().await
    }
}

// ---------------------------------------------------------------------------------------------------
// API keys

/// An API key document as written: the record plus the owning org (checked on every scoped operation).
#[derive(Serialize)]
struct KeyDocOut<'a> {
    #[serde(flatten)]
    record: &'a ApiKeyRecord,
    #[serde(rename = "orgId")]
    org_id: &'a str,
}

/// An API key document as read.
#[derive(Deserialize)]
struct KeyDoc {
    #[serde(rename = "orgId")]
    org_id: String,
    #[serde(flatten)]
    record: ApiKeyRecord,
}

impl KeyDoc {
    /// Whether the document is the scope's org's: both the stored `orgId` and the record say so.
    fn belongs_to(&self, scope: &TenantScope) -> bool {
        self.org_id == scope.org().as_str() && &self.record.org == scope.org()
    }
}

/// Whether `id` can name a document safely. Key ids are 16 hex digits; anything with characters Cosmos
/// ids refuse (`/`, `\`, `?`, `#`) or that could reshape the request path is simply not a stored key.
fn valid_key_id(id: &str) -> bool {
    (1..=255).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// [`ApiKeyStore`] (and [`HealthCheck`], named `cosmos-api-keys`) over one Cosmos DB container
/// partitioned by `/id`. Cheap to clone; clones share the resolved container client.
#[derive(Clone, Debug)]
pub struct CosmosApiKeys {
    container: Arc<LazyContainer>,
}

impl CosmosApiKeys {
    /// API keys in [`DEFAULT_DATABASE`] / [`API_KEYS_CONTAINER`].
    #[must_use]
    pub fn new(client: CosmosClient) -> Self {
        Self::with_names(client, DEFAULT_DATABASE, API_KEYS_CONTAINER)
    }

    /// API keys in the named database and container (which must exist, partitioned by `/id`).
    #[must_use]
    pub fn with_names(
        client: CosmosClient,
        database: impl Into<String>,
        container: impl Into<String>,
    ) -> Self {
        Self {
            container: Arc::new(LazyContainer::new(
                client,
                database.into(),
                container.into(),
            )),
        }
    }

    /// Resolves the container now rather than on first use (start-up check).
    ///
    /// # Errors
    /// `Unavailable` when the container cannot be resolved (missing, unreachable, not authorised).
    pub async fn connect(&self) -> Result<(), PortError> {
        self.container.get().await.map(drop)
    }

    /// Point-reads a key document and its etag; `None` when absent (or not a valid id).
    async fn read(&self, id: &str) -> Result<Option<(KeyDoc, Etag)>, PortError> {
        if !valid_key_id(id) {
            return Ok(None);
        }
        let c = self.container.get().await?;
        match c.read_item(id.to_owned(), id, None).await {
            Ok(resp) => {
                let etag = resp
                    .headers()
                    .etag()
                    .cloned()
                    .ok_or_else(|| PortError::Unavailable("cosmos read key: no etag".into()))?;
                let doc = resp
                    .into_model::<KeyDoc>()
                    .map_err(|e| unavailable("decode key", &e))?;
                Ok(Some((doc, etag)))
            }
            Err(e) if e.status().is_not_found() => Ok(None),
            Err(e) => Err(unavailable("read key", &e)),
        }
    }

    /// Replaces a key document if its etag is still `etag`: `Ok(true)` when written, `Ok(false)` when
    /// it changed in between, `NotFound` when it was removed.
    async fn write_if_match(&self, record: &ApiKeyRecord, etag: Etag) -> Result<bool, PortError> {
        let doc = KeyDocOut {
            record,
            org_id: record.org.as_str(),
        };
        let options = ItemWriteOptions::default().with_precondition(Precondition::if_match(etag));
        let c = self.container.get().await?;
        match c
            .replace_item(record.id.clone(), &record.id, &doc, Some(options))
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if e.status().is_precondition_failed() => Ok(false),
            Err(e) if e.status().is_not_found() => Err(PortError::NotFound),
            Err(e) => Err(unavailable("replace key", &e)),
        }
    }
}

#[async_trait]
impl ApiKeyStore for CosmosApiKeys {
    async fn insert(&self, scope: &TenantScope, key: ApiKeyRecord) -> Result<(), PortError> {
        if &key.org != scope.org() {
            return Err(PortError::Conflict("key belongs to another org".into()));
        }
        if !valid_key_id(&key.id) {
            return Err(PortError::Conflict("key id is not a valid id".into()));
        }
        let doc = KeyDocOut {
            record: &key,
            org_id: scope.org().as_str(),
        };
        let c = self.container.get().await?;
        match c.create_item(key.id.clone(), &key.id, &doc, None).await {
            Ok(_) => Ok(()),
            Err(e) if e.status().is_conflict() => Err(PortError::Conflict("key id exists".into())),
            Err(e) => Err(unavailable("create key", &e)),
        }
    }

    async fn list(&self, scope: &TenantScope) -> Result<Vec<ApiKeyRecord>, PortError> {
        let c = self.container.get().await?;
        // Cross-partition (the partition key is the key id); the filter is the scope's org.
        let query = Query::from("SELECT * FROM c WHERE c.orgId = @org")
            .with_parameter("@org", scope.org().as_str())
            .map_err(|e| unavailable("build query", &e))?;
        let docs: Vec<KeyDoc> = c
            .query_items::<KeyDoc>(query, FeedScope::full_container(), None)
            .await
            .map_err(|e| unavailable("list keys", &e))?
            .try_collect()
            .await
            .map_err(|e| unavailable("list keys", &e))?;
        let mut keys: Vec<ApiKeyRecord> = docs
            .into_iter()
            .filter(|d| d.belongs_to(scope))
            .map(|d| d.record)
            .collect();
        keys.sort_by(|a, b| {
            b.created_at
                .cmp(&a.created_at)
                .then_with(|| a.id.cmp(&b.id))
        });
        Ok(keys)
    }

    async fn get(&self, scope: &TenantScope, id: &str) -> Result<Option<ApiKeyRecord>, PortError> {
        // Another org's key does not exist for this scope.
        Ok(self
            .read(id)
            .await?
            .filter(|(doc, _)| doc.belongs_to(scope))
            .map(|(doc, _)| doc.record))
    }

    async fn replace(&self, scope: &TenantScope, key: ApiKeyRecord) -> Result<(), PortError> {
        if &key.org != scope.org() {
            return Err(PortError::NotFound);
        }
        for _ in 0..ATTEMPTS {
            let Some((current, etag)) = self.read(&key.id).await? else {
                return Err(PortError::NotFound);
            };
            if !current.belongs_to(scope) {
                return Err(PortError::NotFound);
            }
            if self.write_if_match(&key, etag).await? {
                return Ok(());
            }
        }
        Err(lost_races("key replace"))
    }

    async fn find_for_authentication(&self, id: &str) -> Result<Option<ApiKeyRecord>, PortError> {
        match self.read(id).await? {
            Some((doc, _)) if doc.org_id == doc.record.org.as_str() => Ok(Some(doc.record)),
            Some(_) => {
                // A document whose two org fields disagree is refused rather than trusted.
                tracing::warn!(key_id = %id, "api key document names two orgs");
                Ok(None)
            }
            None => Ok(None),
        }
    }

    async fn touch(&self, id: &str, at: OffsetDateTime) -> Result<(), PortError> {
        // Read-modify-write under If-Match: a touch racing a revocation (or rotation) re-reads and never
        // writes back the stale record.
        for _ in 0..ATTEMPTS {
            let Some((doc, etag)) = self.read(id).await? else {
                return Ok(());
            };
            let mut record = doc.record;
            record.last_used_at = Some(at);
            match self.write_if_match(&record, etag).await {
                Ok(true) | Err(PortError::NotFound) => return Ok(()),
                Ok(false) => {}
                Err(e) => return Err(e),
            }
        }
        Err(lost_races("key touch"))
    }
}

#[async_trait]
impl HealthCheck for CosmosApiKeys {
    fn name(&self) -> &'static str {
        "cosmos-api-keys"
    }

    async fn probe(&self) -> Result<(), String> {
        self.container.probe().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_ids_that_could_reshape_a_request_path_are_refused() {
        assert!(valid_key_id("0123456789abcdef"));
        for bad in [
            "",
            "a/b",
            "a?b",
            "a#b",
            "a\\b",
            "..",
            "a b",
            &"a".repeat(256),
        ] {
            assert!(!valid_key_id(bad), "{bad:?}");
        }
    }
}
