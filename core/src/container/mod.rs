//! MedSeal container format v1 (FORMAT.md at the repository root): a header of recipient
//! stanzas authenticated by an HMAC, then a STREAM of AES-256-GCM chunks that carries the
//! encrypted metadata, the content and Padmé padding.
//!
//! Streaming, as the browser uses it:
//!
//! ```
//! use medseal_core::container::{Encryptor, FileMeta, Header, Identity, LinkKey, PayloadDecryptor, Recipient};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let link = LinkKey::generate()?;
//! let meta = FileMeta { name: "labs.csv".into(), ..FileMeta::default() };
//! let content = b"loinc,value\n2345-7,5.4\n";
//! let (mut enc, mut sealed) = Encryptor::new(&[Recipient::Link(&link)], &meta, content.len() as u64)?;
//! for piece in content.chunks(7) {
//!     sealed.extend(enc.push(piece)?);
//! }
//! while let Some(chunk) = enc.next_final_chunk()? {
//!     sealed.extend(chunk);
//! }
//!
//! let (header, header_len) = Header::parse(&sealed)?;
//! assert!(!header.needs_password());
//! let mut dec = PayloadDecryptor::new(&header, Identity::Link(&link))?;
//! let mut plain = dec.push(&sealed[header_len..])?;
//! plain.extend(dec.finish()?);
//! // The metadata is known once the chunk holding it has authenticated (here, the only one).
//! assert_eq!(dec.metadata().map(|m| m.name.as_str()), Some("labs.csv"));
//! assert_eq!(plain, content);
//! # Ok(())
//! # }
//! ```

mod header;
mod keys;
mod meta;
mod recipient;
mod stream;

pub use header::{
    Argon2Params, Header, HeaderError, LINK_BODY_LEN, MAC_LEN, MAGIC, MAX_HEADER_LEN, MAX_STANZAS,
    PASSWORD_BODY_LEN, SALT_LEN, STANZA_LINK, STANZA_PASSWORD, STANZA_RSA, Stanza, VERSION,
};
pub use keys::{
    BadLinkKey, FileKey, HeaderKey, LABEL_HEADER, LABEL_LINK, LABEL_LINK_CHECK, LABEL_PASSWORD,
    LABEL_PAYLOAD, LABEL_RSA_OAEP, LinkKey, Password, PayloadKey,
};
pub use meta::{
    FileMeta, MAX_META_LEN, NEUTRAL_EXTENSIONS, inline_media_type, neutral_name, padme,
    safe_blob_type,
};
pub use recipient::{Identity, Recipient, UnlockError, WrapError};
pub use stream::{
    AesGcmChunk, CHUNK_CT_SIZE, CHUNK_SIZE, ChunkAuthError, ChunkCipher, EncryptError, Encryptor,
    PREFIX_LEN, PayloadDecryptor, PayloadError, PlainChunk, TAG_LEN, chunk_count, chunk_nonce,
    payload_len, stream_len,
};

/// Why decrypting a whole container failed: at the header, at the key, or in the payload.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecryptError {
    /// The header could not be parsed (not MedSeal, unknown version, malformed, cut short).
    #[error(transparent)]
    Header(#[from] HeaderError),
    /// The identity does not open the header, or the header MAC does not match.
    #[error(transparent)]
    Unlock(#[from] UnlockError),
    /// The payload failed (altered, truncated, trailing data, malformed).
    #[error(transparent)]
    Payload(#[from] PayloadError),
}

impl DecryptError {
    /// A stable machine-readable code for the failure, such as `header.not_medseal`,
    /// `unlock.wrong_password` or `payload.truncated`. Tests and user interfaces match on it.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::Header(HeaderError::NotMedSeal) => "header.not_medseal",
            Self::Header(HeaderError::UnknownVersion(_)) => "header.unknown_version",
            Self::Header(HeaderError::Truncated) => "header.truncated",
            Self::Header(HeaderError::Malformed(_)) => "header.malformed",
            Self::Unlock(UnlockError::WrongKey) => "unlock.wrong_key",
            Self::Unlock(UnlockError::PasswordRequired) => "unlock.password_required",
            Self::Unlock(UnlockError::NoPasswordStanza) => "unlock.no_password_stanza",
            Self::Unlock(UnlockError::WrongLink) => "unlock.wrong_link",
            Self::Unlock(UnlockError::WrongPassword) => "unlock.wrong_password",
            Self::Unlock(UnlockError::NotForThisKey) => "unlock.not_for_this_key",
            Self::Unlock(UnlockError::RsaFailed) => "unlock.rsa_failed",
            Self::Unlock(UnlockError::HeaderAltered) => "unlock.header_altered",
            Self::Unlock(UnlockError::Argon2) => "unlock.argon2",
            Self::Payload(PayloadError::Empty) => "payload.empty",
            Self::Payload(PayloadError::Truncated) => "payload.truncated",
            Self::Payload(PayloadError::TrailingData) => "payload.trailing_data",
            Self::Payload(PayloadError::Tampered { .. }) => "payload.tampered",
            Self::Payload(PayloadError::Malformed(_)) => "payload.malformed",
        }
    }
}

/// Encrypts `content` for `recipients` in one call.
///
/// # Errors
/// [`EncryptError`].
pub fn encrypt(
    recipients: &[Recipient<'_>],
    meta: &FileMeta,
    content: &[u8],
) -> Result<Vec<u8>, EncryptError> {
    let (mut enc, mut out) = Encryptor::new(recipients, meta, content.len() as u64)?;
    out.reserve(usize::try_from(enc.payload_len()).unwrap_or(0));
    out.extend(enc.push(content)?);
    out.extend(enc.finish()?);
    Ok(out)
}

/// Decrypts a whole container in one call.
///
/// # Errors
/// [`DecryptError`], naming the stage and the reason.
pub fn decrypt(identity: Identity<'_>, data: &[u8]) -> Result<(FileMeta, Vec<u8>), DecryptError> {
    let (header, header_len) = Header::parse(data)?;
    let mut dec = PayloadDecryptor::new(&header, identity)?;
    let mut out = dec.push(&data[header_len..])?;
    out.extend(dec.finish()?);
    let meta = dec
        .metadata()
        .cloned()
        .ok_or(PayloadError::Malformed("no metadata"))?;
    Ok((meta, out))
}
