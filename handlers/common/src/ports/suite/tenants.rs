//! Org and API key store suites.
//!
//! Every org name is fresh (a random suffix), so a suite can run against a store that already holds
//! data. Concurrency is exercised with joined futures on one task: enough to interleave the adapters'
//! read-then-write steps at their await points.

use futures_util::future::{join, join_all};
use time::{Duration, OffsetDateTime};

use crate::TenantScope;
use crate::access::{ApiScope, Role};
use crate::auth::api_key;
use crate::domain::{Region, UserId};
use crate::ports::{
    AiReviewPolicy, ApiKeyRecord, ApiKeyStore, OrgRecord, OrgStore, Plan, PortError,
    SecuritySettings, SecurityUpdate, SignInMethod, StoredSecret,
};

/// A scope for a fresh org: `suite-<name>-<32 hex>`.
fn fresh(name: &str, region: Region) -> TenantScope {
    TenantScope::for_tests(
        &format!("suite-{name}-{}", uuid::Uuid::new_v4().simple()),
        region,
    )
}

/// A fixed instant with sub-second digits, so adapters must keep full precision.
fn t0() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_767_225_600).expect("timestamp")
        + Duration::nanoseconds(123_456_789)
}

fn sso_with_mfa() -> SecuritySettings {
    // Not the default AI review policy either, so adapters are seen to keep it.
    SecuritySettings {
        allowed_sign_in_methods: vec![SignInMethod::Sso],
        require_mfa: true,
        ai_review: AiReviewPolicy {
            allow_remote_model: false,
            max_context_percent: Some(20),
        },
    }
}

/// Every `OrgStore` adapter: creation on first use (free plan, default policy, home region from the
/// scope), `now` ignored once the record exists, `update_security`/`set_plan` returning the record before
/// and after, `NotFound` for changes to a missing org, org isolation, one record from concurrent first
/// uses, and no lost update between concurrent changes.
///
/// # Panics
/// When the adapter misbehaves.
pub async fn org_store(s: &dyn OrgStore) {
    let acme = fresh("acme", Region::Us);
    let globex = fresh("globex", Region::Us);
    let now = t0();

    // Changes to an org that does not exist yet: NotFound, and nothing is created.
    assert_eq!(
        s.set_plan(&acme, Plan::Paid, now).await,
        Err(PortError::NotFound)
    );
    assert_eq!(
        s.update_security(&acme, sso_with_mfa().into(), now).await,
        Err(PortError::NotFound)
    );

    let a = s.get_or_create(&acme, now).await.expect("create");
    assert_eq!(
        a,
        OrgRecord {
            org_id: acme.org().clone(),
            home_region: Region::Us,
            plan: Plan::Free,
            security: SecuritySettings::default(),
            created_at: now,
            updated_at: now,
        }
    );
    assert_eq!(
        s.get_or_create(&acme, now + Duration::hours(1))
            .await
            .expect("read"),
        a,
        "an existing record is returned unchanged"
    );
    // The home region is the scope's.
    let eu = fresh("eu", Region::Eu);
    assert_eq!(
        s.get_or_create(&eu, now).await.expect("create").home_region,
        Region::Eu
    );

    // set_plan and update_security: (before, after), with `updated_at` moved to `now`.
    let t1 = now + Duration::minutes(5);
    let (before, after) = s.set_plan(&acme, Plan::Paid, t1).await.expect("plan");
    assert_eq!(before, a);
    assert_eq!(
        after,
        OrgRecord {
            plan: Plan::Paid,
            updated_at: t1,
            ..a.clone()
        }
    );
    assert_eq!(s.get_or_create(&acme, t1).await.expect("read"), after);
    let t2 = t1 + Duration::minutes(5);
    let (before2, after2) = s
        .update_security(&acme, sso_with_mfa().into(), t2)
        .await
        .expect("security");
    assert_eq!(before2, after);
    assert_eq!(
        after2,
        OrgRecord {
            security: sso_with_mfa(),
            updated_at: t2,
            ..after.clone()
        }
    );
    assert_eq!(s.get_or_create(&acme, t2).await.expect("read"), after2);
    // An update without an AI review policy keeps the stored one (decided in the store).
    let sign_in_only = SecurityUpdate {
        allowed_sign_in_methods: vec![SignInMethod::Password, SignInMethod::Sso],
        require_mfa: true,
        ai_review: None,
    };
    let (_, kept) = s
        .update_security(&acme, sign_in_only, t2)
        .await
        .expect("security");
    assert_eq!(kept.security.ai_review, sso_with_mfa().ai_review);
    assert_eq!(
        kept.security.allowed_sign_in_methods,
        [SignInMethod::Password, SignInMethod::Sso]
    );
    let (_, after2) = s
        .update_security(&acme, sso_with_mfa().into(), t2)
        .await
        .expect("security");
    assert_eq!(after2.security, sso_with_mfa());

    // Isolation: another org's scope neither sees nor changes acme's record.
    assert_eq!(
        s.set_plan(&globex, Plan::Paid, t2).await,
        Err(PortError::NotFound),
        "another org's scope changed a record"
    );
    let g = s.get_or_create(&globex, t2).await.expect("globex");
    assert_eq!(
        (&g.org_id, g.plan, &g.security),
        (globex.org(), Plan::Free, &SecuritySettings::default()),
        "another org's scope saw acme's record"
    );
    let password_only = SecuritySettings {
        allowed_sign_in_methods: vec![SignInMethod::Password],
        require_mfa: false,
        ai_review: AiReviewPolicy::default(),
    };
    s.update_security(&globex, password_only.clone().into(), t2)
        .await
        .expect("globex security");
    s.set_plan(&globex, Plan::Free, t2)
        .await
        .expect("globex plan");
    assert_eq!(
        s.get_or_create(&acme, t2).await.expect("read"),
        after2,
        "acme changed by globex's scope"
    );
    assert_eq!(
        s.get_or_create(&globex, t2).await.expect("read").security,
        password_only
    );

    // Concurrent first uses of one org store exactly one record; everybody gets it.
    // The region's org list (operators): id order, paged with `after`, every org once.
    let mut listed = Vec::new();
    let mut after: Option<crate::domain::OrgId> = None;
    loop {
        let page = s.list_orgs(after.as_ref(), 2).await.expect("list orgs");
        assert!(page.len() <= 2);
        listed.extend(page.iter().map(|o| o.org_id.clone()));
        match page.last() {
            Some(last) if page.len() == 2 => after = Some(last.org_id.clone()),
            _ => break,
        }
    }
    assert!(
        listed.windows(2).all(|w| w[0].as_str() < w[1].as_str()),
        "not in id order, or repeated: {listed:?}"
    );
    for org in [acme.org(), globex.org()] {
        assert!(listed.contains(org), "{org} missing from {listed:?}");
    }

    let race = fresh("race", Region::Us);
    let results =
        join_all((0..16).map(|i| s.get_or_create(&race, now + Duration::seconds(i)))).await;
    let first = results[0].clone().expect("concurrent create");
    for (i, r) in results.into_iter().enumerate() {
        assert_eq!(r.expect("concurrent create"), first, "task {i} differs");
    }
    assert_eq!(
        s.get_or_create(&race, now + Duration::days(1))
            .await
            .expect("read"),
        first
    );

    // Concurrent changes to one org: neither is lost.
    let t3 = t2 + Duration::minutes(5);
    let (plan, security) = join(
        s.set_plan(&race, Plan::Paid, t3),
        s.update_security(&race, sso_with_mfa().into(), t3),
    )
    .await;
    plan.expect("concurrent plan");
    security.expect("concurrent security");
    let end = s.get_or_create(&race, t3).await.expect("read");
    assert_eq!(
        (end.plan, end.security, end.updated_at, end.created_at),
        (Plan::Paid, sso_with_mfa(), t3, first.created_at),
        "a concurrent change was lost"
    );
}

/// A new key record for `scope`'s org (hashes only, as the service stores them).
fn key(scope: &TenantScope, name: &str, created_at: OffsetDateTime) -> ApiKeyRecord {
    let new = api_key::generate();
    ApiKeyRecord {
        id: new.id,
        org: scope.org().clone(),
        name: name.to_owned(),
        scopes: vec![ApiScope::ContractsRead, ApiScope::Search],
        created_by: UserId::parse("suite-user").expect("user"),
        creator_role: Role::Admin,
        created_at,
        expires_at: created_at + Duration::days(90),
        last_used_at: None,
        revoked_at: None,
        secrets: vec![StoredSecret {
            hash: new.hash,
            created_at,
            retires_at: None,
        }],
    }
}

fn ids(keys: &[ApiKeyRecord]) -> Vec<&str> {
    keys.iter().map(|k| k.id.as_str()).collect()
}

/// Every `ApiKeyStore` adapter: insert (duplicate ids and another org's record refused), get, list
/// (newest first, ties by id, the org's keys only), replace (rotation, revocation; `NotFound` for a
/// missing key and for another org's), unscoped `find_for_authentication`, `touch` recording the last use
/// without undoing a concurrent revocation, and org isolation.
///
/// # Panics
/// When the adapter misbehaves.
pub async fn api_key_store(s: &dyn ApiKeyStore) {
    let acme = fresh("acme", Region::Us);
    let globex = fresh("globex", Region::Us);
    let now = t0();

    let k1 = key(&acme, "first", now);
    s.insert(&acme, k1.clone()).await.expect("insert");
    assert_eq!(s.get(&acme, &k1.id).await.expect("get"), Some(k1.clone()));
    // A duplicate id is a conflict and leaves the first record.
    let dup = ApiKeyRecord {
        name: "duplicate".into(),
        ..k1.clone()
    };
    assert!(matches!(
        s.insert(&acme, dup).await,
        Err(PortError::Conflict(_))
    ));
    assert_eq!(s.get(&acme, &k1.id).await.expect("get"), Some(k1.clone()));
    // A record of another org is refused in this scope, and not stored anywhere.
    let foreign = key(&globex, "foreign", now);
    assert!(matches!(
        s.insert(&acme, foreign.clone()).await,
        Err(PortError::Conflict(_))
    ));
    assert_eq!(
        s.find_for_authentication(&foreign.id).await.expect("find"),
        None
    );

    // Lists: newest first (ties by id), only the scope's org, whatever the insertion order.
    let k2 = key(&acme, "second", now + Duration::minutes(1));
    let k3 = key(&acme, "third", now + Duration::minutes(2));
    let k4 = key(&acme, "fourth", now + Duration::minutes(2));
    let g1 = key(&globex, "globex's", now + Duration::minutes(3));
    for k in [&k3, &k2, &k4] {
        s.insert(&acme, k.clone()).await.expect("insert");
    }
    s.insert(&globex, g1.clone()).await.expect("insert globex");
    let (newest_a, newest_b) = if k3.id < k4.id {
        (&k3, &k4)
    } else {
        (&k4, &k3)
    };
    let listed = s.list(&acme).await.expect("list");
    assert_eq!(
        ids(&listed),
        vec![
            newest_a.id.as_str(),
            newest_b.id.as_str(),
            k2.id.as_str(),
            k1.id.as_str()
        ]
    );
    assert_eq!(listed[3], k1, "listed records are whole");
    assert_eq!(s.list(&globex).await.expect("list"), vec![g1.clone()]);
    assert!(
        s.list(&fresh("empty", Region::Us))
            .await
            .expect("list")
            .is_empty()
    );

    // Isolation: another org's scope does not see or change acme's keys, as named or relabelled,
    // and a key cannot be moved to another org.
    assert_eq!(s.get(&globex, &k1.id).await.expect("get"), None);
    assert_eq!(
        s.replace(&globex, k1.clone()).await,
        Err(PortError::NotFound)
    );
    let relabelled = ApiKeyRecord {
        org: globex.org().clone(),
        revoked_at: Some(now),
        ..k1.clone()
    };
    assert_eq!(
        s.replace(&globex, relabelled.clone()).await,
        Err(PortError::NotFound)
    );
    assert_eq!(
        s.replace(&acme, relabelled).await,
        Err(PortError::NotFound),
        "a key was moved to another org"
    );
    assert_eq!(s.get(&acme, &k1.id).await.expect("get"), Some(k1.clone()));

    // Missing keys.
    let missing = key(&acme, "never stored", now);
    assert_eq!(s.get(&acme, &missing.id).await.expect("get"), None);
    assert_eq!(
        s.replace(&acme, missing.clone()).await,
        Err(PortError::NotFound)
    );
    assert_eq!(
        s.find_for_authentication(&missing.id).await.expect("find"),
        None
    );
    s.touch(&missing.id, now)
        .await
        .expect("touch a missing key");
    assert_eq!(
        s.find_for_authentication(&missing.id).await.expect("find"),
        None,
        "touch created a key"
    );

    // Authentication is unscoped: it finds any org's key, and the record names the org.
    assert_eq!(
        s.find_for_authentication(&k1.id).await.expect("find"),
        Some(k1.clone())
    );
    assert_eq!(
        s.find_for_authentication(&g1.id).await.expect("find"),
        Some(g1.clone())
    );

    // touch records the last use and nothing else.
    let used = now + Duration::minutes(10);
    s.touch(&k1.id, used).await.expect("touch");
    let touched = ApiKeyRecord {
        last_used_at: Some(used),
        ..k1.clone()
    };
    assert_eq!(
        s.get(&acme, &k1.id).await.expect("get"),
        Some(touched.clone())
    );

    // Rotation: a new secret, the old one retiring.
    let mut rotated = touched.clone();
    rotated.secrets[0].retires_at = Some(used + Duration::hours(24));
    let next = api_key::generate_secret_for(&rotated.id);
    rotated.secrets.push(StoredSecret {
        hash: next.hash,
        created_at: used,
        retires_at: None,
    });
    s.replace(&acme, rotated.clone()).await.expect("rotate");
    assert_eq!(
        s.get(&acme, &k1.id).await.expect("get"),
        Some(rotated.clone())
    );
    assert_eq!(
        s.find_for_authentication(&k1.id).await.expect("find"),
        Some(rotated)
    );

    // A use recorded while the key is revoked never undoes the revocation.
    for i in 0..6 {
        let k = key(&acme, "revoked", now);
        s.insert(&acme, k.clone()).await.expect("insert");
        let revoked = ApiKeyRecord {
            revoked_at: Some(now + Duration::minutes(1)),
            ..k.clone()
        };
        let at = now + Duration::seconds(i);
        let (replaced, touched) = if i % 2 == 0 {
            join(s.replace(&acme, revoked), s.touch(&k.id, at)).await
        } else {
            let (t, r) = join(s.touch(&k.id, at), s.replace(&acme, revoked)).await;
            (r, t)
        };
        replaced.expect("revoke");
        touched.expect("touch");
        let stored = s.get(&acme, &k.id).await.expect("get").expect("found");
        assert_eq!(
            stored.revoked_at,
            Some(now + Duration::minutes(1)),
            "a concurrent touch undid a revocation (round {i})"
        );
    }
    // And the other org's key is as it was stored.
    assert_eq!(s.get(&globex, &g1.id).await.expect("get"), Some(g1));
}
