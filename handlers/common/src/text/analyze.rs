//! Words as the search index sees them: split on anything that is not a letter or digit, lower-cased,
//! English-stemmed. One definition, so the local index, query parsing and highlighting agree.

use std::sync::OnceLock;

use rust_stemmers::{Algorithm, Stemmer};

/// A word's place in the text and its index term.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token {
    /// Byte offset of the word's first byte.
    pub start: usize,
    /// Byte offset one past its last byte.
    pub end: usize,
    /// The normalised term.
    pub term: String,
}

/// Words longer than this are not indexed (binary junk, base64 runs).
pub const MAX_WORD_BYTES: usize = 64;

fn stemmer() -> &'static Stemmer {
    static STEMMER: OnceLock<Stemmer> = OnceLock::new();
    STEMMER.get_or_init(|| Stemmer::create(Algorithm::English))
}

/// The index term for one word (lower-cased, stemmed).
#[must_use]
pub fn term(word: &str) -> String {
    let lower = word.to_lowercase();
    stemmer().stem(&lower).into_owned()
}

/// Every word of `text` with its byte range and term, in order.
#[must_use]
pub fn tokens(text: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        if c.is_alphanumeric() {
            if start.is_none() {
                start = Some(i);
            }
        } else if let Some(s) = start.take() {
            push(&mut out, text, s, i);
        }
    }
    if let Some(s) = start {
        push(&mut out, text, s, text.len());
    }
    out
}

fn push(out: &mut Vec<Token>, text: &str, start: usize, end: usize) {
    if end - start > MAX_WORD_BYTES {
        return;
    }
    out.push(Token {
        start,
        end,
        term: term(&text[start..end]),
    });
}

/// The distinct terms of a query, in first-seen order (at most `limit`).
#[must_use]
pub fn query_terms(query: &str, limit: usize) -> Vec<String> {
    let mut seen = Vec::new();
    for t in tokens(query) {
        if !seen.contains(&t.term) {
            seen.push(t.term);
            if seen.len() == limit {
                break;
            }
        }
    }
    seen
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_split_lowered_and_stemmed() {
        let t = tokens("Termination: the Licensee's rights TERMINATE, 30 days.");
        let terms: Vec<_> = t.iter().map(|t| t.term.as_str()).collect();
        assert_eq!(
            terms,
            [
                "termin", "the", "license", "s", "right", "termin", "30", "day"
            ]
        );
        assert_eq!(&"Termination: x"[t[0].start..t[0].end], "Termination");
    }

    #[test]
    fn non_ascii_words_keep_their_offsets() {
        let text = "Procès-verbal du comité";
        for t in tokens(text) {
            assert!(text.is_char_boundary(t.start) && text.is_char_boundary(t.end));
        }
        assert_eq!(query_terms("comité Comité x", 10), ["comité", "x"]);
    }

    proptest::proptest! {
        #[test]
        fn offsets_are_char_boundaries(s in "\\PC{0,200}") {
            for t in tokens(&s) {
                proptest::prop_assert!(s.is_char_boundary(t.start) && s.is_char_boundary(t.end));
                proptest::prop_assert!(t.end - t.start <= MAX_WORD_BYTES);
            }
        }
    }
}
