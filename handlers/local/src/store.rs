//! The embedded transactional database (redb, one file: `<data dir>/clment.redb`) and the adapters
//! built on it. redb commits are durable (fsync) before they return, so anything acknowledged
//! survives a crash.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};
use serde::{Deserialize, Serialize};

use clment_common::ports::{HealthCheck, Job, JobError, JobQueue, JobSink, LeasedJob};

use crate::DataDir;

const JOBS: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("jobs");
const COUNTERS: TableDefinition<'_, &str, u64> = TableDefinition::new("counters");
pub(crate) const ORGS: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("orgs");
pub(crate) const API_KEYS: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("api_keys");
pub(crate) const ORG_KEYS: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("org_data_keys");

/// The store failed.
#[derive(Debug, thiserror::Error)]
#[error("local store: {0}")]
pub struct StoreError(pub(crate) String);

pub(crate) fn err(e: impl std::fmt::Display) -> StoreError {
    StoreError(e.to_string())
}

#[derive(Serialize, Deserialize)]
struct JobRecord {
    job: Job,
    attempt: u32,
    /// Unix milliseconds from which the job may be leased.
    available_at: i64,
}

/// The database's page cache.
const CACHE_BYTES: usize = 32 << 20;

/// The local database. Cheap to clone.
#[derive(Clone)]
pub struct LocalStore {
    db: Arc<Database>,
    touches: Arc<std::sync::Mutex<std::collections::HashMap<String, u64>>>,
}

pub(crate) fn now_ms() -> i64 {
    i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000)
        .unwrap_or(i64::MAX)
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl LocalStore {
    /// Opens (or creates) the database in `dir`.
    ///
    /// # Errors
    /// When the file cannot be opened, for example because another process holds it.
    pub fn open(dir: &DataDir) -> Result<Self, StoreError> {
        Self::open_path(&dir.root().join("clment.redb"))
    }

    fn open_path(path: &Path) -> Result<Self, StoreError> {
        // redb caches file pages in process memory (1 GiB by default): bound it, so a long export or a
        // large trail cannot grow the handler's memory with the data it reads.
        let db = Database::builder()
            .set_cache_size(CACHE_BYTES)
            .create(path)
            .map_err(err)?;
        // Wrapped data keys, API key hashes and the audit trail live here: owner-only, like the directory.
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(err)?;
        }
        let txn = db.begin_write().map_err(err)?;
        txn.open_table(JOBS).map_err(err)?;
        txn.open_table(COUNTERS).map_err(err)?;
        txn.open_table(ORGS).map_err(err)?;
        txn.open_table(API_KEYS).map_err(err)?;
        crate::audit::create_tables(&txn)?;
        txn.open_table(crate::contracts::CONTRACTS).map_err(err)?;
        txn.open_table(crate::contracts::IDEMPOTENCY).map_err(err)?;
        txn.open_table(ORG_KEYS).map_err(err)?;
        txn.open_table(crate::reviews::REVIEWS).map_err(err)?;
        txn.commit().map_err(err)?;
        Ok(Self {
            db: Arc::new(db),
            touches: Arc::default(),
        })
    }

    /// How many tenant-data operations have touched `org` since start-up. Tests use it to prove that
    /// refused requests never reach another tenant's data.
    #[must_use]
    pub fn tenant_touches(&self, org: &str) -> u64 {
        self.touches
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(org)
            .copied()
            .unwrap_or(0)
    }

    /// The org's wrapped data key, storing `fresh` first when the org has none yet.
    pub(crate) async fn org_data_key(
        &self,
        org: &str,
        fresh: Vec<u8>,
    ) -> Result<Vec<u8>, StoreError> {
        let org = org.to_owned();
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(err)?;
            let key = {
                let mut t = txn.open_table(ORG_KEYS).map_err(err)?;
                let existing = t
                    .get(org.as_str())
                    .map_err(err)?
                    .map(|v| v.value().to_vec());
                match existing {
                    Some(k) => k,
                    None => {
                        t.insert(org.as_str(), fresh.as_slice()).map_err(err)?;
                        fresh
                    }
                }
            };
            txn.commit().map_err(err)?;
            Ok(key)
        })
        .await
    }

    #[cfg(any(test, feature = "test-support"))]
    pub(crate) fn db(&self) -> &Database {
        &self.db
    }

    pub(crate) fn touch_tenant(&self, org: &str) {
        *self
            .touches
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(org.to_owned())
            .or_default() += 1;
    }

    pub(crate) async fn blocking<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Database) -> Result<T, StoreError> + Send + 'static,
    {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || f(&db))
            .await
            .map_err(err)?
    }
}

fn job_err(e: StoreError) -> JobError {
    JobError::Store(e.0)
}

#[async_trait]
impl JobSink for LocalStore {
    async fn enqueue(&self, job: Job) -> Result<String, JobError> {
        self.push_job(job).await.map(|id| id.to_string())
    }
}

impl LocalStore {
    /// Stores a job durably (one fsynced transaction) and returns its id.
    async fn push_job(&self, job: Job) -> Result<u64, JobError> {
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(err)?;
            let id = {
                let mut counters = txn.open_table(COUNTERS).map_err(err)?;
                let next = counters
                    .get("next-job-id")
                    .map_err(err)?
                    .map_or(1, |v| v.value());
                counters.insert("next-job-id", next + 1).map_err(err)?;
                next
            };
            let record = serde_json::to_vec(&JobRecord {
                job,
                attempt: 0,
                available_at: now_ms(),
            })
            .map_err(err)?;
            txn.open_table(JOBS)
                .map_err(err)?
                .insert(id, record.as_slice())
                .map_err(err)?;
            txn.commit().map_err(err)?;
            Ok(id)
        })
        .await
        .map_err(job_err)
    }
}

#[async_trait]
impl JobQueue for LocalStore {
    async fn lease(&self, lease: Duration) -> Result<Option<LeasedJob>, JobError> {
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(err)?;
            let now = now_ms();
            let leased = {
                let mut jobs = txn.open_table(JOBS).map_err(err)?;
                let mut found = None;
                for entry in jobs.iter().map_err(err)? {
                    let (k, v) = entry.map_err(err)?;
                    let rec: JobRecord = serde_json::from_slice(v.value()).map_err(err)?;
                    if rec.available_at <= now {
                        found = Some((k.value(), rec));
                        break;
                    }
                }
                match found {
                    Some((id, mut rec)) => {
                        rec.attempt += 1;
                        rec.available_at = now.saturating_add(millis(lease));
                        let bytes = serde_json::to_vec(&rec).map_err(err)?;
                        jobs.insert(id, bytes.as_slice()).map_err(err)?;
                        Some(LeasedJob {
                            id,
                            attempt: rec.attempt,
                            job: rec.job,
                        })
                    }
                    None => None,
                }
            };
            txn.commit().map_err(err)?;
            Ok(leased)
        })
        .await
        .map_err(job_err)
    }

    async fn complete(&self, id: u64) -> Result<(), JobError> {
        let removed = self
            .blocking(move |db| {
                let txn = db.begin_write().map_err(err)?;
                let removed = txn
                    .open_table(JOBS)
                    .map_err(err)?
                    .remove(id)
                    .map_err(err)?
                    .is_some();
                txn.commit().map_err(err)?;
                Ok(removed)
            })
            .await
            .map_err(job_err)?;
        if removed {
            Ok(())
        } else {
            Err(JobError::NotLeased(id))
        }
    }

    async fn retry_later(&self, id: u64, delay: Duration) -> Result<(), JobError> {
        let found = self
            .blocking(move |db| {
                let txn = db.begin_write().map_err(err)?;
                let found = {
                    let mut jobs = txn.open_table(JOBS).map_err(err)?;
                    let rec = jobs
                        .get(id)
                        .map_err(err)?
                        .map(|v| serde_json::from_slice::<JobRecord>(v.value()));
                    match rec {
                        Some(rec) => {
                            let mut rec = rec.map_err(err)?;
                            rec.available_at = now_ms().saturating_add(millis(delay));
                            let bytes = serde_json::to_vec(&rec).map_err(err)?;
                            jobs.insert(id, bytes.as_slice()).map_err(err)?;
                            true
                        }
                        None => false,
                    }
                };
                txn.commit().map_err(err)?;
                Ok(found)
            })
            .await
            .map_err(job_err)?;
        if found {
            Ok(())
        } else {
            Err(JobError::NotLeased(id))
        }
    }

    async fn count(&self) -> Result<u64, JobError> {
        self.blocking(|db| {
            let txn = db.begin_read().map_err(err)?;
            txn.open_table(JOBS).map_err(err)?.len().map_err(err)
        })
        .await
        .map_err(job_err)
    }
}

#[async_trait]
impl HealthCheck for LocalStore {
    fn name(&self) -> &'static str {
        "local-store"
    }

    async fn probe(&self) -> Result<(), String> {
        self.blocking(|db| {
            let txn = db.begin_read().map_err(err)?;
            txn.open_table(COUNTERS).map_err(err)?;
            Ok(())
        })
        .await
        .map_err(|e| e.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clment_common::domain::{ContractId, OrgId};

    fn job() -> Job {
        Job::IndexContract {
            org: OrgId::parse("acme").unwrap(),
            contract: ContractId::new(),
            size: Some(10),
        }
    }

    #[tokio::test]
    async fn enqueue_lease_complete_and_survive_reopen() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("db.redb");
        let j = job();
        {
            let s = LocalStore::open_path(&path).unwrap();
            assert_eq!(s.enqueue(j.clone()).await.unwrap(), "1");
            assert_eq!(s.enqueue(job()).await.unwrap(), "2");
        }
        // A new process (reopen) sees acknowledged jobs; the file is owner-only.
        let s = LocalStore::open_path(&path).unwrap();
        {
            use std::os::unix::fs::PermissionsExt as _;
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        assert_eq!(s.count().await.unwrap(), 2);
        let l = s.lease(Duration::from_secs(60)).await.unwrap().unwrap();
        assert_eq!((l.id, l.attempt, &l.job), (1, 1, &j));
        // Leased jobs are not handed out twice while the lease runs.
        let l2 = s.lease(Duration::from_secs(60)).await.unwrap().unwrap();
        assert_eq!(l2.id, 2);
        assert!(s.lease(Duration::from_secs(60)).await.unwrap().is_none());
        s.complete(1).await.unwrap();
        assert!(matches!(s.complete(1).await, Err(JobError::NotLeased(1))));
        assert_eq!(s.count().await.unwrap(), 1);
    }

    #[tokio::test]
    async fn expired_leases_and_retries_come_back() {
        let tmp = tempfile::tempdir().unwrap();
        let s = LocalStore::open_path(&tmp.path().join("db.redb")).unwrap();
        s.enqueue(job()).await.unwrap();
        let l = s.lease(Duration::ZERO).await.unwrap().unwrap();
        let again = s.lease(Duration::from_secs(60)).await.unwrap().unwrap();
        assert_eq!((again.id, again.attempt), (l.id, 2));
        s.retry_later(l.id, Duration::ZERO).await.unwrap();
        assert_eq!(
            s.lease(Duration::from_secs(60))
                .await
                .unwrap()
                .unwrap()
                .attempt,
            3
        );
        assert!(s.probe().await.is_ok());
    }
}
