//! The caller's pseudonym key and everything derived from it: keyed pseudonyms and the
//! per-patient date shift.
//!
//! One key per study: the same key links one patient's records together, another key gives
//! unrelated pseudonyms. Each derivation uses its own label so a pseudonym never reveals a shift.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::MaskError;

/// Domain-separation labels, one per purpose.
const LABEL_PSEUDONYM: &[u8] = b"medseal-mask-v1 pseudonym\0";
const LABEL_DATE_SHIFT: &[u8] = b"medseal-mask-v1 date-shift\0";

/// Largest date shift in days, either way. A year keeps seasons roughly honest for researchers
/// while hiding the real calendar day.
pub const MAX_SHIFT_DAYS: i64 = 365;

/// The secret behind keyed pseudonyms and date shifts (HMAC-SHA256 key). Wiped on drop, never
/// printed.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct PseudonymKey(Vec<u8>);

impl std::fmt::Debug for PseudonymKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PseudonymKey(***)")
    }
}

impl PseudonymKey {
    /// Shortest key accepted, in bytes.
    pub const MIN_LEN: usize = 16;

    /// Wraps key bytes supplied by the caller (at least 16 bytes; 32 random bytes recommended).
    ///
    /// # Errors
    /// [`MaskError::KeyTooShort`] if fewer than [`Self::MIN_LEN`] bytes are given.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, MaskError> {
        if bytes.len() < Self::MIN_LEN {
            return Err(MaskError::KeyTooShort {
                len: bytes.len(),
                min: Self::MIN_LEN,
            });
        }
        Ok(Self(bytes.to_vec()))
    }

    /// A fresh 32-byte key from the platform CSPRNG.
    ///
    /// # Errors
    /// [`MaskError::Random`] if the CSPRNG is unavailable.
    pub fn generate() -> Result<Self, MaskError> {
        let bytes: [u8; 32] = crate::id::random_bytes().map_err(|_| MaskError::Random)?;
        Ok(Self(bytes.to_vec()))
    }

    fn mac(&self, label: &[u8], value: &str) -> [u8; 32] {
        // HMAC accepts keys of any length, so this cannot fail; fall back to an all-zero tag
        // rather than panicking should the crate ever change that.
        let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0) else {
            return [0; 32];
        };
        mac.update(label);
        mac.update(value.as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(&mac.finalize().into_bytes());
        out
    }

    /// The keyed pseudonym of `value`, shaped like a UUID so it stays a valid FHIR id and a
    /// valid `urn:uuid:` reference. Equal values give equal pseudonyms under one key.
    #[must_use]
    pub fn pseudonym(&self, value: &str) -> String {
        let tag = self.mac(LABEL_PSEUDONYM, value);
        let mut b = [0u8; 16];
        b.copy_from_slice(&tag[..16]);
        // Mark it as an RFC 9562 version 8 (custom) UUID so nobody mistakes it for a random one.
        b[6] = (b[6] & 0x0f) | 0x80;
        b[8] = (b[8] & 0x3f) | 0x80;
        let h = hex_lower(&b);
        format!(
            "{}-{}-{}-{}-{}",
            &h[0..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..32]
        )
    }

    /// The date shift, in days, for one patient: deterministic for a key and patient id, within
    /// ±[`MAX_SHIFT_DAYS`] and never zero.
    #[must_use]
    pub fn date_shift_days(&self, patient_id: &str) -> i64 {
        let tag = self.mac(LABEL_DATE_SHIFT, patient_id);
        let n = u64::from_be_bytes([
            tag[0], tag[1], tag[2], tag[3], tag[4], tag[5], tag[6], tag[7],
        ]);
        // 2 * MAX days either side, skipping zero.
        let span = (2 * MAX_SHIFT_DAYS) as u64;
        let k = (n % span) as i64; // 0 ..= 729
        if k < MAX_SHIFT_DAYS {
            k - MAX_SHIFT_DAYS // -365 ..= -1
        } else {
            k - MAX_SHIFT_DAYS + 1 // 1 ..= 365
        }
    }
}

fn hex_lower(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}
