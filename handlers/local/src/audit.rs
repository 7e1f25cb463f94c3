//! The audit trail in the local database: events, the per-org chain head, the per-contract index and
//! the signed digests, each written in one redb write transaction (redb serialises writers, so the
//! chain stays gapless with any number of concurrent appenders).

use async_trait::async_trait;
use clment_common::TenantScope;
use clment_common::audit::{Digest, seal};
use clment_common::domain::OrgId;
use clment_common::ports::{AuditEvent, AuditLog, PortError, StoredEvent};
use redb::{ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};
use time::OffsetDateTime;

use crate::store::{LocalStore, StoreError, err};

/// (org, seq) -> event JSON.
const EVENTS: TableDefinition<'_, (&str, u64), &[u8]> = TableDefinition::new("audit_events");
/// org -> last seq.
const HEADS: TableDefinition<'_, &str, u64> = TableDefinition::new("audit_chain_heads");
/// (org, contract, seq): the activity index.
const BY_CONTRACT: TableDefinition<'_, (&str, &str, u64), ()> =
    TableDefinition::new("audit_by_contract");
/// (org, number) -> digest JSON.
const DIGESTS: TableDefinition<'_, (&str, u64), &[u8]> = TableDefinition::new("audit_digests");

/// Creates the audit tables (at open).
pub(crate) fn create_tables(txn: &WriteTransaction) -> Result<(), StoreError> {
    txn.open_table(EVENTS).map_err(err)?;
    txn.open_table(HEADS).map_err(err)?;
    txn.open_table(BY_CONTRACT).map_err(err)?;
    txn.open_table(DIGESTS).map_err(err)?;
    Ok(())
}

fn unavailable(e: StoreError) -> PortError {
    PortError::Unavailable(e.0)
}

fn decode<T: serde::de::DeserializeOwned>(b: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(b).map_err(|e| err(format!("unreadable audit record: {e}")))
}

fn get_event(
    t: &impl ReadableTable<(&'static str, u64), &'static [u8]>,
    org: &str,
    seq: u64,
) -> Result<Option<StoredEvent>, StoreError> {
    t.get((org, seq))
        .map_err(err)?
        .map(|v| decode(v.value()))
        .transpose()
}

impl LocalStore {
    /// The org's rows of `table` with keys after `after`, oldest first, at most `limit`.
    async fn range_after<T: serde::de::DeserializeOwned + Send + 'static>(
        &self,
        scope: &TenantScope,
        table: TableDefinition<'static, (&'static str, u64), &'static [u8]>,
        after: u64,
        limit: usize,
    ) -> Result<Vec<T>, PortError> {
        self.touch_tenant(scope.org().as_str());
        let org = scope.org().clone();
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(err)?;
            let t = txn.open_table(table).map_err(err)?;
            let mut out = Vec::new();
            for entry in t
                .range((org.as_str(), after.saturating_add(1))..=(org.as_str(), u64::MAX))
                .map_err(err)?
                .take(limit)
            {
                let (_, v) = entry.map_err(err)?;
                out.push(decode(v.value())?);
            }
            Ok(out)
        })
        .await
        .map_err(unavailable)
    }
}

#[async_trait]
impl AuditLog for LocalStore {
    async fn append(
        &self,
        scope: &TenantScope,
        event: AuditEvent,
        at: OffsetDateTime,
    ) -> Result<StoredEvent, PortError> {
        self.touch_tenant(scope.org().as_str());
        let org = scope.org().clone();
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(err)?;
            let stored = {
                let mut heads = txn.open_table(HEADS).map_err(err)?;
                let mut events = txn.open_table(EVENTS).map_err(err)?;
                let head = heads.get(org.as_str()).map_err(err)?.map(|v| v.value());
                let prev = match head {
                    Some(seq) => Some(
                        get_event(&events, org.as_str(), seq)?
                            .ok_or_else(|| err("the chain head's event is missing"))?,
                    ),
                    None => None,
                };
                let stored = seal(&org, prev.as_ref(), event, at);
                let bytes = serde_json::to_vec(&stored).map_err(err)?;
                events
                    .insert((org.as_str(), stored.seq), bytes.as_slice())
                    .map_err(err)?;
                heads.insert(org.as_str(), stored.seq).map_err(err)?;
                if let Some(c) = &stored.event.contract_id {
                    txn.open_table(BY_CONTRACT)
                        .map_err(err)?
                        .insert((org.as_str(), c.as_str(), stored.seq), ())
                        .map_err(err)?;
                }
                stored
            };
            txn.commit().map_err(err)?;
            Ok(stored)
        })
        .await
        .map_err(unavailable)
    }

    async fn read(
        &self,
        scope: &TenantScope,
        after: u64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, PortError> {
        self.range_after(scope, EVENTS, after, limit).await
    }

    async fn last(&self, scope: &TenantScope) -> Result<Option<StoredEvent>, PortError> {
        self.touch_tenant(scope.org().as_str());
        let org = scope.org().clone();
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(err)?;
            let head = txn
                .open_table(HEADS)
                .map_err(err)?
                .get(org.as_str())
                .map_err(err)?
                .map(|v| v.value());
            match head {
                Some(seq) => get_event(&txn.open_table(EVENTS).map_err(err)?, org.as_str(), seq),
                None => Ok(None),
            }
        })
        .await
        .map_err(unavailable)
    }

    async fn read_contract(
        &self,
        scope: &TenantScope,
        contract_id: &str,
        before: u64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, PortError> {
        self.touch_tenant(scope.org().as_str());
        let org = scope.org().clone();
        let contract = contract_id.to_owned();
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(err)?;
            let index = txn.open_table(BY_CONTRACT).map_err(err)?;
            let events = txn.open_table(EVENTS).map_err(err)?;
            let mut out = Vec::new();
            let (o, c) = (org.as_str(), contract.as_str());
            for entry in index
                .range((o, c, 0)..(o, c, before))
                .map_err(err)?
                .rev()
                .take(limit)
            {
                let (k, ()) = entry.map(|(k, v)| (k, v.value())).map_err(err)?;
                let seq = k.value().2;
                out.push(
                    get_event(&events, o, seq)?
                        .ok_or_else(|| err(format!("indexed audit event {seq} is missing")))?,
                );
            }
            Ok(out)
        })
        .await
        .map_err(unavailable)
    }

    async fn first_seq_at(
        &self,
        scope: &TenantScope,
        at: OffsetDateTime,
    ) -> Result<Option<u64>, PortError> {
        self.touch_tenant(scope.org().as_str());
        let org = scope.org().clone();
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(err)?;
            let Some(head) = txn
                .open_table(HEADS)
                .map_err(err)?
                .get(org.as_str())
                .map_err(err)?
                .map(|v| v.value())
            else {
                return Ok(None);
            };
            let events = txn.open_table(EVENTS).map_err(err)?;
            // Times never decrease along the chain, so the first event at or after `at` is found
            // by bisection over the sequence numbers.
            let (mut lo, mut hi) = (1u64, head + 1);
            while lo < hi {
                let mid = lo + (hi - lo) / 2;
                // A missing event (a damaged trail) counts as earlier: the window then starts after
                // the hole, and verification reports the hole instead of the route failing.
                let earlier = get_event(&events, org.as_str(), mid)?.is_none_or(|e| e.at < at);
                if earlier {
                    lo = mid + 1;
                } else {
                    hi = mid;
                }
            }
            Ok((lo <= head).then_some(lo))
        })
        .await
        .map_err(unavailable)
    }

    async fn append_digest(&self, scope: &TenantScope, digest: Digest) -> Result<(), PortError> {
        self.touch_tenant(scope.org().as_str());
        if digest.org_id != *scope.org() {
            return Err(PortError::Conflict("digest of another org".into()));
        }
        let org = scope.org().clone();
        let taken = self
            .blocking(move |db| {
                let txn = db.begin_write().map_err(err)?;
                let taken = {
                    let mut t = txn.open_table(DIGESTS).map_err(err)?;
                    let key = (org.as_str(), digest.number);
                    if t.get(key).map_err(err)?.is_some() {
                        true
                    } else {
                        let bytes = serde_json::to_vec(&digest).map_err(err)?;
                        t.insert(key, bytes.as_slice()).map_err(err)?;
                        false
                    }
                };
                txn.commit().map_err(err)?;
                Ok(taken)
            })
            .await
            .map_err(unavailable)?;
        if taken {
            Err(PortError::Conflict("digest number taken".into()))
        } else {
            Ok(())
        }
    }

    async fn read_digests(
        &self,
        scope: &TenantScope,
        after: u64,
        limit: usize,
    ) -> Result<Vec<Digest>, PortError> {
        self.range_after(scope, DIGESTS, after, limit).await
    }

    async fn last_digest(&self, scope: &TenantScope) -> Result<Option<Digest>, PortError> {
        self.touch_tenant(scope.org().as_str());
        let org = scope.org().clone();
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(err)?;
            let t = txn.open_table(DIGESTS).map_err(err)?;
            let last = t
                .range((org.as_str(), 0)..=(org.as_str(), u64::MAX))
                .map_err(err)?
                .next_back();
            match last {
                Some(entry) => Ok(Some(decode(entry.map_err(err)?.1.value())?)),
                None => Ok(None),
            }
        })
        .await
        .map_err(unavailable)
    }

    async fn orgs_with_trails(&self) -> Result<Vec<OrgId>, PortError> {
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(err)?;
            let t = txn.open_table(HEADS).map_err(err)?;
            let mut out = Vec::new();
            for entry in t.iter().map_err(err)? {
                let (k, _) = entry.map_err(err)?;
                out.push(OrgId::parse(k.value()).map_err(err)?);
            }
            Ok(out)
        })
        .await
        .map_err(unavailable)
    }
}

/// Test support: rewrite the stored trail behind the port's back, as an attacker with write access
/// to the database would.
#[cfg(any(test, feature = "test-support"))]
impl LocalStore {
    /// Puts raw bytes at `(org, seq)` (`None` deletes the row). Never used by the service.
    ///
    /// # Panics
    /// When the database fails.
    pub fn tamper_audit_row(&self, org: &str, seq: u64, bytes: Option<&[u8]>) {
        let txn = self.db().begin_write().unwrap();
        {
            let mut t = txn.open_table(EVENTS).unwrap();
            match bytes {
                Some(b) => {
                    t.insert((org, seq), b).unwrap();
                }
                None => {
                    t.remove((org, seq)).unwrap();
                }
            }
        }
        txn.commit().unwrap();
    }

    /// Seals and appends `events` in one transaction (seeding large trails for benchmarks and tests;
    /// the service appends one event per state change through the port).
    ///
    /// # Panics
    /// When the database fails.
    pub fn append_many(&self, org: &OrgId, events: Vec<AuditEvent>, at: OffsetDateTime) {
        let txn = self.db().begin_write().unwrap();
        {
            let mut heads = txn.open_table(HEADS).unwrap();
            let mut rows = txn.open_table(EVENTS).unwrap();
            let mut index = txn.open_table(BY_CONTRACT).unwrap();
            let head = heads.get(org.as_str()).unwrap().map(|v| v.value());
            let mut prev = head.and_then(|seq| get_event(&rows, org.as_str(), seq).unwrap());
            for event in events {
                let stored = seal(org, prev.as_ref(), event, at);
                rows.insert(
                    (org.as_str(), stored.seq),
                    serde_json::to_vec(&stored).unwrap().as_slice(),
                )
                .unwrap();
                if let Some(c) = &stored.event.contract_id {
                    index
                        .insert((org.as_str(), c.as_str(), stored.seq), ())
                        .unwrap();
                }
                heads.insert(org.as_str(), stored.seq).unwrap();
                prev = Some(stored);
            }
        }
        txn.commit().unwrap();
    }

    /// The raw bytes at `(org, seq)`.
    ///
    /// # Panics
    /// When the database fails.
    #[must_use]
    pub fn audit_row(&self, org: &str, seq: u64) -> Option<Vec<u8>> {
        let txn = self.db().begin_read().unwrap();
        let t = txn.open_table(EVENTS).unwrap();
        t.get((org, seq)).unwrap().map(|v| v.value().to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clment_common::audit::{Break, DigestSigner, verify};
    use clment_common::domain::Region;
    use clment_common::ports::suite::sample_event;

    const ORG: &str = "tamper-acme";

    async fn trail(n: u32) -> (tempfile::TempDir, LocalStore, TenantScope, DigestSigner) {
        let tmp = tempfile::tempdir().unwrap();
        let s = LocalStore::open(&crate::DataDir::open(tmp.path()).unwrap()).unwrap();
        let scope = TenantScope::for_tests(ORG, Region::Us);
        for i in 0..n {
            s.append(
                &scope,
                sample_event(i, Some("c1")),
                OffsetDateTime::now_utc(),
            )
            .await
            .unwrap();
        }
        let (signer, _) = DigestSigner::generate();
        (tmp, s, scope, signer)
    }

    fn row(s: &LocalStore, seq: u64) -> StoredEvent {
        serde_json::from_slice(&s.audit_row(ORG, seq).unwrap()).unwrap()
    }

    fn put(s: &LocalStore, key: u64, e: &StoredEvent) {
        s.tamper_audit_row(ORG, key, Some(&serde_json::to_vec(e).unwrap()));
    }

    async fn check(
        s: &LocalStore,
        scope: &TenantScope,
        signer: &DigestSigner,
    ) -> (Option<u64>, Option<Break>) {
        let r = verify(s, scope, None, None, &signer.verifier())
            .await
            .unwrap();
        assert_eq!(r.verified, r.first_bad_seq.is_none());
        (r.first_bad_seq, r.failure)
    }

    #[tokio::test]
    async fn an_untouched_trail_verifies_with_its_digests() {
        let (_t, s, scope, signer) = trail(10).await;
        clment_common::audit::sign_heads(&s, &signer, Region::Us, OffsetDateTime::now_utc())
            .await
            .unwrap();
        let r = verify(&s, &scope, None, None, &signer.verifier())
            .await
            .unwrap();
        assert!(r.verified, "{r:?}");
        assert_eq!((r.events_checked, r.digests_checked), (10, 1));
    }

    #[tokio::test]
    async fn a_changed_event_fails_at_its_sequence_number() {
        let (_t, s, scope, signer) = trail(10).await;
        let mut e = row(&s, 4);
        e.event.details = serde_json::json!({ "before": "x", "after": "y" });
        put(&s, 4, &e);
        assert_eq!(
            check(&s, &scope, &signer).await,
            (Some(4), Some(Break::HashMismatch))
        );
    }

    #[tokio::test]
    async fn a_deleted_event_fails_at_its_sequence_number() {
        let (_t, s, scope, signer) = trail(10).await;
        s.tamper_audit_row(ORG, 4, None);
        assert_eq!(
            check(&s, &scope, &signer).await,
            (Some(4), Some(Break::SequenceGap))
        );
    }

    #[tokio::test]
    async fn reordered_events_fail_at_the_first_moved_one() {
        let (_t, s, scope, signer) = trail(10).await;
        let (four, five) = (row(&s, 4), row(&s, 5));
        put(&s, 4, &five);
        put(&s, 5, &four);
        assert_eq!(
            check(&s, &scope, &signer).await,
            (Some(4), Some(Break::SequenceGap))
        );
        // Renumbering the moved events to hide the swap breaks their hashes instead.
        let (mut four, mut five) = (four, five);
        four.seq = 5;
        five.seq = 4;
        put(&s, 4, &five);
        put(&s, 5, &four);
        assert_eq!(check(&s, &scope, &signer).await.0, Some(4));
    }

    #[tokio::test]
    async fn an_inserted_event_fails_where_it_was_inserted() {
        let (_t, s, scope, signer) = trail(10).await;
        // The forger copies a real event, points it at its predecessor and keeps a plausible hash,
        // then shifts the rest of the trail up by one.
        for seq in (5..=10).rev() {
            put(&s, seq + 1, &row(&s, seq));
        }
        let mut forged = row(&s, 4);
        forged.seq = 5;
        forged.prev_hash = row(&s, 4).hash;
        forged.event.action = "contract.deleted".into();
        put(&s, 5, &forged);
        assert_eq!(
            check(&s, &scope, &signer).await,
            (Some(5), Some(Break::HashMismatch))
        );
    }

    #[tokio::test]
    async fn a_rewritten_tail_is_caught_by_the_signed_digests() {
        let (_t, s, scope, signer) = trail(4).await;
        let now = OffsetDateTime::now_utc();
        clment_common::audit::sign_heads(&s, &signer, Region::Us, now)
            .await
            .unwrap();
        for i in 4..10 {
            s.append(&scope, sample_event(i, Some("c1")), now)
                .await
                .unwrap();
        }
        clment_common::audit::sign_heads(&s, &signer, Region::Us, now)
            .await
            .unwrap();
        assert_eq!(check(&s, &scope, &signer).await, (None, None));
        // Someone who knows the algorithm re-seals events 6..=10 with different content: the chain is
        // self-consistent again, but the digest over head 10 no longer matches; the digest over head
        // 4 still does, so the damage lies after 4.
        let mut prev = row(&s, 5);
        for seq in 6..=10 {
            let mut e = row(&s, seq);
            e.event.details = serde_json::json!({ "rewritten": true });
            let resealed = seal(&e.org_id, Some(&prev), e.event.clone(), e.at);
            put(&s, seq, &resealed);
            prev = resealed;
        }
        assert_eq!(
            check(&s, &scope, &signer).await,
            (Some(5), Some(Break::DigestMismatch))
        );
        // Truncating the tail is caught the same way.
        let (_t2, s2, scope2, signer2) = trail(6).await;
        clment_common::audit::sign_heads(&s2, &signer2, Region::Us, now)
            .await
            .unwrap();
        s2.tamper_audit_row(ORG, 6, None);
        assert_eq!(
            check(&s2, &scope2, &signer2).await.1,
            Some(Break::DigestMismatch)
        );
        // And a digest signed by another key does not count.
        let (other, _) = DigestSigner::generate();
        let r = verify(&s, &scope, None, None, &other.verifier())
            .await
            .unwrap();
        assert_eq!(r.failure, Some(Break::BadSignature));
    }

    #[tokio::test]
    async fn windows_verify_on_their_own() {
        let (_t, s, scope, signer) = trail(0).await;
        let t0 = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
        for i in 0..30u32 {
            s.append(
                &scope,
                sample_event(i, None),
                t0 + time::Duration::minutes(i64::from(i)),
            )
            .await
            .unwrap();
        }
        let from = Some(t0 + time::Duration::minutes(10));
        let to = Some(t0 + time::Duration::minutes(20));
        let r = verify(&s, &scope, from, to, &signer.verifier())
            .await
            .unwrap();
        assert!(r.verified, "{r:?}");
        assert_eq!(
            (r.from_seq, r.to_seq, r.events_checked),
            (Some(11), Some(20), 10)
        );
        // Damage outside the window does not fail it; damage inside does.
        s.tamper_audit_row(ORG, 25, None);
        assert!(
            verify(&s, &scope, from, to, &signer.verifier())
                .await
                .unwrap()
                .verified
        );
        let mut e = row(&s, 15);
        e.event.resource_id = "other".into();
        put(&s, 15, &e);
        let r = verify(&s, &scope, from, to, &signer.verifier())
            .await
            .unwrap();
        assert_eq!(r.first_bad_seq, Some(15));
        // A hole where the window starts is a verdict, not an error.
        s.tamper_audit_row(ORG, 11, None);
        let r = verify(&s, &scope, from, to, &signer.verifier())
            .await
            .unwrap();
        assert!(!r.verified);
        assert_eq!(r.first_bad_seq, Some(11));
    }
}
