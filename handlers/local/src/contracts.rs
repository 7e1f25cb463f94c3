//! Contract metadata in the local database: records keyed by (org, id), idempotency keys keyed by
//! (org, key), both changed in one transaction.

use async_trait::async_trait;
use clment_common::TenantScope;
use clment_common::domain::{ContractId, OrgId};
use clment_common::ports::{ContractRecord, ContractStatus, ContractStore, Created, PortError};
use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use time::OffsetDateTime;

use crate::store::{LocalStore, StoreError, err};

pub(crate) const CONTRACTS: TableDefinition<'_, (&str, u128), &[u8]> =
    TableDefinition::new("contracts");
pub(crate) const IDEMPOTENCY: TableDefinition<'_, (&str, &str), u128> =
    TableDefinition::new("contract_idempotency");

fn unavailable(e: StoreError) -> PortError {
    PortError::Unavailable(e.0)
}

fn decode(b: &[u8]) -> Result<ContractRecord, StoreError> {
    serde_json::from_slice(b).map_err(err)
}

fn encode(r: &ContractRecord) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(r).map_err(err)
}

enum Outcome<T> {
    Done(T),
    Conflict(String),
}

#[async_trait]
impl ContractStore for LocalStore {
    async fn create(
        &self,
        scope: &TenantScope,
        record: ContractRecord,
    ) -> Result<Created, PortError> {
        self.touch_tenant(scope.org().as_str());
        if &record.org != scope.org() {
            return Err(PortError::Conflict("record belongs to another org".into()));
        }
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(err)?;
            let created = {
                let org = record.org.as_str();
                let mut idem = txn.open_table(IDEMPOTENCY).map_err(err)?;
                let mut contracts = txn.open_table(CONTRACTS).map_err(err)?;
                let existing = match &record.idempotency_key {
                    Some(k) => idem.get((org, k.as_str())).map_err(err)?.map(|v| v.value()),
                    None => None,
                };
                let existing = match existing {
                    Some(id) => contracts
                        .get((org, id))
                        .map_err(err)?
                        .map(|v| decode(v.value()))
                        .transpose()?,
                    None => None,
                };
                match existing {
                    Some(first) => Created::Existing(first),
                    None => {
                        let id = record.id.as_u128();
                        if contracts.get((org, id)).map_err(err)?.is_some() {
                            return Ok(Outcome::Conflict("contract id exists".into()));
                        }
                        contracts
                            .insert((org, id), encode(&record)?.as_slice())
                            .map_err(err)?;
                        if let Some(k) = &record.idempotency_key {
                            idem.insert((org, k.as_str()), id).map_err(err)?;
                        }
                        Created::New(record)
                    }
                }
            };
            txn.commit().map_err(err)?;
            Ok(Outcome::Done(created))
        })
        .await
        .map_err(unavailable)
        .and_then(|o| match o {
            Outcome::Done(c) => Ok(c),
            Outcome::Conflict(why) => Err(PortError::Conflict(why)),
        })
    }

    async fn get(
        &self,
        scope: &TenantScope,
        id: ContractId,
    ) -> Result<Option<ContractRecord>, PortError> {
        self.touch_tenant(scope.org().as_str());
        let org = scope.org().clone();
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(err)?;
            let t = txn.open_table(CONTRACTS).map_err(err)?;
            t.get((org.as_str(), id.as_u128()))
                .map_err(err)?
                .map(|v| decode(v.value()))
                .transpose()
        })
        .await
        .map_err(unavailable)
    }

    async fn list(
        &self,
        scope: &TenantScope,
        limit: usize,
        after: Option<ContractId>,
    ) -> Result<Vec<ContractRecord>, PortError> {
        self.touch_tenant(scope.org().as_str());
        let org = scope.org().clone();
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(err)?;
            let t = txn.open_table(CONTRACTS).map_err(err)?;
            // Newest first: ids are UUID v7, so descending key order is creation order reversed.
            let upper = after.map_or(u128::MAX, |a| a.as_u128().saturating_sub(1));
            let mut out = Vec::new();
            for entry in t
                .range((org.as_str(), 0u128)..=(org.as_str(), upper))
                .map_err(err)?
                .rev()
            {
                let (_, v) = entry.map_err(err)?;
                let r = decode(v.value())?;
                if r.status != ContractStatus::Deleting {
                    out.push(r);
                }
                if out.len() >= limit {
                    break;
                }
            }
            Ok(out)
        })
        .await
        .map_err(unavailable)
    }

    async fn replace(
        &self,
        scope: &TenantScope,
        record: ContractRecord,
        expected_updated_at: OffsetDateTime,
    ) -> Result<(), PortError> {
        self.touch_tenant(scope.org().as_str());
        let org = scope.org().clone();
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(err)?;
            let outcome = {
                let mut t = txn.open_table(CONTRACTS).map_err(err)?;
                let key = (org.as_str(), record.id.as_u128());
                let current = t
                    .get(key)
                    .map_err(err)?
                    .map(|v| decode(v.value()))
                    .transpose()?;
                match current {
                    None => Outcome::Conflict("gone".into()),
                    Some(c) if c.updated_at != expected_updated_at || record.org != org => {
                        Outcome::Conflict("changed concurrently".into())
                    }
                    Some(_) => {
                        t.insert(key, encode(&record)?.as_slice()).map_err(err)?;
                        Outcome::Done(())
                    }
                }
            };
            txn.commit().map_err(err)?;
            Ok(outcome)
        })
        .await
        .map_err(unavailable)
        .and_then(|o| match o {
            Outcome::Done(()) => Ok(()),
            Outcome::Conflict(why) if why == "gone" => Err(PortError::NotFound),
            Outcome::Conflict(why) => Err(PortError::Conflict(why)),
        })
    }

    async fn remove(&self, scope: &TenantScope, id: ContractId) -> Result<bool, PortError> {
        self.touch_tenant(scope.org().as_str());
        let org = scope.org().clone();
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(err)?;
            let removed = {
                let mut t = txn.open_table(CONTRACTS).map_err(err)?;
                let old = t
                    .remove((org.as_str(), id.as_u128()))
                    .map_err(err)?
                    .map(|v| decode(v.value()))
                    .transpose()?;
                if let Some(k) = old.as_ref().and_then(|r| r.idempotency_key.clone()) {
                    txn.open_table(IDEMPOTENCY)
                        .map_err(err)?
                        .remove((org.as_str(), k.as_str()))
                        .map_err(err)?;
                }
                old.is_some()
            };
            txn.commit().map_err(err)?;
            Ok(removed)
        })
        .await
        .map_err(unavailable)
    }

    async fn stale_deleting(
        &self,
        older_than: OffsetDateTime,
        limit: usize,
    ) -> Result<Vec<(OrgId, ContractId)>, PortError> {
        // A scan that keeps at most `limit` keys: `deleting` records are rare and short-lived.
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(err)?;
            let t = txn.open_table(CONTRACTS).map_err(err)?;
            let mut out = Vec::new();
            for entry in t.iter().map_err(err)? {
                if out.len() >= limit {
                    break;
                }
                let (_, v) = entry.map_err(err)?;
                let r = decode(v.value())?;
                if r.status == ContractStatus::Deleting && r.updated_at < older_than {
                    out.push((r.org, r.id));
                }
            }
            Ok(out)
        })
        .await
        .map_err(unavailable)
    }
}

// Behaviour is tested by the shared port suite (tests/port_suites.rs), which every adapter runs.
