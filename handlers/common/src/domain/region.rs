use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A regional plane. Each organisation has exactly one home region, and its data never leaves it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Region {
    /// United States.
    Us,
    /// European Union.
    Eu,
    /// Australia.
    Au,
}

/// The value is not one of `us`, `eu`, `au`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("region must be one of us, eu, au")]
pub struct RegionError;

impl Region {
    /// Every region.
    pub const ALL: [Self; 3] = [Self::Us, Self::Eu, Self::Au];

    /// The lowercase code.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Us => "us",
            Self::Eu => "eu",
            Self::Au => "au",
        }
    }
}

impl FromStr for Region {
    type Err = RegionError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "us" => Ok(Self::Us),
            "eu" => Ok(Self::Eu),
            "au" => Ok(Self::Au),
            _ => Err(RegionError),
        }
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
