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

/// The extensions a neutral file name may keep: common record formats only, so that an
/// extension never carries anything of the patient (`notes.JaneDoe-MRN1234`, `scan.MRN1234`).
pub const NEUTRAL_EXTENSIONS: &[&str] = &[
    "json", "ndjson", "xml", "csv", "tsv", "txt", "pdf", "png", "jpg", "jpeg", "gif", "webp",
    "tif", "tiff", "dcm", "zip", "hl7", "ccda", "rtf", "doc", "docx", "odt",
];

/// The neutral name of the `index`-th (from 0) file a patient shares or contributes:
/// `masked-record-{index + 1}` and, when the original's extension is one of
/// [`NEUTRAL_EXTENSIONS`] (compared without case), that extension in lower case. The share
/// page, the contribution page and `medseal contribute` all name files this way, since an
/// original name (and an unusual extension) may hold the patient's name or record number.
#[must_use]
pub fn neutral_name(original: &str, index: usize) -> String {
    let extension = original
        .rsplit_once('.')
        .map(|(_, ext)| ext.to_ascii_lowercase())
        .filter(|ext| NEUTRAL_EXTENSIONS.contains(&ext.as_str()));
    match extension {
        Some(ext) => format!("masked-record-{}.{ext}", index + 1),
        None => format!("masked-record-{}", index + 1),
    }
}

/// The media type a decrypted file may be shown inline with, decided from its first bytes
/// alone (never from the sender's media type or name): PDF (`%PDF-`), PNG, JPEG, GIF (87a and
/// 89a) and WebP (`RIFF....WEBP`). Anything else (HTML, SVG, XML, scripts, unknown) is `None`,
/// and a viewer offers it only as an `application/octet-stream` download, so no decrypted file
/// can run as a page of the viewer's origin.
#[must_use]
pub fn inline_media_type(head: &[u8]) -> Option<&'static str> {
    if head.starts_with(b"%PDF-") {
        Some("application/pdf")
    } else if head.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if head.starts_with(&[0xff, 0xd8, 0xff]) {
        Some("image/jpeg")
    } else if head.starts_with(b"GIF87a") || head.starts_with(b"GIF89a") {
        Some("image/gif")
    } else if head.len() >= 12 && head.starts_with(b"RIFF") && &head[8..12] == b"WEBP" {
        Some("image/webp")
    } else {
        None
    }
}

/// The type of the Blob a viewer makes for decrypted bytes: [`inline_media_type`], or
/// `application/octet-stream`.
#[must_use]
pub fn safe_blob_type(head: &[u8]) -> &'static str {
    inline_media_type(head).unwrap_or("application/octet-stream")
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
    use super::{inline_media_type, neutral_name, padme, safe_blob_type};

    #[test]
    fn only_known_magic_bytes_are_shown_inline() {
        assert_eq!(inline_media_type(b"%PDF-1.7\n"), Some("application/pdf"));
        assert_eq!(
            inline_media_type(b"\x89PNG\r\n\x1a\n\0\0"),
            Some("image/png")
        );
        assert_eq!(
            inline_media_type(&[0xff, 0xd8, 0xff, 0xe0]),
            Some("image/jpeg")
        );
        assert_eq!(inline_media_type(b"GIF89a.."), Some("image/gif"));
        assert_eq!(
            inline_media_type(b"RIFF\x10\0\0\0WEBPVP8 "),
            Some("image/webp")
        );
        for bad in [
            &b"<html><script>alert(1)</script>"[..],
            b"<?xml version=\"1.0\"?><svg xmlns=\"http://www.w3.org/2000/svg\">",
            b"<svg onload=alert(1)>",
            b" %PDF-1.4",
            b"RIFF\0\0\0\0WAVE",
            b"",
        ] {
            assert_eq!(inline_media_type(bad), None, "{bad:?}");
            assert_eq!(safe_blob_type(bad), "application/octet-stream");
        }
    }

    #[test]
    fn neutral_names_keep_only_known_extensions() {
        assert_eq!(
            neutral_name("Jane_Doe_MRN123.JSON", 1),
            "masked-record-2.json"
        );
        assert_eq!(neutral_name("notes.JaneDoe-MRN1234", 0), "masked-record-1");
        assert_eq!(neutral_name("scan.MRN1234", 0), "masked-record-1");
        assert_eq!(neutral_name("a.b.csv", 2), "masked-record-3.csv");
        assert_eq!(neutral_name("noext", 0), "masked-record-1");
        assert_eq!(neutral_name("../../etc.pdf", 0), "masked-record-1.pdf");
    }

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
