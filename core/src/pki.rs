//! RSA key pairs for doctors and researchers: generation, PEM files, fingerprints people can
//! compare, OAEP key wrapping for container stanzas and PSS signatures over canonical bytes.

use rsa::pkcs8::{
    DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, LineEnding,
};
use rsa::traits::PublicKeyParts;
use serde::Serialize;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::id::{b64url, from_b64url};

/// The smallest RSA modulus MedSeal accepts or generates, in bits.
pub const MIN_RSA_BITS: usize = 3072;
/// The largest RSA modulus MedSeal accepts, in bits (bounds the work a hostile key can cause).
pub const MAX_RSA_BITS: usize = 8192;
/// The modulus size of keys MedSeal generates, in bits.
pub const DEFAULT_RSA_BITS: usize = 3072;

/// Why a key could not be generated, read or written.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    /// The text is not a PEM or DER RSA key of the expected kind.
    #[error("not a valid RSA {0} key (expected PEM: PKCS#8 private key or SubjectPublicKeyInfo)")]
    Malformed(&'static str),
    /// The modulus is smaller than 3072 bits or larger than 8192 bits.
    #[error("RSA key of {0} bits is not accepted: MedSeal needs 3072 to 8192 bits")]
    BadSize(usize),
    /// Key generation failed (the CSPRNG failed).
    #[error("RSA key generation failed")]
    Generate,
    /// Encoding the key failed.
    #[error("encoding the key failed")]
    Encode,
}

/// An RSA public key of at least 3072 bits.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey(rsa::PublicKey);

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "PublicKey({} bits, {})",
            self.bits(),
            self.fingerprint().to_hex()
        )
    }
}

fn check_bits(bits: usize) -> Result<(), KeyError> {
    if (MIN_RSA_BITS..=MAX_RSA_BITS).contains(&bits) {
        Ok(())
    } else {
        Err(KeyError::BadSize(bits))
    }
}

impl PublicKey {
    /// Reads a SubjectPublicKeyInfo in PEM (`-----BEGIN PUBLIC KEY-----`).
    ///
    /// # Errors
    /// [`KeyError::Malformed`] or [`KeyError::BadSize`].
    pub fn from_pem(pem: &str) -> Result<Self, KeyError> {
        let key = rsa::PublicKey::from_public_key_pem(pem.trim())
            .map_err(|_| KeyError::Malformed("public"))?;
        Self::checked(key)
    }

    /// Reads a DER SubjectPublicKeyInfo (what WebCrypto exports as `spki`).
    ///
    /// # Errors
    /// [`KeyError::Malformed`] or [`KeyError::BadSize`].
    pub fn from_spki_der(der: &[u8]) -> Result<Self, KeyError> {
        let key =
            rsa::PublicKey::from_public_key_der(der).map_err(|_| KeyError::Malformed("public"))?;
        Self::checked(key)
    }

    fn checked(key: rsa::PublicKey) -> Result<Self, KeyError> {
        check_bits(key.size() * 8)?;
        Ok(Self(key))
    }

    /// The DER SubjectPublicKeyInfo.
    ///
    /// # Errors
    /// [`KeyError::Encode`] if encoding fails.
    pub fn to_spki_der(&self) -> Result<Vec<u8>, KeyError> {
        Ok(self
            .0
            .to_public_key_der()
            .map_err(|_| KeyError::Encode)?
            .as_bytes()
            .to_vec())
    }

    /// The PEM SubjectPublicKeyInfo, with `\n` line endings.
    ///
    /// # Errors
    /// [`KeyError::Encode`] if encoding fails.
    pub fn to_pem(&self) -> Result<String, KeyError> {
        self.0
            .to_public_key_pem(LineEnding::LF)
            .map_err(|_| KeyError::Encode)
    }

    /// The modulus size in bits (a multiple of 8 for the keys MedSeal accepts).
    #[must_use]
    pub fn bits(&self) -> usize {
        self.0.size() * 8
    }

    /// The modulus size in bytes: the length of an OAEP ciphertext or PSS signature.
    #[must_use]
    pub fn size(&self) -> usize {
        self.0.size()
    }

    /// SHA-256 of the DER SubjectPublicKeyInfo.
    #[must_use]
    pub fn fingerprint(&self) -> Fingerprint {
        match self.0.to_public_key_der() {
            Ok(der) => Fingerprint(Sha256::digest(der.as_bytes()).into()),
            // Encoding a key we already hold cannot fail in practice; an all-zero fingerprint
            // would match no stanza and no pinned link, so it fails closed.
            Err(_) => Fingerprint([0; 32]),
        }
    }

    /// RSA-OAEP (SHA-256, MGF1-SHA-256) encryption with `label`.
    ///
    /// # Errors
    /// [`KeyError::Generate`] if the message is too long or the CSPRNG fails.
    pub fn oaep_encrypt(&self, label: &[u8], msg: &[u8]) -> Result<Vec<u8>, KeyError> {
        let padding = rsa::Oaep::<Sha256>::new_with_label(label.to_vec());
        self.0
            .encrypt(&mut getrandom::SysRng, padding, msg)
            .map_err(|_| KeyError::Generate)
    }

    /// Verifies an RSA-PSS-SHA256 signature (MGF1-SHA-256, salt length 32) over `message`.
    ///
    /// # Errors
    /// [`SignatureError::Invalid`] if the signature does not verify.
    pub fn verify_pss(&self, message: &[u8], signature: &[u8]) -> Result<(), SignatureError> {
        self.0
            .pss_verify::<Sha256>(message, signature)
            .map_err(|_| SignatureError::Invalid)
    }

    /// Verifies a signature made by [`PrivateKey::sign_canonical`].
    ///
    /// # Errors
    /// [`SignatureError::Encode`] if `value` cannot be serialized, [`SignatureError::Invalid`]
    /// if the signature does not verify.
    pub fn verify_canonical<T: Serialize>(
        &self,
        context: &str,
        value: &T,
        signature: &[u8],
    ) -> Result<(), SignatureError> {
        let bytes = signed_bytes(context, value)?;
        self.verify_pss(&bytes, signature)
    }
}

/// An RSA private key. Wiped on drop (by the `rsa` crate), never printed.
#[derive(Clone)]
pub struct PrivateKey(rsa::PrivateKey);

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PrivateKey(***)")
    }
}

impl PrivateKey {
    /// Generates a key pair of `bits` bits (3072 to 8192) with public exponent 65537.
    ///
    /// # Errors
    /// [`KeyError::BadSize`] or [`KeyError::Generate`].
    pub fn generate(bits: usize) -> Result<Self, KeyError> {
        check_bits(bits)?;
        rsa::PrivateKey::new(&mut getrandom::SysRng, bits)
            .map(Self)
            .map_err(|_| KeyError::Generate)
    }

    /// Reads a PKCS#8 private key in PEM (`-----BEGIN PRIVATE KEY-----`).
    ///
    /// # Errors
    /// [`KeyError::Malformed`] or [`KeyError::BadSize`].
    pub fn from_pem(pem: &str) -> Result<Self, KeyError> {
        let key = rsa::PrivateKey::from_pkcs8_pem(pem.trim())
            .map_err(|_| KeyError::Malformed("private"))?;
        check_bits(key.size() * 8)?;
        Ok(Self(key))
    }

    /// Reads a PKCS#8 private key in DER (what WebCrypto exports as `pkcs8`).
    ///
    /// # Errors
    /// [`KeyError::Malformed`] or [`KeyError::BadSize`].
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, KeyError> {
        let key =
            rsa::PrivateKey::from_pkcs8_der(der).map_err(|_| KeyError::Malformed("private"))?;
        check_bits(key.size() * 8)?;
        Ok(Self(key))
    }

    /// The PKCS#8 PEM, in a buffer that is wiped on drop.
    ///
    /// # Errors
    /// [`KeyError::Encode`] if encoding fails.
    pub fn to_pem(&self) -> Result<Zeroizing<String>, KeyError> {
        self.0
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|_| KeyError::Encode)
    }

    /// The PKCS#8 DER, in a buffer that is wiped on drop.
    ///
    /// # Errors
    /// [`KeyError::Encode`] if encoding fails.
    pub fn to_pkcs8_der(&self) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        Ok(Zeroizing::new(
            self.0
                .to_pkcs8_der()
                .map_err(|_| KeyError::Encode)?
                .as_bytes()
                .to_vec(),
        ))
    }

    /// The matching public key.
    #[must_use]
    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.0.to_public_key())
    }

    /// RSA-OAEP (SHA-256, MGF1-SHA-256) decryption with `label`, with blinding. `None` on any
    /// failure, with no detail (an oracle must learn nothing).
    #[must_use]
    pub fn oaep_decrypt(&self, label: &[u8], ciphertext: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        let padding = rsa::Oaep::<Sha256>::new_with_label(label.to_vec());
        let decoded = self
            .0
            .decrypt_blinded(&mut getrandom::SysRng, padding, ciphertext)
            .ok()
            .map(Zeroizing::new);
        // rsa 0.10 deliberately ignores the first octet of the encoded message, which RFC 8017
        // (7.1.2 step 3g) requires to be zero; Wycheproof counts that as invalid. Check it here,
        // always, so that the answer does not depend on which check failed.
        let first_octet_zero = self.oaep_first_octet_is_zero(ciphertext);
        decoded.filter(|_| first_octet_zero)
    }

    fn oaep_first_octet_is_zero(&self, ciphertext: &[u8]) -> bool {
        use rsa::traits::PublicKeyParts as _;
        let k = self.0.size();
        if ciphertext.len() != k {
            return false;
        }
        let Ok(c) = rsa::BoxedUint::from_be_slice(ciphertext, self.0.n_bits_precision()) else {
            return false;
        };
        let Ok(m) = rsa::hazmat::rsa_decrypt_and_check(&self.0, Some(&mut getrandom::SysRng), &c)
        else {
            return false;
        };
        let bytes = Zeroizing::new(m.to_be_bytes().to_vec());
        // m < n < 2^(8k), so only the k low-order bytes can be non-zero; em[0] is the first.
        bytes.len() >= k && bytes[bytes.len() - k] == 0
    }

    /// Signs `message` with RSA-PSS-SHA256 (MGF1-SHA-256, salt length 32).
    ///
    /// # Errors
    /// [`SignatureError::Sign`] if signing fails (CSPRNG failure).
    pub fn sign_pss(&self, message: &[u8]) -> Result<Vec<u8>, SignatureError> {
        self.0
            .pss_sign::<Sha256>(message)
            .map_err(|_| SignatureError::Sign)
    }

    /// Signs the canonical bytes of `value` under a context string, such as
    /// `"medseal/v1 study"`: see [`signed_bytes`].
    ///
    /// # Errors
    /// [`SignatureError::Encode`] or [`SignatureError::Sign`].
    pub fn sign_canonical<T: Serialize>(
        &self,
        context: &str,
        value: &T,
    ) -> Result<Vec<u8>, SignatureError> {
        self.sign_pss(&signed_bytes(context, value)?)
    }
}

/// Why signing or verifying failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignatureError {
    /// The signature does not match the message and key.
    #[error("the signature is not valid for this key and message")]
    Invalid,
    /// The value could not be turned into canonical bytes.
    #[error("the value cannot be serialized to canonical JSON")]
    Encode,
    /// The signing operation failed.
    #[error("signing failed")]
    Sign,
}

/// The bytes a canonical signature covers: `"medseal-signature\0" || context || "\0" ||
/// canonical JSON of value`. Canonical JSON has object keys sorted by their UTF-8 bytes, no
/// insignificant whitespace, and serde_json's escaping of strings and formatting of numbers.
///
/// # Errors
/// [`SignatureError::Encode`] if `value` cannot be serialized.
pub fn signed_bytes<T: Serialize>(context: &str, value: &T) -> Result<Vec<u8>, SignatureError> {
    let mut out = b"medseal-signature\0".to_vec();
    out.extend_from_slice(context.as_bytes());
    out.push(0);
    let json = serde_json::to_value(value).map_err(|_| SignatureError::Encode)?;
    write_canonical(&json, &mut out)?;
    Ok(out)
}

/// Canonical JSON of `value` (sorted keys, no whitespace).
///
/// # Errors
/// [`SignatureError::Encode`] if a string cannot be escaped.
pub fn canonical_json(value: &serde_json::Value) -> Result<Vec<u8>, SignatureError> {
    let mut out = Vec::new();
    write_canonical(value, &mut out)?;
    Ok(out)
}

fn write_canonical(value: &serde_json::Value, out: &mut Vec<u8>) -> Result<(), SignatureError> {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push(b'{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                let key = serde_json::to_vec(k).map_err(|_| SignatureError::Encode)?;
                out.extend_from_slice(&key);
                out.push(b':');
                write_canonical(v, out)?;
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(v, out)?;
            }
            out.push(b']');
        }
        other => {
            let bytes = serde_json::to_vec(other).map_err(|_| SignatureError::Encode)?;
            out.extend_from_slice(&bytes);
        }
    }
    Ok(())
}

/// SHA-256 of a public key's DER SubjectPublicKeyInfo.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint(pub [u8; 32]);

impl Fingerprint {
    /// Lower-case hex, 64 characters: for machines and logs.
    #[must_use]
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Unpadded base64url, 43 characters: the form pinned in study links.
    #[must_use]
    pub fn to_b64url(&self) -> String {
        b64url(&self.0)
    }

    /// Parses the base64url or hex form.
    ///
    /// # Errors
    /// [`KeyError::Malformed`] if the text is neither.
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        let text = text.trim();
        let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            (0..32)
                .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16))
                .collect::<Result<Vec<u8>, _>>()
                .map_err(|_| KeyError::Malformed("fingerprint"))?
        } else {
            from_b64url(text).map_err(|_| KeyError::Malformed("fingerprint"))?
        };
        <[u8; 32]>::try_from(bytes.as_slice())
            .map(Self)
            .map_err(|_| KeyError::Malformed("fingerprint"))
    }

    /// Six groups of five digits, for comparing by eye or reading aloud, like Signal's safety
    /// numbers: group `i` is bytes `5i..5i+5` of the fingerprint read as a big-endian integer,
    /// modulo 100000. The thirty digits carry about 100 bits, beyond any second-preimage search.
    #[must_use]
    pub fn to_digits(&self) -> String {
        self.0[..30]
            .chunks(5)
            .map(|chunk| {
                let n = chunk.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
                format!("{:05}", n % 100_000)
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

impl std::fmt::Display for Fingerprint {
    /// `SHA256:` and the hex in groups of four, such as `SHA256:3f9a 21c0 ...`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SHA256:")?;
        let hex = self.to_hex();
        for (i, group) in hex.as_bytes().chunks(4).enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(std::str::from_utf8(group).map_err(|_| std::fmt::Error)?)?;
        }
        Ok(())
    }
}

impl std::fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Fingerprint({})", self.to_hex())
    }
}
