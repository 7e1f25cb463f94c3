//! The `offline` provider: no network at all. A deterministic extractor (patterns, the contract's
//! structure) that fills the same schema as a model would, as well as it can. It is the local
//! default, and the cheap first pass whose hits steer context selection before any model call.
//!
//! The text is cut into units (`segment`: sentences and headings, section numbers stripped,
//! capped in length). The front matter (`front`) gives the title, the parties (the preamble, else
//! the signature block), and the agreement and effective dates; every other category is a rule
//! (`rules`) over units: patterns that count anywhere, patterns that count only under a matching
//! heading, and vetoes. Each quote is one unit (a sentence or a heading-free clause), the size of a
//! lawyer's highlight, with its character offset as the start hint. Raw answers (dates, durations,
//! places, party names) are read out of the quotes with the `normalize` module's readers, and the
//! risk flag comes from the table in `risk`.
//!
//! Every scan is linear in the text; the patterns are compiled once per process (about 0.1 s) and a
//! 100,000-character contract then takes about 10 ms in a release build.

use async_trait::async_trait;
use zeroize::Zeroizing;

use super::categories::{AnswerKind, Category};
use super::ephemeral::EphemeralText;
use super::normalize;
use super::provider::{
    ProviderAnswer, ProviderError, ProviderRequest, RawFinding, RawQuote, ReviewDocument,
    ReviewProvider,
};

mod front;
mod risk;
mod rules;
pub(crate) mod segment;

/// The text, its ASCII-lower-cased copy (same byte offsets) and its units.
pub(crate) struct Doc<'a> {
    /// The text as extracted.
    pub text: &'a str,
    /// `text` with ASCII letters lower-cased (zeroed when dropped, like the text itself).
    pub lower: Zeroizing<String>,
    /// Sentences and headings.
    pub seg: segment::Segments,
}

impl<'a> Doc<'a> {
    fn new(text: &'a str) -> Self {
        Self {
            text,
            lower: Zeroizing::new(text.to_ascii_lowercase()),
            seg: segment::Segments::new(text),
        }
    }

    /// The lower-cased text of unit `i`.
    pub fn lower_unit(&self, i: usize) -> &str {
        let u = &self.seg.units[i];
        &self.lower[u.start..u.end]
    }

    /// Whether unit `i` reads as a table of contents (many numbers among few words), which no
    /// rule quotes.
    pub fn is_contents(&self, i: usize) -> bool {
        let t = self.lower_unit(i);
        if t.len() < 80 {
            return false;
        }
        let (mut words, mut numbers) = (0usize, 0usize);
        for w in t.split_ascii_whitespace() {
            words += 1;
            if w.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
                numbers += 1;
            }
        }
        numbers * 5 > words
    }
}

/// Compiles `pattern` with ASCII word boundaries: a Unicode `\b` makes the regex engine leave its
/// fast automaton on any text with non-ASCII characters, which costs a hundredfold on long units.
pub(crate) fn ascii_regex(pattern: &str) -> Result<regex::Regex, regex::Error> {
    regex::Regex::new(&pattern.replace(r"\b", r"(?-u:\b)"))
}

/// A span found by a rule: bytes of the text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Span {
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

/// What the rules found for one category.
#[derive(Debug, Default)]
pub(crate) struct Found {
    /// Spans to quote, best first.
    pub spans: Vec<Span>,
    /// The raw answer (a date, a duration, a place, the title), as written.
    pub answer: Option<Span>,
}

/// Runs the rules over the whole document.
#[must_use]
pub fn first_pass(doc: &ReviewDocument, categories: &[&'static Category]) -> ProviderAnswer {
    let text = doc.text().expose_to_provider();
    let d = Doc::new(text);
    let front = front::Front::read(&d);
    let front_spans = front.spans();
    let mut findings = Vec::with_capacity(categories.len());
    for &category in categories {
        let found = front
            .found(category.name)
            .unwrap_or_else(|| rules::find(category.name, &d, &front_spans));
        let present = !found.spans.is_empty();
        let quotes = found
            .spans
            .iter()
            .map(|s| RawQuote {
                text: EphemeralText::from(&text[s.start..s.end]),
                chunk: None,
                start_hint: d
                    .seg
                    .unit_at(s.start)
                    .map(|u| d.seg.char_offset(text, u, s.start)),
            })
            .collect();
        let answer = if present {
            raw_answer(category, &found, text)
        } else {
            None
        };
        findings.push(RawFinding {
            category,
            present,
            quotes,
            risk: risk::risk_for(category, present, &found, &d),
            answer,
        });
    }
    ProviderAnswer {
        findings,
        ..ProviderAnswer::default()
    }
}

/// The raw answer for `category` (as written in the contract): the span the front matter found,
/// else the date, duration or place in the first quote; for Parties the names, one per line.
fn raw_answer(category: &Category, found: &Found, text: &str) -> Option<EphemeralText> {
    if let Some(s) = found.answer {
        return Some(EphemeralText::from(&text[s.start..s.end]));
    }
    let first = found.spans.first()?;
    let quote = &text[first.start..first.end];
    if category.answer == AnswerKind::Parties {
        let names = found
            .spans
            .iter()
            .flat_map(|s| normalize::party_names(&text[s.start..s.end], text))
            .fold(Vec::<String>::new(), |mut acc, n| {
                if !acc.contains(&n) {
                    acc.push(n);
                }
                acc
            });
        return (!names.is_empty()).then(|| EphemeralText::new(names.join("\n")));
    }
    let r = normalize::raw_answer_span(category, quote)?;
    Some(EphemeralText::from(&quote[r]))
}

/// The offline provider.
#[derive(Clone, Copy, Debug, Default)]
pub struct OfflineProvider;

#[async_trait]
impl ReviewProvider for OfflineProvider {
    fn name(&self) -> &'static str {
        "offline"
    }

    fn remote(&self) -> bool {
        false
    }

    async fn review(&self, request: &ProviderRequest<'_>) -> Result<ProviderAnswer, ProviderError> {
        Ok(first_pass(request.document, request.categories))
    }
}
