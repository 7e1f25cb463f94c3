//! The audit trail in Cosmos DB: the [`AuditLog`] port over two containers in the same database as
//! the contracts (default `clment`).
//!
//! # Layout
//!
//! - `audit`, hierarchical partition key `["/orgId", "/bucket"]`. `bucket` is `seq / bucket_size`
//!   rendered as a zero-padded decimal (`"000000"`, `"000001"`, ...; [`DEFAULT_BUCKET_SIZE`] is
//!   100,000), so one org's trail spreads over logical partitions of at most `bucket_size` events each
//!   and can grow past the 20 GB logical-partition limit. A sequence bucket rather than a calendar
//!   period (org + month) is used because it is a function of the sequence number alone: the same
//!   sequence number always lands in the same logical partition, which is what makes the append below
//!   race-free. The bucket size must never change for an existing trail (events would be looked for in
//!   the wrong partition).
//!   - An event: the [`StoredEvent`] JSON fields as serialised, except that the event's own id (a
//!     UUID v7) is stored as `eventId`, plus `"id"` (the sequence number as a 20-digit zero-padded
//!     decimal), `"orgId"` and `"bucket"` (the partition key) and `"type": "event"`. Reading strips the
//!     Cosmos system fields (`_rid`, `_etag`, ...) and these extra fields and restores `id`, so the
//!     event round-trips exactly and [`clment_common::audit::event_hash`] recomputes identically.
//!     (Cosmos keeps numbers as IEEE 754 doubles: integers in `details` beyond 2^53 would not round-trip
//!     and would break their event's hash. Audit details are ids and settings, so this does not arise.)
//!   - A signed digest: the [`Digest`] fields plus `"id": "digest-<20-digit number>"`,
//!     `"bucket": "digests"` and `"type": "digest"`, in the org's `digests` partition.
//! - `auditHeads`, partition key `/orgId`: one head hint per org, `{"id": <orgId>, "orgId", "seq"}`.
//!   It is only a hint: it may lag behind the trail (a lost race to update it, a crashed writer) and
//!   nothing depends on it for correctness; a stale hint only costs a few extra point reads. It is
//!   created (with `seq: 0`) before an org's first event, so listing the hints lists every org with a
//!   trail ([`AuditLog::orgs_with_trails`], for the digest signer). It only ever moves forward: it is
//!   replaced with `If-Match` on the etag of a value below the new one (412: re-read, at most three
//!   tries, then left as it is). The one exception is a hint naming an event that does not exist
//!   (never written by this adapter; a manual edit), which the next append repairs downwards.
//!
//! # Appending: gapless without a lock or a head record
//!
//! An append reads the hint, then finds the trail's last event with point reads forward from it
//! (galloping, then bisection: existence of sequence numbers is a prefix `1..=head`), seals the new
//! event onto that last event ([`seal`]) and *creates* (never upserts) its document. The document's id
//! and partition are functions of the sequence number, so when another writer (in this process or any
//! other) already took that number, Cosmos refuses the create with 409; the writer then looks again
//! from the number it lost and retries (bounded, with jittered backoff, then `Conflict`). On success it
//! moves the hint forward, best effort.
//!
//! Why gapless and linear: event `N + 1` is only ever created by a writer that has just read event `N`
//! (it is the `prev` it sealed onto, so `N` existed), and the create of a given number succeeds at most
//! once. So numbers are taken in order, each exactly once, each linked to the hash of the event that
//! holds the number before it. Events are never updated or deleted. Stale reads (another region, a
//! lagging replica) can only make a writer try a number that is already taken, which the create
//! refuses. This relies on the create's uniqueness check, so the account must have a single write
//! region: with multi-region writes, conflicting creates are resolved later by last-writer-wins and
//! two writers could both succeed. A create whose answer is lost (a timeout) may still have been
//! stored: the append then reports `Unavailable`, and a caller that retries records the event twice,
//! under two numbers, each correctly chained.
//!
//! # Reading
//!
//! Event reads (`read`, `read_contract`) are prefix-partition queries on `orgId` (every bucket of the
//! org, none of another org's), ordered by `seq`, so they return exactly what is stored, gaps included,
//! and the verifier sees any tampering. `last` is the hint plus forward probing, and `first_seq_at`
//! bisects over sequence numbers with point reads (times never decrease along the chain). Digest reads
//! are queries in the org's `digests` partition ordered by `number`. The default indexing policy
//! (every path) serves these filters and orderings.
//!
//! Containers are provisioned by infrastructure ([`audit_container_properties`],
//! [`heads_container_properties`] give their shape). SDK errors become [`PortError`]s: 404 -> `None`,
//! 409 -> `Conflict` for digests (for events it means "retry", and an append that keeps losing for 50
//! attempts gives up with `Conflict`), everything else -> `Unavailable`, carrying the status code only.
//! Event contents are never logged.
//!
//! [`AuditLog`]: clment_common::ports::AuditLog
//! [`AuditLog::orgs_with_trails`]: clment_common::ports::AuditLog::orgs_with_trails
//! [`StoredEvent`]: clment_common::ports::StoredEvent
//! [`Digest`]: clment_common::audit::Digest
//! [`seal`]: clment_common::audit::seal
//! [`PortError`]: clment_common::ports::PortError
//! [`DEFAULT_BUCKET_SIZE`]: crate::audit::DEFAULT_BUCKET_SIZE
//! [`audit_container_properties`]: crate::audit::audit_container_properties
//! [`heads_container_properties`]: crate::audit::heads_container_properties

use std::hash::{BuildHasher as _, RandomState};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use azure_core::http::Etag;
use azure_data_cosmos::clients::ContainerClient;
use azure_data_cosmos::models::ContainerProperties;
use azure_data_cosmos::options::{ItemWriteOptions, Precondition};
use azure_data_cosmos::{CosmosClient, CosmosError, FeedScope, PartitionKey, Query};
use clment_common::TenantScope;
use clment_common::audit::{Digest, seal};
use clment_common::domain::OrgId;
use clment_common::ports::{AuditEvent, AuditLog, HealthCheck, PortError, StoredEvent};
use futures_util::TryStreamExt as _;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;
use tokio::sync::OnceCell;

use crate::cosmos::DEFAULT_DATABASE;

/// The events and digests container, unless configured otherwise.
pub const AUDIT_CONTAINER: &str = "audit";
/// The head hints container, unless configured otherwise.
pub const HEADS_CONTAINER: &str = "auditHeads";
/// The audit container's hierarchical partition key: org, then sequence bucket.
pub const AUDIT_PARTITION_KEY_PATHS: [&str; 2] = ["/orgId", "/bucket"];
/// The head hints container's partition key path.
pub const HEADS_PARTITION_KEY_PATH: &str = "/orgId";
/// Events per bucket (logical partition) unless configured otherwise.
pub const DEFAULT_BUCKET_SIZE: u64 = 100_000;

/// The bucket (second partition key level) holding an org's digests.
const DIGEST_BUCKET: &str = "digests";
const TYPE_EVENT: &str = "event";
const TYPE_DIGEST: &str = "digest";
/// Fields the adapter adds to an event document (besides `id`); an event must not carry them itself.
const EVENT_ID_FIELD: &str = "eventId";
const BUCKET_FIELD: &str = "bucket";
const TYPE_FIELD: &str = "type";
/// How often an append that lost the race for a sequence number is retried before `Conflict`.
const APPEND_ATTEMPTS: u32 = 50;
/// How often moving the hint forward is tried when it changed concurrently.
const HINT_ATTEMPTS: usize = 3;
/// The largest integer a Cosmos number (a double) holds exactly.
const MAX_EXACT: u64 = (1 << 53) - 1;
/// Queries asking for more results than this are not bounded with `TOP` (the stream is cut instead).
const MAX_TOP: usize = 10_000;

/// The properties to provision the audit container with (hierarchical partition key
/// `["/orgId", "/bucket"]`).
#[must_use]
pub fn audit_container_properties(container: &str) -> ContainerProperties {
    let [org, bucket] = AUDIT_PARTITION_KEY_PATHS;
    ContainerProperties::new(container.to_owned(), (org, bucket).into())
}

/// The properties to provision the head hints container with (partition key `/orgId`).
#[must_use]
pub fn heads_container_properties(container: &str) -> ContainerProperties {
    ContainerProperties::new(container.to_owned(), HEADS_PARTITION_KEY_PATH.into())
}

/// A container resolved on first use (resolution reads its metadata); a failed resolution is retried
/// by the next call, so the service starts even while Cosmos DB is unreachable.
struct LazyContainer {
    name: String,
    resolved: OnceCell<ContainerClient>,
}

impl LazyContainer {
    fn new(name: String) -> Self {
        Self {
            name,
            resolved: OnceCell::new(),
        }
    }

    async fn get(
        &self,
        client: &CosmosClient,
        database: &str,
    ) -> Result<&ContainerClient, PortError> {
        self.resolved
            .get_or_try_init(|| async {
                client
                    .database_client(database)
                    .container_client(self.name.as_str(), None)
                    .await
                    .map_err(|e| {
                        tracing::warn!(error = %e, database, container = %self.name,
                            "cosmos container unavailable");
                        PortError::Unavailable(format!(
                            "cosmos container {}: status {}",
                            self.name,
                            status(&e)
                        ))
                    })
            })
            .await
    }
}

/// [`AuditLog`] (and [`HealthCheck`], named `cosmos-audit`) over the `audit` and `auditHeads`
/// containers. Cheap to clone; clones share the resolved container clients. Any number of instances,
/// in any number of processes, may append to the same trails concurrently.
#[derive(Clone)]
pub struct CosmosAudit {
    inner: Arc<Inner>,
    bucket_size: u64,
}

struct Inner {
    client: CosmosClient,
    database: String,
    events: LazyContainer,
    heads: LazyContainer,
}

impl std::fmt::Debug for CosmosAudit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CosmosAudit")
            .field("database", &self.inner.database)
            .field("events", &self.inner.events.name)
            .field("heads", &self.inner.heads.name)
            .field("bucket_size", &self.bucket_size)
            .finish_non_exhaustive()
    }
}

/// The head hint document.
#[derive(Serialize, Deserialize)]
struct HintDoc {
    id: String,
    #[serde(rename = "orgId")]
    org_id: String,
    seq: u64,
}

/// A head hint as read: its value and the etag to replace it conditionally.
struct Hint {
    seq: u64,
    etag: Option<Etag>,
}

/// A digest document as written.
#[derive(Serialize)]
struct DigestDoc<'a> {
    #[serde(flatten)]
    digest: &'a Digest,
    id: String,
    bucket: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
}

/// One row of the head hints listing.
#[derive(Deserialize)]
struct IdRow {
    id: String,
}

/// The error's status code as `code` or `code/substatus` (never the message).
fn status(e: &CosmosError) -> String {
    let s = e.status();
    let code = u16::from(s.status_code());
    match s.sub_status() {
        Some(sub) => format!("{code}/{}", u16::from(sub)),
        None => code.to_string(),
    }
}

fn unavailable(what: &str, e: &CosmosError) -> PortError {
    tracing::warn!(error = %e, "cosmos audit {what} failed");
    PortError::Unavailable(format!("cosmos audit {what}: status {}", status(e)))
}

fn query_error(e: &CosmosError) -> PortError {
    unavailable("build query", e)
}

/// The document id of the event with sequence number `seq`.
fn event_id(seq: u64) -> String {
    format!("{seq:020}")
}

/// The bucket of sequence number `seq` with `size` events per bucket.
fn bucket_of(seq: u64, size: u64) -> String {
    format!("{:06}", seq / size)
}

/// The document id of digest number `number`.
fn digest_id(number: u64) -> String {
    format!("digest-{number:020}")
}

/// ` TOP n` for a query wanting `limit` results, when that bound is reasonable.
fn top(limit: usize) -> String {
    if limit <= MAX_TOP {
        format!(" TOP {limit}")
    } else {
        String::new()
    }
}

/// A random delay before retrying a lost append: up to 1, 2, 4, ... 64 ms.
async fn backoff(attempt: u32) {
    let cap = 1u64 << attempt.min(6);
    let ms = 1 + RandomState::new().hash_one(attempt) % cap;
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

/// Turns a stored event into its document (see the module documentation).
fn event_doc(e: &StoredEvent, bucket: String) -> Result<Value, PortError> {
    let encode = || PortError::Unavailable("encode audit event".into());
    let Value::Object(mut map) = serde_json::to_value(e).map_err(|_| encode())? else {
        return Err(encode());
    };
    if [EVENT_ID_FIELD, BUCKET_FIELD, TYPE_FIELD]
        .iter()
        .any(|f| map.contains_key(*f))
    {
        return Err(PortError::Unavailable(
            "audit event uses a field the store reserves".into(),
        ));
    }
    let own_id = map.remove("id").ok_or_else(encode)?;
    map.insert(EVENT_ID_FIELD.into(), own_id);
    map.insert("id".into(), Value::String(event_id(e.seq)));
    map.insert(BUCKET_FIELD.into(), Value::String(bucket));
    map.insert(TYPE_FIELD.into(), Value::String(TYPE_EVENT.into()));
    Ok(Value::Object(map))
}

/// Turns an event document back into the stored event (see the module documentation).
fn decode_event(mut map: Map<String, Value>) -> Result<StoredEvent, PortError> {
    let unreadable = || PortError::Unavailable("unreadable audit event".into());
    map.retain(|k, _| !k.starts_with('_'));
    map.remove(BUCKET_FIELD);
    map.remove(TYPE_FIELD);
    let own_id = map.remove(EVENT_ID_FIELD).ok_or_else(unreadable)?;
    map.insert("id".into(), own_id);
    serde_json::from_value(Value::Object(map)).map_err(|_| unreadable())
}

/// Collects at most `limit` items of a query.
async fn collect<T: DeserializeOwned + Send + 'static>(
    c: &ContainerClient,
    what: &str,
    query: Query,
    scope: FeedScope,
    limit: usize,
) -> Result<Vec<T>, PortError> {
    let mut items = c
        .query_items::<T>(query, scope, None)
        .await
        .map_err(|e| unavailable(what, &e))?;
    let mut out = Vec::with_capacity(limit.min(1000));
    while out.len() < limit {
        match items.try_next().await.map_err(|e| unavailable(what, &e))? {
            Some(item) => out.push(item),
            None => break,
        }
    }
    Ok(out)
}

impl CosmosAudit {
    /// The trail in [`DEFAULT_DATABASE`] / [`AUDIT_CONTAINER`] and [`HEADS_CONTAINER`], with
    /// [`DEFAULT_BUCKET_SIZE`].
    #[must_use]
    pub fn new(client: CosmosClient) -> Self {
        Self::with_names(client, DEFAULT_DATABASE, AUDIT_CONTAINER, HEADS_CONTAINER)
    }

    /// The trail in the named database and containers (which must exist, shaped as
    /// [`audit_container_properties`] and [`heads_container_properties`] say).
    #[must_use]
    pub fn with_names(
        client: CosmosClient,
        database: impl Into<String>,
        audit_container: impl Into<String>,
        heads_container: impl Into<String>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                client,
                database: database.into(),
                events: LazyContainer::new(audit_container.into()),
                heads: LazyContainer::new(heads_container.into()),
            }),
            bucket_size: DEFAULT_BUCKET_SIZE,
        }
    }

    /// Uses `size` events per bucket (at least 1). Every writer and reader of a trail must use the
    /// same size for its whole life; only tests change it.
    #[must_use]
    pub fn with_bucket_size(mut self, size: u64) -> Self {
        self.bucket_size = size.max(1);
        self
    }

    /// Resolves both containers now rather than on first use (start-up check).
    ///
    /// # Errors
    /// `Unavailable` when a container cannot be resolved (missing, unreachable, not authorised).
    pub async fn connect(&self) -> Result<(), PortError> {
        self.events().await?;
        self.heads().await.map(|_| ())
    }

    async fn events(&self) -> Result<&ContainerClient, PortError> {
        self.inner
            .events
            .get(&self.inner.client, &self.inner.database)
            .await
    }

    async fn heads(&self) -> Result<&ContainerClient, PortError> {
        self.inner
            .heads
            .get(&self.inner.client, &self.inner.database)
            .await
    }

    /// The bucket (second partition key level) of sequence number `seq`.
    fn bucket(&self, seq: u64) -> String {
        bucket_of(seq, self.bucket_size)
    }

    /// Every bucket of the org: a prefix of the hierarchical key.
    fn org_scope(org: &OrgId) -> FeedScope {
        FeedScope::partition(PartitionKey::from(org.as_str().to_owned()))
    }

    fn digest_partition(org: &OrgId) -> PartitionKey {
        PartitionKey::from((org.as_str().to_owned(), DIGEST_BUCKET))
    }

    /// Point read of event `seq`; `None` when absent.
    async fn read_event(&self, org: &OrgId, seq: u64) -> Result<Option<StoredEvent>, PortError> {
        let c = self.events().await?;
        let pk = PartitionKey::from((org.as_str().to_owned(), self.bucket(seq)));
        match c.read_item(pk, &event_id(seq), None).await {
            Ok(resp) => {
                let map = resp
                    .into_model::<Map<String, Value>>()
                    .map_err(|e| unavailable("decode event", &e))?;
                let e = decode_event(map)?;
                if e.seq != seq {
                    tracing::warn!(org = %org, seq, "audit event document does not match its id");
                    return Err(PortError::Unavailable(format!(
                        "audit event {seq} does not match its document id"
                    )));
                }
                Ok(Some(e))
            }
            Err(e) if e.status().is_not_found() => Ok(None),
            Err(e) => Err(unavailable("read event", &e)),
        }
    }

    /// The org's head hint; `None` when it has none.
    async fn read_hint(&self, org: &OrgId) -> Result<Option<Hint>, PortError> {
        let c = self.heads().await?;
        match c
            .read_item(org.as_str().to_owned(), org.as_str(), None)
            .await
        {
            Ok(resp) => {
                let etag = resp.headers().etag().cloned();
                let doc = resp
                    .into_model::<HintDoc>()
                    .map_err(|e| unavailable("decode head hint", &e))?;
                Ok(Some(Hint { seq: doc.seq, etag }))
            }
            Err(e) if e.status().is_not_found() => Ok(None),
            Err(e) => Err(unavailable("read head hint", &e)),
        }
    }

    fn hint_doc(org: &OrgId, seq: u64) -> HintDoc {
        HintDoc {
            id: org.as_str().to_owned(),
            org_id: org.as_str().to_owned(),
            seq,
        }
    }

    /// Creates the org's hint at 0 unless it exists: done before the org's first event, so that the
    /// hints list every org with a trail.
    async fn register(&self, org: &OrgId) -> Result<(), PortError> {
        let c = self.heads().await?;
        match c
            .create_item(
                org.as_str().to_owned(),
                org.as_str(),
                Self::hint_doc(org, 0),
                None,
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.status().is_conflict() => Ok(()),
            Err(e) => Err(unavailable("register trail", &e)),
        }
    }

    /// Moves the org's hint forward to `seq`, best effort: it is replaced only from a value below
    /// `seq` (with `If-Match`), so it never moves backwards; failures are ignored. `repair`: the hint
    /// as read names an event that does not exist (never written by this adapter, but possible after
    /// manual changes), so it may be replaced even though it is larger, unless it changed since.
    async fn advance_hint(&self, org: &OrgId, seq: u64, mut current: Option<Hint>, repair: bool) {
        let Ok(c) = self.heads().await else {
            return;
        };
        let pk = org.as_str().to_owned();
        for attempt in 0..HINT_ATTEMPTS {
            let result = match &current {
                Some(h) if h.seq >= seq && !(repair && attempt == 0) => return,
                Some(h) => {
                    let options = h.etag.clone().map(|etag| {
                        ItemWriteOptions::default().with_precondition(Precondition::if_match(etag))
                    });
                    if options.is_none() {
                        return;
                    }
                    c.replace_item(pk.clone(), org.as_str(), Self::hint_doc(org, seq), options)
                        .await
                }
                None => {
                    c.create_item(pk.clone(), org.as_str(), Self::hint_doc(org, seq), None)
                        .await
                }
            };
            match result {
                Ok(_) => return,
                Err(e)
                    if e.status().is_precondition_failed()
                        || e.status().is_conflict()
                        || e.status().is_not_found() => {}
                Err(e) => {
                    tracing::debug!(error = %e, "audit head hint not updated");
                    return;
                }
            }
            match self.read_hint(org).await {
                Ok(h) => current = h,
                Err(_) => return,
            }
        }
    }

    /// The org's last event, found from `from` (a sequence number believed to exist; 0: none
    /// known) with point reads: galloping forward while events exist, then bisecting between the
    /// last number found and the first number missing. Sequence numbers in use are `1..=head`, so
    /// this finds the head in O(log distance) reads; a hint beyond the head is bisected back.
    async fn head_from(&self, org: &OrgId, from: u64) -> Result<Option<StoredEvent>, PortError> {
        // `lo` exists (0: before the first event) and `best` is its event; `hi` is missing.
        let (mut lo, mut best) = (0u64, None);
        let mut hi = None;
        if from > 0 {
            match self.read_event(org, from).await? {
                Some(e) => {
                    lo = from;
                    best = Some(e);
                }
                None => hi = Some(from),
            }
        }
        let mut step = 1u64;
        let mut hi = loop {
            if let Some(hi) = hi {
                break hi;
            }
            let probe = lo.saturating_add(step).min(MAX_EXACT);
            if probe == lo {
                return Err(PortError::Unavailable("audit trail is full".into()));
            }
            match self.read_event(org, probe).await? {
                Some(e) => {
                    lo = probe;
                    best = Some(e);
                    step = step.saturating_mul(2);
                }
                None => hi = Some(probe),
            }
        };
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            match self.read_event(org, mid).await? {
                Some(e) => {
                    lo = mid;
                    best = Some(e);
                }
                None => hi = mid,
            }
        }
        Ok(best)
    }
}

#[async_trait]
impl AuditLog for CosmosAudit {
    async fn append(
        &self,
        scope: &TenantScope,
        event: AuditEvent,
        at: OffsetDateTime,
    ) -> Result<StoredEvent, PortError> {
        let org = scope.org();
        let hint = self.read_hint(org).await?;
        if hint.is_none() {
            self.register(org).await?;
        }
        let mut from = hint.as_ref().map_or(0, |h| h.seq);
        let mut repair = false;
        let c = self.events().await?;
        for attempt in 0..APPEND_ATTEMPTS {
            let prev = self.head_from(org, from).await?;
            if attempt == 0 {
                // The search starts by reading the hint's event, so a head below the hint means that
                // event does not exist.
                repair = prev.as_ref().map_or(0, |p| p.seq) < from;
            }
            let stored = seal(org, prev.as_ref(), event.clone(), at);
            let bucket = self.bucket(stored.seq);
            let doc = event_doc(&stored, bucket.clone())?;
            match c
                .create_item(
                    (org.as_str().to_owned(), bucket),
                    &event_id(stored.seq),
                    &doc,
                    None,
                )
                .await
            {
                Ok(_) => {
                    self.advance_hint(org, stored.seq, hint, repair).await;
                    return Ok(stored);
                }
                // Another writer took this number: it exists now, so look again from there.
                Err(e) if e.status().is_conflict() => {
                    from = stored.seq;
                    backoff(attempt).await;
                }
                Err(e) => return Err(unavailable("append event", &e)),
            }
        }
        tracing::warn!(org = %org, "audit append kept losing races");
        Err(PortError::Conflict(
            "audit trail busy: too many concurrent appends".into(),
        ))
    }

    async fn read(
        &self,
        scope: &TenantScope,
        after: u64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, PortError> {
        if limit == 0 || after >= MAX_EXACT {
            return Ok(Vec::new());
        }
        let c = self.events().await?;
        let sql = format!(
            "SELECT{} * FROM c WHERE c.type = @type AND c.seq > @after ORDER BY c.seq",
            top(limit)
        );
        let query = Query::from(sql)
            .with_parameter("@type", TYPE_EVENT)
            .and_then(|q| q.with_parameter("@after", after))
            .map_err(|e| query_error(&e))?;
        collect::<Map<String, Value>>(c, "read events", query, Self::org_scope(scope.org()), limit)
            .await?
            .into_iter()
            .map(decode_event)
            .collect()
    }

    async fn last(&self, scope: &TenantScope) -> Result<Option<StoredEvent>, PortError> {
        let org = scope.org();
        let from = self.read_hint(org).await?.map_or(0, |h| h.seq);
        self.head_from(org, from).await
    }

    async fn read_contract(
        &self,
        scope: &TenantScope,
        contract_id: &str,
        before: u64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, PortError> {
        if limit == 0 || before <= 1 {
            return Ok(Vec::new());
        }
        let c = self.events().await?;
        // Past the largest exact number the bound excludes nothing.
        let bounded = before <= MAX_EXACT;
        let sql = format!(
            "SELECT{} * FROM c WHERE c.type = @type AND c.contractId = @contract{} ORDER BY c.seq DESC",
            top(limit),
            if bounded { " AND c.seq < @before" } else { "" }
        );
        let mut query = Query::from(sql)
            .with_parameter("@type", TYPE_EVENT)
            .and_then(|q| q.with_parameter("@contract", contract_id))
            .map_err(|e| query_error(&e))?;
        if bounded {
            query = query
                .with_parameter("@before", before)
                .map_err(|e| query_error(&e))?;
        }
        collect::<Map<String, Value>>(
            c,
            "read contract events",
            query,
            Self::org_scope(scope.org()),
            limit,
        )
        .await?
        .into_iter()
        .map(decode_event)
        .collect()
    }

    async fn first_seq_at(
        &self,
        scope: &TenantScope,
        at: OffsetDateTime,
    ) -> Result<Option<u64>, PortError> {
        let org = scope.org();
        let Some(last) = self.last(scope).await? else {
            return Ok(None);
        };
        if last.at < at {
            return Ok(None);
        }
        // Times never decrease along the chain ([`seal`] clamps them), so the first event at or
        // after `at` is found by bisection over the sequence numbers, comparing parsed times.
        let (mut lo, mut hi) = (1u64, last.seq);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            // A missing event (a damaged trail) counts as earlier: the window then starts after the
            // hole, and verification reports the hole instead of the export or verify route failing.
            let earlier = match self.read_event(org, mid).await? {
                Some(e) => e.at < at,
                None => true,
            };
            if earlier {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        Ok(Some(lo))
    }

    async fn append_digest(&self, scope: &TenantScope, digest: Digest) -> Result<(), PortError> {
        if digest.org_id != *scope.org() {
            return Err(PortError::Conflict("digest of another org".into()));
        }
        let c = self.events().await?;
        let id = digest_id(digest.number);
        let doc = DigestDoc {
            digest: &digest,
            id: id.clone(),
            bucket: DIGEST_BUCKET,
            kind: TYPE_DIGEST,
        };
        match c
            .create_item(Self::digest_partition(scope.org()), &id, &doc, None)
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.status().is_conflict() => {
                Err(PortError::Conflict("digest number taken".into()))
            }
            Err(e) => Err(unavailable("append digest", &e)),
        }
    }

    async fn read_digests(
        &self,
        scope: &TenantScope,
        after: u64,
        limit: usize,
    ) -> Result<Vec<Digest>, PortError> {
        if limit == 0 || after >= MAX_EXACT {
            return Ok(Vec::new());
        }
        let c = self.events().await?;
        let sql = format!(
            "SELECT{} * FROM c WHERE c.type = @type AND c.number > @after ORDER BY c.number",
            top(limit)
        );
        let query = Query::from(sql)
            .with_parameter("@type", TYPE_DIGEST)
            .and_then(|q| q.with_parameter("@after", after))
            .map_err(|e| query_error(&e))?;
        collect(
            c,
            "read digests",
            query,
            FeedScope::partition(Self::digest_partition(scope.org())),
            limit,
        )
        .await
    }

    async fn last_digest(&self, scope: &TenantScope) -> Result<Option<Digest>, PortError> {
        let c = self.events().await?;
        let query = Query::from(
            "SELECT TOP 1 * FROM c WHERE c.type = @type ORDER BY c.number DESC".to_owned(),
        )
        .with_parameter("@type", TYPE_DIGEST)
        .map_err(|e| query_error(&e))?;
        Ok(collect(
            c,
            "read last digest",
            query,
            FeedScope::partition(Self::digest_partition(scope.org())),
            1,
        )
        .await?
        .pop())
    }

    async fn orgs_with_trails(&self) -> Result<Vec<OrgId>, PortError> {
        let c = self.heads().await?;
        let rows: Vec<IdRow> = collect(
            c,
            "list trails",
            Query::from("SELECT c.id FROM c".to_owned()),
            FeedScope::full_container(),
            usize::MAX,
        )
        .await?;
        let mut orgs: Vec<OrgId> = rows
            .into_iter()
            .filter_map(|r| match OrgId::parse(&r.id) {
                Ok(org) => Some(org),
                Err(_) => {
                    tracing::warn!("audit head hint with an invalid org id skipped");
                    None
                }
            })
            .collect();
        orgs.sort();
        orgs.dedup();
        Ok(orgs)
    }
}

#[async_trait]
impl HealthCheck for CosmosAudit {
    fn name(&self) -> &'static str {
        "cosmos-audit"
    }

    async fn probe(&self) -> Result<(), String> {
        for c in [
            self.events().await.map_err(|e| e.to_string())?,
            self.heads().await.map_err(|e| e.to_string())?,
        ] {
            c.read(None)
                .await
                .map(|_| ())
                .map_err(|e| format!("cosmos audit container: status {}", status(&e)))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clment_common::ports::suite::sample_event;

    #[test]
    fn event_documents_round_trip_exactly() {
        let org = OrgId::parse("acme").unwrap();
        let first = seal(
            &org,
            None,
            sample_event(1, Some("c1")),
            OffsetDateTime::now_utc(),
        );
        let e = seal(
            &org,
            Some(&first),
            sample_event(2, None),
            OffsetDateTime::now_utc(),
        );
        let doc = event_doc(&e, "000000".into()).unwrap();
        assert_eq!(doc["id"], "00000000000000000002");
        assert_eq!(doc["eventId"], e.id.as_str());
        assert_eq!(doc["orgId"], "acme");
        assert_eq!(doc["bucket"], "000000");
        assert_eq!(doc["type"], "event");
        let Value::Object(mut map) = doc else {
            panic!("an object")
        };
        // What Cosmos adds.
        map.insert("_rid".into(), "x".into());
        map.insert("_etag".into(), "\"1\"".into());
        map.insert("_ts".into(), 1.into());
        let back = decode_event(map).unwrap();
        assert_eq!(back, e);
        assert_eq!(clment_common::audit::event_hash(&back), e.hash);
    }

    #[test]
    fn ids_and_buckets_are_fixed_width() {
        assert_eq!(event_id(1), "00000000000000000001");
        assert_eq!(event_id(u64::MAX).len(), 20);
        assert_eq!(digest_id(3), "digest-00000000000000000003");
        assert_eq!(bucket_of(6, 7), "000000");
        assert_eq!(bucket_of(7, 7), "000001");
        assert_eq!(bucket_of(99_999, DEFAULT_BUCKET_SIZE), "000000");
        assert_eq!(bucket_of(100_000, DEFAULT_BUCKET_SIZE), "000001");
    }
}
