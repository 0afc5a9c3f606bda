//! The container header: magic, version, payload salt, recipient stanzas and the header MAC.
//!
//! ```text
//! offset  size  field
//! 0       8     magic "MEDSEAL" 0x00
//! 8       1     version, 0x01
//! 9       1     flags, 0x00 (reserved)
//! 10      32    payload salt
//! 42      1     stanza count N, 1..=16
//! 43      ...   N stanzas: type (1) | body length (2, big-endian) | body
//! ...     32    HMAC-SHA256(header key, every preceding header byte)
//! ```

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::keys::HeaderKey;

/// The first eight bytes of every MedSeal container.
pub const MAGIC: [u8; 8] = *b"MEDSEAL\0";
/// The version this implementation reads and writes.
pub const VERSION: u8 = 1;
/// Length of the payload salt.
pub const SALT_LEN: usize = 32;
/// Length of the header MAC.
pub const MAC_LEN: usize = 32;
/// The most stanzas a header may carry.
pub const MAX_STANZAS: usize = 16;
/// The largest header a reader accepts, in bytes.
pub const MAX_HEADER_LEN: usize = 32 * 1024;

/// Stanza type of a link-key stanza.
pub const STANZA_LINK: u8 = 0x01;
/// Stanza type of a password stanza (needs the link key too).
pub const STANZA_PASSWORD: u8 = 0x02;
/// Stanza type of an RSA-OAEP-SHA256 stanza.
pub const STANZA_RSA: u8 = 0x03;

/// Length of a link stanza body: salt (16) | wrapped file key (48).
pub const LINK_BODY_LEN: usize = 16 + 48;
/// Length of a password stanza body: salt (16) | m, t, p (3 x 4) | link check (16) | wrapped (48).
pub const PASSWORD_BODY_LEN: usize = 16 + 12 + 16 + 48;

/// Argon2id parameters as stored in a password stanza.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Argon2Params {
    /// Memory in KiB.
    pub m_cost: u32,
    /// Passes.
    pub t_cost: u32,
    /// Lanes.
    pub p_cost: u32,
}

impl Argon2Params {
    /// OWASP's minimum recommendation for Argon2id: 19 MiB, 2 passes, 1 lane. About half a
    /// second in a phone's browser.
    pub const DEFAULT: Self = Self {
        m_cost: 19 * 1024,
        t_cost: 2,
        p_cost: 1,
    };
    /// The most memory a reader will spend: 64 MiB (writers use 19 MiB; the stored-key
    /// default is 46 MiB).
    pub const MAX_M_COST: u32 = 64 * 1024;
    /// The most passes a reader will run.
    pub const MAX_T_COST: u32 = 4;
    /// The most lanes a reader will accept.
    pub const MAX_P_COST: u32 = 4;
    /// The most work (memory in KiB times passes) a reader will do: 128 MiB-passes, under
    /// seven times what MedSeal writes, so a crafted header cannot make a reader's browser
    /// spend gigabytes of Argon2id work before its MAC is checked.
    pub const MAX_WORK: u64 = 128 * 1024;

    /// True if a reader accepts these parameters (FORMAT.md section 6.1: within Argon2's own
    /// minimums and MedSeal's ceiling). Checked when the header is parsed, before any Argon2id.
    #[must_use]
    pub fn acceptable(&self) -> bool {
        (1..=Self::MAX_P_COST).contains(&self.p_cost)
            && (1..=Self::MAX_T_COST).contains(&self.t_cost)
            && self.m_cost >= 8 * self.p_cost
            && self.m_cost <= Self::MAX_M_COST
            && u64::from(self.m_cost) * u64::from(self.t_cost) <= Self::MAX_WORK
    }
}

impl Default for Argon2Params {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// One recipient stanza, as it appears on the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stanza {
    /// A link-key stanza.
    Link {
        /// HKDF salt of the wrapping key.
        salt: [u8; 16],
        /// The file key under AES-256-GCM: 32 bytes of ciphertext and a 16-byte tag.
        wrapped: [u8; 48],
    },
    /// A password stanza.
    Password {
        /// Argon2id and HKDF salt.
        salt: [u8; 16],
        /// Argon2id parameters.
        params: Argon2Params,
        /// HKDF of the link key alone, so a reader can tell a wrong link from a wrong password.
        link_check: [u8; 16],
        /// The wrapped file key.
        wrapped: [u8; 48],
    },
    /// An RSA-OAEP stanza.
    Rsa {
        /// SHA-256 of the recipient's SubjectPublicKeyInfo.
        fingerprint: [u8; 32],
        /// The OAEP ciphertext of the file key, as long as the modulus.
        ciphertext: Vec<u8>,
    },
    /// A stanza of a type this version does not know. Readers skip it; it stays under the MAC.
    Unknown {
        /// Its type byte.
        kind: u8,
        /// Its body.
        body: Vec<u8>,
    },
}

/// Why a header could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// The data does not start with the MedSeal magic bytes.
    #[error("this is not a MedSeal file (bad magic bytes)")]
    NotMedSeal,
    /// The file is a MedSeal container of a version this software does not read.
    #[error("this MedSeal file has version {0}, which this software cannot read; please update")]
    UnknownVersion(u8),
    /// The data ends before the header does.
    #[error("the MedSeal file is cut short inside its header")]
    Truncated,
    /// The header breaks a rule of FORMAT.md.
    #[error("the MedSeal header is malformed: {0}")]
    Malformed(&'static str),
}

/// A parsed header. Nothing in it is authenticated until a file key checks the MAC.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// The payload salt.
    pub payload_salt: [u8; SALT_LEN],
    /// The recipient stanzas, in order.
    pub stanzas: Vec<Stanza>,
    /// The MAC as read (or as computed by the writer).
    pub mac: [u8; MAC_LEN],
}

fn take<'a>(data: &'a [u8], pos: &mut usize, n: usize) -> Result<&'a [u8], HeaderError> {
    let end = pos.checked_add(n).ok_or(HeaderError::Truncated)?;
    if end > MAX_HEADER_LEN {
        return Err(HeaderError::Malformed("header longer than 32 KiB"));
    }
    let bytes = data.get(*pos..end).ok_or(HeaderError::Truncated)?;
    *pos = end;
    Ok(bytes)
}

fn arr<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(&bytes[..N]);
    out
}

fn be32(bytes: &[u8]) -> u32 {
    u32::from_be_bytes(arr(bytes))
}

impl Stanza {
    fn kind(&self) -> u8 {
        match self {
            Self::Link { .. } => STANZA_LINK,
            Self::Password { .. } => STANZA_PASSWORD,
            Self::Rsa { .. } => STANZA_RSA,
            Self::Unknown { kind, .. } => *kind,
        }
    }

    fn body(&self) -> Vec<u8> {
        match self {
            Self::Link { salt, wrapped } => [&salt[..], &wrapped[..]].concat(),
            Self::Password {
                salt,
                params,
                link_check,
                wrapped,
            } => [
                &salt[..],
                &params.m_cost.to_be_bytes(),
                &params.t_cost.to_be_bytes(),
                &params.p_cost.to_be_bytes(),
                &link_check[..],
                &wrapped[..],
            ]
            .concat(),
            Self::Rsa {
                fingerprint,
                ciphertext,
            } => [&fingerprint[..], ciphertext].concat(),
            Self::Unknown { body, .. } => body.clone(),
        }
    }

    fn parse(kind: u8, body: &[u8]) -> Result<Self, HeaderError> {
        match kind {
            STANZA_LINK => {
                if body.len() != LINK_BODY_LEN {
                    return Err(HeaderError::Malformed("link stanza must be 64 bytes"));
                }
                Ok(Self::Link {
                    salt: arr(&body[..16]),
                    wrapped: arr(&body[16..]),
                })
            }
            STANZA_PASSWORD => {
                if body.len() != PASSWORD_BODY_LEN {
                    return Err(HeaderError::Malformed("password stanza must be 92 bytes"));
                }
                let params = Argon2Params {
                    m_cost: be32(&body[16..20]),
                    t_cost: be32(&body[20..24]),
                    p_cost: be32(&body[24..28]),
                };
                if !params.acceptable() {
                    return Err(HeaderError::Malformed(
                        "password stanza has Argon2id parameters out of bounds",
                    ));
                }
                Ok(Self::Password {
                    salt: arr(&body[..16]),
                    params,
                    link_check: arr(&body[28..44]),
                    wrapped: arr(&body[44..]),
                })
            }
            STANZA_RSA => {
                let ct_len = body.len().saturating_sub(32);
                if body.len() < 32 || !(384..=1024).contains(&ct_len) {
                    return Err(HeaderError::Malformed(
                        "RSA stanza ciphertext must be 384 to 1024 bytes",
                    ));
                }
                Ok(Self::Rsa {
                    fingerprint: arr(&body[..32]),
                    ciphertext: body[32..].to_vec(),
                })
            }
            0 => Err(HeaderError::Malformed("stanza type 0 is reserved")),
            kind => Ok(Self::Unknown {
                kind,
                body: body.to_vec(),
            }),
        }
    }
}

impl Header {
    /// Parses a header from the start of `data`.
    ///
    /// Returns `Ok(None)` if `data` is a valid beginning of a header but too short to hold all
    /// of it (feed more bytes and call again), and otherwise the header and its length in bytes.
    /// The checks run in the order FORMAT.md lists them.
    ///
    /// # Errors
    /// [`HeaderError::NotMedSeal`], [`HeaderError::UnknownVersion`] or
    /// [`HeaderError::Malformed`].
    pub fn parse_prefix(data: &[u8]) -> Result<Option<(Self, usize)>, HeaderError> {
        match Self::parse_inner(data) {
            Ok(found) => Ok(Some(found)),
            Err(HeaderError::Truncated) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Parses a header that must be complete at the start of `data`.
    ///
    /// # Errors
    /// As [`Header::parse_prefix`], plus [`HeaderError::Truncated`] if `data` ends first.
    pub fn parse(data: &[u8]) -> Result<(Self, usize), HeaderError> {
        Self::parse_inner(data)
    }

    fn parse_inner(data: &[u8]) -> Result<(Self, usize), HeaderError> {
        // 1. Magic: compare what is there, so a short non-MedSeal input fails at once.
        let seen = data.len().min(MAGIC.len());
        if data[..seen] != MAGIC[..seen] {
            return Err(HeaderError::NotMedSeal);
        }
        let mut pos = 0;
        take(data, &mut pos, MAGIC.len())?;
        // 2. Version.
        let version = take(data, &mut pos, 1)?[0];
        if version != VERSION {
            return Err(HeaderError::UnknownVersion(version));
        }
        // 3. Flags.
        if take(data, &mut pos, 1)?[0] != 0 {
            return Err(HeaderError::Malformed("reserved flags are not zero"));
        }
        // 4. Payload salt and stanza count.
        let payload_salt = arr(take(data, &mut pos, SALT_LEN)?);
        let count = usize::from(take(data, &mut pos, 1)?[0]);
        if count == 0 || count > MAX_STANZAS {
            return Err(HeaderError::Malformed("stanza count must be 1 to 16"));
        }
        // 5. Stanzas.
        let mut stanzas = Vec::with_capacity(count);
        for _ in 0..count {
            let kind = take(data, &mut pos, 1)?[0];
            let len = usize::from(u16::from_be_bytes(arr(take(data, &mut pos, 2)?)));
            let body = take(data, &mut pos, len)?;
            stanzas.push(Stanza::parse(kind, body)?);
        }
        // 6. Combination rules.
        let passwords = stanzas
            .iter()
            .filter(|s| matches!(s, Stanza::Password { .. }))
            .count();
        if passwords > 0 && stanzas.len() != 1 {
            return Err(HeaderError::Malformed(
                "a password stanza must be the only stanza",
            ));
        }
        // 7. MAC.
        let mac = arr(take(data, &mut pos, MAC_LEN)?);
        Ok((
            Self {
                payload_salt,
                stanzas,
                mac,
            },
            pos,
        ))
    }

    /// The header bytes the MAC covers: everything from the magic to the last stanza.
    #[must_use]
    pub fn mac_input(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(128);
        out.extend_from_slice(&MAGIC);
        out.push(VERSION);
        out.push(0);
        out.extend_from_slice(&self.payload_salt);
        // The writer never builds more than 16 stanzas; the cast is checked there.
        out.push(u8::try_from(self.stanzas.len()).unwrap_or(u8::MAX));
        for stanza in &self.stanzas {
            let body = stanza.body();
            out.push(stanza.kind());
            out.extend_from_slice(&u16::try_from(body.len()).unwrap_or(u16::MAX).to_be_bytes());
            out.extend_from_slice(&body);
        }
        out
    }

    /// The complete header bytes, MAC included.
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.mac_input();
        out.extend_from_slice(&self.mac);
        out
    }

    /// Computes the MAC under `key`.
    #[must_use]
    pub fn compute_mac(&self, key: &HeaderKey) -> [u8; MAC_LEN] {
        hmac_sha256(key.as_bytes(), &self.mac_input())
    }

    /// Checks the stored MAC under `key`, in constant time.
    #[must_use]
    pub fn verify_mac(&self, key: &HeaderKey) -> bool {
        use subtle::ConstantTimeEq;
        bool::from(self.compute_mac(key).ct_eq(&self.mac))
    }

    /// True if this header holds a password stanza: the reader must ask for the password (as
    /// well as having the link key).
    #[must_use]
    pub fn needs_password(&self) -> bool {
        self.stanzas
            .iter()
            .any(|s| matches!(s, Stanza::Password { .. }))
    }

    /// True if a link key alone may open this header.
    #[must_use]
    pub fn has_link_stanza(&self) -> bool {
        self.stanzas
            .iter()
            .any(|s| matches!(s, Stanza::Link { .. }))
    }

    /// The fingerprints of the RSA recipients.
    #[must_use]
    pub fn rsa_fingerprints(&self) -> Vec<[u8; 32]> {
        self.stanzas
            .iter()
            .filter_map(|s| match s {
                Stanza::Rsa { fingerprint, .. } => Some(*fingerprint),
                _ => None,
            })
            .collect()
    }
}

/// HMAC-SHA256 of `data` under `key`.
pub(crate) fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of every length, so the error branch is never taken; it yields a MAC
    // that matches nothing rather than a panic.
    match <Hmac<Sha256> as KeyInit>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(data);
            mac.finalize().into_bytes().into()
        }
        Err(_) => [0; 32],
    }
}
