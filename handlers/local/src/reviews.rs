//! Reviews in the local database, sealed: a review's result holds verified excerpts of the contract,
//! so each record is stored as JSON sealed with AES-256-GCM under a subkey of the org's data key
//! (info `clment/review/v1/seal-key`), bound by its AAD (`clment/review/v1/{org}/{contract}/{review}`)
//! to its place. Keys are `(org, contract, review)`; review ids are UUID v7, so key order is creation
//! order. An idempotency key is kept as `(org, SHA-256 of the key)` -> `(contract, review)`, written
//! in the review's transaction and removed with it (or when a replace drops the key).

use std::sync::Arc;

use async_trait::async_trait;
use clment_common::TenantScope;
use clment_common::domain::{ContractId, OrgId, ReviewId};
use clment_common::ports::{PortError, ReviewCreated, ReviewStore, ReviewUsage};
use clment_common::review::ReviewRecord;
use redb::{ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};
use time::OffsetDateTime;

use crate::MasterKey;
use crate::crypto::{OrgKeys, ValueSealer};
use crate::store::{LocalStore, StoreError, err};

pub(crate) const REVIEWS: TableDefinition<'_, (&str, u128, u128), &[u8]> =
    TableDefinition::new("reviews");

/// `(org, hex SHA-256 of the idempotency key)` -> `(contract, review)`.
pub(crate) const REVIEW_IDEMPOTENCY: TableDefinition<'_, (&str, &str), (u128, u128)> =
    TableDefinition::new("review_idempotency");

const SEAL_KEY_INFO: &[u8] = b"clment/review/v1/seal-key";

/// The stored form of an idempotency key: its hash (keys are client-chosen).
fn key_hash(key: &str) -> String {
    use sha2::Digest as _;
    format!("{:x}", sha2::Sha256::digest(key.as_bytes()))
}

/// What usage reads of a stored review: its status and token counts. The result's findings (verified
/// excerpts: contract text) are skipped by the parser, never built.
#[derive(serde::Deserialize)]
struct UsageView {
    status: clment_common::review::ReviewStatus,
    #[serde(default)]
    result: Option<UsageResult>,
}

#[derive(serde::Deserialize)]
struct UsageResult {
    usage: clment_common::review::TokenUsage,
}

/// The local review store (see the module docs).
pub struct LocalReviews {
    store: LocalStore,
    keys: OrgKeys,
}

impl std::fmt::Debug for LocalReviews {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalReviews").finish_non_exhaustive()
    }
}

fn unavailable(e: StoreError) -> PortError {
    PortError::Unavailable(e.0)
}

fn aad(org: &str, contract: u128, review: u128) -> Vec<u8> {
    format!(
        "clment/review/v1/{org}/{}/{}",
        ContractId::from_u128(contract),
        ReviewId::from_u128(review)
    )
    .into_bytes()
}

fn seal(s: &ValueSealer, r: &ReviewRecord) -> Result<Vec<u8>, StoreError> {
    let plain = zeroize::Zeroizing::new(serde_json::to_vec(r).map_err(err)?);
    s.seal(
        &aad(r.org.as_str(), r.contract.as_u128(), r.id.as_u128()),
        &plain,
    )
    .ok_or_else(|| StoreError("sealing a review failed".into()))
}

/// A stored review's plaintext JSON (zeroed when dropped).
fn unseal(
    s: &ValueSealer,
    key: (&str, u128, u128),
    sealed: &[u8],
) -> Result<zeroize::Zeroizing<Vec<u8>>, StoreError> {
    s.open(&aad(key.0, key.1, key.2), sealed)
        .map(zeroize::Zeroizing::new)
        .ok_or_else(|| StoreError("a stored review failed authentication".into()))
}

fn open(
    s: &ValueSealer,
    key: (&str, u128, u128),
    sealed: &[u8],
) -> Result<ReviewRecord, StoreError> {
    serde_json::from_slice(&unseal(s, key, sealed)?).map_err(err)
}

enum Written {
    Done,
    /// Nothing written: an earlier review has the idempotency key.
    Existing(Box<ReviewRecord>),
    Conflict(&'static str),
    NotFound,
}

impl LocalReviews {
    /// Reviews in `store`, sealed with the org keys `master` wraps (the ones the documents use).
    ///
    /// # Errors
    /// When the table cannot be created.
    pub fn open(store: LocalStore, master: MasterKey) -> Result<Self, StoreError> {
        let keys = OrgKeys::new(store.clone(), master);
        Ok(Self { store, keys })
    }

    async fn sealer(&self, org: &OrgId) -> Result<Arc<ValueSealer>, PortError> {
        let dk = self.keys.data_key(org).await?;
        Ok(Arc::new(ValueSealer::new(&dk, SEAL_KEY_INFO)))
    }

    async fn write(
        &self,
        scope: &TenantScope,
        f: impl FnOnce(&WriteTransaction, &ValueSealer) -> Result<Written, StoreError> + Send + 'static,
    ) -> Result<ReviewCreated, PortError> {
        self.store.touch_tenant(scope.org().as_str());
        let sealer = self.sealer(scope.org()).await?;
        let outcome = self
            .store
            .blocking(move |db| {
                let txn = db.begin_write().map_err(err)?;
                let out = f(&txn, &sealer)?;
                if matches!(out, Written::Done) {
                    txn.commit().map_err(err)?;
                }
                Ok(out)
            })
            .await
            .map_err(unavailable)?;
        match outcome {
            Written::Done => Ok(ReviewCreated::New),
            Written::Existing(first) => Ok(ReviewCreated::Existing(first)),
            Written::Conflict(why) => Err(PortError::Conflict(why.into())),
            Written::NotFound => Err(PortError::NotFound),
        }
    }
}

#[async_trait]
impl ReviewStore for LocalReviews {
    async fn usage(&self, scope: &TenantScope) -> Result<ReviewUsage, PortError> {
        self.store.touch_tenant(scope.org().as_str());
        let sealer = self.sealer(scope.org()).await?;
        let org = scope.org().clone();
        self.store
            .blocking(move |db| {
                let txn = db.begin_read().map_err(err)?;
                let t = txn.open_table(REVIEWS).map_err(err)?;
                let mut usage = ReviewUsage::default();
                for entry in t
                    .range((org.as_str(), 0u128, 0u128)..=(org.as_str(), u128::MAX, u128::MAX))
                    .map_err(err)?
                {
                    let (k, v) = entry.map_err(err)?;
                    let plain = unseal(&sealer, k.value(), v.value())?;
                    let r: UsageView = serde_json::from_slice(&plain).map_err(err)?;
                    usage.add(r.status, r.result.as_ref().map(|x| &x.usage));
                }
                Ok(usage)
            })
            .await
            .map_err(unavailable)
    }

    async fn create(
        &self,
        scope: &TenantScope,
        record: &ReviewRecord,
    ) -> Result<ReviewCreated, PortError> {
        if &record.org != scope.org() {
            return Err(PortError::Conflict("review belongs to another org".into()));
        }
        let record = record.clone();
        self.write(scope, move |txn, sealer| {
            let mut t = txn.open_table(REVIEWS).map_err(err)?;
            let mut idem = txn.open_table(REVIEW_IDEMPOTENCY).map_err(err)?;
            let org = record.org.as_str();
            let hash = record.idempotency_key.as_deref().map(key_hash);
            if let Some(hash) = &hash {
                let earlier = idem
                    .get((org, hash.as_str()))
                    .map_err(err)?
                    .map(|v| v.value());
                if let Some((contract, review)) = earlier {
                    let key = (org, contract, review);
                    if let Some(v) = t.get(key).map_err(err)? {
                        return Ok(Written::Existing(Box::new(open(sealer, key, v.value())?)));
                    }
                    // A key left behind by a review that is gone: free again.
                }
            }
            let key = (org, record.contract.as_u128(), record.id.as_u128());
            if t.get(key).map_err(err)?.is_some() {
                return Ok(Written::Conflict("review id exists"));
            }
            t.insert(key, seal(sealer, &record)?.as_slice())
                .map_err(err)?;
            if let Some(hash) = &hash {
                idem.insert((org, hash.as_str()), (key.1, key.2))
                    .map_err(err)?;
            }
            Ok(Written::Done)
        })
        .await
    }

    async fn get(
        &self,
        scope: &TenantScope,
        contract: ContractId,
        id: ReviewId,
    ) -> Result<Option<ReviewRecord>, PortError> {
        self.store.touch_tenant(scope.org().as_str());
        let sealer = self.sealer(scope.org()).await?;
        let org = scope.org().clone();
        self.store
            .blocking(move |db| {
                let txn = db.begin_read().map_err(err)?;
                let t = txn.open_table(REVIEWS).map_err(err)?;
                let key = (org.as_str(), contract.as_u128(), id.as_u128());
                t.get(key)
                    .map_err(err)?
                    .map(|v| open(&sealer, key, v.value()))
                    .transpose()
            })
            .await
            .map_err(unavailable)
    }

    async fn list(
        &self,
        scope: &TenantScope,
        contract: ContractId,
        limit: usize,
        after: Option<ReviewId>,
    ) -> Result<Vec<ReviewRecord>, PortError> {
        self.store.touch_tenant(scope.org().as_str());
        let sealer = self.sealer(scope.org()).await?;
        let org = scope.org().clone();
        self.store
            .blocking(move |db| {
                let txn = db.begin_read().map_err(err)?;
                let t = txn.open_table(REVIEWS).map_err(err)?;
                let c = contract.as_u128();
                let Some(upper) = after.map_or(Some(u128::MAX), |a| a.as_u128().checked_sub(1))
                else {
                    return Ok(Vec::new());
                };
                let mut out = Vec::new();
                for entry in t
                    .range((org.as_str(), c, 0u128)..=(org.as_str(), c, upper))
                    .map_err(err)?
                    .rev()
                    .take(limit)
                {
                    let (k, v) = entry.map_err(err)?;
                    out.push(open(&sealer, k.value(), v.value())?);
                }
                Ok(out)
            })
            .await
            .map_err(unavailable)
    }

    async fn replace(
        &self,
        scope: &TenantScope,
        record: &ReviewRecord,
        expected_updated_at: OffsetDateTime,
    ) -> Result<(), PortError> {
        if &record.org != scope.org() {
            return Err(PortError::NotFound);
        }
        let record = record.clone();
        self.write(scope, move |txn, sealer| {
            let mut t = txn.open_table(REVIEWS).map_err(err)?;
            let key = (
                record.org.as_str(),
                record.contract.as_u128(),
                record.id.as_u128(),
            );
            let current = match t.get(key).map_err(err)? {
                Some(v) => open(sealer, key, v.value())?,
                None => return Ok(Written::NotFound),
            };
            if current.updated_at != expected_updated_at {
                return Ok(Written::Conflict("the review changed since it was read"));
            }
            let dropped = match (&current.idempotency_key, &record.idempotency_key) {
                (Some(k), None) => Some(key_hash(k)),
                (kept, next) if kept == next => None,
                _ => {
                    return Ok(Written::Conflict(
                        "a review's idempotency key cannot change",
                    ));
                }
            };
            t.insert(key, seal(sealer, &record)?.as_slice())
                .map_err(err)?;
            if let Some(hash) = dropped {
                // Freed in the same transaction: the next request with the key asks again.
                let mut idem = txn.open_table(REVIEW_IDEMPOTENCY).map_err(err)?;
                let ours = idem
                    .get((key.0, hash.as_str()))
                    .map_err(err)?
                    .is_some_and(|v| v.value() == (key.1, key.2));
                if ours {
                    idem.remove((key.0, hash.as_str())).map_err(err)?;
                }
            }
            Ok(Written::Done)
        })
        .await
        .map(|_| ())
    }

    async fn delete(
        &self,
        scope: &TenantScope,
        contract: ContractId,
        id: ReviewId,
    ) -> Result<bool, PortError> {
        let org = scope.org().clone();
        let removed = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = removed.clone();
        self.write(scope, move |txn, sealer| {
            let mut t = txn.open_table(REVIEWS).map_err(err)?;
            let key = (org.as_str(), contract.as_u128(), id.as_u128());
            let removed = t
                .remove(key)
                .map_err(err)?
                .map(|v| open(sealer, key, v.value()))
                .transpose()?;
            if let Some(k) = removed.as_ref().and_then(|r| r.idempotency_key.as_deref()) {
                let mut idem = txn.open_table(REVIEW_IDEMPOTENCY).map_err(err)?;
                idem.remove((org.as_str(), key_hash(k).as_str()))
                    .map_err(err)?;
            }
            flag.store(removed.is_some(), std::sync::atomic::Ordering::Relaxed);
            Ok(Written::Done)
        })
        .await?;
        Ok(removed.load(std::sync::atomic::Ordering::Relaxed))
    }

    async fn delete_for_contract(
        &self,
        scope: &TenantScope,
        contract: ContractId,
    ) -> Result<u64, PortError> {
        let org = scope.org().clone();
        let count = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let n = count.clone();
        self.write(scope, move |txn, _| {
            let mut t = txn.open_table(REVIEWS).map_err(err)?;
            let c = contract.as_u128();
            let removed = t
                .extract_from_if(
                    (org.as_str(), c, 0u128)..=(org.as_str(), c, u128::MAX),
                    |_, _| true,
                )
                .map_err(err)?
                .count();
            // The org's idempotency keys that name this contract's reviews.
            let mut idem = txn.open_table(REVIEW_IDEMPOTENCY).map_err(err)?;
            idem.extract_from_if((org.as_str(), "")..(org.as_str(), "~"), |_, v| v.0 == c)
                .map_err(err)?
                .for_each(drop);
            n.store(removed as u64, std::sync::atomic::Ordering::Relaxed);
            Ok(Written::Done)
        })
        .await?;
        Ok(count.load(std::sync::atomic::Ordering::Relaxed))
    }
}
