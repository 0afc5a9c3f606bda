//! The metadata that travels encrypted at the start of the payload, and Padmé padding.

use serde::{Deserialize, Serialize};

/// What travels encrypted beside the file: the server never sees any of it. Every field but
/// `name` has a serde default, so older writers' metadata still reads.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileMeta {
    /// The file's original name.
    #[serde(default)]
    pub name: String,
    /// Its media type, as the browser reported it (may be empty).
    #[serde(default)]
    pub media_type: String,
    /// The kind of record, such as `fhir-bundle`, `fhir-ndjson`, `csv`, `pdf`, `image`, `text`
    /// or `other` (empty if unknown).
    #[serde(default)]
    pub kind: String,
    /// True if the content was masked (de-identified) before encryption.
    #[serde(default)]
    pub masked: bool,
    /// The masking policy's identifier and version, such as `hipaa-safe-harbor@1`, if masked.
    #[serde(default)]
    pub policy: Option<String>,
    /// When the container was made, in seconds since the Unix epoch (UTC). The core has no
    /// clock: the caller fills this in.
    #[serde(default)]
    pub created: Option<u64>,
}

/// The longest metadata JSON a container may carry, in bytes.
pub const MAX_META_LEN: usize = 64 * 1024;

/// The Padmé length for `len` (Nikitin et al., "Reducing Metadata Leakage from Encrypted Files
/// and Communication with PURBs", 2019): round `len` up so that only its top
/// `floor(log2(floor(log2 len))) + 1` bits may be non-zero. The overhead is at most about 12%
/// and a length reveals O(log log len) bits. Returns `None` on overflow.
#[must_use]
pub fn padme(len: u64) -> Option<u64> {
    if len < 2 {
        return Some(len);
    }
    let e = 63 - u64::from(len.leading_zeros()); // floor(log2 len), >= 1
    let s = 64 - u64::from(e.leading_zeros()); // floor(log2 e) + 1
    let last_bits = e - s;
    let mask = (1u64 << last_bits) - 1;
    Some(len.checked_add(mask)? & !mask)
}

#[cfg(test)]
mod tests {
    use super::padme;

    #[test]
    fn padme_matches_the_paper() {
        // Worked by hand from the definition.
        assert_eq!(padme(12), Some(12));
        assert_eq!(padme(100), Some(104));
        assert_eq!(padme(1000), Some(1024));
        assert_eq!(padme(65_537), Some(67_584));
        for len in [3u64, 17, 1000, 123_456, 10_000_000, 1 << 40] {
            let p = padme(len).unwrap_or(0);
            assert!(p >= len && p - len <= len / 8 + 1, "{len} -> {p}");
        }
    }
}
