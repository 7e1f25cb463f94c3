//! Usage aggregates: counts, bytes and tokens per org. Aggregated metadata only, never contract
//! data, so it is what may cross regions (a multi-region admin sums what each plane reports).

use serde::{Deserialize, Serialize};

use super::ContractRecord;
use super::contracts::ContractStatus;
use crate::review::{ReviewStatus, TokenUsage};

/// An org's contracts: how many, how large, where they are in indexing. `deleting` ones are left out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContractUsage {
    /// Contracts stored.
    pub count: u64,
    /// Their original bytes, summed.
    pub bytes: u64,
    /// Stored, not indexed yet.
    pub pending: u64,
    /// Being indexed.
    pub indexing: u64,
    /// Searchable.
    pub indexed: u64,
    /// Indexing failed.
    pub failed: u64,
}

impl ContractUsage {
    /// Counts one contract of `size` bytes in `status` (a `deleting` one is not counted).
    pub fn add(&mut self, status: ContractStatus, size: u64) {
        let slot = match status {
            ContractStatus::Pending => &mut self.pending,
            ContractStatus::Indexing => &mut self.indexing,
            ContractStatus::Indexed => &mut self.indexed,
            ContractStatus::Failed => &mut self.failed,
            ContractStatus::Deleting => return,
        };
        *slot += 1;
        self.count += 1;
        self.bytes = self.bytes.saturating_add(size);
    }

    /// Counts one record.
    pub fn add_record(&mut self, r: &ContractRecord) {
        self.add(r.status, r.size);
    }
}

/// An org's reviews and the model tokens they used.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReviewUsage {
    /// Reviews stored (any status).
    pub count: u64,
    /// Waiting.
    pub queued: u64,
    /// Running.
    pub running: u64,
    /// Completed.
    pub completed: u64,
    /// Failed.
    pub failed: u64,
    /// Model calls made by completed reviews (retries included).
    pub model_calls: u64,
    /// Prompt tokens billed to completed reviews.
    pub prompt_tokens: u64,
    /// Completion tokens billed to completed reviews.
    pub completion_tokens: u64,
}

impl ReviewUsage {
    /// Counts one review in `status`, with the token usage of its result if it has one.
    pub fn add(&mut self, status: ReviewStatus, usage: Option<&TokenUsage>) {
        let slot = match status {
            ReviewStatus::Queued => &mut self.queued,
            ReviewStatus::Running => &mut self.running,
            ReviewStatus::Completed => &mut self.completed,
            ReviewStatus::Failed => &mut self.failed,
        };
        *slot += 1;
        self.count += 1;
        if let Some(u) = usage {
            self.model_calls += u64::from(u.calls);
            self.prompt_tokens = self.prompt_tokens.saturating_add(u.prompt_tokens);
            self.completion_tokens = self.completion_tokens.saturating_add(u.completion_tokens);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deleting_contracts_are_not_counted() {
        let mut u = ContractUsage::default();
        u.add(ContractStatus::Indexed, 10);
        u.add(ContractStatus::Failed, 5);
        u.add(ContractStatus::Deleting, 1000);
        assert_eq!(
            u,
            ContractUsage {
                count: 2,
                bytes: 15,
                indexed: 1,
                failed: 1,
                ..ContractUsage::default()
            }
        );
    }

    #[test]
    fn tokens_add_up() {
        let mut u = ReviewUsage::default();
        let t = TokenUsage {
            calls: 2,
            prompt_tokens: 100,
            completion_tokens: 20,
        };
        u.add(ReviewStatus::Completed, Some(&t));
        u.add(ReviewStatus::Completed, Some(&t));
        u.add(ReviewStatus::Queued, None);
        assert_eq!((u.count, u.completed, u.queued), (3, 2, 1));
        assert_eq!(
            (u.model_calls, u.prompt_tokens, u.completion_tokens),
            (4, 200, 40)
        );
    }
}
