//! Every good PDF and DOCX in the shared corpus extracts through the sandbox.

mod common;

use std::time::Instant;

use clment_common::content::ContentKind;
use clment_common::ports::Extractor;
use common::{files, kind_for, manifest_pages, outcome, sandbox};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_good_file_extracts_with_plausible_pages() {
    let sandbox = sandbox();
    let expected_pages = manifest_pages();
    let paths = files("docs/good", &["pdf", "docx"]);
    assert!(paths.len() >= 40, "{} files", paths.len());

    // One at a time, so that the times are the file's own.
    let mut rows = Vec::new();
    for path in paths {
        let bytes = std::fs::read(&path).unwrap();
        let kind = kind_for(&path, &bytes);
        let started = Instant::now();
        let result = sandbox.extract(kind, bytes).await;
        rows.push((path, kind, result, started.elapsed()));
    }
    rows.sort_by(|a, b| a.0.cmp(&b.0));

    let mut problems = Vec::new();
    println!(
        "{:<70} {:>5} {:>8} {:>9}  outcome",
        "file", "kind", "pages", "ms"
    );
    for (path, kind, result, elapsed) in &rows {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let want = expected_pages.get(&format!("good/{name}")).copied();
        let pages = result.as_ref().map_or(0, |x| x.pages.len());
        println!(
            "{name:<70} {kind:>5} {:>8} {:>9}  {}",
            format!("{pages}/{}", want.map_or("-".into(), |w| w.to_string())),
            elapsed.as_millis(),
            outcome(result)
        );
        match result {
            Ok(x) => {
                if !x.text.chars().any(char::is_alphanumeric) {
                    problems.push(format!("{name}: no text"));
                }
                if x.pages.first() != Some(&0) {
                    problems.push(format!("{name}: pages do not start at 0"));
                }
                if *kind == ContentKind::Pdf {
                    if let Some(want) = want
                        && pages != want
                    {
                        problems.push(format!("{name}: {pages} pages, pdfinfo says {want}"));
                    }
                    let feeds = x.text.matches('\u{c}').count();
                    if feeds + 1 != pages {
                        problems.push(format!("{name}: {feeds} form feeds for {pages} pages"));
                    }
                }
            }
            Err(e) => problems.push(format!("{name}: {e}")),
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}
