//! Quote verification: a provider's quote counts only if it is in the extracted text. We find it
//! (exactly, else with runs of white space treated as one space, since models re-flow line breaks),
//! and the excerpt we keep is the document's own text at the offsets we computed. Nothing a provider
//! says about positions is trusted beyond choosing between two equal occurrences.

use super::provider::{RawQuote, ReviewDocument};

/// Quotes shorter than this (in non-space characters) are too vague to place: dropped.
pub const MIN_QUOTE_CHARS: usize = 2;
/// Quotes longer than this (characters) are dropped: a model quoting pages is not citing.
pub const MAX_QUOTE_CHARS: usize = 6_000;

/// Where a verified quote is, in bytes and characters of the document's text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Located {
    /// First byte.
    pub start_byte: usize,
    /// One past the last byte.
    pub end_byte: usize,
    /// First character.
    pub start: u64,
    /// One past the last character.
    pub end: u64,
}

/// Finds quotes in one document. Builds its white-space-folded copy and its character index once,
/// on first need.
pub struct Verifier<'a> {
    text: &'a str,
    doc: &'a ReviewDocument,
    folded: Option<Folded>,
    chars: Option<CharIndex>,
}

/// Converts between character and byte offsets of one text without walking it from the start: the
/// byte offset of every [`CharIndex::STEP`]th character, so a conversion walks at most one step.
struct CharIndex {
    every: Vec<usize>,
}

impl CharIndex {
    const STEP: usize = 256;

    fn new(text: &str) -> Self {
        Self {
            every: text
                .char_indices()
                .step_by(Self::STEP)
                .map(|(b, _)| b)
                .collect(),
        }
    }

    /// The byte where character `ch` starts; `None` at or past the end.
    fn byte_of(&self, text: &str, ch: u64) -> Option<usize> {
        let ch = usize::try_from(ch).ok()?;
        let base = *self.every.get(ch / Self::STEP)?;
        text[base..]
            .char_indices()
            .nth(ch % Self::STEP)
            .map(|(b, _)| base + b)
    }

    /// The number of characters before byte `byte` (a character boundary).
    fn char_of(&self, text: &str, byte: usize) -> u64 {
        let k = self.every.partition_point(|&b| b <= byte).saturating_sub(1);
        let base = self.every.get(k).copied().unwrap_or(0);
        (k * Self::STEP + text[base..byte].chars().count()) as u64
    }
}

/// The text with every run of white space replaced by one space, and for each byte of it the byte of
/// the original it came from.
struct Folded {
    text: String,
    origin: Vec<usize>,
}

fn fold(text: &str) -> Folded {
    let mut out = String::with_capacity(text.len());
    let mut origin = Vec::with_capacity(text.len());
    let mut in_space = false;
    for (i, c) in text.char_indices() {
        if c.is_whitespace() {
            if !in_space {
                out.push(' ');
                origin.push(i);
            }
            in_space = true;
        } else {
            in_space = false;
            let before = out.len();
            out.push(c);
            origin.extend(std::iter::repeat_n(i, out.len() - before));
        }
    }
    Folded { text: out, origin }
}

fn fold_quote(q: &str) -> String {
    q.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl<'a> Verifier<'a> {
    /// A verifier over `doc`'s text.
    #[must_use]
    pub fn new(doc: &'a ReviewDocument) -> Self {
        Self {
            text: doc.text().expose_to_provider(),
            doc,
            folded: None,
            chars: None,
        }
    }

    /// Where `quote` is, or `None` when it is not in the text (or too short or too long to cite).
    pub fn locate(&mut self, quote: &RawQuote) -> Option<Located> {
        let q = quote.text.expose_to_provider().trim();
        let chars = q.chars().filter(|c| !c.is_whitespace()).count();
        if chars < MIN_QUOTE_CHARS || q.chars().count() > MAX_QUOTE_CHARS {
            return None;
        }
        let near = self.hint_byte(quote);
        let (start_byte, end_byte) = match best(self.text, q, near) {
            Some(s) => (s, s + q.len()),
            None => {
                let fq = fold_quote(q);
                let folded = self.folded.get_or_insert_with(|| fold(self.text));
                let near_folded = near.map(|b| folded.origin.partition_point(|&o| o < b));
                let s = best(&folded.text, &fq, near_folded)?;
                let last = s + fq.len() - 1;
                let start = folded.origin[s];
                let end_char_start = folded.origin[last];
                let end = end_char_start
                    + self.text[end_char_start..]
                        .chars()
                        .next()
                        .map_or(1, char::len_utf8);
                (start, end)
            }
        };
        let text = self.text;
        let index = self.chars.get_or_insert_with(|| CharIndex::new(text));
        let start = index.char_of(text, start_byte);
        let end = start + text[start_byte..end_byte].chars().count() as u64;
        Some(Located {
            start_byte,
            end_byte,
            start,
            end,
        })
    }

    /// The byte the quote is said to be near: its start hint, else its chunk's start.
    fn hint_byte(&mut self, quote: &RawQuote) -> Option<usize> {
        if let Some(h) = quote.start_hint {
            let text = self.text;
            return self
                .chars
                .get_or_insert_with(|| CharIndex::new(text))
                .byte_of(text, h);
        }
        let c = self.doc.chunks().get(quote.chunk? as usize)?;
        Some(c.start_byte)
    }
}

/// The occurrence of `needle` in `hay` whose start is nearest `near` (the earlier of two as near;
/// the first without a hint). Searches outwards from `near`, so a hint far into a long text costs
/// no more than one near its start.
fn best(hay: &str, needle: &str, near: Option<usize>) -> Option<usize> {
    if needle.is_empty() {
        return None;
    }
    let Some(near) = near else {
        return hay.find(needle);
    };
    let near = hay.floor_char_boundary(near);
    let after = hay[near..].find(needle).map(|i| near + i);
    // Occurrences starting before `near` end before `near + needle.len()`.
    let limit = hay.floor_char_boundary((near + needle.len()).saturating_sub(1));
    let before = hay[..limit].rfind(needle);
    match (before, after) {
        (Some(b), Some(a)) => Some(if near - b <= a - near { b } else { a }),
        (b, a) => b.or(a),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ContractId;
    use crate::ports::Extracted;
    use crate::review::EphemeralText;

    fn doc(text: &str) -> ReviewDocument {
        ReviewDocument::new(
            ContractId::new(),
            Extracted {
                text: text.to_owned(),
                pages: vec![0],
            },
        )
    }

    fn quote(q: &str) -> RawQuote {
        RawQuote {
            text: EphemeralText::from(q),
            chunk: None,
            start_hint: None,
        }
    }

    #[test]
    fn exact_quotes_get_character_offsets() {
        let d = doc("Ünïcode first. This Agreement is governed by the laws of Delaware.");
        let mut v = Verifier::new(&d);
        let at = v
            .locate(&quote("governed by the laws of Delaware"))
            .unwrap();
        let chars: Vec<char> = d.text().expose_to_provider().chars().collect();
        let got: String = chars[at.start as usize..at.end as usize].iter().collect();
        assert_eq!(got, "governed by the laws of Delaware");
    }

    #[test]
    fn reflowed_white_space_is_found_and_the_documents_text_is_kept() {
        let d = doc("The term shall\n   renew for successive\none-year periods.");
        let mut v = Verifier::new(&d);
        let at = v
            .locate(&quote("shall renew for successive one-year"))
            .unwrap();
        assert_eq!(
            &d.text().expose_to_provider()[at.start_byte..at.end_byte],
            "shall\n   renew for successive\none-year"
        );
    }

    #[test]
    fn invented_short_and_huge_quotes_are_dropped() {
        let d = doc("Payment is due within thirty days.");
        let mut v = Verifier::new(&d);
        assert!(v.locate(&quote("due within sixty days")).is_none());
        assert!(v.locate(&quote(" a ")).is_none());
        assert!(v.locate(&quote(&"x".repeat(MAX_QUOTE_CHARS + 1))).is_none());
    }

    proptest::proptest! {
        /// The index converts as walking the text from its start does, for any text and offset.
        #[test]
        fn the_char_index_agrees_with_walking_the_text(
            text in "(\\PC|[ \n]){0,700}",
            at in 0usize..800,
        ) {
            let index = CharIndex::new(&text);
            let walked = text.char_indices().nth(at).map(|(b, _)| b);
            proptest::prop_assert_eq!(index.byte_of(&text, at as u64), walked);
            if let Some(b) = walked {
                proptest::prop_assert_eq!(index.char_of(&text, b), at as u64);
            }
            proptest::prop_assert_eq!(
                index.char_of(&text, text.len()),
                text.chars().count() as u64
            );
        }
    }

    #[test]
    fn offsets_far_into_a_long_text_are_right() {
        let head = "Ünïcödé é ".repeat(1_000);
        let d = doc(&format!("{head}Notice. The term renews. Notice."));
        let mut v = Verifier::new(&d);
        let mut q = quote("Notice");
        q.start_hint = Some(10_000 + 25);
        let at = v.locate(&q).unwrap();
        assert_eq!(at.start, 10_000 + 25);
        assert_eq!(at.start_byte, head.len() + 25);
        assert_eq!(at.end, at.start + 6);
    }

    proptest::proptest! {
        /// Searching outwards from the hint finds the occurrence (overlapping ones included)
        /// nearest it, the earlier of two as near.
        #[test]
        fn the_nearest_occurrence_is_the_one_a_full_scan_finds(
            hay in "[ab é]{0,60}",
            needle in "[ab é]{1,3}",
            near in 0usize..70,
        ) {
            let near = hay.floor_char_boundary(near);
            let scanned = hay
                .char_indices()
                .map(|(i, _)| i)
                .filter(|&i| hay[i..].starts_with(needle.as_str()))
                .min_by_key(|&i| (i.abs_diff(near), i));
            proptest::prop_assert_eq!(best(&hay, &needle, Some(near)), scanned);
        }
    }

    #[test]
    fn the_occurrence_nearest_the_hint_wins() {
        let d = doc("Notice. Section 1. Notice. Section 2. Notice.");
        let mut v = Verifier::new(&d);
        let mut q = quote("Notice");
        q.start_hint = Some(20);
        assert_eq!(v.locate(&q).unwrap().start, 19);
    }
}
