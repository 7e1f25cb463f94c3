//! Contract metadata in Cosmos DB.
//!
//! One container (default `clment` / `contracts`), partition key `/orgId`. The partition is always the
//! calling scope's org, never a value taken from a record, and every read, write and query names it, so a
//! scope can only ever touch its own org's partition.
//!
//! Documents (both kinds live in the org's partition):
//! - a contract: the [`ContractRecord`] fields as serialised, plus `"orgId"` (the partition key) and
//!   `"kind": "contract"`; its `id` is the contract id (a hyphenated UUID v7, so ids sort by time).
//! - an idempotency key: `{"id": "idem:<sha256 hex of the key>", "orgId", "kind": "idempotency",
//!   "contractId"}`, pointing at the contract created with that key. It is created together with the
//!   contract in one transactional batch and removed together with it, so the key is taken exactly when
//!   the contract exists.
//!
//! Containers are provisioned by infrastructure (data-plane identities cannot create them); see
//! [`container_properties`] for the shape to provision. SDK errors become [`PortError`]s here: 404 ->
//! `NotFound` (or `None`), 409 and 412 -> `Conflict`, everything else -> `Unavailable`.

use std::sync::Arc;

use async_trait::async_trait;
use azure_data_cosmos::clients::ContainerClient;
use azure_data_cosmos::models::{ContainerProperties, TransactionalBatchResponse};
use azure_data_cosmos::options::{BatchDeleteOptions, ItemWriteOptions, Precondition};
use azure_data_cosmos::{CosmosClient, CosmosError, FeedScope, Query, TransactionalBatch};
use clment_common::TenantScope;
use clment_common::domain::{ContractId, OrgId};
use clment_common::ports::{
    ContractRecord, ContractStatus, ContractStore, ContractUsage, Created, HealthCheck, PortError,
};
use futures_util::TryStreamExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use tokio::sync::OnceCell;

/// The database the contracts container lives in, unless configured otherwise.
pub const DEFAULT_DATABASE: &str = "clment";
/// The contracts container, unless configured otherwise.
pub const DEFAULT_CONTAINER: &str = "contracts";
/// The container's partition key path: one logical partition per org.
pub const PARTITION_KEY_PATH: &str = "/orgId";

const KIND_CONTRACT: &str = "contract";
const KIND_IDEMPOTENCY: &str = "idempotency";
/// How often a write that lost a race (or met a stale idempotency document) is retried before giving up
/// with `Conflict`.
const ATTEMPTS: usize = 4;

/// The properties to provision the contracts container with (partition key `/orgId`). Data-plane
/// identities cannot create containers: infrastructure provisions it, and the emulator tests use this.
#[must_use]
pub fn container_properties(container: &str) -> ContainerProperties {
    ContainerProperties::new(container.to_owned(), PARTITION_KEY_PATH.into())
}

/// A contract document as written: the record plus the partition key and the document kind.
#[derive(Serialize)]
struct ContractDoc<'a> {
    #[serde(flatten)]
    record: &'a ContractRecord,
    #[serde(rename = "orgId")]
    org_id: &'a str,
    kind: &'static str,
}

/// An idempotency document: the key's hash names it, and it points at the contract created with the key.
#[derive(Serialize, Deserialize)]
struct IdemDoc {
    id: String,
    #[serde(rename = "orgId")]
    org_id: String,
    kind: String,
    #[serde(rename = "contractId")]
    contract_id: ContractId,
}

/// A row of the reconciler's query: the key and the last change of a `deleting` contract.
#[derive(Deserialize)]
struct DeletingRow {
    #[serde(rename = "orgId")]
    org_id: String,
    id: String,
    updated_at: String,
}

/// A string bound for `c.updated_at < @bound` that keeps every record last updated before `t`.
///
/// `updated_at` is RFC 3339 in UTC (`...SS[.fraction]Z`), and a fraction sorts before `Z`, so string
/// order agrees with time order only to the second: the bound is the whole second after `t`'s, a superset
/// the caller narrows exactly.
fn updated_before_bound(t: OffsetDateTime) -> String {
    let second = t
        .to_offset(time::UtcOffset::UTC)
        .replace_nanosecond(0)
        .unwrap_or(t)
        + time::Duration::seconds(1);
    second
        .format(&time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
        ))
        .unwrap_or_default()
}

/// The idempotency document's id for a key. Hashed: keys are client-chosen and may hold characters Cosmos
/// ids refuse (`/`, `\`, `?`, `#`), and the hash is fixed-length.
pub(crate) fn idem_id(key: &str) -> String {
    format!("idem:{:x}", Sha256::digest(key.as_bytes()))
}

/// [`ContractStore`] (and [`HealthCheck`], named `cosmos-db`) over one Cosmos DB container. Cheap to
/// clone; clones share the resolved container client.
#[derive(Clone)]
pub struct CosmosContracts {
    inner: Arc<Inner>,
}

struct Inner {
    client: CosmosClient,
    database: String,
    container: String,
    /// Resolved on first use (resolution reads the container's metadata); a failed resolution is retried
    /// by the next call, so the service starts even while Cosmos DB is unreachable.
    resolved: OnceCell<ContainerClient>,
}

impl std::fmt::Debug for CosmosContracts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CosmosContracts")
            .field("database", &self.inner.database)
            .field("container", &self.inner.container)
            .finish_non_exhaustive()
    }
}

impl CosmosContracts {
    /// Contracts in [`DEFAULT_DATABASE`] / [`DEFAULT_CONTAINER`].
    #[must_use]
    pub fn new(client: CosmosClient) -> Self {
        Self::with_names(client, DEFAULT_DATABASE, DEFAULT_CONTAINER)
    }

    /// Contracts in the named database and container (which must exist, partitioned by `/orgId`).
    #[must_use]
    pub fn with_names(
        client: CosmosClient,
        database: impl Into<String>,
        container: impl Into<String>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                client,
                database: database.into(),
                container: container.into(),
                resolved: OnceCell::new(),
            }),
        }
    }

    /// Resolves the container now rather than on first use (start-up check).
    ///
    /// # Errors
    /// `Unavailable` when the container cannot be resolved (missing, unreachable, not authorised).
    pub async fn connect(&self) -> Result<(), PortError> {
        self.container().await.map(|_| ())
    }

    async fn container(&self) -> Result<&ContainerClient, PortError> {
        self.inner
            .resolved
            .get_or_try_init(|| async {
                self.inner
                    .client
                    .database_client(self.inner.database.as_str())
                    .container_client(self.inner.container.as_str(), None)
                    .await
                    .map_err(|e| {
                        tracing::warn!(error = %e, database = %self.inner.database,
                            container = %self.inner.container, "cosmos container unavailable");
                        PortError::Unavailable(format!("cosmos container: {e}"))
                    })
            })
            .await
    }

    /// Reads a contract and its etag; `None` when absent.
    async fn read_contract(
        &self,
        org: &str,
        id: ContractId,
    ) -> Result<Option<(ContractRecord, Option<Precondition>)>, PortError> {
        let c = self.container().await?;
        match c.read_item(org.to_owned(), &id.to_string(), None).await {
            Ok(resp) => {
                let etag = resp.headers().etag().cloned().map(Precondition::if_match);
                let record = resp
                    .into_model::<ContractRecord>()
                    .map_err(|e| unavailable("decode contract", &e))?;
                Ok(Some((record, etag)))
            }
            Err(e) if e.status().is_not_found() => Ok(None),
            Err(e) => Err(unavailable("read contract", &e)),
        }
    }

    /// Reads an idempotency document and its etag; `None` when absent.
    async fn read_idem(
        &self,
        org: &str,
        key: &str,
    ) -> Result<Option<(IdemDoc, Option<Precondition>)>, PortError> {
        let c = self.container().await?;
        match c.read_item(org.to_owned(), &idem_id(key), None).await {
            Ok(resp) => {
                let etag = resp.headers().etag().cloned().map(Precondition::if_match);
                let doc = resp
                    .into_model::<IdemDoc>()
                    .map_err(|e| unavailable("decode idempotency key", &e))?;
                Ok(Some((doc, etag)))
            }
            Err(e) if e.status().is_not_found() => Ok(None),
            Err(e) => Err(unavailable("read idempotency key", &e)),
        }
    }
}

/// How [`create_keyed`] ended.
pub(crate) enum KeyedCreate<T> {
    /// Written now.
    New,
    /// The idempotency key was taken: what its marker points at.
    Existing(T),
}

/// Creates `doc` (item id, document: a `what`) in `org`'s partition. With an idempotency `marker`
/// (item id, document) both go in one transactional batch, the marker first, so a retry of the
/// same request finds the first document: `first` reads what an existing marker points at, and a
/// marker whose document is gone (`None`) is freed and the batch tried again. When the marker is
/// free the conflict was the document's id (`taken` checks, in case the marker went in between).
pub(crate) async fn create_keyed<D, M, T, F, FF, G, GF>(
    c: &ContainerClient,
    org: &str,
    what: &str,
    (doc_id, doc): (&str, &D),
    marker: Option<(&str, &M)>,
    first: F,
    taken: G,
) -> Result<KeyedCreate<T>, PortError>
where
    D: Serialize,
    M: Serialize + serde::de::DeserializeOwned,
    F: Fn(M) -> FF,
    FF: Future<Output = Result<Option<T>, PortError>>,
    G: Fn() -> GF,
    GF: Future<Output = Result<bool, PortError>>,
{
    let conflict = || PortError::Conflict(format!("{what} id exists"));
    let Some((marker_id, marker)) = marker else {
        return match c.create_item(org.to_owned(), doc_id, doc, None).await {
            Ok(_) => Ok(KeyedCreate::New),
            Err(e) if e.status().is_conflict() => Err(conflict()),
            Err(e) => Err(unavailable(&format!("create {what}"), &e)),
        };
    };
    for _ in 0..ATTEMPTS {
        let batch = TransactionalBatch::new(org.to_owned())
            .create_item(marker)
            .and_then(|b| b.create_item(doc))
            .map_err(|e| unavailable("build batch", &e))?;
        let Some(failure) = run_batch(c, batch).await? else {
            return Ok(KeyedCreate::New);
        };
        if failure.status != 409 {
            return Err(batch_error(&format!("create {what}"), failure));
        }
        match c.read_item(org.to_owned(), marker_id, None).await {
            Ok(resp) => {
                let etag = resp.headers().etag().cloned().map(Precondition::if_match);
                let earlier: M = resp
                    .into_model()
                    .map_err(|e| unavailable("decode idempotency marker", &e))?;
                if let Some(found) = first(earlier).await? {
                    return Ok(KeyedCreate::Existing(found));
                }
                // A marker left by a document that is gone: free it and try again.
                delete_unchanged(c, org, marker_id, etag).await?;
            }
            Err(e) if e.status().is_not_found() => {
                if failure.index == Some(1) || taken().await? {
                    return Err(conflict());
                }
            }
            Err(e) => return Err(unavailable("read idempotency marker", &e)),
        }
    }
    Err(PortError::Conflict(
        "idempotency key changed concurrently".into(),
    ))
}

/// Deletes item `id` if it still has `etag` (any version without one); gone or changed meanwhile is
/// fine: someone else dealt with it.
pub(crate) async fn delete_unchanged(
    c: &ContainerClient,
    org: &str,
    id: &str,
    etag: Option<Precondition>,
) -> Result<(), PortError> {
    let options = etag.map(|p| ItemWriteOptions::default().with_precondition(p));
    match c.delete_item(org.to_owned(), id, options).await {
        Ok(_) => Ok(()),
        Err(e) if e.status().is_not_found() || e.status().is_precondition_failed() => Ok(()),
        Err(e) => Err(unavailable("delete", &e)),
    }
}

/// Why a transactional batch was rolled back.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BatchFailure {
    /// The failing operation, when the response said.
    pub(crate) index: Option<usize>,
    /// Its HTTP status.
    pub(crate) status: u16,
}

/// Runs a transactional batch: `None` when it committed, else which operation failed and how
/// (conflict, precondition, not found); other failures are `Unavailable`.
pub(crate) async fn run_batch(
    c: &ContainerClient,
    batch: TransactionalBatch,
) -> Result<Option<BatchFailure>, PortError> {
    let resp = match c.execute_transactional_batch(batch, None).await {
        Ok(resp) => resp,
        Err(e) => {
            let s = e.status();
            return if s.is_conflict() || s.is_precondition_failed() || s.is_not_found() {
                Ok(Some(BatchFailure {
                    index: None,
                    status: u16::from(s.status_code()),
                }))
            } else {
                Err(unavailable("batch", &e))
            };
        }
    };
    if u16::from(resp.status().status_code()) != 207 && resp.status().is_success() {
        return Ok(None);
    }
    let results: TransactionalBatchResponse = resp
        .into_model()
        .map_err(|e| unavailable("decode batch response", &e))?;
    // The failing operation is the one that is neither a success nor 424 (failed dependency).
    Ok(results
        .results()
        .iter()
        .enumerate()
        .find(|(_, r)| !r.is_success() && r.status_code() != 424)
        .map(|(index, r)| BatchFailure {
            index: Some(index),
            status: r.status_code(),
        })
        .or(Some(BatchFailure {
            index: None,
            status: 500,
        })))
}

pub(crate) fn unavailable(what: &str, e: &CosmosError) -> PortError {
    tracing::warn!(error = %e, "cosmos {what} failed");
    PortError::Unavailable(format!("cosmos {what}: {e}"))
}

fn batch_error(what: &str, f: BatchFailure) -> PortError {
    tracing::warn!(status = f.status, index = ?f.index, "cosmos {what} batch failed");
    PortError::Unavailable(format!(
        "cosmos {what}: batch failed with status {}",
        f.status
    ))
}

/// A row of the usage query.
#[derive(Deserialize)]
struct UsageRow {
    status: ContractStatus,
    size: u64,
}

#[async_trait]
#[async_trait]
impl ContractStore for CosmosContracts {
    async fn create(
        &self,
        scope: &TenantScope,
        record: ContractRecord,
    ) -> Result<Created, PortError> {
        if &record.org != scope.org() {
            return Err(PortError::Conflict("record belongs to another org".into()));
        }
        let org = scope.org().as_str();
        let doc = ContractDoc {
            record: &record,
            org_id: org,
            kind: KIND_CONTRACT,
        };
        let idem = record.idempotency_key.as_deref().map(|key| IdemDoc {
            id: idem_id(key),
            org_id: org.to_owned(),
            kind: KIND_IDEMPOTENCY.to_owned(),
            contract_id: record.id,
        });
        let created = create_keyed(
            self.container().await?,
            org,
            "contract",
            (&record.id.to_string(), &doc),
            idem.as_ref().map(|m| (m.id.as_str(), m)),
            |earlier: IdemDoc| async move {
                Ok(self
                    .read_contract(org, earlier.contract_id)
                    .await?
                    .map(|(first, _)| first))
            },
            || async { Ok(self.read_contract(org, record.id).await?.is_some()) },
        )
        .await?;
        Ok(match created {
            KeyedCreate::New => Created::New(record),
            KeyedCreate::Existing(first) => Created::Existing(first),
        })
    }

    async fn get(
        &self,
        scope: &TenantScope,
        id: ContractId,
    ) -> Result<Option<ContractRecord>, PortError> {
        Ok(self
            .read_contract(scope.org().as_str(), id)
            .await?
            .map(|(r, _)| r))
    }

    async fn usage(&self, scope: &TenantScope) -> Result<ContractUsage, PortError> {
        let org = scope.org().as_str();
        let c = self.container().await?;
        let query = Query::from("SELECT c.status, c.size FROM c WHERE c.kind = @kind".to_owned())
            .with_parameter("@kind", KIND_CONTRACT)
            .map_err(|e| unavailable("build query", &e))?;
        let mut rows = c
            .query_items::<UsageRow>(query, FeedScope::partition(org.to_owned()), None)
            .await
            .map_err(|e| unavailable("contract usage", &e))?;
        let mut usage = ContractUsage::default();
        while let Some(row) = rows
            .try_next()
            .await
            .map_err(|e| unavailable("contract usage", &e))?
        {
            usage.add(row.status, row.size);
        }
        Ok(usage)
    }

    async fn list(
        &self,
        scope: &TenantScope,
        limit: usize,
        after: Option<ContractId>,
    ) -> Result<Vec<ContractRecord>, PortError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let org = scope.org().as_str();
        let c = self.container().await?;
        // Ids are lowercase hyphenated UUID v7 strings, so descending string order is newest first.
        let mut sql =
            format!("SELECT TOP {limit} * FROM c WHERE c.kind = @kind AND c.status != @deleting");
        if after.is_some() {
            sql.push_str(" AND c.id < @after");
        }
        sql.push_str(" ORDER BY c.id DESC");
        let mut query = Query::from(sql)
            .with_parameter("@kind", KIND_CONTRACT)
            .and_then(|q| q.with_parameter("@deleting", ContractStatus::Deleting))
            .map_err(|e| unavailable("build query", &e))?;
        if let Some(after) = after {
            query = query
                .with_parameter("@after", after.to_string())
                .map_err(|e| unavailable("build query", &e))?;
        }
        let mut items = c
            .query_items::<ContractRecord>(query, FeedScope::partition(org.to_owned()), None)
            .await
            .map_err(|e| unavailable("list contracts", &e))?;
        let mut out = Vec::with_capacity(limit.min(1000));
        while out.len() < limit {
            match items
                .try_next()
                .await
                .map_err(|e| unavailable("list contracts", &e))?
            {
                Some(r) => out.push(r),
                None => break,
            }
        }
        Ok(out)
    }

    async fn replace(
        &self,
        scope: &TenantScope,
        record: ContractRecord,
        expected_updated_at: OffsetDateTime,
    ) -> Result<(), PortError> {
        let org = scope.org().as_str();
        let Some((current, etag)) = self.read_contract(org, record.id).await? else {
            return Err(PortError::NotFound);
        };
        if current.updated_at != expected_updated_at || &record.org != scope.org() {
            return Err(PortError::Conflict("changed concurrently".into()));
        }
        let doc = ContractDoc {
            record: &record,
            org_id: org,
            kind: KIND_CONTRACT,
        };
        let options = etag.map(|p| ItemWriteOptions::default().with_precondition(p));
        let c = self.container().await?;
        match c
            .replace_item(org.to_owned(), &record.id.to_string(), &doc, options)
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.status().is_precondition_failed() => {
                Err(PortError::Conflict("changed concurrently".into()))
            }
            Err(e) if e.status().is_not_found() => Err(PortError::NotFound),
            Err(e) => Err(unavailable("replace contract", &e)),
        }
    }

    async fn remove(&self, scope: &TenantScope, id: ContractId) -> Result<bool, PortError> {
        let org = scope.org().as_str();
        let c = self.container().await?;
        for _ in 0..ATTEMPTS {
            let Some((current, etag)) = self.read_contract(org, id).await? else {
                return Ok(false);
            };
            // The key is removed only while it still points at this contract.
            let idem = match current.idempotency_key.as_deref() {
                Some(key) => self
                    .read_idem(org, key)
                    .await?
                    .filter(|(doc, _)| doc.contract_id == id),
                None => None,
            };
            let outcome = match idem {
                None => {
                    let options = etag.map(|p| ItemWriteOptions::default().with_precondition(p));
                    match c
                        .delete_item(org.to_owned(), &id.to_string(), options)
                        .await
                    {
                        Ok(_) => return Ok(true),
                        Err(e)
                            if e.status().is_not_found() || e.status().is_precondition_failed() =>
                        {
                            continue;
                        }
                        Err(e) => return Err(unavailable("remove contract", &e)),
                    }
                }
                Some((doc, idem_etag)) => {
                    let batch = TransactionalBatch::new(org.to_owned())
                        .delete_item(
                            id.to_string(),
                            etag.map(|p| BatchDeleteOptions::default().with_precondition(p)),
                        )
                        .delete_item(
                            doc.id,
                            idem_etag.map(|p| BatchDeleteOptions::default().with_precondition(p)),
                        );
                    run_batch(self.container().await?, batch).await?
                }
            };
            match outcome {
                None => return Ok(true),
                // Changed or removed in between: look again.
                Some(f) if matches!(f.status, 404 | 409 | 412) => {}
                Some(f) => return Err(batch_error("remove contract", f)),
            }
        }
        Err(PortError::Conflict("contract changed concurrently".into()))
    }

    async fn stale_deleting(
        &self,
        older_than: OffsetDateTime,
        limit: usize,
    ) -> Result<Vec<(OrgId, ContractId)>, PortError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let c = self.container().await?;
        // Cross-partition (the reconciler is not a tenant operation). No TOP or ORDER BY: the feed is read
        // lazily and dropped once `limit` rows are taken.
        let query = Query::from(
            "SELECT c.orgId, c.id, c.updated_at FROM c WHERE c.kind = @kind \
             AND c.status = @deleting AND c.updated_at < @bound"
                .to_owned(),
        )
        .with_parameter("@kind", KIND_CONTRACT)
        .and_then(|q| q.with_parameter("@deleting", ContractStatus::Deleting))
        .and_then(|q| q.with_parameter("@bound", updated_before_bound(older_than)))
        .map_err(|e| unavailable("build query", &e))?;
        let mut rows = c
            .query_items::<DeletingRow>(query, FeedScope::full_container(), None)
            .await
            .map_err(|e| unavailable("list stale deletes", &e))?;
        let mut out = Vec::new();
        while out.len() < limit {
            let Some(row) = rows
                .try_next()
                .await
                .map_err(|e| unavailable("list stale deletes", &e))?
            else {
                break;
            };
            let updated = OffsetDateTime::parse(
                &row.updated_at,
                &time::format_description::well_known::Rfc3339,
            );
            match (
                OrgId::parse(&row.org_id),
                ContractId::parse(&row.id),
                updated,
            ) {
                (Ok(org), Ok(id), Ok(updated)) if updated < older_than => out.push((org, id)),
                (Ok(_), Ok(_), Ok(_)) => {}
                _ => tracing::warn!("cosmos: skipping a malformed deleting contract document"),
            }
        }
        Ok(out)
    }
}

#[async_trait]
impl HealthCheck for CosmosContracts {
    fn name(&self) -> &'static str {
        "cosmos-db"
    }

    async fn probe(&self) -> Result<(), String> {
        let c = self.container().await.map_err(|e| e.to_string())?;
        c.read(None)
            .await
            .map(|_| ())
            .map_err(|e| format!("cosmos container: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idempotency_ids_are_fixed_length_and_safe() {
        let id = idem_id("a/b?c#d\\e");
        assert_eq!(id.len(), "idem:".len() + 64);
        assert!(id[5..].bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(idem_id("k1"), idem_id("k2"));
    }

    /// Every time before `t`, as stored (RFC 3339, any sub-second digits), sorts below the bound.
    #[test]
    fn the_string_bound_keeps_every_earlier_time() {
        let rfc = |t: OffsetDateTime| {
            t.format(&time::format_description::well_known::Rfc3339)
                .unwrap()
        };
        let t = time::macros::datetime!(2026-11-24 10:00:00.5 UTC);
        let bound = updated_before_bound(t);
        assert_eq!(bound, "2026-11-24T10:00:01Z");
        for earlier in [
            t - time::Duration::nanoseconds(1),
            time::macros::datetime!(2026-11-24 10:00:00 UTC),
            time::macros::datetime!(2026-11-24 09:59:59.999999999 UTC),
            time::macros::datetime!(2025-01-01 00:00:00.1 UTC),
        ] {
            assert!(rfc(earlier) < bound, "{} vs {bound}", rfc(earlier));
        }
        // Whole seconds map to the next one.
        assert_eq!(
            updated_before_bound(time::macros::datetime!(2026-11-24 10:00:00 UTC)),
            "2026-11-24T10:00:01Z"
        );
    }
}
