//! Data minimisation: which of the contract's own sentences a remote model sees. The sentences most
//! likely to belong to the requested categories' clauses are picked within a token budget; runs of
//! consecutive picked sentences are the passages sent, in document order, and their tokens are
//! counted against the whole contract's.
//!
//! # Ranking, in two stages
//! **Chunks.** For every requested category each chunk (the search index's, about 1,000 to 1,500
//! characters) is scored with BM25 (`k1` 1.2, `b` 0.75) over the index's own words
//! ([`crate::text::analyze`]) and adjacent word pairs, against a query made of the category's name,
//! its description (down-weighted) and curated keywords and phrases ([`query_for`]). The score
//! becomes the probability that the chunk holds a clause of the category: a logistic function of
//! the score per unit of query weight, the score relative to the document's best, the rank, and a
//! per-category prior (fitted on CUAD dev, 60 contracts, checked by two-fold cross-validation).
//! [`Evidence::ranked`] (the first pass's hits) is fused in: a chunk at rank `r` of
//! an evidence list holds the category with a probability that starts at
//! [`SelectOptions::evidence_precision`] and falls with the rank as the words' does; the two are
//! combined as independent signals (noisy-or). Calibrated probabilities fuse better here than
//! reciprocal rank fusion: they keep how strong a match is, so categories whose words are nowhere in
//! the text spend nothing.
//!
//! **Sentences.** The text is cut into sentences and headings as the offline provider cuts it. Each
//! sentence is scored with BM25 against the same query (the sentence with its heading, over an index
//! of the document's sentences), and gets its chunk's probability in proportion to its score against
//! the chunk's best sentence: the best gets all of it, a sentence without the words none (a chunk
//! whose sentences all lack the words and were not quoted shares it out by tokens).
//! Sentences another pass quoted for the category ([`Evidence::quoted`]) are raised by noisy-or
//! with the evidence precision, and a sentence is worth at least a fifth of its heading.
//!
//! # Picking
//! A sentence's value is the expected number of clauses it belongs to, summed over the requested
//! categories (a table of contents is discounted); its cost is its tokens and those of what leads
//! up to it (white space, an enumerator), so the sum of costs bounds what is sent, and a passage
//! starts with its first sentence's enumerator. The opening sentences (title, parties, dates) are
//! taken first, within the budget, when a `Terms` category is asked for; then
//! sentences are taken by value per token, as long as they are worth something (0.02 expected
//! clauses), until the budget is spent: `max_ratio` of the contract's tokens, at least
//! `min_tokens`, at most `max_tokens`, and never more than `cap_ratio` (an org's own limit, which
//! `min_tokens` does not lift). A contract of at most `min_tokens` tokens is sent whole (unless the
//! cap says less). Each
//! group's context is the passages holding a sentence worth something to its categories.
//!
//! Tokens are counted with `o200k_base`, the GPT-4o tokenizer, loaded once per process.
//!
//! # Why sentences
//! Labelled clauses are sentences, not chunks: on CUAD dev the sentences that hold a labelled span
//! are 13.5 % of the tokens, while the chunks that hold one are about half. Sending whole chunks
//! (the previous design) covered 79.8 % of the labelled spans with 33 % of the tokens; sentences
//! cover 86.4 % with 34.5 % (aggregate; 34.8 % mean per contract), and 82.5 % with words alone,
//! without the first pass (`tests/review_eval.rs` measures both). With words alone and a per-contract
//! budget, 90 % takes about 45 % of the tokens.

use std::collections::HashMap;
use std::sync::OnceLock;

use tiktoken_rs::CoreBPE;

use super::categories::{Category, Group};
use super::offline::segment::Segments;
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
    /// Opening sentences (of the first chunk) taken first, within the budget, when a `Terms`
    /// category is asked for: title, parties, dates.
    pub head_sentences: usize,
    /// How often the first chunk of an evidence list holds its category (0..1). The offline first
    /// pass's first hit did in about 80 % of cases on CUAD dev.
    pub evidence_precision: f64,
    /// A share of the contract's tokens (0..=1) never exceeded, not even by `min_tokens` or by
    /// sending a short contract whole: an org's own limit.
    pub cap_ratio: Option<f64>,
}

impl Default for SelectOptions {
    fn default() -> Self {
        Self {
            max_ratio: 0.35,
            min_tokens: 200,
            max_tokens: 60_000,
            head_sentences: 6,
            evidence_precision: 0.8,
            cap_ratio: None,
        }
    }
}

/// Extra evidence for ranking: chunks another pass ranked for a category (best first), such as the
/// first pass's hits, and the text it quoted for the category. Evidence must be about as precise as
/// [`SelectOptions::evidence_precision`] says: a search of the index for the categories'
/// descriptions is not, and made the selection worse at every weight measured (ADR 0016).
#[derive(Clone, Debug, Default)]
pub struct Evidence {
    /// `(category, chunk ordinals best first)`.
    pub ranked: Vec<(&'static Category, Vec<u32>)>,
    /// `(category, start, end)`: characters another pass (the offline first pass) quoted for the
    /// category.
    pub quoted: Vec<(&'static Category, u64, u64)>,
}

/// One stretch of text that is sent: a run of consecutive sentences.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Passage {
    /// First character (Unicode scalar values).
    pub start: u64,
    /// One past the last character.
    pub end: u64,
    /// Byte offset of `start` in the text.
    pub start_byte: usize,
    /// Byte offset of `end`.
    pub end_byte: usize,
    /// The review chunk holding its first character.
    pub chunk: u32,
}

/// The passages picked for one group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupContext {
    /// The group.
    pub group: Group,
    /// Its categories that were asked for.
    pub categories: Vec<&'static Category>,
    /// Indices into [`Selection::passages`] of the passages worth something to the group, in
    /// document order.
    pub passages: Vec<u32>,
}

/// What is sent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selection {
    /// Per group.
    pub groups: Vec<GroupContext>,
    /// The passages, in document order, apart from one another: what is sent.
    pub passages: Vec<Passage>,
    /// Sentences in `passages`.
    pub sentences_sent: u32,
    /// Sentences of the whole contract.
    pub sentences: u32,
    /// Tokens of contract text in `passages`.
    pub tokens_sent: u64,
    /// Tokens of the whole contract.
    pub contract_tokens: u64,
}

impl Selection {
    /// The character ranges `[start, end)` that are sent. A span lying inside one of them is in the
    /// context.
    #[must_use]
    pub fn ranges(&self) -> Vec<(u64, u64)> {
        self.passages.iter().map(|p| (p.start, p.end)).collect()
    }

    /// The review chunks the passages start in, ascending, without repeats.
    #[must_use]
    pub fn chunks(&self) -> Vec<u32> {
        let mut out: Vec<u32> = self.passages.iter().map(|p| p.chunk).collect();
        out.dedup();
        out
    }
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

/// The document's sentences as selection sees them: where they are, what they cost, which chunk
/// holds them, and the text they are ranked by (the sentence after its heading).
struct Sentences {
    /// `(start, end)` in bytes.
    bytes: Vec<(usize, usize)>,
    /// `(start, end)` in characters.
    chars: Vec<(u64, u64)>,
    /// Where each one's lead-in starts, `(byte, character)`: the enumerator or section number
    /// before it (`d.`, `19.3.3`), after the white space that ends the sentence before. A passage
    /// that starts with the sentence starts there, so a clause is sent with its number.
    lead: Vec<(usize, u64)>,
    /// Tokens of each.
    cost: Vec<usize>,
    /// The review chunk holding each one's first character.
    chunk: Vec<usize>,
    /// The heading above each (an index into these sentences).
    heading: Vec<Option<usize>>,
    /// Heading and sentence, as ranked.
    ranked: Vec<String>,
}

impl Sentences {
    fn new(doc: &ReviewDocument, text: &str) -> Self {
        let seg = Segments::new(text);
        let units = &seg.units;
        let bytes: Vec<(usize, usize)> = units.iter().map(|u| (u.start, u.end)).collect();
        let chars: Vec<(u64, u64)> = (0..units.len())
            .map(|i| {
                let start = seg.char_offset(text, i, units[i].start);
                (
                    start,
                    start + text[bytes[i].0..bytes[i].1].chars().count() as u64,
                )
            })
            .collect();
        // A sentence costs its tokens and those of what leads up to it from the sentence before
        // (white space, an enumerator), which a run that holds both sends too.
        let cost = bytes
            .iter()
            .enumerate()
            .map(|(i, &(a, b))| {
                let from = if i == 0 { a } else { bytes[i - 1].1.min(a) };
                count_tokens(&text[from..b]).max(1)
            })
            .collect();
        let lead = bytes
            .iter()
            .zip(&chars)
            .enumerate()
            .map(|(i, (&(a, _), &(a_char, _)))| {
                let from = if i == 0 { a } else { bytes[i - 1].1.min(a) };
                let lead = text[from..a].trim_start();
                (a - lead.len(), a_char - lead.chars().count() as u64)
            })
            .collect();
        let chunk = chars
            .iter()
            .map(|&(a, _)| doc.chunk_of(a) as usize)
            .collect();
        let heading: Vec<Option<usize>> = units
            .iter()
            .map(|u| u.heading.map(|h| h as usize))
            .collect();
        let ranked = (0..units.len())
            .map(|i| {
                let own = &text[bytes[i].0..bytes[i].1];
                match heading[i] {
                    Some(h) => format!("{} {own}", &text[bytes[h].0..bytes[h].1]),
                    None => own.to_owned(),
                }
            })
            .collect();
        Self {
            bytes,
            chars,
            lead,
            cost,
            chunk,
            heading,
            ranked,
        }
    }

    fn len(&self) -> usize {
        self.bytes.len()
    }
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
    if doc.chunks().is_empty() || categories.is_empty() {
        return Selection {
            contract_tokens,
            ..Selection::default()
        };
    }
    let sentences = Sentences::new(doc, text);
    let m = sentences.len();
    if m == 0 {
        return Selection {
            contract_tokens,
            ..Selection::default()
        };
    }
    let cap = options
        .cap_ratio
        .map(|r| r.clamp(0.0, 1.0) * contract_tokens as f64);
    let (picked, serves) = if contract_tokens <= options.min_tokens as u64
        && cap.is_none_or(|c| c >= contract_tokens as f64)
    {
        (vec![true; m], vec![Group::ALL.to_vec(); m])
    } else {
        let budget = (options.max_ratio * contract_tokens as f64)
            .max(options.min_tokens as f64)
            .min(options.max_tokens as f64)
            .min(cap.unwrap_or(f64::INFINITY));
        pick(
            doc,
            &sentences,
            categories,
            evidence,
            options,
            budget as usize,
        )
    };
    // Runs of consecutive picked sentences are the passages (with what lies between them:
    // white space, an enumerator), each from its first sentence's lead-in.
    let mut passages: Vec<Passage> = Vec::new();
    let mut passage_groups: Vec<Vec<Group>> = Vec::new();
    for i in (0..m).filter(|&i| picked[i]) {
        let (start_byte, start) = sentences.lead[i];
        let end_byte = sentences.bytes[i].1;
        let end = sentences.chars[i].1;
        match passages.last_mut() {
            Some(last) if i > 0 && picked[i - 1] => {
                last.end = end;
                last.end_byte = end_byte;
            }
            _ => {
                passages.push(Passage {
                    start,
                    end,
                    start_byte,
                    end_byte,
                    chunk: ordinal(sentences.chunk[i]),
                });
                passage_groups.push(Vec::new());
            }
        }
        if let Some(groups) = passage_groups.last_mut() {
            for &g in &serves[i] {
                if !groups.contains(&g) {
                    groups.push(g);
                }
            }
        }
    }
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
            let mine = (0..passages.len())
                .filter(|&p| passage_groups[p].contains(&g))
                .map(ordinal)
                .collect();
            Some(GroupContext {
                group: g,
                categories: cats,
                passages: mine,
            })
        })
        .collect();
    let tokens_sent = passages
        .iter()
        .map(|p| count_tokens(&text[p.start_byte..p.end_byte]) as u64)
        .sum();
    Selection {
        groups,
        passages,
        sentences_sent: ordinal(picked.iter().filter(|&&p| p).count()),
        sentences: ordinal(m),
        tokens_sent,
        contract_tokens,
    }
}

/// For each chunk, the probability that it holds a clause of `category` (words and `evidence`),
/// best first: the first stage of [`select`]. For diagnostics.
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

/// Calibration of a chunk's BM25 score as the log-odds that it holds the category: intercept, then
/// the weights of ln(score per unit of query weight), ln(score / the document's best) and
/// ln(rank + 1). Fitted (logistic regression) on CUAD dev.
const CALIBRATION: [f64; 4] = [-0.8956, 1.5132, 0.4186, -0.6686];
/// Sentences expected to hold fewer clauses than this are not sent, even within the budget (so a
/// review of a few categories sends only what may hold them).
const MIN_EXPECTED: f64 = 0.02;
/// A table of contents is worth this share of its words' value.
const CONTENTS_DISCOUNT: f64 = 0.2;
/// A group's context holds the picked sentences worth at least this share of the sentence's best
/// group.
const GROUP_SHARE: f64 = 0.25;
/// A sentence under a heading is worth at least this share of what the heading is worth (a
/// clause's heading often names it when its sentences do not).
const HEADING_SHARE: f64 = 0.2;

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

/// Per sentence, the probability that it belongs to a clause of `c`: its chunk's probability
/// ([`probabilities`]) shared out among the chunk's sentences by their own BM25 scores (the best
/// one gets all of it, a sentence without the words none; by tokens when no sentence has them),
/// raised where another pass quoted it and where its heading scores.
fn sentence_probabilities(
    chunk_p: &[f64],
    sentences: &Sentences,
    index: &Bm25,
    c: &'static Category,
    evidence: &Evidence,
    options: &SelectOptions,
) -> Vec<f64> {
    let m = sentences.len();
    let mut score = vec![0.0f64; m];
    for (i, s) in index.rank(&query_for(c)) {
        score[i] = s;
    }
    let mut best = vec![0.0f64; chunk_p.len()];
    for (&k, &s) in sentences.chunk.iter().zip(&score) {
        best[k] = best[k].max(s);
    }
    // Sentences another pass quoted (in document order: those overlapping each quote).
    let mut quoted = vec![false; m];
    for &(_, start, end) in evidence
        .quoted
        .iter()
        .filter(|(e, _, _)| std::ptr::eq(*e, c) || e.key == c.key)
    {
        let from = sentences.chars.partition_point(|&(_, e)| e <= start);
        for i in (from..m).take_while(|&i| sentences.chars[i].0 < end) {
            quoted[i] = true;
        }
    }
    let mut tokens = vec![0usize; chunk_p.len()];
    let mut chunk_quoted = vec![false; chunk_p.len()];
    for i in 0..m {
        tokens[sentences.chunk[i]] += sentences.cost[i];
        chunk_quoted[sentences.chunk[i]] |= quoted[i];
    }
    let precision = options.evidence_precision.clamp(0.0, 1.0);
    (0..m)
        .map(|i| {
            let k = sentences.chunk[i];
            let q = if best[k] > 0.0 {
                chunk_p[k] * score[i] / best[k]
            } else if chunk_quoted[k] {
                // The chunk's evidence is the quote itself.
                0.0
            } else {
                // Evidence without the words or a quote (a vector search): no sentence stands
                // out, so each is worth its share of the chunk's tokens.
                chunk_p[k] * sentences.cost[i] as f64 / tokens[k].max(1) as f64
            };
            if quoted[i] {
                1.0 - (1.0 - q) * (1.0 - precision)
            } else {
                q
            }
        })
        .collect()
}

/// The picked sentences and, for each, the groups it serves.
fn pick(
    doc: &ReviewDocument,
    sentences: &Sentences,
    categories: &[&'static Category],
    evidence: &Evidence,
    options: &SelectOptions,
    budget: usize,
) -> (Vec<bool>, Vec<Vec<Group>>) {
    let m = sentences.len();
    let chunk_texts = passages(doc);
    let chunk_index = Bm25::new(&chunk_texts);
    let ranked: Vec<&str> = sentences.ranked.iter().map(String::as_str).collect();
    let sentence_index = Bm25::new(&ranked);
    let discount: Vec<f64> = (0..m)
        .map(|i| {
            let k = sentences.chunk[i];
            if chunk_texts.get(k).is_some_and(|p| is_contents(p)) {
                CONTENTS_DISCOUNT
            } else {
                1.0
            }
        })
        .collect();
    // Expected clauses per sentence, per group.
    let mut by_group = vec![[0.0f64; Group::ALL.len()]; m];
    for &c in categories {
        let g = Group::ALL.iter().position(|&g| g == c.group).unwrap_or(0);
        let chunk_p = probabilities(&chunk_index, c, evidence, options);
        let q = sentence_probabilities(&chunk_p, sentences, &sentence_index, c, evidence, options);
        for i in 0..m {
            // A clause's heading often names it when its sentences do not.
            let under = sentences.heading[i].map_or(0.0, |h| HEADING_SHARE * q[h]);
            by_group[i][g] += q[i].max(under) * discount[i];
        }
    }
    let value: Vec<f64> = by_group.iter().map(|v| v.iter().sum()).collect();
    let mut picked = vec![false; m];
    let mut serves: Vec<Vec<Group>> = vec![Vec::new(); m];
    let mut spent = 0usize;
    if categories.iter().any(|c| c.group == Group::Terms) {
        // The opening sentences (title, parties, date) first: without them nothing can be named
        // or dated. Within the budget all the same: a long preamble must not crowd out every
        // clause of a short contract.
        for i in (0..m.min(options.head_sentences)).filter(|&i| sentences.chunk[i] == 0) {
            if spent + sentences.cost[i] > budget {
                continue;
            }
            picked[i] = true;
            serves[i].push(Group::Terms);
            spent += sentences.cost[i];
        }
    }
    let mut order: Vec<usize> = (0..m).filter(|&i| value[i] >= MIN_EXPECTED).collect();
    order.sort_by(|&a, &b| {
        (value[b] / sentences.cost[b] as f64)
            .total_cmp(&(value[a] / sentences.cost[a] as f64))
            .then(a.cmp(&b))
    });
    for i in order {
        if !picked[i] && spent + sentences.cost[i] <= budget {
            picked[i] = true;
            spent += sentences.cost[i];
        }
    }
    for i in (0..m).filter(|&i| picked[i]) {
        let best = by_group[i].iter().copied().fold(0.0, f64::max);
        for (k, &g) in Group::ALL.iter().enumerate() {
            if best > 0.0 && by_group[i][k] >= GROUP_SHARE * best && !serves[i].contains(&g) {
                serves[i].push(g);
            }
        }
    }
    (picked, serves)
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

    /// Each passage's characters are its bytes.
    fn assert_in_step(text: &str, s: &Selection) {
        for p in &s.passages {
            let chars: String = text
                .chars()
                .skip(p.start as usize)
                .take((p.end - p.start) as usize)
                .collect();
            assert_eq!(chars, text[p.start_byte..p.end_byte], "{p:?}");
        }
    }

    fn char_at(text: &str, needle: &str) -> u64 {
        text[..text.find(needle).unwrap()].chars().count() as u64
    }

    #[test]
    fn the_clause_and_the_head_are_picked_within_the_budget() {
        let d = doc(&contract());
        let text = d.text().expose_to_provider();
        let gl = cat("Governing Law");
        let options = SelectOptions::default();
        let s = select(&d, &[gl], &Evidence::default(), &options);
        // The title and the preamble open the selection.
        assert_eq!(s.passages[0].start, 0, "{:?}", s.passages);
        assert_eq!(s.passages[0].chunk, 0);
        // The clause is sent as the sentence it is, not the chunk around it.
        let sentence = "This Agreement shall be governed by and construed in accordance with the \
                        laws of the State of Delaware, without regard to its conflict of laws \
                        principles.";
        let start = char_at(text, sentence);
        let end = start + sentence.chars().count() as u64;
        assert!(
            s.passages.iter().any(|p| p.start == start && p.end == end),
            "{:?} lacks {start}..{end}",
            s.passages
        );
        let clause = d.chunk_of(start);
        assert!(s.chunks().contains(&clause));
        // Nothing else in the text is about governing law: the budget is not filled for its sake.
        assert_eq!(s.passages.len(), 2, "{:?}", s.passages);
        assert!(
            s.passages.windows(2).all(|w| w[0].end < w[1].start),
            "document order"
        );
        assert_eq!(s.contract_tokens, count_tokens(text) as u64);
        assert!(s.tokens_sent > 0);
        assert!(s.tokens_sent as f64 <= options.max_ratio * s.contract_tokens as f64);
        let union: u64 = s
            .passages
            .iter()
            .map(|p| count_tokens(&text[p.start_byte..p.end_byte]) as u64)
            .sum();
        assert_eq!(s.tokens_sent, union);
        assert_eq!(
            s.ranges(),
            s.passages
                .iter()
                .map(|p| (p.start, p.end))
                .collect::<Vec<_>>()
        );
        assert_in_step(text, &s);
        assert_eq!(s.groups.len(), 1);
        assert_eq!(s.groups[0].group, Group::Terms);
        assert_eq!(s.groups[0].passages, vec![0, 1]);
        // The words' ranking puts the clause's chunk first.
        let r = ranking(&d, gl, &Evidence::default(), &options);
        assert_eq!(r[0].0, clause);
        assert!(r[0].1 > 0.5 && r[0].1 < 1.0, "{}", r[0].1);
    }

    #[test]
    fn a_clause_is_sent_with_its_number() {
        let text = contract().replace(
            "This Agreement shall be governed",
            "17.3 (b)   This Agreement shall be governed",
        );
        let d = doc(&text);
        let s = select(
            &d,
            &[cat("Governing Law")],
            &Evidence::default(),
            &SelectOptions::default(),
        );
        let start = char_at(&text, "17.3 (b)");
        let p = s.passages.iter().find(|p| p.start == start);
        let p = p.unwrap_or_else(|| panic!("no passage starts at {start}: {:?}", s.passages));
        assert!(text[p.start_byte..p.end_byte].starts_with("17.3 (b)   This Agreement shall"));
        assert_in_step(&text, &s);
    }

    #[test]
    fn a_long_preamble_does_not_crowd_out_the_clauses() {
        // Six long opening sentences that cost more than the whole budget, then a short body.
        let recital = "Whereas the Supplier makes and sells industrial widgets, gaskets, valves, \
                       pumps, seals, hoses and fittings throughout North America, Europe, Africa \
                       and Asia, and the Buyer, a retailer, wishes to buy them for resale there. ";
        let mut text = String::from("SUPPLY AGREEMENT\n\n");
        text.push_str(&recital.repeat(5));
        text.push_str("\n\n1. Delivery\nThe Supplier shall deliver the Goods. ");
        text.push_str(
            "2. Law\nThis Agreement shall be governed by the laws of the State of Delaware.\n",
        );
        text.push_str(&"The Buyer shall pay each invoice within thirty days. ".repeat(35));
        let d = doc(&text);
        let options = SelectOptions::default();
        let s = select(
            &d,
            &[cat("Document Name"), cat("Governing Law")],
            &Evidence::default(),
            &options,
        );
        let budget = options.max_ratio * s.contract_tokens as f64;
        let head = Sentences::new(&d, &text);
        let head: usize = (0..options.head_sentences)
            .filter(|&i| head.chunk[i] == 0)
            .map(|i| head.cost[i])
            .sum();
        assert!(
            budget > options.min_tokens as f64 && head as f64 > budget,
            "the test needs a ratio-bound budget ({budget}) under the head's cost ({head})"
        );
        assert!(
            s.tokens_sent as f64 <= budget,
            "{} > {budget}",
            s.tokens_sent
        );
        let law = char_at(&text, "This Agreement shall be governed");
        assert!(
            s.passages.iter().any(|p| p.start <= law && law < p.end),
            "{:?}",
            s.passages
        );
        assert_eq!(s.passages[0].start, 0, "the title still opens it");
    }

    #[test]
    fn an_orgs_cap_holds_where_the_floor_would_lift_the_budget() {
        let body = "The Buyer shall pay each invoice within thirty days. ";
        let law = "This Agreement shall be governed by the laws of the State of Delaware. ";
        let cats = [cat("Governing Law"), cat("Parties")];
        // A short contract is sent whole, unless the cap says less.
        let short = format!("SUPPLY AGREEMENT\n\n{law}{}", body.repeat(4));
        let d = doc(&short);
        let whole = select(&d, &cats, &Evidence::default(), &SelectOptions::default());
        assert!(whole.contract_tokens <= 200);
        assert!(whole.tokens_sent as f64 > 0.9 * whole.contract_tokens as f64);
        let capped = SelectOptions {
            cap_ratio: Some(0.5),
            ..SelectOptions::default()
        };
        let s = select(&d, &cats, &Evidence::default(), &capped);
        assert!(s.tokens_sent > 0, "the clause still goes");
        assert!(
            s.tokens_sent as f64 <= 0.5 * s.contract_tokens as f64,
            "{} of {}",
            s.tokens_sent,
            s.contract_tokens
        );
        // A longer one where every sentence is worth sending: 10 % of it is under the 200-token
        // floor, which lifts the budget unless the cap holds it.
        let long = format!("SUPPLY AGREEMENT\n\n{}", law.repeat(40));
        let d = doc(&long);
        let ten = SelectOptions {
            max_ratio: 0.10,
            ..SelectOptions::default()
        };
        let floored = select(&d, &cats, &Evidence::default(), &ten);
        assert!(0.10 * (floored.contract_tokens as f64) < 200.0);
        assert!(floored.tokens_sent as f64 > 0.10 * floored.contract_tokens as f64);
        let s = select(
            &d,
            &cats,
            &Evidence::default(),
            &SelectOptions {
                cap_ratio: Some(0.10),
                ..ten
            },
        );
        assert!(s.tokens_sent > 0);
        assert!(
            s.tokens_sent as f64 <= 0.10 * s.contract_tokens as f64,
            "{} of {}",
            s.tokens_sent,
            s.contract_tokens
        );
    }

    #[test]
    fn evidence_brings_in_text_the_words_miss() {
        let d = doc(&contract());
        let text = d.text().expose_to_provider();
        let mfn = cat("Most Favored Nation");
        let options = SelectOptions::default();
        let plain = select(&d, &[mfn], &Evidence::default(), &options);
        assert!(plain.passages.is_empty(), "{:?}", plain.passages);
        // A vector search's chunk: its sentences are sent.
        let evidence = Evidence {
            ranked: vec![(mfn, vec![23, 23, 9_999])],
            quoted: Vec::new(),
        };
        let s = select(&d, &[mfn], &evidence, &options);
        assert!(s.chunks().contains(&23), "{:?}", s.passages);
        assert!(s.passages.iter().all(|p| p.chunk == 23));
        assert_eq!(s.groups[0].group, Group::Competition);
        assert_eq!(s.groups[0].passages.len(), s.passages.len());
        // A quote from the first pass: that sentence is sent, and only it.
        let sentence = "The Supplier shall deliver the Goods";
        let at = text.match_indices(sentence).nth(40).unwrap().0;
        let start = text[..at].chars().count() as u64;
        let evidence = Evidence {
            ranked: Vec::new(),
            quoted: vec![(mfn, start, start + 10)],
        };
        let s = select(&d, &[mfn], &evidence, &options);
        assert_eq!(s.passages.len(), 1, "{:?}", s.passages);
        assert_eq!(s.passages[0].start, start);
        assert!(text[s.passages[0].start_byte..s.passages[0].end_byte].ends_with("production."));
    }

    #[test]
    fn short_contracts_are_sent_whole_and_nothing_is_sent_for_nothing() {
        let d = doc("NDA\n\nThe parties shall keep each other's information confidential.");
        let all: Vec<&'static Category> = CATEGORIES.iter().collect();
        let s = select(&d, &all, &Evidence::default(), &SelectOptions::default());
        assert_eq!(s.passages.len(), 1);
        assert_eq!(s.ranges(), vec![(0, d.text().chars() as u64)]);
        assert_eq!(s.tokens_sent, s.contract_tokens);
        assert_eq!(s.groups.len(), Group::ALL.len());
        assert!(s.groups.iter().all(|g| g.passages == vec![0]));

        let none = select(&d, &[], &Evidence::default(), &SelectOptions::default());
        assert!(none.passages.is_empty() && none.groups.is_empty());
        assert_eq!(none.tokens_sent, 0);
        assert_eq!(none.contract_tokens, s.contract_tokens);
        let options = SelectOptions::default();
        let blank = select(&doc(" \n "), &all, &Evidence::default(), &options);
        assert!(blank.passages.is_empty() && blank.tokens_sent == 0);
        let empty = select(&doc(""), &all, &Evidence::default(), &options);
        assert_eq!(empty, Selection::default());
    }

    #[test]
    fn passages_are_runs_of_sentences_that_never_touch() {
        let d = doc(&contract());
        let text = d.text().expose_to_provider();
        let all: Vec<&'static Category> = CATEGORIES.iter().collect();
        let s = select(&d, &all, &Evidence::default(), &SelectOptions::default());
        assert!(s.passages.len() > 1);
        for w in s.passages.windows(2) {
            let gap = &text[w[0].end_byte..w[1].start_byte];
            assert!(!gap.trim().is_empty(), "touching passages are one run");
        }
        for p in &s.passages {
            assert_eq!(p.chunk, d.chunk_of(p.start));
        }
        assert!(s.tokens_sent as f64 <= 0.34 * s.contract_tokens as f64 + 1.0);
    }

    #[test]
    fn passages_keep_characters_and_bytes_in_step_in_any_script() {
        let mut text = String::from("CONTRAT DE LICENCE — «Société Générale» 株式会社\n\n");
        for n in 1..=40 {
            text.push_str(&format!(
                "{n}. Clause {n}\nLe Concédant livre à Ça Va Café S.à r.l. les œuvres décrites, \
                 conformément à l'annexe {n}. "
            ));
            if n == 23 {
                text.push_str(
                    "This Agreement shall be governed by the laws of the Grand Duchy of \
                     Luxembourg (Großherzogtum). ",
                );
            }
            text.push_str("\n\n");
        }
        let d = doc(&text);
        let all: Vec<&'static Category> = CATEGORIES.iter().collect();
        let s = select(&d, &all, &Evidence::default(), &SelectOptions::default());
        assert!(!s.passages.is_empty());
        let law = char_at(&text, "This Agreement shall be governed");
        assert!(
            s.ranges().iter().any(|&(a, b)| a <= law && law < b),
            "{:?}",
            s.passages
        );
        assert_in_step(&text, &s);
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
