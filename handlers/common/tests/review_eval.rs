//! The evaluation on CUAD dev (60 contracts, all 41 categories) with the offline provider: the
//! dataset loads and its offsets round-trip, and the context a remote provider would be sent meets
//! the data-minimisation targets.
//!
//! The data is the `shared` folder beside the repository root (`$CARGO_MANIFEST_DIR/../../../shared`
//! from `handlers/common`); set `CLMENT_SHARED_DIR` to use another copy. A missing dataset fails the
//! test: it never passes silently. Set `CLMENT_EVAL_REPORT` to a file path to keep the JSON report
//! (and print the Markdown table).

use std::path::{Path, PathBuf};
use std::time::Instant;

use clment_common::domain::ContractId;
use clment_common::ports::Extracted;
use clment_common::review::context::{self, Evidence, SelectOptions};
use clment_common::review::eval::{self, EvalContract, EvalOptions};
use clment_common::review::offline::OfflineProvider;
use clment_common::review::{CATEGORIES, Category, ReviewDocument};

/// At least this share of all labelled spans must lie inside the selected passages, with the first
/// pass as evidence. This is a floor under what is measured (0.864), not the 0.90 aimed for: a
/// perfect retriever could cover 0.99 within the budget (the sentences holding labels are 13.5 % of
/// the tokens), but the words and the first pass reach 0.90 only at about 45 % of the tokens.
const MIN_COVERAGE: f64 = 0.85;
/// The same floor for the words alone, without the first pass (measured: 0.825).
const MIN_COVERAGE_WORDS_ALONE: f64 = 0.81;
/// At most this share of the tokens may be sent (aggregate and mean per contract).
const MAX_RATIO: f64 = 0.35;

fn dev() -> PathBuf {
    let shared = std::env::var_os("CLMENT_SHARED_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"),
        PathBuf::from,
    );
    let dir = shared.join("data/cuad/dev");
    assert!(
        dir.join(eval::LABELS_FILE).is_file(),
        "CUAD dev is missing: expected {}/{} (the `shared` folder beside the repository root); \
         set CLMENT_SHARED_DIR to point at it",
        dir.display(),
        eval::LABELS_FILE
    );
    dir
}

#[tokio::test]
async fn cuad_dev_offline_meets_the_minimisation_targets() {
    let dir = dev();
    let t = Instant::now();
    let contracts = eval::load_dataset(&dir).expect("CUAD dev loads");
    let loading = t.elapsed();
    assert_eq!(contracts.len(), 60);

    // Every label's offset round-trips (in characters), and every category is known.
    let mut spans = 0usize;
    for c in &contracts {
        let chars: Vec<char> = c.text.chars().collect();
        for l in &c.labels {
            let start = usize::try_from(l.start).unwrap();
            let got: String = chars[start..start + l.text.chars().count()]
                .iter()
                .collect();
            assert_eq!(got, l.text, "{} {} at {}", c.slug, l.category.name, l.start);
            spans += 1;
        }
    }
    assert_eq!(spans, 1_825, "labelled spans in CUAD dev");
    let labelled: std::collections::BTreeSet<&str> = contracts
        .iter()
        .flat_map(|c| c.labels.iter().map(|l| l.category.key))
        .collect();
    assert_eq!(
        labelled.len(),
        40,
        "every category but Source Code Escrow has labels in dev"
    );

    let t = Instant::now();
    context::warm_up();
    let tokenizer = t.elapsed();
    let options = EvalOptions::default();
    assert_eq!(options.categories.len(), CATEGORIES.len());
    let t = Instant::now();
    let mut report = eval::evaluate(&contracts, &OfflineProvider, &options).await;
    report.dataset = "dev".into();
    let evaluating = t.elapsed();
    eprintln!(
        "loaded in {loading:?}; tokenizer loaded in {tokenizer:?}; evaluated in {evaluating:?} \
         (selection, first pass included: {} ms)",
        report.selection_ms
    );

    assert_eq!(report.provider, "offline");
    assert_eq!(report.contracts, 60);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(report.categories.len(), 41);
    assert_eq!(report.overall.labels, 1_825);
    let tp_fn: u64 = report.categories.iter().map(|r| r.tp + r.fn_).sum();
    assert_eq!(tp_fn, 1_825, "every label is a TP or an FN");

    let m = &report.minimisation;
    let table = report.to_markdown();
    if let Some(path) = std::env::var_os("CLMENT_EVAL_REPORT") {
        std::fs::write(&path, serde_json::to_vec_pretty(&report).unwrap()).unwrap();
        eprintln!("{table}");
    }
    let weakest: Vec<String> = {
        let mut rows: Vec<_> = report
            .categories
            .iter()
            .filter_map(|r| Some((r.coverage?, r.name.as_str(), r.labels)))
            .collect();
        rows.sort_by(|a, b| a.0.total_cmp(&b.0));
        rows.iter()
            .take(6)
            .map(|(c, n, l)| format!("{n} {:.0}% of {l}", c * 100.0))
            .collect()
    };
    eprintln!(
        "coverage {:.4} ({}/{}; pairs {:.4}), ratio aggregate {:.4}, mean {:.4}, max {:.4}; \
         weakest: {}",
        m.coverage.unwrap_or(0.0),
        m.covered_labels,
        m.labels,
        m.category_coverage.unwrap_or(0.0),
        m.ratio_aggregate,
        m.ratio_mean,
        m.ratio_max,
        weakest.join(", ")
    );
    assert_eq!(m.per_contract.len(), 60);
    for c in &m.per_contract {
        assert!(c.tokens_sent <= c.contract_tokens, "{}", c.contract);
        assert!(
            c.passages_sent <= c.sentences_sent
                && c.sentences_sent <= c.sentences
                && c.passages_sent > 0,
            "{}",
            c.contract
        );
    }
    assert!(
        m.ratio_aggregate <= MAX_RATIO,
        "aggregate ratio {}",
        m.ratio_aggregate
    );
    assert!(m.ratio_mean <= MAX_RATIO, "mean ratio {}", m.ratio_mean);
    assert!(
        m.coverage.unwrap_or(0.0) >= MIN_COVERAGE,
        "context coverage {:?}",
        m.coverage
    );
}

/// Coverage, aggregate and mean ratio of the selection made from the words alone (no first pass).
fn words_alone(contracts: &[EvalContract]) -> (f64, f64, f64) {
    let all: Vec<&'static Category> = CATEGORIES.iter().collect();
    let options = SelectOptions::default();
    let (mut labels, mut covered, mut sent, mut total, mut ratios) = (0u64, 0u64, 0u64, 0u64, 0.0);
    for c in contracts {
        let doc = ReviewDocument::new(
            ContractId::new(),
            Extracted {
                text: c.text.clone(),
                pages: vec![0],
            },
        );
        let s = context::select(&doc, &all, &Evidence::default(), &options);
        let ranges = s.ranges();
        for l in &c.labels {
            let end = l.start + l.text.chars().count() as u64;
            labels += 1;
            covered += u64::from(ranges.iter().any(|&(a, b)| a <= l.start && end <= b));
        }
        sent += s.tokens_sent;
        total += s.contract_tokens;
        ratios += s.tokens_sent as f64 / s.contract_tokens as f64;
    }
    (
        covered as f64 / labels as f64,
        sent as f64 / total as f64,
        ratios / contracts.len() as f64,
    )
}

#[test]
fn cuad_dev_selection_stands_on_words_alone() {
    let contracts = eval::load_dataset(&dev()).expect("CUAD dev loads");
    let t = Instant::now();
    let (coverage, aggregate, mean) = words_alone(&contracts);
    eprintln!(
        "words alone: coverage {coverage:.4}, ratio aggregate {aggregate:.4}, mean {mean:.4} ({:?})",
        t.elapsed()
    );
    assert!(
        aggregate <= MAX_RATIO && mean <= MAX_RATIO,
        "{aggregate} {mean}"
    );
    assert!(coverage >= MIN_COVERAGE_WORDS_ALONE, "{coverage}");
}
