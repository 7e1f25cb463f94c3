//! Contract text bound for a model. It lives only as long as one review needs it: the memory is
//! zeroed when it is dropped, `Debug` and `Display` print `[redacted: N chars]`, and it implements no
//! `Serialize`, so the only way out is [`EphemeralText::expose_to_provider`], which the provider
//! adapters call while building their request (and rule-based code calls to read it in-process).

use std::fmt;

use secrecy::{ExposeSecret as _, SecretString};

/// Contract text handled ephemerally (see the module docs).
pub struct EphemeralText(SecretString);

impl EphemeralText {
    /// Takes ownership of `text`; its buffer is zeroed on drop.
    #[must_use]
    pub fn new(text: String) -> Self {
        Self(SecretString::from(text))
    }

    /// The text, for building a provider request or reading it in-process. Never log, store or put
    /// it in an error.
    #[must_use]
    pub fn expose_to_provider(&self) -> &str {
        self.0.expose_secret()
    }

    /// Its length in characters (safe to log).
    #[must_use]
    pub fn chars(&self) -> usize {
        self.0.expose_secret().chars().count()
    }

    /// Whether it is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.expose_secret().is_empty()
    }
}

impl From<String> for EphemeralText {
    fn from(text: String) -> Self {
        Self::new(text)
    }
}

impl From<&str> for EphemeralText {
    fn from(text: &str) -> Self {
        Self::new(text.to_owned())
    }
}

impl fmt::Debug for EphemeralText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[redacted: {} chars]", self.chars())
    }
}

impl fmt::Display for EphemeralText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_redacted() {
        let t = EphemeralText::from("CANARY-7f3a secret clause");
        assert_eq!(format!("{t:?}"), "[redacted: 25 chars]");
        assert_eq!(format!("{t}"), "[redacted: 25 chars]");
        assert!(!format!("{:#?}", vec![&t]).contains("CANARY"));
        assert_eq!(t.expose_to_provider(), "CANARY-7f3a secret clause");
    }

    /// A compile-time guard: the type must not be serialisable.
    #[test]
    fn is_not_serialize() {
        trait NotSerialize {
            const SERIALIZE: bool = false;
        }
        impl<T> NotSerialize for T {}
        struct Probe<T>(std::marker::PhantomData<T>);
        #[allow(dead_code)]
        impl<T: serde::Serialize> Probe<T> {
            const SERIALIZE: bool = true;
        }
        const SERIALIZABLE: bool = <Probe<EphemeralText>>::SERIALIZE;
        const { assert!(!SERIALIZABLE) };
        // And the probe does see serialisable types.
        const { assert!(<Probe<String>>::SERIALIZE) };
    }
}
