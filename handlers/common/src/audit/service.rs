//! Trail operations shared by the routes, the admin command line and the digest signer: finding a
//! time window, verifying it page by page, and signing each org's head.

use std::ops::Range;

use time::OffsetDateTime;

use super::{Break, Digest, DigestSigner, DigestVerifier, Report, Verifier};
use crate::TenantScope;
use crate::domain::Region;
use crate::ports::{AuditLog, PortError};

/// Events read per page while streaming a window.
pub const PAGE: usize = 500;

/// The sequence numbers of the events with `from <= at < to` (open bounds: the trail's start or end).
///
/// # Errors
/// When the store fails.
pub async fn window(
    log: &dyn AuditLog,
    scope: &TenantScope,
    from: Option<OffsetDateTime>,
    to: Option<OffsetDateTime>,
) -> Result<Range<u64>, PortError> {
    let Some(last) = log.last(scope).await? else {
        return Ok(1..1);
    };
    let after_last = last.seq + 1;
    let start = match from {
        Some(t) => log.first_seq_at(scope, t).await?.unwrap_or(after_last),
        None => 1,
    };
    let end = match to {
        Some(t) => log.first_seq_at(scope, t).await?.unwrap_or(after_last),
        None => after_last,
    };
    Ok(start..end.max(start))
}

async fn all_digests(log: &dyn AuditLog, scope: &TenantScope) -> Result<Vec<Digest>, PortError> {
    let mut out: Vec<Digest> = Vec::new();
    loop {
        let after = out.last().map_or(0, |d| d.number);
        let page = log.read_digests(scope, after, PAGE).await?;
        let done = page.len() < PAGE;
        out.extend(page);
        if done {
            return Ok(out);
        }
    }
}

/// Verifies the events of the window `from..to` (see [`window`]) and the digests signed up to `to`
/// whose heads are in or after it, reading the trail one page at a time.
///
/// # Errors
/// When the store fails.
pub async fn verify(
    log: &dyn AuditLog,
    scope: &TenantScope,
    from: Option<OffsetDateTime>,
    to: Option<OffsetDateTime>,
    keys: &DigestVerifier,
) -> Result<Report, PortError> {
    let range = window(log, scope, from, to).await?;
    let predecessor = if range.start > 1 {
        let p = log.read(scope, range.start - 2, 1).await?.pop();
        match p {
            Some(p) if p.seq == range.start - 1 => Some(p),
            _ => {
                return Ok(Report {
                    verified: false,
                    events_checked: 0,
                    digests_checked: 0,
                    from_seq: Some(range.start),
                    to_seq: None,
                    first_bad_seq: Some(range.start - 1),
                    failure: Some(Break::SequenceGap),
                });
            }
        }
    } else {
        None
    };
    // Digests are few (one per org per signing interval with changes), so they are held in memory;
    // the events are not.
    let digests = all_digests(log, scope).await?;
    let first_in_view = digests
        .iter()
        .position(|d| d.head_seq >= range.start && to.is_none_or(|t| d.at <= t));
    let (previous, in_view): (Option<&Digest>, &[Digest]) = match first_in_view {
        Some(i) => {
            let end = digests[i..]
                .iter()
                .position(|d| to.is_some_and(|t| d.at > t))
                .map_or(digests.len(), |n| i + n);
            (i.checked_sub(1).map(|p| &digests[p]), &digests[i..end])
        }
        None => (None, &[]),
    };
    let mut v = Verifier::new(
        scope.org().clone(),
        predecessor.as_ref(),
        in_view.iter().map(|d| d.head_seq),
    );
    let mut after = range.start.saturating_sub(1);
    'pages: while after + 1 < range.end {
        let page = log.read(scope, after, PAGE).await?;
        if page.is_empty() {
            break;
        }
        for e in &page {
            if e.seq >= range.end {
                break 'pages;
            }
            if !v.push(e) {
                break 'pages;
            }
            after = e.seq;
        }
        if page.len() < PAGE {
            break;
        }
    }
    Ok(v.finish(in_view, previous, keys))
}

/// Signs the head of every org whose trail grew since its last digest; returns how many were signed.
/// Safe to run concurrently with itself: a digest number already taken is skipped.
///
/// # Errors
/// When the store fails.
pub async fn sign_heads(
    log: &dyn AuditLog,
    signer: &DigestSigner,
    region: Region,
    now: OffsetDateTime,
) -> Result<usize, PortError> {
    let mut signed = 0;
    for org in log.orgs_with_trails().await? {
        let scope = TenantScope::for_operator(org, region);
        let Some(head) = log.last(&scope).await? else {
            continue;
        };
        let prev = log.last_digest(&scope).await?;
        if prev.as_ref().is_some_and(|p| p.head_seq >= head.seq) {
            continue;
        }
        match log
            .append_digest(&scope, signer.sign(&head, prev.as_ref(), now))
            .await
        {
            Ok(()) => signed += 1,
            Err(PortError::Conflict(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(signed)
}

/// Events per archive object (and per read from the trail).
pub const ARCHIVE_OBJECT_EVENTS: usize = 1000;
/// How far back a trail's first archive reaches (the backup window).
pub const ARCHIVE_WINDOW: time::Duration = time::Duration::days(90);

/// Copies every org's new audit events into `archive`, in objects of at most
/// [`ARCHIVE_OBJECT_EVENTS`] consecutive events, at most `max_per_org` events per org per run (the
/// next run continues). An org never archived starts at its first event of the last
/// [`ARCHIVE_WINDOW`]. Returns how many events were archived. Safe to run concurrently with itself:
/// a range stored already is a conflict and skipped.
///
/// # Errors
/// When the trail or the archive fails (what was archived before stays).
pub async fn archive_trails(
    log: &dyn AuditLog,
    archive: &dyn crate::ports::AuditArchive,
    region: Region,
    now: OffsetDateTime,
    max_per_org: usize,
) -> Result<usize, PortError> {
    let mut archived = 0;
    for org in log.orgs_with_trails().await? {
        let scope = TenantScope::for_operator(org, region);
        let Some(head) = log.last(&scope).await? else {
            continue;
        };
        let mut after = match archive.archived_up_to(&scope).await? {
            Some(seq) => seq,
            None => match log.first_seq_at(&scope, now - ARCHIVE_WINDOW).await? {
                Some(first) => first.saturating_sub(1),
                None => continue,
            },
        };
        let mut budget = max_per_org;
        while after < head.seq && budget > 0 {
            let events = log
                .read(&scope, after, ARCHIVE_OBJECT_EVENTS.min(budget))
                .await?;
            let (Some(first), Some(last)) = (events.first(), events.last()) else {
                break;
            };
            let (first, last) = (first.seq, last.seq);
            let mut ndjson = Vec::with_capacity(events.len() * 512);
            for e in &events {
                serde_json::to_writer(&mut ndjson, e)
                    .map_err(|e| PortError::Unavailable(format!("encode event: {e}")))?;
                ndjson.push(b'\n');
            }
            match archive.put(&scope, first, last, ndjson).await {
                Ok(()) => archived += events.len(),
                Err(PortError::Conflict(_)) => {}
                Err(e) => return Err(e),
            }
            budget = budget.saturating_sub(events.len());
            after = last;
        }
    }
    Ok(archived)
}
