//! What a review is and what it found: the stored record and the API's result shape (one type for
//! both, so the stored review and the answer cannot drift apart).

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::categories::AnswerKind;
use crate::domain::{ContractId, OrgId, ReviewId};
use crate::ports::Actor;

/// Where a review is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReviewStatus {
    /// Waiting for a worker (or for the contract to be indexed).
    Queued,
    /// A worker is on it.
    Running,
    /// Done: `result` is set.
    Completed,
    /// Ended without a result: `failure` says why.
    Failed,
}

impl ReviewStatus {
    /// Whether the review has ended.
    #[must_use]
    pub fn is_final(self) -> bool {
        matches!(self, Self::Completed | Self::Failed)
    }
}

/// Why a review failed: a stable reason code and a sentence for people. Never contract text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReviewFailure {
    /// `contract_not_indexable`, `not_indexed`, `not_queued`, `timeout`, `rate_limited`,
    /// `provider_unavailable`, `provider_refused`, `invalid_answer`, `unavailable`.
    pub code: String,
    /// What happened.
    pub detail: String,
}

/// A review, as stored and as returned (`result` only once completed).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReviewRecord {
    /// Id (UUID v7: sorts by creation).
    pub id: ReviewId,
    /// Owning org.
    pub org: OrgId,
    /// The contract reviewed.
    pub contract: ContractId,
    /// Status.
    pub status: ReviewStatus,
    /// Category keys asked for, in taxonomy order (all 41 when the request named none).
    pub categories: Vec<String>,
    /// Who asked.
    pub requested_by: Actor,
    /// When it was asked for.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Last change.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// When it ended.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub completed_at: Option<OffsetDateTime>,
    /// Set when `failed`.
    pub failure: Option<ReviewFailure>,
    /// Set when `completed`.
    pub result: Option<ReviewResult>,
    /// The `Idempotency-Key` it was asked for with, if any (never shown).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
}

/// What a completed review found.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReviewResult {
    /// `offline` or `foundry`.
    pub provider: String,
    /// The model deployment, for `foundry`.
    pub model: Option<String>,
    /// A short summary: the kind of contract, its parties, its term and its main risks.
    pub summary: String,
    /// Dates that drive reminders.
    pub key_dates: KeyDates,
    /// One entry per category asked for, in taxonomy order.
    pub categories: Vec<Finding>,
    /// Quotes the provider gave that are not in the contract's text: dropped, never shown.
    pub dropped_quotes: u32,
    /// How much of the contract was sent to the provider.
    pub minimisation: Minimisation,
    /// Model token counts (zero for `offline`).
    pub usage: TokenUsage,
}

/// What was found for one category.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    /// Category key (`governing-law`).
    pub category: String,
    /// CUAD's name (`Governing Law`).
    pub name: String,
    /// Whether the contract has such a clause (only with at least one verified excerpt).
    pub present: bool,
    /// Verified excerpts, in document order.
    pub excerpts: Vec<Excerpt>,
    /// The normalised answer, where the category has one and it could be read.
    pub answer: Option<Answer>,
    /// Risk for the party reviewing, with the reason.
    pub risk: Option<Risk>,
}

/// A verified quote: its text is copied from the extracted text at the offsets we computed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Excerpt {
    /// The text, exactly as in the extracted text.
    pub text: String,
    /// First character (Unicode scalar values into the extracted text).
    pub start: u64,
    /// One past the last character.
    pub end: u64,
    /// Page of the first character, from 1.
    pub page: u32,
    /// The search chunk holding the first character (`{contractId}-{ordinal}`).
    pub chunk: String,
}

/// A normalised answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Answer {
    /// A calendar date, ISO 8601 (`2019-03-01`).
    Date {
        /// The date.
        date: String,
    },
    /// No end: perpetual, or until terminated.
    Perpetual,
    /// A length of time, ISO 8601 (`P1Y`, `P90D`).
    Duration {
        /// The duration.
        duration: String,
        /// Whether it repeats (`successive one-year terms`).
        successive: bool,
    },
    /// A state, province or country.
    Jurisdiction {
        /// As commonly written (`New York`, `England and Wales`).
        name: String,
        /// ISO 3166-1 alpha-2 country code, when known.
        country: Option<String>,
    },
    /// The parties.
    Parties {
        /// Names, as written in the contract.
        names: Vec<String>,
    },
    /// The contract's name.
    Title {
        /// As written in the contract.
        title: String,
    },
}

impl Answer {
    /// The answer kind this answer fits.
    #[must_use]
    pub fn fits(&self, kind: AnswerKind) -> bool {
        matches!(
            (self, kind),
            (Self::Date { .. } | Self::Perpetual, AnswerKind::Date)
                | (
                    Self::Duration { .. } | Self::Perpetual,
                    AnswerKind::Duration
                )
                | (Self::Jurisdiction { .. }, AnswerKind::Jurisdiction)
                | (Self::Parties { .. }, AnswerKind::Parties)
                | (Self::Title { .. }, AnswerKind::Title)
        )
    }
}

/// Risk levels.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum RiskLevel {
    /// Standard or favourable.
    Low,
    /// Worth a look.
    Medium,
    /// Needs a lawyer.
    High,
}

/// A risk flag.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Risk {
    /// Level.
    pub level: RiskLevel,
    /// One line: why.
    pub reason: String,
}

/// The dates that drive renewal reminders (ISO 8601), derived from the verified answers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeyDates {
    /// When the contract takes effect (the agreement date when no effective date is given).
    pub effective: Option<String>,
    /// When the initial term ends.
    pub expiry: Option<String>,
    /// When it renews (the expiry, if it renews).
    pub renewal: Option<String>,
    /// The renewal term (ISO 8601 duration).
    pub renewal_term: Option<String>,
    /// The last day to give notice of non-renewal (the renewal date less the notice period).
    pub notice_deadline: Option<String>,
}

/// Data minimisation: contract tokens sent to the provider against the whole contract's.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Minimisation {
    /// Passages (runs of sentences) sent.
    pub passages: u32,
    /// Tokens of contract text sent (0 for `offline`, which sends nothing).
    pub tokens_sent: u64,
    /// Tokens of the whole contract.
    pub contract_tokens: u64,
    /// `tokens_sent / contract_tokens`.
    pub ratio: f64,
}

/// Model token counts. Counts only: never the text.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenUsage {
    /// Model calls made (retries included).
    pub calls: u32,
    /// Prompt tokens billed.
    pub prompt_tokens: u64,
    /// Completion tokens billed.
    pub completion_tokens: u64,
}
