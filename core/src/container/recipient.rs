//! Recipients (who a container is for) and identities (what opens it): building stanzas that
//! wrap the file key, and unwrapping it again.

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::Nonce;
use aes_gcm::aead::{Aead, KeyInit};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::header::{Argon2Params, Stanza};
use super::keys::{
    FileKey, LABEL_LINK, LABEL_LINK_CHECK, LABEL_PASSWORD, LABEL_RSA_OAEP, LinkKey, Password,
    hkdf32,
};
use crate::id::{RandomError, random_bytes};
use crate::pki::{PrivateKey, PublicKey};

/// Who a container is for.
#[derive(Debug)]
pub enum Recipient<'a> {
    /// Whoever holds the link key.
    Link(&'a LinkKey),
    /// Whoever holds the link key and knows the password. Must be the only recipient.
    Password {
        /// The link key.
        link: &'a LinkKey,
        /// The password.
        password: &'a Password,
        /// Argon2id parameters; [`Argon2Params::DEFAULT`] unless testing.
        params: Argon2Params,
    },
    /// The holder of an RSA private key.
    Rsa(&'a PublicKey),
}

/// What opens a container.
#[derive(Debug, Clone, Copy)]
pub enum Identity<'a> {
    /// A link key, for a link stanza.
    Link(&'a LinkKey),
    /// A link key and a password, for a password stanza.
    Password(&'a LinkKey, &'a Password),
    /// An RSA private key, for an RSA stanza with its fingerprint.
    Rsa(&'a PrivateKey),
}

/// Why building a stanza failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WrapError {
    /// The platform random number generator failed.
    #[error("the platform random number generator failed")]
    Random,
    /// Argon2id rejected the parameters.
    #[error("the Argon2id parameters are out of bounds")]
    BadParams,
    /// RSA-OAEP encryption failed.
    #[error("RSA-OAEP encryption to the recipient's key failed")]
    Rsa,
}

impl From<RandomError> for WrapError {
    fn from(_: RandomError) -> Self {
        Self::Random
    }
}

/// Why an identity did not open a header.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnlockError {
    /// A link key was given, but no link stanza opens with it.
    #[error("this key does not open this file (wrong key, or the file was altered)")]
    WrongKey,
    /// The file is password protected and only a link key was given.
    #[error("this file is protected by a password")]
    PasswordRequired,
    /// A password was given but the file has no password stanza.
    #[error("this file is not protected by a password")]
    NoPasswordStanza,
    /// The link key is wrong for the password stanza.
    #[error("the link key does not match this file (wrong link, or the file was altered)")]
    WrongLink,
    /// The link key is right but the password does not open the stanza.
    #[error("wrong password")]
    WrongPassword,
    /// The file has no stanza for this private key's fingerprint.
    #[error("this file was not encrypted to your key")]
    NotForThisKey,
    /// A stanza for this key exists but does not decrypt with it.
    #[error("the stanza for your key does not decrypt (the file was altered)")]
    RsaFailed,
    /// A stanza released a file key, but the header MAC does not match it: a stanza or a field
    /// of the header was altered.
    #[error("the file's header was altered (header MAC mismatch)")]
    HeaderAltered,
    /// Argon2id failed (it could not allocate its memory).
    #[error("the password could not be processed (Argon2id failed)")]
    Argon2,
}

fn wrap_aead(key: &[u8; 32], file_key: &FileKey) -> Result<[u8; 48], WrapError> {
    let cipher = Aes256Gcm::new_from_slice(key).map_err(|_| WrapError::BadParams)?;
    // Each wrapping key comes from a fresh random salt and wraps exactly one message, so the
    // fixed all-zero nonce is never reused under one key.
    let ct = cipher
        .encrypt(&Nonce::<Aes256Gcm>::default(), &file_key.as_bytes()[..])
        .map_err(|_| WrapError::BadParams)?;
    <[u8; 48]>::try_from(ct.as_slice()).map_err(|_| WrapError::BadParams)
}

fn unwrap_aead(key: &[u8; 32], wrapped: &[u8; 48]) -> Option<FileKey> {
    let cipher = Aes256Gcm::new_from_slice(key).ok()?;
    let pt = Zeroizing::new(
        cipher
            .decrypt(&Nonce::<Aes256Gcm>::default(), &wrapped[..])
            .ok()?,
    );
    <[u8; 32]>::try_from(pt.as_slice())
        .ok()
        .map(FileKey::from_bytes)
}

fn argon2id(
    password: &Password,
    salt: &[u8; 16],
    params: Argon2Params,
) -> Option<Zeroizing<[u8; 32]>> {
    let p = argon2::Params::new(params.m_cost, params.t_cost, params.p_cost, Some(32)).ok()?;
    let a = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, p);
    let mut out = Zeroizing::new([0u8; 32]);
    a.hash_password_into(password.as_bytes(), salt, out.as_mut_slice())
        .ok()?;
    Some(out)
}

fn password_wrap_key(link: &LinkKey, pw: &[u8; 32], salt: &[u8; 16]) -> Zeroizing<[u8; 32]> {
    let mut ikm = Zeroizing::new([0u8; 64]);
    ikm[..32].copy_from_slice(link.as_bytes());
    ikm[32..].copy_from_slice(pw);
    hkdf32(salt, &ikm[..], LABEL_PASSWORD)
}

fn link_check(link: &LinkKey, salt: &[u8; 16]) -> [u8; 16] {
    let full = hkdf32(salt, link.as_bytes(), LABEL_LINK_CHECK);
    let mut out = [0u8; 16];
    out.copy_from_slice(&full[..16]);
    out
}

impl Recipient<'_> {
    /// Builds this recipient's stanza around `file_key`.
    ///
    /// # Errors
    /// [`WrapError`] if randomness, Argon2id or RSA fails.
    pub fn wrap(&self, file_key: &FileKey) -> Result<Stanza, WrapError> {
        match self {
            Self::Link(link) => {
                let salt: [u8; 16] = random_bytes()?;
                let key = hkdf32(&salt, link.as_bytes(), LABEL_LINK);
                Ok(Stanza::Link {
                    salt,
                    wrapped: wrap_aead(&key, file_key)?,
                })
            }
            Self::Password {
                link,
                password,
                params,
            } => {
                if !params.acceptable() {
                    return Err(WrapError::BadParams);
                }
                let salt: [u8; 16] = random_bytes()?;
                let pw = argon2id(password, &salt, *params).ok_or(WrapError::BadParams)?;
                let key = password_wrap_key(link, &pw, &salt);
                Ok(Stanza::Password {
                    salt,
                    params: *params,
                    link_check: link_check(link, &salt),
                    wrapped: wrap_aead(&key, file_key)?,
                })
            }
            Self::Rsa(public) => Ok(Stanza::Rsa {
                fingerprint: public.fingerprint().0,
                ciphertext: public
                    .oaep_encrypt(LABEL_RSA_OAEP, file_key.as_bytes())
                    .map_err(|_| WrapError::Rsa)?,
            }),
        }
    }
}

impl Identity<'_> {
    /// Finds the stanza this identity opens and returns the file key it wraps. The file key is
    /// not yet trusted: the caller must check the header MAC with it.
    ///
    /// # Errors
    /// [`UnlockError`] naming why no stanza opened.
    pub fn unwrap(&self, stanzas: &[Stanza]) -> Result<FileKey, UnlockError> {
        match self {
            Self::Link(link) => {
                let mut any_link = false;
                for stanza in stanzas {
                    if let Stanza::Link { salt, wrapped } = stanza {
                        any_link = true;
                        let key = hkdf32(salt, link.as_bytes(), LABEL_LINK);
                        if let Some(fk) = unwrap_aead(&key, wrapped) {
                            return Ok(fk);
                        }
                    }
                }
                let has_password = stanzas.iter().any(|s| matches!(s, Stanza::Password { .. }));
                if !any_link && has_password {
                    Err(UnlockError::PasswordRequired)
                } else {
                    Err(UnlockError::WrongKey)
                }
            }
            Self::Password(link, password) => {
                let Some(Stanza::Password {
                    salt,
                    params,
                    link_check: check,
                    wrapped,
                }) = stanzas
                    .iter()
                    .find(|s| matches!(s, Stanza::Password { .. }))
                else {
                    return Err(UnlockError::NoPasswordStanza);
                };
                if !bool::from(link_check(link, salt).ct_eq(check)) {
                    return Err(UnlockError::WrongLink);
                }
                let pw = argon2id(password, salt, *params).ok_or(UnlockError::Argon2)?;
                let key = password_wrap_key(link, &pw, salt);
                unwrap_aead(&key, wrapped).ok_or(UnlockError::WrongPassword)
            }
            Self::Rsa(private) => {
                let mine = private.public_key().fingerprint().0;
                let mut found = false;
                for stanza in stanzas {
                    if let Stanza::Rsa {
                        fingerprint,
                        ciphertext,
                    } = stanza
                    {
                        if *fingerprint != mine {
                            continue;
                        }
                        found = true;
                        if let Some(pt) = private.oaep_decrypt(LABEL_RSA_OAEP, ciphertext)
                            && let Ok(bytes) = <[u8; 32]>::try_from(pt.as_slice())
                        {
                            return Ok(FileKey::from_bytes(bytes));
                        }
                    }
                }
                Err(if found {
                    UnlockError::RsaFailed
                } else {
                    UnlockError::NotForThisKey
                })
            }
        }
    }
}
