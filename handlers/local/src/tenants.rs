//! Org records and API keys in the local database. Every scoped operation derives
//! its keys from the scope's org and counts a touch for that org.

use async_trait::async_trait;
use clment_common::TenantScope;
use clment_common::domain::OrgId;
use clment_common::ports::{
    ApiKeyRecord, ApiKeyStore, OrgRecord, OrgStore, Plan, PortError, SecuritySettings,
    SecurityUpdate,
};
use redb::{ReadableDatabase, ReadableTable};
use time::OffsetDateTime;

use crate::store::{API_KEYS, LocalStore, ORGS, StoreError, err};

fn unavailable(e: StoreError) -> PortError {
    PortError::Unavailable(e.0)
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(v).map_err(err)
}

fn from_json<T: serde::de::DeserializeOwned>(b: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(b).map_err(err)
}

impl LocalStore {
    async fn change_org(
        &self,
        scope: &TenantScope,
        now: OffsetDateTime,
        change: impl FnOnce(&mut OrgRecord) + Send + 'static,
    ) -> Result<(OrgRecord, OrgRecord), PortError> {
        self.touch_tenant(scope.org().as_str());
        let org = scope.org().clone();
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(err)?;
            let result = {
                let mut t = txn.open_table(ORGS).map_err(err)?;
                let before: Option<OrgRecord> = t
                    .get(org.as_str())
                    .map_err(err)?
                    .map(|v| from_json(v.value()))
                    .transpose()?;
                match before {
                    None => None,
                    Some(before) => {
                        let mut after = before.clone();
                        change(&mut after);
                        after.updated_at = now;
                        t.insert(org.as_str(), to_json(&after)?.as_slice())
                            .map_err(err)?;
                        Some((before, after))
                    }
                }
            };
            txn.commit().map_err(err)?;
            Ok(result)
        })
        .await
        .map_err(unavailable)?
        .ok_or(PortError::NotFound)
    }
}

#[async_trait]
impl OrgStore for LocalStore {
    async fn get_or_create(
        &self,
        scope: &TenantScope,
        now: OffsetDateTime,
    ) -> Result<OrgRecord, PortError> {
        self.touch_tenant(scope.org().as_str());
        let org = scope.org().clone();
        let region = scope.region();
        // Fast path: a read transaction (no fsync) for the common case.
        let found = {
            let org = org.clone();
            self.blocking(move |db| {
                let txn = db.begin_read().map_err(err)?;
                let t = txn.open_table(ORGS).map_err(err)?;
                t.get(org.as_str())
                    .map_err(err)?
                    .map(|v| from_json::<OrgRecord>(v.value()))
                    .transpose()
            })
            .await
            .map_err(unavailable)?
        };
        if let Some(r) = found {
            return Ok(r);
        }
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(err)?;
            let record = {
                let mut t = txn.open_table(ORGS).map_err(err)?;
                let existing = t
                    .get(org.as_str())
                    .map_err(err)?
                    .map(|v| from_json::<OrgRecord>(v.value()));
                match existing {
                    Some(r) => r?,
                    None => {
                        let r = OrgRecord {
                            org_id: org.clone(),
                            home_region: region,
                            plan: Plan::Free,
                            security: SecuritySettings::default(),
                            created_at: now,
                            updated_at: now,
                        };
                        t.insert(org.as_str(), to_json(&r)?.as_slice())
                            .map_err(err)?;
                        r
                    }
                }
            };
            txn.commit().map_err(err)?;
            Ok(record)
        })
        .await
        .map_err(unavailable)
    }

    async fn update_security(
        &self,
        scope: &TenantScope,
        update: SecurityUpdate,
        now: OffsetDateTime,
    ) -> Result<(OrgRecord, OrgRecord), PortError> {
        self.change_org(scope, now, move |r| r.security = update.apply(&r.security))
            .await
    }

    async fn set_plan(
        &self,
        scope: &TenantScope,
        plan: Plan,
        now: OffsetDateTime,
    ) -> Result<(OrgRecord, OrgRecord), PortError> {
        self.change_org(scope, now, move |r| r.plan = plan).await
    }

    async fn list_orgs(
        &self,
        after: Option<&OrgId>,
        limit: usize,
    ) -> Result<Vec<OrgRecord>, PortError> {
        let after = after.map(|a| a.as_str().to_owned());
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(err)?;
            let t = txn.open_table(ORGS).map_err(err)?;
            let range = match &after {
                Some(a) => t.range::<&str>((
                    std::ops::Bound::Excluded(a.as_str()),
                    std::ops::Bound::Unbounded,
                )),
                None => t.range::<&str>(..),
            }
            .map_err(err)?;
            let mut out = Vec::new();
            for entry in range.take(limit) {
                let (_, v) = entry.map_err(err)?;
                out.push(from_json::<OrgRecord>(v.value())?);
            }
            Ok(out)
        })
        .await
        .map_err(unavailable)
    }
}

#[async_trait]
impl ApiKeyStore for LocalStore {
    async fn insert(&self, scope: &TenantScope, key: ApiKeyRecord) -> Result<(), PortError> {
        self.touch_tenant(scope.org().as_str());
        if &key.org != scope.org() {
            return Err(PortError::Conflict("key belongs to another org".into()));
        }
        let inserted = self
            .blocking(move |db| {
                let txn = db.begin_write().map_err(err)?;
                let inserted = {
                    let mut t = txn.open_table(API_KEYS).map_err(err)?;
                    if t.get(key.id.as_str()).map_err(err)?.is_some() {
                        false
                    } else {
                        t.insert(key.id.as_str(), to_json(&key)?.as_slice())
                            .map_err(err)?;
                        true
                    }
                };
                txn.commit().map_err(err)?;
                Ok(inserted)
            })
            .await
            .map_err(unavailable)?;
        if inserted {
            Ok(())
        } else {
            Err(PortError::Conflict("key id exists".into()))
        }
    }

    async fn list(&self, scope: &TenantScope) -> Result<Vec<ApiKeyRecord>, PortError> {
        self.touch_tenant(scope.org().as_str());
        let org = scope.org().clone();
        let mut keys = self
            .blocking(move |db| {
                let txn = db.begin_read().map_err(err)?;
                let t = txn.open_table(API_KEYS).map_err(err)?;
                let mut out = Vec::new();
                for entry in t.iter().map_err(err)? {
                    let (_, v) = entry.map_err(err)?;
                    let k: ApiKeyRecord = from_json(v.value())?;
                    if k.org == org {
                        out.push(k);
                    }
                }
                Ok(out)
            })
            .await
            .map_err(unavailable)?;
        keys.sort_by(|a, b| {
            b.created_at
                .cmp(&a.created_at)
                .then_with(|| a.id.cmp(&b.id))
        });
        Ok(keys)
    }

    async fn get(&self, scope: &TenantScope, id: &str) -> Result<Option<ApiKeyRecord>, PortError> {
        self.touch_tenant(scope.org().as_str());
        let org = scope.org().clone();
        let id = id.to_owned();
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(err)?;
            let t = txn.open_table(API_KEYS).map_err(err)?;
            let k: Option<ApiKeyRecord> = t
                .get(id.as_str())
                .map_err(err)?
                .map(|v| from_json(v.value()))
                .transpose()?;
            // Another org's key does not exist for this scope.
            Ok(k.filter(|k| k.org == org))
        })
        .await
        .map_err(unavailable)
    }

    async fn replace(&self, scope: &TenantScope, key: ApiKeyRecord) -> Result<(), PortError> {
        self.touch_tenant(scope.org().as_str());
        let org = scope.org().clone();
        let replaced = self
            .blocking(move |db| {
                let txn = db.begin_write().map_err(err)?;
                let replaced = {
                    let mut t = txn.open_table(API_KEYS).map_err(err)?;
                    let current: Option<ApiKeyRecord> = t
                        .get(key.id.as_str())
                        .map_err(err)?
                        .map(|v| from_json(v.value()))
                        .transpose()?;
                    match current {
                        Some(c) if c.org == org && key.org == org => {
                            t.insert(key.id.as_str(), to_json(&key)?.as_slice())
                                .map_err(err)?;
                            true
                        }
                        _ => false,
                    }
                };
                txn.commit().map_err(err)?;
                Ok(replaced)
            })
            .await
            .map_err(unavailable)?;
        if replaced {
            Ok(())
        } else {
            Err(PortError::NotFound)
        }
    }

    async fn find_for_authentication(&self, id: &str) -> Result<Option<ApiKeyRecord>, PortError> {
        let id = id.to_owned();
        let key: Option<ApiKeyRecord> = self
            .blocking(move |db| {
                let txn = db.begin_read().map_err(err)?;
                let t = txn.open_table(API_KEYS).map_err(err)?;
                t.get(id.as_str())
                    .map_err(err)?
                    .map(|v| from_json(v.value()))
                    .transpose()
            })
            .await
            .map_err(unavailable)?;
        if let Some(k) = &key {
            self.touch_tenant(k.org.as_str());
        }
        Ok(key)
    }

    async fn touch(&self, id: &str, at: OffsetDateTime) -> Result<(), PortError> {
        let id = id.to_owned();
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(err)?;
            {
                let mut t = txn.open_table(API_KEYS).map_err(err)?;
                let current: Option<ApiKeyRecord> = t
                    .get(id.as_str())
                    .map_err(err)?
                    .map(|v| from_json(v.value()))
                    .transpose()?;
                if let Some(mut k) = current {
                    k.last_used_at = Some(at);
                    t.insert(id.as_str(), to_json(&k)?.as_slice())
                        .map_err(err)?;
                }
            }
            txn.commit().map_err(err)?;
            Ok(())
        })
        .await
        .map_err(unavailable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clment_common::domain::Region;

    fn store() -> (tempfile::TempDir, LocalStore) {
        let tmp = tempfile::tempdir().unwrap();
        let s = LocalStore::open(&crate::DataDir::open(tmp.path()).unwrap()).unwrap();
        (tmp, s)
    }

    #[tokio::test]
    async fn orgs_are_created_once_and_changed_atomically() {
        let (_t, s) = store();
        let scope = TenantScope::for_tests("acme", Region::Eu);
        let now = OffsetDateTime::now_utc();
        let a = s.get_or_create(&scope, now).await.unwrap();
        assert_eq!((a.plan, a.home_region), (Plan::Free, Region::Eu));
        let b = s
            .get_or_create(&scope, now + time::Duration::hours(1))
            .await
            .unwrap();
        assert_eq!(a, b);
        let (before, after) = s.set_plan(&scope, Plan::Paid, now).await.unwrap();
        assert_eq!((before.plan, after.plan), (Plan::Free, Plan::Paid));
        let other = TenantScope::for_tests("globex", Region::Eu);
        assert_eq!(
            s.set_plan(&other, Plan::Paid, now).await,
            Err(PortError::NotFound)
        );
    }
}
