//! Per-tenant rate limits: one tenant's flood does not slow another.

use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use clment_common::access::Role;
use clment_common::domain::Region;
use clment_common::ratelimit::Budget;

use crate::helpers::{assert_problem, spawn_with};

fn nz(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap()
}

/// Org A sends at ten times its budget for two seconds while org B sends within its own: every one of
/// B's requests succeeds, A gets 429s with Retry-After and the rate-limit headers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_noisy_neighbour_does_not_hurt_another_org() {
    let app = spawn_with(|s| s.rate_limits.org = Budget::new(nz(10), nz(10))).await;
    let noisy = app.token("noisy", Role::Viewer, &["pwd"], Region::Us);
    let quiet = app.token("quiet", Role::Viewer, &["pwd"], Region::Us);
    let started = Instant::now();
    let (mut a_ok, mut a_limited, mut b_ok, mut b_total) = (0, 0, 0, 0);
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    while started.elapsed() < Duration::from_secs(2) {
        tick.tick().await;
        // A: 10 requests per 100 ms = 100/s, ten times its 10/s budget. B: 1 per 100 ms, within its own.
        let a = (0..10).map(|_| app.get_as("/api/orgs/noisy", &noisy));
        let results = futures_util::future::join_all(a).await;
        for r in results {
            match r.status().as_u16() {
                200 => a_ok += 1,
                429 => {
                    assert!(r.headers().contains_key("retry-after"));
                    assert!(
                        r.headers()["ratelimit-policy"]
                            .to_str()
                            .unwrap()
                            .starts_with("\"org\"")
                    );
                    assert!(r.headers().contains_key("ratelimit"));
                    a_limited += 1;
                }
                s => panic!("unexpected {s}"),
            }
        }
        let r = app.get_as("/api/orgs/quiet", &quiet).await;
        b_total += 1;
        if r.status() == 200 {
            b_ok += 1;
        }
    }
    assert_eq!(b_ok, b_total, "the quiet org lost requests");
    assert!(
        a_limited > a_ok,
        "the noisy org was not limited: {a_ok} ok, {a_limited} limited"
    );
    // Within the budget: burst + rate x time (with slack for the loop's timing).
    assert!(a_ok <= 10 + 10 * 3, "{a_ok}");
}

#[tokio::test]
async fn limited_answers_are_problems_and_allowed_ones_carry_the_headers() {
    let app = spawn_with(|s| s.rate_limits.org = Budget::new(nz(1), nz(2))).await;
    let t = app.token("acme", Role::Viewer, &["pwd"], Region::Us);
    let first = app.get_as("/api/orgs/acme", &t).await;
    assert_eq!(first.status(), 200);
    assert!(
        first.headers()["ratelimit-policy"]
            .to_str()
            .unwrap()
            .contains("q=2")
    );
    app.get_as("/api/orgs/acme", &t).await;
    let limited = app.get_as("/api/orgs/acme", &t).await;
    assert!(
        limited.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 1
    );
    let body = assert_problem(limited, 429, "rate_limited").await;
    assert_eq!(body["policy"], "org");
    // Health is not limited per tenant (the edge protects it).
    for _ in 0..5 {
        assert_eq!(app.get("/api/health").await.status(), 200);
    }
}
