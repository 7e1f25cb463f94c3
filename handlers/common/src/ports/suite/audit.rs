//! The audit trail suite: every `AuditLog` adapter keeps a gapless, verifying chain per org under
//! concurrent writers, reads it back in order and by contract, finds windows by time, stores
//! digests append-only, and keeps orgs apart.

use std::sync::Arc;

use time::{Duration, OffsetDateTime};

use crate::TenantScope;
use crate::audit::{DigestSigner, Verifier};
use crate::domain::Region;
use crate::ports::{Actor, AuditEvent, AuditLog, Client, Outcome, PortError};

/// An event about `contract` (or the org when `None`).
#[must_use]
pub fn sample_event(n: u32, contract: Option<&str>) -> AuditEvent {
    AuditEvent {
        action: if contract.is_some() {
            "contract.renamed".into()
        } else {
            "security.updated".into()
        },
        actor: Actor::User {
            user_id: format!("user-{n}"),
            email: Some(format!("user-{n}@example.com")),
        },
        resource_type: if contract.is_some() {
            "contract"
        } else {
            "org"
        }
        .into(),
        resource_id: contract.unwrap_or("org").into(),
        contract_id: contract.map(str::to_owned),
        outcome: Outcome::Success,
        reason: None,
        details: serde_json::json!({ "before": n, "after": n + 1 }),
        request_id: Some(format!("req-{n}")),
        client: Client {
            address: Some("198.51.100.7".into()),
            user_agent: Some("suite".into()),
        },
    }
}

/// Every `AuditLog` adapter.
///
/// # Panics
/// When the adapter misbehaves.
pub async fn audit_log(log: Arc<dyn AuditLog>) {
    let acme = TenantScope::for_tests("suite-audit-acme", Region::Us);
    let globex = TenantScope::for_tests("suite-audit-globex", Region::Us);

    // Empty.
    assert_eq!(log.last(&acme).await.unwrap(), None);
    assert!(log.read(&acme, 0, 10).await.unwrap().is_empty());
    assert_eq!(
        log.first_seq_at(&acme, OffsetDateTime::now_utc())
            .await
            .unwrap(),
        None
    );

    // 8 concurrent writers on one org, another org interleaved.
    let mut tasks = Vec::new();
    for w in 0..8u32 {
        let (log, acme, globex) = (log.clone(), acme.clone(), globex.clone());
        tasks.push(tokio::spawn(async move {
            for j in 0..10u32 {
                let contract = if j % 3 == 0 { Some("contract-a") } else { None };
                log.append(
                    &acme,
                    sample_event(w * 10 + j, contract),
                    OffsetDateTime::now_utc(),
                )
                .await
                .unwrap();
                if j % 2 == 0 {
                    log.append(
                        &globex,
                        sample_event(j, Some("contract-a")),
                        OffsetDateTime::now_utc(),
                    )
                    .await
                    .unwrap();
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let all = log.read(&acme, 0, 1000).await.unwrap();
    assert_eq!(
        all.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (1..=80).collect::<Vec<_>>(),
        "gapless under concurrent writers"
    );
    let mut v = Verifier::new(acme.org().clone(), None, []);
    for e in &all {
        assert!(v.push(e), "event {} breaks the chain", e.seq);
    }
    let report = v.finish(&[], None, &crate::audit::DigestVerifier::default());
    assert!(report.verified, "{report:?}");
    assert_eq!(report.events_checked, 80);
    assert!(all.windows(2).all(|w| w[0].at <= w[1].at), "time order");
    assert_eq!(log.last(&acme).await.unwrap().as_ref(), all.last());
    assert_eq!(log.read(&globex, 0, 1000).await.unwrap().len(), 40);
    assert!(all.iter().all(|e| e.org_id == *acme.org()));

    // Paging.
    let page = log.read(&acme, 75, 3).await.unwrap();
    assert_eq!(page.iter().map(|e| e.seq).collect::<Vec<_>>(), [76, 77, 78]);

    // By contract, newest first, never another org's.
    let mine: Vec<u64> = all
        .iter()
        .filter(|e| e.event.contract_id.as_deref() == Some("contract-a"))
        .map(|e| e.seq)
        .rev()
        .collect();
    assert_eq!(mine.len(), 32);
    let first = log
        .read_contract(&acme, "contract-a", u64::MAX, 10)
        .await
        .unwrap();
    assert_eq!(first.iter().map(|e| e.seq).collect::<Vec<_>>(), mine[..10]);
    let next = log
        .read_contract(&acme, "contract-a", first[9].seq, 100)
        .await
        .unwrap();
    assert_eq!(next.iter().map(|e| e.seq).collect::<Vec<_>>(), mine[10..]);
    assert!(
        log.read_contract(&acme, "contract-b", u64::MAX, 10)
            .await
            .unwrap()
            .is_empty()
    );

    // Windows by time.
    let t0 = OffsetDateTime::now_utc() + Duration::hours(1);
    let a = log
        .append(&acme, sample_event(100, None), t0)
        .await
        .unwrap();
    let b = log
        .append(&acme, sample_event(101, None), t0 + Duration::minutes(1))
        .await
        .unwrap();
    // An earlier clock never moves time backwards along the chain.
    let c = log
        .append(&acme, sample_event(102, None), t0 - Duration::minutes(5))
        .await
        .unwrap();
    assert_eq!(c.at, b.at);
    assert_eq!(log.first_seq_at(&acme, a.at).await.unwrap(), Some(a.seq));
    assert_eq!(
        log.first_seq_at(&acme, t0 + Duration::seconds(1))
            .await
            .unwrap(),
        Some(b.seq)
    );
    assert_eq!(
        log.first_seq_at(&acme, t0 - Duration::days(1))
            .await
            .unwrap(),
        Some(1)
    );
    assert_eq!(
        log.first_seq_at(&acme, t0 + Duration::hours(1))
            .await
            .unwrap(),
        None
    );

    // Digests: append-only, numbered, per org.
    let (signer, _) = DigestSigner::generate();
    let d1 = signer.sign(&c, None, OffsetDateTime::now_utc());
    log.append_digest(&acme, d1.clone()).await.unwrap();
    assert!(matches!(
        log.append_digest(&acme, d1.clone()).await,
        Err(PortError::Conflict(_))
    ));
    assert!(matches!(
        log.append_digest(&globex, d1.clone()).await,
        Err(PortError::Conflict(_))
    ));
    let d2 = signer.sign(&c, Some(&d1), OffsetDateTime::now_utc());
    log.append_digest(&acme, d2.clone()).await.unwrap();
    assert_eq!(
        log.read_digests(&acme, 0, 10).await.unwrap(),
        vec![d1.clone(), d2.clone()]
    );
    assert_eq!(log.read_digests(&acme, 1, 10).await.unwrap(), vec![d2]);
    assert!(log.read_digests(&globex, 0, 10).await.unwrap().is_empty());

    let orgs = log.orgs_with_trails().await.unwrap();
    assert!(orgs.contains(acme.org()) && orgs.contains(globex.org()));
}

/// One archived object: org, first and last sequence number, bytes.
type ArchivedObject = (String, u64, u64, Vec<u8>);

/// An in-memory [`crate::ports::AuditArchive`] for the archive suite.
#[derive(Default)]
struct MemArchive {
    objects: std::sync::Mutex<Vec<ArchivedObject>>,
}

#[async_trait::async_trait]
impl crate::ports::AuditArchive for MemArchive {
    async fn archived_up_to(&self, scope: &TenantScope) -> Result<Option<u64>, PortError> {
        let o = self
            .objects
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Ok(o.iter()
            .filter(|(org, ..)| org == scope.org().as_str())
            .map(|(_, _, last, _)| *last)
            .max())
    }

    async fn put(
        &self,
        scope: &TenantScope,
        first: u64,
        last: u64,
        ndjson: Vec<u8>,
    ) -> Result<(), PortError> {
        let mut o = self
            .objects
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let org = scope.org().as_str().to_owned();
        if o.iter()
            .any(|(g, f, l, _)| *g == org && *f == first && *l == last)
        {
            return Err(PortError::Conflict("exists".into()));
        }
        o.push((org, first, last, ndjson));
        Ok(())
    }
}

/// [`crate::audit::archive_trails`] over an `AuditLog` adapter: every event archived once, in order,
/// byte for byte as the export writes it, in bounded objects, within the per-run budget, resuming
/// where the archive ends, orgs apart.
///
/// # Panics
/// When archiving misbehaves.
pub async fn audit_archive(log: Arc<dyn AuditLog>) {
    use crate::audit::{ARCHIVE_OBJECT_EVENTS, archive_trails};
    let acme = TenantScope::for_tests(
        &format!("suite-arch-{}", uuid::Uuid::new_v4().simple()),
        Region::Us,
    );
    let globex = TenantScope::for_tests(
        &format!("suite-arch-{}", uuid::Uuid::new_v4().simple()),
        Region::Us,
    );
    let now = OffsetDateTime::now_utc();
    let n = ARCHIVE_OBJECT_EVENTS + 5;
    for i in 0..n {
        log.append(
            &acme,
            sample_event(u32::try_from(i).unwrap_or(0), None),
            now,
        )
        .await
        .unwrap();
    }
    log.append(&globex, sample_event(0, None), now)
        .await
        .unwrap();
    let archive = MemArchive::default();

    // A budget smaller than the trail: this run stops at it, the next continues.
    let first_run = archive_trails(&*log, &archive, Region::Us, now, 600)
        .await
        .unwrap();
    assert!(first_run >= 600, "{first_run}");
    let rest = archive_trails(&*log, &archive, Region::Us, now, 100_000)
        .await
        .unwrap();
    // Every event of both orgs, acme's `n` and globex's one.
    assert!(first_run + rest > n, "{first_run} + {rest}");
    // Nothing new: nothing archived.
    let again = archive_trails(&*log, &archive, Region::Us, now, 100_000)
        .await
        .unwrap();
    assert_eq!(again, 0);

    let objects = archive.objects.lock().unwrap().clone();
    let mut mine: Vec<_> = objects
        .iter()
        .filter(|(org, ..)| org == acme.org().as_str())
        .collect();
    mine.sort_by_key(|(_, first, ..)| *first);
    let mut expected_first = 1;
    let mut bytes = Vec::new();
    for (_, first, last, ndjson) in &mine {
        assert_eq!(*first, expected_first, "gap or overlap at {first}");
        assert!(
            last - first < ARCHIVE_OBJECT_EVENTS as u64,
            "object too large"
        );
        expected_first = last + 1;
        bytes.extend_from_slice(ndjson);
    }
    assert_eq!(expected_first, n as u64 + 1, "not every event archived");
    let mut exported = Vec::new();
    for e in log.read(&acme, 0, n).await.unwrap() {
        serde_json::to_writer(&mut exported, &e).unwrap();
        exported.push(b'\n');
    }
    assert_eq!(bytes, exported, "the archive differs from the export");
    assert!(
        objects
            .iter()
            .any(|(org, first, last, _)| org == globex.org().as_str() && *first == 1 && *last == 1)
    );

    // An org archived for the first time starts at its events of the last 90 days.
    let old = TenantScope::for_tests(
        &format!("suite-arch-{}", uuid::Uuid::new_v4().simple()),
        Region::Us,
    );
    log.append(&old, sample_event(1, None), now - Duration::days(200))
        .await
        .unwrap();
    log.append(&old, sample_event(2, None), now - Duration::days(10))
        .await
        .unwrap();
    archive_trails(&*log, &archive, Region::Us, now, 100_000)
        .await
        .unwrap();
    let objects = archive.objects.lock().unwrap().clone();
    let old_objects: Vec<_> = objects
        .iter()
        .filter(|(org, ..)| org == old.org().as_str())
        .map(|(_, f, l, _)| (*f, *l))
        .collect();
    assert_eq!(old_objects, [(2, 2)], "only the event inside the window");
}
