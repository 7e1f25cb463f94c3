//! The org sign-in policy, enforced on every request from the token's `amr`.
//!
//! - A session is an SSO session when `amr` holds `external`/`fed`; otherwise it is a password session.
//! - Its method must be in the org's `allowedSignInMethods`.
//! - With `requireMfa`, a password session needs a second factor; SSO sessions are exempt (the SSO
//!   provider owns that decision).
//! - API keys are exempt: they are created only from compliant interactive sessions and carry scopes.

use crate::auth::principal::{Credential, Principal};
use crate::ports::{AiReviewPolicy, SecuritySettings, SignInMethod};

/// Why a session is refused by the policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignInRefusal {
    /// Only SSO is allowed and this is a password session.
    #[error("the organisation requires single sign-on")]
    SsoRequired,
    /// A password session without a second factor in an MFA-required org.
    #[error("the organisation requires a second factor")]
    MfaRequired,
    /// The session's method is not allowed (an SSO session in a password-only org).
    #[error("this sign-in method is not allowed by the organisation")]
    MethodNotAllowed,
}

/// The method a session used.
#[must_use]
pub fn session_method(p: &Principal) -> SignInMethod {
    if p.sign_in().sso {
        SignInMethod::Sso
    } else {
        SignInMethod::Password
    }
}

/// Checks a principal against the org's policy.
///
/// # Errors
/// [`SignInRefusal`] saying what the user must do.
pub fn check(settings: &SecuritySettings, p: &Principal) -> Result<(), SignInRefusal> {
    if matches!(p.credential(), Credential::ApiKey { .. }) {
        return Ok(());
    }
    let method = session_method(p);
    if !settings.allowed_sign_in_methods.contains(&method) {
        return Err(if settings.allowed_sign_in_methods == [SignInMethod::Sso] {
            SignInRefusal::SsoRequired
        } else {
            SignInRefusal::MethodNotAllowed
        });
    }
    if settings.require_mfa && method == SignInMethod::Password && !p.sign_in().second_factor {
        return Err(SignInRefusal::MfaRequired);
    }
    Ok(())
}

impl SecuritySettings {
    /// Sorts and de-duplicates the methods.
    ///
    /// # Errors
    /// A message when no method is allowed, or the AI review share is out of range.
    pub fn normalized(mut self) -> Result<Self, &'static str> {
        self.allowed_sign_in_methods.sort();
        self.allowed_sign_in_methods.dedup();
        if self.allowed_sign_in_methods.is_empty() {
            return Err("allowedSignInMethods must name at least one of password, sso");
        }
        if self
            .ai_review
            .max_context_percent
            .is_some_and(|p| !AiReviewPolicy::PERCENT_RANGE.contains(&p))
        {
            return Err("aiReview.maxContextPercent must be a whole number from 5 to 100");
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::Role;
    use crate::auth::principal::SignIn;
    use crate::domain::{OrgId, Region, UserId};

    fn session(amr: &[&str]) -> Principal {
        Principal::new(
            UserId::parse("u").unwrap(),
            OrgId::parse("acme").unwrap(),
            Role::Admin,
            Region::Us,
            SignIn::from_amr(amr),
            None,
            Credential::AccessToken,
        )
    }

    fn policy(methods: &[SignInMethod], mfa: bool) -> SecuritySettings {
        SecuritySettings {
            allowed_sign_in_methods: methods.to_vec(),
            require_mfa: mfa,
            ai_review: AiReviewPolicy::default(),
        }
    }

    #[test]
    fn the_policy_matrix() {
        use SignInMethod::{Password as P, Sso as S};
        use SignInRefusal::*;
        let pwd = session(&["pwd"]);
        let pwd_mfa = session(&["pwd", "mfa"]);
        let pwd_otp = session(&["pwd", "otp"]);
        let sso = session(&["external"]);
        let cases: &[(&SecuritySettings, &Principal, Result<(), SignInRefusal>)] = &[
            (&policy(&[P, S], false), &pwd, Ok(())),
            (&policy(&[P, S], false), &sso, Ok(())),
            (&policy(&[S], false), &pwd, Err(SsoRequired)),
            (&policy(&[S], false), &pwd_mfa, Err(SsoRequired)),
            (&policy(&[S], true), &sso, Ok(())),
            (&policy(&[P, S], true), &pwd, Err(MfaRequired)),
            (&policy(&[P, S], true), &pwd_mfa, Ok(())),
            (&policy(&[P, S], true), &pwd_otp, Ok(())),
            (&policy(&[P, S], true), &sso, Ok(())),
            (&policy(&[P], false), &sso, Err(MethodNotAllowed)),
        ];
        for (i, (settings, who, expected)) in cases.iter().enumerate() {
            assert_eq!(check(settings, who), *expected, "case {i}");
        }
    }

    #[test]
    fn api_keys_are_exempt() {
        let key = Principal::for_api_key(
            UserId::parse("u").unwrap(),
            OrgId::parse("acme").unwrap(),
            Role::Admin,
            Region::Us,
            "k".into(),
            vec![],
        );
        assert_eq!(check(&policy(&[SignInMethod::Sso], true), &key), Ok(()));
    }

    #[test]
    fn the_ai_review_share_is_a_bounded_percent() {
        let with = |p: Option<u8>| SecuritySettings {
            ai_review: AiReviewPolicy {
                allow_remote_model: true,
                max_context_percent: p,
            },
            ..SecuritySettings::default()
        };
        for ok in [None, Some(5), Some(35), Some(100)] {
            assert!(with(ok).normalized().is_ok(), "{ok:?}");
        }
        for bad in [0, 4, 101, 255] {
            assert_eq!(
                with(Some(bad)).normalized(),
                Err("aiReview.maxContextPercent must be a whole number from 5 to 100")
            );
        }
        // The org's share applies only when it is the lower.
        let policy = |p| AiReviewPolicy {
            allow_remote_model: true,
            max_context_percent: p,
        };
        assert!((policy(None).context_share(35) - 0.35).abs() < 1e-9);
        assert!((policy(Some(10)).context_share(35) - 0.10).abs() < 1e-9);
        assert!((policy(Some(60)).context_share(35) - 0.35).abs() < 1e-9);
    }

    #[test]
    fn a_policy_stored_before_the_ai_review_policy_reads_as_the_default() {
        let stored = r#"{"allowedSignInMethods":["sso"],"requireMfa":true}"#;
        let read: SecuritySettings = serde_json::from_str(stored).unwrap();
        assert_eq!(read.ai_review, AiReviewPolicy::default());
        assert!(read.ai_review.allow_remote_model);
    }

    #[test]
    fn settings_need_a_method() {
        assert!(policy(&[], false).normalized().is_err());
        let n = policy(
            &[SignInMethod::Sso, SignInMethod::Password, SignInMethod::Sso],
            true,
        )
        .normalized()
        .unwrap();
        assert_eq!(
            n.allowed_sign_in_methods,
            vec![SignInMethod::Password, SignInMethod::Sso]
        );
    }
}
