//! Data minimisation: which of the contract's own passages a remote model sees. The chunks most
//! likely to hold the requested categories are picked within a token budget; their union, in
//! document order, is what is sent, and its tokens are counted against the whole contract's.
//!
//! # Ranking
//! For every requested category each chunk is scored with BM25 (`k1` 1.2, `b` 0.75) over the search
//! index's own words ([`crate::text::analyze`]) and adjacent word pairs, against a query made of the
//! category's name, its description (down-weighted) and curated keywords and phrases
//! ([`query_for`]). The score becomes the probability that the chunk holds a clause of the category:
//! a logistic function of the score per unit of query weight, the score relative to the document's
//! best, the rank, and a per-category prior (how common the clause is and how many passages it
//! usually spans). The constants were fitted on CUAD dev (60 contracts) and checked by two-fold
//! cross-validation. [`Evidence`] (the offline first pass's hits, a vector search) is fused in:
//! a chunk at rank `r` of an evidence list holds the category with a probability that starts at
//! [`SelectOptions::evidence_precision`] and falls with the rank as the words' does, and the two are
//! combined as independent signals (noisy-or). Calibrated probabilities fuse better here than
//! reciprocal rank fusion: they keep how strong a match is, so categories whose words are nowhere in
//! the text spend nothing.
//!
//! # Picking
//! A chunk's value is the expected number of clauses it holds, summed over the requested
//! categories (a table of contents is discounted). The leading chunk (title, parties, dates) is
//! always taken when a `Terms` category is asked for; then chunks are taken by value per token, as
//! long as they are worth something (0.02 expected clauses), until the budget is spent:
//! `max_ratio` of the contract's tokens, at least `min_tokens`, at most `max_tokens`. A contract of
//! at most `min_tokens` tokens is sent whole. Each group's context is the picked chunks that are
//! worth something to its categories.
//!
//! Tokens are counted with `o200k_base`, the GPT-4o tokenizer, loaded once per process.
//!
//! On CUAD dev with all 41 categories the defaults send 33 % of the tokens (aggregate; 34 % mean
//! per contract), and 75.5 % of the labelled spans lie inside the selection with words alone, about
//! 80 % with the offline first pass's hits as evidence (`tests/review_eval.rs` measures it). A
//! perfect retriever could reach about 92 % within the same per-contract budget; 90 % takes about
//! 58 % of the tokens with words alone, 52 % with the first pass.

use std::collections::HashMap;
use std::sync::OnceLock;

use tiktoken_rs::CoreBPE;

use super::categories::{Category, Group};
use super::provider::ReviewDocument;
use crate::text::analyze;

/// Budget and ranking knobs.
#[derive(Clone, Debug, PartialEq)]
pub struct SelectOptions {
    /// Largest share of the contract's tokens that may be sent (0..=1).
    pub max_ratio: f64,
    /// Tokens that may always be sent, whatever the ratio (short contracts are sent whole).
    pub min_tokens: usize,
    /// Upper bound on tokens sent, whatever the contract's size (the model's context).
    pub max_tokens: usize,
    /// Leading chunks always sent when a `Terms` category is asked for (title, parties, dates).
    pub head_chunks: u32,
    /// How often the first chunk of an evidence list holds its category (0..1). The offline first
    /// pass's first hit did in about 80 % of cases on CUAD dev.
    pub evidence_precision: f64,
}

impl Default for SelectOptions {
    fn default() -> Self {
        Self {
            max_ratio: 0.34,
            min_tokens: 400,
            max_tokens: 60_000,
            head_chunks: 1,
            evidence_precision: 0.8,
        }
    }
}

/// Extra evidence for ranking: chunks another retriever ranked for a category (best first), such as
/// the first pass's hits or a vector search.
#[derive(Clone, Debug, Default)]
pub struct Evidence {
    /// `(category, chunk ordinals best first)`.
    pub ranked: Vec<(&'static Category, Vec<u32>)>,
}

/// The passages picked for one group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupContext {
    /// The group.
    pub group: Group,
    /// Its categories that were asked for.
    pub categories: Vec<&'static Category>,
    /// Chunk ordinals, in document order.
    pub chunks: Vec<u32>,
}

/// What is sent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selection {
    /// Per group.
    pub groups: Vec<GroupContext>,
    /// The union of the groups' chunks, in document order: what is sent.
    pub chunks: Vec<u32>,
    /// Tokens of contract text in `chunks` (their union: overlapping text counted once).
    pub tokens_sent: u64,
    /// Tokens of the whole contract.
    pub contract_tokens: u64,
}

fn tokenizer() -> Option<&'static CoreBPE> {
    static BPE: OnceLock<Option<CoreBPE>> = OnceLock::new();
    BPE.get_or_init(|| tiktoken_rs::o200k_base().ok()).as_ref()
}

/// Loads the tokenizer now (otherwise the first count does), so that its one-off cost is not paid
/// inside a review.
pub fn warm_up() {
    let _ = tokenizer();
}

/// Tokens of `text` as the models count them (`o200k_base`, the GPT-4o tokenizer; text that looks
/// like a special token is counted as plain text).
#[must_use]
pub fn count_tokens(text: &str) -> usize {
    match tokenizer() {
        Some(bpe) => bpe.encode_ordinary(text).len(),
        // The encoding is compiled in, so this is not expected: about four characters per token.
        None => text.chars().count().div_ceil(4),
    }
}

/// A run of sent text: characters and bytes.
#[derive(Clone, Copy)]
struct Run {
    start: u64,
    end: u64,
    start_byte: usize,
    end_byte: usize,
}

/// The runs of text that `chunks` (ordinals, any order) make: chunks merged where they overlap or
/// only white space separates them.
fn runs(doc: &ReviewDocument, chunks: &[u32]) -> Vec<Run> {
    let text = doc.text().expose_to_provider();
    let mut spans: Vec<Run> = chunks
        .iter()
        .filter_map(|&c| doc.chunks().get(c as usize))
        .map(|c| Run {
            start: c.start,
            end: c.end,
            start_byte: c.start_byte,
            end_byte: c.end_byte,
        })
        .collect();
    spans.sort_unstable_by_key(|r| (r.start, r.end));
    let mut out: Vec<Run> = Vec::with_capacity(spans.len());
    for r in spans {
        match out.last_mut() {
            Some(last)
                if r.start <= last.end
                    || text
                        .get(last.end_byte..r.start_byte)
                        .is_some_and(|gap| gap.trim().is_empty()) =>
            {
                if r.end > last.end {
                    last.end = r.end;
                    last.end_byte = r.end_byte;
                }
            }
            _ => out.push(r),
        }
    }
    out
}

/// The character ranges `[start, end)` of the text that `chunks` (ordinals, any order) send: the
/// chunks merged where they overlap or only white space separates them. A span lying inside one of
/// them is in the context.
#[must_use]
pub fn sent_ranges(doc: &ReviewDocument, chunks: &[u32]) -> Vec<(u64, u64)> {
    runs(doc, chunks)
        .into_iter()
        .map(|r| (r.start, r.end))
        .collect()
}

/// Picks the passages for `categories`.
#[must_use]
pub fn select(
    doc: &ReviewDocument,
    categories: &[&'static Category],
    evidence: &Evidence,
    options: &SelectOptions,
) -> Selection {
    let text = doc.text().expose_to_provider();
    let contract_tokens = count_tokens(text) as u64;
    let n = doc.chunks().len();
    if n == 0 || categories.is_empty() {
        return Selection {
            contract_tokens,
            ..Selection::default()
        };
    }
    let passages = passages(doc);
    let whole = contract_tokens <= options.min_tokens as u64;
    let picked = if whole {
        Picked {
            chunks: vec![true; n],
            groups: vec![Group::ALL.to_vec(); n],
        }
    } else {
        let budget = (options.max_ratio * contract_tokens as f64)
            .max(options.min_tokens as f64)
            .min(options.max_tokens as f64);
        pick(&passages, categories, evidence, options, budget as usize)
    };
    let chunks: Vec<u32> = (0..n).filter(|&i| picked.chunks[i]).map(ordinal).collect();
    let groups = Group::ALL
        .iter()
        .filter_map(|&g| {
            let cats: Vec<&'static Category> = categories
                .iter()
                .copied()
                .filter(|c| c.group == g)
                .collect();
            if cats.is_empty() {
                return None;
            }
            let mine = chunks
                .iter()
                .copied()
                .filter(|&c| picked.groups[c as usize].contains(&g))
                .collect();
            Some(GroupContext {
                group: g,
                categories: cats,
                chunks: mine,
            })
        })
        .collect();
    let tokens_sent = if whole {
        contract_tokens
    } else {
        runs(doc, &chunks)
            .iter()
            .map(|r| count_tokens(&text[r.start_byte..r.end_byte]) as u64)
            .sum()
    };
    Selection {
        groups,
        chunks,
        tokens_sent,
        contract_tokens,
    }
}

/// For each chunk, the probability that it holds a clause of `category` (words and `evidence`),
/// best first: what [`select`] weighs. For diagnostics.
#[must_use]
pub fn ranking(
    doc: &ReviewDocument,
    category: &'static Category,
    evidence: &Evidence,
    options: &SelectOptions,
) -> Vec<(u32, f64)> {
    let index = Bm25::new(&passages(doc));
    let mut out: Vec<(u32, f64)> = probabilities(&index, category, evidence, options)
        .into_iter()
        .enumerate()
        .filter(|&(_, p)| p > 0.0)
        .map(|(i, p)| (ordinal(i), p))
        .collect();
    out.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    out
}

fn passages(doc: &ReviewDocument) -> Vec<&str> {
    (0..doc.chunks().len())
        .map(|i| doc.passage(ordinal(i)).unwrap_or(""))
        .collect()
}

fn ordinal(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
}

/// The picked chunks and, for each, the groups it serves.
struct Picked {
    chunks: Vec<bool>,
    groups: Vec<Vec<Group>>,
}

/// Calibration of a chunk's BM25 score as the log-odds that it holds the category: intercept, then
/// the weights of ln(score per unit of query weight), ln(score / the document's best) and
/// ln(rank + 1). Fitted (logistic regression) on CUAD dev.
const CALIBRATION: [f64; 4] = [-0.8956, 1.5132, 0.4186, -0.6686];
/// Chunks expected to hold fewer clauses than this are not sent, even within the budget (so a review
/// of a few categories sends only what may hold them).
const MIN_EXPECTED: f64 = 0.02;
/// A table of contents is worth this share of its words' value.
const CONTENTS_DISCOUNT: f64 = 0.2;
/// A group's context holds the picked chunks worth at least this share of the chunk's best group.
const GROUP_SHARE: f64 = 0.25;

fn logistic(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// Per chunk, the probability that it holds a clause of `c`.
fn probabilities(
    index: &Bm25,
    c: &'static Category,
    evidence: &Evidence,
    options: &SelectOptions,
) -> Vec<f64> {
    let n = index.docs.len();
    let [intercept, per_weight, relative, rank] = CALIBRATION;
    let query = query_for(c);
    let mass = query.iter().map(|(_, w)| w).sum::<f64>().max(f64::EPSILON);
    let words = index.rank(&query);
    let top = words.first().map_or(1.0, |x| x.1);
    let mut p = vec![0.0f64; n];
    for (r, &(i, s)) in words.iter().enumerate() {
        let z = intercept
            + per_weight * (s / mass).max(1e-3).ln()
            + relative * (s / top).max(1e-3).ln()
            + rank * ((r + 1) as f64).ln()
            + prior(c.key);
        p[i] = logistic(z);
    }
    let precision = options.evidence_precision.clamp(1e-6, 1.0 - 1e-6);
    let first = (precision / (1.0 - precision)).ln();
    for (_, ranked) in evidence
        .ranked
        .iter()
        .filter(|(e, _)| std::ptr::eq(*e, c) || e.key == c.key)
    {
        let mut seen: Vec<usize> = Vec::new();
        for &i in ranked {
            let i = i as usize;
            if i < n && !seen.contains(&i) {
                let pe = logistic(first + rank * ((seen.len() + 1) as f64).ln());
                p[i] = 1.0 - (1.0 - p[i]) * (1.0 - pe);
                seen.push(i);
            }
        }
    }
    p
}

fn pick(
    passages: &[&str],
    categories: &[&'static Category],
    evidence: &Evidence,
    options: &SelectOptions,
    budget: usize,
) -> Picked {
    let n = passages.len();
    let index = Bm25::new(passages);
    let cost: Vec<usize> = passages.iter().map(|p| count_tokens(p).max(1)).collect();
    let discount: Vec<f64> = passages
        .iter()
        .map(|p| {
            if is_contents(p) {
                CONTENTS_DISCOUNT
            } else {
                1.0
            }
        })
        .collect();
    // Expected clauses per chunk, per group.
    let mut by_group = vec![[0.0f64; Group::ALL.len()]; n];
    for &c in categories {
        let g = Group::ALL.iter().position(|&g| g == c.group).unwrap_or(0);
        for (i, p) in probabilities(&index, c, evidence, options)
            .into_iter()
            .enumerate()
        {
            by_group[i][g] += p * discount[i];
        }
    }
    let value: Vec<f64> = by_group.iter().map(|v| v.iter().sum()).collect();
    let mut picked = Picked {
        chunks: vec![false; n],
        groups: vec![Vec::new(); n],
    };
    let mut spent = 0usize;
    if categories.iter().any(|c| c.group == Group::Terms) {
        let head = (options.head_chunks as usize).min(n);
        for (i, &c) in cost.iter().enumerate().take(head) {
            // The first chunk even beyond the budget: without it nothing can be named or dated.
            if i == 0 || spent + c <= budget {
                picked.chunks[i] = true;
                picked.groups[i].push(Group::Terms);
                spent += c;
            }
        }
    }
    let mut order: Vec<usize> = (0..n).filter(|&i| value[i] >= MIN_EXPECTED).collect();
    order.sort_by(|&a, &b| {
        (value[b] / cost[b] as f64)
            .total_cmp(&(value[a] / cost[a] as f64))
            .then(a.cmp(&b))
    });
    for i in order {
        if !picked.chunks[i] && spent + cost[i] <= budget {
            picked.chunks[i] = true;
            spent += cost[i];
        }
    }
    for i in (0..n).filter(|&i| picked.chunks[i]) {
        let best = by_group[i].iter().copied().fold(0.0, f64::max);
        for (k, &g) in Group::ALL.iter().enumerate() {
            if best > 0.0 && by_group[i][k] >= GROUP_SHARE * best && !picked.groups[i].contains(&g)
            {
                picked.groups[i].push(g);
            }
        }
    }
    picked
}

/// Whether a passage is a table of contents (dot leaders).
fn is_contents(p: &str) -> bool {
    p.matches(". .").count() + p.matches("...").count() >= 6
}

/// A BM25 index over the chunks: word terms and adjacent word pairs.
struct Bm25 {
    docs: Vec<HashMap<String, f64>>,
    lengths: Vec<f64>,
    avg_len: f64,
    df: HashMap<String, u32>,
}

const K1: f64 = 1.2;
const B: f64 = 0.75;

impl Bm25 {
    fn new(passages: &[&str]) -> Self {
        let mut docs = Vec::with_capacity(passages.len());
        let mut lengths = Vec::with_capacity(passages.len());
        let mut df: HashMap<String, u32> = HashMap::new();
        for p in passages {
            let terms: Vec<String> = analyze::tokens(p).into_iter().map(|t| t.term).collect();
            let mut tf: HashMap<String, f64> = HashMap::new();
            for t in &terms {
                *tf.entry(t.clone()).or_default() += 1.0;
            }
            for w in terms.windows(2) {
                *tf.entry(pair(&w[0], &w[1])).or_default() += 1.0;
            }
            for t in tf.keys() {
                *df.entry(t.clone()).or_default() += 1;
            }
            lengths.push(terms.len() as f64);
            docs.push(tf);
        }
        let avg_len = (lengths.iter().sum::<f64>() / lengths.len().max(1) as f64).max(1.0);
        Self {
            docs,
            lengths,
            avg_len,
            df,
        }
    }

    fn idf(&self, term: &str) -> f64 {
        let n = self.docs.len() as f64;
        let df = f64::from(self.df.get(term).copied().unwrap_or(0));
        (1.0 + (n - df + 0.5) / (df + 0.5)).ln()
    }

    /// Chunks with a positive score for `query` (`(term, weight)`), best first.
    fn rank(&self, query: &[(String, f64)]) -> Vec<(usize, f64)> {
        let idf: Vec<f64> = query.iter().map(|(t, _)| self.idf(t)).collect();
        let mut out: Vec<(usize, f64)> = self
            .docs
            .iter()
            .enumerate()
            .map(|(i, tf)| {
                let norm = K1 * (1.0 - B + B * self.lengths[i] / self.avg_len);
                let score: f64 = query
                    .iter()
                    .zip(&idf)
                    .map(|((t, w), idf)| match tf.get(t) {
                        Some(&f) => w * idf * f * (K1 + 1.0) / (f + norm),
                        None => 0.0,
                    })
                    .sum();
                (i, score)
            })
            .filter(|&(_, s)| s > 0.0)
            .collect();
        out.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        out
    }
}

fn pair(a: &str, b: &str) -> String {
    format!("{a} {b}")
}

/// Words that carry no meaning in a query.
const STOP: &[&str] = &[
    "a",
    "an",
    "the",
    "of",
    "to",
    "in",
    "on",
    "or",
    "and",
    "is",
    "be",
    "by",
    "for",
    "with",
    "any",
    "such",
    "its",
    "it",
    "that",
    "this",
    "there",
    "which",
    "who",
    "what",
    "whether",
    "as",
    "at",
    "from",
    "are",
    "than",
    "if",
    "does",
    "do",
    "can",
    "will",
    "etc",
    "incl",
    "e",
    "g",
    "i",
    "s",
    "other",
    "one",
    "two",
    "more",
    "some",
    "all",
    "certain",
    "under",
    "upon",
    "into",
    "per",
    "has",
    "have",
    "includes",
    "include",
    "including",
    "also",
    "these",
    "those",
    "whose",
    "where",
    "when",
    "after",
    "before",
    "between",
    "contract",
    "party",
    "parties",
    "counterparty",
    "clause",
];

/// Weight of a word from the category's name, its curated keywords, and its description.
const NAME_WEIGHT: f64 = 1.0;
const KEYWORD_WEIGHT: f64 = 1.0;
const DESCRIPTION_WEIGHT: f64 = 0.3;
/// Weight of a word pair from a curated phrase.
const PHRASE_WEIGHT: f64 = 1.5;

/// The query for `category`: `(term, weight)`, terms as [`analyze`] makes them, word pairs (`a b`)
/// for phrases.
#[must_use]
pub fn query_for(category: &Category) -> Vec<(String, f64)> {
    let mut q: Vec<(String, f64)> = Vec::new();
    let mut add = |term: String, w: f64| match q.iter_mut().find(|(t, _)| *t == term) {
        Some(x) => x.1 += w,
        None => q.push((term, w)),
    };
    let words = |s: &str| -> Vec<String> {
        analyze::tokens(s)
            .into_iter()
            .filter(|t| !STOP.contains(&s[t.start..t.end].to_lowercase().as_str()))
            .map(|t| t.term)
            .collect()
    };
    for t in words(category.name) {
        add(t, NAME_WEIGHT);
    }
    for t in words(category.description) {
        add(t, DESCRIPTION_WEIGHT);
    }
    for item in keywords(category.key) {
        let terms: Vec<String> = analyze::tokens(item).into_iter().map(|t| t.term).collect();
        if let [one] = terms.as_slice() {
            add(one.clone(), KEYWORD_WEIGHT);
        } else {
            for w in terms.windows(2) {
                add(pair(&w[0], &w[1]), PHRASE_WEIGHT);
            }
        }
    }
    q
}

/// A category's prior, as log-odds added to the calibration: how common its clauses are and how many
/// passages they span (fitted on CUAD dev with the calibration, L2-regularised, rounded).
fn prior(key: &str) -> f64 {
    match key {
        "parties" => 2.8,
        "minimum-commitment" => 1.8,
        "audit-rights" => 1.7,
        "license-grant" => 1.5,
        "cap-on-liability" => 1.3,
        "post-termination-services" => 1.2,
        "revenue-profit-sharing" | "rofr-rofo-rofn" => 1.1,
        "anti-assignment" | "exclusivity" | "ip-ownership-assignment" => 0.9,
        "change-of-control" | "expiration-date" | "governing-law" | "insurance" => 0.7,
        "non-compete" => 0.6,
        "joint-ip-ownership" | "non-transferable-license" => 0.3,
        "covenant-not-to-sue" | "volume-restriction" => 0.2,
        "warranty-duration" => 0.1,
        "agreement-date" | "renewal-term" => 0.0,
        "document-name" => -0.1,
        "irrevocable-or-perpetual-license" => -0.3,
        "termination-for-convenience" | "uncapped-liability" => -0.4,
        "effective-date" => -0.5,
        "liquidated-damages" => -0.6,
        "no-solicit-of-employees" => -0.7,
        "non-disparagement" | "notice-period-to-terminate-renewal" => -0.8,
        "no-solicit-of-customers" => -1.0,
        "most-favored-nation" | "price-restrictions" => -1.2,
        "competitive-restriction-exception" => -1.3,
        "unlimited-all-you-can-eat-license" => -1.5,
        "affiliate-license-licensee" => -2.0,
        "third-party-beneficiary" => -2.1,
        "source-code-escrow" => -2.4,
        "affiliate-license-licensor" => -2.6,
        _ => 0.0,
    }
}

/// Curated words and phrases per category (by key): how such clauses are usually written.
fn keywords(key: &str) -> &'static [&'static str] {
    match key {
        "document-name" => &["agreement", "amendment", "title"],
        "parties" => &[
            "between",
            "among",
            "inc",
            "corporation",
            "company",
            "llc",
            "ltd",
            "limited",
            "hereinafter",
            "by and between",
            "referred to as",
            "principal place of business",
        ],
        "agreement-date" => &[
            "dated",
            "day",
            "made",
            "entered",
            "entered into",
            "dated as of",
        ],
        "effective-date" => &["effective", "commence", "commencement", "effective date"],
        "expiration-date" => &[
            "term",
            "expire",
            "expiration",
            "initial term",
            "years",
            "full force and effect",
            "until",
            "shall continue",
            "remain in effect",
            "period of",
            "expire on",
            "term of this agreement",
        ],
        "renewal-term" => &[
            "renew",
            "renewal",
            "automatically",
            "successive",
            "extend",
            "extension",
            "additional",
            "renewal term",
            "automatically renew",
        ],
        "notice-period-to-terminate-renewal" => &[
            "renew",
            "renewal",
            "notice",
            "prior",
            "expiration",
            "intent",
            "not to renew",
            "written notice",
            "days prior",
        ],
        "governing-law" => &[
            "governed",
            "construed",
            "laws",
            "state",
            "jurisdiction",
            "governing law",
            "governed by",
            "construed in accordance",
            "conflict of laws",
            "laws of the state",
            "governed by and construed",
            "in accordance with the laws",
            "applicable law",
        ],
        "most-favored-nation" => &[
            "favored",
            "favorable",
            "favourable",
            "nation",
            "lower",
            "better",
            "most favored",
            "no less favorable",
            "any other customer",
        ],
        "non-compete" => &[
            "compete",
            "competing",
            "competitive",
            "engage",
            "directly",
            "indirectly",
            "territory",
            "not compete",
            "directly or indirectly",
            "competitive products",
            "competition",
            "compete with",
            "competing product",
            "similar products",
            "any business",
            "engage in",
            "restricted period",
        ],
        "exclusivity" => &[
            "exclusive",
            "exclusively",
            "sole",
            "solely",
            "requirements",
            "exclusive basis",
            "exclusive distributor",
            "shall not",
            "exclusive right",
            "exclusively from",
            "sole source",
            "any other distributor",
            "within the territory",
            "exclusive rights",
        ],
        "no-solicit-of-customers" => &[
            "solicit",
            "customers",
            "clients",
            "induce",
            "divert",
            "solicit any customer",
        ],
        "competitive-restriction-exception" => &[
            "except",
            "notwithstanding",
            "exception",
            "exclusive",
            "compete",
            "shall not prevent",
            "nothing in this",
        ],
        "no-solicit-of-employees" => &[
            "solicit",
            "hire",
            "employ",
            "employees",
            "personnel",
            "recruit",
            "employment",
            "solicit for employment",
        ],
        "non-disparagement" => &[
            "disparage",
            "disparaging",
            "derogatory",
            "reputation",
            "negative",
            "statements",
        ],
        "termination-for-convenience" => &[
            "terminate",
            "termination",
            "convenience",
            "without cause",
            "for any reason",
            "at any time",
            "days prior written notice",
            "for convenience",
        ],
        "rofr-rofo-rofn" => &[
            "refusal",
            "first",
            "offer",
            "negotiation",
            "negotiate",
            "option",
            "right of first",
            "first refusal",
            "first negotiation",
            "right of first refusal",
            "right of first offer",
            "first right",
            "match",
            "bona fide offer",
            "offer to",
        ],
        "change-of-control" => &[
            "control",
            "merger",
            "acquisition",
            "acquire",
            "consolidation",
            "reorganization",
            "change of control",
            "substantially all",
            "operation of law",
            "voting",
            "change in control",
            "controlling",
            "acquires",
            "merges",
            "sale of all",
            "beneficial ownership",
            "merger or consolidation",
        ],
        "anti-assignment" => &[
            "assign",
            "assignment",
            "assigned",
            "transfer",
            "consent",
            "delegate",
            "successors",
            "prior written consent",
            "may not assign",
            "successors and assigns",
        ],
        "revenue-profit-sharing" => &[
            "revenue",
            "profit",
            "profits",
            "share",
            "royalty",
            "royalties",
            "percent",
            "net sales",
            "commission",
            "gross revenue",
            "pay",
            "fee",
            "fees",
            "compensation",
            "percentage",
            "gross sales",
            "gross receipts",
            "net revenue",
            "commissions",
            "royalty rate",
            "percent of",
            "of net sales",
        ],
        "price-restrictions" => &[
            "price",
            "prices",
            "pricing",
            "increase",
            "decrease",
            "adjust",
            "price increase",
            "not exceed",
            "price change",
            "increase the price",
            "not increase",
            "price protection",
            "fixed",
        ],
        "minimum-commitment" => &[
            "minimum",
            "purchase",
            "quantity",
            "units",
            "annual",
            "commitment",
            "shortfall",
            "minimum purchase",
            "at least",
            "minimum order",
            "minimum quantity",
            "not less than",
            "per year",
            "forecast",
            "targets",
            "performance goals",
            "minimum royalty",
            "minimum annual",
            "guarantee",
        ],
        "volume-restriction" => &[
            "volume",
            "exceed",
            "threshold",
            "maximum",
            "limit",
            "excess",
            "additional fees",
            "in excess of",
            "exceeds",
            "usage",
            "capacity",
            "maximum number",
            "more than",
            "additional charge",
        ],
        "ip-ownership-assignment" => &[
            "intellectual",
            "property",
            "ownership",
            "own",
            "owned",
            "assigns",
            "title",
            "inventions",
            "improvements",
            "hereby assigns",
            "right title and interest",
            "work product",
            "shall own",
            "exclusive property",
            "sole and exclusive property",
            "vest",
            "vests",
            "assign to",
            "work made for hire",
            "all right title",
        ],
        "joint-ip-ownership" => &[
            "jointly",
            "joint",
            "owned",
            "ownership",
            "inventions",
            "jointly owned",
            "joint ownership",
            "intellectual property",
            "joint inventions",
            "co-owned",
            "owned jointly",
            "undivided interest",
        ],
        "license-grant" => &[
            "license",
            "grants",
            "granted",
            "licensee",
            "licensor",
            "sublicense",
            "right to use",
            "hereby grants",
            "non-exclusive license",
            "exclusive license",
            "grants to",
            "license to",
            "licensed",
            "royalty-free",
            "non-exclusive",
            "worldwide",
        ],
        "non-transferable-license" => &[
            "non-transferable",
            "nontransferable",
            "transferable",
            "sublicensable",
            "license",
            "non-transferable license",
            "may not",
        ],
        "affiliate-license-licensor" => &["affiliates", "licensor", "license", "its affiliates"],
        "affiliate-license-licensee" => &[
            "affiliates",
            "licensee",
            "sublicensee",
            "subsidiaries",
            "license",
            "its affiliates",
        ],
        "unlimited-all-you-can-eat-license" => &[
            "unlimited",
            "enterprise",
            "users",
            "copies",
            "unlimited number",
        ],
        "irrevocable-or-perpetual-license" => &[
            "irrevocable",
            "perpetual",
            "license",
            "paid-up",
            "royalty-free",
            "perpetual license",
        ],
        "source-code-escrow" => &[
            "source",
            "code",
            "escrow",
            "deposit",
            "release",
            "source code",
        ],
        "post-termination-services" => &[
            "termination",
            "expiration",
            "following",
            "survive",
            "transition",
            "return",
            "destroy",
            "inventory",
            "upon termination",
            "after termination",
            "wind down",
            "sell off",
            "upon expiration",
            "following termination",
            "after the termination",
            "survive termination",
            "shall survive",
            "transition period",
            "effect of termination",
            "termination or expiration",
            "continue to",
            "following the termination",
        ],
        "audit-rights" => &[
            "audit",
            "inspect",
            "inspection",
            "books",
            "records",
            "examine",
            "accountant",
            "books and records",
            "auditor",
            "independent",
            "certified public accountant",
            "books of account",
            "normal business hours",
            "reasonable notice",
            "audit and inspect",
        ],
        "uncapped-liability" => &[
            "liability",
            "unlimited",
            "gross negligence",
            "willful misconduct",
            "shall not apply",
            "limitation of liability",
            "indemnification obligations",
        ],
        "cap-on-liability" => &[
            "liability",
            "limitation",
            "exceed",
            "aggregate",
            "maximum",
            "consequential",
            "in no event",
            "shall not exceed",
            "limitation of liability",
            "consequential damages",
            "liable",
            "damages",
            "indirect",
            "incidental",
            "punitive",
            "total liability",
            "aggregate liability",
            "lost profits",
            "liable for any",
        ],
        "liquidated-damages" => &[
            "liquidated",
            "damages",
            "penalty",
            "fee",
            "liquidated damages",
            "termination fee",
            "as liquidated damages",
            "break-up fee",
        ],
        "warranty-duration" => &[
            "warranty",
            "warrants",
            "defects",
            "workmanship",
            "months",
            "warranty period",
            "free from defects",
            "from the date",
            "months from",
            "days from",
            "date of delivery",
            "free from defects in material",
            "warranted",
            "defective",
            "replace",
            "repair",
            "after delivery",
            "following delivery",
        ],
        "insurance" => &[
            "insurance",
            "insured",
            "policy",
            "policies",
            "coverage",
            "insurer",
            "certificate",
            "additional insured",
            "per occurrence",
            "general liability",
        ],
        "covenant-not-to-sue" => &[
            "contest",
            "challenge",
            "validity",
            "sue",
            "claim",
            "not contest",
            "challenge the validity",
            "contest the validity",
            "not to sue",
            "shall not contest",
            "attack",
            "validity of",
            "ownership of",
        ],
        "third-party-beneficiary" => &[
            "beneficiary",
            "beneficiaries",
            "third",
            "enforce",
            "third party beneficiary",
            "third party beneficiaries",
        ],
        _ => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ContractId;
    use crate::ports::Extracted;
    use crate::review::categories::CATEGORIES;

    fn doc(text: &str) -> ReviewDocument {
        ReviewDocument::new(
            ContractId::new(),
            Extracted {
                text: text.to_owned(),
                pages: vec![0],
            },
        )
    }

    fn cat(name: &str) -> &'static Category {
        Category::find(name).unwrap()
    }

    /// A contract of 30 numbered sections of filler with a governing-law clause in section 17.
    fn contract() -> String {
        let filler = "The Supplier shall deliver the Goods to the Buyer's warehouse in good \
                      order, packed as the Specifications require, and shall keep the Buyer \
                      informed of the shipping schedule and of any delay in production. ";
        let mut text = String::from(
            "SUPPLY AGREEMENT\n\nThis Supply Agreement is made on 1 March 2020 between Acme \
             Corp. and Widget Ltd.\n\n",
        );
        for n in 1..=30 {
            text.push_str(&format!("{n}. Section {n}\n"));
            if n == 17 {
                text.push_str(
                    "This Agreement shall be governed by and construed in accordance with the \
                     laws of the State of Delaware, without regard to its conflict of laws \
                     principles. ",
                );
            }
            text.push_str(&filler.repeat(6));
            text.push_str("\n\n");
        }
        text
    }

    #[test]
    fn the_clause_and_the_head_are_picked_within_the_budget() {
        let d = doc(&contract());
        let text = d.text().expose_to_provider();
        let gl = cat("Governing Law");
        let options = SelectOptions::default();
        let s = select(&d, &[gl], &Evidence::default(), &options);
        let at = text.find("governed by and construed").unwrap();
        let clause = d.chunk_of(text[..at].chars().count() as u64);
        assert!(s.chunks.contains(&clause), "{:?} lacks {clause}", s.chunks);
        assert!(s.chunks.contains(&0), "the head is sent for Terms");
        assert!(s.chunks.windows(2).all(|w| w[0] < w[1]), "document order");
        // Nothing else in the text is about governing law: the budget is not filled for its sake.
        assert_eq!(s.chunks.len(), 2, "{:?}", s.chunks);
        assert_eq!(s.contract_tokens, count_tokens(text) as u64);
        assert!(s.tokens_sent > 0);
        assert!(s.tokens_sent as f64 <= options.max_ratio * s.contract_tokens as f64);
        let union: u64 = sent_ranges(&d, &s.chunks)
            .iter()
            .map(|&(a, b)| {
                let t: String = text
                    .chars()
                    .skip(a as usize)
                    .take((b - a) as usize)
                    .collect();
                count_tokens(&t) as u64
            })
            .sum();
        assert_eq!(s.tokens_sent, union);
        assert_eq!(s.groups.len(), 1);
        assert_eq!(s.groups[0].group, Group::Terms);
        assert!(s.groups[0].chunks.contains(&clause));
        // The words' ranking puts the clause first.
        let r = ranking(&d, gl, &Evidence::default(), &options);
        assert_eq!(r[0].0, clause);
        assert!(r[0].1 > 0.5 && r[0].1 < 1.0, "{}", r[0].1);
    }

    #[test]
    fn evidence_brings_in_a_chunk_the_words_miss() {
        let d = doc(&contract());
        let mfn = cat("Most Favored Nation");
        let options = SelectOptions::default();
        let plain = select(&d, &[mfn], &Evidence::default(), &options);
        assert!(!plain.chunks.contains(&23));
        let evidence = Evidence {
            ranked: vec![(mfn, vec![23, 23, 9_999])],
        };
        let s = select(&d, &[mfn], &evidence, &options);
        assert!(s.chunks.contains(&23), "{:?}", s.chunks);
        assert_eq!(s.groups[0].group, Group::Competition);
        assert!(s.groups[0].chunks.contains(&23));
    }

    #[test]
    fn short_contracts_are_sent_whole_and_nothing_is_sent_for_nothing() {
        let d = doc("NDA\n\nThe parties shall keep each other's information confidential.");
        let all: Vec<&'static Category> = CATEGORIES.iter().collect();
        let s = select(&d, &all, &Evidence::default(), &SelectOptions::default());
        assert_eq!(s.chunks, (0..d.chunks().len() as u32).collect::<Vec<_>>());
        assert_eq!(s.tokens_sent, s.contract_tokens);
        assert_eq!(s.groups.len(), Group::ALL.len());
        assert!(s.groups.iter().all(|g| g.chunks == s.chunks));

        let none = select(&d, &[], &Evidence::default(), &SelectOptions::default());
        assert!(none.chunks.is_empty() && none.groups.is_empty());
        assert_eq!(none.tokens_sent, 0);
        assert_eq!(none.contract_tokens, s.contract_tokens);
        let options = SelectOptions::default();
        let blank = select(&doc(" \n "), &all, &Evidence::default(), &options);
        assert!(blank.chunks.is_empty() && blank.tokens_sent == 0);
        let empty = select(&doc(""), &all, &Evidence::default(), &options);
        assert_eq!(empty, Selection::default());
    }

    #[test]
    fn tokens_are_counted_with_o200k() {
        assert_eq!(count_tokens(""), 0);
        assert_eq!(count_tokens("hello world"), 2);
        // Special tokens are plain text here.
        assert!(count_tokens("<|endoftext|>") > 1);
        let long = "governing law ".repeat(1_000);
        assert!((1_500..=2_500).contains(&count_tokens(&long)));
    }

    #[test]
    fn touching_chunks_make_one_run() {
        let d = doc(&contract());
        let n = d.chunks().len() as u32;
        assert!(n > 6);
        let r = sent_ranges(&d, &[4, 2, 3, 6]);
        assert_eq!(r.len(), 2, "{r:?}");
        assert_eq!(r[0], (d.chunks()[2].start, d.chunks()[4].end));
        assert_eq!(r[1], (d.chunks()[6].start, d.chunks()[6].end));
        assert!(sent_ranges(&d, &[n + 5]).is_empty());
    }

    #[test]
    fn every_category_has_a_query_and_a_prior() {
        for c in &CATEGORIES {
            assert!(query_for(c).len() >= 3, "{}", c.key);
            assert!(!keywords(c.key).is_empty(), "{}", c.key);
            assert!((-3.0..=3.0).contains(&prior(c.key)), "{}", c.key);
        }
        // Phrases become word pairs; stop words are dropped from the description.
        let q = query_for(cat("Governing Law"));
        assert!(q.iter().any(|(t, _)| t == "govern by"));
        assert!(!q.iter().any(|(t, _)| t == "the"));
    }
}
