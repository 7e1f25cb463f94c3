//! Contract originals on the local disk, encrypted at rest: `<data>/blobs/<org>/<contract>.clmb`, each
//! sealed with AES-256-GCM in authenticated segments (see `sealed`) under the org's data key, which
//! the master key wraps (see `crypto`). The segment AAD binds a file to its org and contract, so a
//! file copied to another place does not decrypt.

use std::collections::{BinaryHeap, HashMap};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use async_trait::async_trait;
use clment_common::TenantScope;
use clment_common::domain::{ContractId, OrgId};
use clment_common::ports::{
    ByteStream, DocumentStore, DocumentWriter, PortError, StoredBlob, SweepPage,
};
use time::OffsetDateTime;

use crate::crypto::{DataKey, MasterKey};
use crate::sealed::{SealedWriter, open_sealed};
use crate::{DataDir, LocalStore};

const EXT: &str = "clmb";
const TMP: &str = ".tmp";

fn io_err(e: impl std::fmt::Display) -> PortError {
    PortError::Unavailable(e.to_string())
}

/// The local document store.
pub struct LocalDocuments {
    root: PathBuf,
    store: LocalStore,
    master: MasterKey,
    keys: Mutex<HashMap<String, Arc<DataKey>>>,
}

impl LocalDocuments {
    /// Opens `<data>/blobs`.
    ///
    /// # Errors
    /// When the directory cannot be created.
    pub fn open(dir: &DataDir, store: LocalStore, master: MasterKey) -> io::Result<Self> {
        let root = dir.subdir("blobs").map_err(io::Error::other)?;
        Ok(Self {
            root,
            store,
            master,
            keys: Mutex::new(HashMap::new()),
        })
    }

    fn org_dir(&self, org: &OrgId) -> PathBuf {
        self.root.join(org.as_str())
    }

    fn path(&self, org: &OrgId, id: ContractId) -> PathBuf {
        self.org_dir(org).join(format!("{id}.{EXT}"))
    }

    fn aad(org: &OrgId, id: ContractId) -> Vec<u8> {
        format!("clment/contract/v1/{org}/{id}").into_bytes()
    }

    async fn data_key(&self, org: &OrgId) -> Result<Arc<DataKey>, PortError> {
        if let Some(k) = self
            .keys
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(org.as_str())
        {
            return Ok(k.clone());
        }
        let fresh = DataKey::generate();
        let wrapped_fresh = self.master.wrap(org.as_str(), &fresh);
        let wrapped = self
            .store
            .org_data_key(org.as_str(), wrapped_fresh)
            .await
            .map_err(|e| PortError::Unavailable(e.to_string()))?;
        let key = Arc::new(
            self.master
                .unwrap(org.as_str(), &wrapped)
                .map_err(|e| PortError::Unavailable(format!("data key for {org}: {e}")))?,
        );
        self.keys
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(org.as_str().to_owned(), key.clone());
        Ok(key)
    }

    /// Removes temporary files a crash left behind that were last written before `older_than` (the
    /// reconciler: at start-up with no grace, as nothing is in flight then). Returns how many.
    ///
    /// # Errors
    /// When a directory cannot be read.
    pub async fn remove_temp_files(&self, older_than: OffsetDateTime) -> io::Result<usize> {
        let root = self.root.clone();
        let cutoff = SystemTime::from(older_than);
        tokio::task::spawn_blocking(move || {
            let mut n = 0;
            for org in std::fs::read_dir(&root)? {
                let tmp = org?.path().join(TMP);
                let Ok(entries) = std::fs::read_dir(&tmp) else {
                    continue;
                };
                for entry in entries {
                    let entry = entry?;
                    // A file that is gone already, or was written since the cutoff, stays.
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

/// Where a sweep resumes: after the original `{org}/{contract}`.
fn parse_position(after: &str) -> Option<(OrgId, ContractId)> {
    let (org, id) = after.split_once('/')?;
    Some((OrgId::parse(org).ok()?, ContractId::parse(id).ok()?))
}

/// The contract whose original is the file `name` (`<contract>.clmb`, canonical form only).
fn original_id(name: &str) -> Option<ContractId> {
    let id = ContractId::parse(name.strip_suffix(&format!(".{EXT}"))?).ok()?;
    (format!("{id}.{EXT}") == name).then_some(id)
}

/// One page of the sweep: the first `limit` originals in (org, contract) order after `after`. Each
/// page reads the directories again, holding at most `limit` entries (plus the org names).
fn sweep_page(
    root: &Path,
    after: Option<&(OrgId, ContractId)>,
    limit: usize,
) -> io::Result<SweepPage> {
    let mut orgs = Vec::new();
    for entry in std::fs::read_dir(root)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Ok(org) = OrgId::parse(&name) else {
            tracing::warn!(name = %name, "sweep: skipping an entry that is not an org directory");
            continue;
        };
        if !entry.file_type()?.is_dir() {
            tracing::warn!(name = %name, "sweep: skipping an entry that is not an org directory");
            continue;
        }
        if after.is_none_or(|(a, _)| org >= *a) {
            orgs.push(org);
        }
    }
    orgs.sort();
    let mut blobs = Vec::new();
    for org in orgs {
        let remaining = limit - blobs.len();
        let floor = after.filter(|(a, _)| *a == org).map(|(_, id)| *id);
        // The `remaining` smallest ids after the floor: a max-heap that drops its largest.
        let mut smallest: BinaryHeap<(ContractId, SystemTime)> = BinaryHeap::new();
        let entries = match std::fs::read_dir(root.join(org.as_str())) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name == TMP {
                continue;
            }
            let Some(id) = original_id(&name) else {
                tracing::warn!(org = %org, name = %name, "sweep: skipping a file that is not a contract original");
                continue;
            };
            if floor.is_some_and(|f| id <= f) {
                continue;
            }
            let modified = match entry.metadata().and_then(|m| m.modified()) {
                Ok(t) => t,
                // Deleted while the directory was read.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            smallest.push((id, modified));
            if smallest.len() > remaining {
                smallest.pop();
            }
        }
        blobs.extend(
            smallest
                .into_sorted_vec()
                .into_iter()
                .map(|(id, modified)| StoredBlob {
                    org: org.clone(),
                    id,
                    last_modified: OffsetDateTime::from(modified),
                }),
        );
        if blobs.len() >= limit {
            break;
        }
    }
    let next = if blobs.len() >= limit {
        blobs.last().map(|b| format!("{}/{}", b.org, b.id))
    } else {
        None
    };
    Ok(SweepPage { blobs, next })
}

fn ensure_dir(p: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt as _;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(p)
}

struct LocalWriter {
    inner: SealedWriter,
    target: PathBuf,
}

#[async_trait]
impl DocumentWriter for LocalWriter {
    async fn write(&mut self, chunk: &[u8]) -> Result<(), PortError> {
        self.inner.write(chunk).await.map_err(io_err)
    }

    async fn commit(self: Box<Self>) -> Result<u64, PortError> {
        let Self { inner, target } = *self;
        inner.commit(&target).await.map_err(|e| {
            if e.kind() == io::ErrorKind::AlreadyExists {
                PortError::Conflict("the contract's original already exists".into())
            } else {
                io_err(e)
            }
        })
    }

    async fn abort(self: Box<Self>) {
        self.inner.abort().await;
    }
}

#[async_trait]
impl DocumentStore for LocalDocuments {
    async fn begin(
        &self,
        scope: &TenantScope,
        id: ContractId,
    ) -> Result<Box<dyn DocumentWriter>, PortError> {
        self.store.touch_tenant(scope.org().as_str());
        let key = self.data_key(scope.org()).await?;
        let tmp = self.org_dir(scope.org()).join(TMP);
        ensure_dir(&tmp).map_err(io_err)?;
        let inner = SealedWriter::create(&tmp, &key, Self::aad(scope.org(), id))
            .await
            .map_err(io_err)?;
        Ok(Box::new(LocalWriter {
            inner,
            target: self.path(scope.org(), id),
        }))
    }

    async fn open(
        &self,
        scope: &TenantScope,
        id: ContractId,
    ) -> Result<Option<ByteStream>, PortError> {
        self.store.touch_tenant(scope.org().as_str());
        let path = self.path(scope.org(), id);
        if !tokio::fs::try_exists(&path).await.map_err(io_err)? {
            return Ok(None);
        }
        let key = self.data_key(scope.org()).await?;
        let reader = open_sealed(&path, &key, Self::aad(scope.org(), id))
            .await
            .map_err(io_err)?;
        Ok(Some(Box::pin(reader)))
    }

    async fn delete(&self, scope: &TenantScope, id: ContractId) -> Result<bool, PortError> {
        self.store.touch_tenant(scope.org().as_str());
        let path = self.path(scope.org(), id);
        let dir = self.org_dir(scope.org());
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

    async fn sweep(&self, after: Option<String>, limit: usize) -> Result<SweepPage, PortError> {
        let after =
            match after.as_deref() {
                None => None,
                Some(a) => Some(parse_position(a).ok_or_else(|| {
                    PortError::Unavailable("sweep: malformed continuation".into())
                })?),
            };
        let root = self.root.clone();
        tokio::task::spawn_blocking(move || sweep_page(&root, after.as_ref(), limit.max(1)))
            .await
            .map_err(io_err)?
            .map_err(io_err)
    }
}
