//! Audit trail throughput on the local store: durable appends through the port (one fsynced
//! transaction each, as the service does), then export (page reads + NDJSON encoding) and
//! verification over a large trail. `scripts/bench-audit` runs it and then measures the HTTP export's
//! memory against a running handler.
//!
//! `cargo bench -p clment-local --features test-support --bench audit -- [--events N] [--appends N] [--data DIR]`

use std::io::Write as _;
use std::sync::Arc;
use std::time::Instant;

use clment_common::TenantScope;
use clment_common::audit::{self, DigestVerifier};
use clment_common::domain::{OrgId, Region};
use clment_common::ports::AuditLog;
use clment_common::ports::suite::sample_event;
use clment_local::{DataDir, LocalStore};
use time::OffsetDateTime;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn rate(n: u64, secs: f64) -> String {
    format!("{:.0}", n as f64 / secs.max(1e-9))
}

fn main() {
    let events: u64 = arg("--events").map_or(100_000, |v| v.parse().unwrap());
    let appends: u32 = arg("--appends").map_or(2_000, |v| v.parse().unwrap());
    let tmp = tempfile::tempdir().unwrap();
    let root = arg("--data").map_or_else(|| tmp.path().to_owned(), Into::into);
    let store = LocalStore::open(&DataDir::open(&root).unwrap()).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();

    // 1. Durable appends through the port, one writer, then 8 concurrent writers.
    let scope = TenantScope::for_tests("bench-append", Region::Us);
    let t = Instant::now();
    rt.block_on(async {
        for i in 0..appends {
            store
                .append(
                    &scope,
                    sample_event(i, Some("c1")),
                    OffsetDateTime::now_utc(),
                )
                .await
                .unwrap();
        }
    });
    let one = t.elapsed().as_secs_f64();
    let shared: Arc<dyn AuditLog> = Arc::new(store.clone());
    let t = Instant::now();
    rt.block_on(async {
        let mut tasks = Vec::new();
        for w in 0..8u32 {
            let (log, scope) = (shared.clone(), scope.clone());
            tasks.push(tokio::spawn(async move {
                for i in 0..appends / 8 {
                    log.append(
                        &scope,
                        sample_event(w * 100_000 + i, None),
                        OffsetDateTime::now_utc(),
                    )
                    .await
                    .unwrap();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    });
    let eight = t.elapsed().as_secs_f64();

    // 2. Seed a large trail (one transaction per 5,000 events).
    let org = OrgId::parse("bench").unwrap();
    let big = TenantScope::for_tests("bench", Region::Us);
    let t = Instant::now();
    let mut n = 0u64;
    while n < events {
        let batch = (events - n).min(5_000);
        let now = OffsetDateTime::now_utc();
        store.append_many(
            &org,
            (0..batch)
                .map(|i| sample_event(u32::try_from(n + i).unwrap(), Some("c1")))
                .collect(),
            now,
        );
        n += batch;
    }
    let seeded = t.elapsed().as_secs_f64();

    // 3. Export: read pages through the port and encode NDJSON (what the route streams).
    let t = Instant::now();
    let (exported, bytes) = rt.block_on(async {
        let range = audit::window(&store, &big, None, None).await.unwrap();
        let (mut after, mut count, mut bytes) = (range.start - 1, 0u64, 0usize);
        let mut sink = std::io::sink();
        loop {
            let page = store.read(&big, after, audit::PAGE).await.unwrap();
            let mut buf = Vec::with_capacity(256 * 1024);
            for e in &page {
                serde_json::to_writer(&mut buf, e).unwrap();
                buf.push(b'\n');
            }
            bytes += buf.len();
            sink.write_all(&buf).unwrap();
            count += page.len() as u64;
            match page.last() {
                Some(e) if page.len() == audit::PAGE => after = e.seq,
                _ => break,
            }
        }
        (count, bytes)
    });
    let export = t.elapsed().as_secs_f64();

    // 4. Verification of the whole trail.
    let t = Instant::now();
    let report = rt
        .block_on(audit::verify(
            &store,
            &big,
            None,
            None,
            &DigestVerifier::default(),
        ))
        .unwrap();
    let verify = t.elapsed().as_secs_f64();
    assert!(report.verified && report.events_checked == events);

    println!("audit bench (local store, release, this machine)");
    println!(
        "  durable append, 1 writer:   {appends} events in {one:.2} s = {} events/s",
        rate(u64::from(appends), one)
    );
    println!(
        "  durable append, 8 writers:  {} events in {eight:.2} s = {} events/s",
        appends / 8 * 8,
        rate(u64::from(appends / 8 * 8), eight)
    );
    println!(
        "  seeding (5,000 per txn):    {events} events in {seeded:.2} s = {} events/s",
        rate(events, seeded)
    );
    println!(
        "  export (read + NDJSON):     {exported} events, {:.1} MB in {export:.2} s = {} events/s",
        bytes as f64 / 1e6,
        rate(exported, export)
    );
    println!(
        "  verify (chain):             {} events in {verify:.2} s = {} events/s",
        report.events_checked,
        rate(report.events_checked, verify)
    );
}
