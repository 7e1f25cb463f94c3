//! Per-tenant rate limiting: GCRA budgets (via `governor`) per org and per API key.
//!
//! Every request consumes from its org's budget and, when the caller used an API key, from that key's
//! budget too; [`Class::Expensive`] requests (uploads, reviews) additionally consume from the matching
//! expensive budgets. A refused request consumes from none of them. The answer is a plain [`Decision`];
//! the HTTP layer turns it into `RateLimit-Policy`, `RateLimit` and `Retry-After` headers
//! (draft-ietf-httpapi-ratelimit-headers) and a `rate_limited` problem.
//!
//! # How this combines with the edge
//!
//! State lives in the memory of one function instance: each instance enforces its own budgets, so with
//! N instances an org can get up to N x the configured budget in total. The hard, global per-tenant
//! ceiling belongs at the edge (Azure Front Door / API Management `rate-limit-by-key` on the org id from
//! the token). This layer protects each instance from a noisy tenant and answers with fast, precise 429s.
//!
//! # Memory
//!
//! One small entry is kept per budget and org (or org and key) seen recently. The handler calls
//! [`RateLimiter::prune`] every minute, which drops every entry whose bucket is full again.

use std::cmp::Reverse;
use std::fmt;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::nanos::Nanos;
use governor::state::StateStore;
use governor::state::keyed::{DashMapStateStore, ShrinkableKeyedStateStore};
use governor::{Quota, RateLimiter as GovernorLimiter};

/// A GCRA quota: a sustained rate plus the largest burst accepted from a full bucket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    /// Sustained rate: one request is replenished every `1 / per_second` seconds.
    pub per_second: NonZeroU32,
    /// Requests a full bucket accepts at once; advertised as the policy's quota (`q`).
    pub burst: NonZeroU32,
}

impl Budget {
    /// A budget of `per_second` requests per second sustained, with bursts of up to `burst`.
    #[must_use]
    pub const fn new(per_second: NonZeroU32, burst: NonZeroU32) -> Self {
        Self { per_second, burst }
    }

    /// Whole seconds (at least 1) in which an empty bucket fills up: `ceil(burst / per_second)`,
    /// advertised as the policy's window (`w`).
    #[must_use]
    pub const fn window_secs(&self) -> u64 {
        let burst = self.burst.get() as u64;
        let rate = self.per_second.get() as u64;
        burst.div_ceil(rate)
    }

    fn quota(self) -> Quota {
        Quota::per_second(self.per_second).allow_burst(self.burst)
    }
}

/// How much a request costs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Class {
    /// Ordinary reads and writes: consume from the standard budgets.
    Standard,
    /// Uploads and reviews: consume from the standard budgets and from the expensive ones.
    Expensive,
}

/// The budgets of one instance. Orgs and API keys each get their own buckets with these parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Every request of an org.
    pub org: Budget,
    /// Expensive requests of an org.
    pub org_expensive: Budget,
    /// Every request made with one API key.
    pub key: Budget,
    /// Expensive requests made with one API key.
    pub key_expensive: Budget,
}

const fn budget(per_second: u32, burst: u32) -> Budget {
    match (NonZeroU32::new(per_second), NonZeroU32::new(burst)) {
        (Some(per_second), Some(burst)) => Budget::new(per_second, burst),
        _ => panic!("budget parameters are non-zero"),
    }
}

impl Default for Limits {
    /// org 50/s burst 100; org expensive 2/s burst 10; key 20/s burst 40; key expensive 1/s burst 5.
    fn default() -> Self {
        // A constant, so a zero here would fail the build rather than panic.
        const DEFAULT: Limits = Limits {
            org: budget(50, 100),
            org_expensive: budget(2, 10),
            key: budget(20, 40),
            key_expensive: budget(1, 5),
        };
        DEFAULT
    }
}

/// Which budget a [`PolicyInfo`] describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    /// [`Limits::org`].
    Org,
    /// [`Limits::org_expensive`].
    OrgExpensive,
    /// [`Limits::key`].
    Key,
    /// [`Limits::key_expensive`].
    KeyExpensive,
}

impl Scope {
    /// The policy name used in the headers: `org`, `org-expensive`, `key` or `key-expensive`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Org => "org",
            Self::OrgExpensive => "org-expensive",
            Self::Key => "key",
            Self::KeyExpensive => "key-expensive",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A quota policy as advertised in `RateLimit-Policy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PolicyInfo {
    /// Which budget this is; its [`Scope::as_str`] is the policy name.
    pub scope: Scope,
    /// The quota (`q`): the budget's burst.
    pub quota: u32,
    /// The window (`w`) in seconds: see [`Budget::window_secs`].
    pub window_secs: u64,
}

impl PolicyInfo {
    fn of(scope: Scope, budget: Budget) -> Self {
        Self {
            scope,
            quota: budget.burst.get(),
            window_secs: budget.window_secs(),
        }
    }

    /// The policy name: `org`, `org-expensive`, `key` or `key-expensive`.
    #[must_use]
    pub const fn name(&self) -> &'static str {
        self.scope.as_str()
    }
}

/// The outcome of [`RateLimiter::check`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub struct Decision {
    /// Whether the request may proceed.
    pub allowed: bool,
    /// The binding budget: when allowed, the one with the fewest requests left; when refused, the one
    /// that refused with the longest wait.
    pub policy: PolicyInfo,
    /// Requests left in the binding budget right now (0 when refused).
    pub remaining: u32,
    /// When allowed: the binding budget's replenish interval (`1 / per_second`, at most 1 s), an upper
    /// bound on the time until it regains one request. When refused: the time to wait before retrying.
    pub reset_after: Duration,
}

impl Decision {
    /// The `RateLimit-Policy` field value, e.g. `"org";q=100;w=2`.
    #[must_use]
    pub fn policy_header(&self) -> String {
        format!(
            "\"{}\";q={};w={}",
            self.policy.name(),
            self.policy.quota,
            self.policy.window_secs
        )
    }

    /// The `RateLimit` field value, e.g. `"org";r=42;t=1` (`t` in whole seconds, rounded up; equal to
    /// [`Decision::retry_after_secs`] when refused).
    #[must_use]
    pub fn ratelimit_header(&self) -> String {
        let t = if self.allowed {
            ceil_secs(self.reset_after)
        } else {
            self.retry_after_secs()
        };
        format!("\"{}\";r={};t={}", self.policy.name(), self.remaining, t)
    }

    /// The `Retry-After` value in seconds: `reset_after` rounded up, at least 1 when refused; 0 when allowed.
    #[must_use]
    pub fn retry_after_secs(&self) -> u64 {
        if self.allowed {
            0
        } else {
            ceil_secs(self.reset_after).max(1)
        }
    }
}

fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// A keyed GCRA state store that the limiter and its [`Bucket`] share, so a bucket can refund a cell.
#[derive(Clone, Default)]
struct SharedStore(Arc<DashMapStateStore<String>>);

impl StateStore for SharedStore {
    type Key = String;

    fn measure_and_replace<T, F, E>(&self, key: &String, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        StateStore::measure_and_replace(&*self.0, key, f)
    }
}

impl ShrinkableKeyedStateStore<String> for SharedStore {
    fn retain_recent(&self, drop_below: Nanos) {
        ShrinkableKeyedStateStore::retain_recent(&*self.0, drop_below);
    }

    fn shrink_to_fit(&self) {
        ShrinkableKeyedStateStore::shrink_to_fit(&*self.0);
    }

    fn len(&self) -> usize {
        ShrinkableKeyedStateStore::len(&*self.0)
    }

    fn is_empty(&self) -> bool {
        ShrinkableKeyedStateStore::is_empty(&*self.0)
    }
}

/// One budget, applied per key (an org, or an org and API key).
struct Bucket<C: Clock> {
    policy: PolicyInfo,
    limiter: GovernorLimiter<String, SharedStore, C, StateInformationMiddleware>,
    store: SharedStore,
    /// The weight of one request: the quota's replenish interval.
    cell: Duration,
}

impl<C: Clock> Bucket<C> {
    fn new(scope: Scope, budget: Budget, clock: C) -> Self {
        let quota = budget.quota();
        let store = SharedStore::default();
        // StateInformationMiddleware (from the field's type): grants report the remaining burst capacity.
        let limiter = GovernorLimiter::new(quota, store.clone(), clock);
        Self {
            policy: PolicyInfo::of(scope, budget),
            limiter,
            store,
            cell: quota.replenish_interval(),
        }
    }

    /// Takes one request: `Ok(requests left)` or `Err(time until one would be allowed)`.
    fn take(&self, key: &String) -> Result<u32, Duration> {
        match self.limiter.check_key(key) {
            Ok(snapshot) => Ok(snapshot.remaining_burst_capacity()),
            Err(not_until) => Err(not_until.wait_time_from(self.limiter.clock().now())),
        }
    }

    /// Gives back a request that [`Bucket::take`] granted.
    ///
    /// A grant moved the GCRA's theoretical arrival time (TAT) from `tat` to `max(tat, now) + cell`;
    /// moving it back by `cell` leaves `max(tat, now)`, which decides every later request exactly as
    /// `tat` would have. This is a compare-and-swap like the grant itself, so concurrent requests on
    /// the same key keep their own consumption (if one was granted in between from a full bucket, the
    /// result can be generous by less than one cell).
    fn refund(&self, key: &String) {
        let cell = Nanos::from(self.cell);
        // Err: the entry is fresh (or was pruned meanwhile, being full), so there is nothing to give back.
        let _ = self.store.measure_and_replace(key, |tat| match tat {
            Some(tat) => Ok(((), tat.saturating_sub(cell))),
            None => Err(()),
        });
    }

    fn prune(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }
}

/// The per-instance rate limiter: four keyed GCRA budgets ([`Limits`]). `Send + Sync`; share it via `Arc`.
///
/// `C` is the clock; production uses the default (monotonic) one, tests may use
/// [`governor::clock::FakeRelativeClock`] through [`RateLimiter::with_clock`].
pub struct RateLimiter<C: Clock = DefaultClock> {
    limits: Limits,
    org: Bucket<C>,
    org_expensive: Bucket<C>,
    key: Bucket<C>,
    key_expensive: Bucket<C>,
}

impl RateLimiter {
    /// A limiter with these budgets on the default clock.
    #[must_use]
    pub fn new(limits: Limits) -> Self {
        Self::with_clock(limits, DefaultClock::default())
    }
}

impl<C: Clock + Clone> RateLimiter<C> {
    /// A limiter with these budgets on `clock` (all budgets read the same clock).
    #[must_use]
    pub fn with_clock(limits: Limits, clock: C) -> Self {
        Self {
            limits,
            org: Bucket::new(Scope::Org, limits.org, clock.clone()),
            org_expensive: Bucket::new(Scope::OrgExpensive, limits.org_expensive, clock.clone()),
            key: Bucket::new(Scope::Key, limits.key, clock.clone()),
            key_expensive: Bucket::new(Scope::KeyExpensive, limits.key_expensive, clock),
        }
    }
}

impl<C: Clock> RateLimiter<C> {
    /// The budgets this limiter enforces.
    #[must_use]
    pub const fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Checks (and consumes) one request of `class` for `org`, and for `api_key` when the caller used one.
    ///
    /// Standard requests consume from the org budget (and the key budget); expensive requests consume
    /// from both the standard and the expensive budgets of the org (and of the key). The request is
    /// allowed only if every one of those budgets has room; a refused request consumes from none of
    /// them (what was taken is given back). Key budgets are per org and key.
    pub fn check(&self, org: &str, api_key: Option<&str>, class: Class) -> Decision {
        let org_key = org.to_owned();
        // Length-prefixed, so no (org, key) pair can collide with another.
        let api_key = api_key.map(|key| format!("{}:{org}{key}", org.len()));
        let expensive = class == Class::Expensive;

        // Most specific and scarcest first; the order only breaks ties between binding budgets.
        let plan: [Option<(&Bucket<C>, &String)>; 4] = [
            api_key
                .as_ref()
                .filter(|_| expensive)
                .map(|k| (&self.key_expensive, k)),
            api_key.as_ref().map(|k| (&self.key, k)),
            expensive.then_some((&self.org_expensive, &org_key)),
            Some((&self.org, &org_key)),
        ];
        let outcomes = plan.map(|step| step.map(|(bucket, key)| (bucket, key, bucket.take(key))));

        let refused = outcomes
            .iter()
            .flatten()
            .filter_map(|&(bucket, _, outcome)| outcome.err().map(|wait| (bucket, wait)))
            .max_by_key(|&(_, wait)| wait);
        if let Some((bucket, wait)) = refused {
            for &(granted, key, _) in outcomes.iter().flatten().filter(|(_, _, o)| o.is_ok()) {
                granted.refund(key);
            }
            return Decision {
                allowed: false,
                policy: bucket.policy,
                remaining: 0,
                reset_after: wait,
            };
        }

        let binding = outcomes
            .iter()
            .flatten()
            .filter_map(|&(bucket, _, outcome)| outcome.ok().map(|left| (bucket, left)))
            // Fewest left; on a tie, the slower-refilling budget; then the earlier in `plan`.
            .min_by_key(|&(bucket, left)| (left, Reverse(bucket.cell)));
        // The org budget is always in the plan, and nothing was refused.
        let Some((bucket, remaining)) = binding else {
            unreachable!("the org budget is always checked");
        };
        Decision {
            allowed: true,
            policy: bucket.policy,
            remaining,
            reset_after: bucket.cell,
        }
    }

    /// Drops the state of every (org or key) entry whose bucket is full again, so it is indistinguishable
    /// from a fresh one (governor's `retain_recent`), and releases the memory. Behaviour is unchanged.
    /// The handler calls this every minute.
    pub fn prune(&self) {
        self.buckets().iter().for_each(|bucket| bucket.prune());
    }

    /// Entries currently held, summed over the four budgets (an org with a key counts in several).
    #[must_use]
    pub fn tracked_keys(&self) -> usize {
        self.buckets()
            .iter()
            .map(|bucket| bucket.limiter.len())
            .sum()
    }

    fn buckets(&self) -> [&Bucket<C>; 4] {
        [
            &self.org,
            &self.org_expensive,
            &self.key,
            &self.key_expensive,
        ]
    }
}

impl<C: Clock> fmt::Debug for RateLimiter<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimiter")
            .field("limits", &self.limits)
            .field("tracked_keys", &self.tracked_keys())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use governor::clock::FakeRelativeClock;
    use proptest::prelude::*;

    use super::*;

    const ORG: &str = "org-a";

    fn nz(n: u32) -> NonZeroU32 {
        NonZeroU32::new(n).expect("non-zero")
    }

    fn limits(
        org: (u32, u32),
        org_exp: (u32, u32),
        key: (u32, u32),
        key_exp: (u32, u32),
    ) -> Limits {
        Limits {
            org: Budget::new(nz(org.0), nz(org.1)),
            org_expensive: Budget::new(nz(org_exp.0), nz(org_exp.1)),
            key: Budget::new(nz(key.0), nz(key.1)),
            key_expensive: Budget::new(nz(key_exp.0), nz(key_exp.1)),
        }
    }

    fn fake(limits: Limits) -> (RateLimiter<FakeRelativeClock>, FakeRelativeClock) {
        let clock = FakeRelativeClock::default();
        (RateLimiter::with_clock(limits, clock.clone()), clock)
    }

    fn allowed_in_a_row(
        rl: &RateLimiter<FakeRelativeClock>,
        key: Option<&str>,
        class: Class,
    ) -> u32 {
        let mut n = 0;
        while rl.check(ORG, key, class).allowed {
            n += 1;
            assert!(n <= 10_000, "never refused");
        }
        n
    }

    #[test]
    fn limiter_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<RateLimiter>();
        assert_send_sync::<RateLimiter<FakeRelativeClock>>();
    }

    #[test]
    fn default_limits_and_policies() {
        let l = Limits::default();
        let windows = [l.org, l.org_expensive, l.key, l.key_expensive].map(|b| b.window_secs());
        assert_eq!(windows, [2, 5, 2, 5]);
        assert_eq!((l.org.per_second.get(), l.org.burst.get()), (50, 100));
        assert_eq!(
            (
                l.key_expensive.per_second.get(),
                l.key_expensive.burst.get()
            ),
            (1, 5)
        );
        // Not a whole number of seconds: rounded up.
        assert_eq!(Budget::new(nz(3), nz(10)).window_secs(), 4);
        assert_eq!(Budget::new(nz(50), nz(1)).window_secs(), 1);
    }

    #[test]
    fn burst_is_allowed_then_refused() {
        let (rl, _clock) = fake(Limits::default());
        for i in 1..=100 {
            let d = rl.check(ORG, None, Class::Standard);
            assert!(d.allowed, "request {i}");
            assert_eq!(d.remaining, 100 - i);
            assert_eq!(d.policy.scope, Scope::Org);
            assert_eq!(d.reset_after, Duration::from_millis(20));
        }
        let d = rl.check(ORG, None, Class::Standard);
        assert!(!d.allowed);
        assert_eq!(d.remaining, 0);
        assert_eq!(d.policy.scope, Scope::Org);
        assert_eq!(d.reset_after, Duration::from_millis(20));
        assert_eq!(d.retry_after_secs(), 1);
    }

    #[test]
    fn refused_request_reports_retry_after_and_consumes_nothing() {
        let (rl, clock) = fake(limits((1, 3), (1, 3), (1, 3), (1, 3)));
        assert_eq!(allowed_in_a_row(&rl, None, Class::Standard), 3);
        let first = rl.check(ORG, None, Class::Standard);
        assert!(!first.allowed);
        assert_eq!(first.reset_after, Duration::from_secs(1));
        // Hammering while refused neither consumes nor pushes the retry time back.
        for _ in 0..50 {
            assert_eq!(rl.check(ORG, None, Class::Standard), first);
        }
        clock.advance(first.reset_after - Duration::from_nanos(1));
        let almost = rl.check(ORG, None, Class::Standard);
        assert!(!almost.allowed);
        assert_eq!(almost.reset_after, Duration::from_nanos(1));
        clock.advance(Duration::from_nanos(1));
        let d = rl.check(ORG, None, Class::Standard);
        assert!(d.allowed);
        assert_eq!(d.remaining, 0);
        assert!(!rl.check(ORG, None, Class::Standard).allowed);
    }

    #[test]
    fn refused_expensive_request_does_not_consume_the_standard_budget() {
        let (rl, _clock) = fake(limits((1, 20), (1, 4), (1, 100), (1, 100)));
        assert_eq!(allowed_in_a_row(&rl, None, Class::Expensive), 4);
        for _ in 0..30 {
            let d = rl.check(ORG, None, Class::Expensive);
            assert!(!d.allowed);
            assert_eq!(d.policy.scope, Scope::OrgExpensive);
        }
        // 4 of 20 went to the expensive requests that were allowed, none to the refused ones.
        assert_eq!(allowed_in_a_row(&rl, None, Class::Standard), 16);
    }

    #[test]
    fn key_refusal_does_not_consume_the_org_budget() {
        let (rl, _clock) = fake(limits((1, 5), (1, 5), (1, 2), (1, 2)));
        assert_eq!(allowed_in_a_row(&rl, Some("k1"), Class::Standard), 2);
        for _ in 0..20 {
            assert_eq!(
                rl.check(ORG, Some("k1"), Class::Standard).policy.scope,
                Scope::Key
            );
        }
        assert_eq!(allowed_in_a_row(&rl, Some("k2"), Class::Standard), 2);
        assert!(rl.check(ORG, Some("k3"), Class::Standard).allowed);
        let d = rl.check(ORG, Some("k3"), Class::Standard);
        assert!(!d.allowed);
        assert_eq!(d.policy.scope, Scope::Org);
    }

    #[test]
    fn expensive_consumes_the_standard_budget_too() {
        let (rl, _clock) = fake(limits((1, 5), (1, 10), (1, 100), (1, 100)));
        for i in 1..=5 {
            let d = rl.check(ORG, None, Class::Expensive);
            assert!(d.allowed);
            // The standard budget is the scarcer one here, so it binds.
            assert_eq!((d.policy.scope, d.remaining), (Scope::Org, 5 - i));
        }
        let d = rl.check(ORG, None, Class::Standard);
        assert!(!d.allowed);
        assert_eq!(d.policy.scope, Scope::Org);
        let d = rl.check(ORG, None, Class::Expensive);
        assert!(!d.allowed);
        assert_eq!(d.policy.scope, Scope::Org);
    }

    #[test]
    fn the_scarcest_budget_binds() {
        let (rl, _clock) = fake(Limits::default());
        let d = rl.check(ORG, Some("k1"), Class::Expensive);
        assert!(d.allowed);
        assert_eq!((d.policy.scope, d.remaining), (Scope::KeyExpensive, 4));
        assert_eq!(d.policy_header(), r#""key-expensive";q=5;w=5"#);
        assert_eq!(d.ratelimit_header(), r#""key-expensive";r=4;t=1"#);
        let d = rl.check(ORG, None, Class::Expensive);
        assert_eq!((d.policy.scope, d.remaining), (Scope::OrgExpensive, 8));
        let d = rl.check(ORG, Some("k1"), Class::Standard);
        assert_eq!((d.policy.scope, d.remaining), (Scope::Key, 38));
    }

    #[test]
    fn key_budget_binds_before_the_org_budget_when_smaller() {
        let (rl, clock) = fake(limits((10, 10), (1, 10), (1, 3), (1, 3)));
        for i in 1..=3 {
            let d = rl.check(ORG, Some("k1"), Class::Standard);
            assert!(d.allowed);
            assert_eq!((d.policy.scope, d.remaining), (Scope::Key, 3 - i));
        }
        let d = rl.check(ORG, Some("k1"), Class::Standard);
        assert!(!d.allowed);
        assert_eq!(d.policy.scope, Scope::Key);
        assert_eq!(d.reset_after, Duration::from_secs(1));
        // The org still has room for requests without that key.
        let d = rl.check(ORG, None, Class::Standard);
        assert!(d.allowed);
        assert_eq!((d.policy.scope, d.remaining), (Scope::Org, 6));
        clock.advance(Duration::from_secs(1));
        assert!(rl.check(ORG, Some("k1"), Class::Standard).allowed);
    }

    #[test]
    fn keys_are_scoped_to_their_org() {
        let (rl, _clock) = fake(limits((100, 100), (1, 10), (1, 2), (1, 2)));
        assert_eq!(allowed_in_a_row(&rl, Some("shared-id"), Class::Standard), 2);
        assert!(
            rl.check("org-b", Some("shared-id"), Class::Standard)
                .allowed
        );
        // "ab" + "c" and "a" + "bc" are different pairs.
        assert_eq!(allowed_in_a_row(&rl, Some("x"), Class::Standard), 2);
        assert!(rl.check("ab", Some("c"), Class::Standard).allowed);
        assert!(rl.check("ab", Some("c"), Class::Standard).allowed);
        assert!(rl.check("a", Some("bc"), Class::Standard).allowed);
    }

    #[test]
    fn noisy_neighbour_does_not_starve_another_org() {
        let l = Limits::default();
        let (rl, clock) = fake(l);
        let step = Duration::from_millis(10);
        let steps = 300u32; // 3 simulated seconds
        let mut a_allowed = 0u32;
        let mut a_refused = 0u32;
        for i in 0..steps {
            // Org A: 10 x its sustained rate (50/s -> 500/s, 5 per 10 ms), half of it with a key.
            for j in 0..5 {
                let key = (j % 2 == 0).then_some("a-key");
                let class = if j == 4 {
                    Class::Expensive
                } else {
                    Class::Standard
                };
                if rl.check("org-a", key, class).allowed {
                    a_allowed += 1;
                } else {
                    a_refused += 1;
                }
            }
            // Org B: 20/s standard with a key, plus 2/s expensive without: all within budget, all allowed.
            if i % 5 == 0 {
                let d = rl.check("org-b", Some("b-key"), Class::Standard);
                assert!(d.allowed, "org B refused at step {i}: {d:?}");
            }
            if i % 50 == 0 {
                let d = rl.check("org-b", None, Class::Expensive);
                assert!(d.allowed, "org B expensive refused at step {i}: {d:?}");
            }
            clock.advance(step);
        }
        // A got at most its burst plus its sustained rate over the elapsed time.
        let elapsed_secs = steps / 100;
        assert!(a_allowed <= l.org.burst.get() + l.org.per_second.get() * elapsed_secs);
        assert!(a_refused > a_allowed);
    }

    #[test]
    fn header_values_are_exact() {
        let org = PolicyInfo {
            scope: Scope::Org,
            quota: 100,
            window_secs: 1,
        };
        let allowed = Decision {
            allowed: true,
            policy: org,
            remaining: 42,
            reset_after: Duration::from_millis(20),
        };
        assert_eq!(allowed.policy_header(), r#""org";q=100;w=1"#);
        assert_eq!(allowed.ratelimit_header(), r#""org";r=42;t=1"#);
        assert_eq!(allowed.retry_after_secs(), 0);

        let refused = Decision {
            allowed: false,
            policy: PolicyInfo {
                scope: Scope::KeyExpensive,
                quota: 5,
                window_secs: 5,
            },
            remaining: 0,
            reset_after: Duration::from_millis(1_200),
        };
        assert_eq!(refused.policy_header(), r#""key-expensive";q=5;w=5"#);
        assert_eq!(refused.ratelimit_header(), r#""key-expensive";r=0;t=2"#);
        assert_eq!(refused.retry_after_secs(), 2);

        let whole = Decision {
            reset_after: Duration::from_secs(3),
            ..refused
        };
        assert_eq!(whole.retry_after_secs(), 3);
        // Refused is never "retry now".
        let zero = Decision {
            reset_after: Duration::ZERO,
            ..refused
        };
        assert_eq!(zero.retry_after_secs(), 1);
        assert_eq!(zero.ratelimit_header(), r#""key-expensive";r=0;t=1"#);

        let names = [
            Scope::Org,
            Scope::OrgExpensive,
            Scope::Key,
            Scope::KeyExpensive,
        ]
        .map(Scope::as_str);
        assert_eq!(names, ["org", "org-expensive", "key", "key-expensive"]);
    }

    #[test]
    fn headers_from_a_real_check() {
        let (rl, _clock) = fake(Limits::default());
        let d = rl.check(ORG, None, Class::Standard);
        assert_eq!(d.policy_header(), r#""org";q=100;w=2"#);
        assert_eq!(d.ratelimit_header(), r#""org";r=99;t=1"#);
    }

    #[test]
    fn prune_drops_only_full_buckets_and_keeps_behaviour() {
        let (rl, clock) = fake(limits((1, 4), (1, 4), (1, 4), (1, 4)));
        assert_eq!(rl.tracked_keys(), 0);
        assert!(rl.check("org-a", Some("k"), Class::Expensive).allowed);
        assert_eq!(allowed_in_a_row(&rl, None, Class::Standard), 3);
        assert!(rl.check("org-b", None, Class::Standard).allowed);
        assert_eq!(rl.tracked_keys(), 5);

        // Nothing is full again: nothing goes and the buckets behave as before.
        rl.prune();
        assert_eq!(rl.tracked_keys(), 5);
        assert!(!rl.check("org-a", None, Class::Standard).allowed);
        assert_eq!(rl.check("org-b", None, Class::Standard).remaining, 2);

        // Long enough for every bucket to be full again: all go, and each is fresh.
        clock.advance(Duration::from_secs(10));
        rl.prune();
        assert_eq!(rl.tracked_keys(), 0);
        assert_eq!(allowed_in_a_row(&rl, Some("k"), Class::Expensive), 4);
        assert!(format!("{rl:?}").contains("tracked_keys: 4"));
    }

    #[test]
    fn real_clock_smoke() {
        // 5/s, burst 1: the second request is refused unless 200 ms pass between two calls.
        let rl = RateLimiter::new(limits((5, 1), (1, 1), (1, 1), (1, 1)));
        assert!(rl.check(ORG, None, Class::Standard).allowed);
        let refused = rl.check(ORG, None, Class::Standard);
        assert!(!refused.allowed);
        assert!(
            refused.reset_after > Duration::ZERO
                && refused.reset_after <= Duration::from_millis(200)
        );
        std::thread::sleep(refused.reset_after + Duration::from_millis(5));
        assert!(rl.check(ORG, None, Class::Standard).allowed);
    }

    /// One request of the property tests: org index, key index, expensive.
    type Op = (u8, Option<u8>, bool);

    /// One bucket in the model: budget, org index, key index.
    type BucketId = (Scope, u8, Option<u8>);

    fn budget_strategy() -> impl Strategy<Value = Budget> {
        (1u32..=1_000, 1u32..=8).prop_map(|(rate, burst)| Budget::new(nz(rate), nz(burst)))
    }

    fn limits_strategy() -> impl Strategy<Value = Limits> {
        (
            budget_strategy(),
            budget_strategy(),
            budget_strategy(),
            budget_strategy(),
        )
            .prop_map(|(org, org_expensive, key, key_expensive)| Limits {
                org,
                org_expensive,
                key,
                key_expensive,
            })
    }

    fn op_strategy() -> impl Strategy<Value = Op> {
        (0u8..2, proptest::option::of(0u8..2), any::<bool>())
    }

    fn budgets_of(l: &Limits, (org, key, expensive): Op) -> Vec<(BucketId, Budget)> {
        let mut out = vec![((Scope::Org, org, None), l.org)];
        if expensive {
            out.push(((Scope::OrgExpensive, org, None), l.org_expensive));
        }
        if let Some(k) = key {
            out.push(((Scope::Key, org, Some(k)), l.key));
            if expensive {
                out.push(((Scope::KeyExpensive, org, Some(k)), l.key_expensive));
            }
        }
        out
    }

    fn run(rl: &RateLimiter<FakeRelativeClock>, (org, key, expensive): Op) -> Decision {
        let org = format!("org-{org}");
        let key = key.map(|k| format!("key-{k}"));
        let class = if expensive {
            Class::Expensive
        } else {
            Class::Standard
        };
        rl.check(&org, key.as_deref(), class)
    }

    proptest! {
        /// Within one instant GCRA is a counter per bucket: a request is allowed iff every one of its
        /// budgets has room, and only allowed requests count. So allowed requests never exceed a burst,
        /// refused ones consume nothing, and `remaining` is exactly what is left in the scarcest budget.
        #[test]
        fn within_an_instant_the_burst_is_a_hard_cap(
            l in limits_strategy(),
            start in 0u64..10_000_000_000,
            ops in proptest::collection::vec(op_strategy(), 0..80),
        ) {
            let (rl, clock) = fake(l);
            clock.advance(Duration::from_nanos(start));
            let mut used: HashMap<BucketId, u32> = HashMap::new();
            for op in ops {
                let d = run(&rl, op);
                let budgets = budgets_of(&l, op);
                let room = budgets.iter().all(|(id, b)| used.get(id).copied().unwrap_or(0) < b.burst.get());
                prop_assert_eq!(d.allowed, room);
                prop_assert!(d.remaining < d.policy.quota || (!d.allowed && d.remaining == 0));
                if room {
                    for (id, _) in &budgets {
                        *used.entry(*id).or_default() += 1;
                    }
                    let left = budgets
                        .iter()
                        .map(|(id, b)| b.burst.get() - used[id])
                        .min()
                        .expect("the org budget");
                    prop_assert_eq!(d.remaining, left);
                } else {
                    prop_assert_eq!(d.remaining, 0);
                    prop_assert!(d.reset_after > Duration::ZERO);
                }
            }
            for ((scope, _, _), n) in &used {
                let cap = match scope {
                    Scope::Org => l.org.burst,
                    Scope::OrgExpensive => l.org_expensive.burst,
                    Scope::Key => l.key.burst,
                    Scope::KeyExpensive => l.key_expensive.burst,
                };
                prop_assert!(*n <= cap.get());
            }
        }

        /// Over time: `remaining` never exceeds the burst, a refusal always has a positive wait, and an
        /// org never gets more than its burst plus its rate over the elapsed time.
        #[test]
        fn over_time_remaining_and_throughput_stay_bounded(
            l in limits_strategy(),
            ops in proptest::collection::vec((op_strategy(), 0u64..5_000_000), 0..200),
        ) {
            let (rl, clock) = fake(l);
            let mut elapsed = 0u64;
            let mut allowed = [0u64; 2];
            for (op, advance) in ops {
                clock.advance(Duration::from_nanos(advance));
                elapsed += advance;
                let d = run(&rl, op);
                prop_assert!(d.remaining <= d.policy.quota);
                if d.allowed {
                    allowed[usize::from(op.0)] += 1;
                    prop_assert!(d.remaining < d.policy.quota);
                } else {
                    prop_assert_eq!(d.remaining, 0);
                    prop_assert!(d.reset_after > Duration::ZERO);
                    prop_assert!(d.retry_after_secs() >= 1);
                }
            }
            let cap = u64::from(l.org.burst.get())
                + (elapsed * u64::from(l.org.per_second.get())).div_ceil(1_000_000_000);
            for n in allowed {
                prop_assert!(n <= cap, "{} allowed, cap {}", n, cap);
            }
        }
    }
}
