//! The custom-handler invocation payloads (shared/reference/azure-platform.md section 1.4).
//!
//! Encoding traps handled here: string, URI and number metadata arrive JSON-encoded a second time
//! (`"\"acme/1/original\""`, `"1"`), binary data arrives base64, keys ending in `Trigger` are dropped
//! by the host, and names are matched case-insensitively as the host's JSON reader does.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use clment_common::problem::ErrorCode;
use http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use warp::reply::Response;

use crate::http::reply::{self, ApiError};

/// `{"Data": {...}, "Metadata": {...}}`.
#[derive(Debug, Default, Deserialize)]
pub struct InvocationRequest {
    /// Binding values by binding name.
    #[serde(default, alias = "data")]
    #[serde(rename = "Data")]
    pub data: Map<String, Value>,
    /// Trigger metadata.
    #[serde(default, alias = "metadata")]
    #[serde(rename = "Metadata")]
    pub metadata: Map<String, Value>,
}

/// `{"Outputs": {}, "Logs": [], "ReturnValue": null}`.
#[derive(Debug, Default, Serialize)]
pub struct InvocationResponse {
    /// Output bindings.
    #[serde(rename = "Outputs")]
    pub outputs: Map<String, Value>,
    /// Lines the host logs at Information level (ids only, never content).
    #[serde(rename = "Logs")]
    pub logs: Vec<String>,
    /// The `$return` binding.
    #[serde(rename = "ReturnValue")]
    pub return_value: Value,
}

impl InvocationResponse {
    /// A 200 `application/json` reply.
    #[must_use]
    pub fn into_response(self) -> Response {
        reply::json(StatusCode::OK, &self)
    }
}

fn lookup<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    map.get(key).or_else(|| {
        map.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

/// A value that may be JSON-encoded a second time: `"\"x\""` becomes `"x"`, `"1"` becomes `1`,
/// `"{...}"` becomes an object. Plain values come back unchanged.
#[must_use]
pub fn unwrap_double_encoded(v: &Value) -> Value {
    if let Value::String(s) = v {
        let t = s.trim_start();
        if (t.starts_with('"')
            || t.starts_with('{')
            || t.starts_with('[')
            || t.parse::<f64>().is_ok())
            && let Ok(inner) = serde_json::from_str::<Value>(s)
        {
            return inner;
        }
    }
    v.clone()
}

impl InvocationRequest {
    /// A metadata value, decoded from its double-encoded form when needed.
    #[must_use]
    pub fn meta(&self, key: &str) -> Option<Value> {
        lookup(&self.metadata, key).map(unwrap_double_encoded)
    }

    /// A metadata string (plain or double-encoded).
    #[must_use]
    pub fn meta_str(&self, key: &str) -> Option<String> {
        match self.meta(key)? {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// A metadata unsigned number (plain, as a string, or double-encoded).
    #[must_use]
    pub fn meta_u64(&self, key: &str) -> Option<u64> {
        match self.meta(key)? {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.parse().ok(),
            _ => None,
        }
    }

    /// A nested metadata object (`Properties`, `Metadata`, `sys`), decoded when it came as a string.
    #[must_use]
    pub fn meta_object(&self, key: &str) -> Option<Map<String, Value>> {
        match self.meta(key)? {
            Value::Object(m) => Some(m),
            _ => None,
        }
    }

    /// Binary binding data: base64 (the host's encoding for `byte[]`), or `None` when absent or null.
    ///
    /// # Errors
    /// 400 `invalid_invocation` when the value is neither base64 text nor null.
    pub fn binary(&self, binding: &str) -> Result<Option<Vec<u8>>, ApiError> {
        match lookup(&self.data, binding) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => {
                let s = unwrap_double_encoded(&Value::String(s.clone()));
                let Value::String(s) = s else {
                    return Err(invalid(format!("Data.{binding} is not base64 text.")));
                };
                STANDARD
                    .decode(s.as_bytes())
                    .map(Some)
                    .map_err(|_| invalid(format!("Data.{binding} is not valid base64.")))
            }
            Some(_) => Err(invalid(format!("Data.{binding} is not base64 text."))),
        }
    }
}

/// A 400 `invalid_invocation` problem.
#[must_use]
pub fn invalid(detail: String) -> ApiError {
    ApiError::new(ErrorCode::InvalidInvocation, detail)
}

/// Looks up a key in a nested object case-insensitively, decoding double-encoded values.
#[must_use]
pub fn field(map: &Map<String, Value>, key: &str) -> Option<Value> {
    lookup(map, key).map(unwrap_double_encoded)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn req(meta: Value) -> InvocationRequest {
        serde_json::from_value(json!({ "Data": {}, "Metadata": meta })).unwrap()
    }

    #[test]
    fn plain_and_double_encoded_metadata() {
        let r = req(json!({
            "name": "\"acme/1/original\"", "Uri": "\"https://x/contracts/acme/1/original\"",
            "DequeueCount": "1", "Count": 2, "Plain": "acme", "Properties": {"ContentLength": 5},
            "Nested": "{\"ContentLength\":7}"
        }));
        assert_eq!(r.meta_str("name").as_deref(), Some("acme/1/original"));
        assert_eq!(r.meta_str("NAME").as_deref(), Some("acme/1/original"));
        assert_eq!(
            r.meta_str("uri").as_deref(),
            Some("https://x/contracts/acme/1/original")
        );
        assert_eq!(r.meta_u64("DequeueCount"), Some(1));
        assert_eq!(r.meta_u64("Count"), Some(2));
        assert_eq!(r.meta_str("Plain").as_deref(), Some("acme"));
        assert_eq!(r.meta_object("Properties").unwrap()["ContentLength"], 5);
        assert_eq!(r.meta_object("Nested").unwrap()["ContentLength"], 7);
        assert_eq!(r.meta_str("missing"), None);
    }

    proptest! {
        // Whatever string a value holds, its double-encoded form decodes back to it.
        #[test]
        fn double_encoding_round_trips(s in "\\PC{0,40}") {
            let once = Value::String(s.clone());
            let twice = Value::String(serde_json::to_string(&s).unwrap());
            prop_assert_eq!(unwrap_double_encoded(&twice), once);
        }
    }
}
