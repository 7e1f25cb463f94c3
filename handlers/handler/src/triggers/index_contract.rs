//! `index-contract`: the blob trigger on the `contracts` container (Event Grid source). It indexes the
//! landed contract at once (see [`crate::indexing`]), from the payload's copy of the bytes when the
//! blob is small enough, else through the storage port. A transient failure answers 500 so the host
//! redelivers (five times, then the poison queue); a document that cannot be indexed ends `failed`
//! and is acknowledged.

use bytes::Bytes;
use clment_common::domain::{ContractId, OrgId};

use super::invocation::{InvocationRequest, InvocationResponse, field, invalid};
use crate::http::reply::ApiError;
use crate::state::AppState;

/// The binding name in `functions/index-contract/function.json`.
pub const BINDING: &str = "blob";

/// Where a landed blob belongs.
#[derive(Debug, PartialEq, Eq)]
pub struct LandedBlob {
    /// Owning org (from the path, cross-checked with blob metadata).
    pub org: OrgId,
    /// The contract.
    pub contract: ContractId,
    /// Size in bytes, from the payload or the blob properties.
    pub size: Option<u64>,
    /// The bytes, when the payload carried them.
    pub content: Option<Bytes>,
}

/// Outcome of reading a payload.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// An original contract blob.
    Contract(LandedBlob),
    /// A blob in the container that is not an original (ignored, answered 2xx so it is not retried).
    Ignored(String),
}

fn blob_name(req: &InvocationRequest) -> Option<String> {
    if let Some(n) = req.meta_str("name") {
        return Some(n);
    }
    if let Some(n) = req.meta_str("BlobTrigger") {
        return Some(n.strip_prefix("contracts/").unwrap_or(&n).to_owned());
    }
    let uri = req.meta_str("Uri")?;
    let path = uri.split('?').next()?;
    path.split_once("/contracts/")
        .map(|(_, rest)| rest.to_owned())
}

/// Reads the invocation.
///
/// # Errors
/// 400 `invalid_invocation` when the payload cannot name a contract or contradicts itself.
pub fn parse(req: &InvocationRequest) -> Result<Parsed, ApiError> {
    let name = blob_name(req)
        .ok_or_else(|| invalid("Metadata has no blob name (name, BlobTrigger or Uri).".into()))?;
    let parts: Vec<&str> = name.split('/').collect();
    let [org, contract, "original"] = parts.as_slice() else {
        return Ok(Parsed::Ignored(format!(
            "blob {name} is not a contract original"
        )));
    };
    let org = OrgId::parse(org).map_err(|e| invalid(format!("blob path: {e}.")))?;
    let contract = ContractId::parse(contract).map_err(|e| invalid(format!("blob path: {e}.")))?;

    // The blob's own metadata, when present, must agree with its path.
    if let Some(user_meta) = req.meta_object("Metadata") {
        let check = |key: &str, expected: &str| -> Result<(), ApiError> {
            match field(&user_meta, key) {
                Some(serde_json::Value::String(v)) if v != expected => Err(invalid(format!(
                    "blob metadata {key} does not match the blob path."
                ))),
                _ => Ok(()),
            }
        };
        check("orgid", org.as_str())?;
        check("contractid", &contract.to_string())?;
    }

    let declared = req
        .meta_object("Properties")
        .and_then(|p| field(&p, "ContentLength"))
        .and_then(|v| v.as_u64());
    let content = req.binary(BINDING)?;
    if let (Some(bytes), Some(n)) = (&content, declared)
        && bytes.len() as u64 != n
    {
        return Err(invalid(format!(
            "Data.{BINDING} holds {} bytes but Properties.ContentLength says {n}.",
            bytes.len()
        )));
    }
    let size = content.as_ref().map(|b| b.len() as u64).or(declared);
    Ok(Parsed::Contract(LandedBlob {
        org,
        contract,
        size,
        content: content.map(Bytes::from),
    }))
}

/// Runs the trigger: index the contract, then acknowledge.
///
/// # Errors
/// 400 for a bad payload; 500 when indexing must be retried (the host redelivers).
pub async fn run(
    state: &AppState,
    req: &InvocationRequest,
) -> Result<InvocationResponse, ApiError> {
    match parse(req)? {
        Parsed::Ignored(why) => Ok(InvocationResponse {
            logs: vec![format!("ignored: {why}")],
            ..InvocationResponse::default()
        }),
        Parsed::Contract(blob) => {
            tracing::Span::current().record("org", blob.org.as_str());
            // Large blobs are read through the storage port rather than trusted from the payload.
            let content = blob
                .content
                .filter(|c| c.len() as u64 <= state.settings.indexing.inline_max_bytes);
            let outcome = crate::indexing::index_contract(state, &blob.org, blob.contract, content)
                .await
                .map_err(|e| ApiError::internal(&e))?;
            let log = outcome.describe(blob.contract);
            Ok(InvocationResponse {
                logs: vec![log],
                ..InvocationResponse::default()
            })
        }
    }
}
