//! The one entry point the apps use to seal a file for a link and to open it again.
//!
//! Today this is a single AES-256-GCM message: `nonce (12) || ciphertext-and-tag`, over
//! `u32 big-endian metadata length || metadata JSON || file bytes`. The container format of
//! FORMAT.md replaces the body of these two functions; their signatures are what the browser,
//! the CLI and the tests depend on.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::id::{RandomError, b64url, from_b64url, random_bytes};

/// What travels encrypted beside the file: the server never sees any of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileMeta {
    /// The file's original name.
    pub name: String,
    /// Its media type, as the browser reported it (may be empty).
    pub media_type: String,
}

/// The 32-byte secret carried in a link's fragment. Wiped on drop, never printed.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct LinkKey([u8; 32]);

impl std::fmt::Debug for LinkKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkKey(***)")
    }
}

impl LinkKey {
    /// A fresh key from the platform CSPRNG.
    ///
    /// # Errors
    /// Fails only if the CSPRNG is unavailable.
    pub fn generate() -> Result<Self, RandomError> {
        Ok(Self(random_bytes()?))
    }

    /// The key as it appears in a link fragment (43 base64url characters).
    #[must_use]
    pub fn to_fragment(&self) -> String {
        b64url(&self.0)
    }

    /// Parses a link fragment back into a key.
    ///
    /// # Errors
    /// [`SealError::BadKey`] unless the text is exactly 32 bytes of base64url.
    pub fn from_fragment(text: &str) -> Result<Self, SealError> {
        let mut bytes = from_b64url(text.trim()).map_err(|_| SealError::BadKey)?;
        let key = <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| SealError::BadKey);
        bytes.zeroize();
        key.map(Self)
    }

    /// The raw key bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

/// Why sealing or opening failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealError {
    /// The key in the link is not a well-formed key.
    #[error("the key in this link is malformed")]
    BadKey,
    /// The data is too short or not laid out as a sealed file.
    #[error("this is not a MedSeal file, or it is cut short")]
    Malformed,
    /// Authentication failed: wrong key, or the bytes were altered.
    #[error("decryption failed: the key is wrong or the data was altered")]
    Decrypt,
    /// The platform random number generator failed.
    #[error("the platform random number generator failed")]
    Random,
}

impl From<RandomError> for SealError {
    fn from(_: RandomError) -> Self {
        Self::Random
    }
}

/// Seals `data` under `key` with its metadata.
///
/// # Errors
/// Fails only if the CSPRNG is unavailable.
pub fn seal(key: &LinkKey, meta: &FileMeta, data: &[u8]) -> Result<Vec<u8>, SealError> {
    let meta_json = serde_json::to_vec(meta).map_err(|_| SealError::Malformed)?;
    let meta_len = u32::try_from(meta_json.len()).map_err(|_| SealError::Malformed)?;
    let mut plain = Vec::with_capacity(4 + meta_json.len() + data.len());
    plain.extend_from_slice(&meta_len.to_be_bytes());
    plain.extend_from_slice(&meta_json);
    plain.extend_from_slice(data);
    let nonce: [u8; 12] = random_bytes()?;
    let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key.as_bytes()));
    let sealed = cipher
        .encrypt(Nonce::from_slice(&nonce), plain.as_slice())
        .map_err(|_| SealError::Decrypt);
    plain.zeroize();
    let mut out = nonce.to_vec();
    out.extend_from_slice(&sealed?);
    Ok(out)
}

/// Opens what [`seal`] produced.
///
/// # Errors
/// [`SealError::Decrypt`] on a wrong key or any altered byte; [`SealError::Malformed`] if the
/// authenticated contents are not laid out as expected.
pub fn open(key: &LinkKey, sealed: &[u8]) -> Result<(FileMeta, Vec<u8>), SealError> {
    if sealed.len() < 12 + 16 {
        return Err(SealError::Malformed);
    }
    let (nonce, body) = sealed.split_at(12);
    let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key.as_bytes()));
    let mut plain = cipher
        .decrypt(Nonce::from_slice(nonce), body)
        .map_err(|_| SealError::Decrypt)?;
    let result = split_plain(&plain);
    plain.zeroize();
    result
}

fn split_plain(plain: &[u8]) -> Result<(FileMeta, Vec<u8>), SealError> {
    let len_bytes: [u8; 4] = plain
        .get(..4)
        .and_then(|b| b.try_into().ok())
        .ok_or(SealError::Malformed)?;
    let meta_len = u32::from_be_bytes(len_bytes) as usize;
    let meta_json = plain.get(4..4 + meta_len).ok_or(SealError::Malformed)?;
    let meta = serde_json::from_slice(meta_json).map_err(|_| SealError::Malformed)?;
    Ok((meta, plain[4 + meta_len..].to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> FileMeta {
        FileMeta {
            name: "record.json".into(),
            media_type: "application/fhir+json".into(),
        }
    }

    #[test]
    fn round_trip_and_tamper() {
        let key = LinkKey::generate().unwrap();
        let sealed = seal(&key, &meta(), b"hello doctor").unwrap();
        assert!(!sealed.windows(12).any(|w| w == b"hello doctor"));
        let (m, data) = open(&key, &sealed).unwrap();
        assert_eq!(m, meta());
        assert_eq!(data, b"hello doctor");
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 1;
            assert_eq!(
                open(&key, &bad).unwrap_err(),
                SealError::Decrypt,
                "byte {i}"
            );
        }
        let other = LinkKey::generate().unwrap();
        assert_eq!(open(&other, &sealed).unwrap_err(), SealError::Decrypt);
    }

    #[test]
    fn fragment_round_trip() {
        let key = LinkKey::generate().unwrap();
        let back = LinkKey::from_fragment(&key.to_fragment()).unwrap();
        assert_eq!(back.as_bytes(), key.as_bytes());
        assert_eq!(
            LinkKey::from_fragment("short").unwrap_err(),
            SealError::BadKey
        );
        assert_eq!(format!("{key:?}"), "LinkKey(***)");
    }
}
