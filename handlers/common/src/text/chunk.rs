//! Structure-aware chunking: a contract is cut into pieces of roughly 1,000 to 1,500 characters that
//! break where the document does (before a numbered section or heading, then at paragraph ends,
//! then after sentences, then between words) and overlap a little when a break falls inside a section.
//! Every chunk keeps its character offsets into the extracted text and its pages.

use crate::ports::Extracted;

/// Chunk sizes, in characters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkParams {
    /// A chunk ends at the best break at or after this many characters...
    pub min: usize,
    /// ...and at the latest here.
    pub max: usize,
    /// Characters repeated from the previous chunk when a break falls inside a section.
    pub overlap: usize,
}

impl Default for ChunkParams {
    fn default() -> Self {
        Self {
            min: 1_000,
            max: 1_500,
            overlap: 150,
        }
    }
}

/// One chunk: where it is in the extracted text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkSpan {
    /// Position in the document, from 0.
    pub ordinal: u32,
    /// First character (Unicode scalar values).
    pub start: u64,
    /// One past the last character.
    pub end: u64,
    /// Byte offset of `start` in the text.
    pub start_byte: usize,
    /// Byte offset of `end`.
    pub end_byte: usize,
    /// Page of the first character, from 1.
    pub page_start: u32,
    /// Page of the last character.
    pub page_end: u32,
}

/// How good a place to break is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Strength {
    Word = 0,
    Sentence = 1,
    Paragraph = 2,
    Section = 3,
}

#[derive(Clone, Copy, Debug)]
struct Break {
    chr: usize,
    byte: usize,
    strength: Strength,
}

/// Cuts `doc` into chunks with `params`.
#[must_use]
pub fn chunk(doc: &Extracted, params: ChunkParams) -> Vec<ChunkSpan> {
    let text = doc.text.as_str();
    let params = ChunkParams {
        min: params.min.max(1),
        max: params.max.max(params.min.max(1)),
        overlap: params.overlap.min(params.min.max(1) / 2),
    };
    let (breaks, total_chars) = breaks(text);
    let mut out = Vec::new();
    let (mut s_chr, mut s_byte) = first_content(text, 0, 0);
    let mut at_section = true;
    while s_chr < total_chars {
        if total_chars - s_chr <= params.max {
            let (e_chr, e_byte) = trim_end(text, s_chr, s_byte, total_chars, text.len());
            push(&mut out, doc, s_chr, s_byte, e_chr, e_byte);
            break;
        }
        // Sections may end a chunk from a third of the minimum; other breaks from the minimum.
        let lo = breaks.partition_point(|b| b.chr < s_chr + params.min / 3);
        let hi = breaks.partition_point(|b| b.chr <= s_chr + params.max);
        let best = breaks[lo..hi]
            .iter()
            .filter(|b| {
                b.chr > s_chr && (b.strength == Strength::Section || b.chr >= s_chr + params.min)
            })
            .max_by_key(|b| {
                // Inside a section, end at the next section; from a section's start, pack whole
                // sections (and otherwise prefer the latest break of the strongest kind).
                let order = if b.strength == Strength::Section && !at_section {
                    usize::MAX - b.chr
                } else {
                    b.chr
                };
                (b.strength, order)
            })
            .copied();
        let cut = best.unwrap_or_else(|| {
            let byte = advance(text, s_byte, params.max);
            Break {
                chr: s_chr + params.max,
                byte,
                strength: Strength::Word,
            }
        });
        let (e_chr, e_byte) = trim_end(text, s_chr, s_byte, cut.chr, cut.byte);
        push(&mut out, doc, s_chr, s_byte, e_chr, e_byte);
        // The next chunk starts at the break, or a little before it inside a section.
        let (mut n_chr, mut n_byte) = (cut.chr, cut.byte);
        if cut.strength < Strength::Section && params.overlap > 0 {
            let back = cut.chr.saturating_sub(params.overlap).max(s_chr + 1);
            let lo = breaks.partition_point(|b| b.chr < back);
            let hi = breaks.partition_point(|b| b.chr < cut.chr);
            // The strongest break in the overlap window, the earliest of equals.
            if let Some(b) = breaks[lo..hi].iter().rev().max_by_key(|b| b.strength) {
                (n_chr, n_byte) = (b.chr, b.byte);
            }
        }
        at_section = cut.strength == Strength::Section;
        (s_chr, s_byte) = first_content(text, n_chr, n_byte);
    }
    out
}

fn push(
    out: &mut Vec<ChunkSpan>,
    doc: &Extracted,
    s_chr: usize,
    s_byte: usize,
    e_chr: usize,
    e_byte: usize,
) {
    if e_chr <= s_chr {
        return;
    }
    let (start, end) = (s_chr as u64, e_chr as u64);
    out.push(ChunkSpan {
        ordinal: u32::try_from(out.len()).unwrap_or(u32::MAX),
        start,
        end,
        start_byte: s_byte,
        end_byte: e_byte,
        page_start: doc.page_of(start),
        page_end: doc.page_of(end - 1),
    });
}

/// Skips whitespace from a position.
fn first_content(text: &str, mut chr: usize, byte: usize) -> (usize, usize) {
    for (i, c) in text[byte..].char_indices() {
        if !c.is_whitespace() {
            return (chr, byte + i);
        }
        chr += 1;
    }
    (chr, text.len())
}

/// Drops trailing whitespace from a chunk's end (never below its start).
fn trim_end(
    text: &str,
    s_chr: usize,
    s_byte: usize,
    mut chr: usize,
    byte: usize,
) -> (usize, usize) {
    let trimmed = text[s_byte..byte].trim_end();
    let removed = text[s_byte + trimmed.len()..byte].chars().count();
    chr -= removed;
    if chr <= s_chr {
        return (chr + removed, byte);
    }
    (chr, s_byte + trimmed.len())
}

/// The byte offset `n` characters after `byte`.
fn advance(text: &str, byte: usize, n: usize) -> usize {
    text[byte..]
        .char_indices()
        .nth(n)
        .map_or(text.len(), |(i, _)| byte + i)
}

/// Every place a chunk may end (and the next start), with its strength, and the text's length in
/// characters.
fn breaks(text: &str) -> (Vec<Break>, usize) {
    let mut out = Vec::new();
    let mut chr = 0usize;
    let mut prev: Option<char> = None;
    let mut prev2: Option<char> = None;
    let mut line_start = true;
    for (byte, c) in text.char_indices() {
        if line_start && !c.is_whitespace() {
            let strength = if is_heading(&text[byte..]) {
                Strength::Section
            } else {
                Strength::Paragraph
            };
            out.push(Break {
                chr,
                byte,
                strength,
            });
            line_start = false;
        } else if !c.is_whitespace() && prev.is_some_and(char::is_whitespace) {
            let strength = if prev2.is_some_and(|p| matches!(p, '.' | ';' | ':' | '!' | '?')) {
                Strength::Sentence
            } else {
                Strength::Word
            };
            out.push(Break {
                chr,
                byte,
                strength,
            });
        }
        if c == '\n' || c == '\u{c}' || c == '\r' {
            line_start = true;
        }
        prev2 = prev;
        prev = Some(c);
        chr += 1;
    }
    (out, chr)
}

/// Whether a line starts a section: a clause number (`12.`, `3.2`, `(a)`, `IV.`), a section word
/// (`ARTICLE`, `Section`, `Schedule`, `Exhibit`), or a short line in capitals.
fn is_heading(rest: &str) -> bool {
    let line = rest
        .split(['\n', '\r', '\u{c}'])
        .next()
        .unwrap_or("")
        .trim_end();
    let lower_start: String = line.chars().take(12).collect::<String>().to_lowercase();
    for word in [
        "article ",
        "section ",
        "schedule ",
        "exhibit ",
        "annex ",
        "appendix ",
    ] {
        if lower_start.starts_with(word) {
            return true;
        }
    }
    // 1. / 1.2 / 1.2.3 / 12) followed by a space: a clause number, not a year or an amount.
    let number_len = line
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == ')'))
        .unwrap_or(line.len());
    let number = &line[..number_len];
    if (1..=12).contains(&number_len)
        && number.starts_with(|c: char| c.is_ascii_digit())
        && (number.contains('.') || number.ends_with(')'))
        && number.matches(')').count() <= 1
        && line[number_len..].starts_with(char::is_whitespace)
    {
        return true;
    }
    // (a) / (iv)
    if let Some(inner) = line.strip_prefix('(')
        && let Some(close) = inner.find(')')
        && (1..=4).contains(&close)
        && inner[..close].chars().all(|c| c.is_ascii_alphanumeric())
    {
        return true;
    }
    // A short line in capitals.
    let letters: Vec<char> = line.chars().filter(|c| c.is_alphabetic()).collect();
    letters.len() >= 4 && line.chars().count() <= 80 && letters.iter().all(|c| c.is_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(text: &str) -> Extracted {
        Extracted {
            text: text.to_owned(),
            pages: vec![0],
        }
    }

    fn slice(text: &str, c: &ChunkSpan) -> String {
        text[c.start_byte..c.end_byte].to_owned()
    }

    #[test]
    fn short_texts_are_one_chunk() {
        let d = doc("  A short contract.\n");
        let c = chunk(&d, ChunkParams::default());
        assert_eq!(c.len(), 1);
        assert_eq!(slice(&d.text, &c[0]), "A short contract.");
        assert_eq!((c[0].start, c[0].end), (2, 19));
        assert!(chunk(&doc(""), ChunkParams::default()).is_empty());
        assert!(chunk(&doc(" \n\n "), ChunkParams::default()).is_empty());
    }

    #[test]
    fn breaks_prefer_sections_then_paragraphs() {
        let para =
            "The Supplier shall deliver the Goods in accordance with the schedule. ".repeat(12);
        let text =
            format!("1. DEFINITIONS\n{para}\n\n{para}\n2. DELIVERY\n{para}\n3. PAYMENT\n{para}");
        let d = doc(&text);
        let chunks = chunk(&d, ChunkParams::default());
        for c in &chunks {
            let s = slice(&text, c);
            assert!(s.chars().count() <= 1_500, "chunk too long");
        }
        // Sections start chunks (no overlap before a heading).
        let starts: Vec<String> = chunks.iter().map(|c| slice(&text, c)).collect();
        assert!(
            starts.iter().any(|s| s.starts_with("2. DELIVERY")),
            "{starts:?}"
        );
        assert!(starts.iter().any(|s| s.starts_with("3. PAYMENT")));
    }

    #[test]
    fn pages_follow_offsets() {
        let page = "word ".repeat(400);
        let text = format!("{page}\u{c}{page}\u{c}{page}");
        let d = Extracted {
            pages: vec![0, 2001, 4002],
            text,
        };
        let chunks = chunk(&d, ChunkParams::default());
        assert_eq!(chunks.first().map(|c| c.page_start), Some(1));
        assert_eq!(chunks.last().map(|c| c.page_end), Some(3));
        for c in &chunks {
            assert_eq!(c.page_start, d.page_of(c.start));
        }
    }

    #[test]
    fn headings_are_recognised() {
        for h in [
            "1. Definitions",
            "12.3 Term",
            "ARTICLE IV",
            "Section 5",
            "(a) the Goods",
            "GOVERNING LAW",
            "7) Notices",
        ] {
            assert!(is_heading(h), "{h}");
        }
        for p in ["The parties agree", "2020 was a year in which", "a. b"] {
            assert!(!is_heading(p), "{p}");
        }
    }

    proptest::proptest! {
        #[test]
        fn chunks_cover_the_text_in_order(
            words in proptest::collection::vec("[a-zA-Zé0-9]{1,12}[.;,]?( |\n|\n\n|\u{c})", 0..800),
            min in 50usize..400,
            extra in 0usize..400,
            overlap in 0usize..100,
        ) {
            let text: String = words.concat();
            let d = doc(&text);
            let params = ChunkParams { min, max: min + extra, overlap };
            let chunks = chunk(&d, params);
            let total = text.chars().count() as u64;
            let mut covered = 0u64;
            for (i, c) in chunks.iter().enumerate() {
                proptest::prop_assert_eq!(c.ordinal as usize, i);
                proptest::prop_assert!(c.start < c.end && c.end <= total);
                proptest::prop_assert!(text.is_char_boundary(c.start_byte) && text.is_char_boundary(c.end_byte));
                proptest::prop_assert_eq!(text[..c.start_byte].chars().count() as u64, c.start);
                proptest::prop_assert_eq!(text[..c.end_byte].chars().count() as u64, c.end);
                proptest::prop_assert!((c.end - c.start) as usize <= params.max.max(params.min));
                // No gap with content in it between chunks.
                if c.start > covered {
                    let from = text.char_indices().nth(covered as usize).map_or(text.len(), |(b, _)| b);
                    proptest::prop_assert!(text[from..c.start_byte].trim().is_empty());
                }
                if i > 0 {
                    proptest::prop_assert!(c.start > chunks[i - 1].start);
                }
                covered = covered.max(c.end);
            }
            let rest = text.chars().skip(covered as usize).collect::<String>();
            proptest::prop_assert!(rest.trim().is_empty());
        }
    }
}
