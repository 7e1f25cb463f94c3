//! DOCX text with `zip` and `quick-xml`: `word/document.xml`, paragraphs, tables, breaks, and
//! automatic list numbers from `word/numbering.xml` (and `word/styles.xml`).

mod numbering;

use std::io::{Cursor, Read};

use clment_common::ports::{ExtractError, ExtractFailureCode, Extracted};
use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::{BytesRef, BytesStart, Event};
use quick_xml::name::{Namespace, ResolveResult};
use quick_xml::{NsReader, XmlVersion};
use zip::ZipArchive;
use zip::result::ZipError;

use crate::limits::CharBudget;
use crate::{Limits, MIN_ALPHANUMERIC, alphanumeric, failed, too_much_text};
use numbering::{Numbering, ParagraphNumbering};

const DOCUMENT: &str = "word/document.xml";
const NUMBERING: &str = "word/numbering.xml";
const STYLES: &str = "word/styles.xml";

/// WordprocessingML, transitional and strict.
const W_NS: [&[u8]; 2] = [
    b"http://schemas.openxmlformats.org/wordprocessingml/2006/main",
    b"http://purl.oclc.org/ooxml/wordprocessingml/main",
];
/// Markup compatibility (`mc:AlternateContent`).
const MC_NS: &[u8] = b"http://schemas.openxmlformats.org/markup-compatibility/2006";

/// Extracts the text of a DOCX's main document part.
///
/// Output: each paragraph ends with `\n`; `w:tab` is `\t` and `w:br`/`w:cr` are `\n`; in a table,
/// cells are separated by `\t` and rows end with `\n` (inside a cell, paragraphs, tabs and breaks
/// become spaces so that the row stays on one line); a page break (`w:br w:type="page"`) is a form
/// feed and starts a new entry in [`Extracted::pages`]. Automatic list numbers ("1.", "2.1", "(a)")
/// are written before their paragraphs. Deleted text (tracked changes), field codes and the
/// fallback copy of text boxes are left out; headers, footers, footnotes and comments are not read.
///
/// Limits: the ZIP's entry count ([`Limits::max_zip_entries`]) is checked before any entry is
/// read; a part whose declared size is over [`Limits::max_inflated`] is refused at once, and each
/// part is read through a cap of that size, so a forged size is caught too. DTDs are refused and
/// entities other than XML's five and character references are errors, so nothing is ever
/// fetched or expanded.
///
/// # Errors
/// `too_large`, `encrypted` (a password-protected ZIP entry), `no_text` (fewer than 20 letters
/// and digits), and `unreadable` for anything that is not a well-formed DOCX.
pub fn extract_docx(bytes: &[u8], limits: &Limits) -> Result<Extracted, ExtractError> {
    if let Some(entries) = declared_entries(bytes)
        && entries > limits.max_zip_entries
    {
        return Err(too_many_entries(entries, limits));
    }
    let mut zip = ZipArchive::new(Cursor::new(bytes)).map_err(|e| zip_error(&e))?;
    if zip.len() as u64 > limits.max_zip_entries {
        return Err(too_many_entries(zip.len() as u64, limits));
    }
    let document = read_part(&mut zip, DOCUMENT, limits)?.ok_or_else(|| {
        failed(
            ExtractFailureCode::Unreadable,
            "not a Word document (word/document.xml is missing)",
        )
    })?;
    // Numbering is a nicety: a damaged numbering or styles part only loses the list numbers.
    let numbering = read_part(&mut zip, NUMBERING, limits)?;
    let styles = match numbering {
        Some(_) => read_part(&mut zip, STYLES, limits)?,
        None => None,
    };
    let numbering = numbering
        .and_then(|n| Numbering::parse(&n, styles.as_deref()))
        .unwrap_or_default();
    drop(zip);
    let out = render(&document, numbering, limits)?;
    if alphanumeric(&out.text) < MIN_ALPHANUMERIC {
        return Err(failed(
            ExtractFailureCode::NoText,
            "the document has (almost) no text",
        ));
    }
    Ok(out)
}

fn too_many_entries(entries: u64, limits: &Limits) -> ExtractError {
    failed(
        ExtractFailureCode::TooLarge,
        format!(
            "the DOCX has {entries} ZIP entries; the limit is {}",
            limits.max_zip_entries
        ),
    )
}

/// The entry count in the end-of-central-directory record (or its ZIP64 record), read without
/// parsing the central directory. `None` when it cannot be found; the ZIP reader decides then.
fn declared_entries(bytes: &[u8]) -> Option<u64> {
    const EOCD: &[u8] = b"PK\x05\x06";
    const EOCD_LEN: usize = 22;
    let from = bytes.len().saturating_sub(EOCD_LEN + usize::from(u16::MAX));
    let at = from + bytes.get(from..)?.windows(4).rposition(|w| w == EOCD)?;
    let record = bytes.get(at..at + EOCD_LEN)?;
    let total = u16::from_le_bytes([record[10], record[11]]);
    if total != u16::MAX {
        return Some(total.into());
    }
    // ZIP64: a 20-byte locator right before the EOCD points at the ZIP64 EOCD record.
    let locator = bytes.get(at.checked_sub(20)?..at)?;
    if &locator[..4] != b"PK\x06\x07" {
        return None;
    }
    let record_at = usize::try_from(u64::from_le_bytes(locator[8..16].try_into().ok()?)).ok()?;
    let record = bytes.get(record_at..record_at.checked_add(56)?)?;
    if &record[..4] != b"PK\x06\x06" {
        return None;
    }
    Some(u64::from_le_bytes(record[32..40].try_into().ok()?))
}

/// ZIP errors as failures; their messages are fixed text, but only the kind is reported anyway.
fn zip_error(e: &ZipError) -> ExtractError {
    match e {
        ZipError::UnsupportedArchive(msg) if *msg == ZipError::PASSWORD_REQUIRED => failed(
            ExtractFailureCode::Encrypted,
            "the DOCX is password-protected; upload it without the password",
        ),
        ZipError::InvalidPassword => failed(
            ExtractFailureCode::Encrypted,
            "the DOCX is password-protected; upload it without the password",
        ),
        ZipError::CompressionMethodNotSupported(method) => failed(
            ExtractFailureCode::Unreadable,
            format!("the DOCX uses an unsupported compression method ({method})"),
        ),
        _ => failed(
            ExtractFailureCode::Unreadable,
            "not a readable DOCX (damaged ZIP archive)",
        ),
    }
}

/// One part, inflated through a cap of [`Limits::max_inflated`]. `None` when absent.
fn read_part(
    zip: &mut ZipArchive<Cursor<&[u8]>>,
    name: &str,
    limits: &Limits,
) -> Result<Option<Vec<u8>>, ExtractError> {
    let part = match zip.by_name(name) {
        Ok(part) => part,
        Err(ZipError::FileNotFound) => return Ok(None),
        Err(e) => return Err(zip_error(&e)),
    };
    let too_large = || {
        failed(
            ExtractFailureCode::TooLarge,
            format!(
                "{name} inflates to more than {} bytes (a zip bomb?)",
                limits.max_inflated
            ),
        )
    };
    if part.size() > limits.max_inflated {
        return Err(too_large());
    }
    let capacity = usize::try_from(part.size()).unwrap_or(0);
    let mut out = Vec::with_capacity(capacity);
    part.take(limits.max_inflated.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|_| {
            failed(
                ExtractFailureCode::Unreadable,
                format!("{name} is damaged (it does not inflate)"),
            )
        })?;
    if out.len() as u64 > limits.max_inflated {
        return Err(too_large());
    }
    Ok(Some(out))
}

/// The elements that matter, by namespace and local name.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Tag {
    Paragraph,
    ParagraphProperties,
    NumId,
    Level,
    Style,
    Text,
    Tab,
    Break,
    CarriageReturn,
    NoBreakHyphen,
    Table,
    Row,
    Cell,
    /// A subtree whose content is not document text: properties, deleted text, field codes, the
    /// fallback copy of `mc:AlternateContent`.
    Skip,
    Other,
}

fn classify(ns: &ResolveResult<'_>, local: &[u8]) -> Tag {
    let ResolveResult::Bound(Namespace(ns)) = ns else {
        return Tag::Other;
    };
    if *ns == MC_NS {
        return if local == b"Fallback" {
            Tag::Skip
        } else {
            Tag::Other
        };
    }
    if !W_NS.contains(ns) {
        return Tag::Other;
    }
    match local {
        b"p" => Tag::Paragraph,
        b"pPr" => Tag::ParagraphProperties,
        b"numId" => Tag::NumId,
        b"ilvl" => Tag::Level,
        b"pStyle" => Tag::Style,
        b"t" => Tag::Text,
        b"tab" | b"ptab" => Tag::Tab,
        b"br" => Tag::Break,
        b"cr" => Tag::CarriageReturn,
        b"noBreakHyphen" => Tag::NoBreakHyphen,
        b"tbl" => Tag::Table,
        b"tr" => Tag::Row,
        b"tc" => Tag::Cell,
        b"rPr" | b"sectPr" | b"tblPr" | b"tblGrid" | b"trPr" | b"tcPr" | b"del" | b"moveFrom"
        | b"delText" | b"instrText" | b"delInstrText" => Tag::Skip,
        _ => Tag::Other,
    }
}

/// The value of the attribute with local name `local` (`w:val`, `w:type`), entities resolved
/// (only XML's five and character references).
pub(crate) fn attribute(e: &BytesStart<'_>, local: &[u8]) -> Option<String> {
    e.attributes()
        .flatten()
        .find(|a| a.key.local_name().as_ref() == local)
        .and_then(|a| {
            a.normalized_value(XmlVersion::Implicit1_0)
                .ok()
                .map(std::borrow::Cow::into_owned)
        })
}

/// A general reference: XML's five entities and character references; anything else would need
/// a DTD, which is never read.
pub(crate) fn resolve_reference(r: &BytesRef<'_>) -> Option<char> {
    if r.is_char_ref() {
        return r.resolve_char_ref().ok().flatten();
    }
    let name = r.decode().ok()?;
    resolve_predefined_entity(&name).and_then(|s| s.chars().next())
}

/// The XML as UTF-8 (a UTF-8 byte-order mark is dropped); Word writes nothing else.
pub(crate) fn utf8_xml<'a>(xml: &'a [u8], name: &str) -> Result<&'a str, ExtractError> {
    let xml = xml.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(xml);
    std::str::from_utf8(xml).map_err(|_| {
        failed(
            ExtractFailureCode::Unreadable,
            format!("{name} is not UTF-8 XML"),
        )
    })
}

struct Out<'l> {
    text: String,
    pages: Vec<u64>,
    budget: CharBudget,
    limits: &'l Limits,
}

impl Out<'_> {
    fn push(&mut self, c: char) -> Result<(), ExtractError> {
        self.budget
            .spend(1)
            .map_err(|_| too_much_text(self.limits))?;
        self.text.push(c);
        Ok(())
    }

    /// Run text: line ends inside `w:t` are spaces (as Word shows them), other control
    /// characters are dropped, and tabs are kept outside tables.
    fn push_run_text(&mut self, s: &str, in_table: bool) -> Result<(), ExtractError> {
        for c in s.chars() {
            match c {
                '\n' | '\r' => self.push(' ')?,
                '\t' => self.push(if in_table { ' ' } else { '\t' })?,
                c if c.is_control() && c < '\u{80}' => {}
                c => self.push(c)?,
            }
        }
        Ok(())
    }

    fn page_break(&mut self) -> Result<(), ExtractError> {
        self.push('\u{c}')?;
        self.pages.push(self.budget.used());
        Ok(())
    }
}

/// Where we are in a table: counts for separators.
#[derive(Default)]
struct TableState {
    cells_in_row: u32,
    paragraphs_in_cell: u32,
}

fn not_xml(reader_position: u64) -> ExtractError {
    failed(
        ExtractFailureCode::Unreadable,
        format!("{DOCUMENT} is not well-formed XML (near byte {reader_position})"),
    )
}

fn render(
    xml: &[u8],
    mut numbering: Numbering,
    limits: &Limits,
) -> Result<Extracted, ExtractError> {
    let xml = utf8_xml(xml, DOCUMENT)?;
    let mut reader = NsReader::from_str(xml);
    reader.config_mut().expand_empty_elements = true;
    let mut out = Out {
        text: String::new(),
        pages: vec![0],
        budget: CharBudget::new(limits.max_chars),
        limits,
    };
    // Depth inside a skipped subtree, or inside `w:pPr` (0 = not inside).
    let mut skip = 0u32;
    let mut properties = 0u32;
    let mut in_text = 0u32;
    let mut tables: Vec<TableState> = Vec::new();
    let mut paragraphs: Vec<ParagraphNumbering> = Vec::new();

    loop {
        let (ns, event) = match reader.read_resolved_event() {
            Ok(read) => read,
            Err(_) => return Err(not_xml(reader.error_position())),
        };
        let tag = match &event {
            Event::Start(e) => classify(&ns, e.local_name().as_ref()),
            Event::End(e) => classify(&ns, e.local_name().as_ref()),
            _ => Tag::Other,
        };
        match event {
            Event::Eof => break,
            Event::DocType(_) => {
                return Err(failed(
                    ExtractFailureCode::Unreadable,
                    format!("{DOCUMENT} declares a DTD; DTDs are not allowed"),
                ));
            }
            Event::GeneralRef(r) => {
                let Some(c) = resolve_reference(&r) else {
                    return Err(failed(
                        ExtractFailureCode::Unreadable,
                        format!("{DOCUMENT} refers to an undefined entity"),
                    ));
                };
                if in_text > 0 && skip == 0 {
                    let mut buf = [0; 4];
                    out.push_run_text(c.encode_utf8(&mut buf), !tables.is_empty())?;
                }
            }
            Event::Text(t) if in_text > 0 && skip == 0 => {
                let s = t
                    .xml10_content()
                    .map_err(|_| not_xml(reader.buffer_position()))?;
                out.push_run_text(&s, !tables.is_empty())?;
            }
            Event::CData(t) if in_text > 0 && skip == 0 => {
                let s = t.decode().map_err(|_| not_xml(reader.buffer_position()))?;
                out.push_run_text(&s, !tables.is_empty())?;
            }
            Event::Start(e) => {
                if skip > 0 {
                    skip += 1;
                    continue;
                }
                if properties > 0 {
                    properties += 1;
                    if let Some(p) = paragraphs.last_mut() {
                        match tag {
                            Tag::NumId => {
                                p.num_id = attribute(&e, b"val").and_then(|v| v.parse().ok())
                            }
                            Tag::Level => {
                                p.level = attribute(&e, b"val").and_then(|v| v.parse().ok())
                            }
                            Tag::Style => p.style = attribute(&e, b"val"),
                            _ => {}
                        }
                    }
                    continue;
                }
                let in_table = !tables.is_empty();
                let newline = if in_table { ' ' } else { '\n' };
                match tag {
                    Tag::Skip => skip = 1,
                    Tag::ParagraphProperties => properties = 1,
                    Tag::Paragraph => {
                        if let Some(t) = tables.last_mut() {
                            if t.paragraphs_in_cell > 0 {
                                out.push(' ')?;
                            }
                            t.paragraphs_in_cell += 1;
                        }
                        paragraphs.push(ParagraphNumbering::default());
                    }
                    Tag::Text => in_text += 1,
                    Tag::Tab => out.push(if in_table { ' ' } else { '\t' })?,
                    Tag::CarriageReturn => out.push(newline)?,
                    Tag::NoBreakHyphen => out.push('-')?,
                    Tag::Break => match attribute(&e, b"type").as_deref() {
                        Some("page") if !in_table => out.page_break()?,
                        _ => out.push(newline)?,
                    },
                    Tag::Table => {
                        if let Some(t) = tables.last_mut() {
                            if t.paragraphs_in_cell > 0 {
                                out.push(' ')?;
                            }
                            t.paragraphs_in_cell += 1;
                        }
                        tables.push(TableState::default());
                    }
                    Tag::Row => {
                        if let Some(t) = tables.last_mut() {
                            t.cells_in_row = 0;
                        }
                    }
                    Tag::Cell => {
                        let nested = tables.len() > 1;
                        if let Some(t) = tables.last_mut() {
                            if t.cells_in_row > 0 {
                                out.push(if nested { ' ' } else { '\t' })?;
                            }
                            t.cells_in_row += 1;
                            t.paragraphs_in_cell = 0;
                        }
                    }
                    Tag::NumId | Tag::Level | Tag::Style | Tag::Other => {}
                }
            }
            Event::End(_) => {
                if skip > 0 {
                    skip -= 1;
                    continue;
                }
                if properties > 0 {
                    properties -= 1;
                    if properties == 0
                        && let Some(p) = paragraphs.last()
                        && let Some(label) = numbering.label(p)
                    {
                        out.push_run_text(&label, !tables.is_empty())?;
                        out.push(' ')?;
                    }
                    continue;
                }
                match tag {
                    Tag::Text => in_text = in_text.saturating_sub(1),
                    Tag::Paragraph => {
                        paragraphs.pop();
                        if tables.is_empty() {
                            out.push('\n')?;
                        }
                    }
                    Tag::Row => out.push(if tables.len() > 1 { ' ' } else { '\n' })?,
                    Tag::Table => {
                        tables.pop();
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }
    Ok(Extracted {
        text: out.text,
        pages: out.pages,
    })
}

#[cfg(test)]
mod tests;
