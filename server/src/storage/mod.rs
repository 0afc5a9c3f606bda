//! Storage behind one trait. Objects are immutable once written: every write creates a new key
//! and fails if the key exists. That single conditional operation (a create-only put) is what
//! keeps download limits exact across replicas, so backends need nothing more.

use std::ops::Range;

use bytes::Bytes;
use futures::stream::BoxStream;

pub mod local;
pub mod s3;

/// A stream of an object's bytes.
pub type ByteStream = BoxStream<'static, Result<Bytes, StoreError>>;

/// What can go wrong in a backend. Each backend maps its own "not found" and "exists" here.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No object under this key.
    #[error("object not found")]
    NotFound,
    /// A create-only write found the key taken.
    #[error("object already exists")]
    AlreadyExists,
    /// The backend is out of space.
    #[error("storage is full")]
    Full,
    /// Any other backend failure (the text names keys, never contents).
    #[error("storage failure: {0}")]
    Other(String),
}

/// A storage key: `/`-separated segments of `[A-Za-z0-9_-]` (and dots inside a segment). Only
/// the server builds keys, from fixed names and validated identifiers, so no client input can
/// reach a path.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key(String);

impl Key {
    /// Joins segments into a key.
    ///
    /// # Errors
    /// Fails if a segment is empty, starts with a dot or has a character outside the set.
    pub fn new(segments: &[&str]) -> Result<Self, StoreError> {
        for segment in segments {
            let ok = !segment.is_empty()
                && !segment.starts_with('.')
                && segment
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
            if !ok {
                return Err(StoreError::Other("refused to build an unsafe key".into()));
            }
        }
        Ok(Self(segments.join("/")))
    }

    /// Parses a key read back from a listing.
    ///
    /// # Errors
    /// As [`Key::new`].
    pub fn parse(text: &str) -> Result<Self, StoreError> {
        let segments: Vec<&str> = text.split('/').collect();
        Self::new(&segments)
    }

    /// The key's text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key's segments.
    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.0.split('/')
    }

    /// A key below this one.
    ///
    /// # Errors
    /// As [`Key::new`].
    pub fn join(&self, segment: &str) -> Result<Self, StoreError> {
        Key::new(&[segment])?;
        Ok(Self(format!("{}/{segment}", self.0)))
    }
}

/// What a listing says about one object.
#[derive(Clone, Debug)]
pub struct ObjectInfo {
    /// Its key.
    pub key: Key,
    /// Its length in bytes.
    pub size: u64,
    /// When it was written, in Unix seconds.
    pub modified: u64,
}

/// One storage backend.
#[async_trait::async_trait]
pub trait Store: Send + Sync + 'static {
    /// Writes `data` under `key` atomically and durably, only if `key` is free.
    ///
    /// # Errors
    /// [`StoreError::AlreadyExists`] if the key is taken; others on failure.
    async fn create(&self, key: &Key, data: Bytes) -> Result<(), StoreError>;

    /// Reads a whole (small) object.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] if absent.
    async fn get(&self, key: &Key) -> Result<Bytes, StoreError>;

    /// Streams `range` of an object.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] if absent.
    async fn get_range(&self, key: &Key, range: Range<u64>) -> Result<ByteStream, StoreError>;

    /// Size and time of an object.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] if absent.
    async fn head(&self, key: &Key) -> Result<ObjectInfo, StoreError>;

    /// Deletes an object; deleting an absent object succeeds.
    ///
    /// # Errors
    /// On backend failure.
    async fn delete(&self, key: &Key) -> Result<(), StoreError>;

    /// Every object whose key starts with `prefix` followed by `/`, in no particular order.
    ///
    /// # Errors
    /// On backend failure.
    async fn list(&self, prefix: &Key) -> Result<Vec<ObjectInfo>, StoreError>;

    /// How long to wait before reading back a created download-slot marker to confirm it is
    /// ours. Zero when create-only writes are atomic (local folder, AWS S3); S3-compatible
    /// servers that check and then write (s3s-fs, some others) need a settle time.
    fn claim_settle(&self) -> std::time::Duration {
        std::time::Duration::ZERO
    }

    /// A short name for logs and /healthz.
    fn name(&self) -> &'static str;
}
