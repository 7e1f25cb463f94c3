//! The search index suite: tenant isolation, atomic replacement, deletes, paging and modes.

use crate::TenantScope;
use crate::domain::{ContractId, Region};
use crate::ports::{ChunkDoc, SearchIndex, SearchMode, SearchQuery};

fn fresh(name: &str) -> TenantScope {
    TenantScope::for_tests(
        &format!("suite-{name}-{}", uuid::Uuid::new_v4().simple()),
        Region::Eu,
    )
}

/// Chunks of `texts`, one each, with consecutive character ranges and optional vectors.
fn chunks(contract: ContractId, texts: &[&str], vectors: Option<&[Vec<f32>]>) -> Vec<ChunkDoc> {
    let mut start = 0u64;
    texts
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let len = t.chars().count() as u64;
            let ordinal = u32::try_from(i).expect("few chunks");
            let doc = ChunkDoc {
                id: ChunkDoc::id_for(contract, ordinal),
                contract,
                ordinal,
                start,
                end: start + len,
                page_start: ordinal + 1,
                page_end: ordinal + 1,
                text: (*t).to_owned(),
                vector: vectors.map(|v| v[i].clone()),
            };
            start += len;
            doc
        })
        .collect()
}

fn query(text: &str, contract: Option<ContractId>, top: usize, skip: usize) -> SearchQuery {
    SearchQuery {
        text: text.to_owned(),
        contract,
        top,
        skip,
        vector: None,
    }
}

const TERMINATION: &str = "Either party may terminate this Agreement upon thirty days written notice \
    to the other party in the event of a material breach.";
const LAW: &str = "This Agreement shall be governed by the laws of the State of Delaware without regard \
    to its conflict of laws principles.";
const CONFIDENTIAL: &str = "The Receiving Party shall hold the Confidential Information in strict \
    confidence and use it only for the Purpose.";

/// Every `SearchIndex` adapter: org isolation for the same text in two orgs (hits, counts, contract
/// filters naming the other org's contract), stemming-tolerant keyword search with offsets and pages
/// kept, contract filters, replacement leaving exactly one set (also when it shrinks), idempotent
/// deletes after which nothing of the contract is found, paging without overlap, and the ranking mode
/// (keyword without vectors, hybrid with them, the nearest chunk first).
///
/// # Panics
/// When the adapter misbehaves.
pub async fn search_index(index: &dyn SearchIndex) {
    index.ensure_ready().await.expect("ensure_ready");
    index.ensure_ready().await.expect("ensure_ready twice");
    let acme = fresh("acme");
    let globex = fresh("globex");
    let a = ContractId::new();
    let g = ContractId::new();
    index
        .replace_contract(&acme, a, chunks(a, &[TERMINATION, LAW, CONFIDENTIAL], None))
        .await
        .expect("index acme");
    index
        .replace_contract(&globex, g, chunks(g, &[TERMINATION, LAW], None))
        .await
        .expect("index globex");

    // Each org sees its own chunks only.
    for (scope, own, other) in [(&acme, a, g), (&globex, g, a)] {
        let page = index
            .search(scope, &query("terminate agreement notice", None, 10, 0))
            .await
            .expect("search");
        assert!(!page.hits.is_empty(), "own text is found");
        assert!(
            page.hits.iter().all(|h| h.contract == own),
            "a search returned another org's chunk"
        );
        assert_eq!(page.mode, SearchMode::Keyword);
        // Naming the other org's contract finds nothing and counts nothing.
        let page = index
            .search(scope, &query("terminate", Some(other), 10, 0))
            .await
            .expect("search");
        assert!(page.hits.is_empty(), "a contract filter crossed tenants");
        assert_eq!(index.count(scope, other).await.expect("count"), 0);
    }
    assert_eq!(index.count(&acme, a).await.expect("count"), 3);
    assert_eq!(index.count(&globex, g).await.expect("count"), 2);

    // The best hit for a clause's words is that clause, with its place in the document.
    let page = index
        .search(
            &acme,
            &query("governed by the laws of Delaware", None, 10, 0),
        )
        .await
        .expect("search");
    let best = &page.hits[0];
    assert_eq!(best.chunk_id, ChunkDoc::id_for(a, 1));
    assert_eq!(best.text, LAW);
    assert_eq!(best.start, TERMINATION.chars().count() as u64);
    assert_eq!(best.end, best.start + LAW.chars().count() as u64);
    assert_eq!((best.page_start, best.page_end), (2, 2));
    assert!(best.score > 0.0);
    // Stemming: "terminated" finds "terminate".
    let page = index
        .search(&acme, &query("terminated", None, 10, 0))
        .await
        .expect("search");
    assert_eq!(
        page.hits.first().map(|h| h.chunk_id.clone()),
        Some(ChunkDoc::id_for(a, 0))
    );
    // Words that are nowhere: nothing.
    let page = index
        .search(&acme, &query("xylophone", None, 10, 0))
        .await
        .expect("search");
    assert!(page.hits.is_empty() && !page.more);

    // Contract filter inside the org.
    let a2 = ContractId::new();
    index
        .replace_contract(&acme, a2, chunks(a2, &[LAW], None))
        .await
        .expect("index second");
    let page = index
        .search(&acme, &query("Delaware", Some(a2), 10, 0))
        .await
        .expect("search");
    assert_eq!(page.hits.len(), 1);
    assert_eq!(page.hits[0].contract, a2);

    // Replacement: the same chunks again leave one set; fewer chunks remove the rest.
    for _ in 0..3 {
        index
            .replace_contract(&acme, a, chunks(a, &[TERMINATION, LAW, CONFIDENTIAL], None))
            .await
            .expect("redeliver");
    }
    assert_eq!(index.count(&acme, a).await.expect("count"), 3);
    index
        .replace_contract(&acme, a, chunks(a, &[CONFIDENTIAL], None))
        .await
        .expect("shrink");
    assert_eq!(index.count(&acme, a).await.expect("count"), 1);
    let page = index
        .search(&acme, &query("Delaware", Some(a), 10, 0))
        .await
        .expect("search");
    assert!(page.hits.is_empty(), "a replaced chunk is still found");

    // Delete: nothing of the contract is found any more; deleting again is fine.
    index.delete_contract(&acme, a).await.expect("delete");
    index.delete_contract(&acme, a).await.expect("delete again");
    assert_eq!(index.count(&acme, a).await.expect("count"), 0);
    let page = index
        .search(
            &acme,
            &query("Confidential Information Receiving Party", None, 10, 0),
        )
        .await
        .expect("search");
    assert!(
        page.hits.iter().all(|h| h.contract != a),
        "deleted text found"
    );
    // The other org is untouched.
    assert_eq!(index.count(&globex, g).await.expect("count"), 2);

    // Paging: 7 matching chunks, pages of 3, no overlap, `more` right.
    let many = ContractId::new();
    let texts: Vec<String> = (0..7)
        .map(|i| format!("Indemnification clause number {i}: the supplier shall indemnify."))
        .collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    index
        .replace_contract(&acme, many, chunks(many, &refs, None))
        .await
        .expect("index many");
    let mut seen = Vec::new();
    for (skip, more) in [(0, true), (3, true), (6, false)] {
        let page = index
            .search(&acme, &query("indemnify", Some(many), 3, skip))
            .await
            .expect("page");
        assert_eq!(page.more, more, "more at skip {skip}");
        assert_eq!(page.hits.len(), if more { 3 } else { 1 });
        for h in page.hits {
            assert!(!seen.contains(&h.chunk_id), "pages overlap");
            seen.push(h.chunk_id);
        }
    }
    assert_eq!(seen.len(), 7);

    // Hybrid: with vectors the mode says so, and a chunk that is second by words but nearest by
    // meaning leads (reciprocal rank fusion: 1/62 + 1/61 beats 1/61 + 1/63).
    let v = ContractId::new();
    let vectors = vec![
        vec![1.0, 0.0, 0.0],
        vec![0.0, 1.0, 0.0],
        vec![0.0, 0.0, 1.0],
    ];
    index
        .replace_contract(
            &acme,
            v,
            chunks(
                v,
                &[
                    "Payment terms: invoices are due in thirty days.",
                    "Payment terms: invoices are due in sixty days.",
                    "Payment applies after ninety days.",
                ],
                Some(&vectors),
            ),
        )
        .await
        .expect("index vectors");
    let mut q = query("payment invoices due thirty", Some(v), 3, 0);
    let keyword = index.search(&acme, &q).await.expect("keyword");
    assert_eq!(keyword.hits[0].chunk_id, ChunkDoc::id_for(v, 0));
    q.vector = Some(vec![0.1, 0.9, 0.3]);
    let page = index.search(&acme, &q).await.expect("hybrid");
    assert_eq!(page.mode, SearchMode::Hybrid);
    assert_eq!(page.hits[0].chunk_id, ChunkDoc::id_for(v, 1));
    assert!(page.hits.iter().all(|h| h.contract == v));
}
