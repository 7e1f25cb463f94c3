//! Extracted contract text in Blob Storage: the blob `{orgId}/{contractId}/text` in the same container
//! as the originals (`contracts`), holding the JSON of [`Extracted`] (`application/json`), with the
//! metadata `orgid` and `contractid` that originals carry.
//!
//! The name ends in `/text`, not `/original`, so neither the blob trigger (which fires only for
//! `.../original`) nor the reconciler's sweep of originals picks it up. The org in the name always
//! comes from the [`TenantScope`], so one org can never name another's text.
//!
//! `put_text` overwrites (an unconditional upload: re-extraction replaces the text), `get_text` is
//! `None` when the blob is missing, and `delete_text` is `false` when there was nothing to delete.
//! Contract text never appears in errors or logs. Authentication is whatever the caller passes, as for
//! [`crate::blob::BlobDocuments`]: production passes the managed-identity `TokenCredential`.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use azure_core::credentials::TokenCredential;
use azure_core::error::ErrorKind;
use azure_core::http::ClientOptions;
use azure_storage_blob::models::{BlockBlobClientUploadOptions, StorageErrorCode};
use azure_storage_blob::{BlobClient, BlobContainerClient};
use bytes::Bytes;
use clment_common::TenantScope;
use clment_common::domain::ContractId;
use clment_common::ports::{Extracted, PortError, TextStore};

const CONTENT_TYPE: &str = "application/json";

/// The text store could not be configured (a bad URL or container name).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("blob storage (text) configuration: {0}")]
pub struct TextConfigError(String);

/// The [`TextStore`] on Azure Blob Storage, next to the originals.
#[derive(Clone)]
pub struct BlobTexts {
    container: Arc<BlobContainerClient>,
}

impl std::fmt::Debug for BlobTexts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobTexts")
            .field("container", &self.container.url().as_str())
            .finish()
    }
}

impl BlobTexts {
    /// An adapter for `container` (usually [`crate::blob::DEFAULT_CONTAINER`], the originals'
    /// container) in the account at `service_url` (`https://<account>.blob.core.windows.net`, or
    /// Azurite's `http://127.0.0.1:<port>/devstoreaccount1`). Takes the same inputs as
    /// [`crate::blob::BlobDocuments::new`] and does no I/O.
    ///
    /// `credential` signs requests with Entra ID tokens (production: the function app's managed
    /// identity); the SDK requires `https` when one is given. `options` sets transport, retries and
    /// extra pipeline policies (tests use it to sign for the emulator).
    ///
    /// # Errors
    /// When the URL does not parse, the container name is empty or holds a `/`, or the SDK rejects
    /// the URL (for example a credential over `http`).
    pub fn new(
        service_url: &str,
        credential: Option<Arc<dyn TokenCredential>>,
        options: Option<ClientOptions>,
        container: &str,
    ) -> Result<Self, TextConfigError> {
        let container = crate::blob::container_client(service_url, credential, options, container)
            .map_err(TextConfigError)?;
        Ok(Self {
            container: Arc::new(container),
        })
    }

    /// The blob name of a contract's extracted text: `{orgId}/{contractId}/text`, derived from the
    /// scope and the id only.
    #[must_use]
    pub fn blob_name(scope: &TenantScope, id: ContractId) -> String {
        format!("{}/{id}/text", scope.org().as_str())
    }

    fn blob(&self, scope: &TenantScope, id: ContractId) -> BlobClient {
        self.container.blob_client(&Self::blob_name(scope, id))
    }
}

#[async_trait]
impl TextStore for BlobTexts {
    async fn put_text(
        &self,
        scope: &TenantScope,
        id: ContractId,
        text: &Extracted,
    ) -> Result<(), PortError> {
        let body = serde_json::to_vec(text)
            .map_err(|_| PortError::Unavailable("extracted text: cannot serialize".into()))?;
        let options = BlockBlobClientUploadOptions {
            blob_content_type: Some(CONTENT_TYPE.into()),
            metadata: Some(HashMap::from([
                ("orgid".to_owned(), scope.org().as_str().to_owned()),
                ("contractid".to_owned(), id.to_string()),
            ])),
            ..Default::default()
        };
        self.blob(scope, id)
            .block_blob_client()
            .upload(Bytes::from(body).into(), Some(options))
            .await
            .map(drop)
            .map_err(|e| unavailable(&e))
    }

    async fn get_text(
        &self,
        scope: &TenantScope,
        id: ContractId,
    ) -> Result<Option<Extracted>, PortError> {
        let response = match self.blob(scope, id).download(None).await {
            Ok(r) => r,
            Err(e) if is_not_found(&e) => return Ok(None),
            Err(e) => return Err(unavailable(&e)),
        };
        let bytes = response.body.collect().await.map_err(|e| unavailable(&e))?;
        // The serde error would quote the stored text: report the failure without it.
        let text = serde_json::from_slice::<Extracted>(&bytes).map_err(|_| {
            PortError::Unavailable("extracted text: the stored blob is not valid JSON".into())
        })?;
        Ok(Some(text))
    }

    async fn delete_text(&self, scope: &TenantScope, id: ContractId) -> Result<bool, PortError> {
        match self.blob(scope, id).delete(None).await {
            Ok(_) => Ok(true),
            Err(e) if is_not_found(&e) => Ok(false),
            Err(e) => Err(unavailable(&e)),
        }
    }
}

fn error_code(e: &azure_core::Error) -> Option<&str> {
    match e.kind() {
        ErrorKind::HttpResponse {
            error_code: Some(code),
            ..
        } => Some(code.as_str()),
        _ => None,
    }
}

/// The blob is missing. A 404 without an error code (a HEAD-style answer) counts too; a missing
/// container does not (that is a deployment fault, not a missing text).
fn is_not_found(e: &azure_core::Error) -> bool {
    match error_code(e) {
        Some(code) => code == StorageErrorCode::BlobNotFound.as_ref(),
        None => e.http_status().map(u16::from) == Some(404),
    }
}

fn unavailable(e: &azure_core::Error) -> PortError {
    let status = e.http_status().map(u16::from);
    match (status, error_code(e)) {
        (Some(s), Some(code)) => PortError::Unavailable(format!("blob storage (text): {s} {code}")),
        (Some(s), None) => PortError::Unavailable(format!("blob storage (text): HTTP {s}")),
        _ => PortError::Unavailable(format!("blob storage (text): {e}")),
    }
}
