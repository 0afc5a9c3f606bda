//! The one entry point the apps use to seal a file for a link and to open it again, built on
//! the container format of FORMAT.md ([`crate::container`]) with a link-key recipient, or a
//! password recipient that needs the link key and the password together.
//!
//! ```
//! use medseal_core::seal::{FileMeta, LinkKey, open, seal};
//! # fn main() -> Result<(), medseal_core::seal::SealError> {
//! let key = LinkKey::generate()?;
//! let meta = FileMeta { name: "note.txt".into(), ..FileMeta::default() };
//! let sealed = seal(&key, &meta, b"hello doctor")?;
//! let same_key = LinkKey::from_fragment(&key.to_fragment())?;
//! let (meta_back, data) = open(&same_key, &sealed)?;
//! assert_eq!((meta_back, data), (meta, b"hello doctor".to_vec()));
//! # Ok(())
//! # }
//! ```

use crate::container::{
    self, Argon2Params, DecryptError, EncryptError, Header, HeaderError, Identity, PayloadError,
    Recipient, UnlockError,
};
use crate::id::RandomError;

pub use crate::container::{FileMeta, LinkKey, Password};

/// Why sealing or opening failed. Each variant is a distinct situation the user can be told
/// about.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum SealError {
    /// The key in the link is not a well-formed key.
    #[error("the key in this link is malformed")]
    BadKey,
    /// The data is not a MedSeal file at all.
    #[error("this is not a MedSeal file")]
    NotMedSeal,
    /// The data is a MedSeal file of a version this software cannot read.
    #[error("this MedSeal file has version {0}, which this software cannot read; please update")]
    UnknownVersion(u8),
    /// The data is laid out wrongly (a broken header, or authenticated but inconsistent data).
    #[error("this MedSeal file is malformed")]
    Malformed,
    /// The link key does not open this file.
    #[error("the key is wrong for this file, or the file was altered")]
    WrongKey,
    /// The file needs a password as well as the link.
    #[error("this file is protected by a password")]
    PasswordRequired,
    /// The password is wrong.
    #[error("wrong password")]
    WrongPassword,
    /// A byte of the header or payload was altered, moved or replaced.
    #[error("the file was altered")]
    Tampered,
    /// The file ends early (or is empty after its header).
    #[error("the file is incomplete (truncated)")]
    Truncated,
    /// Bytes follow the end of the file.
    #[error("the file has unexpected data after its end")]
    TrailingData,
    /// The file or its metadata is too large.
    #[error("the file or its metadata is too large")]
    TooLarge,
    /// The password's Argon2id parameters are out of bounds, or Argon2id failed.
    #[error("the password could not be processed")]
    Password,
    /// The platform random number generator failed.
    #[error("the platform random number generator failed")]
    Random,
}

impl From<RandomError> for SealError {
    fn from(_: RandomError) -> Self {
        Self::Random
    }
}

impl From<EncryptError> for SealError {
    fn from(e: EncryptError) -> Self {
        match e {
            EncryptError::Random | EncryptError::Wrap(container::WrapError::Random) => Self::Random,
            EncryptError::Wrap(container::WrapError::BadParams) => Self::Password,
            EncryptError::MetadataTooLong | EncryptError::TooLarge => Self::TooLarge,
            _ => Self::Malformed,
        }
    }
}

impl From<DecryptError> for SealError {
    fn from(e: DecryptError) -> Self {
        match e {
            DecryptError::Header(HeaderError::NotMedSeal) => Self::NotMedSeal,
            DecryptError::Header(HeaderError::UnknownVersion(v)) => Self::UnknownVersion(v),
            DecryptError::Header(HeaderError::Truncated) => Self::Truncated,
            DecryptError::Header(HeaderError::Malformed(_)) => Self::Malformed,
            DecryptError::Unlock(u) => match u {
                UnlockError::WrongKey | UnlockError::WrongLink | UnlockError::NotForThisKey => {
                    Self::WrongKey
                }
                UnlockError::PasswordRequired => Self::PasswordRequired,
                UnlockError::NoPasswordStanza => Self::WrongKey,
                UnlockError::WrongPassword => Self::WrongPassword,
                UnlockError::RsaFailed | UnlockError::HeaderAltered => Self::Tampered,
                UnlockError::Argon2 => Self::Password,
            },
            DecryptError::Payload(p) => match p {
                PayloadError::Empty | PayloadError::Truncated => Self::Truncated,
                PayloadError::TrailingData => Self::TrailingData,
                PayloadError::Tampered { .. } => Self::Tampered,
                PayloadError::Malformed(_) => Self::Malformed,
            },
        }
    }
}

impl LinkKey {
    /// Parses a link fragment back into a key.
    ///
    /// # Errors
    /// [`SealError::BadKey`] unless the text is exactly 32 bytes of base64url.
    pub fn from_fragment(text: &str) -> Result<Self, SealError> {
        Self::parse(text).map_err(|_| SealError::BadKey)
    }
}

/// Seals `data` for whoever holds `key`, with its metadata.
///
/// # Errors
/// [`SealError::Random`] if the CSPRNG fails, [`SealError::TooLarge`] for over-long metadata.
pub fn seal(key: &LinkKey, meta: &FileMeta, data: &[u8]) -> Result<Vec<u8>, SealError> {
    Ok(container::encrypt(&[Recipient::Link(key)], meta, data)?)
}

/// Opens what [`seal`] produced.
///
/// # Errors
/// [`SealError::WrongKey`], [`SealError::PasswordRequired`], [`SealError::Tampered`],
/// [`SealError::Truncated`], [`SealError::NotMedSeal`], [`SealError::UnknownVersion`] and the
/// other variants, each for its situation.
pub fn open(key: &LinkKey, sealed: &[u8]) -> Result<(FileMeta, Vec<u8>), SealError> {
    Ok(container::decrypt(Identity::Link(key), sealed)?)
}

/// Seals `data` so that opening needs both `key` (from the link) and `password`, with the
/// default Argon2id parameters.
///
/// # Errors
/// As [`seal`].
pub fn seal_with_password(
    key: &LinkKey,
    password: &Password,
    meta: &FileMeta,
    data: &[u8],
) -> Result<Vec<u8>, SealError> {
    seal_with_password_params(key, password, Argon2Params::DEFAULT, meta, data)
}

/// As [`seal_with_password`] with explicit Argon2id parameters (tests use small ones).
///
/// # Errors
/// As [`seal`], plus [`SealError::Password`] for parameters out of bounds.
pub fn seal_with_password_params(
    key: &LinkKey,
    password: &Password,
    params: Argon2Params,
    meta: &FileMeta,
    data: &[u8],
) -> Result<Vec<u8>, SealError> {
    let recipient = Recipient::Password {
        link: key,
        password,
        params,
    };
    Ok(container::encrypt(&[recipient], meta, data)?)
}

/// Opens what [`seal_with_password`] produced.
///
/// # Errors
/// As [`open`]; [`SealError::WrongPassword`] for a wrong password, [`SealError::WrongKey`] for
/// a wrong link key.
pub fn open_with_password(
    key: &LinkKey,
    password: &Password,
    sealed: &[u8],
) -> Result<(FileMeta, Vec<u8>), SealError> {
    Ok(container::decrypt(
        Identity::Password(key, password),
        sealed,
    )?)
}

/// True if the sealed file needs a password: ask for it before calling [`open_with_password`].
/// Needs only the start of the file (its header; 4 KiB is always enough without RSA stanzas).
///
/// # Errors
/// [`SealError::NotMedSeal`], [`SealError::UnknownVersion`], [`SealError::Malformed`], or
/// [`SealError::Truncated`] if `sealed` ends inside the header.
pub fn needs_password(sealed: &[u8]) -> Result<bool, SealError> {
    let (header, _) = Header::parse(sealed).map_err(DecryptError::from)?;
    Ok(header.needs_password())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> FileMeta {
        FileMeta {
            name: "record.json".into(),
            media_type: "application/fhir+json".into(),
            ..FileMeta::default()
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
            assert!(open(&key, &bad).is_err(), "byte {i}");
        }
        let other = LinkKey::generate().unwrap();
        assert_eq!(open(&other, &sealed).unwrap_err(), SealError::WrongKey);
        assert!(!needs_password(&sealed).unwrap());
    }

    #[test]
    fn password_round_trip() {
        let key = LinkKey::generate().unwrap();
        let pw = Password::from("correct horse");
        let small = Argon2Params {
            m_cost: 64,
            t_cost: 1,
            p_cost: 1,
        };
        let sealed = seal_with_password_params(&key, &pw, small, &meta(), b"x").unwrap();
        assert!(needs_password(&sealed).unwrap());
        assert_eq!(
            open(&key, &sealed).unwrap_err(),
            SealError::PasswordRequired
        );
        let (_, data) = open_with_password(&key, &pw, &sealed).unwrap();
        assert_eq!(data, b"x");
        assert_eq!(
            open_with_password(&key, &Password::from("wrong"), &sealed).unwrap_err(),
            SealError::WrongPassword
        );
        let other = LinkKey::generate().unwrap();
        assert_eq!(
            open_with_password(&other, &pw, &sealed).unwrap_err(),
            SealError::WrongKey
        );
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
