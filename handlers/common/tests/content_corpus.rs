//! The content sniffer against the shared document corpus.
//!
//! The corpus is the `shared` folder beside the repository root (`$CARGO_MANIFEST_DIR/../../../shared`
//! from `handlers/common`); set `CLMENT_SHARED_DIR` to use another copy. A missing corpus fails the
//! tests: it never passes silently.

use std::fs;
use std::path::{Path, PathBuf};

use clment_common::content::{ContentKind, SniffError, Sniffed, Sniffer, claimed_kind};

fn shared() -> PathBuf {
    let dir = std::env::var_os("CLMENT_SHARED_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"),
        PathBuf::from,
    );
    assert!(
        dir.join("data/docs/good").is_dir() && dir.join("data/docs/hostile").is_dir(),
        "the shared document corpus is missing: expected {}/data/docs/{{good,hostile}} (the `shared` \
         folder beside the repository root); set CLMENT_SHARED_DIR to point at it",
        dir.display()
    );
    dir
}

/// Files in `dir` (sorted), optionally only those with extension `ext`; never none.
fn files(dir: &Path, ext: Option<&str>) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| p.is_file())
        .filter(|p| ext.is_none_or(|x| p.extension().is_some_and(|e| e == x)))
        .collect();
    out.sort();
    assert!(!out.is_empty(), "no {ext:?} files in {}", dir.display());
    out
}

fn name(path: &Path) -> &str {
    path.file_name()
        .and_then(|n| n.to_str())
        .expect("UTF-8 file name")
}

fn sniff_bytes(
    bytes: &[u8],
    expected: Option<ContentKind>,
    chunk: usize,
) -> Result<Sniffed, SniffError> {
    let mut s = Sniffer::new().expecting(expected);
    for c in bytes.chunks(chunk) {
        s.feed(c)?;
    }
    s.finish()
}

/// Sniffs a file in two chunkings (one odd, so chunks straddle the interesting offsets) and checks
/// they agree.
fn sniff_file(path: &Path, expected: Option<ContentKind>) -> Result<Sniffed, SniffError> {
    let bytes = fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let whole = sniff_bytes(&bytes, expected, 64 * 1024);
    assert_eq!(
        sniff_bytes(&bytes, expected, 1000),
        whole,
        "{}: chunking changed the outcome",
        name(path)
    );
    if let Ok(s) = &whole {
        assert_eq!(s.size, bytes.len() as u64);
    }
    whole
}

fn claim(path: &Path) -> Option<ContentKind> {
    claimed_kind(None, Some(name(path))).unwrap_or_else(|e| panic!("{}: {e}", name(path)))
}

#[test]
fn content_corpus_good_documents_sniff_as_their_extension() {
    let dir = shared().join("data/docs/good");
    let all = files(&dir, None);
    for path in &all {
        let claimed = claim(path);
        let want = match path.extension().and_then(|e| e.to_str()) {
            Some("pdf") => ContentKind::Pdf,
            Some("docx") => ContentKind::Docx,
            other => panic!("{}: unexpected extension {other:?} in good/", name(path)),
        };
        assert_eq!(claimed, Some(want), "{}", name(path));
        assert_eq!(
            sniff_file(path, None).map(|s| s.kind),
            Ok(want),
            "{}",
            name(path)
        );
        assert_eq!(
            sniff_file(path, claimed).map(|s| s.kind),
            Ok(want),
            "{}",
            name(path)
        );
    }
    let docx = all
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "docx"))
        .count();
    eprintln!(
        "good/: {} files ({} PDF, {docx} DOCX) sniffed as their extension",
        all.len(),
        all.len() - docx
    );
}

#[test]
fn content_corpus_hostile_documents() {
    let dir = shared().join("data/docs/hostile");
    let mut seen = 0;
    for path in files(&dir, None) {
        let file = name(&path);
        let claimed = claim(&path);
        let plain = sniff_file(&path, None);
        let expecting = sniff_file(&path, claimed);
        match file {
            "empty.pdf" | "empty.docx" => {
                assert_eq!(plain, Err(SniffError::Empty), "{file}");
                assert_eq!(expecting, Err(SniffError::Empty), "{file}");
            }
            "random-bytes.pdf" => {
                assert!(
                    matches!(plain, Err(SniffError::Binary | SniffError::NotUtf8)),
                    "{file}: {plain:?}"
                );
                // Nothing we accept: its own error, not a mismatch.
                assert_eq!(expecting, plain, "{file}");
                // Refused by `feed` once 1024 bytes are in, not only at `finish`.
                let bytes = fs::read(&path).expect("read");
                let mut s = Sniffer::new();
                let early = bytes.chunks(256).map(|c| s.feed(c)).find(Result::is_err);
                assert_eq!(early, Some(plain.map(|_| ())), "{file}");
            }
            "legacy-word97-ole-named.docx" => {
                let legacy = Err(SniffError::Unsupported("legacy .doc (Word 97-2003)"));
                assert_eq!(plain, legacy, "{file}");
                assert_eq!(expecting, legacy, "{file}");
                assert_eq!(
                    plain.unwrap_err().to_string(),
                    "the file is a legacy .doc (Word 97-2003), which is not supported; save it as .docx or PDF"
                );
            }
            "docx-content-named.pdf" => {
                assert_eq!(claimed, Some(ContentKind::Pdf));
                assert_eq!(plain.map(|s| s.kind), Ok(ContentKind::Docx), "{file}");
                let mismatch = SniffError::Mismatch {
                    claimed: ContentKind::Pdf,
                    actual: ContentKind::Docx,
                };
                assert_eq!(expecting, Err(mismatch.clone()), "{file}");
                // At the first chunk.
                let bytes = fs::read(&path).expect("read");
                let mut s = Sniffer::new().expecting(claimed);
                assert_eq!(s.feed(&bytes[..4]), Err(mismatch), "{file}");
            }
            "zip-bomb-1GiB-document-xml.docx" => {
                // Structurally a DOCX; capping the 1 GiB inflation is the extractor's job.
                assert_eq!(plain.map(|s| s.kind), Ok(ContentKind::Docx), "{file}");
                assert_eq!(expecting.map(|s| s.kind), Ok(ContentKind::Docx), "{file}");
                let size = fs::metadata(&path).expect("metadata").len();
                assert!(
                    size > Sniffer::TAIL_LEN as u64,
                    "{file}: larger than the kept tail"
                );
            }
            _ => {
                let want = match path.extension().and_then(|e| e.to_str()) {
                    Some("pdf") => ContentKind::Pdf,
                    Some("docx") => ContentKind::Docx,
                    other => panic!("{file}: no expectation for extension {other:?}; add one"),
                };
                assert_eq!(plain.map(|s| s.kind), Ok(want), "{file}");
                assert_eq!(expecting.map(|s| s.kind), Ok(want), "{file}");
            }
        }
        eprintln!(
            "hostile/{file}: {:?}",
            sniff_file(&path, None).map(|s| s.kind)
        );
        seen += 1;
    }
    assert!(seen >= 15, "expected the 15 hostile files, saw {seen}");
}

#[test]
fn content_corpus_cuad_texts_sniff_as_text() {
    let dir = shared().join("data/cuad/dev");
    let texts = files(&dir, Some("txt"));
    for path in &texts {
        assert_eq!(claim(path), Some(ContentKind::Text), "{}", name(path));
        assert_eq!(
            sniff_file(path, None).map(|s| s.kind),
            Ok(ContentKind::Text),
            "{}",
            name(path)
        );
        assert_eq!(
            sniff_file(path, Some(ContentKind::Text)).map(|s| s.kind),
            Ok(ContentKind::Text),
            "{}",
            name(path)
        );
        // And they are not what a lying extension would claim.
        assert_eq!(
            sniff_file(path, Some(ContentKind::Pdf)),
            Err(SniffError::Mismatch {
                claimed: ContentKind::Pdf,
                actual: ContentKind::Text
            }),
            "{}",
            name(path)
        );
    }
    eprintln!("cuad/dev: {} .txt files sniffed as text", texts.len());
}
