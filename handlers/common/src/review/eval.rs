//! The evaluation of a provider over a CUAD-format folder: precision, recall and F1 per category and
//! overall with CUAD's matching rule, and the data-minimisation figures.
//!
//! A folder holds `<slug>.txt` contract texts and `labels.jsonl`, one record per (contract,
//! category): `{"contract": slug, "category": name, "answers": [{"text", "start"}], ...}` with
//! `start` in Unicode code points ([`load_dataset`]). [`evaluate`] reviews every contract with
//! [`super::run`], exactly as production does, and scores the verified excerpts:
//!
//! - per (contract, category), each labelled span is a true positive when some predicted excerpt
//!   matches it, else a false negative; each excerpt matching no label is a false positive;
//! - an excerpt matches a label when the word-level Jaccard similarity of the two is at least 0.5
//!   (words: lower-cased, `.,;:` removed, `/` made a space, split on white space); for Parties a
//!   label contained in the excerpt also matches ([`matches`]).
//!
//! The minimisation figures are computed from the selection a remote provider would be sent
//! ([`super::select_context`] with the offline first pass), whatever the provider: the share of
//! labelled spans lying entirely inside the selected passages ("context coverage") and the share of
//! the contract's tokens sent.
//!
//! Nothing here logs, and no error carries contract text.

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::categories::{AnswerKind, CATEGORIES, Category};
use super::context::{Evidence, SelectOptions};
use super::offline;
use super::provider::{ReviewDocument, ReviewProvider};
use crate::domain::ContractId;
use crate::ports::Extracted;

/// The labels file of a dataset folder.
pub const LABELS_FILE: &str = "labels.jsonl";
/// The smallest word-level Jaccard similarity at which an excerpt matches a label (CUAD's).
pub const JACCARD_THRESHOLD: f64 = 0.5;

/// One labelled span.
#[derive(Clone, PartialEq, Eq)]
pub struct Label {
    /// Its category.
    pub category: &'static Category,
    /// The span's text, exactly as in the contract.
    pub text: String,
    /// Its first character (Unicode code points into the contract's text).
    pub start: u64,
}

impl std::fmt::Debug for Label {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Label")
            .field("category", &self.category.key)
            .field("start", &self.start)
            .field("chars", &self.text.chars().count())
            .finish()
    }
}

/// A contract with its labels.
#[derive(Clone, PartialEq, Eq)]
pub struct EvalContract {
    /// The file stem of its text.
    pub slug: String,
    /// The whole text.
    pub text: String,
    /// Every labelled span, of every category.
    pub labels: Vec<Label>,
}

impl std::fmt::Debug for EvalContract {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EvalContract")
            .field("slug", &self.slug)
            .field("chars", &self.text.chars().count())
            .field("labels", &self.labels.len())
            .finish()
    }
}

/// Why a dataset could not be loaded. Names files and lines, never contract text.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// A file or the folder could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A line of the labels file is not a label record.
    #[error("{path}:{line}: not a label record ({reason})")]
    Record {
        /// The labels file.
        path: PathBuf,
        /// Line number, from 1.
        line: usize,
        /// What is wrong (never the line's content).
        reason: String,
    },
    /// A record names a category that is not one of the 41.
    #[error("{path}:{line}: unknown category {category:?}")]
    UnknownCategory {
        /// The labels file.
        path: PathBuf,
        /// Line number, from 1.
        line: usize,
        /// The name as written.
        category: String,
    },
    /// A record names a contract whose text is not in the folder.
    #[error("{path}:{line}: no text file for contract {slug:?}")]
    MissingText {
        /// The labels file.
        path: PathBuf,
        /// Line number, from 1.
        line: usize,
        /// The contract.
        slug: String,
    },
    /// A label's text is not at its offset in the contract.
    #[error("{path}:{line}: a {category} label does not match the text at offset {start}")]
    Offset {
        /// The labels file.
        path: PathBuf,
        /// Line number, from 1.
        line: usize,
        /// The label's category.
        category: &'static str,
        /// The label's offset.
        start: u64,
    },
    /// A contract text has no labels.
    #[error("{path}: contract has no records in {LABELS_FILE}")]
    Unlabelled {
        /// The text file.
        path: PathBuf,
    },
    /// The folder has no labelled contracts.
    #[error("{path}: no labelled contracts")]
    Empty {
        /// The folder.
        path: PathBuf,
    },
}

#[derive(Deserialize)]
struct Record {
    contract: String,
    category: String,
    answers: Vec<Answer>,
}

#[derive(Deserialize)]
struct Answer {
    text: String,
    start: u64,
}

/// Loads a folder in CUAD dev format: every `<slug>.txt` and its records in `labels.jsonl`.
/// Contracts are sorted by slug; each label's text is checked against the contract at its offset.
///
/// # Errors
/// An unreadable file, a malformed record, an unknown category, a record without its text (or a
/// text without records), or a label that is not at its offset.
pub fn load_dataset(dir: &Path) -> Result<Vec<EvalContract>, EvalError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| EvalError::Io { path, source }
    };
    let labels_path = dir.join(LABELS_FILE);
    let labels = std::fs::read_to_string(&labels_path).map_err(io(&labels_path))?;
    let mut texts: HashMap<String, PathBuf> = HashMap::new();
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let path = entry.map_err(io(dir))?.path();
        if path.is_file()
            && path.extension().is_some_and(|e| e == "txt")
            && let Some(slug) = path.file_stem().and_then(|s| s.to_str())
        {
            texts.insert(slug.to_owned(), path);
        }
    }
    let mut contracts: HashMap<String, (EvalContract, Vec<char>)> = HashMap::new();
    for (n, line) in labels.lines().enumerate() {
        let line_no = n + 1;
        if line.trim().is_empty() {
            continue;
        }
        let record: Record = serde_json::from_str(line).map_err(|e| EvalError::Record {
            path: labels_path.clone(),
            line: line_no,
            reason: format!("{:?} error at column {}", e.classify(), e.column()),
        })?;
        let category =
            Category::find(&record.category).ok_or_else(|| EvalError::UnknownCategory {
                path: labels_path.clone(),
                line: line_no,
                category: record.category.clone(),
            })?;
        if !contracts.contains_key(&record.contract) {
            let path = texts
                .get(&record.contract)
                .ok_or_else(|| EvalError::MissingText {
                    path: labels_path.clone(),
                    line: line_no,
                    slug: record.contract.clone(),
                })?;
            let text = std::fs::read_to_string(path).map_err(io(path))?;
            let chars = text.chars().collect();
            let contract = EvalContract {
                slug: record.contract.clone(),
                text,
                labels: Vec::new(),
            };
            contracts.insert(record.contract.clone(), (contract, chars));
        }
        let Some((contract, chars)) = contracts.get_mut(&record.contract) else {
            continue;
        };
        for a in record.answers {
            let len = a.text.chars().count();
            let at = usize::try_from(a.start).unwrap_or(usize::MAX);
            let fits = at.checked_add(len).is_some_and(|end| {
                end <= chars.len() && a.text.chars().eq(chars[at..end].iter().copied())
            });
            if !fits || len == 0 {
                return Err(EvalError::Offset {
                    path: labels_path.clone(),
                    line: line_no,
                    category: category.name,
                    start: a.start,
                });
            }
            contract.labels.push(Label {
                category,
                text: a.text,
                start: a.start,
            });
        }
    }
    if let Some((_, path)) = texts
        .iter()
        .filter(|(slug, _)| !contracts.contains_key(*slug))
        .min_by(|a, b| a.0.cmp(b.0))
    {
        return Err(EvalError::Unlabelled { path: path.clone() });
    }
    if contracts.is_empty() {
        return Err(EvalError::Empty {
            path: dir.to_path_buf(),
        });
    }
    let mut out: Vec<EvalContract> = contracts.into_values().map(|(c, _)| c).collect();
    out.sort_by(|a, b| a.slug.cmp(&b.slug));
    for c in &mut out {
        c.labels
            .sort_by_key(|l| (l.category.index(), l.start, l.text.len()));
    }
    Ok(out)
}

/// What to evaluate.
#[derive(Clone, Debug)]
pub struct EvalOptions {
    /// The categories asked for (and scored).
    pub categories: Vec<&'static Category>,
    /// The context selection's options (what a remote provider would be sent).
    pub select: SelectOptions,
}

impl Default for EvalOptions {
    fn default() -> Self {
        Self {
            categories: CATEGORIES.iter().collect(),
            select: SelectOptions::default(),
        }
    }
}

/// The words of a span as CUAD compares them: lower-cased, `.,;:` removed, `/` made a space, split
/// on white space.
#[must_use]
pub fn normalise(s: &str) -> Vec<String> {
    s.to_lowercase()
        .replace(['.', ',', ';', ':'], "")
        .replace('/', " ")
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

/// Word-level Jaccard similarity of two spans (0 when either has no words).
#[must_use]
pub fn jaccard(a: &str, b: &str) -> f64 {
    let a: BTreeSet<String> = normalise(a).into_iter().collect();
    let b: BTreeSet<String> = normalise(b).into_iter().collect();
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let inter = a.intersection(&b).count();
    let union = a.union(&b).count();
    inter as f64 / union as f64
}

/// Whether a predicted excerpt matches a labelled span of `category`: Jaccard at least
/// [`JACCARD_THRESHOLD`]; for Parties, also when the normalised label is contained in the
/// normalised prediction.
#[must_use]
pub fn matches(category: &Category, prediction: &str, label: &str) -> bool {
    if jaccard(prediction, label) >= JACCARD_THRESHOLD {
        return true;
    }
    if category.answer == AnswerKind::Parties {
        let l = normalise(label).join(" ");
        return !l.is_empty() && normalise(prediction).join(" ").contains(&l);
    }
    false
}

/// True positives, false positives and false negatives.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Counts {
    /// Labels matched by some prediction.
    pub tp: u64,
    /// Predictions matching no label.
    pub fp: u64,
    /// Labels matched by no prediction.
    #[serde(rename = "fn")]
    pub fn_: u64,
}

impl Counts {
    /// Adds another count.
    pub fn add(&mut self, other: Counts) {
        self.tp += other.tp;
        self.fp += other.fp;
        self.fn_ += other.fn_;
    }

    /// `tp / (tp + fp)`, if there were predictions.
    #[must_use]
    pub fn precision(&self) -> Option<f64> {
        ratio(self.tp, self.tp + self.fp)
    }

    /// `tp / (tp + fn)`, if there were labels.
    #[must_use]
    pub fn recall(&self) -> Option<f64> {
        ratio(self.tp, self.tp + self.fn_)
    }

    /// The harmonic mean of precision and recall (0 when either is 0 or undefined, if there were
    /// labels or predictions).
    #[must_use]
    pub fn f1(&self) -> Option<f64> {
        if self.tp + self.fp + self.fn_ == 0 {
            return None;
        }
        let p = self.precision().unwrap_or(0.0);
        let r = self.recall().unwrap_or(0.0);
        Some(if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        })
    }
}

fn ratio(a: u64, b: u64) -> Option<f64> {
    (b > 0).then(|| a as f64 / b as f64)
}

/// Scores one (contract, category) with CUAD's rule.
#[must_use]
pub fn score(category: &Category, predictions: &[&str], labels: &[&str]) -> Counts {
    let tp = labels
        .iter()
        .filter(|l| predictions.iter().any(|p| matches(category, p, l)))
        .count() as u64;
    let fp = predictions
        .iter()
        .filter(|p| !labels.iter().any(|l| matches(category, p, l)))
        .count() as u64;
    Counts {
        tp,
        fp,
        fn_: labels.len() as u64 - tp,
    }
}

/// The evaluation's result.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// The provider's name.
    pub provider: String,
    /// The dataset folder's name (set by the caller; [`evaluate_dir`] does).
    pub dataset: String,
    /// Contracts evaluated.
    pub contracts: usize,
    /// One row per category asked for, in taxonomy order.
    pub categories: Vec<CategoryRow>,
    /// Micro- and macro-averaged figures.
    pub overall: Overall,
    /// What a remote provider is sent.
    pub minimisation: MinimisationReport,
    /// Contracts the provider gave no answer for (scored as finding nothing).
    pub errors: Vec<ContractError>,
    /// Wall-clock time of the whole evaluation, milliseconds.
    pub elapsed_ms: u64,
    /// Of which: the offline first pass and the context selection for the minimisation figures
    /// (tokenizing included), milliseconds.
    pub selection_ms: u64,
}

/// The figures for one category.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CategoryRow {
    /// CUAD's name.
    pub name: String,
    /// API key.
    pub key: String,
    /// Labelled spans.
    pub labels: u64,
    /// Contracts with at least one labelled span.
    pub labelled_contracts: u64,
    /// Predicted excerpts.
    pub predictions: u64,
    /// Matched labels.
    pub tp: u64,
    /// Unmatched predictions.
    pub fp: u64,
    /// Unmatched labels.
    #[serde(rename = "fn")]
    pub fn_: u64,
    /// `tp / (tp + fp)`; none without predictions.
    pub precision: Option<f64>,
    /// `tp / (tp + fn)`; none without labels.
    pub recall: Option<f64>,
    /// F1; none without labels or predictions.
    pub f1: Option<f64>,
    /// Share of contracts where "present" (some excerpt) agrees with "labelled" (some span).
    pub presence_accuracy: f64,
    /// Share of labelled spans lying entirely inside the selected passages; none without labels.
    pub coverage: Option<f64>,
}

/// Figures over all categories.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Overall {
    /// Labelled spans.
    pub labels: u64,
    /// Predicted excerpts.
    pub predictions: u64,
    /// Matched labels.
    pub tp: u64,
    /// Unmatched predictions.
    pub fp: u64,
    /// Unmatched labels.
    #[serde(rename = "fn")]
    pub fn_: u64,
    /// Micro-averaged precision.
    pub precision: Option<f64>,
    /// Micro-averaged recall.
    pub recall: Option<f64>,
    /// Micro-averaged F1.
    pub f1: Option<f64>,
    /// Mean F1 over the categories with at least one label.
    pub macro_f1: Option<f64>,
    /// Mean presence accuracy over the categories.
    pub presence_accuracy: f64,
}

/// Data minimisation over the dataset.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MinimisationReport {
    /// Share of all labelled spans lying entirely inside the selected passages.
    pub coverage: Option<f64>,
    /// Labelled spans inside the selected passages.
    pub covered_labels: u64,
    /// Labelled spans.
    pub labels: u64,
    /// Share of the (contract, category) pairs with labels where at least one labelled span lies
    /// inside the selected passages.
    pub category_coverage: Option<f64>,
    /// Tokens sent over all contracts divided by all contracts' tokens.
    pub ratio_aggregate: f64,
    /// Mean of the per-contract ratios.
    pub ratio_mean: f64,
    /// Largest per-contract ratio.
    pub ratio_max: f64,
    /// Tokens that would be sent, all contracts.
    pub tokens_sent: u64,
    /// Tokens of all contracts.
    pub contract_tokens: u64,
    /// Passages (runs of sentences) that would be sent, all contracts.
    pub passages_sent: u64,
    /// Sentences that would be sent, all contracts.
    pub sentences_sent: u64,
    /// Sentences of all contracts.
    pub sentences: u64,
    /// Per contract.
    pub per_contract: Vec<ContractMinimisation>,
}

/// Data minimisation for one contract.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContractMinimisation {
    /// The contract's slug.
    pub contract: String,
    /// Passages (runs of sentences) that would be sent.
    pub passages_sent: u32,
    /// Sentences that would be sent.
    pub sentences_sent: u32,
    /// The contract's sentences.
    pub sentences: u32,
    /// Tokens that would be sent.
    pub tokens_sent: u64,
    /// The contract's tokens.
    pub contract_tokens: u64,
    /// `tokens_sent / contract_tokens`.
    pub ratio: f64,
    /// Labelled spans (of the categories asked for).
    pub labels: u64,
    /// Of which inside the selected passages.
    pub covered_labels: u64,
}

/// A contract the provider gave no answer for.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContractError {
    /// The contract's slug.
    pub contract: String,
    /// The failure code (`timeout`, `rate_limited`, ...).
    pub code: String,
    /// The provider's message (never contract text).
    pub message: String,
}

#[derive(Default)]
struct Tally {
    counts: Counts,
    labels: u64,
    labelled_contracts: u64,
    predictions: u64,
    presence_right: u64,
    covered: u64,
}

/// Loads `dir` ([`load_dataset`]), evaluates it, and names the report's dataset after the folder.
///
/// # Errors
/// As [`load_dataset`].
pub async fn evaluate_dir(
    dir: &Path,
    provider: &dyn ReviewProvider,
    options: &EvalOptions,
) -> Result<Report, EvalError> {
    let contracts = load_dataset(dir)?;
    let mut report = evaluate(&contracts, provider, options).await;
    report.dataset = dir
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_owned();
    Ok(report)
}

/// Reviews every contract with `provider` and scores the excerpts against the labels; computes the
/// selection a remote provider would be sent for the minimisation figures. A provider error is
/// recorded in the report and the contract scored as finding nothing.
pub async fn evaluate(
    contracts: &[EvalContract],
    provider: &dyn ReviewProvider,
    options: &EvalOptions,
) -> Report {
    let started = Instant::now();
    let mut selecting = std::time::Duration::ZERO;
    let cats = &options.categories;
    let mut tallies: Vec<Tally> = cats.iter().map(|_| Tally::default()).collect();
    let mut errors = Vec::new();
    let mut per_contract = Vec::with_capacity(contracts.len());
    let (mut pairs, mut pairs_covered) = (0u64, 0u64);
    for contract in contracts {
        let doc = ReviewDocument::new(
            ContractId::new(),
            Extracted {
                text: contract.text.clone(),
                pages: vec![0],
            },
        );
        let t = Instant::now();
        let first = offline::first_pass(&doc, cats);
        let selection =
            super::select_context(&doc, cats, &first, Evidence::default(), &options.select);
        let sent = selection.ranges();
        selecting += t.elapsed();
        let result = super::run(&doc, cats, provider, Evidence::default(), &options.select).await;
        let findings = match result {
            Ok(r) => r.categories,
            Err(e) => {
                errors.push(ContractError {
                    contract: contract.slug.clone(),
                    code: e.code().to_owned(),
                    message: e.to_string(),
                });
                Vec::new()
            }
        };
        let (mut labels, mut covered) = (0u64, 0u64);
        for (k, &category) in cats.iter().enumerate() {
            let spans: Vec<&Label> = contract
                .labels
                .iter()
                .filter(|l| std::ptr::eq(l.category, category) || l.category.key == category.key)
                .collect();
            let predictions: Vec<&str> = findings
                .iter()
                .find(|f| f.category == category.key)
                .map(|f| f.excerpts.iter().map(|e| e.text.as_str()).collect())
                .unwrap_or_default();
            let texts: Vec<&str> = spans.iter().map(|l| l.text.as_str()).collect();
            let tally = &mut tallies[k];
            tally.counts.add(score(category, &predictions, &texts));
            tally.labels += spans.len() as u64;
            tally.labelled_contracts += u64::from(!spans.is_empty());
            tally.predictions += predictions.len() as u64;
            tally.presence_right += u64::from(spans.is_empty() == predictions.is_empty());
            let inside = spans
                .iter()
                .filter(|l| {
                    let end = l.start + l.text.chars().count() as u64;
                    sent.iter().any(|&(s, e)| s <= l.start && end <= e)
                })
                .count() as u64;
            tally.covered += inside;
            pairs += u64::from(!spans.is_empty());
            pairs_covered += u64::from(inside > 0);
            labels += spans.len() as u64;
            covered += inside;
        }
        per_contract.push(ContractMinimisation {
            contract: contract.slug.clone(),
            passages_sent: u32::try_from(selection.passages.len()).unwrap_or(u32::MAX),
            sentences_sent: selection.sentences_sent,
            sentences: selection.sentences,
            tokens_sent: selection.tokens_sent,
            contract_tokens: selection.contract_tokens,
            ratio: ratio(selection.tokens_sent, selection.contract_tokens).unwrap_or(0.0),
            labels,
            covered_labels: covered,
        });
    }
    let rows: Vec<CategoryRow> = cats
        .iter()
        .zip(&tallies)
        .map(|(c, t)| CategoryRow {
            name: c.name.to_owned(),
            key: c.key.to_owned(),
            labels: t.labels,
            labelled_contracts: t.labelled_contracts,
            predictions: t.predictions,
            tp: t.counts.tp,
            fp: t.counts.fp,
            fn_: t.counts.fn_,
            precision: t.counts.precision(),
            recall: t.counts.recall(),
            f1: t.counts.f1(),
            presence_accuracy: ratio(t.presence_right, contracts.len() as u64).unwrap_or(0.0),
            coverage: ratio(t.covered, t.labels),
        })
        .collect();
    let mut total = Counts::default();
    tallies.iter().for_each(|t| total.add(t.counts));
    let labelled: Vec<f64> = rows
        .iter()
        .filter(|r| r.labels > 0)
        .map(|r| r.f1.unwrap_or(0.0))
        .collect();
    let overall = Overall {
        labels: tallies.iter().map(|t| t.labels).sum(),
        predictions: tallies.iter().map(|t| t.predictions).sum(),
        tp: total.tp,
        fp: total.fp,
        fn_: total.fn_,
        precision: total.precision(),
        recall: total.recall(),
        f1: total.f1(),
        macro_f1: (!labelled.is_empty())
            .then(|| labelled.iter().sum::<f64>() / labelled.len() as f64),
        presence_accuracy: if rows.is_empty() {
            0.0
        } else {
            rows.iter().map(|r| r.presence_accuracy).sum::<f64>() / rows.len() as f64
        },
    };
    let tokens_sent: u64 = per_contract.iter().map(|c| c.tokens_sent).sum();
    let contract_tokens: u64 = per_contract.iter().map(|c| c.contract_tokens).sum();
    let covered_labels: u64 = per_contract.iter().map(|c| c.covered_labels).sum();
    let minimisation = MinimisationReport {
        coverage: ratio(covered_labels, overall.labels),
        covered_labels,
        labels: overall.labels,
        category_coverage: ratio(pairs_covered, pairs),
        ratio_aggregate: ratio(tokens_sent, contract_tokens).unwrap_or(0.0),
        ratio_mean: if per_contract.is_empty() {
            0.0
        } else {
            per_contract.iter().map(|c| c.ratio).sum::<f64>() / per_contract.len() as f64
        },
        ratio_max: per_contract.iter().map(|c| c.ratio).fold(0.0, f64::max),
        tokens_sent,
        contract_tokens,
        passages_sent: per_contract
            .iter()
            .map(|c| u64::from(c.passages_sent))
            .sum(),
        sentences_sent: per_contract
            .iter()
            .map(|c| u64::from(c.sentences_sent))
            .sum(),
        sentences: per_contract.iter().map(|c| u64::from(c.sentences)).sum(),
        per_contract,
    };
    Report {
        provider: provider.name().to_owned(),
        dataset: String::new(),
        contracts: contracts.len(),
        categories: rows,
        overall,
        minimisation,
        errors,
        elapsed_ms: millis(started.elapsed()),
        selection_ms: millis(selecting),
    }
}

fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn pct(x: Option<f64>) -> String {
    x.map_or_else(|| "–".to_owned(), |v| format!("{:.1}", v * 100.0))
}

impl Report {
    /// The report as Markdown: a summary, the per-category table, and the minimisation figures.
    #[must_use]
    pub fn to_markdown(&self) -> String {
        let mut s = String::new();
        let o = &self.overall;
        let m = &self.minimisation;
        let _ = writeln!(
            s,
            "Provider `{}` on `{}`: {} contracts, {} categories, {:.1} s{}.\n",
            self.provider,
            if self.dataset.is_empty() {
                "?"
            } else {
                &self.dataset
            },
            self.contracts,
            self.categories.len(),
            self.elapsed_ms as f64 / 1000.0,
            if self.errors.is_empty() {
                String::new()
            } else {
                format!(", {} provider errors", self.errors.len())
            }
        );
        let _ = writeln!(
            s,
            "Overall (micro): precision {} %, recall {} %, F1 {} %; macro-F1 {} %; presence accuracy {:.1} %.\n",
            pct(o.precision),
            pct(o.recall),
            pct(o.f1),
            pct(o.macro_f1),
            o.presence_accuracy * 100.0
        );
        s.push_str(
            "| Category | Labels | Predicted | TP | FP | FN | Precision % | Recall % | F1 % | Presence % | Coverage % |\n",
        );
        s.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
        for r in &self.categories {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.1} | {} |",
                r.name,
                r.labels,
                r.predictions,
                r.tp,
                r.fp,
                r.fn_,
                pct(r.precision),
                pct(r.recall),
                pct(r.f1),
                r.presence_accuracy * 100.0,
                pct(r.coverage)
            );
        }
        let _ = writeln!(
            s,
            "| **All** | {} | {} | {} | {} | {} | {} | {} | {} | {:.1} | {} |\n",
            o.labels,
            o.predictions,
            o.tp,
            o.fp,
            o.fn_,
            pct(o.precision),
            pct(o.recall),
            pct(o.f1),
            o.presence_accuracy * 100.0,
            pct(m.coverage)
        );
        let _ = writeln!(
            s,
            "Data minimisation (what a remote provider is sent): {} of {} sentences in {} passages, \
             {} of {} tokens (o200k_base); ratio aggregate {:.3}, mean {:.3}, max {:.3}; {} of {} \
             labelled spans ({} %) lie inside the selected passages, and at least one for {} % of \
             the labelled (contract, category) pairs.",
            m.sentences_sent,
            m.sentences,
            m.passages_sent,
            m.tokens_sent,
            m.contract_tokens,
            m.ratio_aggregate,
            m.ratio_mean,
            m.ratio_max,
            m.covered_labels,
            m.labels,
            pct(m.coverage),
            pct(m.category_coverage)
        );
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cat(name: &str) -> &'static Category {
        Category::find(name).unwrap()
    }

    #[test]
    fn exact_matches_are_true_positives() {
        let gl = cat("Governing Law");
        let l = "This Agreement shall be governed by the laws of the State of New York.";
        assert!(matches(gl, l, l));
        assert_eq!(
            score(gl, &[l], &[l]),
            Counts {
                tp: 1,
                fp: 0,
                fn_: 0
            }
        );
    }

    #[test]
    fn jaccard_half_is_the_boundary() {
        let c = cat("Audit Rights");
        // {a b} against {a b c d}: 2 / 4.
        assert!((jaccard("alpha beta", "alpha beta gamma delta") - 0.5).abs() < 1e-12);
        assert!(matches(c, "alpha beta", "alpha beta gamma delta"));
        // {a b x} against {a b c d}: 2 / 5.
        assert!(!matches(c, "alpha beta xi", "alpha beta gamma delta"));
        // Sets, not bags: repeated words count once.
        assert!((jaccard("the the the term", "the term") - 1.0).abs() < 1e-12);
        // No words, no match.
        assert_eq!(jaccard(".,;:", "term"), 0.0);
        assert!(!matches(c, "", ""));
    }

    #[test]
    fn punctuation_case_and_slashes_are_normalised() {
        assert_eq!(
            normalise("Section 2.1: TERM; and/or Renewal, etc."),
            ["section", "21", "term", "and", "or", "renewal", "etc"]
        );
        // Other punctuation stays part of its word, as in CUAD's rule.
        assert_eq!(normalise("(the \"Company\")"), ["(the", "\"company\")"]);
        assert_eq!(normalise("  a\n\tb  "), ["a", "b"]);
        let c = cat("Governing Law");
        assert!(matches(
            c,
            "GOVERNED BY THE LAWS OF TEXAS.",
            "governed by the laws of Texas"
        ));
        assert!(matches(c, "licensor/licensee", "Licensor and Licensee"));
    }

    #[test]
    fn parties_also_match_by_containment() {
        let parties = cat("Parties");
        let label = "Acme Corp.";
        let prediction = "ACME CORP, a Delaware corporation with offices in Dover";
        assert!(jaccard(prediction, label) < JACCARD_THRESHOLD);
        assert!(matches(parties, prediction, label));
        // Only for Parties.
        assert!(!matches(cat("Document Name"), prediction, label));
        // Containment is of the label in the prediction, not the other way round.
        assert!(!matches(
            parties,
            "Acme",
            "Acme Corp., a Delaware corporation with offices"
        ));
    }

    #[test]
    fn false_positives_and_negatives_are_counted() {
        let c = cat("Insurance");
        let labels = [
            "Supplier shall maintain product liability insurance",
            "certificates of insurance shall be provided annually",
        ];
        // One prediction matches the first label, one matches nothing; the second label is missed.
        let got = score(
            c,
            &[
                "Supplier shall maintain product liability insurance coverage",
                "Payment is due within thirty days",
            ],
            &labels,
        );
        assert_eq!(
            got,
            Counts {
                tp: 1,
                fp: 1,
                fn_: 1
            }
        );
        // Two predictions matching the same label: one true positive, no false positive.
        let got = score(c, &[labels[0], labels[0]], &labels[..1]);
        assert_eq!(
            got,
            Counts {
                tp: 1,
                fp: 0,
                fn_: 0
            }
        );
        // Predictions without labels are all false positives; labels without predictions all FNs.
        assert_eq!(score(c, &["x y", "z"], &[]).fp, 2);
        assert_eq!(score(c, &[], &labels).fn_, 2);
        let mut total = Counts::default();
        total.add(got);
        total.add(Counts {
            tp: 0,
            fp: 1,
            fn_: 1,
        });
        assert_eq!(total.precision(), Some(0.5));
        assert_eq!(total.recall(), Some(0.5));
        assert_eq!(total.f1(), Some(0.5));
        assert_eq!(Counts::default().f1(), None);
        assert_eq!(
            Counts {
                tp: 0,
                fp: 3,
                fn_: 0
            }
            .f1(),
            Some(0.0)
        );
    }

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "clment-eval-{name}-{}-{}",
            std::process::id(),
            ContractId::new()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn datasets_are_loaded_and_checked() {
        let dir = scratch("load");
        std::fs::write(dir.join("b.txt"), "Ünïcode. Governed by Delaware law.").unwrap();
        std::fs::write(dir.join("a.txt"), "Nothing here.").unwrap();
        let good = concat!(
            r#"{"contract": "b", "category": "Governing Law", "answers": [{"text": "Governed by Delaware law.", "start": 9}], "is_impossible": false}"#,
            "\n",
            r#"{"contract": "a", "category": "Parties", "answers": [], "is_impossible": true}"#,
            "\n"
        );
        std::fs::write(dir.join(LABELS_FILE), good).unwrap();
        let got = load_dataset(&dir).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].slug, "a");
        assert!(got[0].labels.is_empty());
        assert_eq!(got[1].labels[0].start, 9);
        assert_eq!(got[1].labels[0].category.key, "governing-law");

        let bad = |labels: &str| {
            std::fs::write(dir.join(LABELS_FILE), labels).unwrap();
            load_dataset(&dir).unwrap_err()
        };
        let e = bad(&good.replace("Governing Law", "Choice Of Venue"));
        assert!(
            matches!(e, EvalError::UnknownCategory { line: 1, .. }),
            "{e}"
        );
        let e = bad(&good.replace("\"start\": 9", "\"start\": 8"));
        assert!(matches!(e, EvalError::Offset { line: 1, .. }), "{e}");
        // Errors name the file and line, never the text.
        assert!(!e.to_string().contains("Delaware"), "{e}");
        let e = bad(&good.replace("\"start\": 9", "\"start\": \"Delaware\""));
        assert!(matches!(e, EvalError::Record { line: 1, .. }), "{e}");
        assert!(!e.to_string().contains("Delaware"), "{e}");
        let e = bad(&good.replace("\"contract\": \"a\"", "\"contract\": \"c\""));
        assert!(matches!(e, EvalError::MissingText { line: 2, .. }), "{e}");
        let e = bad(good.lines().next().unwrap());
        assert!(matches!(e, EvalError::Unlabelled { .. }), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(matches!(
            load_dataset(&dir).unwrap_err(),
            EvalError::Io { .. }
        ));
    }

    #[tokio::test]
    async fn a_provider_error_is_reported_not_raised() {
        use super::super::provider::{ProviderAnswer, ProviderError, ProviderRequest};

        struct Failing;
        #[async_trait::async_trait]
        impl ReviewProvider for Failing {
            fn name(&self) -> &'static str {
                "failing"
            }
            fn remote(&self) -> bool {
                true
            }
            async fn review(
                &self,
                _: &ProviderRequest<'_>,
            ) -> Result<ProviderAnswer, ProviderError> {
                Err(ProviderError::RateLimited)
            }
        }
        let text = "SUPPLY AGREEMENT\n\nThis Agreement is governed by the laws of Ohio.".to_owned();
        let contracts = [EvalContract {
            slug: "x".into(),
            labels: vec![Label {
                category: cat("Governing Law"),
                text: "This Agreement is governed by the laws of Ohio.".into(),
                start: 18,
            }],
            text,
        }];
        let options = EvalOptions {
            categories: vec![cat("Governing Law")],
            ..EvalOptions::default()
        };
        let r = evaluate(&contracts, &Failing, &options).await;
        assert_eq!(r.provider, "failing");
        assert_eq!(r.errors.len(), 1);
        assert_eq!(r.errors[0].code, "rate_limited");
        assert_eq!(r.overall.fn_, 1);
        assert_eq!(r.overall.recall, Some(0.0));
        // A short contract is sent whole: the label is covered.
        assert_eq!(r.minimisation.coverage, Some(1.0));
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["categories"][0]["fn"], 1);
        assert!(json["minimisation"]["ratioAggregate"].is_number());
        assert!(
            r.to_markdown()
                .contains("| Governing Law | 1 | 0 | 0 | 0 | 1 |")
        );
    }
}
