//! The review pipeline's in-process cost per contract over the CUAD dev texts, against a baseline
//! measured in the same run over the same texts: one pass of the search analyzer
//! (`text::analyze::tokens`: every word split, lower-cased and stemmed), the cheapest thing that
//! reads a whole contract the way the index does.
//!
//! Timed per contract (median and p95 over `--rounds` rounds, default 5), all 41 categories:
//! - `first pass`: the offline rules (`review::offline::first_pass`);
//! - `selection`: what a remote model would be sent (`review::select_context`, tokenizer included);
//! - `verification`: finding the first pass's quotes in the text again, as a model's answer is
//!   checked (`review::verify::Verifier`, one per contract, each quote with its position hint);
//! - `offline review`: the whole `review::run` with the offline provider (rules, verification,
//!   normalisation, key dates), which is what a local review costs besides reading the text.
//!
//! `cargo bench -p clment-common --bench review -- [--rounds N]` (or `scripts/bench-review`).

use std::path::Path;
use std::time::{Duration, Instant};

use clment_common::domain::ContractId;
use clment_common::ports::Extracted;
use clment_common::review::context::{Evidence, SelectOptions};
use clment_common::review::offline::{OfflineProvider, first_pass};
use clment_common::review::verify::Verifier;
use clment_common::review::{CATEGORIES, Category, ReviewDocument, run, select_context};
use clment_common::text::analyze;

fn texts() -> Vec<String> {
    let dir = std::env::var_os("CLMENT_SHARED_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"),
        std::path::PathBuf::from,
    );
    let dev = dir.join("data/cuad/dev");
    let mut paths: Vec<_> = std::fs::read_dir(&dev)
        .unwrap_or_else(|e| panic!("CUAD dev is missing at {}: {e}", dev.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect()
}

fn doc(text: &str) -> ReviewDocument {
    ReviewDocument::new(
        ContractId::new(),
        Extracted {
            text: text.to_owned(),
            pages: vec![0],
        },
    )
}

/// Median and 95th percentile of per-contract times.
fn stats(mut v: Vec<Duration>) -> (Duration, Duration) {
    v.sort();
    let p = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    (p(0.5), p(0.95))
}

fn main() {
    let mut rounds = 5usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--rounds" {
            rounds = args.next().and_then(|v| v.parse().ok()).unwrap_or(rounds);
        }
    }
    let texts = texts();
    let cats: Vec<&'static Category> = CATEGORIES.iter().collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    // Warm-up: compiled patterns, the tokenizer.
    let d = doc(&texts[0]);
    let _ = first_pass(&d, &cats);
    clment_common::review::context::warm_up();

    let (mut base, mut pass, mut select, mut verify, mut review) =
        (vec![], vec![], vec![], vec![], vec![]);
    let mut chars = 0usize;
    for _ in 0..rounds {
        for t in &texts {
            chars += t.len();
            let started = Instant::now();
            std::hint::black_box(analyze::tokens(t).len());
            base.push(started.elapsed());

            let d = doc(t);
            let started = Instant::now();
            let first = std::hint::black_box(first_pass(&d, &cats));
            pass.push(started.elapsed());

            let started = Instant::now();
            std::hint::black_box(select_context(
                &d,
                &cats,
                &first,
                Evidence::default(),
                &SelectOptions::default(),
            ));
            select.push(started.elapsed());

            let started = Instant::now();
            let mut verifier = Verifier::new(&d);
            for q in first.findings.iter().flat_map(|f| &f.quotes) {
                std::hint::black_box(verifier.locate(q));
            }
            verify.push(started.elapsed());

            let started = Instant::now();
            let result = rt
                .block_on(run(
                    &d,
                    &cats,
                    &OfflineProvider,
                    Evidence::default(),
                    &SelectOptions::default(),
                ))
                .unwrap();
            std::hint::black_box(result);
            review.push(started.elapsed());
        }
    }
    let n = texts.len();
    println!(
        "CUAD dev: {n} contracts, mean {} characters, {rounds} rounds",
        chars / (n * rounds)
    );
    let (b50, b95) = stats(base);
    println!(
        "{:<16} {:>10} {:>10} {:>8}",
        "per contract", "median", "p95", "ratio"
    );
    println!(
        "{:<16} {:>10.2?} {:>10.2?} {:>8}",
        "analyzer pass", b50, b95, "1.0"
    );
    for (name, v) in [
        ("first pass", pass),
        ("selection", select),
        ("verification", verify),
        ("offline review", review),
    ] {
        let (m50, m95) = stats(v);
        println!(
            "{name:<16} {m50:>10.2?} {m95:>10.2?} {:>8.1}",
            m50.as_secs_f64() / b50.as_secs_f64()
        );
    }
}
