//! Port contract suites: the behaviour every adapter of a port must show, written once and run
//! against each backend (local in its crate, Azure against the emulators). Test support only.

mod audit;
mod tenants;

pub use audit::*;
pub use tenants::*;

use futures_util::StreamExt as _;
use time::OffsetDateTime;

use super::{ContractRecord, ContractStatus, ContractStore, Created, DocumentStore, PortError};
use crate::TenantScope;
use crate::domain::{ContractId, OrgId, Region, UserId};

async fn read_all(
    store: &dyn DocumentStore,
    scope: &TenantScope,
    id: ContractId,
) -> Option<Vec<u8>> {
    let mut stream = store.open(scope, id).await.expect("open")?;
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk.expect("chunk"));
    }
    Some(out)
}

async fn put(
    store: &dyn DocumentStore,
    scope: &TenantScope,
    id: ContractId,
    bytes: &[u8],
    chunk: usize,
) -> Result<u64, PortError> {
    let mut w = store.begin(scope, id).await?;
    for c in bytes.chunks(chunk.max(1)) {
        w.write(c).await?;
    }
    w.commit().await
}

/// Every `DocumentStore` adapter: round trips (each of `files`, written in odd-sized chunks), conditional
/// create, abort, missing reads, idempotent delete, and org isolation.
///
/// # Panics
/// When the adapter misbehaves.
pub async fn document_store(store: &dyn DocumentStore, files: &[Vec<u8>]) {
    let acme = TenantScope::for_tests("suite-acme", Region::Us);
    let globex = TenantScope::for_tests("suite-globex", Region::Us);
    for (i, bytes) in files.iter().enumerate() {
        let id = ContractId::new();
        let size = put(store, &acme, id, bytes, 7919 + i * 1013)
            .await
            .expect("commit");
        assert_eq!(size, bytes.len() as u64);
        assert_eq!(
            read_all(store, &acme, id).await.as_deref(),
            Some(bytes.as_slice()),
            "file {i} differs"
        );
        // Another org's scope does not see it.
        assert!(
            read_all(store, &globex, id).await.is_none(),
            "file {i} visible to another org"
        );
        assert!(
            !store.delete(&globex, id).await.expect("delete"),
            "another org deleted file {i}"
        );
        assert!(store.delete(&acme, id).await.expect("delete"));
    }
    // Conditional create: a second commit for the same id fails and leaves the first content.
    let id = ContractId::new();
    put(store, &acme, id, b"first", 3)
        .await
        .expect("first commit");
    let second = put(store, &acme, id, b"second", 3).await;
    assert!(matches!(second, Err(PortError::Conflict(_))), "{second:?}");
    assert_eq!(
        read_all(store, &acme, id).await.as_deref(),
        Some(&b"first"[..])
    );
    // Delete is idempotent; reads of a missing original are None.
    assert!(store.delete(&acme, id).await.expect("delete"));
    assert!(!store.delete(&acme, id).await.expect("delete again"));
    assert!(read_all(store, &acme, id).await.is_none());
    // Abort publishes nothing.
    let id = ContractId::new();
    let mut w = store.begin(&acme, id).await.expect("begin");
    w.write(b"never committed").await.expect("write");
    w.abort().await;
    assert!(read_all(store, &acme, id).await.is_none());
    // The same id in two orgs is two originals.
    let id = ContractId::new();
    put(store, &acme, id, b"acme's", 4).await.expect("acme");
    put(store, &globex, id, b"globex's", 4)
        .await
        .expect("globex");
    assert_eq!(
        read_all(store, &acme, id).await.as_deref(),
        Some(&b"acme's"[..])
    );
    assert_eq!(
        read_all(store, &globex, id).await.as_deref(),
        Some(&b"globex's"[..])
    );
    store.delete(&acme, id).await.expect("cleanup");
    store.delete(&globex, id).await.expect("cleanup");
}

fn record(org: &str, key: Option<&str>) -> ContractRecord {
    let now = OffsetDateTime::now_utc();
    ContractRecord {
        id: ContractId::new(),
        org: OrgId::parse(org).expect("org"),
        title: "t".into(),
        file_name: "t.pdf".into(),
        content_type: "application/pdf".into(),
        size: 1,
        sha256: "00".into(),
        status: ContractStatus::Pending,
        failure: None,
        created_by: UserId::parse("u").expect("user"),
        created_at: now,
        updated_at: now,
        idempotency_key: key.map(str::to_owned),
    }
}

/// Every `ContractStore` adapter: idempotent create, org isolation, newest-first pagination, optimistic
/// replace, `deleting` hidden from lists, removal freeing the idempotency key.
///
/// # Panics
/// When the adapter misbehaves.
pub async fn contract_store(s: &dyn ContractStore) {
    let acme = TenantScope::for_tests("suite-acme", Region::Us);
    let globex = TenantScope::for_tests("suite-globex", Region::Us);
    let a = record("suite-acme", Some("k1"));
    assert!(matches!(
        s.create(&acme, a.clone()).await.expect("create"),
        Created::New(_)
    ));
    let again = record("suite-acme", Some("k1"));
    assert_eq!(
        s.create(&acme, again).await.expect("retry"),
        Created::Existing(a.clone())
    );
    assert!(matches!(
        s.create(&globex, record("suite-globex", Some("k1")))
            .await
            .expect("other org"),
        Created::New(_)
    ));
    assert!(
        s.create(&acme, record("suite-globex", None)).await.is_err(),
        "a record of another org was stored"
    );
    assert_eq!(
        s.get(&globex, a.id).await.expect("get"),
        None,
        "another org read the record"
    );
    assert!(
        !s.remove(&globex, a.id).await.expect("remove"),
        "another org removed the record"
    );
    let dup = a.clone();
    assert!(matches!(
        s.create(
            &acme,
            ContractRecord {
                idempotency_key: None,
                ..dup
            }
        )
        .await,
        Err(PortError::Conflict(_))
    ));

    let mut ids = vec![a.id];
    for _ in 0..4 {
        let r = record("suite-acme", None);
        ids.push(r.id);
        s.create(&acme, r).await.expect("create");
    }
    let page1 = s.list(&acme, 3, None).await.expect("page 1");
    let page2 = s
        .list(&acme, 3, Some(page1.last().expect("item").id))
        .await
        .expect("page 2");
    let listed: Vec<_> = page1.iter().chain(&page2).map(|r| r.id).collect();
    ids.reverse();
    assert_eq!(listed, ids, "newest first, no gaps or repeats across pages");

    let mut renamed = a.clone();
    renamed.title = "new".into();
    renamed.updated_at = a.updated_at + time::Duration::milliseconds(1);
    s.replace(&acme, renamed.clone(), a.updated_at)
        .await
        .expect("replace");
    assert!(matches!(
        s.replace(&acme, renamed.clone(), a.updated_at).await,
        Err(PortError::Conflict(_))
    ));
    assert!(matches!(
        s.replace(&globex, renamed.clone(), renamed.updated_at)
            .await,
        Err(PortError::NotFound | PortError::Conflict(_))
    ));
    assert_eq!(
        s.get(&acme, a.id).await.expect("get").expect("found").title,
        "new"
    );

    let mut deleting = renamed.clone();
    deleting.status = ContractStatus::Deleting;
    deleting.updated_at = renamed.updated_at + time::Duration::milliseconds(1);
    s.replace(&acme, deleting.clone(), renamed.updated_at)
        .await
        .expect("mark deleting");
    assert!(
        s.list(&acme, 100, None)
            .await
            .expect("list")
            .iter()
            .all(|r| r.id != a.id),
        "deleting is listed"
    );
    assert_eq!(
        s.get(&acme, a.id).await.expect("get").map(|r| r.status),
        Some(ContractStatus::Deleting)
    );

    assert!(s.remove(&acme, a.id).await.expect("remove"));
    assert!(!s.remove(&acme, a.id).await.expect("remove again"));
    assert!(matches!(
        s.create(&acme, record("suite-acme", Some("k1")))
            .await
            .expect("key freed"),
        Created::New(_)
    ));
}
