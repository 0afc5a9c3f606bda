//! Random identifiers and secrets, and the text forms they travel in.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Error from the platform's random number generator.
#[derive(Debug, thiserror::Error)]
#[error("the platform random number generator failed")]
pub struct RandomError;

/// Fills a fresh array with bytes from the OS (native) or `crypto.getRandomValues` (browser).
///
/// # Errors
/// Fails only if the platform CSPRNG is unavailable.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], RandomError> {
    let mut out = [0u8; N];
    getrandom::fill(&mut out).map_err(|_| RandomError)?;
    Ok(out)
}

/// Encodes bytes as unpadded base64url, the form used in links and identifiers.
#[must_use]
pub fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes unpadded base64url.
///
/// # Errors
/// Fails on any character outside the base64url alphabet or on padding.
pub fn from_b64url(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
    URL_SAFE_NO_PAD.decode(text)
}

/// True if `text` has the shape of a server object identifier: 22 base64url characters, which
/// is 128 random bits. Servers check this before using an identifier anywhere.
#[must_use]
pub fn is_object_id(text: &str) -> bool {
    text.len() == 22
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// True if `text` has the shape of a SMART Health Link identifier: 43 base64url characters,
/// which is 256 random bits (the specification asks that much of a manifest URL).
#[must_use]
pub fn is_link_id(text: &str) -> bool {
    text.len() == 43
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A fresh 256-bit SMART Health Link identifier in its 43-character text form.
///
/// # Errors
/// Fails only if the platform CSPRNG is unavailable.
pub fn new_link_id() -> Result<String, RandomError> {
    Ok(b64url(&random_bytes::<32>()?))
}

/// A fresh 128-bit object identifier in its 22-character text form.
///
/// # Errors
/// Fails only if the platform CSPRNG is unavailable.
pub fn new_object_id() -> Result<String, RandomError> {
    Ok(b64url(&random_bytes::<16>()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_ids_are_fresh_and_well_formed() {
        let a = new_object_id().unwrap();
        let b = new_object_id().unwrap();
        assert!(is_object_id(&a), "{a}");
        assert_ne!(a, b);
        assert!(!is_object_id("../../etc/passwd"));
        assert!(!is_object_id(&"a".repeat(23)));
    }
}
