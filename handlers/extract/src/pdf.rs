//! PDF text with `pdf_oxide`, page by page.

use clment_common::ports::{ExtractError, ExtractFailureCode, Extracted};
use pdf_oxide::PdfDocument;
use pdf_oxide::error::Error as PdfError;

use crate::limits::CharBudget;
use crate::{Limits, MIN_ALPHANUMERIC, alphanumeric, failed, too_much_text};

/// A page with fewer letters and digits than this counts as a page without text.
const PAGE_TEXT_MIN: u64 = 20;

/// Extracts the text of a PDF: pages joined by form feeds, each page's start recorded in
/// [`Extracted::pages`].
///
/// Before extracting: more than [`Limits::max_pages`] pages is `too_large`; a password we do not
/// have (anything but the empty user password) is `encrypted`. During: output past
/// [`Limits::max_chars`] stops at once with `too_large`. After: a document with fewer than 20
/// letters and digits in all, or with text on fewer than a tenth of its pages, is `no_text` (a
/// scan; OCR is not offered). Control characters other than tab and line ends are dropped, and a
/// form feed inside a page becomes a line feed, so form feeds mark page boundaries only.
///
/// # Errors
/// See above; anything the parser cannot read is `unreadable`.
pub fn extract_pdf(bytes: Vec<u8>, limits: &Limits) -> Result<Extracted, ExtractError> {
    let doc = PdfDocument::from_bytes(bytes).map_err(|e| open_error(&e))?;
    if doc.is_encrypted() && !doc.is_authenticated() {
        return Err(encrypted());
    }
    let count = doc.page_count().map_err(|e| open_error(&e))?;
    if count as u64 > limits.max_pages {
        return Err(failed(
            ExtractFailureCode::TooLarge,
            format!(
                "the PDF has {count} pages; the limit is {}",
                limits.max_pages
            ),
        ));
    }
    if count == 0 {
        return Err(failed(
            ExtractFailureCode::Unreadable,
            "the PDF has no pages",
        ));
    }

    let mut text = String::new();
    let mut pages = Vec::with_capacity(count);
    let mut budget = CharBudget::new(limits.max_chars);
    let mut unreadable_pages = 0usize;
    let mut pages_with_text = 0usize;
    let mut letters = 0u64;
    for index in 0..count {
        if index > 0 {
            text.push('\u{c}');
            budget.spend(1).map_err(|_| too_much_text(limits))?;
        }
        pages.push(budget.used());
        let page = match doc.extract_text(index) {
            Ok(page) => page,
            Err(PdfError::EncryptedPdf) => return Err(encrypted()),
            Err(_) => {
                unreadable_pages += 1;
                continue;
            }
        };
        let before = text.len();
        let mut added = 0u64;
        for c in page.chars() {
            match c {
                '\u{c}' => text.push('\n'),
                '\t' | '\n' | '\r' => text.push(c),
                c if c.is_control() && c < '\u{80}' => continue,
                c => text.push(c),
            }
            added += 1;
        }
        budget.spend(added).map_err(|_| too_much_text(limits))?;
        let page_letters = alphanumeric(&text[before..]);
        letters += page_letters;
        if page_letters >= PAGE_TEXT_MIN {
            pages_with_text += 1;
        }
    }

    if unreadable_pages == count {
        return Err(failed(
            ExtractFailureCode::Unreadable,
            "no page of the PDF could be read",
        ));
    }
    if letters == 0 {
        return Err(failed(
            ExtractFailureCode::NoText,
            format!("no text layer on any of the {count} pages (a scan?); OCR is not offered"),
        ));
    }
    if letters < MIN_ALPHANUMERIC {
        return Err(failed(
            ExtractFailureCode::NoText,
            format!("only {letters} letters and digits in {count} pages; OCR is not offered"),
        ));
    }
    if pages_with_text * 10 < count {
        return Err(failed(
            ExtractFailureCode::NoText,
            format!(
                "text on only {pages_with_text} of {count} pages (a scan?); OCR is not offered"
            ),
        ));
    }
    Ok(Extracted { text, pages })
}

fn encrypted() -> ExtractError {
    failed(
        ExtractFailureCode::Encrypted,
        "the PDF is password-protected; upload it without the password",
    )
}

/// The parser's errors may quote bytes of the file, so only their kind is reported.
fn open_error(e: &PdfError) -> ExtractError {
    let detail = match e {
        PdfError::EncryptedPdf => return encrypted(),
        PdfError::InvalidHeader(_) => "not a PDF (no valid header)",
        PdfError::UnsupportedVersion(_) => "unsupported PDF version",
        PdfError::InvalidXref | PdfError::UnexpectedEof | PdfError::ObjectNotFound(..) => {
            "the PDF's structure is damaged"
        }
        PdfError::CircularReference(_) | PdfError::RecursionLimitExceeded(_) => {
            "the PDF's structure loops or nests too deeply"
        }
        _ => "the PDF could not be read",
    };
    failed(ExtractFailureCode::Unreadable, detail)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal PDF with one page per entry of `pages`, each showing that string.
    fn pdf(pages: &[&str]) -> Vec<u8> {
        let mut objects: Vec<String> = vec![
            "<< /Type /Catalog /Pages 2 0 R >>".into(),
            String::new(), // pages, filled below
            "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".into(),
        ];
        let mut kids = Vec::new();
        for text in pages {
            let content = format!("BT /F1 12 Tf 72 720 Td ({text}) Tj ET");
            objects.push(format!(
                "<< /Length {} >>\nstream\n{content}\nendstream",
                content.len()
            ));
            let content_id = objects.len();
            objects.push(format!(
                "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] \
                 /Resources << /Font << /F1 3 0 R >> >> /Contents {content_id} 0 R >>"
            ));
            kids.push(format!("{} 0 R", objects.len()));
        }
        objects[1] = format!(
            "<< /Type /Pages /Kids [{}] /Count {} >>",
            kids.join(" "),
            pages.len()
        );
        let mut out = b"%PDF-1.4\n".to_vec();
        let mut offsets = Vec::new();
        for (i, body) in objects.iter().enumerate() {
            offsets.push(out.len());
            out.extend_from_slice(format!("{} 0 obj\n{body}\nendobj\n", i + 1).as_bytes());
        }
        let xref = out.len();
        out.extend_from_slice(
            format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
        );
        for o in offsets {
            out.extend_from_slice(format!("{o:010} 00000 n \n").as_bytes());
        }
        out.extend_from_slice(
            format!(
                "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
                objects.len() + 1
            )
            .as_bytes(),
        );
        out
    }

    fn code(r: Result<Extracted, ExtractError>) -> ExtractFailureCode {
        match r {
            Err(ExtractError::Failed { code, .. }) => code,
            other => panic!("{other:?}"),
        }
    }

    const ONE: &str = "The Supplier shall deliver the Goods within thirty days.";
    const TWO: &str = "Fees are payable in euro within 30 days of the invoice.";

    #[test]
    fn pages_are_joined_by_form_feeds_with_char_offsets() {
        let out = extract_pdf(pdf(&[ONE, TWO]), &Limits::default()).unwrap();
        assert_eq!(out.pages.len(), 2);
        assert_eq!(out.pages[0], 0);
        let pieces: Vec<&str> = out.text.split('\u{c}').collect();
        assert_eq!(pieces.len(), 2);
        assert!(pieces[0].contains("Supplier shall deliver"), "{pieces:?}");
        assert!(pieces[1].contains("payable in euro"), "{pieces:?}");
        assert_eq!(out.pages[1], pieces[0].chars().count() as u64 + 1);
    }

    #[test]
    fn limits_apply() {
        let limits = Limits {
            max_pages: 1,
            ..Limits::default()
        };
        assert_eq!(
            code(extract_pdf(pdf(&[ONE, TWO]), &limits)),
            ExtractFailureCode::TooLarge
        );
        let limits = Limits {
            max_chars: 40,
            ..Limits::default()
        };
        assert_eq!(
            code(extract_pdf(pdf(&[ONE, TWO]), &limits)),
            ExtractFailureCode::TooLarge
        );
    }

    #[test]
    fn pages_without_letters_are_no_text() {
        assert_eq!(
            code(extract_pdf(pdf(&["", "12", ""]), &Limits::default())),
            ExtractFailureCode::NoText
        );
    }

    #[test]
    fn garbage_is_unreadable() {
        for bytes in [&b""[..], b"%PDF-1.4\n garbage", b"not a pdf at all"] {
            assert_eq!(
                code(extract_pdf(bytes.to_vec(), &Limits::default())),
                ExtractFailureCode::Unreadable
            );
        }
    }
}
