//! The 60 CUAD development contracts (PDF) extract, and their text matches CUAD's own text.

mod common;

use std::time::Instant;

use clment_common::content::ContentKind;
use clment_common::ports::Extractor;
use common::{data, files, outcome, sandbox, squash};

/// Up to `n` sentences of the contract's reference text that make good probes: 8 to 40 words of
/// plain letters, digits, commas and spaces (no quotes, dashes or symbols that extractors render
/// differently), spread over the document.
fn probes(reference: &str, n: usize) -> Vec<String> {
    let candidates: Vec<&str> = reference
        .split(". ")
        .map(str::trim)
        .filter(|s| {
            let words = s.split_whitespace().count();
            (8..=40).contains(&words)
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == ' ' || c == ',')
                && s.chars().filter(char::is_ascii_lowercase).count() > 30
        })
        .collect();
    if candidates.is_empty() {
        return Vec::new();
    }
    let step = (candidates.len() / n).max(1);
    candidates
        .iter()
        .step_by(step)
        .take(n)
        .map(|s| (*s).to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cuad_dev_pdfs_extract_and_match_the_reference_text() {
    let sandbox = sandbox();
    let pdfs = files("cuad/dev/pdf", &["pdf"]);
    assert_eq!(pdfs.len(), 60);

    // One at a time, so that the times are the file's own.
    let mut rows = Vec::new();
    for path in pdfs {
        let bytes = std::fs::read(&path).unwrap();
        let started = Instant::now();
        let result = sandbox.extract(ContentKind::Pdf, bytes).await;
        rows.push((path, result, started.elapsed()));
    }
    rows.sort_by(|a, b| a.0.cmp(&b.0));

    let mut failures = Vec::new();
    let (mut probed, mut found) = (0, 0);
    let mut unmatched = Vec::new();
    for (path, result, elapsed) in &rows {
        let slug = path.file_stem().unwrap().to_string_lossy().into_owned();
        println!(
            "{:<80} {:>7} ms  {}",
            slug.chars().take(80).collect::<String>(),
            elapsed.as_millis(),
            outcome(result)
        );
        let Ok(x) = result else {
            failures.push(slug);
            continue;
        };
        let reference = std::fs::read_to_string(data(&format!("cuad/dev/{slug}.txt"))).unwrap();
        let ours = squash(&x.text).to_lowercase();
        let sentences = probes(&reference, 3);
        if sentences.is_empty() {
            continue;
        }
        probed += 1;
        if sentences
            .iter()
            .any(|s| ours.contains(&squash(s).to_lowercase()))
        {
            found += 1;
        } else {
            unmatched.push(slug);
        }
    }
    println!("reference sentences found in {found} of {probed} contracts; not in {unmatched:#?}");
    assert!(failures.is_empty(), "did not extract: {failures:#?}");
    assert!(probed >= 50, "only {probed} contracts had probe sentences");
    assert!(
        unmatched.is_empty(),
        "reference sentences missing in {unmatched:#?}"
    );
}
