//! The tamper-evident audit trail: the per-org hash chain, signed digests, and their verification
//! (ADR 0012). Adapters store what [`seal`] builds; [`Verifier`] checks a trail read back in order,
//! in bounded memory, online (the verify route, the admin command) or offline (an export).

mod canonical;
mod chain;
mod digest;
mod export;
mod service;

pub use canonical::canonical_json;
pub use chain::{GENESIS_HASH, event_hash, seal};
pub use digest::{Digest, DigestKeyError, DigestSigner, DigestVerifier};
pub use export::{CSV_HEADER, csv_record};
pub use service::{
    ARCHIVE_OBJECT_EVENTS, ARCHIVE_WINDOW, PAGE, archive_trails, sign_heads, verify, window,
};

use crate::ports::StoredEvent;

/// Why verification stopped trusting the trail.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Break {
    /// An event's recomputed hash differs from the stored one (the event was changed).
    HashMismatch,
    /// A sequence number is missing, repeated or out of order (deleted, inserted or reordered events).
    SequenceGap,
    /// An event's `prevHash` is not the previous event's hash.
    BrokenLink,
    /// An event belongs to another org.
    WrongOrg,
    /// A signed digest names a head that the trail does not have (truncated or rewritten trail).
    DigestMismatch,
    /// A digest's signature does not verify, its key is unknown, or the digest chain is broken.
    BadSignature,
}

/// The answer to "does this window of the trail verify?".
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// True when every event and digest checked out.
    pub verified: bool,
    /// Events checked.
    pub events_checked: u64,
    /// Digests checked.
    pub digests_checked: u64,
    /// First sequence number checked (none when the window is empty).
    pub from_seq: Option<u64>,
    /// Last sequence number checked.
    pub to_seq: Option<u64>,
    /// The first sequence number that failed.
    pub first_bad_seq: Option<u64>,
    /// What failed there.
    pub failure: Option<Break>,
}

/// Verifies events fed in stored order, then the digests that cover them. Holds O(1) state plus the
/// hashes at digest heads, so a trail of any length verifies in bounded memory.
#[derive(Debug)]
pub struct Verifier {
    org: crate::domain::OrgId,
    expected_seq: Option<u64>,
    prev_hash: Option<String>,
    checked: u64,
    from_seq: Option<u64>,
    last_seq: Option<u64>,
    first_bad: Option<(u64, Break)>,
    /// seq -> hash for the digests' heads that fall in the window.
    wanted: std::collections::BTreeMap<u64, Option<String>>,
}

impl Verifier {
    /// Starts at `predecessor` (the event just before the window; `None` when the window starts at
    /// sequence 1). `digest_heads` are the head sequence numbers of the digests to check afterwards.
    #[must_use]
    pub fn new(
        org: crate::domain::OrgId,
        predecessor: Option<&StoredEvent>,
        digest_heads: impl IntoIterator<Item = u64>,
    ) -> Self {
        Self {
            org,
            expected_seq: Some(predecessor.map_or(1, |p| p.seq + 1)),
            prev_hash: Some(
                predecessor.map_or_else(|| GENESIS_HASH.to_owned(), |p| p.hash.clone()),
            ),
            checked: 0,
            from_seq: None,
            last_seq: None,
            first_bad: None,
            wanted: digest_heads.into_iter().map(|s| (s, None)).collect(),
        }
    }

    /// Starts mid-trail without knowing the predecessor (an export window read offline): the first
    /// event's link is taken on trust, everything after it is checked.
    #[must_use]
    pub fn new_unanchored(
        org: crate::domain::OrgId,
        digest_heads: impl IntoIterator<Item = u64>,
    ) -> Self {
        let mut v = Self::new(org, None, digest_heads);
        v.expected_seq = None;
        v.prev_hash = None;
        v
    }

    fn fail(&mut self, seq: u64, why: Break) {
        if self.first_bad.is_none_or(|(s, _)| seq < s) {
            self.first_bad = Some((seq, why));
        }
    }

    /// Checks the next event. Returns false once the trail has failed.
    pub fn push(&mut self, e: &StoredEvent) -> bool {
        if self.first_bad.is_some() {
            return false;
        }
        let expected = self.expected_seq.unwrap_or(e.seq);
        self.from_seq.get_or_insert(expected);
        if e.seq != expected {
            self.fail(expected, Break::SequenceGap);
            return false;
        }
        if e.org_id != self.org {
            self.fail(expected, Break::WrongOrg);
            return false;
        }
        if self.prev_hash.as_ref().is_some_and(|p| *p != e.prev_hash) {
            self.fail(expected, Break::BrokenLink);
            return false;
        }
        if event_hash(e) != e.hash {
            self.fail(expected, Break::HashMismatch);
            return false;
        }
        if let Some(slot) = self.wanted.get_mut(&e.seq) {
            *slot = Some(e.hash.clone());
        }
        self.checked += 1;
        self.last_seq = Some(e.seq);
        self.expected_seq = Some(e.seq + 1);
        self.prev_hash = Some(e.hash.clone());
        true
    }

    /// Checks the digests (oldest first, each already read from the store) against the events seen
    /// and the verifier's keys, and returns the report. `previous` is the digest before the first
    /// one given, if any, for the digest chain.
    #[must_use]
    pub fn finish(
        mut self,
        digests: &[Digest],
        previous: Option<&Digest>,
        keys: &DigestVerifier,
    ) -> Report {
        let mut digests_checked = 0;
        let mut prev_sig = previous.map(|d| d.signature.clone());
        let mut prev_number = previous.map(|d| d.number);
        // The highest head a digest vouched for so far: a mismatch at a later digest means the
        // trail was rewritten somewhere after it.
        let mut last_good: Option<u64> = None;
        // Once the chain itself broke, heads after the break were never reached: say nothing more.
        let chain_broken = self.first_bad.is_some();
        for d in digests {
            let chained = match (&prev_sig, prev_number) {
                (Some(sig), Some(n)) => d.number == n + 1 && d.prev_signature.as_ref() == Some(sig),
                // The first digest in view: only the very first digest of a trail has no link.
                _ => d.number != 1 || d.prev_signature.is_none(),
            };
            if d.org_id != self.org || !chained || keys.verify(d).is_err() {
                self.fail(d.head_seq, Break::BadSignature);
            } else if let Some(seen) = self.wanted.get(&d.head_seq) {
                match seen {
                    Some(h) if *h == d.head_hash => last_good = Some(d.head_seq),
                    None if chain_broken => {}
                    // A stored event with another hash, or no event at all where the digest has one.
                    _ => {
                        let from = last_good.map_or(self.from_seq.unwrap_or(1), |g| g + 1);
                        self.fail(from.min(d.head_seq), Break::DigestMismatch);
                    }
                }
            }
            digests_checked += 1;
            prev_sig = Some(d.signature.clone());
            prev_number = Some(d.number);
        }
        Report {
            verified: self.first_bad.is_none(),
            events_checked: self.checked,
            digests_checked,
            from_seq: self.from_seq,
            to_seq: self.last_seq,
            first_bad_seq: self.first_bad.map(|(s, _)| s),
            failure: self.first_bad.map(|(_, w)| w),
        }
    }
}
