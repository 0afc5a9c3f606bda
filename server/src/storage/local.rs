//! The local-folder backend. A write goes to a fresh temporary file, which is fsynced, then
//! hard-linked into place (which fails if the key exists, giving create-only semantics
//! atomically), then the folder is fsynced. A crash therefore leaves either the whole object or
//! nothing under its key; leftover temporary files are removed at startup.

use std::io::{ErrorKind, Write as _};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use bytes::Bytes;
use futures::StreamExt as _;
use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _};
use tokio_util::io::ReaderStream;

use super::{ByteStream, Key, ObjectInfo, Store, StoreError};

/// Objects as files under `ROOT/objects`, temporary files in `ROOT/tmp`.
#[derive(Debug)]
pub struct LocalStore {
    objects: PathBuf,
    tmp: PathBuf,
}

fn io_err(err: &std::io::Error) -> StoreError {
    // A key that names a folder of longer keys (EISDIR) or runs through a file (ENOTDIR) holds
    // no object.
    if matches!(err.raw_os_error(), Some(20 | 21)) {
        return StoreError::NotFound;
    }
    match err.kind() {
        ErrorKind::NotFound => StoreError::NotFound,
        ErrorKind::AlreadyExists => StoreError::AlreadyExists,
        ErrorKind::StorageFull | ErrorKind::QuotaExceeded => StoreError::Full,
        _ => StoreError::Other(format!("local storage: {err}")),
    }
}

fn fsync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

fn modified(meta: &std::fs::Metadata) -> u64 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs())
}

impl LocalStore {
    /// Opens (creating) the folder and removes temporary files left by a crash.
    ///
    /// # Errors
    /// If the folders cannot be created.
    pub fn open(root: &Path) -> Result<Self, StoreError> {
        let objects = root.join("objects");
        let tmp = root.join("tmp");
        for dir in [&objects, &tmp] {
            std::fs::create_dir_all(dir).map_err(|e| io_err(&e))?;
        }
        if let Ok(entries) = std::fs::read_dir(&tmp) {
            for entry in entries.flatten() {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        fsync_dir(root).map_err(|e| io_err(&e))?;
        Ok(Self { objects, tmp })
    }

    fn path(&self, key: &Key) -> PathBuf {
        let mut path = self.objects.clone();
        for segment in key.segments() {
            path.push(segment);
        }
        path
    }

    /// Creates `dir` and any missing parents, fsyncing each parent whose entries changed.
    fn make_dirs(&self, dir: &Path) -> std::io::Result<()> {
        if dir.is_dir() {
            return Ok(());
        }
        let parent = dir.parent().unwrap_or(&self.objects).to_path_buf();
        self.make_dirs(&parent)?;
        match std::fs::create_dir(dir) {
            Ok(()) => fsync_dir(&parent),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn create_blocking(&self, final_path: &Path, data: &[u8]) -> std::io::Result<()> {
        let name = medseal_core::id::new_object_id()
            .map_err(|_| std::io::Error::other("random number generator failed"))?;
        let tmp_path = self.tmp.join(format!("{name}.tmp"));
        let result = (|| {
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&tmp_path)?;
            file.write_all(data)?;
            file.sync_all()?;
            drop(file);
            let dir = final_path
                .parent()
                .ok_or_else(|| std::io::Error::other("key without folder"))?;
            // A concurrent delete may remove an emptied folder between its creation and the
            // link; try again a few times.
            let mut attempt = 0;
            loop {
                self.make_dirs(dir)?;
                match std::fs::hard_link(&tmp_path, final_path) {
                    Err(e) if e.kind() == ErrorKind::NotFound && attempt < 3 => attempt += 1,
                    other => break other,
                }
            }?;
            fsync_dir(dir)
        })();
        let _ = std::fs::remove_file(&tmp_path);
        result
    }

    fn remove_empty_parents(&self, path: &Path) {
        let mut dir = path.parent();
        while let Some(d) = dir {
            if d == self.objects || !d.starts_with(&self.objects) {
                break;
            }
            if std::fs::remove_dir(d).is_err() {
                break;
            }
            dir = d.parent();
        }
    }

    fn list_blocking(&self, prefix: &Key) -> std::io::Result<Vec<ObjectInfo>> {
        let mut out = Vec::new();
        let mut stack = vec![(self.path(prefix), prefix.as_str().to_owned())];
        while let Some((dir, key)) = stack.pop() {
            let entries = match std::fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(e) if e.kind() == ErrorKind::NotFound || e.raw_os_error() == Some(20) => {
                    continue;
                }
                Err(e) => return Err(e),
            };
            for entry in entries {
                let entry = entry?;
                let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                    continue;
                };
                let child = format!("{key}/{name}");
                let Ok(meta) = entry.metadata() else { continue };
                if meta.is_dir() {
                    stack.push((entry.path(), child));
                } else if let Ok(key) = Key::parse(&child) {
                    out.push(ObjectInfo {
                        key,
                        size: meta.len(),
                        modified: modified(&meta),
                    });
                }
            }
        }
        Ok(out)
    }
}

fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> impl Future<Output = Result<T, StoreError>> {
    async move {
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| StoreError::Other(format!("blocking task failed: {e}")))?
            .map_err(|e| io_err(&e))
    }
}

#[async_trait::async_trait]
impl Store for LocalStore {
    async fn create(&self, key: &Key, data: Bytes) -> Result<(), StoreError> {
        let this = Self {
            objects: self.objects.clone(),
            tmp: self.tmp.clone(),
        };
        let path = self.path(key);
        blocking(move || this.create_blocking(&path, &data)).await
    }

    async fn get(&self, key: &Key) -> Result<Bytes, StoreError> {
        let data = tokio::fs::read(self.path(key))
            .await
            .map_err(|e| io_err(&e))?;
        Ok(Bytes::from(data))
    }

    async fn get_range(&self, key: &Key, range: Range<u64>) -> Result<ByteStream, StoreError> {
        let mut file = tokio::fs::File::open(self.path(key))
            .await
            .map_err(|e| io_err(&e))?;
        file.seek(std::io::SeekFrom::Start(range.start))
            .await
            .map_err(|e| io_err(&e))?;
        let reader = file.take(range.end.saturating_sub(range.start));
        Ok(ReaderStream::with_capacity(reader, 64 * 1024)
            .map(|r| r.map_err(|e| io_err(&e)))
            .boxed())
    }

    async fn head(&self, key: &Key) -> Result<ObjectInfo, StoreError> {
        let meta = tokio::fs::metadata(self.path(key))
            .await
            .map_err(|e| io_err(&e))?;
        if !meta.is_file() {
            return Err(StoreError::NotFound);
        }
        Ok(ObjectInfo {
            key: key.clone(),
            size: meta.len(),
            modified: modified(&meta),
        })
    }

    async fn delete(&self, key: &Key) -> Result<(), StoreError> {
        let path = self.path(key);
        let objects = self.objects.clone();
        let tmp = self.tmp.clone();
        blocking(move || {
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(e),
            }
            if let Some(dir) = path.parent() {
                let _ = fsync_dir(dir);
            }
            Self { objects, tmp }.remove_empty_parents(&path);
            Ok(())
        })
        .await
    }

    async fn list(&self, prefix: &Key) -> Result<Vec<ObjectInfo>, StoreError> {
        let this = Self {
            objects: self.objects.clone(),
            tmp: self.tmp.clone(),
        };
        let prefix = prefix.clone();
        blocking(move || this.list_blocking(&prefix)).await
    }

    fn name(&self) -> &'static str {
        "local"
    }
}
