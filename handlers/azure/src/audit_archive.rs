//! [`AuditArchive`] on Blob Storage: the 90-day second copy of every org's audit trail.
//!
//! Container `audit-archive` in the plane's data account (the infrastructure creates it, keeps
//! versions and soft deletes, and deletes objects 90 days after creation). One block blob per run and
//! org, `{orgId}/{first:020}-{last:020}.ndjson`: zero-padded sequence numbers, so names sort by
//! position in the chain and the newest name says how far the archive reaches. Written with
//! `If-None-Match: *`, so nothing is ever overwritten.

use std::sync::Arc;

use async_trait::async_trait;
use azure_core::credentials::TokenCredential;
use azure_core::http::ClientOptions;
use azure_storage_blob::BlobContainerClient;
use azure_storage_blob::models::{
    BlobContainerClientListBlobsOptions, BlockBlobClientUploadOptions, StorageErrorCode,
};
use clment_common::TenantScope;
use clment_common::ports::{AuditArchive, PortError};
use futures_util::TryStreamExt as _;

use crate::blob::{BlobConfigError, container_client, has_code, is_conflict, unavailable};

/// The container that holds the archive.
pub const ARCHIVE_CONTAINER: &str = "audit-archive";

const CONTENT_TYPE: &str = "application/x-ndjson";

/// The audit archive on Azure Blob Storage.
#[derive(Clone)]
pub struct BlobAuditArchive {
    container: Arc<BlobContainerClient>,
}

impl std::fmt::Debug for BlobAuditArchive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobAuditArchive")
            .field("container", &self.container.url().as_str())
            .finish()
    }
}

/// `{first:020}-{last:020}.ndjson` -> `(first, last)`.
fn range_of(file: &str) -> Option<(u64, u64)> {
    let (first, last) = file.strip_suffix(".ndjson")?.split_once('-')?;
    if first.len() != 20 || last.len() != 20 {
        return None;
    }
    Some((first.parse().ok()?, last.parse().ok()?))
}

impl BlobAuditArchive {
    /// An archive in `container` (usually [`ARCHIVE_CONTAINER`]) of the account at `service_url`;
    /// `credential` and `options` as for [`crate::blob::BlobDocuments::new`].
    ///
    /// # Errors
    /// When the URL does not parse or the SDK rejects it.
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

    /// The blob name of an object: derived from the scope and the range only.
    #[must_use]
    pub fn blob_name(scope: &TenantScope, first: u64, last: u64) -> String {
        format!("{}/{first:020}-{last:020}.ndjson", scope.org().as_str())
    }

    /// Creates the container when it is missing (tests; production provisions it).
    ///
    /// # Errors
    /// [`PortError::Unavailable`] when the service refuses or cannot be reached.
    pub async fn ensure_container(&self) -> Result<(), PortError> {
        crate::blob::ensure_container(&self.container).await
    }

    /// The org's object names in chain order (for restores and checks).
    ///
    /// # Errors
    /// [`PortError::Unavailable`] when listing fails.
    pub async fn names(&self, scope: &TenantScope) -> Result<Vec<String>, PortError> {
        let prefix = format!("{}/", scope.org().as_str());
        let options = BlobContainerClientListBlobsOptions {
            prefix: Some(prefix.clone()),
            ..Default::default()
        };
        let mut pages = self
            .container
            .list_blobs(Some(options))
            .map_err(|e| unavailable(&e))?
            .into_pages();
        let mut names = Vec::new();
        while let Some(page) = pages.try_next().await.map_err(|e| unavailable(&e))? {
            let page = page.into_model().map_err(|e| unavailable(&e))?;
            names.extend(
                page.blob_items
                    .into_iter()
                    .filter_map(|b| b.name)
                    .filter(|n| n.strip_prefix(&prefix).and_then(range_of).is_some()),
            );
        }
        names.sort();
        Ok(names)
    }

    /// One object's bytes.
    ///
    /// # Errors
    /// [`PortError::NotFound`] when absent, else `Unavailable`.
    pub async fn read(&self, name: &str) -> Result<Vec<u8>, PortError> {
        let blob = self.container.blob_client(name);
        match blob.download(None).await {
            Ok(r) => {
                let mut body = r.body;
                let mut out = Vec::new();
                while let Some(chunk) = body.try_next().await.map_err(|e| unavailable(&e))? {
                    out.extend_from_slice(&chunk);
                }
                Ok(out)
            }
            Err(e) if has_code(&e, &StorageErrorCode::BlobNotFound) => Err(PortError::NotFound),
            Err(e) => Err(unavailable(&e)),
        }
    }
}

#[async_trait]
impl AuditArchive for BlobAuditArchive {
    async fn archived_up_to(&self, scope: &TenantScope) -> Result<Option<u64>, PortError> {
        let prefix = format!("{}/", scope.org().as_str());
        Ok(self
            .names(scope)
            .await?
            .iter()
            .filter_map(|n| n.strip_prefix(&prefix).and_then(range_of))
            .map(|(_, last)| last)
            .max())
    }

    async fn put(
        &self,
        scope: &TenantScope,
        first: u64,
        last: u64,
        ndjson: Vec<u8>,
    ) -> Result<(), PortError> {
        let client = self
            .container
            .blob_client(&Self::blob_name(scope, first, last))
            .block_blob_client();
        let options = BlockBlobClientUploadOptions {
            blob_content_type: Some(CONTENT_TYPE.into()),
            if_none_match: Some("*".into()),
            ..Default::default()
        };
        match client
            .upload(bytes::Bytes::from(ndjson).into(), Some(options))
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_conflict(&e) => Err(PortError::Conflict(
                "this range of the trail is archived already".into(),
            )),
            Err(e) => Err(unavailable(&e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_sort_by_position_and_parse_back() {
        let s = TenantScope::for_tests("acme", clment_common::domain::Region::Us);
        let a = BlobAuditArchive::blob_name(&s, 1, 1000);
        let b = BlobAuditArchive::blob_name(&s, 1001, 1500);
        assert!(a < b);
        assert_eq!(range_of(a.strip_prefix("acme/").unwrap()), Some((1, 1000)));
        assert_eq!(range_of("1-2.ndjson"), None);
        assert_eq!(
            range_of("00000000000000000001-00000000000000000002.txt"),
            None
        );
    }
}
