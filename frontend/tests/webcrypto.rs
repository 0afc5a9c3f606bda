//! WebCrypto and the `aes-gcm` crate give the same bytes for every chunk shape, and a container
//! sealed chunk by chunk with WebCrypto opens with the core (and the other way round), in
//! headless Chromium.
//!
//! `CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
//!  cargo test --target wasm32-unknown-unknown -p medseal-frontend --test webcrypto`
#![cfg(target_arch = "wasm32")]

#[allow(dead_code)]
#[path = "../src/webcrypto.rs"]
mod webcrypto;

use medseal_core::container::{
    AesGcmChunk, CHUNK_SIZE, ChunkCipher, Encryptor, FileMeta, Header, Identity, LinkKey,
    PayloadDecryptor, PayloadKey, Recipient, TAG_LEN, chunk_nonce, decrypt, encrypt,
};
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};
use webcrypto::{FastCipher, WebAes};
use zeroize::Zeroizing;

wasm_bindgen_test_configure!(run_in_browser);

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// (name, chunk index, last flag, plaintext length): the shapes a payload's chunks take.
const SHAPES: &[(&str, u64, bool, usize)] = &[
    ("first", 0, false, CHUNK_SIZE),
    ("middle", 7, false, CHUNK_SIZE),
    ("last, full", 9, true, CHUNK_SIZE),
    ("last, short", 3, true, 1000),
    ("only chunk", 0, true, 12),
    ("one byte", 2, true, 1),
    ("empty", 0, true, 0),
    ("counter beyond 32 bits", (1 << 40) + 5, false, CHUNK_SIZE),
];

#[wasm_bindgen_test]
async fn webcrypto_and_the_crate_seal_every_chunk_shape_alike() {
    let key_bytes: [u8; 32] = std::array::from_fn(|i| (i as u8) ^ 0xA5);
    let key = PayloadKey::from_bytes(key_bytes);
    let crate_cipher = AesGcmChunk::new(&key);
    let web = WebAes::new(&key_bytes)
        .await
        .expect("WebCrypto is available in the test page (a secure context)");
    for &(name, index, last, len) in SHAPES {
        let nonce = chunk_nonce(index, last);
        let plaintext = pattern(len, index as u8);

        let mut by_crate = plaintext.clone();
        let tag = crate_cipher.seal(&nonce, &mut by_crate).unwrap();
        by_crate.extend_from_slice(&tag);
        let by_web = web.seal_bytes(&nonce, &plaintext).await.unwrap();
        assert_eq!(by_web.len(), len + TAG_LEN, "{name}");
        assert!(by_web == by_crate, "{name}: WebCrypto and the crate differ");

        // Each opens the other's output.
        let opened = web.open_bytes(&nonce, &by_crate).await.unwrap();
        assert!(
            opened == plaintext,
            "{name}: WebCrypto opening the crate's chunk"
        );
        let (body, tag) = by_web.split_at(len);
        let mut body = body.to_vec();
        crate_cipher
            .open(&nonce, &mut body, tag.try_into().unwrap())
            .unwrap();
        assert!(
            body == plaintext,
            "{name}: the crate opening WebCrypto's chunk"
        );

        // Both refuse the chunk under the other last-chunk flag, and with a flipped byte.
        let other = chunk_nonce(index, !last);
        assert!(web.open_bytes(&other, &by_crate).await.is_err(), "{name}");
        let mut flipped = by_crate.clone();
        flipped[0] ^= 1;
        assert!(web.open_bytes(&nonce, &flipped).await.is_err(), "{name}");
    }
}

/// A container sealed with `push_unsealed` and WebCrypto opens with the core's decrypt, and a
/// container sealed by the core opens through `FastCipher` with chunks opened by WebCrypto.
#[wasm_bindgen_test]
async fn containers_cross_between_webcrypto_and_the_crate() {
    let link = LinkKey::generate().unwrap();
    let meta = FileMeta {
        name: "record.bin".into(),
        ..FileMeta::default()
    };
    for size in [
        0usize,
        1,
        CHUNK_SIZE - 12,
        CHUNK_SIZE,
        3 * CHUNK_SIZE + 17,
        1 << 20,
    ] {
        let content = pattern(size, 3);

        // WebCrypto seals, the crate opens.
        let (mut enc, mut sealed) =
            Encryptor::<FastCipher>::with_cipher(&[Recipient::Link(&link)], &meta, size as u64)
                .unwrap();
        let web = WebAes::new(enc.cipher().key_bytes()).await.unwrap();
        let mut chunks = enc.push_unsealed(&content).unwrap();
        while let Some(chunk) = enc.next_final_unsealed().unwrap() {
            chunks.push(chunk);
        }
        for chunk in &chunks {
            sealed.extend(
                web.seal_bytes(&chunk.nonce, &chunk.plaintext)
                    .await
                    .unwrap(),
            );
        }
        let (back_meta, back) = decrypt(Identity::Link(&link), &sealed).unwrap();
        assert_eq!(back_meta, meta);
        assert!(back == content, "size {size}: WebCrypto-sealed container");

        // The crate seals, WebCrypto opens every chunk ahead for the core's decryptor.
        let sealed = encrypt(&[Recipient::Link(&link)], &meta, &content).unwrap();
        let (header, header_len) = Header::parse(&sealed).unwrap();
        let mut dec =
            PayloadDecryptor::<FastCipher>::with_cipher(&header, Identity::Link(&link)).unwrap();
        let web = WebAes::new(dec.cipher().key_bytes()).await.unwrap();
        let payload = &sealed[header_len..];
        let n = payload.len().div_ceil(CHUNK_SIZE + TAG_LEN);
        for (i, chunk) in payload.chunks(CHUNK_SIZE + TAG_LEN).enumerate() {
            let nonce = chunk_nonce(i as u64, i + 1 == n);
            let plaintext = web.open_bytes(&nonce, chunk).await.unwrap();
            dec.cipher().preopened(nonce, Zeroizing::new(plaintext));
        }
        let mut back = dec.push(payload).unwrap();
        back.extend(dec.finish().unwrap());
        assert!(back == content, "size {size}: opened with WebCrypto");
    }
}

/// A chunk WebCrypto refused is not pre-opened; the core then names the error as usual.
#[wasm_bindgen_test]
async fn a_tampered_chunk_fails_the_same_way_with_webcrypto() {
    let link = LinkKey::generate().unwrap();
    let content = pattern(3 * CHUNK_SIZE, 9);
    let mut sealed = encrypt(&[Recipient::Link(&link)], &FileMeta::default(), &content).unwrap();
    let (header, header_len) = Header::parse(&sealed).unwrap();
    let at = header_len + CHUNK_SIZE + TAG_LEN + 100;
    sealed[at] ^= 0x40;
    let mut dec =
        PayloadDecryptor::<FastCipher>::with_cipher(&header, Identity::Link(&link)).unwrap();
    let web = WebAes::new(dec.cipher().key_bytes()).await.unwrap();
    let payload = &sealed[header_len..];
    let n = payload.len().div_ceil(CHUNK_SIZE + TAG_LEN);
    let mut refused = 0;
    for (i, chunk) in payload.chunks(CHUNK_SIZE + TAG_LEN).enumerate() {
        let nonce = chunk_nonce(i as u64, i + 1 == n);
        match web.open_bytes(&nonce, chunk).await {
            Ok(plaintext) => dec.cipher().preopened(nonce, Zeroizing::new(plaintext)),
            Err(_) => refused += 1,
        }
    }
    assert_eq!(refused, 1);
    let error = dec.push(payload).and_then(|_| dec.finish()).unwrap_err();
    assert_eq!(
        error,
        medseal_core::container::PayloadError::Tampered { chunk: 1 }
    );
}

/// An RSA key made by WebCrypto is a standard key for the core: the fingerprint is stable and
/// OAEP from the core's public key opens with it.
#[wasm_bindgen_test]
async fn webcrypto_rsa_keys_work_with_the_core() {
    let key = webcrypto::generate_rsa_webcrypto(3072)
        .await
        .expect("WebCrypto generates RSA keys in a secure context");
    let public = key.public_key();
    let again = medseal_core::pki::PublicKey::from_pem(&public.to_pem().unwrap()).unwrap();
    assert_eq!(public.fingerprint(), again.fingerprint());
    let label = b"medseal/v1 rsa-oaep";
    let ciphertext = public.oaep_encrypt(label, &[7u8; 32]).unwrap();
    assert_eq!(ciphertext.len(), 384);
    let opened = key.oaep_decrypt(label, &ciphertext).unwrap();
    assert_eq!(&opened[..], &[7u8; 32]);
}
