//! AI contract review: the taxonomy, the ephemeral text type, the provider port and its offline
//! adapter, data minimisation, quote verification, normalisation and the evaluation.
//!
//! A review runs as [`run`]: the offline rules make a first pass over the whole text; a remote
//! provider then sees only the passages [`context::select`] picks for the categories asked for
//! (steered by the first pass's hits); every quote it returns is located in the text by
//! [`verify`] or dropped and counted; answers are normalised and key dates derived
//! ([`normalize`]). The text is [`EphemeralText`] throughout and is dropped with the
//! [`ReviewDocument`].

pub mod categories;
pub mod context;
pub mod ephemeral;
pub mod eval;
pub mod model;
pub mod normalize;
pub mod offline;
pub mod provider;
pub mod verify;

pub use categories::{AnswerKind, CATEGORIES, Category, Group};
pub use ephemeral::EphemeralText;
pub use model::{
    Answer, Excerpt, Finding, KeyDates, Minimisation, ReviewFailure, ReviewRecord, ReviewResult,
    ReviewStatus, Risk, RiskLevel, TokenUsage,
};
pub use provider::{
    ProviderAnswer, ProviderError, ProviderRequest, RawFinding, RawQuote, ReviewDocument,
    ReviewProvider,
};

use context::{Evidence, SelectOptions, Selection};

/// Longest summary kept from a provider (characters).
pub const MAX_SUMMARY_CHARS: usize = 1_200;
/// Longest risk reason kept from a provider (characters).
pub const MAX_REASON_CHARS: usize = 240;

/// Reviews `doc` for `categories` with `provider`. `evidence` adds other passes' findings to the
/// first pass's in the context selection ([`Evidence`]).
///
/// # Errors
/// The provider's error, when it gave no answer.
pub async fn run(
    doc: &ReviewDocument,
    categories: &[&'static Category],
    provider: &dyn ReviewProvider,
    evidence: Evidence,
    options: &SelectOptions,
) -> Result<ReviewResult, ProviderError> {
    let first = offline::first_pass(doc, categories);
    let (answer, selection) = if provider.remote() {
        let selection = select_context(doc, categories, &first, evidence, options);
        let request = ProviderRequest {
            document: doc,
            categories,
            selection: &selection,
        };
        (provider.review(&request).await?, Some(selection))
    } else {
        (first, None)
    };
    let minimisation = minimisation(doc, selection.as_ref());
    Ok(assemble(
        doc,
        categories,
        answer,
        provider.name(),
        minimisation,
    ))
}

/// The passages a remote provider is sent: [`context::select`] steered by the first pass's hits
/// and any other `evidence`. The evaluation measures exactly this.
#[must_use]
pub fn select_context(
    doc: &ReviewDocument,
    categories: &[&'static Category],
    first_pass: &ProviderAnswer,
    mut evidence: Evidence,
    options: &SelectOptions,
) -> Selection {
    evidence.ranked.extend(first_pass_evidence(doc, first_pass));
    evidence.quoted.extend(first_pass_quotes(first_pass));
    context::select(doc, categories, &evidence, options)
}

/// The chunks where the first pass quoted something, per category.
fn first_pass_evidence(
    doc: &ReviewDocument,
    first: &ProviderAnswer,
) -> Vec<(&'static Category, Vec<u32>)> {
    first
        .findings
        .iter()
        .filter(|f| f.present)
        .map(|f| {
            let mut chunks: Vec<u32> = f
                .quotes
                .iter()
                .filter_map(|q| q.chunk.or_else(|| q.start_hint.map(|h| doc.chunk_of(h))))
                .collect();
            chunks.dedup();
            (f.category, chunks)
        })
        .filter(|(_, c)| !c.is_empty())
        .collect()
}

/// The text the first pass quoted, per category: `(category, start, end)` in characters.
fn first_pass_quotes(first: &ProviderAnswer) -> Vec<(&'static Category, u64, u64)> {
    first
        .findings
        .iter()
        .filter(|f| f.present)
        .flat_map(|f| {
            f.quotes.iter().filter_map(|q| {
                let start = q.start_hint?;
                let end = start + q.text.expose_to_provider().chars().count() as u64;
                Some((f.category, start, end))
            })
        })
        .collect()
}

fn minimisation(doc: &ReviewDocument, selection: Option<&Selection>) -> Minimisation {
    let contract_tokens = selection.map_or_else(
        || context::count_tokens(doc.text().expose_to_provider()) as u64,
        |s| s.contract_tokens,
    );
    let (passages, tokens_sent) = selection.map_or((0, 0), |s| {
        (
            u32::try_from(s.passages.len()).unwrap_or(u32::MAX),
            s.tokens_sent,
        )
    });
    Minimisation {
        passages,
        tokens_sent,
        contract_tokens,
        ratio: if contract_tokens == 0 {
            0.0
        } else {
            tokens_sent as f64 / contract_tokens as f64
        },
    }
}

/// Turns a provider's raw answer into the result: quotes located or dropped (and counted), excerpts
/// merged and ordered, answers normalised, key dates derived, prose capped.
#[must_use]
pub fn assemble(
    doc: &ReviewDocument,
    categories: &[&'static Category],
    answer: ProviderAnswer,
    provider: &str,
    minimisation: Minimisation,
) -> ReviewResult {
    let text = doc.text().expose_to_provider();
    let mut verifier = verify::Verifier::new(doc);
    let mut dropped = 0u32;
    let mut findings = Vec::with_capacity(categories.len());
    let mut raw = answer.findings;
    for &category in categories {
        let Some(pos) = raw
            .iter()
            .position(|f| std::ptr::eq(f.category, category) || f.category.key == category.key)
        else {
            findings.push(absent(category));
            continue;
        };
        let f = raw.swap_remove(pos);
        if !f.present {
            let mut finding = absent(category);
            finding.risk = f.risk.map(cap_risk);
            findings.push(finding);
            continue;
        }
        let mut spans = Vec::new();
        for q in &f.quotes {
            match verifier.locate(q) {
                Some(at) => spans.push(at),
                None => dropped += 1,
            }
        }
        spans.sort_by_key(|s| (s.start, s.end));
        let mut merged: Vec<verify::Located> = Vec::with_capacity(spans.len());
        for s in spans {
            match merged.last_mut() {
                Some(last) if s.start < last.end => {
                    if s.end > last.end {
                        last.end = s.end;
                        last.end_byte = s.end_byte;
                    }
                }
                _ => merged.push(s),
            }
        }
        let excerpts: Vec<Excerpt> = merged
            .iter()
            .map(|s| Excerpt {
                text: text[s.start_byte..s.end_byte].to_owned(),
                start: s.start,
                end: s.end,
                page: doc.page_of(s.start),
                chunk: format!("{}-{}", doc.contract(), doc.index_chunk_of(s.start)),
            })
            .collect();
        let present = !excerpts.is_empty();
        let normalised = if present {
            normalize::answer(
                category,
                f.answer.as_ref().map(EphemeralText::expose_to_provider),
                &excerpts,
                text,
            )
            .filter(|a| a.fits(category.answer))
        } else {
            None
        };
        findings.push(Finding {
            category: category.key.to_owned(),
            name: category.name.to_owned(),
            present,
            excerpts,
            answer: normalised,
            risk: f.risk.map(cap_risk),
        });
    }
    // Findings for categories not asked for are ignored (and their quotes never looked at).
    let key_dates = normalize::key_dates(&findings);
    let summary = answer
        .summary
        .map(|s| cap(&s, MAX_SUMMARY_CHARS))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| normalize::summary(&findings));
    ReviewResult {
        provider: provider.to_owned(),
        model: answer.model,
        summary,
        key_dates,
        categories: findings,
        dropped_quotes: dropped,
        minimisation,
        usage: answer.usage,
    }
}

fn absent(category: &Category) -> Finding {
    Finding {
        category: category.key.to_owned(),
        name: category.name.to_owned(),
        present: false,
        excerpts: Vec::new(),
        answer: None,
        risk: None,
    }
}

/// At most `max` characters, control characters removed, white space folded.
fn cap(s: &str, max: usize) -> String {
    let folded = s
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .filter(|c| !c.is_control())
        .collect::<String>();
    if folded.chars().count() <= max {
        folded
    } else {
        let mut out: String = folded.chars().take(max.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}

fn cap_risk(r: Risk) -> Risk {
    Risk {
        level: r.level,
        reason: cap(&r.reason, MAX_REASON_CHARS),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ContractId;
    use crate::ports::Extracted;

    fn doc(text: &str) -> ReviewDocument {
        ReviewDocument::new(
            ContractId::new(),
            Extracted {
                text: text.to_owned(),
                pages: vec![0, 40],
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
    fn hallucinated_quotes_are_dropped_and_counted() {
        let d = doc(
            "SUPPLY AGREEMENT. This Agreement shall be governed by the laws of Delaware. Either party may terminate on 30 days notice.",
        );
        let gl = Category::find("Governing Law").unwrap();
        let tc = Category::find("Termination For Convenience").unwrap();
        let answer = ProviderAnswer {
            findings: vec![
                RawFinding {
                    category: gl,
                    present: true,
                    quotes: vec![
                        quote("governed by the laws of Delaware"),
                        quote("laws of Texas"),
                    ],
                    answer: None,
                    risk: Some(Risk {
                        level: RiskLevel::Low,
                        reason: "Standard\nchoice of law.".into(),
                    }),
                },
                RawFinding {
                    category: tc,
                    present: true,
                    quotes: vec![quote("terminate at will")],
                    answer: None,
                    risk: None,
                },
            ],
            ..ProviderAnswer::default()
        };
        let r = assemble(&d, &[gl, tc], answer, "test", Minimisation::default());
        assert_eq!(r.dropped_quotes, 2);
        let g = &r.categories[0];
        assert!(g.present);
        assert_eq!(g.excerpts.len(), 1);
        assert_eq!(g.excerpts[0].text, "governed by the laws of Delaware");
        assert_eq!(g.excerpts[0].page, 2);
        assert_eq!(g.risk.as_ref().unwrap().reason, "Standard choice of law.");
        // Claimed present, but with no verifiable quote: not present.
        assert!(!r.categories[1].present);
    }
}
