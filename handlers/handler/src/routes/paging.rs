//! Newest-first lists keyed by time-ordered ids (contracts, reviews): `limit` and an opaque
//! `continuation` (the last id of the previous page, base64url), parsed and issued in one place.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clment_common::problem::ErrorCode;
use serde::Deserialize;

use crate::http::reply::ApiError;

/// Most items per page.
pub const MAX_LIMIT: usize = 100;
/// Items per page by default.
pub const DEFAULT_LIMIT: usize = 25;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    limit: Option<usize>,
    continuation: Option<String>,
}

/// A page request: how many, and after which id (its 128-bit form).
#[derive(Debug, PartialEq, Eq)]
pub struct PageRequest {
    /// Items wanted (1 to [`MAX_LIMIT`]).
    pub limit: usize,
    /// The previous page's last id.
    pub after: Option<u128>,
}

impl PageRequest {
    /// Parses `limit` and `continuation` from a query string.
    ///
    /// # Errors
    /// 400 `invalid_query` naming the bad parameter.
    pub fn parse(query: &str) -> Result<Self, ApiError> {
        let q: ListQuery = serde_urlencoded::from_str(query).map_err(|_| {
            ApiError::new(
                ErrorCode::InvalidQuery,
                "Query: `limit` (1-100) and `continuation` only.",
            )
        })?;
        let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(ApiError::new(ErrorCode::InvalidQuery, "limit: 1 to 100."));
        }
        let after = q
            .continuation
            .map(|c| {
                URL_SAFE_NO_PAD
                    .decode(c.as_bytes())
                    .ok()
                    .and_then(|b| <[u8; 16]>::try_from(b).ok())
                    .map(u128::from_be_bytes)
                    .ok_or_else(|| {
                        ApiError::new(
                            ErrorCode::InvalidQuery,
                            "continuation: not one this API issued.",
                        )
                    })
            })
            .transpose()?;
        Ok(Self { limit, after })
    }

    /// Cuts `items` (fetched with `limit + 1`) to the page and issues the continuation when more follow.
    pub fn finish<T>(
        &self,
        mut items: Vec<T>,
        id: impl Fn(&T) -> u128,
    ) -> (Vec<T>, Option<String>) {
        let more = items.len() > self.limit;
        items.truncate(self.limit);
        let continuation = more
            .then(|| {
                items
                    .last()
                    .map(|r| URL_SAFE_NO_PAD.encode(id(r).to_be_bytes()))
            })
            .flatten();
        (items, continuation)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_parse_and_continue() {
        assert_eq!(
            PageRequest::parse("").unwrap(),
            PageRequest {
                limit: 25,
                after: None
            }
        );
        let p = PageRequest::parse("limit=2").unwrap();
        let (items, next) = p.finish(vec![9u128, 8, 7], |x| *x);
        assert_eq!(items, [9, 8]);
        let next = PageRequest::parse(&format!("limit=2&continuation={}", next.unwrap())).unwrap();
        assert_eq!(next.after, Some(8));
        assert_eq!(p.finish(vec![1u128, 2], |x| *x).1, None);
        for bad in [
            "limit=0",
            "limit=101",
            "continuation=zz",
            "sort=asc",
            "limit=x",
        ] {
            assert!(PageRequest::parse(bad).is_err(), "{bad}");
        }
    }
}
