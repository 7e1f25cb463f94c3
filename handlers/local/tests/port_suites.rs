//! The shared port contract suites against the local adapters (the Azure crate runs the same suites
//! against Azurite and the Cosmos emulator).

use std::path::Path;

use clment_common::ports::{ReviewStore as _, suite};
use clment_local::{DataDir, LocalDocuments, LocalStore, MasterKey};

fn good_corpus() -> Vec<Vec<u8>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/docs/good");
    let mut files: Vec<_> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("the shared corpus is missing at {}: {e}", root.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let mut out: Vec<Vec<u8>> = files.iter().map(|p| std::fs::read(p).unwrap()).collect();
    // Edge sizes around the 64 KiB sealing segment.
    out.push(Vec::new());
    out.push(vec![7u8; 65_536]);
    out.push((0..200_003u32).map(|i| (i % 251) as u8).collect());
    out
}

#[tokio::test]
async fn local_documents_meet_the_document_store_contract() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = DataDir::open(tmp.path()).unwrap();
    let store = LocalStore::open(&dir).unwrap();
    let docs =
        LocalDocuments::open(&dir, store, MasterKey::load_or_create(&dir, None).unwrap()).unwrap();
    suite::document_store(&docs, &good_corpus()).await;
}

#[tokio::test]
async fn local_store_meets_the_contract_store_contract() {
    let tmp = tempfile::tempdir().unwrap();
    let store = LocalStore::open(&DataDir::open(tmp.path()).unwrap()).unwrap();
    suite::contract_store(&store).await;
}

#[tokio::test]
async fn local_store_meets_the_org_store_contract() {
    let tmp = tempfile::tempdir().unwrap();
    let store = LocalStore::open(&DataDir::open(tmp.path()).unwrap()).unwrap();
    suite::org_store(&store).await;
}

#[tokio::test]
async fn local_store_meets_the_api_key_store_contract() {
    let tmp = tempfile::tempdir().unwrap();
    let store = LocalStore::open(&DataDir::open(tmp.path()).unwrap()).unwrap();
    suite::api_key_store(&store).await;
}

#[tokio::test]
async fn local_audit_log_meets_the_audit_suite() {
    let tmp = tempfile::tempdir().unwrap();
    let store = LocalStore::open(&DataDir::open(tmp.path()).unwrap()).unwrap();
    suite::audit_log(std::sync::Arc::new(store)).await;
}

#[tokio::test]
async fn archive_trails_copies_the_local_trail_once_in_order() {
    let tmp = tempfile::tempdir().unwrap();
    let store = LocalStore::open(&DataDir::open(tmp.path()).unwrap()).unwrap();
    suite::audit_archive(std::sync::Arc::new(store)).await;
}

/// The local sweep (beyond the suite): files that are not canonical originals are skipped, temporary
/// files are not originals, and a malformed continuation is refused.
#[tokio::test]
async fn the_local_sweep_skips_what_is_not_an_original() {
    use clment_common::TenantScope;
    use clment_common::domain::{ContractId, Region};
    use clment_common::ports::DocumentStore as _;

    let tmp = tempfile::tempdir().unwrap();
    let dir = DataDir::open(tmp.path()).unwrap();
    let store = LocalStore::open(&dir).unwrap();
    let docs =
        LocalDocuments::open(&dir, store, MasterKey::load_or_create(&dir, None).unwrap()).unwrap();
    let scope = TenantScope::for_tests("acme", Region::Us);
    let good = ContractId::new();
    let mut w = docs.begin(&scope, good).await.unwrap();
    w.write(b"good").await.unwrap();
    w.commit().await.unwrap();
    // An upload in flight: its temp file is not an original.
    let mut in_flight = docs.begin(&scope, ContractId::new()).await.unwrap();
    in_flight.write(b"half").await.unwrap();

    let blobs = tmp.path().join("blobs");
    let upper = ContractId::new().to_string().to_uppercase();
    for junk in [
        format!("acme/{upper}.clmb"),
        format!("acme/{}.txt", ContractId::new()),
        "acme/notes".to_owned(),
        "stray-file".to_owned(),
    ] {
        std::fs::write(blobs.join(junk), b"junk").unwrap();
    }
    std::fs::create_dir(blobs.join("not an org")).unwrap();
    std::fs::write(
        blobs.join(format!("not an org/{}.clmb", ContractId::new())),
        b"x",
    )
    .unwrap();

    for limit in [1, 10] {
        let mut listed = Vec::new();
        let mut after = None;
        loop {
            let page = docs.sweep(after, limit).await.unwrap();
            listed.extend(page.blobs);
            match page.next {
                Some(n) => after = Some(n),
                None => break,
            }
        }
        assert_eq!(listed.len(), 1, "{listed:?}");
        assert_eq!(listed[0].id, good);
        assert_eq!(listed[0].org.as_str(), "acme");
    }
    assert!(docs.sweep(Some("acme".into()), 10).await.is_err());
    in_flight.abort().await;
}

#[tokio::test]
async fn local_reviews_meet_the_review_store_contract_and_keep_excerpts_sealed() {
    use clment_local::LocalReviews;
    let tmp = tempfile::tempdir().unwrap();
    let dir = DataDir::open(tmp.path()).unwrap();
    let store = LocalStore::open(&dir).unwrap();
    let reviews = LocalReviews::open(
        store.clone(),
        MasterKey::load_or_create(&dir, None).unwrap(),
    )
    .unwrap();
    suite::review_store(&reviews).await;

    // A completed review's excerpt (contract text) is nowhere in the data directory in plain text.
    let scope = clment_common::TenantScope::for_tests("acme", clment_common::domain::Region::Us);
    let now = time::OffsetDateTime::now_utc();
    let contract = clment_common::domain::ContractId::new();
    let canary = "CANARY-review-3b9d1f";
    let record = clment_common::review::ReviewRecord {
        id: clment_common::domain::ReviewId::new(),
        org: scope.org().clone(),
        contract,
        status: clment_common::review::ReviewStatus::Completed,
        categories: vec!["governing-law".into()],
        requested_by: clment_common::ports::Actor::System {
            name: "test".into(),
        },
        created_at: now,
        updated_at: now,
        completed_at: Some(now),
        failure: None,
        result: Some(clment_common::review::ReviewResult {
            provider: "offline".into(),
            model: None,
            summary: String::new(),
            key_dates: clment_common::review::KeyDates::default(),
            categories: vec![clment_common::review::Finding {
                category: "governing-law".into(),
                name: "Governing Law".into(),
                present: true,
                excerpts: vec![clment_common::review::Excerpt {
                    text: format!("governed by the laws of {canary}"),
                    start: 0,
                    end: 44,
                    page: 1,
                    chunk: format!("{contract}-0"),
                }],
                answer: None,
                risk: None,
            }],
            dropped_quotes: 0,
            minimisation: clment_common::review::Minimisation::default(),
            usage: clment_common::review::TokenUsage::default(),
        }),
        idempotency_key: None,
    };
    reviews.create(&scope, &record).await.unwrap();
    drop(reviews);
    drop(store);
    for entry in walk(tmp.path()) {
        let bytes = std::fs::read(&entry).unwrap();
        assert!(
            !bytes.windows(canary.len()).any(|w| w == canary.as_bytes()),
            "{} holds the canary in plain text",
            entry.display()
        );
    }
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
