//! The local search index and text store: the shared port suite, plus what only the local backend
//! promises: nothing readable at rest, persistence across a restart, and realistic ranking on CUAD
//! contracts.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clment_common::TenantScope;
use clment_common::domain::{ContractId, Region};
use clment_common::ports::{
    ChunkDoc, DocumentStore as _, Extracted, SearchIndex as _, SearchMode, SearchPage, SearchQuery,
    TextStore as _, suite,
};
use clment_local::{DataDir, LocalDocuments, LocalIndex, LocalStore, LocalTexts, MasterKey};

struct Env {
    tmp: tempfile::TempDir,
    dir: DataDir,
    store: LocalStore,
    index: Arc<LocalIndex>,
}

impl Env {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let dir = DataDir::open(&tmp.path().join("data")).unwrap();
        let store = LocalStore::open(&dir).unwrap();
        let index = Arc::new(LocalIndex::open(&dir, store.clone(), master(&dir)).unwrap());
        Self {
            tmp,
            dir,
            store,
            index,
        }
    }

    fn texts(&self) -> LocalTexts {
        LocalTexts::open(&self.dir, self.store.clone(), master(&self.dir)).unwrap()
    }

    fn documents(&self) -> LocalDocuments {
        LocalDocuments::open(&self.dir, self.store.clone(), master(&self.dir)).unwrap()
    }
}

fn master(dir: &DataDir) -> MasterKey {
    MasterKey::load_or_create(dir, None).unwrap()
}

fn scope(org: &str) -> TenantScope {
    TenantScope::for_tests(org, Region::Us)
}

/// One chunk per text, consecutive character ranges, one page each.
fn chunks(contract: ContractId, texts: &[&str], vectors: Option<&[Vec<f32>]>) -> Vec<ChunkDoc> {
    let mut start = 0u64;
    texts
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let len = t.chars().count() as u64;
            let ordinal = u32::try_from(i).unwrap();
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

/// Naive chunks of about `size` characters (never splitting a character), as the bench does.
fn naive_chunks(contract: ContractId, text: &str, size: usize) -> Vec<ChunkDoc> {
    let chars: Vec<char> = text.chars().collect();
    chars
        .chunks(size)
        .enumerate()
        .map(|(i, c)| {
            let ordinal = u32::try_from(i).unwrap();
            let start = (i * size) as u64;
            ChunkDoc {
                id: ChunkDoc::id_for(contract, ordinal),
                contract,
                ordinal,
                start,
                end: start + c.len() as u64,
                page_start: 1,
                page_end: 1,
                text: c.iter().collect(),
                vector: None,
            }
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

async fn search(env: &Env, scope: &TenantScope, q: SearchQuery) -> SearchPage {
    env.index.search(scope, &q).await.unwrap()
}

const TERMINATION: &str = "Either party may terminate this Agreement upon thirty days written \
    notice in the event of a material breach.";
const LAW: &str = "This Agreement shall be governed by the laws of the State of Delaware.";
const PAYMENT: &str = "The Customer shall pay each invoice within forty-five days of receipt.";

#[tokio::test]
async fn local_index_meets_the_search_index_contract() {
    let env = Env::new();
    suite::search_index(&*env.index).await;
}

#[tokio::test]
async fn two_orgs_with_the_same_text_see_only_their_own_chunks() {
    let env = Env::new();
    let (acme, globex) = (scope("acme"), scope("globex"));
    let (a, g) = (ContractId::new(), ContractId::new());
    let texts = [TERMINATION, LAW, PAYMENT];
    env.index
        .replace_contract(&acme, a, chunks(a, &texts, None))
        .await
        .unwrap();
    env.index
        .replace_contract(&globex, g, chunks(g, &texts, None))
        .await
        .unwrap();
    for (s, own, other) in [(&acme, a, g), (&globex, g, a)] {
        for words in ["terminate", "Delaware law", "invoice pay days", "agreement"] {
            let page = search(&env, s, query(words, None, 50, 0)).await;
            assert!(!page.hits.is_empty(), "{words}");
            for hit in &page.hits {
                assert_eq!(hit.contract, own);
                assert!(hit.chunk_id.starts_with(&own.to_string()));
                assert!(!hit.chunk_id.contains(&other.to_string()));
            }
        }
        assert!(
            search(&env, s, query("terminate", Some(other), 10, 0))
                .await
                .hits
                .is_empty()
        );
        assert_eq!(env.index.count(s, other).await.unwrap(), 0);
        assert_eq!(env.index.count(s, own).await.unwrap(), 3);
    }
    // The same contract id in two orgs is two contracts: deleting one leaves the other.
    let shared = ContractId::new();
    for s in [&acme, &globex] {
        env.index
            .replace_contract(s, shared, chunks(shared, &[LAW], None))
            .await
            .unwrap();
    }
    env.index.delete_contract(&acme, shared).await.unwrap();
    assert_eq!(env.index.count(&acme, shared).await.unwrap(), 0);
    assert_eq!(env.index.count(&globex, shared).await.unwrap(), 1);
    let page = search(&env, &globex, query("Delaware", Some(shared), 10, 0)).await;
    assert_eq!(page.hits.len(), 1);
    assert_eq!(page.hits[0].text, LAW);
    // Every read touched only its own tenant.
    assert!(env.store.tenant_touches("acme") > 0 && env.store.tenant_touches("globex") > 0);
    assert_eq!(env.store.tenant_touches("initech"), 0);
}

#[tokio::test]
async fn contract_filter_replacement_and_deletion() {
    let env = Env::new();
    let acme = scope("acme");
    let (a, b) = (ContractId::new(), ContractId::new());
    env.index
        .replace_contract(&acme, a, chunks(a, &[TERMINATION, LAW], None))
        .await
        .unwrap();
    env.index
        .replace_contract(&acme, b, chunks(b, &[LAW, PAYMENT], None))
        .await
        .unwrap();
    let all = search(&env, &acme, query("Delaware", None, 10, 0)).await;
    assert_eq!(all.hits.len(), 2);
    let only_b = search(&env, &acme, query("Delaware", Some(b), 10, 0)).await;
    assert_eq!(only_b.hits.len(), 1);
    assert_eq!(only_b.hits[0].contract, b);
    assert_eq!(only_b.hits[0].chunk_id, ChunkDoc::id_for(b, 0));

    // Replacing twice leaves one set.
    for _ in 0..2 {
        env.index
            .replace_contract(&acme, a, chunks(a, &[TERMINATION, LAW, PAYMENT], None))
            .await
            .unwrap();
    }
    assert_eq!(env.index.count(&acme, a).await.unwrap(), 3);
    let page = search(&env, &acme, query("Delaware", Some(a), 10, 0)).await;
    assert_eq!(page.hits.len(), 1, "one set, not two");

    // A chunk of another contract is refused, and nothing changes.
    let wrong = chunks(b, &[PAYMENT], None);
    assert!(env.index.replace_contract(&acme, a, wrong).await.is_err());
    assert_eq!(env.index.count(&acme, a).await.unwrap(), 3);

    // Deleted: nothing of it is found, the other contract stays.
    env.index.delete_contract(&acme, a).await.unwrap();
    env.index.delete_contract(&acme, a).await.unwrap();
    assert_eq!(env.index.count(&acme, a).await.unwrap(), 0);
    for words in ["terminate breach", "Delaware", "invoice"] {
        let page = search(&env, &acme, query(words, None, 50, 0)).await;
        assert!(page.hits.iter().all(|h| h.contract == b), "{words}");
    }
    assert_eq!(env.index.count(&acme, b).await.unwrap(), 2);
    // Deleting a contract that was never indexed is fine.
    env.index
        .delete_contract(&acme, ContractId::new())
        .await
        .unwrap();
}

/// Concurrent writes (sharing commits) each leave exactly one set per contract: redeliveries of the
/// same contract never mix, other contracts are not lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writes_never_mix_or_lose_sets() {
    let env = Env::new();
    let acme = scope("acme");
    let contracts: Vec<ContractId> = (0..6).map(|_| ContractId::new()).collect();
    let texts = [TERMINATION, LAW, PAYMENT, TERMINATION];
    let mut tasks = Vec::new();
    for round in 0..4 {
        for (i, c) in contracts.iter().enumerate() {
            let (index, scope, c) = (env.index.clone(), acme.clone(), *c);
            let n = 1 + (i + round) % 4;
            tasks.push(tokio::spawn(async move {
                index
                    .replace_contract(&scope, c, chunks(c, &texts[..n], None))
                    .await
            }));
        }
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    for c in &contracts {
        let n = env.index.count(&acme, *c).await.unwrap();
        assert!((1..=4).contains(&n), "{n}");
        let page = search(
            &env,
            &acme,
            query("agreement days invoice", Some(*c), 50, 0),
        )
        .await;
        let mut ordinals: Vec<u32> = page
            .hits
            .iter()
            .map(|h| h.chunk_id.rsplit('-').next().unwrap().parse().unwrap())
            .collect();
        ordinals.sort_unstable();
        let expected: Vec<u32> = (0..u32::try_from(n).unwrap()).collect();
        assert_eq!(ordinals, expected, "one set of {n} chunks");
    }
}

#[tokio::test]
async fn pages_are_consistent_with_one_long_page() {
    let env = Env::new();
    let acme = scope("acme");
    let c = ContractId::new();
    let texts: Vec<String> = (0..23)
        .map(|i| {
            // Varying term frequencies, so scores differ.
            let times = 1 + i % 5;
            format!(
                "{} clause {i} of the supply terms.",
                "warranty ".repeat(times)
            )
        })
        .collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    env.index
        .replace_contract(&acme, c, chunks(c, &refs, None))
        .await
        .unwrap();
    let all = search(&env, &acme, query("warranty", None, 50, 0)).await;
    assert_eq!(all.hits.len(), 23);
    assert!(!all.more);
    assert!(
        all.hits.windows(2).all(|w| w[0].score >= w[1].score),
        "best first"
    );
    for top in [1, 4, 5, 10] {
        let mut paged = Vec::new();
        let mut skip = 0;
        loop {
            let page = search(&env, &acme, query("warranty", None, top, skip)).await;
            assert!(page.hits.len() <= top);
            assert_eq!(page.more, skip + top < 23, "top {top} skip {skip}");
            paged.extend(page.hits.into_iter().map(|h| h.chunk_id));
            if !page.more {
                break;
            }
            skip += top;
        }
        let expected: Vec<_> = all.hits.iter().map(|h| h.chunk_id.clone()).collect();
        assert_eq!(paged, expected, "pages of {top}");
    }
    let beyond = search(&env, &acme, query("warranty", None, 10, 1_000_000)).await;
    assert!(beyond.hits.is_empty() && !beyond.more);
}

#[tokio::test]
async fn hybrid_with_vectors_and_keyword_otherwise() {
    let env = Env::new();
    let acme = scope("acme");
    let (v, plain) = (ContractId::new(), ContractId::new());
    let texts = [
        "The supplier warrants the goods for twelve months.",
        "The supplier warrants the goods for twelve months and the services for six.",
        "Warranty claims go to the supplier in writing.",
        "Notices are sent by registered mail.",
    ];
    let vectors = vec![
        vec![1.0, 0.0, 0.0, 0.0],
        vec![0.0, 1.0, 0.0, 0.0],
        vec![0.0, 0.0, 1.0, 0.0],
        vec![0.0, 0.0, 0.0, 1.0],
    ];
    env.index
        .replace_contract(&acme, v, chunks(v, &texts, Some(&vectors)))
        .await
        .unwrap();
    env.index
        .replace_contract(&acme, plain, chunks(plain, &texts, None))
        .await
        .unwrap();

    // Keyword: no query vector.
    let page = search(
        &env,
        &acme,
        query("supplier warrants goods", Some(v), 10, 0),
    )
    .await;
    assert_eq!(page.mode, SearchMode::Keyword);
    // Hybrid: the chunk second by words but nearest the query vector leads (1/62 + 1/61 beats
    // 1/61 + 1/63), and a chunk without any of the words is found by its vector alone.
    let mut q = query("supplier warrants goods", Some(v), 10, 0);
    q.vector = Some(vec![0.1, 0.9, 0.3, 0.0]);
    let page = search(&env, &acme, q.clone()).await;
    assert_eq!(page.mode, SearchMode::Hybrid);
    let ids: Vec<_> = page.hits.iter().map(|h| h.chunk_id.clone()).collect();
    let expected: Vec<_> = [1, 0, 2, 3].map(|i| ChunkDoc::id_for(v, i)).to_vec();
    assert_eq!(ids, expected);
    assert!(page.hits.iter().all(|h| h.contract == v));
    assert_eq!(page.hits[0].text, texts[1]);
    assert!((page.hits[0].score - (1.0 / 62.0 + 1.0 / 61.0)).abs() < 1e-9);
    assert!(page.hits.windows(2).all(|w| w[0].score >= w[1].score));
    // Hybrid paging: the fused list in pages.
    q.top = 3;
    let first = search(&env, &acme, q.clone()).await;
    assert!(first.more);
    q.skip = 3;
    let second = search(&env, &acme, q.clone()).await;
    assert!(!second.more);
    let paged: Vec<_> = first
        .hits
        .iter()
        .chain(&second.hits)
        .map(|h| h.chunk_id.clone())
        .collect();
    assert_eq!(paged, ids);

    // A query vector over chunks without vectors: keyword.
    let mut q = query("supplier warrants goods", Some(plain), 10, 0);
    q.vector = Some(vec![0.0, 0.0, 0.0, 1.0]);
    let page = search(&env, &acme, q).await;
    assert_eq!(page.mode, SearchMode::Keyword);
    assert!(page.hits.iter().all(|h| h.contract == plain));
    // Vectors of another org are not candidates.
    let mut q = query("supplier", None, 10, 0);
    q.vector = Some(vec![0.0, 0.0, 0.0, 1.0]);
    let page = search(&env, &scope("globex"), q).await;
    assert_eq!(page.mode, SearchMode::Keyword);
    assert!(page.hits.is_empty());
}

#[tokio::test]
async fn stemming_finds_other_forms_of_a_word() {
    let env = Env::new();
    let acme = scope("acme");
    let c = ContractId::new();
    env.index
        .replace_contract(
            &acme,
            c,
            chunks(
                c,
                &[
                    "Upon termination of this Agreement the licences end.",
                    "Payments are due monthly.",
                ],
                None,
            ),
        )
        .await
        .unwrap();
    for words in ["terminate", "TERMINATED", "terminating", "Termination"] {
        let page = search(&env, &acme, query(words, None, 10, 0)).await;
        assert_eq!(page.hits.len(), 1, "{words}");
        assert_eq!(page.hits[0].chunk_id, ChunkDoc::id_for(c, 0));
    }
    let page = search(&env, &acme, query("payment", None, 10, 0)).await;
    assert_eq!(page.hits[0].chunk_id, ChunkDoc::id_for(c, 1));
    // Punctuation only: no terms, nothing found.
    assert!(
        search(&env, &acme, query("?!", None, 10, 0))
            .await
            .hits
            .is_empty()
    );
}

/// Every file under `root`, recursively.
fn all_files(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let ty = entry.file_type().unwrap();
            if ty.is_dir() {
                stack.push(entry.path());
            } else if ty.is_file() {
                out.push(entry.path());
            }
        }
    }
    out
}

/// Reads the index as tantivy sees it: every term of every indexed field (of every segment) and every
/// stored value (of every document, deleted ones too). A byte grep alone is not enough: the term
/// dictionary is an FST, which does not keep a term's bytes in a row, and stored fields are compressed.
fn index_holds_no_words(path: &Path, needles: &[Vec<u8>]) {
    use tantivy::schema::Value as _;
    let index = tantivy::Index::open_in_dir(path).unwrap();
    let schema = index.schema();
    let reader = index
        .reader_builder()
        .reload_policy(tantivy::ReloadPolicy::Manual)
        .try_into()
        .unwrap();
    let searcher = reader.searcher();
    let contains = |hay: &[u8]| {
        let hay = hay.to_ascii_lowercase();
        needles
            .iter()
            .any(|n| hay.windows(n.len()).any(|w| w == n.as_slice()))
    };
    let mut terms = 0;
    for segment in searcher.segment_readers() {
        for (field, entry) in schema.fields() {
            if !entry.is_indexed() {
                continue;
            }
            let inverted = segment.inverted_index(field).unwrap();
            let mut stream = inverted.terms().stream().unwrap();
            while stream.advance() {
                let key = stream.key();
                assert!(!contains(key), "a term of {} is a word", entry.name());
                if entry.name() == "terms" {
                    terms += 1;
                    assert!(
                        key.len() == 32 && key.iter().all(|b| b.is_ascii_hexdigit()),
                        "an indexed token is not a hash: {}",
                        String::from_utf8_lossy(key)
                    );
                }
            }
        }
        let store = segment.get_store_reader(0).unwrap();
        for doc in store.iter::<tantivy::TantivyDocument>(None) {
            for (_, value) in doc.unwrap().field_values() {
                let bytes = value
                    .as_str()
                    .map(str::as_bytes)
                    .or_else(|| value.as_bytes())
                    .unwrap_or_default();
                assert!(!contains(bytes), "a stored value holds a word");
            }
        }
    }
    assert!(terms > 10, "the index has its hashed terms");
}

#[tokio::test]
async fn nothing_readable_at_rest() {
    const CANARY: &str = "CANARY-7f3a9c-QUOKKA";
    let env = Env::new();
    let texts = env.texts();
    let acme = scope("acme");
    let c = ContractId::new();
    let body = [
        format!("The secret word is {CANARY}, written in capitals."),
        format!(
            "In lower case: {}; and again {CANARY}.",
            CANARY.to_lowercase()
        ),
        "Canaries and quokkas are other forms of the same words.".to_owned(),
        "Quokka canary quokka canary.".to_owned(),
    ];
    let refs: Vec<&str> = body.iter().map(String::as_str).collect();
    let vectors = vec![vec![0.5, 0.5]; 4];
    env.index
        .replace_contract(&acme, c, chunks(c, &refs, Some(&vectors)))
        .await
        .unwrap();
    let full = body.join("\n");
    let extracted = Extracted {
        pages: vec![0],
        text: full.clone(),
    };
    texts.put_text(&acme, c, &extracted).await.unwrap();
    // Searching works (the text comes back decrypted) ...
    let page = search(&env, &acme, query("quokka", None, 10, 0)).await;
    assert_eq!(page.hits.len(), 4);
    assert!(page.hits.iter().any(|h| h.text.contains(CANARY)));
    let mut q = query(CANARY, None, 10, 0);
    q.vector = Some(vec![1.0, 1.0]);
    assert_eq!(search(&env, &acme, q).await.mode, SearchMode::Hybrid);
    assert_eq!(texts.get_text(&acme, c).await.unwrap(), Some(extracted));
    // ... after a replacement and a merge or two, too.
    for _ in 0..3 {
        env.index
            .replace_contract(&acme, c, chunks(c, &refs, Some(&vectors)))
            .await
            .unwrap();
    }

    // The words as written, lower-cased, and as the analyzer's terms (stems). The term "7f3a9c" is
    // left out: six hex digits turn up by chance among the hex ids and hashes in the index.
    let terms: Vec<String> = clment_common::text::analyze::query_terms(CANARY, 10);
    assert_eq!(terms, ["canari", "7f3a9c", "quokka"]);
    let needles: Vec<Vec<u8>> = [
        CANARY.to_lowercase(),
        "canary".to_owned(),
        "canari".to_owned(),
        "quokka".to_owned(),
        "secret word is".to_owned(),
    ]
    .into_iter()
    .map(String::into_bytes)
    .collect();
    index_holds_no_words(&env.dir.root().join("index"), &needles);
    let files = all_files(env.tmp.path());
    assert!(files.len() > 5, "{files:?}");
    assert!(
        files
            .iter()
            .any(|f| f.starts_with(env.dir.root().join("index")))
    );
    assert!(
        files
            .iter()
            .any(|f| f.starts_with(env.dir.root().join("texts")))
    );
    for file in &files {
        let bytes = std::fs::read(file).unwrap().to_ascii_lowercase();
        for needle in &needles {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle.as_slice()),
                "{} holds {:?}",
                file.display(),
                String::from_utf8_lossy(needle)
            );
        }
    }
}

#[tokio::test]
async fn the_index_survives_a_restart() {
    let env = Env::new();
    let acme = scope("acme");
    let c = ContractId::new();
    env.index
        .replace_contract(&acme, c, chunks(c, &[TERMINATION, LAW], None))
        .await
        .unwrap();
    // One writer per index: a second one on the same directory is refused.
    assert!(LocalIndex::open(&env.dir, env.store.clone(), master(&env.dir)).is_err());
    let Env {
        tmp,
        dir,
        store,
        index,
    } = env;
    drop(index);
    let index = Arc::new(LocalIndex::open(&dir, store.clone(), master(&dir)).unwrap());
    let env = Env {
        tmp,
        dir,
        store,
        index,
    };
    env.index.ensure_ready().await.unwrap();
    assert_eq!(env.index.count(&acme, c).await.unwrap(), 2);
    let page = search(&env, &acme, query("governed by Delaware law", None, 10, 0)).await;
    assert_eq!(page.hits[0].chunk_id, ChunkDoc::id_for(c, 1));
    assert_eq!(page.hits[0].text, LAW);
    assert!(env.index.size_on_disk().await.unwrap() > 0);
    // Still writable.
    env.index.delete_contract(&acme, c).await.unwrap();
    assert_eq!(env.index.count(&acme, c).await.unwrap(), 0);
}

#[tokio::test]
async fn health_check_answers() {
    use clment_common::ports::HealthCheck as _;
    let env = Env::new();
    assert_eq!(env.index.name(), "search-index");
    env.index.probe().await.unwrap();
}

fn cuad_texts(n: usize) -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/cuad/dev");
    let mut files: Vec<_> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("the CUAD texts are missing at {}: {e}", root.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    files.sort();
    files
        .into_iter()
        .take(n)
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&p).unwrap())
        })
        .collect()
}

/// Ten CUAD contracts: twelve consecutive words from the middle of each find that contract first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cuad_contracts_are_found_by_their_own_words() {
    let env = Env::new();
    let acme = scope("acme");
    let contracts = cuad_texts(10);
    assert_eq!(contracts.len(), 10);
    let mut ids = Vec::new();
    for (_, text) in &contracts {
        let id = ContractId::new();
        let docs = naive_chunks(id, text, 1_200);
        let n = docs.len() as u64;
        env.index.replace_contract(&acme, id, docs).await.unwrap();
        assert_eq!(env.index.count(&acme, id).await.unwrap(), n);
        ids.push(id);
    }
    for ((name, text), id) in contracts.iter().zip(&ids) {
        let words: Vec<&str> = text
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| w.len() > 2)
            .collect();
        let mid = words.len() / 2;
        let phrase = words[mid..(mid + 12).min(words.len())].join(" ");
        let page = search(&env, &acme, query(&phrase, None, 10, 0)).await;
        assert_eq!(page.hits[0].contract, *id, "{name}: {phrase}");
        // The hit's text is the chunk's text, with its offsets.
        let hit = &page.hits[0];
        let chunk: String = text
            .chars()
            .skip(usize::try_from(hit.start).unwrap())
            .take(usize::try_from(hit.end - hit.start).unwrap())
            .collect();
        assert_eq!(hit.text, chunk);
    }
}

#[tokio::test]
async fn texts_round_trip_replace_and_delete_per_org() {
    let env = Env::new();
    let texts = env.texts();
    let (acme, globex) = (scope("acme"), scope("globex"));
    let c = ContractId::new();
    assert_eq!(texts.get_text(&acme, c).await.unwrap(), None);
    assert!(!texts.delete_text(&acme, c).await.unwrap());
    let first = Extracted {
        text: "Page one.\u{c}Page two — with ünïcödé.".into(),
        pages: vec![0, 10],
    };
    texts.put_text(&acme, c, &first).await.unwrap();
    assert_eq!(texts.get_text(&acme, c).await.unwrap(), Some(first.clone()));
    // Another org does not see it, and has its own under the same id.
    assert_eq!(texts.get_text(&globex, c).await.unwrap(), None);
    assert!(!texts.delete_text(&globex, c).await.unwrap());
    let theirs = Extracted {
        text: "Globex's text.".into(),
        pages: vec![0],
    };
    texts.put_text(&globex, c, &theirs).await.unwrap();
    // Replace.
    let second = Extracted {
        text: "x".repeat(200_000),
        pages: vec![0],
    };
    texts.put_text(&acme, c, &second).await.unwrap();
    assert_eq!(texts.get_text(&acme, c).await.unwrap(), Some(second));
    assert_eq!(texts.get_text(&globex, c).await.unwrap(), Some(theirs));
    // No temp files left; a file moved to another contract does not open.
    let acme_dir = env.dir.root().join("texts/acme");
    assert_eq!(all_files(&acme_dir.join(".tmp")).len(), 0);
    let other = ContractId::new();
    std::fs::copy(
        acme_dir.join(format!("{c}.clmt")),
        acme_dir.join(format!("{other}.clmt")),
    )
    .unwrap();
    assert!(texts.get_text(&acme, other).await.is_err());
    // Delete is idempotent.
    assert!(texts.delete_text(&acme, c).await.unwrap());
    assert!(!texts.delete_text(&acme, c).await.unwrap());
    assert_eq!(texts.get_text(&acme, c).await.unwrap(), None);
    assert_eq!(
        texts
            .remove_temp_files(time::OffsetDateTime::now_utc())
            .await
            .unwrap(),
        0
    );
}

/// Stored texts live apart from the originals: the originals' sweep and delete never see them.
#[tokio::test]
async fn texts_do_not_confuse_the_originals_sweep() {
    let env = Env::new();
    let texts = env.texts();
    let docs = env.documents();
    let acme = scope("acme");
    let c = ContractId::new();
    let mut w = docs.begin(&acme, c).await.unwrap();
    w.write(b"original").await.unwrap();
    w.commit().await.unwrap();
    let text = Extracted {
        text: "extracted".into(),
        pages: vec![0],
    };
    texts.put_text(&acme, c, &text).await.unwrap();
    let page = docs.sweep(None, 100).await.unwrap();
    assert_eq!(page.blobs.len(), 1);
    assert_eq!(page.blobs[0].id, c);
    // Deleting the original leaves the text (the service deletes both), and the other way round.
    assert!(docs.delete(&acme, c).await.unwrap());
    assert_eq!(texts.get_text(&acme, c).await.unwrap(), Some(text));
    assert!(docs.sweep(None, 100).await.unwrap().blobs.is_empty());
    assert!(texts.delete_text(&acme, c).await.unwrap());
}
