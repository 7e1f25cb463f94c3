//! The per-org hash chain: each event's hash covers the previous event's hash and the canonical
//! encoding of the event itself, so changing, removing, inserting or reordering any event breaks
//! every link after it.

use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;

use super::canonical_json;
use crate::domain::OrgId;
use crate::ports::{AuditEvent, StoredEvent};

/// The `prevHash` of an org's first event.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Domain separation: a hash of this chain can never be mistaken for any other SHA-256 in the system.
const DOMAIN: &[u8] = b"clment.audit.event.v1\0";

/// Builds the next stored event of `org`'s trail after `prev` (`None` for the first event): the next
/// sequence number, a time never earlier than the previous event's (so sequence order is time order
/// and windows can be found by time), microsecond precision, a fresh id, the link and the hash.
#[must_use]
pub fn seal(
    org: &OrgId,
    prev: Option<&StoredEvent>,
    event: AuditEvent,
    at: OffsetDateTime,
) -> StoredEvent {
    let at = at.to_offset(time::UtcOffset::UTC);
    let at = at
        .replace_nanosecond(at.nanosecond() / 1_000 * 1_000)
        .unwrap_or(at);
    let at = prev.map_or(at, |p| at.max(p.at));
    let mut stored = StoredEvent {
        id: uuid::Uuid::now_v7().to_string(),
        org_id: org.clone(),
        seq: prev.map_or(1, |p| p.seq + 1),
        at,
        event,
        prev_hash: prev.map_or_else(|| GENESIS_HASH.to_owned(), |p| p.hash.clone()),
        hash: String::new(),
    };
    stored.hash = event_hash(&stored);
    stored
}

/// Recomputes an event's hash from its content and `prevHash` (its stored `hash` is ignored).
#[must_use]
pub fn event_hash(e: &StoredEvent) -> String {
    let mut value = serde_json::to_value(e).unwrap_or_default();
    if let Some(map) = value.as_object_mut() {
        map.remove("hash");
    }
    let mut h = Sha256::new();
    h.update(DOMAIN);
    h.update(canonical_json(&value));
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::{Actor, Client, Outcome};

    fn event(n: u32) -> AuditEvent {
        AuditEvent {
            action: "contract.renamed".into(),
            actor: Actor::User {
                user_id: "u1".into(),
                email: Some("u1@example.com".into()),
            },
            resource_type: "contract".into(),
            resource_id: format!("c{n}"),
            contract_id: Some(format!("c{n}")),
            outcome: Outcome::Success,
            reason: None,
            details: serde_json::json!({ "before": "a", "after": "b" }),
            request_id: Some(format!("r{n}")),
            client: Client {
                address: Some("203.0.113.9".into()),
                user_agent: Some("test".into()),
            },
        }
    }

    #[test]
    fn events_chain_and_round_trip_through_json() {
        let org = OrgId::parse("acme").unwrap();
        let t = OffsetDateTime::now_utc();
        let a = seal(&org, None, event(1), t);
        let b = seal(&org, Some(&a), event(2), t - time::Duration::seconds(5));
        assert_eq!((a.seq, b.seq), (1, 2));
        assert_eq!(a.prev_hash, GENESIS_HASH);
        assert_eq!(b.prev_hash, a.hash);
        assert!(b.at >= a.at, "time never goes backwards along the chain");
        let back: StoredEvent = serde_json::from_slice(&serde_json::to_vec(&b).unwrap()).unwrap();
        assert_eq!(back, b);
        assert_eq!(event_hash(&back), b.hash);
    }

    #[test]
    fn any_change_changes_the_hash() {
        let org = OrgId::parse("acme").unwrap();
        let a = seal(&org, None, event(1), OffsetDateTime::now_utc());
        let mut changed = a.clone();
        changed.event.details = serde_json::json!({ "before": "a", "after": "c" });
        assert_ne!(event_hash(&changed), a.hash);
        let mut moved = a.clone();
        moved.seq = 2;
        assert_ne!(event_hash(&moved), a.hash);
        let mut relinked = a.clone();
        relinked.prev_hash = "1".repeat(64);
        assert_ne!(event_hash(&relinked), a.hash);
    }
}
