//! The local search index: tantivy under `<data>/index/`, holding nothing readable.
//!
//! The local backend promises that contract text never sits in the data directory in plain text, and a
//! plain full-text index would keep every word in its term dictionary. So the indexed text field
//! receives pre-tokenized text whose tokens are not words: each word is turned into its term by the
//! shared analyzer ([`clment_common::text::analyze`]: lower-cased, stemmed) and the term into a keyed
//! hash, hex of the first 16 bytes of HMAC-SHA256(term key, term). Positions are kept (phrase queries
//! would work). A query's terms are hashed the same way, so BM25 ranking works as usual over the hashes.
//!
//! Keys, per org, from the org's data key (which the master key wraps, see `crypto`), each with
//! HKDF-SHA256(ikm = data key, no salt, info):
//! - the term key, info `clment/search/v1/term-key`: the same word hashes differently in two orgs;
//! - the sealing key, info `clment/search/v1/seal-key`: AES-256-GCM for the stored chunk text and vector.
//!
//! Stored fields are ids and numbers only (chunk id, contract id, ordinal, start, end, pages), plus the
//! chunk's text and vector sealed with the org's sealing key: `version (1) || nonce (12, random) ||
//! ciphertext || tag (16)`, the AAD naming the purpose, the org and the chunk id
//! (`clment/search/v1/{text|vector}/{org}/{chunk}`), so a sealed value moved to another chunk or org
//! does not open. Random 96-bit nonces keep one key safe for 2^32 seals, far beyond the chunks of an
//! org at development scale. The org and `{org}/{contract}` are indexed as plain ids (filters, deletes).
//!
//! Known limit: the hashes are deterministic within an org, so anyone who can read the index learns
//! which chunks share a word and how often each (unknown) word occurs, and can guess frequent words
//! (`the`, `shall`) from their document frequencies; the words themselves are never stored. BM25
//! statistics (average chunk length) are index-wide, so other orgs' chunks shift score values, never
//! which chunks are found.
//!
//! One [`IndexWriter`] (tantivy allows one per index) sits behind a mutex. A replacement deletes the
//! contract's chunks and adds the new ones in one commit, so a redelivered contract never leaves two
//! sets; concurrent writes share commits (group commit: a commit costs a dozen fsyncs). A write returns
//! once its commit is done and the reader reloaded, so a search right after it sees it. All tantivy
//! work runs on the blocking pool (a write waiting for a shared commit blocks a pool thread).
//!
//! Hybrid search is exhaustive: with a query vector, every chunk of the org (of the contract, when
//! filtered) that has a vector is read, its vector decrypted and compared (cosine). That is meant for
//! development scale, not for large corpora; the top 50 of each list are fused by reciprocal rank
//! (k = 60).

use std::cmp::Ordering;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use clment_common::TenantScope;
use clment_common::domain::{ContractId, OrgId};
use clment_common::ports::{
    ChunkDoc, HealthCheck, PortError, SearchHit, SearchIndex, SearchMode, SearchPage, SearchQuery,
};
use clment_common::text::analyze;
use hmac::{Hmac, Mac as _};
use sha2::Sha256;
use tantivy::collector::{Count, DocSetCollector, TopDocs};
use tantivy::directory::MmapDirectory;
use tantivy::query::{BooleanQuery, ConstScoreQuery, Occur, Query, TermQuery};
use tantivy::schema::{
    Field, IndexRecordOption, NumericOptions, STORED, STRING, Schema, TextFieldIndexing,
    TextOptions, Value as _,
};
use tantivy::tokenizer::{PreTokenizedString, Token};
use tantivy::{
    DocAddress, Index, IndexReader, IndexWriter, ReloadPolicy, Searcher, TantivyDocument, Term,
};

use crate::crypto::{DataKey, OrgKeys, ValueSealer};
use crate::{DataDir, LocalStore, MasterKey};

/// The writer's memory budget.
const WRITER_HEAP: usize = 50 << 20;
/// At most this many distinct query terms are searched.
pub const MAX_QUERY_TERMS: usize = 32;
/// Each list (words, vectors) contributes its best this many to the fused ranking.
pub const HYBRID_CANDIDATES: usize = 50;
/// The reciprocal rank fusion constant: a hit at rank `r` (from 1) of a list adds `1 / (k + r)`.
pub const RRF_K: f64 = 60.0;

const TERM_KEY_INFO: &[u8] = b"clment/search/v1/term-key";
const SEAL_KEY_INFO: &[u8] = b"clment/search/v1/seal-key";
/// Bytes of the HMAC kept per term (hex-encoded: 32 characters).
const TOKEN_BYTES: usize = 16;

/// The index could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("local search index: {0}")]
pub struct IndexError(String);

fn index_err(e: impl std::fmt::Display) -> IndexError {
    IndexError(e.to_string())
}

fn unavailable(e: impl std::fmt::Display) -> PortError {
    PortError::Unavailable(format!("search index: {e}"))
}

/// The schema's fields.
#[derive(Clone, Copy)]
struct Fields {
    /// The org id (indexed, not stored).
    org: Field,
    /// `{org}/{contract}` (indexed, not stored): deletes, counts and contract filters.
    org_contract: Field,
    /// 1 when the chunk has a vector (indexed): the candidates of the vector search.
    has_vector: Field,
    /// The hashed terms with positions (indexed, not stored).
    terms: Field,
    chunk: Field,
    contract: Field,
    ordinal: Field,
    start: Field,
    end: Field,
    page_start: Field,
    page_end: Field,
    /// The sealed chunk text.
    sealed_text: Field,
    /// The sealed vector (little-endian `f32`s), when the chunk has one.
    sealed_vector: Field,
}

impl Fields {
    fn schema() -> Schema {
        let mut b = Schema::builder();
        b.add_text_field("org", STRING);
        b.add_text_field("org_contract", STRING);
        b.add_u64_field("has_vector", NumericOptions::default().set_indexed());
        b.add_text_field(
            "terms",
            TextOptions::default().set_indexing_options(
                TextFieldIndexing::default()
                    .set_tokenizer("raw")
                    .set_index_option(IndexRecordOption::WithFreqsAndPositions),
            ),
        );
        b.add_text_field("chunk", STORED);
        b.add_text_field("contract", STORED);
        for name in ["ordinal", "start", "end", "page_start", "page_end"] {
            b.add_u64_field(name, STORED);
        }
        b.add_bytes_field("sealed_text", STORED);
        b.add_bytes_field("sealed_vector", STORED);
        b.build()
    }

    fn of(schema: &Schema) -> Result<Self, IndexError> {
        let f = |name: &str| schema.get_field(name).map_err(index_err);
        Ok(Self {
            org: f("org")?,
            org_contract: f("org_contract")?,
            has_vector: f("has_vector")?,
            terms: f("terms")?,
            chunk: f("chunk")?,
            contract: f("contract")?,
            ordinal: f("ordinal")?,
            start: f("start")?,
            end: f("end")?,
            page_start: f("page_start")?,
            page_end: f("page_end")?,
            sealed_text: f("sealed_text")?,
            sealed_vector: f("sealed_vector")?,
        })
    }

    fn org_term(&self, org: &OrgId) -> Term {
        Term::from_field_text(self.org, org.as_str())
    }

    fn org_contract_term(&self, org: &OrgId, contract: ContractId) -> Term {
        Term::from_field_text(self.org_contract, &format!("{org}/{contract}"))
    }
}

/// A filter clause: matches like `term`, adds nothing to the score.
fn filter(term: Term) -> Box<dyn Query> {
    Box::new(ConstScoreQuery::new(
        Box::new(TermQuery::new(term, IndexRecordOption::Basic)),
        0.0,
    ))
}

/// An org's search keys (see the module docs).
struct OrgSearchKeys {
    terms: Hmac<Sha256>,
    seal: ValueSealer,
}

impl OrgSearchKeys {
    fn derive(dk: &DataKey) -> Self {
        Self {
            terms: dk.subkey_mac(TERM_KEY_INFO),
            seal: ValueSealer::new(dk, SEAL_KEY_INFO),
        }
    }

    /// The indexed token of an analyzer term.
    fn token(&self, term: &str) -> String {
        let mut mac = self.terms.clone();
        mac.update(term.as_bytes());
        hex::encode(&mac.finalize().into_bytes()[..TOKEN_BYTES])
    }

    fn aad(kind: &str, org: &OrgId, chunk: &str) -> Vec<u8> {
        format!("clment/search/v1/{kind}/{org}/{chunk}").into_bytes()
    }

    fn seal(
        &self,
        kind: &str,
        org: &OrgId,
        chunk: &str,
        plain: &[u8],
    ) -> Result<Vec<u8>, PortError> {
        self.seal
            .seal(&Self::aad(kind, org, chunk), plain)
            .ok_or_else(|| unavailable("sealing a chunk failed"))
    }

    fn open(
        &self,
        kind: &str,
        org: &OrgId,
        chunk: &str,
        sealed: &[u8],
    ) -> Result<Vec<u8>, PortError> {
        self.seal
            .open(&Self::aad(kind, org, chunk), sealed)
            .ok_or_else(|| unavailable("a stored chunk failed authentication"))
    }
}

fn vector_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn vector_of(bytes: &[u8]) -> Option<Vec<f32>> {
    if !bytes.len().is_multiple_of(4) {
        return None;
    }
    Some(
        bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
    )
}

fn cosine(a: &[f32], b: &[f32]) -> Option<f64> {
    if a.len() != b.len() || a.is_empty() {
        return None;
    }
    let (mut dot, mut na, mut nb) = (0f64, 0f64, 0f64);
    for (x, y) in a.iter().zip(b) {
        let (x, y) = (f64::from(*x), f64::from(*y));
        dot += x * y;
        na += x * x;
        nb += y * y;
    }
    let norm = (na * nb).sqrt();
    (norm > 0.0 && norm.is_finite()).then(|| dot / norm)
}

/// One replacement: delete the contract's chunks, then add `docs`.
struct Replacement {
    delete: Term,
    docs: Vec<TantivyDocument>,
}

/// The group commit's queue: replacements wait here for the next commit, which applies and commits
/// them all at once on behalf of their callers.
#[derive(Default)]
struct Queue {
    /// The batch replacements queued now belong to.
    open: u64,
    /// The replacements of the open batch, in arrival order.
    waiting: Vec<Replacement>,
    /// Every batch up to this one is settled: committed, or rolled back and listed in `failed`.
    settled: u64,
    /// Recent batches that were rolled back.
    failed: VecDeque<u64>,
    /// A caller is applying and committing a batch.
    committing: bool,
}

/// Settles a batch when dropped (also when the committing caller panics), waking the callers that
/// wait for it.
struct Settle<'a> {
    inner: &'a Inner,
    batch: u64,
    ok: bool,
}

impl Drop for Settle<'_> {
    fn drop(&mut self) {
        let mut q = self.inner.lock_queue();
        q.settled = self.batch;
        if !self.ok {
            q.failed.push_back(self.batch);
            if q.failed.len() > 64 {
                q.failed.pop_front();
            }
        }
        q.committing = false;
        self.inner.settled.notify_all();
    }
}

/// Everything the blocking pool needs.
struct Inner {
    path: std::path::PathBuf,
    index: Index,
    reader: IndexReader,
    /// Only the committing caller takes it.
    writer: Mutex<IndexWriter<TantivyDocument>>,
    queue: Mutex<Queue>,
    /// Signalled when a batch is settled.
    settled: Condvar,
    fields: Fields,
}

impl Inner {
    fn lock_queue(&self) -> MutexGuard<'_, Queue> {
        // The queue's invariants hold between statements: a panic elsewhere does not break them.
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Deletes the contract's chunks and adds `docs`, committed before this returns (and the reader
    /// reloaded, so a search right after sees it). A commit applies all or nothing, so readers see the
    /// old set or the new one, never both.
    ///
    /// Group commit: a commit costs a dozen fsyncs, so replacements that arrive while one is being
    /// committed queue up, and the next caller to find no commit running applies and commits them all
    /// at once; the others wait for that. On failure the batch is rolled back and every caller in it
    /// gets an error (retrying is safe).
    fn replace(
        &self,
        org: &OrgId,
        contract: ContractId,
        docs: Vec<TantivyDocument>,
    ) -> Result<(), PortError> {
        if docs.is_empty() && self.count(org, contract)? == 0 {
            // Nothing to delete and nothing to add (a repeated delete): no commit needed.
            return Ok(());
        }
        let mut q = self.lock_queue();
        let mine = q.open;
        q.waiting.push(Replacement {
            delete: self.fields.org_contract_term(org, contract),
            docs,
        });
        loop {
            if q.settled >= mine {
                return if q.failed.contains(&mine) {
                    Err(unavailable("the write was rolled back; retry"))
                } else {
                    Ok(())
                };
            }
            if q.committing {
                q = self.settled.wait(q).unwrap_or_else(PoisonError::into_inner);
                continue;
            }
            // Commit the open batch (ours, with whatever else is queued).
            q.committing = true;
            let batch = std::mem::take(&mut q.waiting);
            let mut settle = Settle {
                inner: self,
                batch: q.open,
                ok: false,
            };
            q.open += 1;
            drop(q);
            let result = self.commit(batch);
            settle.ok = result.is_ok();
            drop(settle);
            // Our batch is the one just settled.
            return result;
        }
    }

    /// Applies and commits a batch, then reloads the reader; rolls back on failure.
    fn commit(&self, batch: Vec<Replacement>) -> Result<(), PortError> {
        let mut writer = match self.writer.lock() {
            Ok(w) => w,
            Err(poisoned) => {
                // A panic mid-commit: whatever it left uncommitted is dropped.
                let mut w = poisoned.into_inner();
                w.rollback().map_err(unavailable)?;
                self.writer.clear_poison();
                w
            }
        };
        let applied = (|| {
            for r in batch {
                writer.delete_term(r.delete);
                for doc in r.docs {
                    writer.add_document(doc).map_err(unavailable)?;
                }
            }
            writer.commit().map_err(unavailable)?;
            Ok(())
        })();
        if let Err(e) = applied {
            if let Err(rollback) = writer.rollback() {
                tracing::error!(error = %rollback, "search index: rollback failed");
            }
            return Err(e);
        }
        self.reader.reload().map_err(unavailable)
    }

    fn count(&self, org: &OrgId, contract: ContractId) -> Result<u64, PortError> {
        let q = TermQuery::new(
            self.fields.org_contract_term(org, contract),
            IndexRecordOption::Basic,
        );
        let n = self
            .reader
            .searcher()
            .search(&q, &Count)
            .map_err(unavailable)?;
        Ok(n as u64)
    }

    /// Turns the chunks into documents: hashed terms, sealed text and vector.
    fn documents(
        &self,
        keys: &OrgSearchKeys,
        org: &OrgId,
        contract: ContractId,
        chunks: Vec<ChunkDoc>,
    ) -> Result<Vec<TantivyDocument>, PortError> {
        let f = &self.fields;
        // Each distinct term is hashed once per batch.
        let mut hashed: HashMap<String, String> = HashMap::new();
        let org_contract = format!("{org}/{contract}");
        let mut docs = Vec::with_capacity(chunks.len());
        for chunk in chunks {
            if chunk.contract != contract {
                return Err(PortError::Conflict(format!(
                    "chunk {} does not belong to contract {contract}",
                    chunk.id
                )));
            }
            let tokens = analyze::tokens(&chunk.text)
                .into_iter()
                .enumerate()
                .map(|(position, t)| {
                    let text = match hashed.get(&t.term) {
                        Some(h) => h.clone(),
                        None => {
                            let h = keys.token(&t.term);
                            hashed.insert(t.term, h.clone());
                            h
                        }
                    };
                    // No offsets: they would only tell word lengths.
                    Token {
                        offset_from: 0,
                        offset_to: 0,
                        position,
                        text,
                        position_length: 1,
                    }
                })
                .collect();
            let mut doc = TantivyDocument::new();
            doc.add_text(f.org, org.as_str());
            doc.add_text(f.org_contract, &org_contract);
            doc.add_pre_tokenized_text(
                f.terms,
                PreTokenizedString {
                    text: String::new(),
                    tokens,
                },
            );
            doc.add_text(f.chunk, &chunk.id);
            doc.add_text(f.contract, contract.to_string());
            doc.add_u64(f.ordinal, u64::from(chunk.ordinal));
            doc.add_u64(f.start, chunk.start);
            doc.add_u64(f.end, chunk.end);
            doc.add_u64(f.page_start, u64::from(chunk.page_start));
            doc.add_u64(f.page_end, u64::from(chunk.page_end));
            doc.add_bytes(
                f.sealed_text,
                &keys.seal("text", org, &chunk.id, chunk.text.as_bytes())?,
            );
            if let Some(v) = chunk.vector.as_deref().filter(|v| !v.is_empty()) {
                doc.add_u64(f.has_vector, 1);
                doc.add_bytes(
                    f.sealed_vector,
                    &keys.seal("vector", org, &chunk.id, &vector_bytes(v))?,
                );
            }
            docs.push(doc);
        }
        Ok(docs)
    }

    fn search(
        &self,
        keys: &OrgSearchKeys,
        org: &OrgId,
        q: &SearchQuery,
    ) -> Result<SearchPage, PortError> {
        let f = &self.fields;
        let searcher = self.reader.searcher();
        let scope_filter = || -> Vec<(Occur, Box<dyn Query>)> {
            let mut clauses = vec![(Occur::Must, filter(f.org_term(org)))];
            if let Some(c) = q.contract {
                clauses.push((Occur::Must, filter(f.org_contract_term(org, c))));
            }
            clauses
        };
        let words: Vec<(Occur, Box<dyn Query>)> = analyze::query_terms(&q.text, MAX_QUERY_TERMS)
            .iter()
            .map(|t| {
                let term = Term::from_field_text(f.terms, &keys.token(t));
                let clause: Box<dyn Query> =
                    Box::new(TermQuery::new(term, IndexRecordOption::WithFreqs));
                (Occur::Should, clause)
            })
            .collect();
        let keyword_query = (!words.is_empty()).then(|| {
            let mut clauses = scope_filter();
            clauses.push((Occur::Must, Box::new(BooleanQuery::new(words))));
            BooleanQuery::new(clauses)
        });
        let keyword = |limit: usize| -> Result<Vec<(f64, DocAddress)>, PortError> {
            let Some(query) = &keyword_query else {
                return Ok(Vec::new());
            };
            // No more hits than documents: a huge `skip` allocates nothing.
            let limit = limit
                .min(usize::try_from(searcher.num_docs()).unwrap_or(usize::MAX))
                .max(1);
            let hits = searcher
                .search(query, &TopDocs::with_limit(limit).order_by_score())
                .map_err(unavailable)?;
            Ok(hits.into_iter().map(|(s, a)| (f64::from(s), a)).collect())
        };

        let nearest = match &q.vector {
            Some(v) => {
                let mut clauses = scope_filter();
                clauses.push((Occur::Must, filter(Term::from_field_u64(f.has_vector, 1))));
                self.nearest(&searcher, keys, org, &BooleanQuery::new(clauses), v)?
            }
            None => Vec::new(),
        };
        let window = q.skip.saturating_add(q.top);
        let (ranked, mode) = if nearest.is_empty() {
            (keyword(window.saturating_add(1))?, SearchMode::Keyword)
        } else {
            let words = keyword(HYBRID_CANDIDATES)?;
            (fuse(&words, &nearest), SearchMode::Hybrid)
        };
        let more = ranked.len() > window;
        let hits = ranked
            .iter()
            .skip(q.skip)
            .take(q.top)
            .map(|&(score, addr)| self.hit(&searcher, keys, org, addr, score))
            .collect::<Result<_, _>>()?;
        Ok(SearchPage { hits, more, mode })
    }

    /// The best [`HYBRID_CANDIDATES`] chunks matching `candidates` by cosine similarity to `vector`,
    /// best first: an exhaustive scan (development scale). Empty when none has a comparable vector.
    fn nearest(
        &self,
        searcher: &Searcher,
        keys: &OrgSearchKeys,
        org: &OrgId,
        candidates: &dyn Query,
        vector: &[f32],
    ) -> Result<Vec<(f64, DocAddress)>, PortError> {
        let f = &self.fields;
        let mut addrs: Vec<DocAddress> = searcher
            .search(candidates, &DocSetCollector)
            .map_err(unavailable)?
            .into_iter()
            .collect();
        addrs.sort_unstable();
        let mut scored = Vec::new();
        for addr in addrs {
            let doc: TantivyDocument = searcher.doc(addr).map_err(unavailable)?;
            let (Some(chunk), Some(sealed)) = (
                doc.get_first(f.chunk).and_then(|v| v.as_str()),
                doc.get_first(f.sealed_vector).and_then(|v| v.as_bytes()),
            ) else {
                continue;
            };
            let plain = keys.open("vector", org, chunk, sealed)?;
            if let Some(sim) = vector_of(&plain).and_then(|v| cosine(&v, vector)) {
                scored.push((sim, addr));
            }
        }
        scored.sort_by(|a, b| {
            b.0.partial_cmp(&a.0)
                .unwrap_or(Ordering::Equal)
                .then(a.1.cmp(&b.1))
        });
        scored.truncate(HYBRID_CANDIDATES);
        Ok(scored)
    }

    /// A stored chunk as a hit, its text decrypted.
    fn hit(
        &self,
        searcher: &Searcher,
        keys: &OrgSearchKeys,
        org: &OrgId,
        addr: DocAddress,
        score: f64,
    ) -> Result<SearchHit, PortError> {
        let f = &self.fields;
        let doc: TantivyDocument = searcher.doc(addr).map_err(unavailable)?;
        let malformed = || unavailable("a stored chunk is malformed");
        let text = |field| {
            doc.get_first(field)
                .and_then(|v| v.as_str())
                .ok_or_else(malformed)
        };
        let number = |field| {
            doc.get_first(field)
                .and_then(|v| v.as_u64())
                .ok_or_else(malformed)
        };
        let page = |field| number(field).and_then(|n| u32::try_from(n).map_err(|_| malformed()));
        let chunk_id = text(f.chunk)?.to_owned();
        let contract = ContractId::parse(text(f.contract)?).map_err(|_| malformed())?;
        let sealed = doc
            .get_first(f.sealed_text)
            .and_then(|v| v.as_bytes())
            .ok_or_else(malformed)?;
        let plain = keys.open("text", org, &chunk_id, sealed)?;
        let text_value = String::from_utf8(plain).map_err(|_| malformed())?;
        Ok(SearchHit {
            contract,
            start: number(f.start)?,
            end: number(f.end)?,
            page_start: page(f.page_start)?,
            page_end: page(f.page_end)?,
            score,
            text: text_value,
            chunk_id,
        })
    }
}

/// Reciprocal rank fusion of two best-first lists: each hit scores the sum over the lists it is in of
/// `1 / (RRF_K + rank)`, ranks from 1. Best first; ties in index order.
fn fuse(a: &[(f64, DocAddress)], b: &[(f64, DocAddress)]) -> Vec<(f64, DocAddress)> {
    let mut scores: HashMap<DocAddress, f64> = HashMap::new();
    for list in [a, b] {
        for (rank, (_, addr)) in list.iter().enumerate() {
            *scores.entry(*addr).or_default() += 1.0 / (RRF_K + (rank + 1) as f64);
        }
    }
    let mut fused: Vec<(f64, DocAddress)> = scores.into_iter().map(|(a, s)| (s, a)).collect();
    fused.sort_by(|x, y| {
        y.0.partial_cmp(&x.0)
            .unwrap_or(Ordering::Equal)
            .then(x.1.cmp(&y.1))
    });
    fused
}

/// The local search index (see the module docs). Open one per data directory and process: tantivy
/// allows one writer per index.
pub struct LocalIndex {
    inner: Arc<Inner>,
    keys: OrgKeys,
    search_keys: Mutex<HashMap<String, Arc<OrgSearchKeys>>>,
}

impl std::fmt::Debug for LocalIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalIndex").finish_non_exhaustive()
    }
}

impl LocalIndex {
    /// Opens (or creates) the index in `<data>/index/`. The org keys are the ones the local document
    /// store uses: the data keys in `store`, wrapped by `master`. Blocking file I/O: call at start-up.
    ///
    /// # Errors
    /// When the directory cannot be prepared, the index is unreadable or of another schema, or another
    /// writer holds it (another handler on this data directory).
    pub fn open(dir: &DataDir, store: LocalStore, master: MasterKey) -> Result<Self, IndexError> {
        let path = dir.subdir("index").map_err(index_err)?;
        let directory = MmapDirectory::open(&path).map_err(index_err)?;
        let index = Index::open_or_create(directory, Fields::schema()).map_err(index_err)?;
        let fields = Fields::of(&index.schema())?;
        let writer = index
            .writer_with_num_threads(1, WRITER_HEAP)
            .map_err(index_err)?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(index_err)?;
        Ok(Self {
            inner: Arc::new(Inner {
                path,
                index,
                reader,
                writer: Mutex::new(writer),
                queue: Mutex::new(Queue {
                    open: 1,
                    ..Queue::default()
                }),
                settled: Condvar::new(),
                fields,
            }),
            keys: OrgKeys::new(store, master),
            search_keys: Mutex::default(),
        })
    }

    async fn org_keys(&self, org: &OrgId) -> Result<Arc<OrgSearchKeys>, PortError> {
        self.keys.store().touch_tenant(org.as_str());
        let cached = self
            .search_keys
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(org.as_str())
            .cloned();
        if let Some(k) = cached {
            return Ok(k);
        }
        let dk = self.keys.data_key(org).await?;
        let derived = Arc::new(OrgSearchKeys::derive(&dk));
        self.search_keys
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(org.as_str().to_owned(), derived.clone());
        Ok(derived)
    }

    async fn blocking<T, F>(&self, f: F) -> Result<T, PortError>
    where
        T: Send + 'static,
        F: FnOnce(&Inner) -> Result<T, PortError> + Send + 'static,
    {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || f(&inner))
            .await
            .map_err(unavailable)?
    }

    /// How big the index is on disk, in bytes (diagnostics, benchmarks).
    ///
    /// # Errors
    /// When the directory cannot be read.
    pub async fn size_on_disk(&self) -> Result<u64, PortError> {
        self.blocking(|inner| {
            let mut total = 0;
            for entry in std::fs::read_dir(&inner.path).map_err(unavailable)? {
                let meta = entry.and_then(|e| e.metadata()).map_err(unavailable)?;
                if meta.is_file() {
                    total += meta.len();
                }
            }
            Ok(total)
        })
        .await
    }
}

#[async_trait]
impl SearchIndex for LocalIndex {
    async fn ensure_ready(&self) -> Result<(), PortError> {
        self.blocking(|inner| {
            inner.index.load_metas().map_err(unavailable)?;
            Ok(())
        })
        .await
    }

    async fn replace_contract(
        &self,
        scope: &TenantScope,
        contract: ContractId,
        chunks: Vec<ChunkDoc>,
    ) -> Result<(), PortError> {
        let org = scope.org().clone();
        let keys = self.org_keys(&org).await?;
        self.blocking(move |inner| {
            let docs = inner.documents(&keys, &org, contract, chunks)?;
            inner.replace(&org, contract, docs)
        })
        .await
    }

    async fn delete_contract(
        &self,
        scope: &TenantScope,
        contract: ContractId,
    ) -> Result<(), PortError> {
        let org = scope.org().clone();
        self.keys.store().touch_tenant(org.as_str());
        self.blocking(move |inner| inner.replace(&org, contract, Vec::new()))
            .await
    }

    async fn search(
        &self,
        scope: &TenantScope,
        query: &SearchQuery,
    ) -> Result<SearchPage, PortError> {
        let org = scope.org().clone();
        let keys = self.org_keys(&org).await?;
        let query = query.clone();
        self.blocking(move |inner| inner.search(&keys, &org, &query))
            .await
    }

    async fn count(&self, scope: &TenantScope, contract: ContractId) -> Result<u64, PortError> {
        let org = scope.org().clone();
        self.keys.store().touch_tenant(org.as_str());
        self.blocking(move |inner| inner.count(&org, contract))
            .await
    }
}

#[async_trait]
impl HealthCheck for LocalIndex {
    fn name(&self) -> &'static str {
        "search-index"
    }

    async fn probe(&self) -> Result<(), String> {
        self.ensure_ready().await.map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(doc: u32) -> DocAddress {
        DocAddress::new(0, doc)
    }

    #[test]
    fn fusion_adds_reciprocal_ranks() {
        // Second by words, first by vectors, beats first by words, third by vectors.
        let words = [(9.0, addr(0)), (8.0, addr(1)), (7.0, addr(2))];
        let vectors = [(0.9, addr(1)), (0.3, addr(2)), (0.1, addr(0))];
        let fused = fuse(&words, &vectors);
        assert_eq!(fused[0].1, addr(1));
        assert!((fused[0].0 - (1.0 / 62.0 + 1.0 / 61.0)).abs() < 1e-12);
        assert_eq!(fused.len(), 3);
        // A hit in one list only still counts.
        let fused = fuse(&words[..1], &[(0.5, addr(5))]);
        assert_eq!(fused.len(), 2);
        assert_eq!(fused[0].0, fused[1].0);
        assert_eq!(fused[0].1, addr(0), "ties in index order");
    }

    #[test]
    fn cosine_and_vector_bytes() {
        assert_eq!(cosine(&[1.0, 0.0], &[2.0, 0.0]), Some(1.0));
        assert_eq!(cosine(&[1.0, 0.0], &[0.0, 3.0]), Some(0.0));
        assert_eq!(cosine(&[1.0], &[1.0, 0.0]), None, "dimensions differ");
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 0.0]), None, "no direction");
        let v = vec![0.25f32, -1.5, 3.0e-7];
        assert_eq!(vector_of(&vector_bytes(&v)), Some(v));
        assert_eq!(vector_of(&[1, 2, 3]), None);
    }

    /// The on-disk format is pinned: changing the derivation would silently orphan existing indexes.
    /// Expected values computed independently with Python (`hmac`/`hashlib` HKDF per RFC 5869 and
    /// `cryptography`'s AESGCM).
    #[test]
    fn token_and_sealing_formats_are_pinned() {
        let ikm: [u8; 32] = std::array::from_fn(|i| u8::try_from(i).unwrap());
        let keys = OrgSearchKeys::derive(&DataKey::from_test_bytes(&ikm));
        assert_eq!(keys.token("termin"), "46c84a0a9de0949096e505134d596e56");
        assert_eq!(keys.token("quokka"), "b71ed582f899592649e526fcc00e0279");
        // version 1, an all-zero nonce, then ciphertext and tag.
        let mut sealed = vec![1u8];
        sealed.extend_from_slice(&[0u8; 12]);
        sealed.extend_from_slice(
            &hex::decode("779bb458d99ce026db1296ca4ab69647204049c90c52").unwrap(),
        );
        let org = OrgId::parse("acme").unwrap();
        assert_eq!(keys.open("text", &org, "c-0", &sealed).unwrap(), b"clause");
    }

    #[test]
    fn tokens_are_keyed_per_org_and_sealed_values_bound_to_their_chunk() {
        let a = OrgSearchKeys::derive(&DataKey::from_test_bytes(&[1; 32]));
        let b = OrgSearchKeys::derive(&DataKey::from_test_bytes(&[2; 32]));
        let t = a.token("termin");
        assert_eq!(t.len(), 2 * TOKEN_BYTES);
        assert!(t.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(t, a.token("termin"), "deterministic within an org");
        assert_ne!(t, b.token("termin"), "another org, another hash");
        assert_ne!(t, a.token("termination"));

        let org = OrgId::parse("acme").unwrap();
        let other = OrgId::parse("globex").unwrap();
        let sealed = a.seal("text", &org, "c-0", b"secret clause").unwrap();
        assert_ne!(
            sealed,
            a.seal("text", &org, "c-0", b"secret clause").unwrap()
        );
        assert!(!sealed.windows(6).any(|w| w == b"secret"));
        assert_eq!(
            a.open("text", &org, "c-0", &sealed).unwrap(),
            b"secret clause"
        );
        assert!(
            a.open("text", &org, "c-1", &sealed).is_err(),
            "another chunk"
        );
        assert!(
            a.open("text", &other, "c-0", &sealed).is_err(),
            "another org"
        );
        assert!(
            a.open("vector", &org, "c-0", &sealed).is_err(),
            "another purpose"
        );
        assert!(b.open("text", &org, "c-0", &sealed).is_err(), "another key");
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 1;
            assert!(a.open("text", &org, "c-0", &bad).is_err(), "byte {i}");
        }
        assert!(a.open("text", &org, "c-0", &[]).is_err());
        assert!(a.open("text", &org, "c-0", &sealed[..10]).is_err());
    }
}
