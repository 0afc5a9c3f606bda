//! The S3-compatible backend through `object_store`. Create-only writes use `If-None-Match: *`
//! (`PutMode::Create`), which S3 and compatible servers evaluate atomically, so several
//! stateless replicas can share one bucket.

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use futures::{StreamExt as _, TryStreamExt as _};
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt as _, PutMode, PutOptions};

use super::{ByteStream, Key, ObjectInfo, Store, StoreError};

/// Objects in one bucket, under an optional prefix.
#[derive(Debug)]
pub struct S3Store {
    inner: Arc<dyn ObjectStore>,
    prefix: String,
    settle: std::time::Duration,
}

fn os_err(err: object_store::Error) -> StoreError {
    match err {
        object_store::Error::NotFound { .. } => StoreError::NotFound,
        object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. } => {
            StoreError::AlreadyExists
        }
        other => StoreError::Other(format!("s3: {other}")),
    }
}

impl S3Store {
    /// Connects to `s3://BUCKET[/PREFIX]` with endpoint, region and credentials from the
    /// environment (`AWS_ENDPOINT`, `AWS_REGION`, `AWS_ACCESS_KEY_ID`, ...). Requests are
    /// path-style; plain HTTP is allowed only if `AWS_ALLOW_HTTP=true`.
    ///
    /// # Errors
    /// If the URL or the environment is not usable.
    pub fn from_url(url: &str) -> Result<Self, StoreError> {
        let rest = url
            .strip_prefix("s3://")
            .ok_or_else(|| StoreError::Other("storage URL must start with s3://".into()))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(StoreError::Other("storage URL names no bucket".into()));
        }
        let store = AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .with_virtual_hosted_style_request(false)
            .build()
            .map_err(|e| StoreError::Other(format!("s3 configuration: {e}")))?;
        Ok(Self::new(Arc::new(store), prefix))
    }

    /// Wraps any `object_store` (tests use this with explicit settings).
    #[must_use]
    pub fn new(inner: Arc<dyn ObjectStore>, prefix: &str) -> Self {
        Self {
            inner,
            prefix: prefix.trim_matches('/').to_owned(),
            settle: std::time::Duration::from_millis(100),
        }
    }

    /// Sets the settle time before a claimed download slot is read back (see
    /// [`Store::claim_settle`]).
    #[must_use]
    pub fn with_claim_settle(mut self, settle: std::time::Duration) -> Self {
        self.settle = settle;
        self
    }

    fn path(&self, key: &Key) -> ObjectPath {
        if self.prefix.is_empty() {
            ObjectPath::from(key.as_str())
        } else {
            ObjectPath::from(format!("{}/{}", self.prefix, key.as_str()))
        }
    }

    fn key_of(&self, path: &ObjectPath) -> Option<Key> {
        let text = path.as_ref();
        let text = if self.prefix.is_empty() {
            text
        } else {
            text.strip_prefix(&self.prefix)?.strip_prefix('/')?
        };
        Key::parse(text).ok()
    }
}

#[async_trait::async_trait]
impl Store for S3Store {
    async fn create(&self, key: &Key, data: Bytes) -> Result<(), StoreError> {
        let opts = PutOptions {
            mode: PutMode::Create,
            ..PutOptions::default()
        };
        self.inner
            .put_opts(&self.path(key), data.into(), opts)
            .await
            .map_err(os_err)?;
        Ok(())
    }

    async fn get(&self, key: &Key) -> Result<Bytes, StoreError> {
        self.inner
            .get(&self.path(key))
            .await
            .map_err(os_err)?
            .bytes()
            .await
            .map_err(os_err)
    }

    async fn get_range(&self, key: &Key, range: Range<u64>) -> Result<ByteStream, StoreError> {
        if range.start >= range.end {
            return Ok(futures::stream::empty().boxed());
        }
        let opts = GetOptions {
            range: Some(GetRange::Bounded(range)),
            ..GetOptions::default()
        };
        let result = self
            .inner
            .get_opts(&self.path(key), opts)
            .await
            .map_err(os_err)?;
        Ok(result.into_stream().map_err(os_err).boxed())
    }

    async fn head(&self, key: &Key) -> Result<ObjectInfo, StoreError> {
        let meta = self.inner.head(&self.path(key)).await.map_err(os_err)?;
        Ok(ObjectInfo {
            key: key.clone(),
            size: meta.size,
            modified: u64::try_from(meta.last_modified.timestamp()).unwrap_or(0),
        })
    }

    async fn delete(&self, key: &Key) -> Result<(), StoreError> {
        match self.inner.delete(&self.path(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(os_err(e)),
        }
    }

    async fn list(&self, prefix: &Key) -> Result<Vec<ObjectInfo>, StoreError> {
        let path = self.path(prefix);
        let metas: Vec<_> = self
            .inner
            .list(Some(&path))
            .try_collect()
            .await
            .map_err(os_err)?;
        Ok(metas
            .into_iter()
            .filter_map(|meta| {
                Some(ObjectInfo {
                    key: self.key_of(&meta.location)?,
                    size: meta.size,
                    modified: u64::try_from(meta.last_modified.timestamp()).unwrap_or(0),
                })
            })
            .collect())
    }

    fn claim_settle(&self) -> std::time::Duration {
        self.settle
    }

    fn name(&self) -> &'static str {
        "s3"
    }
}
