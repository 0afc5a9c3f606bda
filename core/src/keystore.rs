//! Private keys at rest on the user's device: the PKCS#8 key encrypted under a passphrase
//! (Argon2id, then AES-256-GCM), as a small JSON record the browser keeps in IndexedDB. The
//! public key and fingerprint stay readable so the app can list keys without the passphrase.
//!
//! ```text
//! { "format": "medseal-private-key", "version": 1, "label": "...", "created": 1700000000,
//!   "fingerprint": base64url, "spki": base64url DER,
//!   "kdf": { "m": 19456, "t": 2, "p": 1, "salt": base64url 16 bytes },
//!   "nonce": base64url 12 bytes, "ciphertext": base64url (PKCS#8 DER + 16-byte tag) }
//! ```
//!
//! The AES key is `HKDF(salt, Argon2id(passphrase, salt, m, t, p), "medseal/v1 private key")`;
//! the fingerprint is the associated data, so a record cannot be re-labelled with another key.

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{Aead, KeyInit, Nonce, Payload};
use hkdf::Hkdf;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::container::Argon2Params;
use crate::id::{b64url, from_b64url, random_bytes};
use crate::pki::{Fingerprint, PrivateKey, PublicKey};

/// The `format` member of a stored key.
pub const KEY_FORMAT: &str = "medseal-private-key";
/// The Argon2id parameters keys are stored with: 46 MiB, 2 passes, 1 lane, twice the work of
/// OWASP's m = 46 MiB, t = 1 (and 2.4 times the m = 19 MiB, t = 2 the containers use), since
/// a key file is unlocked rarely and may be copied off the device. Records written with the
/// older parameters (m = 19 MiB, t = 2) still unlock: the parameters travel in the record.
pub const KEY_PARAMS: Argon2Params = Argon2Params {
    m_cost: 46 * 1024,
    t_cost: 2,
    p_cost: 1,
};
/// The shortest passphrase a new key record accepts, in characters.
pub const MIN_PASSPHRASE_CHARS: usize = 12;

/// A rough strength of a passphrase, for the hint shown while it is typed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Strength {
    /// Shorter than [`MIN_PASSPHRASE_CHARS`]: refused.
    TooShort,
    /// Long enough but guessable: one repeated character, or one kind of character and under
    /// 16 characters.
    Weak,
    /// Acceptable.
    Fair,
    /// 20 characters or more with some variety (several words, say).
    Strong,
}

impl Strength {
    /// The hint for people.
    #[must_use]
    pub fn hint(self) -> &'static str {
        match self {
            Self::TooShort => {
                "Too short: use at least 12 characters, for example four unrelated words."
            }
            Self::Weak => "Weak: add more words or mix letters, digits and symbols.",
            Self::Fair => "Fair: a longer passphrase (several unrelated words) is stronger.",
            Self::Strong => "Strong.",
        }
    }
}

/// Estimates a passphrase's strength from its length and variety (the hint only; the sole
/// rule enforced is [`MIN_PASSPHRASE_CHARS`]).
#[must_use]
pub fn passphrase_strength(passphrase: &str) -> Strength {
    let chars: Vec<char> = passphrase.chars().collect();
    if chars.len() < MIN_PASSPHRASE_CHARS {
        return Strength::TooShort;
    }
    let distinct = chars
        .iter()
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    let classes = [
        chars.iter().any(|c| c.is_lowercase()),
        chars.iter().any(|c| c.is_uppercase()),
        chars.iter().any(|c| c.is_numeric()),
        chars.iter().any(|c| !c.is_alphanumeric()),
    ]
    .iter()
    .filter(|x| **x)
    .count();
    if distinct <= 3 || (classes == 1 && chars.len() < 16) {
        Strength::Weak
    } else if chars.len() >= 20 && distinct >= 8 {
        Strength::Strong
    } else {
        Strength::Fair
    }
}
const LABEL: &[u8] = b"medseal/v1 private key";

/// Argon2id parameters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Kdf {
    /// Memory, KiB.
    pub m: u32,
    /// Passes.
    pub t: u32,
    /// Lanes.
    pub p: u32,
    /// Salt, base64url.
    pub salt: String,
}

/// A private key encrypted under a passphrase.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredKey {
    /// Always [`KEY_FORMAT`].
    pub format: String,
    /// Always 1.
    pub version: u32,
    /// A name the user gave the key.
    pub label: String,
    /// When it was stored, Unix seconds.
    pub created: u64,
    /// The public key's fingerprint, base64url.
    pub fingerprint: String,
    /// The public key, DER SubjectPublicKeyInfo, base64url.
    pub spki: String,
    /// How the passphrase becomes a key.
    pub kdf: Kdf,
    /// AES-GCM nonce, base64url.
    pub nonce: String,
    /// The PKCS#8 DER under AES-256-GCM, base64url.
    pub ciphertext: String,
}

/// Why a key could not be stored or unlocked.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeystoreError {
    /// The passphrase is too short.
    #[error("choose a passphrase of at least 12 characters")]
    WeakPassphrase,
    /// Wrong passphrase (or altered record).
    #[error("the passphrase is wrong")]
    WrongPassphrase,
    /// The record is not a stored key.
    #[error("this is not a MedSeal key record")]
    Malformed,
    /// Randomness, Argon2id or encoding failed.
    #[error("the key could not be protected: {0}")]
    Crypto(&'static str),
}

fn derive(
    passphrase: &str,
    salt: &[u8],
    params: Argon2Params,
) -> Result<Zeroizing<[u8; 32]>, KeystoreError> {
    if !params.acceptable() {
        return Err(KeystoreError::Malformed);
    }
    let p = argon2::Params::new(params.m_cost, params.t_cost, params.p_cost, Some(32))
        .map_err(|_| KeystoreError::Crypto("argon2 parameters"))?;
    let a = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, p);
    let mut pw = Zeroizing::new([0u8; 32]);
    a.hash_password_into(passphrase.as_bytes(), salt, pw.as_mut_slice())
        .map_err(|_| KeystoreError::Crypto("argon2"))?;
    let mut out = Zeroizing::new([0u8; 32]);
    Hkdf::<Sha256>::new(Some(salt), pw.as_slice())
        .expand(LABEL, out.as_mut_slice())
        .map_err(|_| KeystoreError::Crypto("hkdf"))?;
    Ok(out)
}

/// Encrypts `key` under `passphrase`.
///
/// # Errors
/// [`KeystoreError::WeakPassphrase`] under [`MIN_PASSPHRASE_CHARS`] characters,
/// [`KeystoreError::Crypto`]. Callers pass [`KEY_PARAMS`] (tests pass smaller ones).
pub fn seal_key(
    key: &PrivateKey,
    passphrase: &str,
    label: &str,
    created: u64,
    params: Argon2Params,
) -> Result<StoredKey, KeystoreError> {
    if passphrase.chars().count() < MIN_PASSPHRASE_CHARS {
        return Err(KeystoreError::WeakPassphrase);
    }
    let salt: [u8; 16] = random_bytes().map_err(|_| KeystoreError::Crypto("random"))?;
    let nonce: [u8; 12] = random_bytes().map_err(|_| KeystoreError::Crypto("random"))?;
    let aes = derive(passphrase, &salt, params)?;
    let public = key.public_key();
    let fp = public.fingerprint();
    let der = key
        .to_pkcs8_der()
        .map_err(|_| KeystoreError::Crypto("encode"))?;
    let cipher =
        Aes256Gcm::new_from_slice(aes.as_slice()).map_err(|_| KeystoreError::Crypto("aes"))?;
    let ciphertext = cipher
        .encrypt(
            &Nonce::<Aes256Gcm>::from(nonce),
            Payload {
                msg: der.as_slice(),
                aad: &fp.0,
            },
        )
        .map_err(|_| KeystoreError::Crypto("aes"))?;
    Ok(StoredKey {
        format: KEY_FORMAT.into(),
        version: 1,
        label: label.into(),
        created,
        fingerprint: fp.to_b64url(),
        spki: b64url(
            &public
                .to_spki_der()
                .map_err(|_| KeystoreError::Crypto("encode"))?,
        ),
        kdf: Kdf {
            m: params.m_cost,
            t: params.t_cost,
            p: params.p_cost,
            salt: b64url(&salt),
        },
        nonce: b64url(&nonce),
        ciphertext: b64url(&ciphertext),
    })
}

impl StoredKey {
    /// The public key.
    ///
    /// # Errors
    /// [`KeystoreError::Malformed`].
    pub fn public_key(&self) -> Result<PublicKey, KeystoreError> {
        let der = from_b64url(&self.spki).map_err(|_| KeystoreError::Malformed)?;
        PublicKey::from_spki_der(&der).map_err(|_| KeystoreError::Malformed)
    }

    /// Decrypts the private key.
    ///
    /// # Errors
    /// [`KeystoreError::WrongPassphrase`], [`KeystoreError::Malformed`].
    pub fn unlock(&self, passphrase: &str) -> Result<PrivateKey, KeystoreError> {
        if self.format != KEY_FORMAT || self.version != 1 {
            return Err(KeystoreError::Malformed);
        }
        let fp = Fingerprint::parse(&self.fingerprint).map_err(|_| KeystoreError::Malformed)?;
        let salt = from_b64url(&self.kdf.salt).map_err(|_| KeystoreError::Malformed)?;
        let nonce: [u8; 12] = from_b64url(&self.nonce)
            .ok()
            .and_then(|n| n.try_into().ok())
            .ok_or(KeystoreError::Malformed)?;
        let ct = from_b64url(&self.ciphertext).map_err(|_| KeystoreError::Malformed)?;
        let params = Argon2Params {
            m_cost: self.kdf.m,
            t_cost: self.kdf.t,
            p_cost: self.kdf.p,
        };
        let aes = derive(passphrase, &salt, params)?;
        let cipher =
            Aes256Gcm::new_from_slice(aes.as_slice()).map_err(|_| KeystoreError::Crypto("aes"))?;
        let der = Zeroizing::new(
            cipher
                .decrypt(
                    &Nonce::<Aes256Gcm>::from(nonce),
                    Payload {
                        msg: &ct,
                        aad: &fp.0,
                    },
                )
                .map_err(|_| KeystoreError::WrongPassphrase)?,
        );
        let key = PrivateKey::from_pkcs8_der(&der).map_err(|_| KeystoreError::Malformed)?;
        if key.public_key().fingerprint() != fp {
            return Err(KeystoreError::Malformed);
        }
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAST: Argon2Params = Argon2Params {
        m_cost: 64,
        t_cost: 1,
        p_cost: 1,
    };

    #[test]
    fn a_stored_key_unlocks_with_its_passphrase_only() {
        let key = PrivateKey::from_pem(include_str!("../tests/data/rsa3072.pem")).expect("key");
        let stored = seal_key(&key, "correct horse", "research", 1, FAST).expect("seal");
        assert_eq!(
            stored.fingerprint,
            key.public_key().fingerprint().to_b64url()
        );
        let json = serde_json::to_string(&stored).expect("json");
        let back: StoredKey = serde_json::from_str(&json).expect("json");
        let opened = back.unlock("correct horse").expect("unlock");
        assert_eq!(opened.public_key(), key.public_key());
        assert!(matches!(
            back.unlock("wrong horse"),
            Err(KeystoreError::WrongPassphrase)
        ));
        let mut relabelled = back.clone();
        relabelled.fingerprint = b64url(&[1; 32]);
        assert!(relabelled.unlock("correct horse").is_err());
        assert_eq!(
            seal_key(&key, "short", "x", 1, FAST).map(|_| ()),
            Err(KeystoreError::WeakPassphrase)
        );
    }

    #[test]
    fn new_keys_cost_more_than_the_owasp_minimum_and_old_records_still_unlock() {
        let owasp = Argon2Params::DEFAULT;
        let work = |p: Argon2Params| u64::from(p.m_cost) * u64::from(p.t_cost);
        assert!(
            work(KEY_PARAMS) > work(owasp),
            "the stored-key cost is above OWASP's minimum"
        );
        assert!(KEY_PARAMS.m_cost > owasp.m_cost);
        assert!(KEY_PARAMS.acceptable(), "within the readers' ceiling");
        let key = PrivateKey::from_pem(include_str!("../tests/data/rsa3072.pem")).expect("key");
        let stored = seal_key(&key, "four unrelated words", "k", 1, KEY_PARAMS).expect("seal");
        assert_eq!(
            (stored.kdf.m, stored.kdf.t, stored.kdf.p),
            (46 * 1024, 2, 1)
        );
        assert_eq!(
            stored
                .unlock("four unrelated words")
                .expect("unlock")
                .public_key(),
            key.public_key()
        );
        // A record as the previous version wrote it: OWASP's minimum and an 8-character
        // passphrase. It still unlocks.
        let mut old = seal_key(&key, "placeholder-long", "k", 1, owasp).expect("seal");
        let salt = from_b64url(&old.kdf.salt).expect("salt");
        let nonce: [u8; 12] = from_b64url(&old.nonce).expect("n").try_into().expect("12");
        let aes = derive("8chars!!", &salt, owasp).expect("derive");
        let der = key.to_pkcs8_der().expect("der");
        let ct = Aes256Gcm::new_from_slice(aes.as_slice())
            .expect("aes")
            .encrypt(
                &Nonce::<Aes256Gcm>::from(nonce),
                Payload {
                    msg: der.as_slice(),
                    aad: &key.public_key().fingerprint().0,
                },
            )
            .expect("enc");
        old.ciphertext = b64url(&ct);
        assert_eq!(
            old.unlock("8chars!!").expect("old record").public_key(),
            key.public_key()
        );
        // New records need 12 characters.
        for short in ["8chars!!", "elevenchars"] {
            assert_eq!(
                seal_key(&key, short, "k", 1, FAST).map(|_| ()),
                Err(KeystoreError::WeakPassphrase)
            );
        }
        assert!(seal_key(&key, "twelve chars", "k", 1, FAST).is_ok());
    }

    #[test]
    fn the_strength_hint_grows_with_length_and_variety() {
        assert_eq!(passphrase_strength("short"), Strength::TooShort);
        assert_eq!(passphrase_strength("aaaaaaaaaaaaaaaa"), Strength::Weak);
        assert_eq!(passphrase_strength("abcdefghijkl"), Strength::Weak);
        assert_eq!(passphrase_strength("Abcdefgh1234"), Strength::Fair);
        assert_eq!(
            passphrase_strength("correct horse battery staple"),
            Strength::Strong
        );
        assert!(Strength::TooShort.hint().contains("12"));
    }
}
