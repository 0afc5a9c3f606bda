//! Secret key material of a container and the HKDF derivations that turn one secret into one
//! key per purpose. Every secret type here wipes itself on drop and prints as `***`.

use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::id::{RandomError, b64url, from_b64url, random_bytes};

/// HKDF `info` label of the header MAC key (FORMAT.md, "Key derivations").
pub const LABEL_HEADER: &[u8] = b"medseal/v1 header";
/// HKDF `info` label of the payload key.
pub const LABEL_PAYLOAD: &[u8] = b"medseal/v1 payload";
/// HKDF `info` label of a link stanza's wrapping key.
pub const LABEL_LINK: &[u8] = b"medseal/v1 link";
/// HKDF `info` label of a password stanza's wrapping key.
pub const LABEL_PASSWORD: &[u8] = b"medseal/v1 password";
/// HKDF `info` label of a password stanza's link check value.
pub const LABEL_LINK_CHECK: &[u8] = b"medseal/v1 password link check";
/// OAEP label of an RSA stanza.
pub const LABEL_RSA_OAEP: &[u8] = b"medseal/v1 rsa-oaep";

/// HKDF-SHA256 with `salt` and `info`, 32 bytes of output.
pub(crate) fn hkdf32(salt: &[u8], ikm: &[u8], info: &[u8]) -> Zeroizing<[u8; 32]> {
    let mut out = Zeroizing::new([0u8; 32]);
    // 32 bytes is far below HKDF-SHA256's limit of 255 * 32 bytes, so expand cannot fail;
    // the fallback keeps the function total without a panic path.
    if Hkdf::<Sha256>::new(Some(salt), ikm)
        .expand(info, out.as_mut_slice())
        .is_err()
    {
        out.zeroize();
    }
    out
}

macro_rules! secret32 {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Zeroize, ZeroizeOnDrop)]
        pub struct $name([u8; 32]);

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(concat!(stringify!($name), "(***)"))
            }
        }

        impl $name {
            /// Wraps raw key bytes.
            #[must_use]
            pub fn from_bytes(bytes: [u8; 32]) -> Self {
                Self(bytes)
            }

            /// The raw key bytes.
            #[must_use]
            pub fn as_bytes(&self) -> &[u8; 32] {
                &self.0
            }
        }
    };
}

secret32!(
    /// The random 32-byte key of one container. Every other key of the container is derived
    /// from it; recipient stanzas carry it wrapped.
    FileKey
);

secret32!(
    /// The AES-256-GCM key of the payload STREAM, derived from the file key and the header's
    /// payload salt. Exposed as bytes so that another AEAD implementation (WebCrypto) can
    /// import it and produce identical chunks.
    PayloadKey
);

secret32!(
    /// The HMAC-SHA256 key of the header MAC.
    HeaderKey
);

secret32!(
    /// The 32-byte secret carried in a link's fragment.
    LinkKey
);

impl FileKey {
    /// A fresh key from the platform CSPRNG.
    ///
    /// # Errors
    /// Fails only if the CSPRNG is unavailable.
    pub fn generate() -> Result<Self, RandomError> {
        Ok(Self(random_bytes()?))
    }

    /// `HKDF-SHA256(salt = "", ikm = file key, info = "medseal/v1 header")`.
    #[must_use]
    pub fn header_key(&self) -> HeaderKey {
        HeaderKey(*hkdf32(&[], &self.0, LABEL_HEADER))
    }

    /// `HKDF-SHA256(salt = payload salt, ikm = file key, info = "medseal/v1 payload")`.
    #[must_use]
    pub fn payload_key(&self, payload_salt: &[u8; 32]) -> PayloadKey {
        PayloadKey(*hkdf32(payload_salt, &self.0, LABEL_PAYLOAD))
    }
}

/// A link key that is not 32 bytes of unpadded base64url.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the key is malformed: expected 43 base64url characters (32 bytes)")]
pub struct BadLinkKey;

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

    /// Parses a link fragment back into a key. Surrounding whitespace is ignored.
    ///
    /// # Errors
    /// [`BadLinkKey`] unless the text is exactly 32 bytes of unpadded base64url.
    pub fn parse(text: &str) -> Result<Self, BadLinkKey> {
        let bytes = Zeroizing::new(from_b64url(text.trim()).map_err(|_| BadLinkKey)?);
        let key = <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| BadLinkKey)?;
        Ok(Self(key))
    }
}

/// A password, wiped on drop and printed as `***`.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Password(String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(***)")
    }
}

impl Password {
    /// Takes ownership of the text. The caller's copies are the caller's to wipe.
    #[must_use]
    pub fn new(text: String) -> Self {
        Self(text)
    }

    /// The password's UTF-8 bytes, as fed to Argon2id.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl From<&str> for Password {
    fn from(text: &str) -> Self {
        Self(text.to_owned())
    }
}
