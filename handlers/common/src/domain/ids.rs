use std::fmt;

use serde::{Deserialize, Serialize};

/// Why an identifier was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The value was empty.
    #[error("{kind} is empty")]
    Empty {
        /// Which identifier.
        kind: &'static str,
    },
    /// The value was longer than allowed.
    #[error("{kind} is longer than {max} characters")]
    TooLong {
        /// Which identifier.
        kind: &'static str,
        /// The limit.
        max: usize,
    },
    /// The value held a character outside the allowed set.
    #[error("{kind} may only contain {allowed}")]
    BadCharacter {
        /// Which identifier.
        kind: &'static str,
        /// Human description of the allowed set.
        allowed: &'static str,
    },
}

fn check_token(kind: &'static str, value: &str, max: usize) -> Result<(), IdError> {
    if value.is_empty() {
        return Err(IdError::Empty { kind });
    }
    if value.len() > max {
        return Err(IdError::TooLong { kind, max });
    }
    if !value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(IdError::BadCharacter {
            kind,
            allowed: "ASCII letters, digits, '-' and '_'",
        });
    }
    Ok(())
}

/// An organisation (tenant) id as issued by the identity server: 1 to 64 characters of
/// `[A-Za-z0-9_-]`, so it is safe as a blob path segment, a partition key and a log field.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct OrgId(String);

impl OrgId {
    /// Longest accepted org id.
    pub const MAX_LEN: usize = 64;

    /// Parses an org id.
    ///
    /// # Errors
    /// [`IdError`] when the value is empty, too long or holds other characters.
    pub fn parse(value: &str) -> Result<Self, IdError> {
        check_token("org id", value, Self::MAX_LEN)?;
        Ok(Self(value.to_owned()))
    }

    /// The id as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for OrgId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for OrgId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for OrgId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OrgId({})", self.0)
    }
}

/// A user id (the token's `sub`): 1 to 128 printable ASCII characters without spaces.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct UserId(String);

impl UserId {
    /// Longest accepted user id.
    pub const MAX_LEN: usize = 128;

    /// Parses a user id.
    ///
    /// # Errors
    /// [`IdError`] when the value is empty, too long or not printable ASCII.
    pub fn parse(value: &str) -> Result<Self, IdError> {
        if value.is_empty() {
            return Err(IdError::Empty { kind: "user id" });
        }
        if value.len() > Self::MAX_LEN {
            return Err(IdError::TooLong {
                kind: "user id",
                max: Self::MAX_LEN,
            });
        }
        if !value.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(IdError::BadCharacter {
                kind: "user id",
                allowed: "printable ASCII without spaces",
            });
        }
        Ok(Self(value.to_owned()))
    }

    /// The id as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for UserId {
    type Error = IdError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<UserId> for String {
    fn from(value: UserId) -> Self {
        value.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UserId({})", self.0)
    }
}

/// A contract id: a UUID (v7 when we mint it, so ids sort by creation time).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ContractId(uuid::Uuid);

impl ContractId {
    /// A new, time-ordered id.
    #[must_use]
    pub fn new() -> Self {
        Self(uuid::Uuid::now_v7())
    }

    /// Parses the hyphenated UUID form.
    ///
    /// # Errors
    /// [`IdError::BadCharacter`] when the value is not a UUID.
    pub fn parse(value: &str) -> Result<Self, IdError> {
        if value.len() != 36 {
            return Err(IdError::BadCharacter {
                kind: "contract id",
                allowed: "a hyphenated UUID",
            });
        }
        uuid::Uuid::parse_str(value)
            .map(Self)
            .map_err(|_| IdError::BadCharacter {
                kind: "contract id",
                allowed: "a hyphenated UUID",
            })
    }
}

impl ContractId {
    /// The id as a 128-bit number (storage keys; sorts like the UUID).
    #[must_use]
    pub fn as_u128(self) -> u128 {
        self.0.as_u128()
    }

    /// From the 128-bit form.
    #[must_use]
    pub fn from_u128(v: u128) -> Self {
        Self(uuid::Uuid::from_u128(v))
    }
}

impl Default for ContractId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for ContractId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

impl fmt::Debug for ContractId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ContractId({})", self.0.hyphenated())
    }
}

/// A review id: a UUID v7 (sorts by creation time).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ReviewId(uuid::Uuid);

impl ReviewId {
    /// A new, time-ordered id.
    #[must_use]
    pub fn new() -> Self {
        Self(uuid::Uuid::now_v7())
    }

    /// Parses the hyphenated UUID form.
    ///
    /// # Errors
    /// [`IdError::BadCharacter`] when the value is not a UUID.
    pub fn parse(value: &str) -> Result<Self, IdError> {
        let bad = || IdError::BadCharacter {
            kind: "review id",
            allowed: "a hyphenated UUID",
        };
        if value.len() != 36 {
            return Err(bad());
        }
        uuid::Uuid::parse_str(value).map(Self).map_err(|_| bad())
    }

    /// The id as a 128-bit number (storage keys; sorts like the UUID).
    #[must_use]
    pub fn as_u128(self) -> u128 {
        self.0.as_u128()
    }

    /// From the 128-bit form.
    #[must_use]
    pub fn from_u128(v: u128) -> Self {
        Self(uuid::Uuid::from_u128(v))
    }
}

impl Default for ReviewId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for ReviewId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

impl fmt::Debug for ReviewId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ReviewId({})", self.0.hyphenated())
    }
}

/// A request id: taken from `x-request-id` when it is 1 to 128 characters of
/// `[A-Za-z0-9._:-]`, otherwise freshly generated, so it is always safe to log and echo.
#[derive(Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct RequestId(String);

impl RequestId {
    /// Longest accepted caller-supplied request id.
    pub const MAX_LEN: usize = 128;

    /// Uses the caller's id when it is well-formed, else a new one.
    #[must_use]
    pub fn from_header_or_new(header: Option<&str>) -> Self {
        header
            .filter(|v| {
                !v.is_empty()
                    && v.len() <= Self::MAX_LEN
                    && v.bytes().all(|b| {
                        b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-')
                    })
            })
            .map_or_else(Self::new, |v| Self(v.to_owned()))
    }

    /// A new random id.
    #[must_use]
    pub fn new() -> Self {
        Self(uuid::Uuid::new_v4().simple().to_string())
    }

    /// The id as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for RequestId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RequestId({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn org_ids() {
        assert!(OrgId::parse("acme").is_ok());
        assert!(OrgId::parse("acme-EU_2").is_ok());
        assert_eq!(OrgId::parse(""), Err(IdError::Empty { kind: "org id" }));
        assert!(OrgId::parse("../etc").is_err());
        assert!(OrgId::parse("a/b").is_err());
        assert!(OrgId::parse(&"a".repeat(65)).is_err());
        assert!(serde_json::from_str::<OrgId>("\"a b\"").is_err());
    }

    #[test]
    fn request_ids_are_taken_only_when_safe() {
        assert_eq!(
            RequestId::from_header_or_new(Some("abc-123")).as_str(),
            "abc-123"
        );
        let generated = RequestId::from_header_or_new(Some("bad\nid"));
        assert_ne!(generated.as_str(), "bad\nid");
        assert_eq!(generated.as_str().len(), 32);
        assert_ne!(
            RequestId::from_header_or_new(Some(&"x".repeat(129)))
                .as_str()
                .len(),
            129
        );
    }

    proptest! {
        #[test]
        fn org_id_round_trips_or_refuses(s in "\\PC{0,80}") {
            match OrgId::parse(&s) {
                Ok(id) => {
                    prop_assert_eq!(id.as_str(), s.as_str());
                    let json = serde_json::to_string(&id).unwrap();
                    prop_assert_eq!(serde_json::from_str::<OrgId>(&json).unwrap(), id);
                }
                Err(_) => prop_assert!(s.is_empty() || s.len() > 64 || s.bytes().any(|b| !(b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))),
            }
        }

        #[test]
        fn request_ids_are_always_safe(s in "\\PC{0,200}") {
            let id = RequestId::from_header_or_new(Some(&s));
            prop_assert!(id.as_str().len() <= RequestId::MAX_LEN);
            prop_assert!(id.as_str().bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-')));
        }

        #[test]
        fn contract_ids_round_trip(_x in 0u8..8) {
            let id = ContractId::new();
            prop_assert_eq!(ContractId::parse(&id.to_string()).unwrap(), id);
        }
    }
}
