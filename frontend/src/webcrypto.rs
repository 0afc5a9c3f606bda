//! AES-256-GCM for the payload's chunks through the browser's WebCrypto (`crypto.subtle`),
//! which runs ten to twenty times faster than the `aes-gcm` crate compiled to wasm, with the
//! crate as the fallback wherever WebCrypto is missing (a page that is not a secure context).
//!
//! Both give the same bytes for the same key, nonce and data: AES-256-GCM, 12-byte nonce, no
//! associated data, ciphertext then a 16-byte tag (FORMAT.md section 5.2).
//! `frontend/tests/webcrypto.rs` proves it in headless Chromium for every chunk shape.
//!
//! WebCrypto is asynchronous while the core's [`ChunkCipher`] is synchronous, so:
//! - sealing uses `Encryptor::push_unsealed`, which hands back framed plaintext chunks and
//!   their nonces; [`WebAes::seal`] seals them;
//! - opening uses [`FastCipher`] as the decryptor's [`ChunkCipher`]: the caller opens chunks
//!   ahead with [`WebAes::open`] and hands the plaintext to [`FastCipher::preopened`]; when the
//!   core decryptor then asks for that chunk with the same nonce it gets the plaintext, and
//!   for anything else (a chunk WebCrypto refused, the other last-chunk flag the core tries to
//!   name an error) it falls back to the crate. The core still does every check of FORMAT.md.

use std::cell::RefCell;

use js_sys::{Array, Object, Promise, Reflect, Uint8Array};
use medseal_core::container::{AesGcmChunk, ChunkAuthError, ChunkCipher, PayloadKey, TAG_LEN};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{AesGcmParams, CryptoKey, SubtleCrypto};
use zeroize::Zeroizing;

/// Chunks opened ahead and not yet claimed; more would mean the caller is far ahead of the
/// decryptor, which it never is.
const MAX_PREOPENED: usize = 64;

/// The decryptor's and encryptor's [`ChunkCipher`] in the browser: the `aes-gcm` crate, plus
/// chunks opened ahead by WebCrypto.
pub struct FastCipher {
    key: Zeroizing<[u8; 32]>,
    fallback: AesGcmChunk,
    opened: RefCell<Vec<Preopened>>,
}

/// A chunk's nonce and the plaintext WebCrypto opened under it.
type Preopened = ([u8; 12], Zeroizing<Vec<u8>>);

impl FastCipher {
    /// The payload key, to import into WebCrypto.
    #[must_use]
    pub fn key_bytes(&self) -> &[u8; 32] {
        &self.key
    }

    /// Records the plaintext of a chunk WebCrypto opened (its tag checked) under `nonce`.
    pub fn preopened(&self, nonce: [u8; 12], plaintext: Zeroizing<Vec<u8>>) {
        let mut opened = self.opened.borrow_mut();
        if opened.len() >= MAX_PREOPENED {
            opened.remove(0);
        }
        opened.push((nonce, plaintext));
    }
}

impl ChunkCipher for FastCipher {
    fn new(key: &PayloadKey) -> Self {
        Self {
            key: Zeroizing::new(*key.as_bytes()),
            fallback: AesGcmChunk::new(key),
            opened: RefCell::new(Vec::new()),
        }
    }

    fn seal(&self, nonce: &[u8; 12], buf: &mut [u8]) -> Result<[u8; TAG_LEN], ChunkAuthError> {
        self.fallback.seal(nonce, buf)
    }

    fn open(
        &self,
        nonce: &[u8; 12],
        buf: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), ChunkAuthError> {
        let found = {
            let mut opened = self.opened.borrow_mut();
            let at = opened
                .iter()
                .position(|(n, pt)| n == nonce && pt.len() == buf.len());
            at.map(|at| opened.remove(at))
        };
        match found {
            Some((_, plaintext)) => {
                buf.copy_from_slice(&plaintext);
                Ok(())
            }
            None => self.fallback.open(nonce, buf, tag),
        }
    }
}

/// `crypto.subtle` of this page or worker, if it has one (only secure contexts do).
#[must_use]
pub fn subtle() -> Option<SubtleCrypto> {
    let global = js_sys::global();
    let secure = Reflect::get(&global, &"isSecureContext".into())
        .ok()
        .and_then(|v| v.as_bool())
        .unwrap_or(false);
    if !secure {
        return None;
    }
    let crypto = Reflect::get(&global, &"crypto".into()).ok()?;
    if crypto.is_undefined() || crypto.is_null() {
        return None;
    }
    let subtle = Reflect::get(&crypto, &"subtle".into()).ok()?;
    if subtle.is_undefined() || subtle.is_null() {
        return None;
    }
    Some(subtle.unchecked_into())
}

/// An AES-256-GCM key imported into WebCrypto.
#[derive(Clone)]
pub struct WebAes {
    subtle: SubtleCrypto,
    key: CryptoKey,
}

impl WebAes {
    /// Imports `key` (not extractable). `None` if WebCrypto is missing or refuses it.
    pub async fn new(key: &[u8; 32]) -> Option<Self> {
        let subtle = subtle()?;
        let raw = Uint8Array::from(&key[..]);
        let algorithm = Object::new();
        Reflect::set(&algorithm, &"name".into(), &"AES-GCM".into()).ok()?;
        let usages = Array::of2(&"encrypt".into(), &"decrypt".into());
        let promise = subtle
            .import_key_with_object("raw", &raw, &algorithm, false, &usages)
            .ok()?;
        raw.fill(0, 0, 32);
        let key = JsFuture::from(promise).await.ok()?.unchecked_into();
        Some(Self { subtle, key })
    }

    fn params(nonce: &[u8; 12]) -> AesGcmParams {
        let params = AesGcmParams::new_with_u8_array("AES-GCM", &Uint8Array::from(&nonce[..]));
        params.set_tag_length(128);
        params
    }

    /// Starts sealing `plaintext` (copied at once): resolves to an `ArrayBuffer` holding
    /// the ciphertext and the tag.
    ///
    /// # Errors
    /// If WebCrypto refuses the call.
    pub fn seal(&self, nonce: &[u8; 12], plaintext: &[u8]) -> Result<Promise, JsValue> {
        self.subtle
            .encrypt_with_object_and_u8_array(&Self::params(nonce), &self.key, plaintext)
    }

    /// Starts opening `sealed` (ciphertext and tag, copied at once): resolves to an
    /// `ArrayBuffer` of plaintext, or rejects if the tag does not match.
    ///
    /// # Errors
    /// If WebCrypto refuses the call.
    pub fn open(&self, nonce: &[u8; 12], sealed: &[u8]) -> Result<Promise, JsValue> {
        self.subtle
            .decrypt_with_object_and_u8_array(&Self::params(nonce), &self.key, sealed)
    }

    /// Seals one chunk and returns ciphertext and tag.
    ///
    /// # Errors
    /// If WebCrypto fails.
    pub async fn seal_bytes(&self, nonce: &[u8; 12], plaintext: &[u8]) -> Result<Vec<u8>, JsValue> {
        let buffer = JsFuture::from(self.seal(nonce, plaintext)?).await?;
        Ok(Uint8Array::new(&buffer).to_vec())
    }

    /// Opens one chunk (ciphertext and tag) and returns the plaintext.
    ///
    /// # Errors
    /// If the tag does not match or WebCrypto fails.
    pub async fn open_bytes(&self, nonce: &[u8; 12], sealed: &[u8]) -> Result<Vec<u8>, JsValue> {
        let buffer = JsFuture::from(self.open(nonce, sealed)?).await?;
        Ok(Uint8Array::new(&buffer).to_vec())
    }
}

/// Generates an RSA key pair (public exponent 65537) with WebCrypto, about ten times faster
/// than the `rsa` crate in wasm, and reads it into the core's key type from its PKCS#8 export.
/// `None` when WebCrypto is missing or refuses; [`generate_private_key`] then uses the crate.
pub async fn generate_rsa_webcrypto(bits: usize) -> Option<medseal_core::pki::PrivateKey> {
    let subtle = subtle()?;
    let algorithm = Object::new();
    Reflect::set(&algorithm, &"name".into(), &"RSA-OAEP".into()).ok()?;
    Reflect::set(&algorithm, &"modulusLength".into(), &(bits as u32).into()).ok()?;
    Reflect::set(
        &algorithm,
        &"publicExponent".into(),
        &Uint8Array::from(&[1u8, 0, 1][..]),
    )
    .ok()?;
    Reflect::set(&algorithm, &"hash".into(), &"SHA-256".into()).ok()?;
    let usages = Array::of2(&"encrypt".into(), &"decrypt".into());
    let pair = JsFuture::from(
        subtle
            .generate_key_with_object(&algorithm, true, &usages)
            .ok()?,
    )
    .await
    .ok()?;
    let private: CryptoKey = Reflect::get(&pair, &"privateKey".into())
        .ok()?
        .unchecked_into();
    let exported = JsFuture::from(subtle.export_key("pkcs8", &private).ok()?)
        .await
        .ok()?;
    let der = Zeroizing::new(Uint8Array::new(&exported).to_vec());
    Uint8Array::new(&exported).fill(0, 0, der.len() as u32);
    medseal_core::pki::PrivateKey::from_pkcs8_der(&der).ok()
}

/// Generates an RSA key pair: with WebCrypto when it is available, with the `rsa` crate
/// otherwise. Both give a standard key with public exponent 65537 of exactly `bits` bits.
///
/// # Errors
/// As `PrivateKey::generate` when the crate is used.
pub async fn generate_private_key(
    bits: usize,
) -> Result<medseal_core::pki::PrivateKey, medseal_core::pki::KeyError> {
    match generate_rsa_webcrypto(bits).await {
        Some(key) => Ok(key),
        None => medseal_core::pki::PrivateKey::generate(bits),
    }
}
