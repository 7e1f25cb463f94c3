//! Benchmark: our worker (one process per document, as in production) against `pdftotext`.
//!
//! `bench_extract --worker PATH [--runs N] FILE.pdf...` runs each file `N` times through both
//! (sequentially, keeping each tool's fastest run) and reports total pages, pages per second, the
//! speed ratio and word recovery: the share of pdftotext's words (lowercased alphanumeric runs,
//! counted as a multiset) that our text also has. `scripts/bench-extract` builds and runs it.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use clment_common::content::ContentKind;
use clment_common::ports::Extractor;
use clment_extract::{Sandbox, SandboxConfig};

fn words(text: &str) -> HashMap<String, u64> {
    let mut out = HashMap::new();
    for w in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        *out.entry(w.to_lowercase()).or_insert(0) += 1;
    }
    out
}

/// (words of `reference` also in `ours`, words of `reference`), as multisets.
fn recovered(reference: &HashMap<String, u64>, ours: &HashMap<String, u64>) -> (u64, u64) {
    let total = reference.values().sum();
    let found = reference
        .iter()
        .map(|(w, n)| (*n).min(ours.get(w).copied().unwrap_or(0)))
        .sum();
    (found, total)
}

struct Row {
    group: String,
    name: String,
    pages: usize,
    poppler: Duration,
    ours: Duration,
    found: u64,
    total: u64,
    note: String,
}

fn usage() -> ! {
    eprintln!("usage: bench_extract --worker PATH [--runs N] [--pdftotext PATH] FILE.pdf...");
    std::process::exit(2);
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut worker = None;
    let mut runs = 3usize;
    let mut pdftotext = PathBuf::from("pdftotext");
    let mut files = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--worker" => worker = args.next().map(PathBuf::from),
            "--runs" => {
                runs = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .unwrap_or_else(|| usage())
            }
            "--pdftotext" => pdftotext = args.next().map(PathBuf::from).unwrap_or_else(|| usage()),
            _ if arg.starts_with("--") => usage(),
            _ => files.push(PathBuf::from(arg)),
        }
    }
    let Some(worker) = worker else { usage() };
    if files.is_empty() {
        usage();
    }
    let runs = runs.max(1);
    let sandbox = Sandbox::new(SandboxConfig {
        wall_time: Duration::from_secs(300),
        max_concurrent: 1,
        ..SandboxConfig::new(worker)
    });

    let mut rows = Vec::new();
    for path in &files {
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let group = path
            .parent()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));

        let mut reference = String::new();
        let mut poppler = Duration::MAX;
        for _ in 0..runs {
            let started = Instant::now();
            let out = Command::new(&pdftotext)
                .arg("-q")
                .arg(path)
                .arg("-")
                .output()
                .expect("pdftotext runs");
            poppler = poppler.min(started.elapsed());
            reference = String::from_utf8_lossy(&out.stdout).into_owned();
        }
        // pdftotext ends every page with a form feed.
        let pages = reference.matches('\u{c}').count().max(1);

        let mut ours = Duration::MAX;
        let mut text = String::new();
        let mut note = String::new();
        for _ in 0..runs {
            let started = Instant::now();
            let result = sandbox.extract(ContentKind::Pdf, bytes.clone()).await;
            ours = ours.min(started.elapsed());
            match result {
                Ok(x) => {
                    if x.pages.len() != pages {
                        note = format!("{} pages vs {pages}", x.pages.len());
                    }
                    text = x.text;
                }
                Err(e) => {
                    note = e.to_string();
                    text.clear();
                }
            }
        }
        let (found, total) = recovered(&words(&reference), &words(&text));
        rows.push(Row {
            group,
            name,
            pages,
            poppler,
            ours,
            found,
            total,
            note,
        });
    }

    let pages: usize = rows.iter().map(|r| r.pages).sum();
    let poppler: f64 = rows.iter().map(|r| r.poppler.as_secs_f64()).sum();
    let ours: f64 = rows.iter().map(|r| r.ours.as_secs_f64()).sum();
    let found: u64 = rows.iter().map(|r| r.found).sum();
    let total: u64 = rows.iter().map(|r| r.total).sum();
    let share = |f: u64, t: u64| if t == 0 { 1.0 } else { f as f64 / t as f64 };
    let mut per_file: Vec<f64> = rows.iter().map(|r| share(r.found, r.total)).collect();
    per_file.sort_by(f64::total_cmp);

    println!(
        "files: {}, runs per file: {runs} (fastest kept), one process per document",
        rows.len()
    );
    println!("total pages (pdftotext): {pages}");
    println!(
        "pdftotext: {poppler:.2} s, {:.0} pages/s",
        pages as f64 / poppler
    );
    println!(
        "ours (worker process via Sandbox): {ours:.2} s, {:.0} pages/s",
        pages as f64 / ours
    );
    println!(
        "speed ratio ours/pdftotext: {:.2} (target >= 0.5)",
        poppler / ours
    );
    println!(
        "word recovery: {:.2}% overall (target >= 95%), per-file mean {:.2}%, median {:.2}%, files under 90%: {}",
        100.0 * share(found, total),
        100.0 * per_file.iter().sum::<f64>() / per_file.len() as f64,
        100.0 * per_file[per_file.len() / 2],
        per_file.iter().filter(|&&s| s < 0.9).count()
    );
    let mut groups: Vec<&str> = rows.iter().map(|r| r.group.as_str()).collect();
    groups.dedup();
    if groups.len() > 1 {
        println!("by directory:");
        for group in groups {
            let of: Vec<&Row> = rows.iter().filter(|r| r.group == group).collect();
            let pages: usize = of.iter().map(|r| r.pages).sum();
            let poppler: f64 = of.iter().map(|r| r.poppler.as_secs_f64()).sum();
            let ours: f64 = of.iter().map(|r| r.ours.as_secs_f64()).sum();
            let found: u64 = of.iter().map(|r| r.found).sum();
            let total: u64 = of.iter().map(|r| r.total).sum();
            println!(
                "  {group}: {} files, {pages} pages; pdftotext {:.0} pages/s, ours {:.0} pages/s, ratio {:.2}; word recovery {:.2}%",
                of.len(),
                pages as f64 / poppler,
                pages as f64 / ours,
                poppler / ours,
                100.0 * share(found, total)
            );
        }
    }
    rows.sort_by(|a, b| share(a.found, a.total).total_cmp(&share(b.found, b.total)));
    println!("worst 5 files:");
    for r in rows.iter().take(5) {
        println!(
            "  {:6.2}%  {:>4} pp  pdftotext {:>6} ms  ours {:>6} ms  {}{}",
            100.0 * share(r.found, r.total),
            r.pages,
            r.poppler.as_millis(),
            r.ours.as_millis(),
            r.name,
            if r.note.is_empty() {
                String::new()
            } else {
                format!("  [{}]", r.note)
            }
        );
    }
    let mismatched: Vec<&Row> = rows.iter().filter(|r| !r.note.is_empty()).collect();
    if !mismatched.is_empty() {
        println!("notes:");
        for r in mismatched {
            println!("  {}: {}", r.name, r.note);
        }
    }
}
