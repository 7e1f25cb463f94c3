//! Extracted contract text on the local disk, encrypted at rest like the originals:
//! `<data>/texts/<org>/<contract>.clmt`, the [`Extracted`] as JSON sealed with AES-256-GCM in
//! authenticated segments (see `sealed`) under the org's data key. The segment AAD
//! (`clment/text/v1/<org>/<contract>`) binds a file to its org and contract, and differs from the
//! originals' AAD, so neither can stand in for the other.
//!
//! A separate tree from the originals (`<data>/blobs/`), so the originals' sweep and temp-file cleanup
//! never see these files. A write seals into `<org>/.tmp/`, fsyncs, then renames over the target and
//! fsyncs the directory: readers see the old text or the new one, never a partial file.

use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use async_trait::async_trait;
use clment_common::TenantScope;
use clment_common::domain::{ContractId, OrgId};
use clment_common::ports::{Extracted, PortError, TextStore};
use futures_util::StreamExt as _;
use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::crypto::OrgKeys;
use crate::sealed::{SealedWriter, open_sealed};
use crate::{DataDir, LocalStore, MasterKey};

const EXT: &str = "clmt";
const TMP: &str = ".tmp";

fn io_err(e: impl std::fmt::Display) -> PortError {
    PortError::Unavailable(format!("text store: {e}"))
}

fn ensure_dir(p: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt as _;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(p)
}

/// The local store of extracted texts (see the module docs).
pub struct LocalTexts {
    root: PathBuf,
    keys: OrgKeys,
}

impl std::fmt::Debug for LocalTexts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalTexts")
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

impl LocalTexts {
    /// Opens `<data>/texts`. The org keys are the ones the local document store uses: the data keys in
    /// `store`, wrapped by `master`.
    ///
    /// # Errors
    /// When the directory cannot be created.
    pub fn open(dir: &DataDir, store: LocalStore, master: MasterKey) -> io::Result<Self> {
        let root = dir.subdir("texts").map_err(io::Error::other)?;
        Ok(Self {
            root,
            keys: OrgKeys::new(store, master),
        })
    }

    fn org_dir(&self, org: &OrgId) -> PathBuf {
        self.root.join(org.as_str())
    }

    fn path(&self, org: &OrgId, id: ContractId) -> PathBuf {
        self.org_dir(org).join(format!("{id}.{EXT}"))
    }

    fn aad(org: &OrgId, id: ContractId) -> Vec<u8> {
        format!("clment/text/v1/{org}/{id}").into_bytes()
    }

    /// Removes temporary files a crash left behind that were last written before `older_than` (as
    /// `LocalDocuments::remove_temp_files` does for originals). Returns how many.
    ///
    /// # Errors
    /// When a directory cannot be read.
    pub async fn remove_temp_files(&self, older_than: OffsetDateTime) -> io::Result<usize> {
        let root = self.root.clone();
        let cutoff = SystemTime::from(older_than);
        tokio::task::spawn_blocking(move || {
            let mut n = 0;
            for org in std::fs::read_dir(&root)? {
                let Ok(entries) = std::fs::read_dir(org?.path().join(TMP)) else {
                    continue;
                };
                for entry in entries {
                    let entry = entry?;
                    let stale = entry
                        .metadata()
                        .and_then(|m| m.modified())
                        .is_ok_and(|t| t < cutoff);
                    if stale {
                        match std::fs::remove_file(entry.path()) {
                            Ok(()) => n += 1,
                            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                            Err(e) => return Err(e),
                        }
                    }
                }
            }
            Ok(n)
        })
        .await
        .map_err(io::Error::other)?
    }
}

/// Moves the sealed `staged` file over `target` and makes that durable; removes `staged` on failure.
fn publish(staged: &Path, target: &Path) -> io::Result<()> {
    let result = std::fs::rename(staged, target).and_then(|()| {
        let dir = target.parent().unwrap_or_else(|| Path::new("."));
        std::fs::File::open(dir)?.sync_all()
    });
    if result.is_err() {
        let _ = std::fs::remove_file(staged);
    }
    result
}

#[async_trait]
impl TextStore for LocalTexts {
    async fn put_text(
        &self,
        scope: &TenantScope,
        id: ContractId,
        text: &Extracted,
    ) -> Result<(), PortError> {
        let org = scope.org();
        self.keys.store().touch_tenant(org.as_str());
        let key = self.keys.data_key(org).await?;
        let json = Zeroizing::new(serde_json::to_vec(text).map_err(io_err)?);
        let tmp = self.org_dir(org).join(TMP);
        {
            let tmp = tmp.clone();
            tokio::task::spawn_blocking(move || ensure_dir(&tmp))
                .await
                .map_err(io_err)?
                .map_err(io_err)?;
        }
        let mut writer = SealedWriter::create(&tmp, &key, Self::aad(org, id))
            .await
            .map_err(io_err)?;
        writer.write(&json).await.map_err(io_err)?;
        drop(json);
        // Sealed and fsynced under a fresh name next to the writer's temp file, then renamed into place.
        let staged = tmp.join(format!(".text-{}", uuid::Uuid::new_v4().simple()));
        writer.commit(&staged).await.map_err(io_err)?;
        let target = self.path(org, id);
        tokio::task::spawn_blocking(move || publish(&staged, &target))
            .await
            .map_err(io_err)?
            .map_err(io_err)
    }

    async fn get_text(
        &self,
        scope: &TenantScope,
        id: ContractId,
    ) -> Result<Option<Extracted>, PortError> {
        let org = scope.org();
        self.keys.store().touch_tenant(org.as_str());
        let path = self.path(org, id);
        if !tokio::fs::try_exists(&path).await.map_err(io_err)? {
            return Ok(None);
        }
        let key = self.keys.data_key(org).await?;
        let mut reader = match open_sealed(&path, &key, Self::aad(org, id)).await {
            Ok(r) => r,
            // Deleted since the check.
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err(e)),
        };
        let mut json = Zeroizing::new(Vec::new());
        while let Some(segment) = reader.next().await {
            json.extend_from_slice(&segment.map_err(io_err)?);
        }
        // The error's kind and position only: serde's message may quote the content.
        serde_json::from_slice(&json).map(Some).map_err(|e| {
            io_err(format!(
                "stored text is malformed ({:?} error at line {} column {})",
                e.classify(),
                e.line(),
                e.column()
            ))
        })
    }

    async fn delete_text(&self, scope: &TenantScope, id: ContractId) -> Result<bool, PortError> {
        let org = scope.org();
        self.keys.store().touch_tenant(org.as_str());
        let path = self.path(org, id);
        let dir = self.org_dir(org);
        tokio::task::spawn_blocking(move || match std::fs::remove_file(&path) {
            Ok(()) => {
                std::fs::File::open(&dir)?.sync_all()?;
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        })
        .await
        .map_err(io_err)?
        .map_err(io_err)
    }
}
