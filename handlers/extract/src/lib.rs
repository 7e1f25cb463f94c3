//! Text extraction from PDF, DOCX and UTF-8 text, run in a resource-limited worker process.
//!
//! No PDF parser is safe inside the service process: a stack overflow or a failed allocation aborts
//! the whole process, and a thread stuck in a decompression bomb cannot be cancelled. So extraction
//! runs in a child process, the same executable in a worker mode:
//!
//! - [`Sandbox`] (the parent side) implements [`clment_common::ports::Extractor`]. It spawns one
//!   worker per document, writes the document to the worker's stdin, reads one JSON line from its
//!   size-capped stdout, kills it at the wall-time limit and runs at most
//!   [`SandboxConfig::max_concurrent`] workers at once (more wait their turn).
//! - [`worker_main`] (the child side) first limits its own address space, CPU time, core dumps,
//!   file writes and open files, then reads the document from stdin and extracts it on a thread
//!   with a large stack, inside `catch_unwind`.
//! - [`extract`] (and [`extract_pdf`], [`extract_docx`], [`extract_text`]) do the actual work
//!   in-process. Call them only inside the worker.
//!
//! Output: the text, pages separated by form feeds (`\u{c}`), and the character offset (Unicode
//! scalar values) where each page starts. Failure details never quote the document.
//!
//! The decision and its measurements: `docs/adr/0014-text-extraction.md`.

#![warn(missing_docs)]

mod docx;
mod limits;
mod pdf;
mod sandbox;
mod text;
mod worker;

pub use clment_common::content::ContentKind;
pub use clment_common::ports::{ExtractError, ExtractFailureCode, Extracted};
pub use docx::extract_docx;
pub use limits::{BadArgument, Limits};
pub use pdf::extract_pdf;
pub use sandbox::{Sandbox, SandboxConfig};
pub use text::extract_text;
pub use worker::{EXIT_SETUP, EXIT_USAGE, worker_main};

/// Extracts `bytes` of `kind` in this process. Only the worker should call this: a hostile PDF can
/// overflow the stack or exhaust memory, which aborts the process.
///
/// # Errors
/// [`ExtractError::Failed`] with the reason; never [`ExtractError::Unavailable`].
pub fn extract(
    kind: ContentKind,
    bytes: Vec<u8>,
    limits: &Limits,
) -> Result<Extracted, ExtractError> {
    match kind {
        ContentKind::Pdf => extract_pdf(bytes, limits),
        ContentKind::Docx => extract_docx(&bytes, limits),
        ContentKind::Text => extract_text(bytes, limits),
    }
}

/// A final failure with a reason code and a detail that does not quote the document.
pub(crate) fn failed(code: ExtractFailureCode, detail: impl Into<String>) -> ExtractError {
    ExtractError::Failed {
        code,
        detail: detail.into(),
    }
}

/// The output passed [`Limits::max_chars`].
pub(crate) fn too_much_text(limits: &Limits) -> ExtractError {
    failed(
        ExtractFailureCode::TooLarge,
        format!(
            "the extracted text is longer than {} characters",
            limits.max_chars
        ),
    )
}

/// Fewer letters and digits than this in a whole PDF or DOCX means it has no usable text.
pub(crate) const MIN_ALPHANUMERIC: u64 = 20;

/// Letters and digits in `s`.
pub(crate) fn alphanumeric(s: &str) -> u64 {
    s.chars().filter(|c| c.is_alphanumeric()).count() as u64
}
