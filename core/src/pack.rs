//! Several files in one share: a simple framing of files with their metadata, sealed as the
//! content of a single container (FORMAT.md, "File packs").
//!
//! Layout, all integers big-endian:
//!
//! ```text
//! "MSPACK1\n"                       8 bytes, magic
//! count                             u32, number of files (at least 1, at most MAX_FILES)
//! count times:
//!   meta_len                        u32, length of the file's metadata JSON (at most 64 KiB)
//!   meta                            metadata JSON (the container's FileMeta fields)
//!   data_len                        u64, length of the file's bytes
//!   data                            the file's bytes
//! ```
//!
//! Nothing may follow the last file. The pack is inside the encrypted payload, so it is
//! authenticated as a whole; these checks only guard against a buggy writer.

use crate::container::FileMeta;

/// The pack's media type, recorded in the container's metadata.
pub const PACK_MEDIA_TYPE: &str = "application/vnd.medseal.files";
/// The pack's magic bytes.
pub const PACK_MAGIC: &[u8; 8] = b"MSPACK1\n";
/// The most files one pack may hold.
pub const MAX_FILES: u32 = 1_000;
const MAX_META: u32 = 64 * 1024;

/// Why a pack could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PackError {
    /// The bytes do not start with the pack magic.
    #[error("this is not a MedSeal file pack")]
    NotAPack,
    /// A length points past the end, a count is out of bounds, or bytes are left over.
    #[error("this file pack is malformed")]
    Malformed,
}

/// True if `bytes` start as a pack.
#[must_use]
pub fn is_pack(bytes: &[u8]) -> bool {
    bytes.starts_with(PACK_MAGIC)
}

/// Frames `files` into one pack.
#[must_use]
pub fn pack(files: &[(FileMeta, &[u8])]) -> Vec<u8> {
    let size: usize = files.iter().map(|(_, d)| d.len() + 256).sum();
    let mut out = Vec::with_capacity(12 + size);
    out.extend_from_slice(PACK_MAGIC);
    out.extend_from_slice(&(files.len() as u32).to_be_bytes());
    for (meta, data) in files {
        // Serializing a plain struct of strings and numbers cannot fail.
        let json = serde_json::to_vec(meta).unwrap_or_default();
        out.extend_from_slice(&(json.len() as u32).to_be_bytes());
        out.extend_from_slice(&json);
        out.extend_from_slice(&(data.len() as u64).to_be_bytes());
        out.extend_from_slice(data);
    }
    out
}

/// The container metadata of a pack of `files`: named for how many there are, masked when all
/// of them are, under the first file's policy, made at `created`. The browser's share and
/// contribution workers and the CLI all describe their packs with it.
#[must_use]
pub fn pack_meta(files: &[(FileMeta, &[u8])], created: Option<u64>) -> FileMeta {
    FileMeta {
        name: format!("{} files", files.len()),
        media_type: PACK_MEDIA_TYPE.into(),
        kind: "files".into(),
        masked: files.iter().all(|(m, _)| m.masked),
        policy: files.first().and_then(|(m, _)| m.policy.clone()),
        created,
    }
}

fn take<'a>(bytes: &mut &'a [u8], n: usize) -> Result<&'a [u8], PackError> {
    if bytes.len() < n {
        return Err(PackError::Malformed);
    }
    let (head, rest) = bytes.split_at(n);
    *bytes = rest;
    Ok(head)
}

/// Reads a pack back into its files, in order.
///
/// # Errors
/// [`PackError::NotAPack`] without the magic, [`PackError::Malformed`] for bad lengths, a bad
/// count, invalid metadata or trailing bytes.
pub fn unpack(bytes: &[u8]) -> Result<Vec<(FileMeta, Vec<u8>)>, PackError> {
    let mut rest = bytes
        .strip_prefix(PACK_MAGIC.as_slice())
        .ok_or(PackError::NotAPack)?;
    let count = u32::from_be_bytes(
        take(&mut rest, 4)?
            .try_into()
            .map_err(|_| PackError::Malformed)?,
    );
    if count == 0 || count > MAX_FILES {
        return Err(PackError::Malformed);
    }
    let mut files = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let meta_len = u32::from_be_bytes(
            take(&mut rest, 4)?
                .try_into()
                .map_err(|_| PackError::Malformed)?,
        );
        if meta_len > MAX_META {
            return Err(PackError::Malformed);
        }
        let meta: FileMeta = serde_json::from_slice(take(&mut rest, meta_len as usize)?)
            .map_err(|_| PackError::Malformed)?;
        let data_len = u64::from_be_bytes(
            take(&mut rest, 8)?
                .try_into()
                .map_err(|_| PackError::Malformed)?,
        );
        let data_len = usize::try_from(data_len).map_err(|_| PackError::Malformed)?;
        files.push((meta, take(&mut rest, data_len)?.to_vec()));
    }
    if rest.is_empty() {
        Ok(files)
    } else {
        Err(PackError::Malformed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(name: &str) -> FileMeta {
        FileMeta {
            name: name.into(),
            media_type: "text/plain".into(),
            ..FileMeta::default()
        }
    }

    #[test]
    fn round_trip() {
        let files = [
            (meta("a.txt"), &b"alpha"[..]),
            (meta("empty"), &b""[..]),
            (meta("c.csv"), &b"x,y\n1,2\n"[..]),
        ];
        let packed = pack(&files);
        assert!(is_pack(&packed));
        let back = unpack(&packed).unwrap();
        assert_eq!(back.len(), 3);
        for ((m, d), (bm, bd)) in files.iter().zip(&back) {
            assert_eq!((m, *d), (bm, bd.as_slice()));
        }
    }

    #[test]
    fn pack_meta_describes_the_files() {
        let masked = |name: &str| FileMeta {
            masked: true,
            policy: Some("safe-harbor@1".into()),
            ..meta(name)
        };
        let all = [(masked("a.json"), &b"{}"[..]), (masked("b.csv"), &b"x"[..])];
        let m = pack_meta(&all, Some(7));
        assert_eq!(
            (m.name.as_str(), m.media_type.as_str(), m.kind.as_str()),
            ("2 files", PACK_MEDIA_TYPE, "files")
        );
        assert!(m.masked);
        assert_eq!(m.policy.as_deref(), Some("safe-harbor@1"));
        assert_eq!(m.created, Some(7));
        let mixed = [(masked("a.json"), &b"{}"[..]), (meta("b.txt"), &b"x"[..])];
        assert!(
            !pack_meta(&mixed, None).masked,
            "one unmasked file makes the pack unmasked"
        );
    }

    #[test]
    fn rejects_damage() {
        let packed = pack(&[(meta("a.txt"), &b"alpha"[..])]);
        assert_eq!(unpack(b"hello"), Err(PackError::NotAPack));
        for cut in 8..packed.len() {
            assert_eq!(
                unpack(&packed[..cut]),
                Err(PackError::Malformed),
                "cut at {cut}"
            );
        }
        let mut longer = packed.clone();
        longer.push(0);
        assert_eq!(unpack(&longer), Err(PackError::Malformed));
        let mut zero = PACK_MAGIC.to_vec();
        zero.extend_from_slice(&0u32.to_be_bytes());
        assert_eq!(unpack(&zero), Err(PackError::Malformed));
    }
}
