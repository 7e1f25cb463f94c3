//! Stored reviews in Cosmos DB.
//!
//! One container (default `clment` / `reviews`), partition key `/orgId`. The partition is always the
//! calling scope's org, never a value taken from a record, and every read, write and query names it,
//! so a scope can only ever touch its own org's reviews.
//!
//! A document is the [`ReviewRecord`] as serialised plus `"orgId"` (the partition key) and
//! `"contractId"` (the contract, for listing and purging); its `id` is the review id, a hyphenated
//! UUID v7, so descending id order is newest first. A review's result holds verified excerpts of
//! the contract: the container is as protected as the contract metadata (Cosmos DB's encryption at
//! rest, the data-plane role of the app's identity only), and nothing here logs a document.
//!
//! A review asked for with an idempotency key has a marker document beside it, written in the same
//! transactional batch: `{"id": "idem:<sha256 hex of the key>", "orgId", "kind": "reviewIdempotency",
//! "forContract", "forReview"}` (no `contractId` or `status`, so listing and usage never see it). A
//! second create with the key finds the marker and returns its review; deleting the review (purging
//! the contract, or a replace that drops the key) removes the marker, and a marker whose review is
//! gone or no longer holds the key is freed on the next create.
//!
//! Replaces are optimistic twice over: the stored `updatedAt` must be the one the caller read, and
//! the write carries the document's etag (`If-Match`), so a concurrent change in between fails with
//! 412 and becomes [`PortError::Conflict`].
//!
//! The container is provisioned by infrastructure ([`container_properties`] gives its shape). SDK
//! errors become [`PortError`]s here: 404 -> `NotFound` (or `None`/`false`), 409 and 412 ->
//! `Conflict`, everything else -> `Unavailable`.

use std::sync::Arc;

use async_trait::async_trait;
use azure_data_cosmos::clients::ContainerClient;
use azure_data_cosmos::models::ContainerProperties;
use azure_data_cosmos::options::{ItemWriteOptions, Precondition};
use azure_data_cosmos::{CosmosClient, FeedScope, Query};
use clment_common::TenantScope;
use clment_common::domain::{ContractId, ReviewId};
use clment_common::ports::{HealthCheck, PortError, ReviewCreated, ReviewStore, ReviewUsage};
use clment_common::review::{ReviewRecord, ReviewStatus, TokenUsage};
use futures_util::TryStreamExt as _;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::cosmos::{
    DEFAULT_DATABASE, KeyedCreate, create_keyed, delete_unchanged, idem_id, unavailable,
};
use crate::tenants::LazyContainer;

/// The reviews container, unless configured otherwise.
pub const REVIEWS_CONTAINER: &str = "reviews";
/// The container's partition key path: one logical partition per org.
pub const PARTITION_KEY_PATH: &str = "/orgId";
/// The most reviews one `list` call reads.
pub const MAX_PAGE: usize = 1_000;

/// The properties to provision the reviews container with (partition key `/orgId`). Data-plane
/// identities cannot create containers: infrastructure provisions it, and the emulator tests use
/// this.
#[must_use]
pub fn container_properties(container: &str) -> ContainerProperties {
    ContainerProperties::new(container.to_owned(), PARTITION_KEY_PATH.into())
}

/// A review document as written: the record plus the partition key and the contract.
#[derive(Serialize)]
struct ReviewDoc<'a> {
    #[serde(flatten)]
    record: &'a ReviewRecord,
    #[serde(rename = "orgId")]
    org_id: &'a str,
    #[serde(rename = "contractId")]
    contract_id: String,
}

/// The marker kind of an idempotency key.
const KIND_IDEMPOTENCY: &str = "reviewIdempotency";

/// An idempotency key's marker: the key's hash names it, and it points at the review made with it.
#[derive(Serialize, Deserialize)]
struct IdemDoc {
    id: String,
    #[serde(rename = "orgId")]
    org_id: String,
    kind: String,
    #[serde(rename = "forContract")]
    for_contract: String,
    #[serde(rename = "forReview")]
    for_review: ReviewId,
}

/// A row of the purge query.
#[derive(Deserialize)]
struct IdRow {
    id: String,
}

/// A row of the usage query: the status and, for completed reviews, the token counts.
#[derive(Deserialize)]
struct UsageRow {
    /// Absent on idempotency markers, which are skipped.
    #[serde(default)]
    status: Option<ReviewStatus>,
    #[serde(default)]
    usage: Option<TokenUsage>,
}

/// [`ReviewStore`] (and [`HealthCheck`], named `cosmos-reviews`) over one Cosmos DB container. Cheap
/// to clone; clones share the resolved container client.
#[derive(Clone)]
pub struct CosmosReviews {
    inner: Arc<LazyContainer>,
}

impl std::fmt::Debug for CosmosReviews {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("CosmosReviews").field(&self.inner).finish()
    }
}

impl CosmosReviews {
    /// Reviews in [`DEFAULT_DATABASE`] / [`REVIEWS_CONTAINER`].
    #[must_use]
    pub fn new(client: CosmosClient) -> Self {
        Self::with_names(client, DEFAULT_DATABASE, REVIEWS_CONTAINER)
    }

    /// Reviews in the named database and container (which must exist, partitioned by `/orgId`).
    #[must_use]
    pub fn with_names(
        client: CosmosClient,
        database: impl Into<String>,
        container: impl Into<String>,
    ) -> Self {
        Self {
            inner: Arc::new(LazyContainer::new(
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
        self.container().await.map(|_| ())
    }

    async fn container(&self) -> Result<&ContainerClient, PortError> {
        self.inner.get().await
    }

    /// Removes the marker `marker_id` if it still names `review`.
    async fn free_marker(
        &self,
        org: &str,
        marker_id: &str,
        review: ReviewId,
    ) -> Result<(), PortError> {
        let c = self.container().await?;
        let resp = match c.read_item(org.to_owned(), marker_id, None).await {
            Ok(resp) => resp,
            Err(e) if e.status().is_not_found() => return Ok(()),
            Err(e) => return Err(unavailable("read idempotency marker", &e)),
        };
        let etag = resp.headers().etag().cloned().map(Precondition::if_match);
        let marker: IdemDoc = resp
            .into_model()
            .map_err(|e| unavailable("decode idempotency marker", &e))?;
        if marker.for_review != review {
            return Ok(());
        }
        delete_unchanged(c, org, marker_id, etag).await
    }

    /// Reads a review of the scope's org and its etag; `None` when absent.
    async fn read(
        &self,
        scope: &TenantScope,
        id: ReviewId,
    ) -> Result<Option<(ReviewRecord, Option<Precondition>)>, PortError> {
        let c = self.container().await?;
        let org = scope.org().as_str().to_owned();
        match c.read_item(org, &id.to_string(), None).await {
            Ok(resp) => {
                let etag = resp.headers().etag().cloned().map(Precondition::if_match);
                let record = resp
                    .into_model::<ReviewRecord>()
                    .map_err(|e| unavailable("decode review", &e))?;
                // The partition is the org, so this holds; checked all the same.
                Ok((&record.org == scope.org()).then_some((record, etag)))
            }
            Err(e) if e.status().is_not_found() => Ok(None),
            Err(e) => Err(unavailable("read review", &e)),
        }
    }

    /// Reads a review of `contract` in the scope's org; `None` when absent or of another contract.
    async fn read_of(
        &self,
        scope: &TenantScope,
        contract: ContractId,
        id: ReviewId,
    ) -> Result<Option<(ReviewRecord, Option<Precondition>)>, PortError> {
        Ok(self
            .read(scope, id)
            .await?
            .filter(|(r, _)| r.contract == contract))
    }
}

#[async_trait]
impl ReviewStore for CosmosReviews {
    async fn create(
        &self,
        scope: &TenantScope,
        record: &ReviewRecord,
    ) -> Result<ReviewCreated, PortError> {
        if &record.org != scope.org() {
            return Err(PortError::Conflict("review belongs to another org".into()));
        }
        let org = scope.org().as_str();
        let doc = ReviewDoc {
            record,
            org_id: org,
            contract_id: record.contract.to_string(),
        };
        let marker = record.idempotency_key.as_deref().map(|key| IdemDoc {
            id: idem_id(key),
            org_id: org.to_owned(),
            kind: KIND_IDEMPOTENCY.to_owned(),
            for_contract: record.contract.to_string(),
            for_review: record.id,
        });
        let created = create_keyed(
            self.container().await?,
            org,
            "review",
            (&record.id.to_string(), &doc),
            marker.as_ref().map(|m| (m.id.as_str(), m)),
            |earlier: IdemDoc| async move {
                // A review that has since dropped the key (see `replace`) no longer holds it.
                Ok(self
                    .read(scope, earlier.for_review)
                    .await?
                    .map(|(first, _)| first)
                    .filter(|first| first.idempotency_key == record.idempotency_key))
            },
            || async { Ok(self.read(scope, record.id).await?.is_some()) },
        )
        .await?;
        Ok(match created {
            KeyedCreate::New => ReviewCreated::New,
            KeyedCreate::Existing(first) => ReviewCreated::Existing(Box::new(first)),
        })
    }

    async fn get(
        &self,
        scope: &TenantScope,
        contract: ContractId,
        id: ReviewId,
    ) -> Result<Option<ReviewRecord>, PortError> {
        Ok(self.read_of(scope, contract, id).await?.map(|(r, _)| r))
    }

    async fn list(
        &self,
        scope: &TenantScope,
        contract: ContractId,
        limit: usize,
        after: Option<ReviewId>,
    ) -> Result<Vec<ReviewRecord>, PortError> {
        let limit = limit.min(MAX_PAGE);
        if limit == 0 {
            return Ok(Vec::new());
        }
        let org = scope.org().as_str();
        let c = self.container().await?;
        // Ids are lowercase hyphenated UUID v7 strings: descending string order is newest first.
        let mut sql = format!("SELECT TOP {limit} * FROM c WHERE c.contractId = @contract");
        if after.is_some() {
            sql.push_str(" AND c.id < @after");
        }
        sql.push_str(" ORDER BY c.id DESC");
        let mut query = Query::from(sql)
            .with_parameter("@contract", contract.to_string())
            .map_err(|e| unavailable("build query", &e))?;
        if let Some(after) = after {
            query = query
                .with_parameter("@after", after.to_string())
                .map_err(|e| unavailable("build query", &e))?;
        }
        let mut items = c
            .query_items::<ReviewRecord>(query, FeedScope::partition(org.to_owned()), None)
            .await
            .map_err(|e| unavailable("list reviews", &e))?;
        let mut out = Vec::with_capacity(limit.min(100));
        while out.len() < limit {
            match items
                .try_next()
                .await
                .map_err(|e| unavailable("list reviews", &e))?
            {
                Some(r) if &r.org == scope.org() && r.contract == contract => out.push(r),
                Some(_) => {}
                None => break,
            }
        }
        Ok(out)
    }

    async fn replace(
        &self,
        scope: &TenantScope,
        record: &ReviewRecord,
        expected_updated_at: OffsetDateTime,
    ) -> Result<(), PortError> {
        let org = scope.org().as_str();
        let Some((current, etag)) = self.read(scope, record.id).await? else {
            return Err(PortError::NotFound);
        };
        if &record.org != scope.org() || current.contract != record.contract {
            return Err(PortError::Conflict(
                "review belongs to another org or contract".into(),
            ));
        }
        if current.updated_at != expected_updated_at {
            return Err(PortError::Conflict("review changed concurrently".into()));
        }
        let dropped = match (&current.idempotency_key, &record.idempotency_key) {
            (Some(k), None) => Some(idem_id(k)),
            (kept, next) if kept == next => None,
            _ => {
                return Err(PortError::Conflict(
                    "a review's idempotency key cannot change".into(),
                ));
            }
        };
        let doc = ReviewDoc {
            record,
            org_id: org,
            contract_id: record.contract.to_string(),
        };
        let options = etag.map(|p| ItemWriteOptions::default().with_precondition(p));
        let c = self.container().await?;
        match c
            .replace_item(org.to_owned(), &record.id.to_string(), &doc, options)
            .await
        {
            Ok(_) => {}
            Err(e) if e.status().is_precondition_failed() => {
                return Err(PortError::Conflict("review changed concurrently".into()));
            }
            Err(e) if e.status().is_not_found() => return Err(PortError::NotFound),
            Err(e) => return Err(unavailable("replace review", &e)),
        }
        // The review no longer holds the key: free its marker. Should this fail, the next create
        // with the key finds a review without it and frees the marker then.
        if let Some(marker) = dropped {
            self.free_marker(org, &marker, record.id).await?;
        }
        Ok(())
    }

    async fn delete(
        &self,
        scope: &TenantScope,
        contract: ContractId,
        id: ReviewId,
    ) -> Result<bool, PortError> {
        let Some((record, _)) = self.read_of(scope, contract, id).await? else {
            return Ok(false);
        };
        let org = scope.org().as_str();
        let c = self.container().await?;
        let removed = match c.delete_item(org.to_owned(), &id.to_string(), None).await {
            Ok(_) => true,
            Err(e) if e.status().is_not_found() => false,
            Err(e) => return Err(unavailable("delete review", &e)),
        };
        if let Some(key) = record.idempotency_key.as_deref() {
            self.free_marker(org, &idem_id(key), id).await?;
        }
        Ok(removed)
    }

    async fn usage(&self, scope: &TenantScope) -> Result<ReviewUsage, PortError> {
        let org = scope.org().as_str();
        let c = self.container().await?;
        // Only the counts leave the database: the result's excerpts are contract text.
        let query = Query::from("SELECT c.status, c.result.usage AS usage FROM c".to_owned());
        let mut rows = c
            .query_items::<UsageRow>(query, FeedScope::partition(org.to_owned()), None)
            .await
            .map_err(|e| unavailable("review usage", &e))?;
        let mut usage = ReviewUsage::default();
        while let Some(row) = rows
            .try_next()
            .await
            .map_err(|e| unavailable("review usage", &e))?
        {
            if let Some(status) = row.status {
                usage.add(status, row.usage.as_ref());
            }
        }
        Ok(usage)
    }

    async fn delete_for_contract(
        &self,
        scope: &TenantScope,
        contract: ContractId,
    ) -> Result<u64, PortError> {
        let org = scope.org().as_str();
        let c = self.container().await?;
        let query = Query::from("SELECT c.id FROM c WHERE c.contractId = @contract".to_owned())
            .with_parameter("@contract", contract.to_string())
            .map_err(|e| unavailable("build query", &e))?;
        // The ids first, then the deletes: the feed is not read while it changes.
        let ids: Vec<IdRow> = c
            .query_items::<IdRow>(query, FeedScope::partition(org.to_owned()), None)
            .await
            .map_err(|e| unavailable("list reviews to purge", &e))?
            .try_collect()
            .await
            .map_err(|e| unavailable("list reviews to purge", &e))?;
        let mut removed = 0;
        for row in ids {
            match c.delete_item(org.to_owned(), &row.id, None).await {
                Ok(_) => removed += 1,
                // Removed in between: not counted.
                Err(e) if e.status().is_not_found() => {}
                Err(e) => return Err(unavailable("purge reviews", &e)),
            }
        }
        // Then the idempotency markers of the contract's reviews.
        let query = Query::from("SELECT c.id FROM c WHERE c.forContract = @contract".to_owned())
            .with_parameter("@contract", contract.to_string())
            .map_err(|e| unavailable("build query", &e))?;
        let markers: Vec<IdRow> = c
            .query_items::<IdRow>(query, FeedScope::partition(org.to_owned()), None)
            .await
            .map_err(|e| unavailable("list idempotency markers", &e))?
            .try_collect()
            .await
            .map_err(|e| unavailable("list idempotency markers", &e))?;
        for row in markers {
            match c.delete_item(org.to_owned(), &row.id, None).await {
                Ok(_) => {}
                Err(e) if e.status().is_not_found() => {}
                Err(e) => return Err(unavailable("purge idempotency markers", &e)),
            }
        }
        Ok(removed)
    }
}

#[async_trait]
impl HealthCheck for CosmosReviews {
    fn name(&self) -> &'static str {
        "cosmos-reviews"
    }

    async fn probe(&self) -> Result<(), String> {
        self.inner.probe().await
    }
}
