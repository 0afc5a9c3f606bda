//! Uploaded objects (shares and study contributions) and their life cycle, on top of the
//! create-only store.
//!
//! An object with prefix `P` (`shares/ID`, `shl/ID` or `studies/SID/c/CID`) is stored as:
//! - `P/meta`: JSON [`Meta`], written once at creation (hashes of its tokens, never tokens);
//! - `P/p/NNNNNN`: part `N`, written once, each exactly `part_size` bytes except the last;
//! - `P/complete`: written once when every part is there. Only then is the object visible;
//! - `P/dl/NNNN`: one empty marker per admitted download. A download is admitted by creating
//!   the first free marker below the limit, so the limit holds exactly across replicas;
//! - `P/rt/H/grant`: JSON [`ResumeGrant`] of a resume token whose SHA-256 (hex) is `H`, handed
//!   out by a counted download; `P/rt/H/u/NN`: JSON [`ResumeUse`], one per resumed request
//!   (its byte range, reserved before streaming); `P/rt/H/d/NN-SENT`: the bytes use `NN`
//!   actually sent, written when it ends, so a cut resume gives back what it did not send;
//! - `P/pc/NN` (SMART Health Links with a passcode): one marker per passcode attempt, taken
//!   before the passcode is checked and deleted again if it was right, so the markers left are
//!   the wrong attempts and at most `max_attempts` can ever be made, in parallel or not;
//! - `tombs/P`: JSON [`Tomb`], the reason the object is gone. Written before its data is
//!   deleted, so nothing half-deleted is ever served; removed by the sweeper after a while.

use std::sync::Arc;

use bytes::Bytes;
use futures::{StreamExt as _, TryStreamExt as _};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

use crate::error::{ApiError, ApiResult, GoneReason};
use crate::storage::{ByteStream, Key, Store, StoreError};

/// Seconds since the Unix epoch.
#[must_use]
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// SHA-256 of a token, hex. Tokens carry 256 random bits, so a plain hash cannot be reversed.
#[must_use]
pub fn hash_token(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Compares a presented token with a stored hash in constant time.
#[must_use]
pub fn token_matches(token: &str, stored_hash: &str) -> bool {
    hash_token(token)
        .as_bytes()
        .ct_eq(stored_hash.as_bytes())
        .into()
}

/// A fresh secret token: 256 random bits, base64url.
///
/// # Errors
/// If the CSPRNG fails.
pub fn new_token() -> ApiResult<String> {
    medseal_core::id::random_bytes::<32>()
        .map(|b| medseal_core::id::b64url(&b))
        .map_err(|_| ApiError::Internal("random number generator failed".into()))
}

/// A fresh 128-bit identifier.
///
/// # Errors
/// If the CSPRNG fails.
pub fn new_id() -> ApiResult<String> {
    medseal_core::id::new_object_id()
        .map_err(|_| ApiError::Internal("random number generator failed".into()))
}

/// Checks an identifier from a path.
///
/// # Errors
/// [`ApiError::BadId`] unless it is 22 base64url characters.
pub fn check_id(id: &str) -> ApiResult<()> {
    if medseal_core::id::is_object_id(id) {
        Ok(())
    } else {
        Err(ApiError::BadId)
    }
}

/// What the server knows about an object, stored at `P/meta`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Meta {
    /// Total ciphertext bytes declared at creation.
    pub size: u64,
    /// Size of every part but the last.
    pub part_size: u64,
    /// Creation time, Unix seconds.
    pub created_at: u64,
    /// When the object expires, Unix seconds.
    pub expires_at: u64,
    /// Download limit; 0 means unlimited (contributions).
    pub max_downloads: u32,
    /// SHA-256 of the upload token.
    pub upload_token_sha256: String,
    /// SHA-256 of the revoke (share) or withdraw (contribution) token.
    pub owner_token_sha256: String,
    /// For a SMART Health Link: its files and passcode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shl: Option<ShlInfo>,
}

/// A new upload's metadata with its two fresh tokens: the upload token and the owner's (revoke
/// or withdraw) token, returned once and stored only as hashes.
pub struct Fresh {
    /// The metadata to store.
    pub meta: Meta,
    /// Bearer token for the parts and completion.
    pub upload_token: String,
    /// Bearer token that deletes the object.
    pub owner_token: String,
}

impl Meta {
    /// Metadata of a new upload of `size` bytes, created now, with fresh tokens.
    ///
    /// # Errors
    /// If the random number generator fails.
    pub fn fresh(
        size: u64,
        part_size: u64,
        expires_at: u64,
        max_downloads: u32,
        shl: Option<ShlInfo>,
    ) -> ApiResult<Fresh> {
        let upload_token = new_token()?;
        let owner_token = new_token()?;
        Ok(Fresh {
            meta: Self {
                size,
                part_size,
                created_at: now(),
                expires_at,
                max_downloads,
                upload_token_sha256: hash_token(&upload_token),
                owner_token_sha256: hash_token(&owner_token),
                shl,
            },
            upload_token,
            owner_token,
        })
    }
}

/// What a SMART Health Link's metadata adds: its files, stored one after another as the
/// object's bytes (each a compact JWE), and the hash of its passcode.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ShlInfo {
    /// The files, in order.
    pub files: Vec<ShlFile>,
    /// The passcode's Argon2id hash, made by the sharer's client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passcode: Option<medseal_core::shl::PasscodeHash>,
    /// Wrong passcodes allowed over the link's life before it is disabled.
    pub max_attempts: u32,
}

/// One file of a SMART Health Link.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ShlFile {
    /// Its manifest content type.
    pub content_type: String,
    /// Length of its JWE, bytes.
    pub size: u64,
}

impl ShlInfo {
    /// The byte range of file `n` within the object.
    #[must_use]
    pub fn range(&self, n: usize) -> Option<std::ops::Range<u64>> {
        let start: u64 = self.files.iter().take(n).map(|f| f.size).sum();
        self.files.get(n).map(|f| start..start + f.size)
    }
}

impl Meta {
    /// Number of parts: at least one, so an empty object is one empty part.
    #[must_use]
    pub fn part_count(&self) -> u64 {
        if self.size == 0 {
            1
        } else {
            self.size.div_ceil(self.part_size)
        }
    }

    /// Expected length of part `index`.
    #[must_use]
    pub fn part_len(&self, index: u64) -> u64 {
        let start = index.saturating_mul(self.part_size);
        self.size.saturating_sub(start).min(self.part_size)
    }
}

/// A resume token's grant, stored at `P/rt/SHA256(token)/grant`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ResumeGrant {
    /// The token is refused from this time on, Unix seconds.
    pub expires_at: u64,
    /// Bytes all requests resumed with it may fetch together: one copy of the object (or of
    /// its `range`).
    pub budget: u64,
    /// For a SMART Health Link file's `location` ticket: the only bytes it may fetch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<(u64, u64)>,
}

/// One resumed request, stored at `P/rt/H/u/NN`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ResumeUse {
    /// Bytes it asked for.
    pub len: u64,
    /// Random, so a backend whose conditional writes are not atomic can be checked.
    pub nonce: String,
}

/// Most requests one resume token may make.
pub const MAX_RESUMES: u32 = 32;

/// Why an object is gone, stored at `tombs/P`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Tomb {
    /// The reason.
    pub reason: GoneReason,
    /// When, Unix seconds.
    pub at: u64,
}

/// Handle on one object's keys.
#[derive(Clone, Debug)]
pub struct Object {
    /// `shares/ID`, `studies/SID` or `studies/SID/c/CID`.
    pub prefix: Key,
    /// The object's own identifier (last segment).
    pub id: String,
}

impl Object {
    /// The share `id` (already validated).
    ///
    /// # Errors
    /// [`ApiError::BadId`] if `id` is malformed.
    pub fn share(id: &str) -> ApiResult<Self> {
        check_id(id)?;
        Ok(Self {
            prefix: Key::new(&["shares", id]).map_err(|_| ApiError::BadId)?,
            id: id.to_owned(),
        })
    }

    /// Study `sid` (its meta, description and every contribution below it).
    ///
    /// # Errors
    /// [`ApiError::BadId`] if `sid` is malformed.
    pub fn study(sid: &str) -> ApiResult<Self> {
        check_id(sid)?;
        Ok(Self {
            prefix: Key::new(&["studies", sid]).map_err(|_| ApiError::BadId)?,
            id: sid.to_owned(),
        })
    }

    /// SMART Health Link `id`: 43 base64url characters, 256 random bits, as the
    /// specification asks of a manifest URL.
    ///
    /// # Errors
    /// [`ApiError::BadId`] if `id` is malformed.
    pub fn shl(id: &str) -> ApiResult<Self> {
        if !medseal_core::id::is_link_id(id) {
            return Err(ApiError::BadId);
        }
        Ok(Self {
            prefix: Key::new(&["shl", id]).map_err(|_| ApiError::BadId)?,
            id: id.to_owned(),
        })
    }

    /// Contribution `cid` of study `sid`.
    ///
    /// # Errors
    /// [`ApiError::BadId`] if an identifier is malformed.
    pub fn contribution(sid: &str, cid: &str) -> ApiResult<Self> {
        check_id(sid)?;
        check_id(cid)?;
        Ok(Self {
            prefix: Key::new(&["studies", sid, "c", cid]).map_err(|_| ApiError::BadId)?,
            id: cid.to_owned(),
        })
    }

    fn key(&self, rest: &[&str]) -> ApiResult<Key> {
        let mut key = self.prefix.clone();
        for segment in rest {
            key = key.join(segment).map_err(ApiError::from)?;
        }
        Ok(key)
    }

    /// `P/meta`.
    ///
    /// # Errors
    /// Never for valid prefixes.
    pub fn meta_key(&self) -> ApiResult<Key> {
        self.key(&["meta"])
    }

    /// `P/complete`.
    ///
    /// # Errors
    /// Never for valid prefixes.
    pub fn complete_key(&self) -> ApiResult<Key> {
        self.key(&["complete"])
    }

    /// `P/p/NNNNNN`.
    ///
    /// # Errors
    /// Never for valid prefixes.
    pub fn part_key(&self, index: u64) -> ApiResult<Key> {
        self.key(&["p", &format!("{index:06}")])
    }

    /// `P/dl/NNNN`.
    ///
    /// # Errors
    /// Never for valid prefixes.
    pub fn slot_key(&self, n: u32) -> ApiResult<Key> {
        self.key(&["dl", &format!("{n:04}")])
    }

    /// `tombs/P`.
    ///
    /// # Errors
    /// Never for valid prefixes.
    pub fn tomb_key(&self) -> ApiResult<Key> {
        Key::parse(&format!("tombs/{}", self.prefix.as_str())).map_err(ApiError::from)
    }
}

/// The state of an object that is not gone.
#[derive(Clone, Debug)]
pub struct Loaded {
    /// Its metadata.
    pub meta: Meta,
    /// True once the upload completed.
    pub complete: bool,
}

/// Streams running, whether to purge after the last, and until when to keep the data.
pub type LeaseEntry = (usize, bool, u64);

/// Storage operations on objects.
#[derive(Clone)]
pub struct Objects {
    /// The backend.
    pub store: Arc<dyn Store>,
    /// Bytes of stored parts, for the global quota: kept up to date by writes and deletes
    /// here and recounted by every sweep (which also catches other replicas' writes).
    pub usage: Arc<std::sync::atomic::AtomicU64>,
    /// Downloads streaming in this process, by object prefix, and whether the object must be
    /// purged once they have all ended (its last allowed download was admitted).
    /// The third value is the time until which a cut-off stream may still be resumed, so its
    /// data must be kept.
    pub leases: Arc<std::sync::Mutex<std::collections::HashMap<Key, LeaseEntry>>>,
    /// Seconds to wait after the last local stream before purging a used-up object, so that
    /// downloads still streaming through other replicas can finish.
    pub purge_delay: u64,
}

/// Held by every download stream; the object's data is purged after the last one of a used-up
/// object ends.
pub struct Lease {
    objects: Objects,
    obj: Object,
}

impl Lease {
    /// Marks the object for purging once every local stream has ended.
    pub fn purge_when_done(&self) {
        self.with_entry(|entry| entry.1 = true);
    }

    /// Keeps the object's data until `until` (Unix seconds) even once it is used up: a stream
    /// was cut off and may be resumed with its token.
    pub fn keep_until(&self, until: u64) {
        self.with_entry(|entry| entry.2 = entry.2.max(until));
    }

    /// Runs `f` on this object's lease entry, if it is still there.
    fn with_entry(&self, f: impl FnOnce(&mut LeaseEntry)) {
        let mut leases = self
            .objects
            .leases
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(entry) = leases.get_mut(&self.obj.prefix) {
            f(entry);
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let mut keep = 0;
        let purge = {
            let mut leases = self
                .objects
                .leases
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            match leases.get_mut(&self.obj.prefix) {
                Some(entry) if entry.0 > 1 => {
                    entry.0 -= 1;
                    false
                }
                Some(_) => leases.remove(&self.obj.prefix).is_some_and(|e| {
                    keep = e.2;
                    e.1
                }),
                None => false,
            }
        };
        if purge {
            let objects = self.objects.clone();
            let obj = self.obj.clone();
            if let Ok(handle) = tokio::runtime::Handle::try_current() {
                handle.spawn(async move {
                    let wait = objects.purge_delay.max(keep.saturating_sub(now()));
                    tokio::time::sleep(std::time::Duration::from_secs(wait)).await;
                    if let Err(e) = objects.purge(&obj).await {
                        tracing::warn!(error = %e, "purge after the last download failed; the sweeper will retry");
                    }
                });
            }
        }
    }
}

impl Objects {
    /// Reads the tombstone of `obj`, if any.
    ///
    /// # Errors
    /// On storage failure.
    pub async fn tomb(&self, obj: &Object) -> ApiResult<Option<Tomb>> {
        match self.store.get(&obj.tomb_key()?).await {
            Ok(bytes) => Ok(serde_json::from_slice(&bytes).ok()),
            Err(StoreError::NotFound) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Writes a tombstone (the first reason wins) and deletes the object's data.
    ///
    /// # Errors
    /// On storage failure.
    pub async fn bury(&self, obj: &Object, reason: GoneReason) -> ApiResult<()> {
        self.write_tomb(obj, reason).await?;
        self.purge(obj).await
    }

    /// Writes a tombstone unless one exists.
    ///
    /// # Errors
    /// On storage failure.
    pub async fn write_tomb(&self, obj: &Object, reason: GoneReason) -> ApiResult<()> {
        let tomb = Tomb { reason, at: now() };
        let body = serde_json::to_vec(&tomb).map_err(|e| ApiError::Internal(e.to_string()))?;
        match self.store.create(&obj.tomb_key()?, Bytes::from(body)).await {
            Ok(()) | Err(StoreError::AlreadyExists) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes every stored piece of an object, its metadata last (so an interrupted purge is
    /// found and finished by the sweeper). Returns the bytes of parts freed.
    ///
    /// # Errors
    /// On storage failure.
    pub async fn purge(&self, obj: &Object) -> ApiResult<()> {
        let meta_key = obj.meta_key()?;
        let items = self.store.list(&obj.prefix).await?;
        for item in items.iter().filter(|i| i.key != meta_key) {
            self.store.delete(&item.key).await?;
            if item.key.segments().any(|s| s == "p") {
                let _ = self.usage.fetch_update(
                    std::sync::atomic::Ordering::Relaxed,
                    std::sync::atomic::Ordering::Relaxed,
                    |u| Some(u.saturating_sub(item.size)),
                );
            }
        }
        self.store.delete(&meta_key).await?;
        Ok(())
    }

    /// Loads an object that is not gone. Expired objects are buried on the way.
    ///
    /// # Errors
    /// [`ApiError::Gone`] with the tombstone's reason, [`ApiError::NotFound`] if it never
    /// existed (or its tombstone expired).
    pub async fn load(&self, obj: &Object) -> ApiResult<Loaded> {
        if let Some(tomb) = self.tomb(obj).await? {
            return Err(ApiError::Gone(tomb.reason));
        }
        let meta: Meta = match self.store.get(&obj.meta_key()?).await {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| ApiError::Internal(format!("corrupt metadata: {e}")))?,
            Err(StoreError::NotFound) => {
                // A tombstone may have appeared between the two reads.
                return match self.tomb(obj).await? {
                    Some(tomb) => Err(ApiError::Gone(tomb.reason)),
                    None => Err(ApiError::NotFound),
                };
            }
            Err(e) => return Err(e.into()),
        };
        if now() >= meta.expires_at {
            self.bury(obj, GoneReason::Expired).await?;
            return Err(ApiError::Gone(GoneReason::Expired));
        }
        let complete = match self.store.head(&obj.complete_key()?).await {
            Ok(_) => true,
            Err(StoreError::NotFound) => false,
            Err(e) => return Err(e.into()),
        };
        Ok(Loaded { meta, complete })
    }

    /// Creates a new object's metadata.
    ///
    /// # Errors
    /// On storage failure.
    pub async fn create_meta(&self, obj: &Object, meta: &Meta) -> ApiResult<()> {
        let body = serde_json::to_vec(meta).map_err(|e| ApiError::Internal(e.to_string()))?;
        match self.store.create(&obj.meta_key()?, Bytes::from(body)).await {
            Ok(()) => Ok(()),
            Err(StoreError::AlreadyExists) => {
                Err(ApiError::Internal("identifier collision".into()))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Indices of the parts stored so far, sorted, with their sizes.
    ///
    /// # Errors
    /// On storage failure.
    pub async fn parts(&self, obj: &Object) -> ApiResult<Vec<(u64, u64)>> {
        let prefix = obj.prefix.join("p").map_err(ApiError::from)?;
        let mut parts: Vec<(u64, u64)> = self
            .store
            .list(&prefix)
            .await?
            .into_iter()
            .filter_map(|info| {
                let name = info.key.segments().last()?.to_owned();
                Some((name.parse::<u64>().ok()?, info.size))
            })
            .collect();
        parts.sort_unstable();
        Ok(parts)
    }

    /// Stores part `index`. Storing the same bytes again succeeds (a retry after a lost
    /// answer); different bytes are refused.
    ///
    /// # Errors
    /// [`ApiError::PartExists`] for different bytes; storage errors.
    pub async fn put_part(&self, obj: &Object, index: u64, data: Bytes) -> ApiResult<bool> {
        let key = obj.part_key(index)?;
        let len = data.len() as u64;
        match self.store.create(&key, data.clone()).await {
            Ok(()) => {
                self.usage
                    .fetch_add(len, std::sync::atomic::Ordering::Relaxed);
                Ok(true)
            }
            Err(StoreError::AlreadyExists) => {
                let existing = self.store.get(&key).await?;
                if existing == data {
                    Ok(false)
                } else {
                    Err(ApiError::PartExists)
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Marks an upload complete if every part is there with the right length.
    ///
    /// # Errors
    /// [`ApiError::Incomplete`] listing how many parts are missing or wrong.
    pub async fn complete(&self, obj: &Object, meta: &Meta) -> ApiResult<()> {
        let parts = self.parts(obj).await?;
        let count = meta.part_count();
        let mut good = 0u64;
        for (index, size) in &parts {
            if *index < count && *size == meta.part_len(*index) {
                good += 1;
            }
        }
        if good != count {
            return Err(ApiError::Incomplete(format!(
                "The upload is incomplete: {} of {count} parts are missing.",
                count - good
            )));
        }
        let body = serde_json::json!({ "completed_at": now() }).to_string();
        match self
            .store
            .create(&obj.complete_key()?, Bytes::from(body))
            .await
        {
            Ok(()) | Err(StoreError::AlreadyExists) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Admits one download against the limit by taking the first free slot marker. Returns
    /// `Some(true)` if this was the last allowed download, `Some(false)` if more remain and
    /// `None` if the limit is already reached.
    ///
    /// # Errors
    /// On storage failure.
    pub async fn admit(&self, obj: &Object, max: u32) -> ApiResult<Option<bool>> {
        Ok(self
            .claim_marker(obj, "dl", 4, max)
            .await?
            .map(|n| n + 1 == max))
    }

    /// Takes the first free marker `P/DIR/N` (`N` below `max`, written with `width` digits),
    /// returning `N`, or `None` if all are taken. Markers are created only if absent, so two
    /// claims never get the same one, on any replica.
    async fn claim_marker(
        &self,
        obj: &Object,
        dir: &str,
        width: usize,
        max: u32,
    ) -> ApiResult<Option<u32>> {
        let prefix = obj.prefix.join(dir).map_err(ApiError::from)?;
        let listed = self.store.list(&prefix).await?;
        let taken: std::collections::HashSet<&str> = listed
            .iter()
            .filter_map(|i| i.key.segments().last())
            .collect();
        let settle = self.store.claim_settle();
        for n in 0..max {
            let name = format!("{n:0width$}");
            if taken.contains(name.as_str()) {
                continue;
            }
            let nonce = Bytes::from(new_token()?);
            let key = obj.key(&[dir, &name])?;
            match self.store.create(&key, nonce.clone()).await {
                Ok(()) if settle.is_zero() => return Ok(Some(n)),
                Ok(()) => {
                    // A backend that checks and then writes may have let a concurrent claim
                    // through; after the settle time only the last writer's nonce remains.
                    tokio::time::sleep(settle).await;
                    if self.store.get(&key).await? == nonce {
                        return Ok(Some(n));
                    }
                }
                Err(StoreError::AlreadyExists) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(None)
    }

    /// Takes one of a SMART Health Link's `max` passcode attempts before the passcode is
    /// checked. Returns its number, or `None` when every attempt is spent or in flight.
    ///
    /// # Errors
    /// On storage failure.
    pub async fn claim_attempt(&self, obj: &Object, max: u32) -> ApiResult<Option<u32>> {
        self.claim_marker(obj, "pc", 2, max).await
    }

    /// Gives back attempt `n`: the passcode was right.
    ///
    /// # Errors
    /// On storage failure.
    pub async fn release_attempt(&self, obj: &Object, n: u32) -> ApiResult<()> {
        match self
            .store
            .delete(&obj.key(&["pc", &format!("{n:02}")])?)
            .await
        {
            Ok(()) | Err(StoreError::NotFound) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Passcode attempts taken so far (wrong ones, and any being checked).
    ///
    /// # Errors
    /// On storage failure.
    pub async fn attempts_taken(&self, obj: &Object) -> ApiResult<u32> {
        let prefix = obj.prefix.join("pc").map_err(ApiError::from)?;
        Ok(u32::try_from(self.store.list(&prefix).await?.len()).unwrap_or(u32::MAX))
    }

    /// Loads a complete object for a request that resumes a counted download: an object that is
    /// gone only because its last download was counted (`used_up`) is still served while its
    /// data is there. Returns its metadata and whether it is used up.
    ///
    /// # Errors
    /// [`ApiError::Gone`] for any other reason, [`ApiError::BadResume`] if the data is gone.
    pub async fn load_resumable(&self, obj: &Object) -> ApiResult<(Meta, bool)> {
        let tomb = self.tomb(obj).await?;
        match &tomb {
            Some(t) if t.reason != GoneReason::UsedUp => return Err(ApiError::Gone(t.reason)),
            _ => {}
        }
        let meta: Meta = match self.store.get(&obj.meta_key()?).await {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| ApiError::Internal(format!("corrupt metadata: {e}")))?,
            Err(StoreError::NotFound) if tomb.is_some() => return Err(ApiError::BadResume),
            Err(StoreError::NotFound) => return Err(ApiError::NotFound),
            Err(e) => return Err(e.into()),
        };
        if now() >= meta.expires_at {
            self.bury(obj, GoneReason::Expired).await?;
            return Err(ApiError::Gone(GoneReason::Expired));
        }
        match self.store.head(&obj.complete_key()?).await {
            Ok(_) => Ok((meta, tomb.is_some())),
            Err(StoreError::NotFound) => Err(ApiError::NotFound),
            Err(e) => Err(e.into()),
        }
    }

    fn resume_key(obj: &Object, hash: &str, rest: &[&str]) -> ApiResult<Key> {
        let mut segments = vec!["rt", hash];
        segments.extend_from_slice(rest);
        obj.key(&segments)
    }

    /// Hands out a resume token for a counted download of `meta`, valid for `ttl` seconds
    /// (never past the object's expiry). Only its hash is stored. Returns the token and
    /// its expiry.
    ///
    /// # Errors
    /// On storage failure.
    pub async fn issue_resume(
        &self,
        obj: &Object,
        meta: &Meta,
        ttl: u64,
    ) -> ApiResult<(String, u64)> {
        self.issue_grant(obj, meta, ttl, None).await
    }

    /// Hands out a token like [`Objects::issue_resume`] that may fetch only `range` of the
    /// object, once over: a SMART Health Link file's `location` ticket.
    ///
    /// # Errors
    /// On storage failure.
    pub async fn issue_ticket(
        &self,
        obj: &Object,
        meta: &Meta,
        ttl: u64,
        range: std::ops::Range<u64>,
    ) -> ApiResult<(String, u64)> {
        self.issue_grant(obj, meta, ttl, Some((range.start, range.end)))
            .await
    }

    async fn issue_grant(
        &self,
        obj: &Object,
        meta: &Meta,
        ttl: u64,
        range: Option<(u64, u64)>,
    ) -> ApiResult<(String, u64)> {
        let token = new_token()?;
        let grant = ResumeGrant {
            expires_at: now().saturating_add(ttl).min(meta.expires_at),
            budget: range.map_or(meta.size, |(a, b)| b - a),
            range,
        };
        let body = serde_json::to_vec(&grant).map_err(|e| ApiError::Internal(e.to_string()))?;
        self.store
            .create(
                &Self::resume_key(obj, &hash_token(&token), &["grant"])?,
                Bytes::from(body),
            )
            .await?;
        Ok((token, grant.expires_at))
    }

    /// Admits one request resumed with `token` for `len` bytes: refused once the token expired,
    /// made [`MAX_RESUMES`] requests, or would fetch more than one copy of the object in all
    /// (a use that was cut off counts only the bytes it sent). Returns the use's number, to
    /// be passed to [`Objects::resume_sent`], and the grant.
    ///
    /// # Errors
    /// [`ApiError::BadResume`]; storage errors.
    pub async fn claim_resume(
        &self,
        obj: &Object,
        token: &str,
        len: u64,
    ) -> ApiResult<(String, u32, ResumeGrant)> {
        let hash = hash_token(token);
        let grant: ResumeGrant = match self
            .store
            .get(&Self::resume_key(obj, &hash, &["grant"])?)
            .await
        {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| ApiError::Internal(format!("corrupt resume grant: {e}")))?,
            Err(StoreError::NotFound) => return Err(ApiError::BadResume),
            Err(e) => return Err(e.into()),
        };
        if now() >= grant.expires_at {
            return Err(ApiError::BadResume);
        }
        let uses_prefix = Self::resume_key(obj, &hash, &["u"])?;
        let sent_prefix = Self::resume_key(obj, &hash, &["d"])?;
        let settle = self.store.claim_settle();
        for _ in 0..MAX_RESUMES * 2 {
            let uses = self.store.list(&uses_prefix).await?;
            let mut sent: std::collections::HashMap<String, u64> = std::collections::HashMap::new();
            for item in self.store.list(&sent_prefix).await? {
                if let Some((n, bytes)) = item.key.segments().last().and_then(|s| s.split_once('-'))
                {
                    sent.insert(n.to_owned(), bytes.parse().unwrap_or(u64::MAX));
                }
            }
            let mut spent = 0u64;
            for item in &uses {
                let n = item.key.segments().last().unwrap_or_default().to_owned();
                let charged = if let Some(bytes) = sent.get(&n) {
                    *bytes
                } else {
                    match self.store.get(&item.key).await {
                        Ok(b) => {
                            serde_json::from_slice::<ResumeUse>(&b).map_or(u64::MAX, |u| u.len)
                        }
                        Err(StoreError::NotFound) => 0,
                        Err(e) => return Err(e.into()),
                    }
                };
                spent = spent.saturating_add(charged);
            }
            let n = u32::try_from(uses.len()).unwrap_or(u32::MAX);
            if n >= MAX_RESUMES || spent.saturating_add(len) > grant.budget {
                return Err(ApiError::BadResume);
            }
            let record = ResumeUse {
                len,
                nonce: new_token()?,
            };
            let body = Bytes::from(
                serde_json::to_vec(&record).map_err(|e| ApiError::Internal(e.to_string()))?,
            );
            let key = Self::resume_key(obj, &hash, &["u", &format!("{n:02}")])?;
            match self.store.create(&key, body.clone()).await {
                Ok(()) if settle.is_zero() => return Ok((hash, n, grant)),
                Ok(()) => {
                    tokio::time::sleep(settle).await;
                    if self.store.get(&key).await? == body {
                        return Ok((hash, n, grant));
                    }
                }
                Err(StoreError::AlreadyExists) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Err(ApiError::BadResume)
    }

    /// Records that resumed use `n` of the token hashed `hash` sent `sent` bytes.
    ///
    /// # Errors
    /// On storage failure.
    pub async fn resume_sent(&self, obj: &Object, hash: &str, n: u32, sent: u64) -> ApiResult<()> {
        let key = Self::resume_key(obj, hash, &["d", &format!("{n:02}-{sent}")])?;
        match self.store.create(&key, Bytes::new()).await {
            Ok(()) | Err(StoreError::AlreadyExists | StoreError::NotFound) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Takes a lease on an object for the duration of one download stream.
    #[must_use]
    pub fn lease(&self, obj: &Object) -> Lease {
        let mut leases = self
            .leases
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        leases.entry(obj.prefix.clone()).or_insert((0, false, 0)).0 += 1;
        Lease {
            objects: self.clone(),
            obj: obj.clone(),
        }
    }

    /// Streams `range` of a complete object by stitching its parts.
    #[must_use]
    pub fn stream(&self, obj: &Object, meta: &Meta, range: std::ops::Range<u64>) -> ByteStream {
        let store = Arc::clone(&self.store);
        let part_size = meta.part_size.max(1);
        let first = range.start / part_size;
        let last = if range.end == 0 {
            0
        } else {
            (range.end - 1) / part_size
        };
        let mut pieces = Vec::new();
        if range.start < range.end {
            for index in first..=last {
                let part_start = index * part_size;
                let start = range.start.max(part_start) - part_start;
                let end = range.end.min(part_start + part_size) - part_start;
                pieces.push((obj.part_key(index), start..end));
            }
        }
        futures::stream::iter(pieces)
            .then(move |(key, sub)| {
                let store = Arc::clone(&store);
                async move {
                    let key = key.map_err(|e| StoreError::Other(e.to_string()))?;
                    store.get_range(&key, sub).await
                }
            })
            .try_flatten()
            .boxed()
    }
}
