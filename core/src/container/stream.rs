//! The payload: a STREAM of AES-256-GCM chunks over the framed plaintext
//! `content length (8) | metadata length (4) | metadata JSON | content | zero padding`.
//!
//! Both directions are push-based and hold at most about one chunk in memory, whatever the
//! size of the file: [`Encryptor`] takes plaintext in pieces of any size and returns whole
//! ciphertext chunks as they fill; [`PayloadDecryptor`] takes ciphertext in pieces of any size
//! and returns only plaintext of chunks that passed authentication.

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::aead::{Nonce, Tag};
use zeroize::{Zeroize, Zeroizing};

use super::header::{Header, MAX_STANZAS, SALT_LEN};
use super::keys::{FileKey, PayloadKey};
use super::meta::{FileMeta, MAX_META_LEN, padme};
use super::recipient::{Identity, Recipient, UnlockError, WrapError};
use crate::id::random_bytes;

/// Plaintext bytes per chunk; every chunk but the last holds exactly this many.
pub const CHUNK_SIZE: usize = 64 * 1024;
/// Length of an AES-GCM tag.
pub const TAG_LEN: usize = 16;
/// Ciphertext bytes of a full chunk.
pub const CHUNK_CT_SIZE: usize = CHUNK_SIZE + TAG_LEN;
/// Length of the fixed part of the framed plaintext: content length (8) and metadata length (4).
pub const PREFIX_LEN: usize = 12;

/// The 12-byte nonce of chunk `index`: the index as an 11-byte big-endian counter, then `0x01`
/// for the last chunk or `0x00` for any other.
#[must_use]
pub fn chunk_nonce(index: u64, last: bool) -> [u8; 12] {
    let mut nonce = [0u8; 12];
    nonce[3..11].copy_from_slice(&index.to_be_bytes());
    nonce[11] = u8::from(last);
    nonce
}

/// A chunk's AEAD failed: the chunk, its position or the key is wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("chunk authentication failed")]
pub struct ChunkAuthError;

/// The seam between the STREAM construction and the AEAD that seals each chunk. The RustCrypto
/// implementation is [`AesGcmChunk`]; a WebCrypto one must produce identical bytes: AES-256-GCM
/// under the payload key, the 12-byte nonce from [`chunk_nonce`], no associated data, a
/// 16-byte tag.
pub trait ChunkCipher {
    /// Builds the cipher for a payload key.
    fn new(key: &PayloadKey) -> Self
    where
        Self: Sized;
    /// Encrypts `buf` in place and returns the tag.
    ///
    /// # Errors
    /// Only if the chunk is longer than AES-GCM allows (never for 64 KiB).
    fn seal(&self, nonce: &[u8; 12], buf: &mut [u8]) -> Result<[u8; TAG_LEN], ChunkAuthError>;
    /// Checks `tag` and decrypts `buf` in place. On failure `buf` must be left unchanged.
    ///
    /// # Errors
    /// [`ChunkAuthError`] if the tag does not match.
    fn open(
        &self,
        nonce: &[u8; 12],
        buf: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), ChunkAuthError>;
}

/// AES-256-GCM from the RustCrypto `aes-gcm` crate.
pub struct AesGcmChunk(Aes256Gcm);

impl ChunkCipher for AesGcmChunk {
    fn new(key: &PayloadKey) -> Self {
        Self(Aes256Gcm::new(&(*key.as_bytes()).into()))
    }

    fn seal(&self, nonce: &[u8; 12], buf: &mut [u8]) -> Result<[u8; TAG_LEN], ChunkAuthError> {
        let tag = self
            .0
            .encrypt_inout_detached(&Nonce::<Aes256Gcm>::from(*nonce), &[], buf.into())
            .map_err(|_| ChunkAuthError)?;
        Ok(tag.into())
    }

    fn open(
        &self,
        nonce: &[u8; 12],
        buf: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), ChunkAuthError> {
        self.0
            .decrypt_inout_detached(
                &Nonce::<Aes256Gcm>::from(*nonce),
                &[],
                buf.into(),
                &Tag::<Aes256Gcm>::from(*tag),
            )
            .map_err(|_| ChunkAuthError)
    }
}

/// Length of the framed plaintext stream for this metadata and content: the Padmé length of
/// `12 + meta_len + content_len`. `None` on overflow.
#[must_use]
pub fn stream_len(meta_len: u64, content_len: u64) -> Option<u64> {
    padme(
        (PREFIX_LEN as u64)
            .checked_add(meta_len)?
            .checked_add(content_len)?,
    )
}

/// Number of chunks of a framed plaintext stream of `stream_len` bytes (at least 1).
#[must_use]
pub fn chunk_count(stream_len: u64) -> u64 {
    stream_len.div_ceil(CHUNK_SIZE as u64).max(1)
}

/// One chunk of framed plaintext, ready to be sealed by the caller: see
/// [`Encryptor::push_unsealed`].
pub struct PlainChunk {
    /// The chunk's index, from 0.
    pub index: u64,
    /// True for the last chunk of the payload.
    pub last: bool,
    /// `chunk_nonce(index, last)`.
    pub nonce: [u8; 12],
    /// The chunk's plaintext: 65536 bytes, or 1 to 65536 for the last chunk.
    pub plaintext: Zeroizing<Vec<u8>>,
}

/// Length of the payload ciphertext for a framed plaintext stream of `stream_len` bytes.
#[must_use]
pub fn payload_len(stream_len: u64) -> u64 {
    stream_len + TAG_LEN as u64 * chunk_count(stream_len)
}

/// Why encryption failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncryptError {
    /// No recipients, more than 16, or a password recipient beside others.
    #[error("a container needs 1 to 16 recipients, and a password recipient must be alone")]
    Recipients,
    /// Building a stanza failed.
    #[error(transparent)]
    Wrap(#[from] WrapError),
    /// The platform random number generator failed.
    #[error("the platform random number generator failed")]
    Random,
    /// The metadata is longer than 64 KiB once serialized.
    #[error("the file's metadata is too long (over 64 KiB)")]
    MetadataTooLong,
    /// More content was pushed than was declared.
    #[error("more data was given than the declared length")]
    TooMuchData,
    /// Less content was pushed than was declared.
    #[error("the data ended {missing} bytes before the declared length")]
    TooLittleData {
        /// How many bytes are missing.
        missing: u64,
    },
    /// The declared size is beyond what a container can hold.
    #[error("the file is too large")]
    TooLarge,
    /// The AEAD failed.
    #[error("encryption of a chunk failed")]
    Chunk,
}

/// Encrypts one container: made with its recipients, metadata and content length, it returns
/// the header; it then takes plaintext in pieces of any size and returns ciphertext whenever
/// whole chunks are ready; [`Encryptor::next_final_chunk`] or [`Encryptor::finish`] then emit
/// the padding and the last chunk.
///
/// The content length must be known up front (a browser `File` and a file on disk know it):
/// it lets the reader find the end of the content and check the padding without holding back
/// any plaintext.
pub struct Encryptor<C: ChunkCipher = AesGcmChunk> {
    cipher: C,
    chunk: Zeroizing<Vec<u8>>,
    index: u64,
    written: u64,
    stream_len: u64,
    content_left: u64,
}

impl Encryptor<AesGcmChunk> {
    /// Starts a container for `recipients` with AES-256-GCM from RustCrypto. Returns the
    /// encryptor and the first bytes of the container: the header (and, only with very long
    /// metadata, the first chunk).
    ///
    /// # Errors
    /// [`EncryptError`] on bad recipients, over-long metadata or a CSPRNG failure.
    pub fn new(
        recipients: &[Recipient<'_>],
        meta: &FileMeta,
        content_len: u64,
    ) -> Result<(Self, Vec<u8>), EncryptError> {
        Self::with_cipher(recipients, meta, content_len)
    }
}

impl<C: ChunkCipher> Encryptor<C> {
    /// As [`Encryptor::new`], with another [`ChunkCipher`].
    ///
    /// # Errors
    /// As [`Encryptor::new`].
    pub fn with_cipher(
        recipients: &[Recipient<'_>],
        meta: &FileMeta,
        content_len: u64,
    ) -> Result<(Self, Vec<u8>), EncryptError> {
        let passwords = recipients
            .iter()
            .filter(|r| matches!(r, Recipient::Password { .. }))
            .count();
        if recipients.is_empty()
            || recipients.len() > MAX_STANZAS
            || (passwords > 0 && recipients.len() > 1)
        {
            return Err(EncryptError::Recipients);
        }
        let file_key = FileKey::generate().map_err(|_| EncryptError::Random)?;
        let payload_salt: [u8; SALT_LEN] = random_bytes().map_err(|_| EncryptError::Random)?;
        let stanzas = recipients
            .iter()
            .map(|r| r.wrap(&file_key))
            .collect::<Result<Vec<_>, _>>()?;
        let mut header = Header {
            payload_salt,
            stanzas,
            mac: [0; 32],
        };
        header.mac = header.compute_mac(&file_key.header_key());
        let mut out = header.to_bytes();

        let meta_json =
            Zeroizing::new(serde_json::to_vec(meta).map_err(|_| EncryptError::MetadataTooLong)?);
        if meta_json.len() > MAX_META_LEN {
            return Err(EncryptError::MetadataTooLong);
        }
        let meta_len = meta_json.len() as u64;
        let stream_len = stream_len(meta_len, content_len).ok_or(EncryptError::TooLarge)?;
        let mut enc = Self {
            cipher: C::new(&file_key.payload_key(&header.payload_salt)),
            chunk: Zeroizing::new(Vec::with_capacity(CHUNK_CT_SIZE)),
            index: 0,
            written: 0,
            stream_len,
            content_left: content_len,
        };
        let mut prefix = [0u8; PREFIX_LEN];
        prefix[..8].copy_from_slice(&content_len.to_be_bytes());
        prefix[8..].copy_from_slice(&(meta_json.len() as u32).to_be_bytes());
        enc.write(&prefix, &mut out)?;
        enc.write(&meta_json, &mut out)?;
        Ok((enc, out))
    }

    /// Total length of the payload (everything after the header), known from the start.
    #[must_use]
    pub fn payload_len(&self) -> u64 {
        payload_len(self.stream_len)
    }

    /// Frames `data` into the current chunk and hands every chunk it completes, still
    /// unsealed, to `jobs`.
    fn fill(&mut self, mut data: &[u8], jobs: &mut Vec<PlainChunk>) {
        while !data.is_empty() {
            let room = CHUNK_SIZE - self.chunk.len();
            let take = room.min(data.len());
            self.chunk.extend_from_slice(&data[..take]);
            data = &data[take..];
            self.written += take as u64;
            let last = self.written == self.stream_len;
            if last || self.chunk.len() == CHUNK_SIZE {
                let plaintext = std::mem::replace(
                    &mut self.chunk,
                    Zeroizing::new(Vec::with_capacity(CHUNK_SIZE)),
                );
                jobs.push(PlainChunk {
                    index: self.index,
                    last,
                    nonce: chunk_nonce(self.index, last),
                    plaintext,
                });
                self.index += 1;
            }
        }
    }

    fn write(&mut self, data: &[u8], out: &mut Vec<u8>) -> Result<(), EncryptError> {
        let mut jobs = Vec::new();
        self.fill(data, &mut jobs);
        for job in jobs {
            self.seal(&job, out)?;
        }
        Ok(())
    }

    fn seal(&self, job: &PlainChunk, out: &mut Vec<u8>) -> Result<(), EncryptError> {
        let start = out.len();
        out.extend_from_slice(&job.plaintext);
        let tag = self
            .cipher
            .seal(&job.nonce, &mut out[start..])
            .map_err(|_| EncryptError::Chunk)?;
        out.extend_from_slice(&tag);
        Ok(())
    }

    /// The chunk cipher this encryptor was built with (for example to reach the payload key
    /// an asynchronous AEAD was given in [`ChunkCipher::new`]).
    #[must_use]
    pub fn cipher(&self) -> &C {
        &self.cipher
    }

    /// As [`Encryptor::push`], but returns the completed chunks unsealed, for a caller that
    /// seals them itself with an asynchronous AEAD (WebCrypto). Sealing each
    /// [`PlainChunk::plaintext`] with AES-256-GCM under the payload key and
    /// [`PlainChunk::nonce`], and appending the tag, gives the same bytes [`Encryptor::push`]
    /// would have. Chunks must be written out in the order returned.
    ///
    /// # Errors
    /// [`EncryptError::TooMuchData`] beyond the declared length.
    pub fn push_unsealed(&mut self, data: &[u8]) -> Result<Vec<PlainChunk>, EncryptError> {
        if data.len() as u64 > self.content_left {
            return Err(EncryptError::TooMuchData);
        }
        self.content_left -= data.len() as u64;
        let mut jobs = Vec::with_capacity((self.chunk.len() + data.len()) / CHUNK_SIZE);
        self.fill(data, &mut jobs);
        Ok(jobs)
    }

    /// As [`Encryptor::next_final_chunk`], but unsealed (see [`Encryptor::push_unsealed`]).
    ///
    /// # Errors
    /// [`EncryptError::TooLittleData`] if content is missing.
    pub fn next_final_unsealed(&mut self) -> Result<Option<PlainChunk>, EncryptError> {
        if self.content_left > 0 {
            return Err(EncryptError::TooLittleData {
                missing: self.content_left,
            });
        }
        if self.written == self.stream_len {
            return Ok(None);
        }
        let room = (CHUNK_SIZE - self.chunk.len()) as u64;
        let zeros = room.min(self.stream_len - self.written) as usize;
        let mut jobs = Vec::with_capacity(1);
        self.fill(&vec![0u8; zeros], &mut jobs);
        Ok(jobs.pop())
    }

    /// Encrypts the next piece of content. Returns the ciphertext of every chunk it completed
    /// (possibly none).
    ///
    /// # Errors
    /// [`EncryptError::TooMuchData`] beyond the declared length.
    pub fn push(&mut self, data: &[u8]) -> Result<Vec<u8>, EncryptError> {
        if data.len() as u64 > self.content_left {
            return Err(EncryptError::TooMuchData);
        }
        self.content_left -= data.len() as u64;
        let mut out =
            Vec::with_capacity((self.chunk.len() + data.len()) / CHUNK_SIZE * CHUNK_CT_SIZE);
        self.write(data, &mut out)?;
        Ok(out)
    }

    /// After all content: returns the next chunk of padding or the last chunk, or `None` once
    /// the last chunk was returned. Each call returns at most one chunk, so memory stays bounded
    /// even when the padding is megabytes long.
    ///
    /// # Errors
    /// [`EncryptError::TooLittleData`] if content is missing.
    pub fn next_final_chunk(&mut self) -> Result<Option<Vec<u8>>, EncryptError> {
        if self.content_left > 0 {
            return Err(EncryptError::TooLittleData {
                missing: self.content_left,
            });
        }
        if self.written == self.stream_len {
            return Ok(None);
        }
        let room = (CHUNK_SIZE - self.chunk.len()) as u64;
        let zeros = room.min(self.stream_len - self.written) as usize;
        let mut out = Vec::with_capacity(CHUNK_CT_SIZE);
        self.write(&vec![0u8; zeros], &mut out)?;
        Ok(Some(out))
    }

    /// Returns the rest of the container: all padding chunks and the last chunk. Padding can be
    /// up to an eighth of the file: use [`Encryptor::next_final_chunk`] to stream it instead.
    ///
    /// # Errors
    /// [`EncryptError::TooLittleData`] if content is missing.
    pub fn finish(mut self) -> Result<Vec<u8>, EncryptError> {
        let mut out = Vec::new();
        while let Some(chunk) = self.next_final_chunk()? {
            out.extend_from_slice(&chunk);
        }
        Ok(out)
    }
}

/// Why the payload failed to decrypt. Plaintext of a chunk is released only after that chunk
/// authenticated; after any error the decryptor refuses further input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    /// The header is followed by no payload at all.
    #[error("the file has a header but no payload (it is empty or cut short)")]
    Empty,
    /// The payload ends before its last chunk, at a chunk boundary or inside a chunk.
    #[error("the file is truncated (it ends before its last chunk)")]
    Truncated,
    /// Bytes follow the last chunk.
    #[error("the file has unexpected data after its end")]
    TrailingData,
    /// A chunk failed authentication: it was altered, moved, duplicated or replaced.
    #[error("the file was altered: chunk {chunk} failed authentication")]
    Tampered {
        /// Index of the chunk, from 0.
        chunk: u64,
    },
    /// Authenticated data breaks the format (a writer bug, not tampering).
    #[error("the payload is malformed: {0}")]
    Malformed(&'static str),
}

enum Frame {
    Prefix(Zeroizing<Vec<u8>>),
    Content { left: u64 },
    Padding { left: u64 },
}

/// Decrypts a payload: made from a parsed header and an identity, it takes the ciphertext
/// after the header in pieces of any size and returns authenticated content.
pub struct PayloadDecryptor<C: ChunkCipher = AesGcmChunk> {
    cipher: C,
    buf: Zeroizing<Vec<u8>>,
    index: u64,
    chunks: Option<u64>,
    stream_len: u64,
    received: u64,
    done: bool,
    frame: Frame,
    meta_len: usize,
    content_len: Option<u64>,
    meta: Option<FileMeta>,
    failed: Option<PayloadError>,
}

impl PayloadDecryptor<AesGcmChunk> {
    /// Unwraps the file key with `identity` and checks the header MAC.
    ///
    /// # Errors
    /// [`UnlockError`] naming why the identity does not open the header, or
    /// [`UnlockError::HeaderAltered`] if the MAC does not match.
    pub fn new(header: &Header, identity: Identity<'_>) -> Result<Self, UnlockError> {
        Self::with_cipher(header, identity)
    }
}

impl<C: ChunkCipher> PayloadDecryptor<C> {
    /// As [`PayloadDecryptor::new`], with another [`ChunkCipher`].
    ///
    /// # Errors
    /// As [`PayloadDecryptor::new`].
    pub fn with_cipher(header: &Header, identity: Identity<'_>) -> Result<Self, UnlockError> {
        let file_key = identity.unwrap(&header.stanzas)?;
        if !header.verify_mac(&file_key.header_key()) {
            return Err(UnlockError::HeaderAltered);
        }
        Ok(Self {
            cipher: C::new(&file_key.payload_key(&header.payload_salt)),
            buf: Zeroizing::new(Vec::with_capacity(CHUNK_CT_SIZE + 1)),
            index: 0,
            chunks: None,
            stream_len: 0,
            received: 0,
            done: false,
            frame: Frame::Prefix(Zeroizing::new(Vec::new())),
            meta_len: 0,
            content_len: None,
            meta: None,
            failed: None,
        })
    }

    /// The chunk cipher this decryptor was built with. A caller that opens chunks ahead with
    /// an asynchronous AEAD can hand the results to its own [`ChunkCipher`] through this.
    #[must_use]
    pub fn cipher(&self) -> &C {
        &self.cipher
    }

    /// The metadata, once the chunk holding it has authenticated.
    #[must_use]
    pub fn metadata(&self) -> Option<&FileMeta> {
        self.meta.as_ref()
    }

    /// The total payload length, once the first chunk has authenticated.
    #[must_use]
    pub fn payload_len(&self) -> Option<u64> {
        self.chunks.map(|_| payload_len(self.stream_len))
    }

    /// Content bytes the file declares, once the first chunk has authenticated.
    #[must_use]
    pub fn content_len(&self) -> Option<u64> {
        self.content_len
    }

    /// Takes the next piece of ciphertext and returns the content of every chunk it completed
    /// and authenticated (possibly none).
    ///
    /// # Errors
    /// [`PayloadError`]; the decryptor is then unusable.
    pub fn push(&mut self, data: &[u8]) -> Result<Vec<u8>, PayloadError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let mut out = Vec::with_capacity(data.len());
        match self.push_inner(data, &mut out) {
            Ok(()) => Ok(out),
            Err(e) => {
                out.zeroize();
                self.failed = Some(e.clone());
                Err(e)
            }
        }
    }

    /// Ends the payload: decrypts the last chunk and checks that nothing is missing. Returns
    /// the remaining content. The metadata stays readable afterwards; further input fails.
    ///
    /// # Errors
    /// [`PayloadError::Empty`], [`PayloadError::Truncated`], [`PayloadError::Tampered`] or
    /// [`PayloadError::Malformed`].
    pub fn finish(&mut self) -> Result<Vec<u8>, PayloadError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let mut out = Vec::new();
        match self.finish_inner(&mut out) {
            Ok(()) => Ok(out),
            Err(e) => {
                out.zeroize();
                self.failed = Some(e.clone());
                Err(e)
            }
        }
    }

    fn finish_inner(&mut self, out: &mut Vec<u8>) -> Result<(), PayloadError> {
        if !self.done {
            if self.received == 0 {
                return Err(PayloadError::Empty);
            }
            if self.chunks.is_some() || self.buf.is_empty() {
                // The plan is known and unfinished, or the data ended right after a chunk that
                // authenticated as a non-last chunk.
                return Err(PayloadError::Truncated);
            }
            let mut chunk = std::mem::take(&mut *self.buf);
            let result = self.process(&mut chunk, true, out);
            chunk.zeroize();
            result?;
        }
        match self.frame {
            Frame::Padding { left: 0 } if self.done => Ok(()),
            _ => Err(PayloadError::Malformed(
                "the stream ended before its declared length",
            )),
        }
    }

    fn expected_chunk(&self) -> Option<(usize, bool)> {
        let chunks = self.chunks?;
        let last = self.index + 1 == chunks;
        if last {
            let full = (chunks - 1) * CHUNK_SIZE as u64;
            Some(((self.stream_len - full) as usize + TAG_LEN, true))
        } else {
            Some((CHUNK_CT_SIZE, false))
        }
    }

    fn push_inner(&mut self, mut data: &[u8], out: &mut Vec<u8>) -> Result<(), PayloadError> {
        self.received = self.received.saturating_add(data.len() as u64);
        loop {
            if self.done {
                if data.is_empty() && self.buf.is_empty() {
                    return Ok(());
                }
                return Err(PayloadError::TrailingData);
            }
            let (need, last) = match self.expected_chunk() {
                Some((size, last)) => (size, Some(last)),
                // Until the plan is known, a chunk is known not to be last only when more
                // bytes follow it.
                None => (CHUNK_CT_SIZE + 1, None),
            };
            let take = need.saturating_sub(self.buf.len()).min(data.len());
            self.buf.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.buf.len() < need {
                return Ok(());
            }
            let mut chunk = std::mem::take(&mut *self.buf);
            let rest = chunk.split_off(need.min(CHUNK_CT_SIZE).min(chunk.len()));
            let result = self.process(&mut chunk, last.unwrap_or(false), out);
            chunk.zeroize();
            self.buf.extend_from_slice(&rest);
            result?;
        }
    }

    /// Authenticates one chunk (ciphertext and tag) as chunk `self.index` and feeds its
    /// plaintext to the framing.
    fn process(
        &mut self,
        chunk: &mut [u8],
        last: bool,
        out: &mut Vec<u8>,
    ) -> Result<(), PayloadError> {
        if chunk.len() <= TAG_LEN {
            return Err(if self.chunks.is_some() {
                PayloadError::Truncated
            } else {
                PayloadError::Tampered { chunk: self.index }
            });
        }
        let (body, tag) = chunk.split_at_mut(chunk.len() - TAG_LEN);
        let mut tag_arr = [0u8; TAG_LEN];
        tag_arr.copy_from_slice(tag);
        if self
            .cipher
            .open(&chunk_nonce(self.index, last), body, &tag_arr)
            .is_err()
        {
            // The other flag tells truncation and trailing data apart from tampering.
            let other = self
                .cipher
                .open(&chunk_nonce(self.index, !last), body, &tag_arr)
                .is_ok();
            body.zeroize();
            return Err(match (other, last) {
                (true, true) => PayloadError::Truncated,
                (true, false) => PayloadError::TrailingData,
                (false, _) => PayloadError::Tampered { chunk: self.index },
            });
        }
        if !last && body.len() != CHUNK_SIZE {
            return Err(PayloadError::Malformed(
                "a chunk other than the last is short",
            ));
        }
        self.index += 1;
        self.done = last;
        self.deframe(body, out)?;
        if let Some(chunks) = self.chunks
            && (self.index == chunks) != last
        {
            return Err(PayloadError::Malformed(
                "the last-chunk flag disagrees with the declared length",
            ));
        }
        Ok(())
    }

    fn deframe(&mut self, mut pt: &[u8], out: &mut Vec<u8>) -> Result<(), PayloadError> {
        while !pt.is_empty() {
            match &mut self.frame {
                Frame::Prefix(buf) => {
                    let want = if buf.len() < PREFIX_LEN {
                        PREFIX_LEN
                    } else {
                        PREFIX_LEN + self.meta_len
                    };
                    let take = (want - buf.len()).min(pt.len());
                    buf.extend_from_slice(&pt[..take]);
                    pt = &pt[take..];
                    if buf.len() == PREFIX_LEN && self.chunks.is_none() {
                        let mut n8 = [0u8; 8];
                        n8.copy_from_slice(&buf[..8]);
                        let content_len = u64::from_be_bytes(n8);
                        let mut n4 = [0u8; 4];
                        n4.copy_from_slice(&buf[8..12]);
                        let meta_len = u32::from_be_bytes(n4) as usize;
                        if meta_len > MAX_META_LEN {
                            return Err(PayloadError::Malformed("metadata longer than 64 KiB"));
                        }
                        let stream = stream_len(meta_len as u64, content_len)
                            .ok_or(PayloadError::Malformed("declared length overflows"))?;
                        self.meta_len = meta_len;
                        self.stream_len = stream;
                        self.content_len = Some(content_len);
                        self.chunks = Some(chunk_count(stream));
                    }
                    if buf.len() == PREFIX_LEN + self.meta_len && buf.len() >= PREFIX_LEN {
                        let meta: FileMeta = serde_json::from_slice(&buf[PREFIX_LEN..])
                            .map_err(|_| PayloadError::Malformed("metadata is not valid JSON"))?;
                        self.meta = Some(meta);
                        let content = self.content_len.unwrap_or(0);
                        self.frame = Frame::Content { left: content };
                        if content == 0 {
                            self.frame = Frame::Padding {
                                left: self.padding_len(),
                            };
                        }
                    }
                }
                Frame::Content { left } => {
                    let take = (*left).min(pt.len() as u64) as usize;
                    out.extend_from_slice(&pt[..take]);
                    pt = &pt[take..];
                    *left -= take as u64;
                    if *left == 0 {
                        self.frame = Frame::Padding {
                            left: self.padding_len(),
                        };
                    }
                }
                Frame::Padding { left } => {
                    if pt.len() as u64 > *left {
                        return Err(PayloadError::Malformed(
                            "the stream is longer than declared",
                        ));
                    }
                    if pt.iter().any(|b| *b != 0) {
                        return Err(PayloadError::Malformed("padding bytes are not zero"));
                    }
                    *left -= pt.len() as u64;
                    pt = &[];
                }
            }
        }
        Ok(())
    }

    fn padding_len(&self) -> u64 {
        self.stream_len - PREFIX_LEN as u64 - self.meta_len as u64 - self.content_len.unwrap_or(0)
    }
}
