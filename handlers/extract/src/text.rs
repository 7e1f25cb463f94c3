//! UTF-8 text: returned exactly as it is, so character offsets match the file.

use clment_common::ports::{ExtractError, ExtractFailureCode, Extracted};

use crate::{Limits, failed, too_much_text};

/// Checks that `bytes` are UTF-8 and returns them unchanged (BOM and line ends included) as one
/// page.
///
/// # Errors
/// `unreadable` when not UTF-8, `too_large` over [`Limits::max_chars`], `no_text` when there is no
/// letter or digit at all.
pub fn extract_text(bytes: Vec<u8>, limits: &Limits) -> Result<Extracted, ExtractError> {
    let text = String::from_utf8(bytes).map_err(|e| {
        failed(
            ExtractFailureCode::Unreadable,
            format!(
                "the text is not valid UTF-8 (at byte {})",
                e.utf8_error().valid_up_to()
            ),
        )
    })?;
    if text.chars().count() as u64 > limits.max_chars {
        return Err(too_much_text(limits));
    }
    if !text.chars().any(char::is_alphanumeric) {
        return Err(failed(
            ExtractFailureCode::NoText,
            "the text has no letters or digits",
        ));
    }
    Ok(Extracted {
        text,
        pages: vec![0],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(r: Result<Extracted, ExtractError>) -> ExtractFailureCode {
        match r {
            Err(ExtractError::Failed { code, .. }) => code,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn text_is_returned_exactly() {
        let raw = "\u{feff}Clause 1.\r\nPrice: 5 €\rend\n\u{c}x";
        let out = extract_text(raw.as_bytes().to_vec(), &Limits::default()).unwrap();
        assert_eq!(out.text, raw);
        assert_eq!(out.pages, vec![0]);
    }

    #[test]
    fn bad_text_fails_with_a_reason() {
        let limits = Limits::default();
        assert_eq!(
            code(extract_text(b"caf\xE9".to_vec(), &limits)),
            ExtractFailureCode::Unreadable
        );
        assert_eq!(
            code(extract_text(b" \n\t ".to_vec(), &limits)),
            ExtractFailureCode::NoText
        );
        let small = Limits {
            max_chars: 3,
            ..limits
        };
        assert_eq!(
            code(extract_text("abcd".into(), &small)),
            ExtractFailureCode::TooLarge
        );
        assert!(extract_text("abc".into(), &small).is_ok());
        // Counted in characters, not bytes.
        assert!(extract_text("äöü".into(), &small).is_ok());
    }
}
