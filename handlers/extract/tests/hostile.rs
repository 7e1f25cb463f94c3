//! Every hostile file in the shared corpus ends in a result or a specific failure, within the wall
//! time, and the test process survives.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use clment_common::ports::{ExtractError, ExtractFailureCode, Extractor};
use common::{config, files, kind_for, outcome, sniff};

use clment_extract::Sandbox;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_files_fail_cleanly() {
    let config = config();
    let wall = config.wall_time;
    let sandbox = Arc::new(Sandbox::new(config));
    let paths = files("docs/hostile", &["pdf", "docx"]);
    assert_eq!(paths.len(), 15);

    let mut rows = Vec::new();
    // One at a time, so the times are the file's own.
    for path in paths {
        let bytes = std::fs::read(&path).unwrap();
        let sniffed = sniff(&bytes).map_err(|e| e.to_string());
        let kind = kind_for(&path, &bytes);
        let started = Instant::now();
        let result = sandbox.extract(kind, bytes).await;
        rows.push((path, sniffed, kind, result, started.elapsed()));
    }

    println!(
        "{:<45} {:<28} {:>5} {:>8}  outcome",
        "file", "sniffed", "sent", "ms"
    );
    let mut problems = Vec::new();
    for (path, sniffed, kind, result, elapsed) in &rows {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let sniffed = match sniffed {
            Ok(k) => k.to_string(),
            Err(e) => format!("refused ({})", e.chars().take(18).collect::<String>()),
        };
        println!(
            "{name:<45} {sniffed:<28} {kind:>5} {:>8}  {}",
            elapsed.as_millis(),
            outcome(result)
        );
        if *elapsed > wall + Duration::from_secs(2) {
            problems.push(format!("{name}: took {elapsed:?}"));
        }
        if let Err(ExtractError::Unavailable(why)) = result {
            problems.push(format!("{name}: unavailable: {why}"));
        }
        // Nothing from /etc/passwd, in any outcome.
        let shown = match result {
            Ok(x) => x.text.clone(),
            Err(e) => e.to_string(),
        };
        if shown.contains("root:") {
            problems.push(format!("{name}: /etc/passwd leaked"));
        }
        let code = match result {
            Ok(_) => None,
            Err(ExtractError::Failed { code, .. }) => Some(*code),
            Err(ExtractError::Unavailable(_)) => continue,
        };
        let expected = match name.as_str() {
            "encrypted-user-password.pdf" => Some(ExtractFailureCode::Encrypted),
            "image-only-scan-no-text-layer.pdf" => Some(ExtractFailureCode::NoText),
            "huge-page-count-100000.pdf" | "zip-bomb-1GiB-document-xml.docx" => {
                Some(ExtractFailureCode::TooLarge)
            }
            "random-bytes.pdf" | "empty.pdf" | "empty.docx" | "legacy-word97-ole-named.docx" => {
                Some(ExtractFailureCode::Unreadable)
            }
            "xxe-external-entity-file-etc-passwd.docx" => Some(ExtractFailureCode::Unreadable),
            _ => None,
        };
        if expected.is_some() && code != expected {
            problems.push(format!("{name}: expected {expected:?}, got {code:?}"));
        }
        if name == "zip-bomb-1GiB-document-xml.docx" && *elapsed > Duration::from_secs(2) {
            problems.push(format!("{name}: the bomb took {elapsed:?}"));
        }
        if name == "docx-content-named.pdf" && code.is_some() {
            problems.push(format!("{name}: a real DOCX should extract"));
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}
