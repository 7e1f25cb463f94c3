//! Shared helpers for the integration tests: the corpus, the sandbox, the kind an upload sniffs as.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use clment_common::content::{ContentKind, SniffError, Sniffer};
use clment_common::ports::{ExtractError, Extracted};
use clment_extract::{Sandbox, SandboxConfig};

/// The shared data directory (`/work/shared/data`), never copied into the repository.
pub fn data(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data")
        .join(rel)
}

/// The files of a data directory with one of `extensions`, sorted.
pub fn files(dir: &str, extensions: &[&str]) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(data(dir))
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| extensions.contains(&e))
        })
        .collect();
    out.sort();
    out
}

/// The worker binary built from this crate.
pub fn worker() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_clment-extract-worker"))
}

/// The default configuration for the test worker. The tests' wall time is generous: the test
/// profile builds the parser with little optimisation, and the machine is shared.
pub fn config() -> SandboxConfig {
    SandboxConfig {
        wall_time: Duration::from_secs(120),
        ..SandboxConfig::new(worker())
    }
}

pub fn sandbox() -> Sandbox {
    Sandbox::new(config())
}

/// What the upload path's sniffing says the bytes are.
pub fn sniff(bytes: &[u8]) -> Result<ContentKind, SniffError> {
    let mut s = Sniffer::new();
    s.feed(bytes)?;
    Ok(s.finish()?.kind)
}

/// The sniffed kind, or (for bytes the upload would refuse) the kind the extension claims, PDF
/// when it claims nothing.
pub fn kind_for(path: &Path, bytes: &[u8]) -> ContentKind {
    sniff(bytes).unwrap_or_else(|_| match path.extension().and_then(|e| e.to_str()) {
        Some("docx") => ContentKind::Docx,
        Some("txt") => ContentKind::Text,
        _ => ContentKind::Pdf,
    })
}

/// `pages` from docs/MANIFEST.tsv, by file name (`good/x.pdf`), where pdfinfo gave one.
pub fn manifest_pages() -> std::collections::HashMap<String, usize> {
    let manifest = std::fs::read_to_string(data("docs/MANIFEST.tsv")).unwrap();
    let mut lines = manifest.lines();
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    let file = header.iter().position(|h| *h == "file").unwrap();
    let pages = header.iter().position(|h| *h == "pages").unwrap();
    lines
        .filter_map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            let n = cols.get(pages)?.trim().parse().ok()?;
            Some((cols.get(file)?.to_string(), n))
        })
        .collect()
}

/// The text without whitespace, to compare modulo whitespace.
pub fn squash(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

/// A short description of an outcome for the tables.
pub fn outcome(r: &Result<Extracted, ExtractError>) -> String {
    match r {
        Ok(x) => format!(
            "ok ({} pages, {} chars)",
            x.pages.len(),
            x.text.chars().count()
        ),
        Err(ExtractError::Failed { code, detail }) => format!("{}: {detail}", code.as_str()),
        Err(ExtractError::Unavailable(why)) => format!("UNAVAILABLE: {why}"),
    }
}
