//! Request bodies, read with limits: the declared length is checked before reading, and the
//! running total while reading, so an oversized body is refused without being read to the end.

use std::pin::Pin;

use bytes::{Bytes, BytesMut};
use clment_common::problem::ErrorCode;
use futures_util::{Stream, StreamExt};
use http::HeaderMap;
use http::header;
use serde::de::DeserializeOwned;

use super::reply::ApiError;

/// A request body as it arrives.
pub type BodyStream = Pin<Box<dyn Stream<Item = Result<Bytes, warp::Error>> + Send>>;

/// Whether the request declares a JSON media type (`application/json` or `application/*+json`).
#[must_use]
pub fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .is_some_and(|v| {
            v == "application/json" || (v.starts_with("application/") && v.ends_with("+json"))
        })
}

/// Reads the whole body, refusing it with 413 once it passes `limit` bytes.
///
/// # Errors
/// 413 `payload_too_large`, or 400 when the connection breaks mid-body.
pub async fn read_limited(
    headers: &HeaderMap,
    mut body: BodyStream,
    limit: usize,
) -> Result<Bytes, ApiError> {
    let too_large = || {
        ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!("The request body is larger than the {limit} bytes this route accepts."),
        )
        .with("maxBytes", limit)
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let mut buf = BytesMut::with_capacity(
        declared
            .map_or(8 * 1024, |n| usize::try_from(n).unwrap_or(limit))
            .min(limit),
    );
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|_| {
            ApiError::new(ErrorCode::InvalidRequest, "The request body was cut off.")
        })?;
        if buf.len() + chunk.len() > limit {
            return Err(too_large());
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

/// Reads a JSON body of at most `limit` bytes into `T`.
///
/// # Errors
/// 415 when the media type is not JSON, 413 when too large, 400 `malformed_json` when the body is not
/// JSON or not of the expected shape (the detail says where, without echoing the body).
pub async fn read_json<T: DeserializeOwned>(
    headers: &HeaderMap,
    body: BodyStream,
    limit: usize,
) -> Result<T, ApiError> {
    if !is_json(headers) {
        return Err(ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "This route takes a JSON body: send Content-Type: application/json.",
        )
        .with("accepted", vec!["application/json"]));
    }
    let bytes = read_limited(headers, body, limit).await?;
    parse_json(&bytes)
}

/// Parses JSON with a detail that names the position and the kind of problem, not the content.
///
/// # Errors
/// 400 `malformed_json`.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| {
        use serde_json::error::Category;
        let what = match e.classify() {
            Category::Eof if bytes.is_empty() => {
                "The body is empty; a JSON document is required.".to_owned()
            }
            Category::Eof => "The JSON body ends too early.".to_owned(),
            Category::Syntax | Category::Io => {
                format!(
                    "The body is not valid JSON (line {}, column {}).",
                    e.line(),
                    e.column()
                )
            }
            Category::Data => format!(
                "The JSON body does not have the expected shape (line {}, column {}): {}.",
                e.line(),
                e.column(),
                shape_message(&e.to_string())
            ),
        };
        ApiError::new(ErrorCode::MalformedJson, what)
    })
}

/// serde's message without the position suffix and without quoted values (which would echo input).
fn shape_message(msg: &str) -> String {
    let msg = msg.split(" at line ").next().unwrap_or(msg);
    let mut out = String::with_capacity(msg.len());
    let mut in_quote = false;
    for c in msg.chars() {
        match c {
            '"' if !in_quote => {
                in_quote = true;
                out.push_str("\"…\"");
            }
            '"' => in_quote = false,
            _ if in_quote => {}
            _ => out.push(c),
        }
    }
    // Field names are ours and safe to show; serde writes them in backticks.
    out.chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct T {
        a: u32,
    }

    #[test]
    fn shape_errors_do_not_echo_values() {
        let e = parse_json::<T>(br#"{"a":"CANARY-SECRET"}"#).unwrap_err();
        assert_eq!(e.code(), ErrorCode::MalformedJson);
        assert!(!format!("{e:?}").contains("CANARY-SECRET"));
        let e = parse_json::<T>(br#"{"b":1}"#).unwrap_err();
        assert!(format!("{e:?}").contains("missing field `a`"));
    }
}
