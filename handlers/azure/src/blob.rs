//! Contract originals in Blob Storage: container `contracts`, blob `{orgId}/{contractId}/original`,
//! with metadata `orgid` and `contractid`.
//!
//! Writes stream: bytes are gathered into blocks of [`BLOCK_SIZE`] and each full block is staged
//! (Put Block) as soon as it is complete, so a writer holds at most one block in memory. `commit`
//! then puts the block list with `If-None-Match: *` (a conditional create: an existing original
//! wins and the writer gets [`PortError::Conflict`]). An original no larger than one block is sent
//! in a single conditional Put Blob instead. Staged but uncommitted blocks are never visible; the
//! service discards them when another block list is committed for that name, or after 7 days, so
//! `abort` (or dropping the writer) only has to forget them.
//!
//! Reads stream too: a download in ranges of one block, one range fetched ahead, pinned to the
//! blob's ETag so a concurrent change fails the read instead of mixing versions.
//!
//! Authentication is whatever the caller passes: production passes a managed-identity
//! `TokenCredential` (Entra ID); nothing here holds a secret. SDK errors become [`PortError`]s.

use std::collections::HashMap;
use std::num::NonZero;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use async_trait::async_trait;
use azure_core::credentials::TokenCredential;
use azure_core::error::ErrorKind;
use azure_core::http::{ClientOptions, RequestContent, StatusCode, Url};
use azure_storage_blob::models::{
    BlobClientDownloadOptions, BlobContainerClientListBlobsOptions, BlobItem,
    BlockBlobClientCommitBlockListOptions, BlockBlobClientUploadOptions, BlockLookupList,
    ListBlobsIncludeItem, StorageErrorCode,
};
use azure_storage_blob::{BlobContainerClient, BlobContainerClientOptions, BlockBlobClient};
use bytes::{Bytes, BytesMut};
use clment_common::TenantScope;
use clment_common::domain::{ContractId, OrgId};
use clment_common::ports::{
    ByteStream, DocumentStore, DocumentWriter, HealthCheck, PortError, StoredBlob, SweepPage,
};
use futures_util::{Stream, StreamExt as _, TryStreamExt as _};

/// Most blobs one List Blobs call returns (the service's own cap).
const MAX_LIST_RESULTS: usize = 5000;

/// The container that holds contract originals.
pub const DEFAULT_CONTAINER: &str = "contracts";

/// Size of a staged block and of a download range (4 MiB).
pub const BLOCK_SIZE: usize = 4 * 1024 * 1024;

const CONTENT_TYPE: &str = "application/octet-stream";

/// The adapter could not be configured (a bad URL or container name).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("blob storage configuration: {0}")]
pub struct BlobConfigError(pub(crate) String);

/// A client for `container` in the account at `service_url` (shared by the originals and the
/// extracted texts, which live side by side).
pub(crate) fn container_client(
    service_url: &str,
    credential: Option<Arc<dyn TokenCredential>>,
    options: Option<ClientOptions>,
    container: &str,
) -> Result<BlobContainerClient, String> {
    if container.is_empty() || container.contains('/') {
        return Err(format!("bad container name {container:?}"));
    }
    let mut url =
        Url::parse(service_url).map_err(|e| format!("service URL {service_url:?}: {e}"))?;
    url.path_segments_mut()
        .map_err(|()| format!("service URL {service_url:?} is not a base"))?
        .pop_if_empty()
        .push(container);
    let options = BlobContainerClientOptions {
        client_options: options.unwrap_or_default(),
        ..Default::default()
    };
    BlobContainerClient::new(url, credential, Some(options)).map_err(|e| e.to_string())
}

/// The [`DocumentStore`] on Azure Blob Storage.
#[derive(Clone)]
pub struct BlobDocuments {
    container: Arc<BlobContainerClient>,
}

impl std::fmt::Debug for BlobDocuments {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobDocuments")
            .field("container", &self.container.url().as_str())
            .finish()
    }
}

impl BlobDocuments {
    /// An adapter for `container` (usually [`DEFAULT_CONTAINER`]) in the account at `service_url`
    /// (`https://<account>.blob.core.windows.net`, or Azurite's
    /// `http://127.0.0.1:<port>/devstoreaccount1`).
    ///
    /// `credential` signs requests with Entra ID tokens (production: the function app's managed
    /// identity); the SDK requires `https` when one is given. `options` sets transport, retries
    /// and extra pipeline policies (tests use it to sign for the emulator).
    ///
    /// # Errors
    /// When the URL does not parse or the SDK rejects it (for example a credential over `http`).
    pub fn new(
        service_url: &str,
        credential: Option<Arc<dyn TokenCredential>>,
        options: Option<ClientOptions>,
        container: &str,
    ) -> Result<Self, BlobConfigError> {
        let container = container_client(service_url, credential, options, container)
            .map_err(BlobConfigError)?;
        Ok(Self {
            container: Arc::new(container),
        })
    }

    /// The blob name of a contract's original: `{orgId}/{contractId}/original`, derived from
    /// the scope and the id only.
    #[must_use]
    pub fn blob_name(scope: &TenantScope, id: ContractId) -> String {
        format!("{}/{id}/original", scope.org().as_str())
    }

    /// Creates the container when it is missing (development and tests; production provisions it
    /// in infrastructure, and its identity may not be allowed to create containers).
    ///
    /// # Errors
    /// [`PortError::Unavailable`] when the service refuses or cannot be reached.
    pub async fn ensure_container(&self) -> Result<(), PortError> {
        ensure_container(&self.container).await
    }

    /// Checks that the container answers (Get Container Properties).
    ///
    /// # Errors
    /// [`PortError::Unavailable`] with an operator-facing reason.
    pub async fn health(&self) -> Result<(), PortError> {
        match self.container.get_properties(None).await {
            Ok(_) => Ok(()),
            Err(e) if has_code(&e, &StorageErrorCode::ContainerNotFound) => Err(
                PortError::Unavailable("the blob container does not exist".into()),
            ),
            Err(e) => Err(unavailable(&e)),
        }
    }

    fn block_blob(&self, scope: &TenantScope, id: ContractId) -> BlockBlobClient {
        self.container
            .blob_client(&Self::blob_name(scope, id))
            .block_blob_client()
    }
}

#[async_trait]
impl DocumentStore for BlobDocuments {
    async fn begin(
        &self,
        scope: &TenantScope,
        id: ContractId,
    ) -> Result<Box<dyn DocumentWriter>, PortError> {
        let metadata = HashMap::from([
            ("orgid".to_owned(), scope.org().as_str().to_owned()),
            ("contractid".to_owned(), id.to_string()),
        ]);
        Ok(Box::new(BlobWriter {
            client: self.block_blob(scope, id),
            metadata,
            buf: BytesMut::new(),
            blocks: Vec::new(),
            size: 0,
            failed: None,
        }))
    }

    async fn open(
        &self,
        scope: &TenantScope,
        id: ContractId,
    ) -> Result<Option<ByteStream>, PortError> {
        let blob = self.container.blob_client(&Self::blob_name(scope, id));
        let options = BlobClientDownloadOptions {
            parallel: NonZero::new(2),
            partition_size: NonZero::new(BLOCK_SIZE),
            ..Default::default()
        };
        match blob.download(Some(options)).await {
            Ok(r) => {
                let body = r.body.map(|chunk| chunk.map_err(std::io::Error::other));
                Ok(Some(Box::pin(SyncStream(Mutex::new(body)))))
            }
            Err(e) if has_code(&e, &StorageErrorCode::BlobNotFound) => Ok(None),
            Err(e) => Err(unavailable(&e)),
        }
    }

    async fn delete(&self, scope: &TenantScope, id: ContractId) -> Result<bool, PortError> {
        let blob = self.container.blob_client(&Self::blob_name(scope, id));
        match blob.delete(None).await {
            Ok(_) => Ok(true),
            Err(e) if has_code(&e, &StorageErrorCode::BlobNotFound) => Ok(false),
            Err(e) => Err(unavailable(&e)),
        }
    }

    async fn sweep(&self, after: Option<String>, limit: usize) -> Result<SweepPage, PortError> {
        // One List Blobs call over the whole container (no prefix), with metadata; `after` is the
        // service's own NextMarker.
        let options = BlobContainerClientListBlobsOptions {
            include: Some(vec![ListBlobsIncludeItem::Metadata]),
            marker: after,
            maxresults: i32::try_from(limit.clamp(1, MAX_LIST_RESULTS)).ok(),
            ..Default::default()
        };
        let mut pages = self
            .container
            .list_blobs(Some(options))
            .map_err(|e| unavailable(&e))?
            .into_pages();
        let Some(page) = pages.try_next().await.map_err(|e| unavailable(&e))? else {
            return Ok(SweepPage::default());
        };
        let page = page.into_model().map_err(|e| unavailable(&e))?;
        let blobs = page.blob_items.iter().filter_map(stored_blob).collect();
        let next = page.next_marker.filter(|m| !m.is_empty());
        Ok(SweepPage { blobs, next })
    }
}

/// A listed blob as a contract original: its name must be the canonical `{orgId}/{contractId}/original`
/// and its `orgid` / `contractid` metadata must agree. Anything else is skipped and logged (by name).
fn stored_blob(item: &BlobItem) -> Option<StoredBlob> {
    let name = item.name.as_deref().unwrap_or_default();
    // Extracted texts live beside the originals (`{orgId}/{contractId}/text`): expected, not logged.
    if name.ends_with("/text") {
        return None;
    }
    let parsed = name
        .strip_suffix("/original")
        .and_then(|rest| rest.split_once('/'))
        .and_then(|(org, id)| Some((OrgId::parse(org).ok()?, ContractId::parse(id).ok()?)))
        .filter(|(org, id)| format!("{org}/{id}/original") == name);
    let Some((org, id)) = parsed else {
        tracing::warn!(name = %name, "sweep: skipping a blob that is not a contract original");
        return None;
    };
    let meta = |key: &str| {
        item.metadata
            .as_ref()
            .and_then(|m| m.values.as_ref())
            .and_then(|v| {
                v.iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(key))
                    .map(|(_, v)| v.as_str())
            })
    };
    if meta("orgid") != Some(org.as_str()) || meta("contractid") != Some(id.to_string().as_str()) {
        tracing::warn!(name = %name, "sweep: skipping a blob whose metadata does not match its name");
        return None;
    }
    let Some(last_modified) = item.properties.as_ref().and_then(|p| p.last_modified) else {
        tracing::warn!(name = %name, "sweep: skipping a blob listed without its last-modified time");
        return None;
    };
    Some(StoredBlob {
        org,
        id,
        last_modified,
    })
}

#[async_trait]
impl HealthCheck for BlobDocuments {
    fn name(&self) -> &'static str {
        "blob-storage"
    }

    async fn probe(&self) -> Result<(), String> {
        self.health().await.map_err(|e| e.to_string())
    }
}

/// An original being written: the current partial block plus the ids of the staged ones.
struct BlobWriter {
    client: BlockBlobClient,
    metadata: HashMap<String, String>,
    buf: BytesMut,
    /// Staged block ids, in order. All ids of a blob must have the same length: UUIDs (16 bytes).
    blocks: Vec<[u8; 16]>,
    size: u64,
    /// Set when staging failed: the writer can only be aborted then.
    failed: Option<PortError>,
}

impl BlobWriter {
    async fn stage(&mut self, block: Bytes) -> Result<(), PortError> {
        let id = *uuid::Uuid::new_v4().as_bytes();
        let len = block.len() as u64;
        self.client
            .stage_block(&id, len, block.into(), None)
            .await
            .map_err(|e| unavailable(&e))?;
        self.blocks.push(id);
        Ok(())
    }
}

#[async_trait]
impl DocumentWriter for BlobWriter {
    async fn write(&mut self, mut chunk: &[u8]) -> Result<(), PortError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        self.size += chunk.len() as u64;
        while !chunk.is_empty() {
            if self.buf.capacity() == 0 {
                self.buf.reserve(BLOCK_SIZE);
            }
            let take = chunk.len().min(BLOCK_SIZE - self.buf.len());
            self.buf.extend_from_slice(&chunk[..take]);
            chunk = &chunk[take..];
            if self.buf.len() == BLOCK_SIZE {
                let block = std::mem::take(&mut self.buf).freeze();
                if let Err(e) = self.stage(block).await {
                    self.failed = Some(e.clone());
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    async fn commit(mut self: Box<Self>) -> Result<u64, PortError> {
        if let Some(e) = self.failed.take() {
            return Err(e);
        }
        let rest = std::mem::take(&mut self.buf).freeze();
        let result = if self.blocks.is_empty() {
            // Small original: one conditional Put Blob.
            let options = BlockBlobClientUploadOptions {
                blob_content_type: Some(CONTENT_TYPE.into()),
                metadata: Some(self.metadata.clone()),
                if_none_match: Some("*".into()),
                ..Default::default()
            };
            self.client
                .upload(rest.into(), Some(options))
                .await
                .map(drop)
        } else {
            if !rest.is_empty() {
                self.stage(rest).await?;
            }
            let list = BlockLookupList {
                latest: Some(self.blocks.iter().map(|b| b.to_vec()).collect()),
                ..Default::default()
            };
            let options = BlockBlobClientCommitBlockListOptions {
                blob_content_type: Some(CONTENT_TYPE.into()),
                metadata: Some(self.metadata.clone()),
                if_none_match: Some("*".into()),
                ..Default::default()
            };
            match RequestContent::try_from(list) {
                Ok(list) => self
                    .client
                    .commit_block_list(list, Some(options))
                    .await
                    .map(drop),
                Err(e) => Err(e),
            }
        };
        match result {
            Ok(()) => Ok(self.size),
            Err(e) if is_conflict(&e) => Err(PortError::Conflict(
                "the contract's original already exists".into(),
            )),
            Err(e) => Err(unavailable(&e)),
        }
    }

    async fn abort(self: Box<Self>) {
        // Nothing was committed; the staged blocks are never visible and the service drops
        // uncommitted blocks after 7 days (or when a block list is committed under this name).
    }
}

/// Makes a `Send` stream `Sync` (the SDK's body stream is only `Send`): polling needs `&mut`,
/// which reaches the inner stream through [`Mutex::get_mut`] without locking.
struct SyncStream<S>(Mutex<S>);

impl<S: Stream + Unpin> Stream for SyncStream<S> {
    type Item = S::Item;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        let inner = self
            .get_mut()
            .0
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        Pin::new(inner).poll_next(cx)
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

/// Creates `container` when it is missing.
pub(crate) async fn ensure_container(container: &BlobContainerClient) -> Result<(), PortError> {
    match container.create(None).await {
        Ok(_) => Ok(()),
        Err(e) if has_code(&e, &StorageErrorCode::ContainerAlreadyExists) => Ok(()),
        Err(e) => Err(unavailable(&e)),
    }
}

pub(crate) fn has_code(e: &azure_core::Error, code: &StorageErrorCode) -> bool {
    error_code(e) == Some(code.as_ref())
}

pub(crate) fn is_conflict(e: &azure_core::Error) -> bool {
    has_code(e, &StorageErrorCode::BlobAlreadyExists)
        || matches!(
            e.http_status(),
            Some(StatusCode::Conflict | StatusCode::PreconditionFailed)
        )
}

pub(crate) fn unavailable(e: &azure_core::Error) -> PortError {
    let status = e.http_status().map(u16::from);
    match (status, error_code(e)) {
        (Some(s), Some(code)) => PortError::Unavailable(format!("blob storage: {s} {code}")),
        (Some(s), None) => PortError::Unavailable(format!("blob storage: HTTP {s}")),
        _ => PortError::Unavailable(format!("blob storage: {e}")),
    }
}
