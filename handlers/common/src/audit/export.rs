//! The CSV shape of an exported trail, for people and spreadsheets (NDJSON is the verifiable form).

use crate::ports::StoredEvent;

/// Column names, in order.
pub const CSV_HEADER: [&str; 19] = [
    "seq",
    "id",
    "at",
    "orgId",
    "action",
    "outcome",
    "reason",
    "actorType",
    "actorId",
    "actorEmail",
    "resourceType",
    "resourceId",
    "contractId",
    "requestId",
    "clientAddress",
    "userAgent",
    "details",
    "prevHash",
    "hash",
];

/// A cell a spreadsheet would run as a formula gets a leading `'` (OWASP CSV injection), so a
/// hostile `User-Agent` cannot become a formula on an auditor's machine.
fn cell(s: &str) -> String {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_owned()
    }
}

/// One event as a CSV record (quote with a CSV writer).
#[must_use]
pub fn csv_record(e: &StoredEvent) -> [String; 19] {
    let ev = &e.event;
    let email = match &ev.actor {
        crate::ports::Actor::User { email, .. } => email.clone().unwrap_or_default(),
        _ => String::new(),
    };
    [
        e.seq.to_string(),
        e.id.clone(),
        e.at.format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
        cell(e.org_id.as_str()),
        cell(&ev.action),
        ev.outcome.as_str().to_owned(),
        cell(ev.reason.as_deref().unwrap_or_default()),
        ev.actor.kind().to_owned(),
        cell(ev.actor.id()),
        cell(&email),
        cell(&ev.resource_type),
        cell(&ev.resource_id),
        cell(ev.contract_id.as_deref().unwrap_or_default()),
        cell(ev.request_id.as_deref().unwrap_or_default()),
        cell(ev.client.address.as_deref().unwrap_or_default()),
        cell(ev.client.user_agent.as_deref().unwrap_or_default()),
        cell(&serde_json::to_string(&ev.details).unwrap_or_default()),
        e.prev_hash.clone(),
        e.hash.clone(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_are_neutralised() {
        assert_eq!(cell("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(cell("curl/8"), "curl/8");
    }
}
