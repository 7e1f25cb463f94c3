//! What an uploaded contract really is, decided from its bytes while they stream; and file-name hygiene.
//!
//! - [`ContentKind`]: the three kinds we accept: PDF, DOCX and UTF-8 text.
//! - [`Sniffer`]: a small state machine fed chunk by chunk. It refuses bad input as soon as the bytes
//!   prove it bad, confirms the kind at [`Sniffer::finish`], and never holds more than
//!   [`Sniffer::MAX_BUFFERED`] bytes (1 MiB + 1 KiB), whatever the upload's size.
//! - [`claimed_kind`]: what the client *says* (`Content-Type`, file-name extension), checked for
//!   consistency before the body is read. Pass it to [`Sniffer::expecting`] so that bytes contradicting
//!   the claim fail early, with [`SniffError::Mismatch`].
//! - [`FileName`]: a sanitised file name that is safe to store, show, and send back in
//!   `Content-Disposition`.
//!
//! Everything here is pure: no I/O, no async. Error messages never quote file content (a
//! [`ClaimError`] quotes the *claimed* type, reduced to a bounded run of token characters).
//!
//! # Decisions
//!
//! **Order of detection** (on the first 1024 bytes, the "head"): a leading ZIP local-file header
//! `PK\x03\x04` means DOCX (to be confirmed); a leading OLE2 signature means a legacy `.doc`
//! (refused); a leading `{\rtf` means RTF (refused: it is ASCII, so it would otherwise pass as text
//! and be reviewed as markup); `%PDF-` lying wholly within the first 1024 bytes, after any junk, means
//! PDF (as Acrobat and pdf.js tolerate); anything else must be text.
//!
//! **When it fails.** ZIP, OLE and RTF are decided at 4, 8 and 5 bytes; PDF as soon as `%PDF-` is
//! seen. Bytes that are not text cannot be refused before 1024 bytes (or the end, if shorter),
//! because `%PDF-` may still follow junk; at that point they are refused at once. After that, text
//! is checked as it streams: invalid UTF-8 or a NUL fails the `feed` that brings it; the control
//! character share is checked at `finish` (it needs the total).
//!
//! **Text** is UTF-8, validated incrementally (a sequence split across chunks is fine; one cut off by
//! the end is not). A UTF-8 BOM is allowed. NUL is never allowed. Other C0 controls than `\t`, `\n`,
//! `\r` and form feed are refused in the first 512 bytes and allowed elsewhere up to 1% of the size
//! (stray `^Z`, `^H` in old exports). C1 controls and DEL are not counted. A UTF-16 BOM gives
//! [`SniffError::NotUtf8`] (save as UTF-8); a head with NULs or early controls gives
//! [`SniffError::Binary`]; other invalid UTF-8 gives [`SniffError::NotUtf8`].
//!
//! **DOCX** is confirmed at `finish` from the last 1 MiB, kept in a ring buffer: the end of central
//! directory (EOCD) record is searched in the last 65,557 bytes (the exact end is preferred, trailing
//! junk is tolerated); the central directory must lie wholly in the kept tail (else "central directory
//! too large"), hold at most 10,000 entries (zip-bomb guard; the EOCD count is checked before
//! walking), and name both `word/document.xml` and `[Content_Types].xml` exactly (byte-wise, as Word
//! writes them). ZIP64 is supported minimally: when a ZIP64 EOCD locator precedes the EOCD, the ZIP64
//! EOCD record it points at (which must be in the tail) supplies the count, size and offset. Split
//! archives are refused. Entry contents are never inflated: a zip bomb that is structurally a DOCX
//! sniffs as DOCX, and capping decompression is the extractor's job.
//!
//! **Mismatch.** With an expectation, the first decision that contradicts it fails with
//! [`SniffError::Mismatch`]. A leading `PK\x03\x04` counts as DOCX for this purpose, before the
//! central directory confirms it (a ZIP is not a PDF or text either way). When the claim is DOCX but
//! the bytes do not start with `PK\x03\x04`, the failure waits until the actual kind is known (PDF
//! marker, 1024 bytes of text, or the end); bytes that are nothing we accept fail with their own error
//! rather than a mismatch. An OLE file is always [`SniffError::Unsupported`]. Note that a
//! password-protected `.docx` is an OLE container too, so it gets the legacy `.doc` error.
//!
//! **Claims.** Content types are matched on their essence, case-insensitively:
//! `application/pdf` (and the old `application/x-pdf`), the DOCX type, `text/plain` and
//! `text/markdown` (a `charset` parameter must be `utf-8`, `utf8` or `us-ascii`). Generic types make
//! no claim: `application/octet-stream`, `binary/octet-stream`, `application/zip`,
//! `application/x-zip-compressed` (some systems label `.docx` so) and `multipart/*`; so do a missing,
//! empty or malformed content type. Any other well-formed type is [`ClaimError::Unsupported`].
//! Extensions are read from the sanitised file name: `.pdf`, `.docx`, `.txt`, `.text`, `.md` and
//! `.markdown` claim a kind; a known foreign extension (`.doc`, `.xlsx`, `.exe`, images, archives,
//! ...) is [`ClaimError::Unsupported`]; anything else (no extension, `Smith v. Jones`, `Lease.v2`)
//! makes no claim, since people put dots in names and the bytes decide anyway.
//!
//! **File names.** See [`FileName::sanitize`]. Deserialising a [`FileName`] re-sanitises it (so
//! stored names keep working if the rules tighten) and refuses one with nothing usable left.

use std::collections::VecDeque;
use std::fmt::{self, Write as _};

use serde::{Deserialize, Serialize};

const DOCX_MIME: &str = "application/vnd.openxmlformats-officedocument.wordprocessingml.document";

/// The kinds of contract file we accept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ContentKind {
    /// A PDF document.
    Pdf,
    /// A Word (Office Open XML) document.
    Docx,
    /// UTF-8 plain text.
    Text,
}

impl ContentKind {
    /// Every kind.
    pub const ALL: [Self; 3] = [Self::Pdf, Self::Docx, Self::Text];

    /// The media type to store and serve the file with.
    #[must_use]
    pub const fn mime(&self) -> &'static str {
        match self {
            Self::Pdf => "application/pdf",
            Self::Docx => DOCX_MIME,
            Self::Text => "text/plain; charset=utf-8",
        }
    }

    /// The usual file-name extension, without the dot.
    #[must_use]
    pub const fn extension(&self) -> &'static str {
        match self {
            Self::Pdf => "pdf",
            Self::Docx => "docx",
            Self::Text => "txt",
        }
    }

    /// The kind a media type names, by the same rules as [`claimed_kind`] (so `text/plain` with a
    /// charset other than UTF-8 or US-ASCII is `None`). Reads back a stored [`ContentKind::mime`].
    #[must_use]
    pub fn from_mime(content_type: &str) -> Option<Self> {
        kind_from_content_type(content_type).ok().flatten()
    }

    /// With an article, for sentences.
    const fn described(self) -> &'static str {
        match self {
            Self::Pdf => "a PDF",
            Self::Docx => "a Word document (DOCX)",
            Self::Text => "plain text",
        }
    }
}

impl fmt::Display for ContentKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Pdf => "PDF",
            Self::Docx => "DOCX",
            Self::Text => "text",
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Sniffing
// ---------------------------------------------------------------------------------------------

/// Why the bytes were refused. Messages say what to do and never quote the file.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SniffError {
    /// No bytes at all.
    #[error("the file is empty")]
    Empty,
    /// Neither PDF, DOCX nor text: NUL bytes, control characters, or an unknown binary format.
    #[error("the file is not UTF-8 text, PDF or DOCX")]
    Binary,
    /// Text-like, but not valid UTF-8 (Latin-1, Windows-1252, UTF-16, or cut off mid-character).
    #[error(
        "the file looks like text but is not UTF-8 encoded; save it as UTF-8 text, PDF or DOCX"
    )]
    NotUtf8,
    /// A ZIP archive that is not a (usable) Word document; the reason is fixed text.
    #[error("the file is a ZIP archive but not a Word document ({0})")]
    NotDocx(&'static str),
    /// A format we recognise and do not accept, such as `"legacy .doc (Word 97-2003)"`.
    #[error("the file is a {0}, which is not supported; save it as .docx or PDF")]
    Unsupported(&'static str),
    /// The bytes are a different kind than the client declared.
    #[error(
        "the file was declared as {} but its content is {}",
        .claimed.described(),
        .actual.described()
    )]
    Mismatch {
        /// What the client declared.
        claimed: ContentKind,
        /// What the bytes are.
        actual: ContentKind,
    },
}

/// What [`Sniffer::finish`] decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sniffed {
    /// The kind.
    pub kind: ContentKind,
    /// Bytes fed in total.
    pub size: u64,
}

const HEAD_LEN: usize = 1024;
const TAIL_LEN: usize = 1 << 20;
const TEXT_STRICT_LEN: u64 = 512;
const MAX_ZIP_ENTRIES: u64 = 10_000;

const ZIP_MAGIC: &[u8] = b"PK\x03\x04";
const OLE_MAGIC: &[u8] = &[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
const RTF_MAGIC: &[u8] = b"{\\rtf";
const PDF_MARKER: &[u8] = b"%PDF-";

const LEGACY_DOC: &str = "legacy .doc (Word 97-2003)";
const RTF: &str = "Rich Text Format (RTF) document";

/// Decides an upload's [`ContentKind`] from its bytes as they stream.
///
/// ```
/// use clment_common::content::{ContentKind, Sniffer};
/// let mut s = Sniffer::new().expecting(Some(ContentKind::Pdf));
/// s.feed(b"%PDF-1.7\n").unwrap();
/// s.feed(b"...").unwrap();
/// assert_eq!(s.finish().unwrap().kind, ContentKind::Pdf);
/// ```
///
/// After an error, `feed` and `finish` keep returning that error. The outcome does not depend on how
/// the input is split into chunks.
pub struct Sniffer {
    expected: Option<ContentKind>,
    size: u64,
    state: State,
    text: TextCheck,
    failed: Option<SniffError>,
}

enum State {
    /// Fewer than [`HEAD_LEN`] bytes seen and nothing decided: the head so far.
    Undecided(Vec<u8>),
    Decided(Mode),
    /// After an error: nothing kept.
    Failed,
}

enum Mode {
    Pdf,
    Text,
    /// Starts with a ZIP local-file header: the last [`TAIL_LEN`] bytes, for the central directory.
    Zip(VecDeque<u8>),
}

#[derive(Clone, Copy)]
enum Decision {
    Zip,
    Ole,
    Rtf,
    Pdf,
    Text,
}

impl Default for Sniffer {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Sniffer {
    // Never the bytes: only what was decided and how much is held.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sniffer")
            .field("expected", &self.expected)
            .field("size", &self.size)
            .field("kind", &self.provisional_kind())
            .field("buffered", &self.buffered())
            .field("failed", &self.failed)
            .finish()
    }
}

impl Sniffer {
    /// Bytes of the head kept while undecided, where `%PDF-` must appear.
    pub const HEAD_LEN: usize = HEAD_LEN;
    /// Bytes of a ZIP's tail kept for the central directory.
    pub const TAIL_LEN: usize = TAIL_LEN;
    /// The most the sniffer ever holds.
    pub const MAX_BUFFERED: usize = TAIL_LEN + HEAD_LEN;
    /// Most ZIP entries a DOCX may have.
    pub const MAX_ZIP_ENTRIES: u64 = MAX_ZIP_ENTRIES;

    /// A sniffer with no expectation.
    #[must_use]
    pub fn new() -> Self {
        Self {
            expected: None,
            size: 0,
            state: State::Undecided(Vec::with_capacity(HEAD_LEN)),
            text: TextCheck::default(),
            failed: None,
        }
    }

    /// Fails with [`SniffError::Mismatch`] as soon as the bytes prove a kind other than `kind`
    /// (`None`: no expectation). Pass the result of [`claimed_kind`].
    #[must_use]
    pub fn expecting(mut self, kind: Option<ContentKind>) -> Self {
        self.expected = kind;
        self
    }

    /// Bytes fed so far.
    #[must_use]
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The kind decided so far, if any. DOCX is provisional until [`Sniffer::finish`] has read the
    /// central directory; text until the last byte is checked.
    #[must_use]
    pub fn provisional_kind(&self) -> Option<ContentKind> {
        match &self.state {
            State::Decided(Mode::Pdf) => Some(ContentKind::Pdf),
            State::Decided(Mode::Text) => Some(ContentKind::Text),
            State::Decided(Mode::Zip(_)) => Some(ContentKind::Docx),
            State::Undecided(_) | State::Failed => None,
        }
    }

    /// Feeds the next chunk.
    ///
    /// # Errors
    /// A [`SniffError`] as soon as the bytes so far prove the file unacceptable, or a different kind
    /// than expected. Once failed, every later call returns the same error.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<(), SniffError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let result = self.feed_inner(chunk);
        if let Err(e) = &result {
            self.fail(e.clone());
        }
        result
    }

    /// Ends the input and confirms the kind.
    ///
    /// # Errors
    /// [`SniffError::Empty`] for no bytes; otherwise whatever the complete input proves.
    pub fn finish(mut self) -> Result<Sniffed, SniffError> {
        if let Some(e) = self.failed.take() {
            return Err(e);
        }
        if self.size == 0 {
            return Err(SniffError::Empty);
        }
        let mode = match std::mem::replace(&mut self.state, State::Failed) {
            State::Decided(mode) => mode,
            State::Undecided(head) => {
                let decision = classify(&head, true).unwrap_or(Decision::Text);
                decide(decision, head, &self.text, self.expected)?
            }
            // Only after an error, and `failed` returned it above.
            State::Failed => return Err(SniffError::Binary),
        };
        let kind = match mode {
            Mode::Pdf => ContentKind::Pdf,
            Mode::Text => {
                self.text.finish()?;
                ContentKind::Text
            }
            Mode::Zip(mut tail) => {
                check_docx(tail.make_contiguous(), self.size).map_err(SniffError::NotDocx)?;
                ContentKind::Docx
            }
        };
        Ok(Sniffed {
            kind,
            size: self.size,
        })
    }

    fn feed_inner(&mut self, chunk: &[u8]) -> Result<(), SniffError> {
        let mut rest = chunk;
        if let State::Undecided(head) = &mut self.state {
            let take = (HEAD_LEN - head.len()).min(rest.len());
            let (now, later) = rest.split_at(take);
            head.extend_from_slice(now);
            // While undecided a text fault is only remembered: `%PDF-` may still come.
            let _ = self.text.feed(now);
            self.size += take as u64;
            rest = later;
            let Some(decision) = classify(head, false) else {
                return Ok(());
            };
            let head = std::mem::take(head);
            self.state = State::Decided(decide(decision, head, &self.text, self.expected)?);
        }
        self.size = self.size.saturating_add(rest.len() as u64);
        match &mut self.state {
            State::Decided(Mode::Text) => self.text.feed(rest).map_err(SniffError::from),
            State::Decided(Mode::Zip(tail)) => {
                push_tail(tail, rest);
                Ok(())
            }
            State::Decided(Mode::Pdf) | State::Undecided(_) | State::Failed => Ok(()),
        }
    }

    fn fail(&mut self, e: SniffError) {
        self.state = State::Failed;
        self.failed = Some(e);
    }

    /// Bytes of buffer capacity held.
    fn buffered(&self) -> usize {
        match &self.state {
            State::Undecided(head) => head.capacity(),
            State::Decided(Mode::Zip(tail)) => tail.capacity(),
            State::Decided(_) | State::Failed => 0,
        }
    }
}

/// What the head says, or `None` when more bytes are needed. Checks run in a fixed order and each
/// decision, once made on a prefix, is the one any longer prefix gives, so chunking cannot matter.
fn classify(head: &[u8], at_end: bool) -> Option<Decision> {
    if head.starts_with(ZIP_MAGIC) {
        Some(Decision::Zip)
    } else if head.starts_with(OLE_MAGIC) {
        Some(Decision::Ole)
    } else if head.starts_with(RTF_MAGIC) {
        Some(Decision::Rtf)
    } else if head.windows(PDF_MARKER.len()).any(|w| w == PDF_MARKER) {
        Some(Decision::Pdf)
    } else if at_end || head.len() >= HEAD_LEN {
        Some(Decision::Text)
    } else {
        None
    }
}

fn decide(
    decision: Decision,
    head: Vec<u8>,
    text: &TextCheck,
    expected: Option<ContentKind>,
) -> Result<Mode, SniffError> {
    let (kind, mode) = match decision {
        Decision::Ole => return Err(SniffError::Unsupported(LEGACY_DOC)),
        Decision::Rtf => return Err(SniffError::Unsupported(RTF)),
        Decision::Pdf => (ContentKind::Pdf, Mode::Pdf),
        Decision::Zip => (ContentKind::Docx, Mode::Zip(VecDeque::from(head))),
        Decision::Text => {
            if text.fault.is_some() {
                return Err(head_fault(&head));
            }
            (ContentKind::Text, Mode::Text)
        }
    };
    match expected {
        Some(claimed) if claimed != kind => Err(SniffError::Mismatch {
            claimed,
            actual: kind,
        }),
        _ => Ok(mode),
    }
}

/// Which error a head that failed the text check deserves.
fn head_fault(head: &[u8]) -> SniffError {
    if head.starts_with(&[0xFF, 0xFE]) || head.starts_with(&[0xFE, 0xFF]) {
        return SniffError::NotUtf8;
    }
    let strict = &head[..head.len().min(TEXT_STRICT_LEN as usize)];
    let controls = head.iter().filter(|&&b| is_bad_control(b)).count();
    if head.contains(&0) || strict.iter().any(|&b| is_bad_control(b)) || controls * 100 > head.len()
    {
        SniffError::Binary
    } else {
        SniffError::NotUtf8
    }
}

/// A C0 control other than tab, line feed, carriage return and form feed (NUL included).
const fn is_bad_control(b: u8) -> bool {
    b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r' | 0x0C)
}

/// Appends to the ZIP tail, keeping at most [`TAIL_LEN`] bytes and never allocating more.
fn push_tail(tail: &mut VecDeque<u8>, data: &[u8]) {
    let data = if data.len() >= TAIL_LEN {
        tail.clear();
        &data[data.len() - TAIL_LEN..]
    } else {
        data
    };
    let excess = (tail.len() + data.len()).saturating_sub(TAIL_LEN);
    tail.drain(..excess);
    let needed = tail.len() + data.len();
    if needed > tail.capacity() {
        let target = needed.max(tail.capacity().saturating_mul(2)).min(TAIL_LEN);
        tail.reserve_exact(target - tail.len());
    }
    tail.extend(data);
}

// --- text ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TextFault {
    NotUtf8,
    Binary,
}

impl From<TextFault> for SniffError {
    fn from(f: TextFault) -> Self {
        match f {
            TextFault::NotUtf8 => Self::NotUtf8,
            TextFault::Binary => Self::Binary,
        }
    }
}

/// Incremental UTF-8 and control-character check.
#[derive(Default)]
struct TextCheck {
    /// Bytes checked so far.
    pos: u64,
    /// The start of a UTF-8 sequence cut by a chunk boundary.
    pending: [u8; 4],
    pending_len: usize,
    /// Disallowed controls seen after the first [`TEXT_STRICT_LEN`] bytes.
    controls: u64,
    /// The first fault; once set, input is ignored.
    fault: Option<TextFault>,
}

impl TextCheck {
    /// Checks the next bytes. Of several faults, the one earliest in the input wins, so the result
    /// does not depend on chunking.
    fn feed(&mut self, data: &[u8]) -> Result<(), TextFault> {
        if let Some(f) = self.fault {
            return Err(f);
        }
        let utf8_at = self.utf8_fault(data);
        let control_at = self.control_fault(data);
        self.pos += data.len() as u64;
        let fault = match (utf8_at, control_at) {
            (Some(u), Some(c)) if c < u => Some(TextFault::Binary),
            (Some(_), _) => Some(TextFault::NotUtf8),
            (None, Some(_)) => Some(TextFault::Binary),
            (None, None) => None,
        };
        self.fault = fault;
        fault.map_or(Ok(()), Err)
    }

    /// Index in `data` of the first invalid UTF-8 (0 when the carried-over sequence is the bad one,
    /// since it started earlier).
    fn utf8_fault(&mut self, data: &[u8]) -> Option<usize> {
        let mut start = 0;
        if self.pending_len > 0 {
            let width = match self.pending[0] {
                0xC0..=0xDF => 2,
                0xE0..=0xEF => 3,
                _ => 4,
            };
            let take = (width - self.pending_len).min(data.len());
            self.pending[self.pending_len..self.pending_len + take].copy_from_slice(&data[..take]);
            self.pending_len += take;
            match std::str::from_utf8(&self.pending[..self.pending_len]) {
                Ok(_) => self.pending_len = 0,
                Err(e) if e.error_len().is_some() => return Some(0),
                Err(_) => return None, // still incomplete: `data` is used up
            }
            start = take;
        }
        let rest = &data[start..];
        match std::str::from_utf8(rest) {
            Ok(_) => None,
            Err(e) if e.error_len().is_some() => Some(start + e.valid_up_to()),
            Err(e) => {
                let cut = &rest[e.valid_up_to()..];
                self.pending[..cut.len()].copy_from_slice(cut);
                self.pending_len = cut.len();
                None
            }
        }
    }

    /// Index in `data` of the first fatal control character; counts the tolerated ones.
    fn control_fault(&mut self, data: &[u8]) -> Option<usize> {
        for (i, &b) in data.iter().enumerate() {
            if is_bad_control(b) {
                if b == 0 || self.pos + (i as u64) < TEXT_STRICT_LEN {
                    return Some(i);
                }
                self.controls += 1;
            }
        }
        None
    }

    fn finish(&self) -> Result<(), SniffError> {
        if let Some(f) = self.fault {
            return Err(f.into());
        }
        if self.pending_len > 0 {
            return Err(SniffError::NotUtf8);
        }
        if self.controls.saturating_mul(100) > self.pos {
            return Err(SniffError::Binary);
        }
        Ok(())
    }
}

// --- ZIP ----------------------------------------------------------------------------------------

const EOCD_SIG: &[u8] = b"PK\x05\x06";
const EOCD_LEN: usize = 22;
/// The EOCD record plus the longest comment.
const EOCD_SEARCH: usize = EOCD_LEN + u16::MAX as usize;
const ZIP64_LOCATOR_SIG: &[u8] = b"PK\x06\x07";
const ZIP64_LOCATOR_LEN: usize = 20;
const ZIP64_EOCD_SIG: &[u8] = b"PK\x06\x06";
const ZIP64_EOCD_LEN: usize = 56;
const CENTRAL_HEADER_SIG: &[u8] = b"PK\x01\x02";
const CENTRAL_HEADER_LEN: usize = 46;

const NO_EOCD: &str = "damaged: no end of central directory record";
const BAD_CENTRAL_DIRECTORY: &str = "damaged central directory";
const BAD_ZIP64: &str = "damaged ZIP64 end of central directory record";
const SPLIT_ARCHIVE: &str = "split across several files";
const CD_TOO_LARGE: &str = "central directory too large";
const TOO_MANY_ENTRIES: &str = "more than 10,000 entries";
const NO_DOCUMENT: &str = "no word/document.xml";
const NO_CONTENT_TYPES: &str = "no [Content_Types].xml";

fn bytes_at<const N: usize>(b: &[u8], at: usize) -> Option<[u8; N]> {
    b.get(at..)?.get(..N)?.try_into().ok()
}

fn le16(b: &[u8], at: usize) -> Option<u16> {
    bytes_at(b, at).map(u16::from_le_bytes)
}

fn le32(b: &[u8], at: usize) -> Option<u32> {
    bytes_at(b, at).map(u32::from_le_bytes)
}

fn le64(b: &[u8], at: usize) -> Option<u64> {
    bytes_at(b, at).map(u64::from_le_bytes)
}

/// The EOCD record's position in `tail`: the one ending exactly at the end if any, else the last one
/// whose comment fits.
fn find_eocd(tail: &[u8]) -> Option<usize> {
    let last = tail.len().checked_sub(EOCD_LEN)?;
    let first = tail.len().saturating_sub(EOCD_SEARCH);
    let mut loose = None;
    for pos in (first..=last).rev() {
        if &tail[pos..pos + 4] != EOCD_SIG {
            continue;
        }
        let Some(comment_len) = le16(tail, pos + 20) else {
            continue;
        };
        let end = pos + EOCD_LEN + usize::from(comment_len);
        if end == tail.len() {
            return Some(pos);
        }
        if end < tail.len() && loose.is_none() {
            loose = Some(pos);
        }
    }
    loose
}

/// Confirms that the ZIP whose last bytes are `tail` (of `size` in all) is a DOCX.
fn check_docx(tail: &[u8], size: u64) -> Result<(), &'static str> {
    // Absolute offset of tail[0].
    let base = size - tail.len() as u64;
    let eocd = find_eocd(tail).ok_or(NO_EOCD)?;
    let field16 = |at: usize| le16(tail, eocd + at).ok_or(NO_EOCD);
    let field32 = |at: usize| le32(tail, eocd + at).ok_or(NO_EOCD);

    let locator = eocd
        .checked_sub(ZIP64_LOCATOR_LEN)
        .filter(|&l| tail[l..].starts_with(ZIP64_LOCATOR_SIG));
    let (entries, cd_size, cd_offset, cd_limit) = if let Some(loc) = locator {
        let disk = le32(tail, loc + 4).ok_or(BAD_ZIP64)?;
        let record_at = le64(tail, loc + 8).ok_or(BAD_ZIP64)?;
        let disks = le32(tail, loc + 16).ok_or(BAD_ZIP64)?;
        if disk != 0 || disks > 1 {
            return Err(SPLIT_ARCHIVE);
        }
        if record_at < base {
            // The ZIP64 record follows the central directory, so that lies before the tail too.
            return Err(CD_TOO_LARGE);
        }
        let rec = usize::try_from(record_at - base).map_err(|_| BAD_ZIP64)?;
        if rec.checked_add(ZIP64_EOCD_LEN).is_none_or(|end| end > loc)
            || !tail[rec..].starts_with(ZIP64_EOCD_SIG)
        {
            return Err(BAD_ZIP64);
        }
        let r32 = |at: usize| le32(tail, rec + at).ok_or(BAD_ZIP64);
        let r64 = |at: usize| le64(tail, rec + at).ok_or(BAD_ZIP64);
        if r32(16)? != 0 || r32(20)? != 0 || r64(24)? != r64(32)? {
            return Err(SPLIT_ARCHIVE);
        }
        (r64(32)?, r64(40)?, r64(48)?, record_at)
    } else {
        if field16(4)? != 0 || field16(6)? != 0 || field16(8)? != field16(10)? {
            return Err(SPLIT_ARCHIVE);
        }
        (
            u64::from(field16(10)?),
            u64::from(field32(12)?),
            u64::from(field32(16)?),
            base + eocd as u64,
        )
    };
    if entries > MAX_ZIP_ENTRIES {
        return Err(TOO_MANY_ENTRIES);
    }
    let cd_end = cd_offset
        .checked_add(cd_size)
        .filter(|&end| end <= cd_limit)
        .ok_or(BAD_CENTRAL_DIRECTORY)?;
    if cd_offset < base {
        return Err(CD_TOO_LARGE);
    }
    // Both lie within the tail now, so they fit in usize.
    let from = usize::try_from(cd_offset - base).map_err(|_| BAD_CENTRAL_DIRECTORY)?;
    let to = usize::try_from(cd_end - base).map_err(|_| BAD_CENTRAL_DIRECTORY)?;
    let cd = &tail[from..to];

    let (mut document, mut content_types) = (false, false);
    let mut p = 0usize;
    for _ in 0..entries {
        if !cd[p.min(cd.len())..].starts_with(CENTRAL_HEADER_SIG) {
            return Err(BAD_CENTRAL_DIRECTORY);
        }
        let field = |at: usize| {
            le16(cd, p + at)
                .map(usize::from)
                .ok_or(BAD_CENTRAL_DIRECTORY)
        };
        let (name_len, extra_len, comment_len) = (field(28)?, field(30)?, field(32)?);
        let name_at = p + CENTRAL_HEADER_LEN;
        let name = cd
            .get(name_at..name_at + name_len)
            .ok_or(BAD_CENTRAL_DIRECTORY)?;
        match name {
            b"word/document.xml" => document = true,
            b"[Content_Types].xml" => content_types = true,
            _ => {}
        }
        p = name_at + name_len + extra_len + comment_len;
    }
    if !document {
        return Err(NO_DOCUMENT);
    }
    if !content_types {
        return Err(NO_CONTENT_TYPES);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Claims
// ---------------------------------------------------------------------------------------------

/// Why the declared type was refused before reading the body.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ClaimError {
    /// A type we do not accept (a media type, or an extension with its dot), reduced to at most 100
    /// token characters.
    #[error(
        "files of type {0} are not accepted; upload a PDF, a Word document (.docx) or UTF-8 text"
    )]
    Unsupported(String),
    /// Text declared in a charset other than UTF-8 or US-ASCII (sanitised like `Unsupported`).
    #[error("text files must be UTF-8; the declared charset {0} is not accepted")]
    Charset(String),
    /// The content type and the file-name extension name different kinds.
    #[error(
        "the declared content type ({content_type}) and the file name extension ({extension}) disagree"
    )]
    Conflict {
        /// What the content type says.
        content_type: ContentKind,
        /// What the extension says.
        extension: ContentKind,
    },
}

/// What the client claims the file is, from the part's or request's `Content-Type` and the file
/// name. `Ok(None)`: no claim (generic or missing type, no recognised extension); the bytes decide.
///
/// # Errors
/// [`ClaimError::Unsupported`] for a type that is none of ours, [`ClaimError::Charset`] for non-UTF-8
/// text, [`ClaimError::Conflict`] when the type and the extension disagree. Content-type errors come
/// first.
pub fn claimed_kind(
    content_type: Option<&str>,
    file_name: Option<&str>,
) -> Result<Option<ContentKind>, ClaimError> {
    let by_type = content_type
        .map(kind_from_content_type)
        .transpose()?
        .flatten();
    let by_name = file_name.map(kind_from_file_name).transpose()?.flatten();
    match (by_type, by_name) {
        (Some(content_type), Some(extension)) if content_type != extension => {
            Err(ClaimError::Conflict {
                content_type,
                extension,
            })
        }
        (t, n) => Ok(t.or(n)),
    }
}

/// RFC 9110 `tchar`.
const fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'!' | b'#'
                | b'$'
                | b'%'
                | b'&'
                | b'\''
                | b'*'
                | b'+'
                | b'-'
                | b'.'
                | b'^'
                | b'_'
                | b'`'
                | b'|'
                | b'~'
        )
}

fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_tchar)
}

/// At most `max` token characters of `s` (plus `/`), for quoting back in a message.
fn quote_safe(s: &str, max: usize) -> String {
    let mut out: String = s
        .chars()
        .filter(|&c| c.is_ascii() && (is_tchar(c as u8) || c == '/'))
        .take(max)
        .collect::<String>()
        .to_ascii_lowercase();
    if out.is_empty() {
        out.push_str("(empty)");
    }
    out
}

fn kind_from_content_type(raw: &str) -> Result<Option<ContentKind>, ClaimError> {
    let mut parts = raw.split(';');
    let essence = parts.next().unwrap_or_default().trim();
    let Some((ty, sub)) = essence.split_once('/') else {
        return Ok(None); // empty or malformed: no claim
    };
    if !is_token(ty) || !is_token(sub) {
        return Ok(None);
    }
    let essence = essence.to_ascii_lowercase();
    let kind = match essence.as_str() {
        "application/pdf" | "application/x-pdf" => ContentKind::Pdf,
        DOCX_MIME => ContentKind::Docx,
        "text/plain" | "text/markdown" | "text/x-markdown" => ContentKind::Text,
        "application/octet-stream"
        | "binary/octet-stream"
        | "application/zip"
        | "application/x-zip-compressed" => return Ok(None),
        e if e.starts_with("multipart/") => return Ok(None),
        _ => return Err(ClaimError::Unsupported(quote_safe(&essence, 100))),
    };
    if kind == ContentKind::Text {
        for param in parts {
            let Some((name, value)) = param.split_once('=') else {
                continue;
            };
            if !name.trim().eq_ignore_ascii_case("charset") {
                continue;
            }
            let value = value.trim().trim_matches('"').trim();
            let ok = ["utf-8", "utf8", "us-ascii"]
                .iter()
                .any(|c| value.eq_ignore_ascii_case(c));
            if !ok {
                return Err(ClaimError::Charset(quote_safe(value, 40)));
            }
        }
    }
    Ok(Some(kind))
}

/// Extensions that name a type we do not accept (other documents, spreadsheets, slides, images,
/// archives, executables and scripts, mail, media). Anything not here and not ours is no claim.
const FOREIGN_EXTENSIONS: &[&str] = &[
    "doc", "docm", "dot", "dotx", "dotm", "rtf", "odt", "ott", "pages", "wpd", "wps", "xps",
    "oxps", "epub", "htm", "html", "xhtml", "mht", "mhtml", "xml", "json", "csv", "tsv", "xls",
    "xlsx", "xlsm", "xlsb", "ods", "ppt", "pptx", "pptm", "odp", "png", "jpg", "jpeg", "gif",
    "bmp", "tif", "tiff", "webp", "heic", "heif", "svg", "zip", "7z", "rar", "gz", "tgz", "tar",
    "bz2", "xz", "exe", "dll", "msi", "bat", "cmd", "scr", "ps1", "sh", "js", "vbs", "jar", "apk",
    "dmg", "iso", "eml", "msg", "mp3", "mp4", "mov", "avi", "wav",
];

fn kind_from_file_name(raw: &str) -> Result<Option<ContentKind>, ClaimError> {
    let Some(name) = sanitize_core(raw) else {
        return Ok(None);
    };
    let Some((_, ext)) = name.rsplit_once('.') else {
        return Ok(None);
    };
    if ext.is_empty() || ext.len() > 10 || !ext.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Ok(None);
    }
    let ext = ext.to_ascii_lowercase();
    Ok(Some(match ext.as_str() {
        "pdf" => ContentKind::Pdf,
        "docx" => ContentKind::Docx,
        "txt" | "text" | "md" | "markdown" => ContentKind::Text,
        e if FOREIGN_EXTENSIONS.contains(&e) => {
            return Err(ClaimError::Unsupported(format!(".{e}")));
        }
        _ => return Ok(None),
    }))
}

// ---------------------------------------------------------------------------------------------
// File names
// ---------------------------------------------------------------------------------------------

/// A file name that is safe to store, show and offer for download on any OS. Build it with
/// [`FileName::sanitize`]; deserialising re-sanitises.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(transparent)]
pub struct FileName(String);

/// Longest extension (with its dot) that truncation keeps.
const MAX_KEPT_EXTENSION: usize = 16;

impl FileName {
    /// Longest name, in bytes.
    pub const MAX_LEN: usize = 200;

    /// Sanitises a client-supplied name:
    ///
    /// 1. keeps the last path component (after any `/` or `\`) and drops a drive prefix (`C:`);
    /// 2. turns every whitespace character into a space and collapses runs of them;
    /// 3. removes control characters, bidirectional controls (U+202A–U+202E, U+2066–U+2069, and the
    ///    marks U+200E, U+200F, U+061C), U+FEFF, and the characters Windows forbids: `<>:"/\|?*`;
    /// 4. trims dots and spaces at both ends;
    /// 5. prefixes `_` to a Windows device name (CON, PRN, AUX, NUL, CONIN$, CONOUT$, COM0–9, LPT0–9,
    ///    and COM/LPT with ¹²³), case-insensitively, bare or before any extension (`con.txt`, `NUL .pdf`);
    /// 6. bounds it to [`FileName::MAX_LEN`] bytes on a character boundary, keeping an extension of up
    ///    to 16 bytes;
    /// 7. if nothing is left, uses `contract.<fallback_ext>` (`fallback_ext` reduced to ASCII letters
    ///    and digits; `contract` if that is empty).
    ///
    /// The result is never empty and sanitising it again changes nothing. Unicode is not normalised.
    #[must_use]
    pub fn sanitize(raw: &str, fallback_ext: &str) -> Self {
        Self(sanitize_core(raw).unwrap_or_else(|| {
            let ext: String = fallback_ext
                .chars()
                .filter(char::is_ascii_alphanumeric)
                .take(MAX_KEPT_EXTENSION - 1)
                .collect();
            if ext.is_empty() {
                "contract".to_owned()
            } else {
                format!("contract.{ext}")
            }
        }))
    }

    /// The name.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name, owned.
    #[must_use]
    pub fn into_string(self) -> String {
        self.0
    }

    /// A `Content-Disposition` value offering the file for download:
    /// `attachment; filename="<ASCII fallback>"; filename*=UTF-8''<RFC 5987 percent-encoding>`.
    /// In the fallback, each non-ASCII character (and `%`, which some browsers decode) becomes `_`, and
    /// quotes and backslashes are dropped. The value is visible ASCII, valid as an HTTP header.
    #[must_use]
    pub fn content_disposition(&self) -> String {
        let fallback: String = self
            .0
            .chars()
            .filter(|&c| c != '"' && c != '\\')
            .map(|c| {
                if c.is_ascii_graphic() || c == ' ' {
                    c
                } else {
                    '_'
                }
            })
            .map(|c| if c == '%' { '_' } else { c })
            .collect();
        let mut encoded = String::with_capacity(self.0.len() * 3);
        for b in self.0.bytes() {
            let attr_char = b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'!' | b'#'
                        | b'$'
                        | b'&'
                        | b'+'
                        | b'-'
                        | b'.'
                        | b'^'
                        | b'_'
                        | b'`'
                        | b'|'
                        | b'~'
                );
            if attr_char {
                encoded.push(char::from(b));
            } else {
                let _ = write!(encoded, "%{b:02X}");
            }
        }
        format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
    }
}

impl fmt::Display for FileName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for FileName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for FileName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        sanitize_core(&raw)
            .map(Self)
            .ok_or_else(|| serde::de::Error::custom("the file name has no usable characters"))
    }
}

const WINDOWS_FORBIDDEN: &[char] = &['<', '>', ':', '"', '/', '\\', '|', '?', '*'];

/// Bidirectional controls and other invisible characters that can disguise a name.
const fn is_invisible_control(c: char) -> bool {
    matches!(
        c,
        '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}' | '\u{FEFF}'
    )
}

fn is_reserved_device(name: &str) -> bool {
    let first = name
        .split('.')
        .next()
        .unwrap_or_default()
        .trim_end_matches(' ');
    let upper = first.to_ascii_uppercase();
    if matches!(
        upper.as_str(),
        "CON" | "PRN" | "AUX" | "NUL" | "CONIN$" | "CONOUT$"
    ) {
        return true;
    }
    match upper
        .strip_prefix("COM")
        .or_else(|| upper.strip_prefix("LPT"))
    {
        Some(n) => matches!(
            n,
            "0" | "1" | "2" | "3" | "4" | "5" | "6" | "7" | "8" | "9" | "¹" | "²" | "³"
        ),
        None => false,
    }
}

/// Steps 1–6 of [`FileName::sanitize`]; `None` when nothing is left.
fn sanitize_core(raw: &str) -> Option<String> {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or_default();
    let b = base.as_bytes();
    let base = if b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':' {
        &base[2..]
    } else {
        base
    };

    let mut clean = String::with_capacity(base.len());
    for c in base.chars() {
        if c.is_whitespace() {
            if !clean.is_empty() && !clean.ends_with(' ') {
                clean.push(' ');
            }
        } else if !(c.is_control() || is_invisible_control(c) || WINDOWS_FORBIDDEN.contains(&c)) {
            clean.push(c);
        }
    }
    let trimmed = clean.trim_matches(['.', ' ']);
    if trimmed.is_empty() {
        return None;
    }
    let mut name = if is_reserved_device(trimmed) {
        format!("_{trimmed}")
    } else {
        trimmed.to_owned()
    };

    if name.len() > FileName::MAX_LEN {
        let (stem, ext) = match name.rfind('.') {
            Some(i) if i > 0 && name.len() - i <= MAX_KEPT_EXTENSION => name.split_at(i),
            _ => (name.as_str(), ""),
        };
        let mut cut = FileName::MAX_LEN - ext.len();
        while !stem.is_char_boundary(cut) {
            cut -= 1;
        }
        // The stem starts with a character other than a dot or space, and `cut` keeps at least 180
        // bytes of it, so something remains.
        let stem = stem[..cut].trim_end_matches(['.', ' ']);
        name = format!("{stem}{ext}");
    }
    Some(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // --- helpers ---------------------------------------------------------------------------------

    fn sniff_chunks(
        expected: Option<ContentKind>,
        input: &[u8],
        chunk: usize,
    ) -> Result<Sniffed, SniffError> {
        let mut s = Sniffer::new().expecting(expected);
        for c in input.chunks(chunk.max(1)) {
            s.feed(c)?;
        }
        s.finish()
    }

    fn sniff(input: &[u8]) -> Result<Sniffed, SniffError> {
        sniff_chunks(None, input, input.len().max(1))
    }

    fn kind(input: &[u8]) -> Result<ContentKind, SniffError> {
        sniff(input).map(|s| s.kind)
    }

    /// Sniffs at several chunk sizes and checks they agree.
    fn sniff_all_ways(expected: Option<ContentKind>, input: &[u8]) -> Result<Sniffed, SniffError> {
        let whole = sniff_chunks(expected, input, input.len().max(1));
        for n in [1, 2, 3, 7, 512, 1023, 1024, 1025, 4096] {
            assert_eq!(sniff_chunks(expected, input, n), whole, "chunk size {n}");
        }
        whole
    }

    #[derive(Default)]
    struct ZipOpts<'a> {
        zip64: bool,
        comment: &'a [u8],
        trailing: &'a [u8],
        /// Overrides the entry count written in the end records.
        claimed_entries: Option<u64>,
    }

    /// A stored (uncompressed) ZIP; CRCs are left zero, the sniffer does not read them.
    fn zip_with(entries: &[(&str, &[u8])], opts: &ZipOpts<'_>) -> Vec<u8> {
        let mut out = Vec::new();
        let mut cd = Vec::new();
        for (name, data) in entries {
            let offset = u32::try_from(out.len()).unwrap();
            let len = u32::try_from(data.len()).unwrap();
            let name_len = u16::try_from(name.len()).unwrap();
            out.extend_from_slice(b"PK\x03\x04");
            out.extend_from_slice(&[20, 0, 0, 0, 0, 0, 0, 0, 0, 0]); // version, flags, method, time, date
            out.extend_from_slice(&0u32.to_le_bytes());
            out.extend_from_slice(&len.to_le_bytes());
            out.extend_from_slice(&len.to_le_bytes());
            out.extend_from_slice(&name_len.to_le_bytes());
            out.extend_from_slice(&0u16.to_le_bytes());
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(data);

            cd.extend_from_slice(b"PK\x01\x02");
            cd.extend_from_slice(&[20, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0]); // made, needed, flags, method, time, date
            cd.extend_from_slice(&0u32.to_le_bytes());
            cd.extend_from_slice(&len.to_le_bytes());
            cd.extend_from_slice(&len.to_le_bytes());
            cd.extend_from_slice(&name_len.to_le_bytes());
            cd.extend_from_slice(&[0; 8]); // extra, comment, disk, internal attributes
            cd.extend_from_slice(&0u32.to_le_bytes());
            cd.extend_from_slice(&offset.to_le_bytes());
            cd.extend_from_slice(name.as_bytes());
        }
        let count = opts.claimed_entries.unwrap_or(entries.len() as u64);
        let cd_offset = out.len() as u64;
        out.extend_from_slice(&cd);
        if opts.zip64 {
            let record_at = out.len() as u64;
            out.extend_from_slice(b"PK\x06\x06");
            out.extend_from_slice(&44u64.to_le_bytes());
            out.extend_from_slice(&[45, 0, 45, 0]);
            out.extend_from_slice(&[0; 8]);
            out.extend_from_slice(&count.to_le_bytes());
            out.extend_from_slice(&count.to_le_bytes());
            out.extend_from_slice(&(cd.len() as u64).to_le_bytes());
            out.extend_from_slice(&cd_offset.to_le_bytes());
            out.extend_from_slice(b"PK\x06\x07");
            out.extend_from_slice(&0u32.to_le_bytes());
            out.extend_from_slice(&record_at.to_le_bytes());
            out.extend_from_slice(&1u32.to_le_bytes());
            out.extend_from_slice(b"PK\x05\x06");
            out.extend_from_slice(&[0; 4]);
            out.extend_from_slice(&[0xFF; 12]);
        } else {
            let count16 = u16::try_from(count).unwrap_or(u16::MAX);
            out.extend_from_slice(b"PK\x05\x06");
            out.extend_from_slice(&[0; 4]);
            out.extend_from_slice(&count16.to_le_bytes());
            out.extend_from_slice(&count16.to_le_bytes());
            out.extend_from_slice(&u32::try_from(cd.len()).unwrap().to_le_bytes());
            out.extend_from_slice(&u32::try_from(cd_offset).unwrap().to_le_bytes());
        }
        out.extend_from_slice(&u16::try_from(opts.comment.len()).unwrap().to_le_bytes());
        out.extend_from_slice(opts.comment);
        out.extend_from_slice(opts.trailing);
        out
    }

    fn zip(entries: &[(&str, &[u8])]) -> Vec<u8> {
        zip_with(entries, &ZipOpts::default())
    }

    const CONTENT_TYPES: (&str, &[u8]) = ("[Content_Types].xml", b"<Types/>");
    const RELS: (&str, &[u8]) = ("_rels/.rels", b"<Relationships/>");
    const DOCUMENT: (&str, &[u8]) = ("word/document.xml", b"<w:document/>");

    fn docx() -> Vec<u8> {
        zip(&[CONTENT_TYPES, RELS, DOCUMENT])
    }

    fn pdf() -> Vec<u8> {
        let mut v =
            b"%PDF-1.7\n%\xE2\xE3\xCF\xD3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n".to_vec();
        v.extend(std::iter::repeat_n(0u8, 3000));
        v.extend_from_slice(b"\n%%EOF\n");
        v
    }

    fn text(len: usize) -> Vec<u8> {
        "Clause 1. The Supplier shall deliver the Goods — «ça va», 合同, 🖋.\n"
            .bytes()
            .cycle()
            .take(len)
            .collect::<Vec<u8>>()
    }

    fn ascii_text(len: usize) -> Vec<u8> {
        b"Clause 1. The Supplier shall deliver the Goods.\n"
            .iter()
            .copied()
            .cycle()
            .take(len)
            .collect()
    }

    /// Valid UTF-8 text of about `len` bytes (cut back to a character boundary).
    fn utf8_text(len: usize) -> Vec<u8> {
        let mut t = text(len);
        while std::str::from_utf8(&t).is_err() {
            t.pop();
        }
        t
    }

    // --- ContentKind -------------------------------------------------------------------------------

    #[test]
    fn content_kind_mime_extension_and_serde() {
        assert_eq!(ContentKind::Pdf.mime(), "application/pdf");
        assert_eq!(
            ContentKind::Docx.mime(),
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
        );
        assert_eq!(ContentKind::Text.mime(), "text/plain; charset=utf-8");
        assert_eq!(ContentKind::Pdf.extension(), "pdf");
        assert_eq!(ContentKind::Docx.extension(), "docx");
        assert_eq!(ContentKind::Text.extension(), "txt");
        for k in ContentKind::ALL {
            assert_eq!(ContentKind::from_mime(k.mime()), Some(k));
            let json = serde_json::to_string(&k).unwrap();
            assert_eq!(json, format!("\"{}\"", format!("{k:?}").to_lowercase()));
            assert_eq!(serde_json::from_str::<ContentKind>(&json).unwrap(), k);
        }
        assert_eq!(ContentKind::from_mime("image/png"), None);
        assert_eq!(ContentKind::from_mime("text/plain; charset=latin1"), None);
        assert_eq!(ContentKind::from_mime("application/octet-stream"), None);
    }

    // --- Sniffer: empty, PDF ----------------------------------------------------------------------

    #[test]
    fn empty_input_is_empty_whatever_the_expectation() {
        assert_eq!(Sniffer::new().finish(), Err(SniffError::Empty));
        let mut s = Sniffer::new().expecting(Some(ContentKind::Pdf));
        s.feed(&[]).unwrap();
        s.feed(&[]).unwrap();
        assert_eq!(s.finish(), Err(SniffError::Empty));
        assert_eq!(SniffError::Empty.to_string(), "the file is empty");
    }

    #[test]
    fn pdf_at_start_is_decided_at_once() {
        let mut s = Sniffer::new();
        s.feed(b"%PDF-").unwrap();
        assert_eq!(s.provisional_kind(), Some(ContentKind::Pdf));
        let input = pdf();
        assert_eq!(
            sniff_all_ways(None, &input),
            Ok(Sniffed {
                kind: ContentKind::Pdf,
                size: input.len() as u64
            })
        );
    }

    #[test]
    fn pdf_after_junk_within_the_first_1024_bytes() {
        for prefix in [
            &b"\xEF\xBB\xBF"[..],
            b"  \r\n\t",
            b"\0\0\x01garbage\xFF\xFE junk",
        ] {
            let mut input = prefix.to_vec();
            input.extend_from_slice(&pdf());
            assert_eq!(
                sniff_all_ways(None, &input).map(|s| s.kind),
                Ok(ContentKind::Pdf)
            );
        }
        // The marker must lie wholly within the first 1024 bytes.
        let mut at_1019 = vec![b' '; 1019];
        at_1019.extend_from_slice(b"%PDF-1.4\n");
        assert_eq!(
            sniff_all_ways(None, &at_1019).map(|s| s.kind),
            Ok(ContentKind::Pdf)
        );
        let mut at_1020 = vec![b' '; 1020];
        at_1020.extend_from_slice(b"%PDF-1.4\n");
        assert_eq!(
            sniff_all_ways(None, &at_1020).map(|s| s.kind),
            Ok(ContentKind::Text)
        );
        let mut binary_then_late_marker = vec![0u8; 1020];
        binary_then_late_marker.extend_from_slice(b"%PDF-1.4\n");
        assert_eq!(
            sniff_all_ways(None, &binary_then_late_marker),
            Err(SniffError::Binary)
        );
    }

    #[test]
    fn pdf_marker_split_across_chunks() {
        let mut s = Sniffer::new();
        s.feed(b"junk %P").unwrap();
        assert_eq!(s.provisional_kind(), None);
        s.feed(b"DF-1.5").unwrap();
        assert_eq!(s.provisional_kind(), Some(ContentKind::Pdf));
        assert_eq!(s.finish().map(|s| s.kind), Ok(ContentKind::Pdf));
    }

    // --- Sniffer: DOCX ------------------------------------------------------------------------------

    #[test]
    fn docx_is_confirmed_at_finish() {
        let input = docx();
        let mut s = Sniffer::new();
        s.feed(&input[..4]).unwrap();
        assert_eq!(s.provisional_kind(), Some(ContentKind::Docx));
        s.feed(&input[4..]).unwrap();
        assert_eq!(s.finish().map(|s| s.kind), Ok(ContentKind::Docx));
        assert_eq!(
            sniff_all_ways(Some(ContentKind::Docx), &input),
            Ok(Sniffed {
                kind: ContentKind::Docx,
                size: input.len() as u64
            })
        );
    }

    #[test]
    fn docx_with_a_comment_or_trailing_junk() {
        let commented = zip_with(
            &[CONTENT_TYPES, DOCUMENT],
            &ZipOpts {
                comment: b"made by PK\x05\x06 tools",
                ..ZipOpts::default()
            },
        );
        assert_eq!(
            sniff_all_ways(None, &commented).map(|s| s.kind),
            Ok(ContentKind::Docx)
        );
        let trailing = zip_with(
            &[CONTENT_TYPES, DOCUMENT],
            &ZipOpts {
                trailing: b"\n\n",
                ..ZipOpts::default()
            },
        );
        assert_eq!(kind(&trailing), Ok(ContentKind::Docx));
    }

    #[test]
    fn zip_without_the_word_parts_is_not_docx() {
        let plain = zip(&[("readme.txt", b"hello"), CONTENT_TYPES]);
        assert_eq!(kind(&plain), Err(SniffError::NotDocx(NO_DOCUMENT)));
        assert_eq!(
            SniffError::NotDocx(NO_DOCUMENT).to_string(),
            "the file is a ZIP archive but not a Word document (no word/document.xml)"
        );
        let xlsx = zip(&[CONTENT_TYPES, ("xl/workbook.xml", b"<workbook/>")]);
        assert_eq!(kind(&xlsx), Err(SniffError::NotDocx(NO_DOCUMENT)));
        let no_types = zip(&[RELS, DOCUMENT]);
        assert_eq!(kind(&no_types), Err(SniffError::NotDocx(NO_CONTENT_TYPES)));
        // Names are exact: not a prefix, not another case, not a directory.
        let near = zip(&[
            CONTENT_TYPES,
            ("word/document.xml.bak", b""),
            ("Word/Document.xml", b""),
        ]);
        assert_eq!(kind(&near), Err(SniffError::NotDocx(NO_DOCUMENT)));
        let empty_zip = zip(&[]);
        assert_eq!(kind(&empty_zip), Err(SniffError::Binary)); // just an EOCD: not even a local header
    }

    #[test]
    fn damaged_zips_are_not_docx() {
        assert_eq!(kind(b"PK\x03\x04"), Err(SniffError::NotDocx(NO_EOCD)));
        let mut truncated = docx();
        truncated.truncate(truncated.len() - 30);
        assert_eq!(kind(&truncated), Err(SniffError::NotDocx(NO_EOCD)));
        // Central directory offset pointing past the EOCD.
        let mut bad_offset = docx();
        let n = bad_offset.len();
        bad_offset[n - 6..n - 2].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(
            kind(&bad_offset),
            Err(SniffError::NotDocx(BAD_CENTRAL_DIRECTORY))
        );
        // Central directory offset pointing into file data.
        let mut shifted = docx();
        let n = shifted.len();
        shifted[n - 6..n - 2].copy_from_slice(&1u32.to_le_bytes());
        assert_eq!(
            kind(&shifted),
            Err(SniffError::NotDocx(BAD_CENTRAL_DIRECTORY))
        );
        // More entries claimed than present.
        let mut short = docx();
        let n = short.len();
        short[n - 12..n - 10].copy_from_slice(&4u16.to_le_bytes());
        short[n - 14..n - 12].copy_from_slice(&4u16.to_le_bytes());
        assert_eq!(
            kind(&short),
            Err(SniffError::NotDocx(BAD_CENTRAL_DIRECTORY))
        );
        // Split archive.
        let mut split = docx();
        let n = split.len();
        split[n - 18..n - 16].copy_from_slice(&1u16.to_le_bytes());
        assert_eq!(kind(&split), Err(SniffError::NotDocx(SPLIT_ARCHIVE)));
    }

    #[test]
    fn zip64_end_records_are_followed() {
        let z = zip_with(
            &[CONTENT_TYPES, RELS, DOCUMENT],
            &ZipOpts {
                zip64: true,
                ..ZipOpts::default()
            },
        );
        assert_eq!(
            sniff_all_ways(None, &z).map(|s| s.kind),
            Ok(ContentKind::Docx)
        );
        let z = zip_with(
            &[CONTENT_TYPES, RELS],
            &ZipOpts {
                zip64: true,
                ..ZipOpts::default()
            },
        );
        assert_eq!(kind(&z), Err(SniffError::NotDocx(NO_DOCUMENT)));
        // Locator pointing at something that is not a ZIP64 record.
        let mut bad = zip_with(
            &[CONTENT_TYPES, DOCUMENT],
            &ZipOpts {
                zip64: true,
                ..ZipOpts::default()
            },
        );
        let loc = bad.len() - EOCD_LEN - ZIP64_LOCATOR_LEN;
        bad[loc + 8..loc + 16].copy_from_slice(&3u64.to_le_bytes());
        assert_eq!(kind(&bad), Err(SniffError::NotDocx(BAD_ZIP64)));
        bad[loc + 8..loc + 16].copy_from_slice(&u64::MAX.to_le_bytes());
        assert_eq!(kind(&bad), Err(SniffError::NotDocx(BAD_ZIP64)));
        let many = zip_with(
            &[CONTENT_TYPES, DOCUMENT],
            &ZipOpts {
                zip64: true,
                claimed_entries: Some(1 << 40),
                ..ZipOpts::default()
            },
        );
        assert_eq!(kind(&many), Err(SniffError::NotDocx(TOO_MANY_ENTRIES)));
    }

    #[test]
    fn more_than_10000_entries_are_refused() {
        let names: Vec<String> = (0..10_001).map(|i| format!("f{i}")).collect();
        let mut entries: Vec<(&str, &[u8])> =
            names.iter().map(|n| (n.as_str(), &b""[..])).collect();
        entries[0] = DOCUMENT;
        entries[1] = CONTENT_TYPES;
        let z = zip_with(
            &entries,
            &ZipOpts {
                zip64: true,
                ..ZipOpts::default()
            },
        );
        assert_eq!(kind(&z), Err(SniffError::NotDocx(TOO_MANY_ENTRIES)));
        entries.pop();
        let z = zip(&entries);
        assert_eq!(kind(&z), Ok(ContentKind::Docx));
        // The 16-bit count saturates: 65,535 is over the limit too.
        let z = zip_with(
            &entries,
            &ZipOpts {
                claimed_entries: Some(70_000),
                ..ZipOpts::default()
            },
        );
        assert_eq!(kind(&z), Err(SniffError::NotDocx(TOO_MANY_ENTRIES)));
    }

    #[test]
    fn large_docx_keeps_only_the_tail_and_still_confirms() {
        let big = vec![b'x'; 3 << 20];
        let input = zip(&[CONTENT_TYPES, ("word/media/image1.bin", &big), DOCUMENT]);
        for chunk in [1000, 64 << 10, input.len()] {
            let mut s = Sniffer::new();
            for c in input.chunks(chunk) {
                s.feed(c).unwrap();
                assert!(
                    s.buffered() <= Sniffer::MAX_BUFFERED,
                    "holds {} bytes",
                    s.buffered()
                );
            }
            assert_eq!(s.finish().map(|s| s.kind), Ok(ContentKind::Docx));
        }
    }

    #[test]
    fn central_directory_outside_the_tail_is_too_large() {
        // 9,000 entries with 120-byte names: about 1.5 MB of central directory.
        let names: Vec<String> = (0..9_000).map(|i| format!("{i:0>120}")).collect();
        let mut entries: Vec<(&str, &[u8])> =
            names.iter().map(|n| (n.as_str(), &b""[..])).collect();
        entries.push(CONTENT_TYPES);
        entries.push(DOCUMENT);
        let z = zip(&entries);
        assert!(z.len() > TAIL_LEN);
        assert_eq!(
            sniff_chunks(None, &z, 64 << 10),
            Err(SniffError::NotDocx(CD_TOO_LARGE))
        );
        let z64 = zip_with(
            &entries,
            &ZipOpts {
                zip64: true,
                ..ZipOpts::default()
            },
        );
        assert_eq!(
            sniff_chunks(None, &z64, 64 << 10),
            Err(SniffError::NotDocx(CD_TOO_LARGE))
        );
    }

    #[test]
    fn memory_stays_bounded_for_any_input() {
        let mut zip_junk = b"PK\x03\x04".to_vec();
        zip_junk.resize(5 << 20, 0xAB);
        let mut pdf_big = pdf();
        pdf_big.resize(5 << 20, b'x');
        let text_big = utf8_text(3 << 20);
        for input in [&zip_junk, &pdf_big, &text_big] {
            for chunk in [333, 1 << 16, 3 << 20] {
                let mut s = Sniffer::new();
                for c in input.chunks(chunk) {
                    s.feed(c).unwrap();
                    assert!(s.buffered() <= Sniffer::MAX_BUFFERED);
                }
                assert_eq!(s.size(), input.len() as u64);
            }
        }
    }

    #[test]
    fn legacy_word_is_refused_at_the_signature() {
        let mut ole = vec![0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
        ole.resize(4096, 0);
        let mut s = Sniffer::new();
        for b in &ole[..7] {
            s.feed(std::slice::from_ref(b)).unwrap();
        }
        let err = s.feed(&ole[7..8]).unwrap_err();
        assert_eq!(err, SniffError::Unsupported("legacy .doc (Word 97-2003)"));
        assert_eq!(
            err.to_string(),
            "the file is a legacy .doc (Word 97-2003), which is not supported; save it as .docx or PDF"
        );
        // Also when something else was claimed: the legacy error is the actionable one.
        for claim in [
            None,
            Some(ContentKind::Docx),
            Some(ContentKind::Pdf),
            Some(ContentKind::Text),
        ] {
            assert_eq!(
                sniff_all_ways(claim, &ole),
                Err(SniffError::Unsupported(LEGACY_DOC))
            );
        }
    }

    #[test]
    fn rtf_is_refused() {
        let rtf = b"{\\rtf1\\ansi\\deff0 {\\fonttbl {\\f0 Times;}} Contract text.}";
        assert_eq!(sniff_all_ways(None, rtf), Err(SniffError::Unsupported(RTF)));
    }

    // --- Sniffer: text --------------------------------------------------------------------------------

    #[test]
    fn utf8_text_in_any_chunking() {
        for len in [1, 5, 100, 1023, 1024, 1025, 5000] {
            let t = utf8_text(len);
            assert_eq!(
                sniff_all_ways(Some(ContentKind::Text), &t),
                Ok(Sniffed {
                    kind: ContentKind::Text,
                    size: t.len() as u64
                }),
                "len {len}"
            );
        }
        let mut bom = b"\xEF\xBB\xBF".to_vec();
        bom.extend_from_slice(&utf8_text(2000));
        assert_eq!(
            sniff_all_ways(None, &bom).map(|s| s.kind),
            Ok(ContentKind::Text)
        );
        assert_eq!(kind(b"a\tb\r\nc\x0Cd"), Ok(ContentKind::Text));
    }

    #[test]
    fn invalid_utf8_is_not_utf8() {
        let latin1 = b"Le pr\xE9sent contrat est conclu entre les parties.";
        assert_eq!(sniff_all_ways(None, latin1), Err(SniffError::NotUtf8));
        // Cut off in the middle of a character.
        let mut cut = utf8_text(3000);
        cut.extend_from_slice("合".as_bytes().split_at(2).0);
        assert_eq!(sniff_all_ways(None, &cut), Err(SniffError::NotUtf8));
        // Overlong encodings and surrogates are invalid too.
        assert_eq!(kind(b"abc\xC0\xAF"), Err(SniffError::NotUtf8));
        assert_eq!(kind(b"abc\xED\xA0\x80"), Err(SniffError::NotUtf8));
        // UTF-16 with a BOM: text in the wrong encoding.
        let utf16: Vec<u8> = [0xFF, 0xFE]
            .into_iter()
            .chain("Contract".encode_utf16().flat_map(u16::to_le_bytes))
            .collect();
        assert_eq!(kind(&utf16), Err(SniffError::NotUtf8));
    }

    #[test]
    fn invalid_utf8_after_the_head_fails_at_that_chunk() {
        let mut s = Sniffer::new();
        s.feed(&utf8_text(2000)).unwrap();
        assert_eq!(s.provisional_kind(), Some(ContentKind::Text));
        assert_eq!(s.feed(b"caf\xE9 "), Err(SniffError::NotUtf8));
        assert_eq!(s.feed(b"more"), Err(SniffError::NotUtf8));
        assert_eq!(s.finish(), Err(SniffError::NotUtf8));
    }

    #[test]
    fn nul_and_control_characters() {
        assert_eq!(kind(b"abc\0def"), Err(SniffError::Binary));
        assert_eq!(kind(b"abc\x1Bdef"), Err(SniffError::Binary)); // escape in the first 512 bytes
        // After the first 512 bytes a few controls are tolerated, up to 1%.
        let mut few = ascii_text(2000);
        few[1500] = 0x1A;
        assert_eq!(
            sniff_all_ways(None, &few).map(|s| s.kind),
            Ok(ContentKind::Text)
        );
        let mut many = ascii_text(2000);
        for b in &mut many[600..640] {
            *b = 0x08;
        }
        assert_eq!(sniff_all_ways(None, &many), Err(SniffError::Binary));
        // A NUL is never tolerated, and fails the chunk that brings it.
        let mut s = Sniffer::new();
        s.feed(&utf8_text(5000)).unwrap();
        assert_eq!(s.feed(b"ab\0"), Err(SniffError::Binary));
    }

    #[test]
    fn the_earliest_fault_decides_the_error() {
        let mut bad_then_nul = utf8_text(1500);
        bad_then_nul.extend_from_slice(b"\xFF\0");
        assert_eq!(
            sniff_all_ways(None, &bad_then_nul),
            Err(SniffError::NotUtf8)
        );
        let mut nul_then_bad = utf8_text(1500);
        nul_then_bad.extend_from_slice(b"\0\xFF");
        assert_eq!(sniff_all_ways(None, &nul_then_bad), Err(SniffError::Binary));
        let mut cut_then_nul = utf8_text(1500);
        cut_then_nul.extend_from_slice(b"\xE2\0");
        assert_eq!(
            sniff_all_ways(None, &cut_then_nul),
            Err(SniffError::NotUtf8)
        );
    }

    #[test]
    fn binary_is_refused_as_soon_as_1024_bytes_are_in() {
        let mut junk: Vec<u8> = (0..4096u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        junk[0] = 0x01;
        let mut s = Sniffer::new();
        s.feed(&junk[..1023]).unwrap();
        assert_eq!(s.feed(&junk[1023..1024]), Err(SniffError::Binary));
        assert_eq!(
            SniffError::Binary.to_string(),
            "the file is not UTF-8 text, PDF or DOCX"
        );
        // Shorter than 1024 bytes: at the end.
        assert_eq!(sniff_all_ways(None, &junk[..100]), Err(SniffError::Binary));
        // Fewer than 4 bytes of a ZIP signature is not a ZIP.
        assert_eq!(kind(b"PK\x03"), Err(SniffError::Binary));
    }

    // --- Sniffer: expectations --------------------------------------------------------------------------

    #[test]
    fn claimed_pdf_but_zip_fails_at_the_first_chunk() {
        let mut s = Sniffer::new().expecting(Some(ContentKind::Pdf));
        let err = s.feed(&docx()[..4]).unwrap_err();
        assert_eq!(
            err,
            SniffError::Mismatch {
                claimed: ContentKind::Pdf,
                actual: ContentKind::Docx
            }
        );
        assert_eq!(
            err.to_string(),
            "the file was declared as a PDF but its content is a Word document (DOCX)"
        );
        assert_eq!(s.finish(), Err(err));
    }

    #[test]
    fn claimed_docx_or_text_but_pdf_fails_early() {
        for claimed in [ContentKind::Docx, ContentKind::Text] {
            let mut s = Sniffer::new().expecting(Some(claimed));
            assert_eq!(
                s.feed(b"%PDF-1.4\n"),
                Err(SniffError::Mismatch {
                    claimed,
                    actual: ContentKind::Pdf
                })
            );
        }
    }

    #[test]
    fn claimed_pdf_or_docx_but_text() {
        for claimed in [ContentKind::Pdf, ContentKind::Docx] {
            // Long text: at 1024 bytes.
            let mut s = Sniffer::new().expecting(Some(claimed));
            let t = utf8_text(3000);
            s.feed(&t[..1023]).unwrap();
            assert_eq!(
                s.feed(&t[1023..]),
                Err(SniffError::Mismatch {
                    claimed,
                    actual: ContentKind::Text
                })
            );
            // Short text: at the end.
            assert_eq!(
                sniff_all_ways(Some(claimed), b"hello"),
                Err(SniffError::Mismatch {
                    claimed,
                    actual: ContentKind::Text
                })
            );
            // Bytes that are nothing we accept get their own error.
            assert_eq!(
                sniff_all_ways(Some(claimed), b"\0\x01\x02"),
                Err(SniffError::Binary)
            );
        }
    }

    #[test]
    fn matching_or_no_expectation_passes() {
        assert_eq!(
            sniff_all_ways(Some(ContentKind::Pdf), &pdf()).map(|s| s.kind),
            Ok(ContentKind::Pdf)
        );
        assert_eq!(
            sniff_all_ways(None, &docx()).map(|s| s.kind),
            Ok(ContentKind::Docx)
        );
        // A ZIP claimed as DOCX that is not one is NotDocx, not a mismatch.
        assert_eq!(
            sniff_all_ways(Some(ContentKind::Docx), &zip(&[CONTENT_TYPES])),
            Err(SniffError::NotDocx(NO_DOCUMENT))
        );
    }

    #[test]
    fn errors_never_quote_the_content() {
        let secret = b"CONFIDENTIAL-7f3a9 \xFF\0";
        let errors = [
            sniff(secret).unwrap_err(),
            sniff_chunks(Some(ContentKind::Pdf), b"CONFIDENTIAL-7f3a9 text", 4).unwrap_err(),
        ];
        for e in errors {
            assert!(!e.to_string().contains("CONFIDENTIAL"), "{e}");
            assert!(!format!("{e:?}").contains("CONFIDENTIAL"));
        }
        let mut s = Sniffer::new();
        s.feed(b"CONFIDENTIAL-7f3a9").unwrap();
        assert!(!format!("{s:?}").contains("CONFIDENTIAL"));
    }

    // --- Claims --------------------------------------------------------------------------------------

    #[test]
    fn content_types_map_to_kinds() {
        let ok = |ct: &str| claimed_kind(Some(ct), None);
        assert_eq!(ok("application/pdf"), Ok(Some(ContentKind::Pdf)));
        assert_eq!(ok("Application/PDF"), Ok(Some(ContentKind::Pdf)));
        assert_eq!(ok("application/x-pdf"), Ok(Some(ContentKind::Pdf)));
        assert_eq!(ok(DOCX_MIME), Ok(Some(ContentKind::Docx)));
        assert_eq!(ok("text/plain"), Ok(Some(ContentKind::Text)));
        assert_eq!(ok("text/plain; charset=utf-8"), Ok(Some(ContentKind::Text)));
        assert_eq!(
            ok("text/plain;charset=\"UTF-8\""),
            Ok(Some(ContentKind::Text))
        );
        assert_eq!(
            ok("text/plain; format=flowed; charset=us-ascii"),
            Ok(Some(ContentKind::Text))
        );
        assert_eq!(
            ok("text/markdown; charset=utf8"),
            Ok(Some(ContentKind::Text))
        );
        for none in [
            "application/octet-stream",
            "binary/octet-stream",
            "application/zip",
            "multipart/form-data; boundary=x",
            "",
            "  ",
            "garbage",
            "a b/c",
        ] {
            assert_eq!(ok(none), Ok(None), "{none}");
        }
        assert_eq!(claimed_kind(None, None), Ok(None));
    }

    #[test]
    fn foreign_content_types_and_charsets_are_refused() {
        let err = |ct: &str| claimed_kind(Some(ct), Some("contract.pdf")).unwrap_err();
        assert_eq!(
            err("image/png"),
            ClaimError::Unsupported("image/png".into())
        );
        assert_eq!(
            err("application/msword"),
            ClaimError::Unsupported("application/msword".into())
        );
        assert_eq!(
            err("Text/HTML; charset=utf-8"),
            ClaimError::Unsupported("text/html".into())
        );
        assert_eq!(
            err("image/png").to_string(),
            "files of type image/png are not accepted; upload a PDF, a Word document (.docx) or UTF-8 text"
        );
        assert_eq!(
            err("text/plain; charset=iso-8859-1"),
            ClaimError::Charset("iso-8859-1".into())
        );
        assert_eq!(
            err("text/plain; charset=\"<script>\""),
            ClaimError::Charset("script".into())
        );
        assert_eq!(
            err("text/plain; charset="),
            ClaimError::Charset("(empty)".into())
        );
        let long = format!("application/{}", "x".repeat(500));
        let ClaimError::Unsupported(quoted) = err(&long) else {
            panic!()
        };
        assert_eq!(quoted.len(), 100);
    }

    #[test]
    fn extensions_map_to_kinds() {
        let by_name = |n: &str| claimed_kind(None, Some(n));
        assert_eq!(by_name("contract.pdf"), Ok(Some(ContentKind::Pdf)));
        assert_eq!(
            by_name("C:\\Users\\me\\Contract.PDF"),
            Ok(Some(ContentKind::Pdf))
        );
        assert_eq!(by_name("../x/contract.docx"), Ok(Some(ContentKind::Docx)));
        for t in ["a.txt", "a.TEXT", "notes.md", "a.markdown"] {
            assert_eq!(by_name(t), Ok(Some(ContentKind::Text)), "{t}");
        }
        assert_eq!(by_name("contract.pdf. "), Ok(Some(ContentKind::Pdf)));
        for none in [
            "contract",
            "Smith v. Jones",
            "Lease.v2",
            "",
            "report.2024",
            ".",
            "a.pdf\u{200B}",
        ] {
            assert_eq!(by_name(none), Ok(None), "{none}");
        }
        for (name, ext) in [
            ("a.doc", ".doc"),
            ("b.XLSX", ".xlsx"),
            ("setup.exe", ".exe"),
            ("scan.jpeg", ".jpeg"),
        ] {
            assert_eq!(by_name(name), Err(ClaimError::Unsupported(ext.into())));
        }
        // A right-to-left override cannot hide the real extension.
        assert_eq!(
            by_name("invoice\u{202E}fdp.exe"),
            Err(ClaimError::Unsupported(".exe".into()))
        );
    }

    #[test]
    fn type_and_extension_must_agree() {
        assert_eq!(
            claimed_kind(Some("application/pdf"), Some("contract.docx")),
            Err(ClaimError::Conflict {
                content_type: ContentKind::Pdf,
                extension: ContentKind::Docx
            })
        );
        assert_eq!(
            ClaimError::Conflict {
                content_type: ContentKind::Pdf,
                extension: ContentKind::Docx
            }
            .to_string(),
            "the declared content type (PDF) and the file name extension (DOCX) disagree"
        );
        assert_eq!(
            claimed_kind(Some("application/pdf"), Some("contract.pdf")),
            Ok(Some(ContentKind::Pdf))
        );
        assert_eq!(
            claimed_kind(Some("text/plain"), Some("notes.md")),
            Ok(Some(ContentKind::Text))
        );
        assert_eq!(
            claimed_kind(Some("application/octet-stream"), Some("a.docx")),
            Ok(Some(ContentKind::Docx))
        );
        assert_eq!(
            claimed_kind(Some("application/zip"), Some("a.docx")),
            Ok(Some(ContentKind::Docx))
        );
        assert_eq!(
            claimed_kind(Some("application/pdf"), Some("contract")),
            Ok(Some(ContentKind::Pdf))
        );
        assert_eq!(
            claimed_kind(Some("application/octet-stream"), Some("a.exe")),
            Err(ClaimError::Unsupported(".exe".into()))
        );
    }

    // --- FileName --------------------------------------------------------------------------------------

    fn clean(raw: &str) -> String {
        FileName::sanitize(raw, "pdf").into_string()
    }

    #[test]
    fn paths_and_drives_are_stripped() {
        assert_eq!(clean("/etc/passwd"), "passwd");
        assert_eq!(clean("..\\..\\Windows\\win.ini"), "win.ini");
        assert_eq!(clean("C:\\Users\\me\\Contract.pdf"), "Contract.pdf");
        assert_eq!(clean("C:Contract.pdf"), "Contract.pdf");
        assert_eq!(clean("a/b\\c/d.docx"), "d.docx");
        assert_eq!(clean("folder/"), "contract.pdf");
    }

    #[test]
    fn unsafe_characters_are_removed() {
        assert_eq!(clean("con\u{0}tr\u{7}act\u{7F}\u{9B}.pdf"), "contract.pdf");
        assert_eq!(clean("invoice\u{202E}fdp.exe"), "invoicefdp.exe");
        assert_eq!(clean("\u{2066}a\u{2069}\u{200F}b\u{FEFF}.pdf"), "ab.pdf");
        assert_eq!(clean("a<b>c:d\"e|f?g*h.pdf"), "abcdefgh.pdf");
        assert_eq!(
            clean("  ..Lease  \t\n agreement \u{A0}\u{3000} final.. . "),
            "Lease agreement final"
        );
        assert_eq!(clean("a < b.pdf"), "a b.pdf");
        assert_eq!(
            clean("Vertrag über Miete – 2024 (Entwurf) 契約.docx"),
            "Vertrag über Miete – 2024 (Entwurf) 契約.docx"
        );
    }

    #[test]
    fn reserved_windows_names_are_prefixed() {
        for (raw, want) in [
            ("CON", "_CON"),
            ("con.txt", "_con.txt"),
            ("Com1.pdf", "_Com1.pdf"),
            ("LPT9", "_LPT9"),
            ("nul.tar.gz", "_nul.tar.gz"),
            ("AUX .pdf", "_AUX .pdf"),
            ("prn.", "_prn"),
            ("COM¹.pdf", "_COM¹.pdf"),
            ("CONTRACT.pdf", "CONTRACT.pdf"),
            ("COM10.pdf", "COM10.pdf"),
            ("console.pdf", "console.pdf"),
        ] {
            assert_eq!(clean(raw), want, "{raw}");
        }
    }

    #[test]
    fn long_names_are_cut_keeping_the_extension() {
        let long = format!("{}.pdf", "a".repeat(300));
        let c = clean(&long);
        assert_eq!(c.len(), 200);
        assert!(c.ends_with("aaa.pdf"));
        // On a character boundary.
        let wide = format!("{}.docx", "契".repeat(100));
        let c = clean(&wide);
        assert!(c.len() <= 200 && c.ends_with("契.docx"), "{c}");
        // No dot space left before the extension.
        let spaced = format!("{} {}.pdf", "b".repeat(195), "c".repeat(50));
        let c = clean(&spaced);
        assert_eq!(c, format!("{}.pdf", "b".repeat(195)));
        // A long "extension" is not kept.
        let c = clean(&format!("a.{}", "b".repeat(300)));
        assert_eq!(c.len(), 200);
        assert!(c.starts_with("a.bbb"));
    }

    #[test]
    fn nothing_left_falls_back() {
        assert_eq!(clean(""), "contract.pdf");
        assert_eq!(clean(" . .. "), "contract.pdf");
        assert_eq!(clean("\u{202E}\u{0}"), "contract.pdf");
        assert_eq!(FileName::sanitize("", "docx").as_str(), "contract.docx");
        assert_eq!(FileName::sanitize("", ".txt").as_str(), "contract.txt");
        assert_eq!(FileName::sanitize("", "../../x").as_str(), "contract.x");
        assert_eq!(FileName::sanitize("", "").as_str(), "contract");
    }

    #[test]
    fn display_serde_and_deserialize_resanitises() {
        let name = FileName::sanitize("Lease 2024.pdf", "pdf");
        assert_eq!(name.to_string(), "Lease 2024.pdf");
        assert_eq!(name.as_ref(), "Lease 2024.pdf");
        let json = serde_json::to_string(&name).unwrap();
        assert_eq!(json, "\"Lease 2024.pdf\"");
        assert_eq!(serde_json::from_str::<FileName>(&json).unwrap(), name);
        assert_eq!(
            serde_json::from_str::<FileName>("\"../etc/con.txt\"")
                .unwrap()
                .as_str(),
            "_con.txt"
        );
        assert!(serde_json::from_str::<FileName>("\"...\"").is_err());
        assert!(serde_json::from_str::<FileName>("\"\"").is_err());
    }

    #[test]
    fn content_disposition_has_ascii_fallback_and_utf8_name() {
        assert_eq!(
            FileName::sanitize("Lease 2024.pdf", "pdf").content_disposition(),
            "attachment; filename=\"Lease 2024.pdf\"; filename*=UTF-8''Lease%202024.pdf"
        );
        assert_eq!(
            FileName::sanitize("Vertrag über 契約 100%.docx", "docx").content_disposition(),
            "attachment; filename=\"Vertrag _ber __ 100_.docx\"; \
             filename*=UTF-8''Vertrag%20%C3%BCber%20%E5%A5%91%E7%B4%84%20100%25.docx"
        );
        // Quotes and backslashes cannot survive sanitising, but the fallback drops them anyway.
        let raw = FileName("a\"b\\c'.pdf".to_owned());
        assert_eq!(
            raw.content_disposition(),
            "attachment; filename=\"abc'.pdf\"; filename*=UTF-8''a%22b%5Cc%27.pdf"
        );
        let v = FileName::sanitize("\u{1F58B} x;y=z,(1).pdf", "pdf").content_disposition();
        assert!(v.bytes().all(|b| b == b' ' || b.is_ascii_graphic()), "{v}");
    }

    // --- property tests -----------------------------------------------------------------------------

    fn name_chars() -> impl Strategy<Value = String> {
        let special = prop_oneof![
            Just('.'),
            Just(' '),
            Just('/'),
            Just('\\'),
            Just(':'),
            Just('\t'),
            Just('\0'),
            Just('\u{202E}'),
            Just('\u{2067}'),
            Just('\u{A0}'),
            Just('\u{85}'),
            Just('"'),
            Just('*'),
            Just('契'),
            Just('é'),
            Just('🖋'),
            prop::sample::select(vec![
                'C', 'O', 'N', 'L', 'P', 'T', 'U', 'X', 'A', 'R', '1', '¹'
            ]),
            any::<char>(),
        ];
        prop::collection::vec(special, 0..260).prop_map(|v| v.into_iter().collect())
    }

    fn check_name(raw: &str) -> Result<(), TestCaseError> {
        let once = FileName::sanitize(raw, "pdf");
        let s = once.as_str();
        prop_assert!(!s.is_empty());
        prop_assert!(s.len() <= FileName::MAX_LEN, "{} bytes", s.len());
        prop_assert!(!s.contains(['/', '\\']));
        prop_assert!(!s.chars().any(|c| c.is_control() || is_invisible_control(c)));
        prop_assert!(!s.contains(WINDOWS_FORBIDDEN));
        prop_assert!(!s.starts_with(['.', ' ']) && !s.ends_with(['.', ' ']));
        prop_assert!(!s.contains("  "));
        prop_assert!(!is_reserved_device(s));
        let twice = FileName::sanitize(s, "pdf");
        prop_assert_eq!(&twice, &once);
        let cd = once.content_disposition();
        prop_assert!(cd.bytes().all(|b| b == b' ' || b.is_ascii_graphic()));
        Ok(())
    }

    /// Samples for the chunking property.
    fn samples() -> Vec<Vec<u8>> {
        let mut junk_pdf = b"\xEF\xBB\xBF\r\n garbage \0\x01".to_vec();
        junk_pdf.extend_from_slice(&pdf());
        let mut late_nul = utf8_text(1500);
        late_nul.push(0);
        late_nul.extend_from_slice(&utf8_text(100));
        let mut late_latin1 = utf8_text(1030);
        late_latin1.extend_from_slice(b"caf\xE9");
        let mut controls = ascii_text(1200);
        controls[700] = 0x1B;
        controls[900] = 0x1B;
        let mut ole = vec![0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
        ole.extend_from_slice(&[0; 600]);
        vec![
            pdf(),
            junk_pdf,
            docx(),
            zip_with(
                &[CONTENT_TYPES, RELS, DOCUMENT],
                &ZipOpts {
                    zip64: true,
                    comment: b"c",
                    ..ZipOpts::default()
                },
            ),
            zip(&[CONTENT_TYPES]),
            b"PK\x03\x04 not really".to_vec(),
            utf8_text(1),
            utf8_text(900),
            utf8_text(1024),
            utf8_text(2500),
            late_nul,
            late_latin1,
            controls,
            ole,
            b"{\\rtf1 x}".to_vec(),
            b"caf\xE9".to_vec(),
            (0..1500u32)
                .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
                .collect(),
        ]
    }

    fn sniff_split(
        expected: Option<ContentKind>,
        input: &[u8],
        cuts: &[usize],
    ) -> Result<Sniffed, SniffError> {
        let mut points: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
        points.sort_unstable();
        let mut s = Sniffer::new().expecting(expected);
        let mut at = 0;
        for p in points.into_iter().chain([input.len()]) {
            s.feed(&input[at..p])?;
            at = p;
        }
        s.finish()
    }

    fn any_expectation() -> impl Strategy<Value = Option<ContentKind>> {
        prop::option::of(prop::sample::select(ContentKind::ALL.to_vec()))
    }

    proptest! {
        #[test]
        fn sanitize_holds_its_promises(raw in name_chars()) {
            check_name(&raw)?;
        }

        #[test]
        fn sanitize_holds_its_promises_on_any_string(raw in any::<String>()) {
            check_name(&raw)?;
        }

        #[test]
        fn claims_never_panic(ct in proptest::option::of("\\PC{0,60}"), name in proptest::option::of("\\PC{0,60}")) {
            let _ = claimed_kind(ct.as_deref(), name.as_deref());
        }

        #[test]
        fn chunking_never_changes_the_outcome(
            which in 0usize..17,
            expected in any_expectation(),
            cuts in prop::collection::vec(any::<usize>(), 0..12),
        ) {
            let samples = samples();
            let input = &samples[which % samples.len()];
            let whole = sniff_chunks(expected, input, input.len().max(1));
            prop_assert_eq!(sniff_split(expected, input, &cuts), whole);
        }

        #[test]
        fn chunking_never_changes_the_outcome_on_random_bytes(
            prefix in prop::sample::select(vec![&b""[..], &b"%PDF-"[..], &b"PK\x03\x04"[..], &b"\xEF\xBB\xBF"[..], &b"abc"[..]]),
            body in prop::collection::vec(any::<u8>(), 0..2100),
            expected in any_expectation(),
            cuts in prop::collection::vec(any::<usize>(), 0..8),
        ) {
            let mut input = prefix.to_vec();
            input.extend_from_slice(&body);
            let whole = sniff_chunks(expected, &input, input.len().max(1));
            prop_assert_eq!(sniff_split(expected, &input, &cuts), whole);
        }

        #[test]
        fn mostly_text_chunking_is_stable(
            body in "[a-z \\n\\x{e9}\\x{5951}\\x{1F58B}\\x01\\x00]{0,1500}",
            cuts in prop::collection::vec(any::<usize>(), 0..8),
        ) {
            let input = body.as_bytes();
            let whole = sniff_chunks(None, input, input.len().max(1));
            prop_assert_eq!(sniff_split(None, input, &cuts), whole);
        }

        #[test]
        fn the_zip_parser_never_panics(
            body in prop::collection::vec(any::<u8>(), 0..400),
            eocd_at in any::<usize>(),
            fields in prop::collection::vec(any::<u8>(), 18),
            locator in any::<bool>(),
            record_at in any::<u64>(),
        ) {
            let mut input = b"PK\x03\x04".to_vec();
            input.extend_from_slice(&body);
            if locator {
                input.extend_from_slice(b"PK\x06\x07\0\0\0\0");
                input.extend_from_slice(&(record_at % 600).to_le_bytes());
                input.extend_from_slice(&1u32.to_le_bytes());
            }
            let mut eocd = b"PK\x05\x06".to_vec();
            eocd.extend_from_slice(&fields);
            let at = eocd_at % (input.len() + 1);
            input.splice(at..at, eocd);
            let _ = sniff(&input);
            // A well-formed prefix with a random central directory.
            let mut z = docx();
            let n = z.len();
            let cd_tail_at = n - EOCD_LEN - 40;
            for (i, b) in body.iter().take(60).enumerate() {
                let at = cd_tail_at + i % 40;
                z[at] ^= b;
            }
            let _ = sniff(&z);
        }
    }
}
