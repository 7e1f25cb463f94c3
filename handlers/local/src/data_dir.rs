use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The data directory could not be prepared.
#[derive(Debug, thiserror::Error)]
#[error("data directory {path}: {source}")]
pub struct DataDirError {
    path: PathBuf,
    #[source]
    source: std::io::Error,
}

impl DataDirError {
    pub(crate) fn new(path: &Path, source: std::io::Error) -> Self {
        Self {
            path: path.to_owned(),
            source,
        }
    }
}

/// The local backend's root directory (`CLMENT_DATA_DIR`). Created owner-only (0700).
#[derive(Clone, Debug)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    /// Opens `root`, creating it (and parents) with mode 0700 when missing.
    ///
    /// # Errors
    /// When the directory cannot be created or is not a directory.
    pub fn open(root: &Path) -> Result<Self, DataDirError> {
        fs::create_dir_all(root).map_err(|e| DataDirError::new(root, e))?;
        let meta = fs::metadata(root).map_err(|e| DataDirError::new(root, e))?;
        if !meta.is_dir() {
            return Err(DataDirError::new(
                root,
                std::io::Error::new(std::io::ErrorKind::NotADirectory, "not a directory"),
            ));
        }
        fs::set_permissions(root, fs::Permissions::from_mode(0o700))
            .map_err(|e| DataDirError::new(root, e))?;
        Ok(Self {
            root: root.to_owned(),
        })
    }

    /// The root path.
    #[must_use]
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A subdirectory, created owner-only when missing.
    ///
    /// # Errors
    /// When it cannot be created.
    pub fn subdir(&self, name: &str) -> Result<PathBuf, DataDirError> {
        let p = self.root.join(name);
        fs::create_dir_all(&p).map_err(|e| DataDirError::new(&p, e))?;
        fs::set_permissions(&p, fs::Permissions::from_mode(0o700))
            .map_err(|e| DataDirError::new(&p, e))?;
        Ok(p)
    }
}

/// Writes `bytes` to `path` only if it does not exist yet: temp file (0600), fsync, then a hard link,
/// which fails atomically when another process got there first. Returns `false` when it existed.
pub(crate) fn create_secret_file(path: &Path, bytes: &[u8]) -> std::io::Result<bool> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let tmp = dir.join(format!(".tmp-{}", uuid::Uuid::new_v4().simple()));
    let result = (|| {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        match fs::hard_link(&tmp, path) {
            Ok(()) => {
                fs::File::open(dir)?.sync_all()?;
                Ok(true)
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(e),
        }
    })();
    let _ = fs::remove_file(&tmp);
    result
}
