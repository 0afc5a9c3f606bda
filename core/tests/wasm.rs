//! The core in headless Chromium: a representative subset of the Wycheproof vectors, round trips
//! through the streaming API, and frozen containers, compiled to wasm32.
//!
//! `CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
//!  cargo test --target wasm32-unknown-unknown -p medseal-core --test wasm`
#![cfg(target_arch = "wasm32")]

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use medseal_core::container::{
    Argon2Params, Encryptor, FileMeta, Header, Identity, LinkKey, Password, PayloadDecryptor,
    Recipient, decrypt, encrypt,
};
use medseal_core::pki::{PrivateKey, PublicKey};
use sha2::Sha256;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
fn wycheproof_aes_256_gcm() {
    use wycheproof::aead::{TestName, TestSet};
    let set = TestSet::load(TestName::AesGcm).unwrap();
    let mut ran = 0;
    for group in set.test_groups {
        if group.key_size != 256 || group.nonce_size != 96 || group.tag_size != 128 {
            continue;
        }
        for t in group.tests {
            let cipher = Aes256Gcm::new_from_slice(&t.key).unwrap();
            let nonce = aes_gcm::aead::Nonce::<Aes256Gcm>::try_from(&t.nonce[..]).unwrap();
            let mut ct = t.ct.to_vec();
            ct.extend_from_slice(&t.tag);
            let got = cipher.decrypt(
                &nonce,
                Payload {
                    msg: &ct,
                    aad: &t.aad,
                },
            );
            assert_eq!(got.is_ok(), !t.result.must_fail(), "tc {}", t.tc_id);
            if let Ok(pt) = got {
                assert_eq!(pt, t.pt.to_vec());
            }
            ran += 1;
        }
    }
    assert!(ran > 50);
}

#[wasm_bindgen_test]
fn wycheproof_hkdf_and_hmac_sha256() {
    let set = wycheproof::hkdf::TestSet::load(wycheproof::hkdf::TestName::HkdfSha256).unwrap();
    for group in set.test_groups {
        for t in group.tests {
            let mut okm = vec![0u8; t.size];
            let got = Hkdf::<Sha256>::new(Some(&t.salt), &t.ikm).expand(&t.info, &mut okm);
            assert_eq!(got.is_ok(), !t.result.must_fail(), "hkdf tc {}", t.tc_id);
            if got.is_ok() {
                assert_eq!(okm, t.okm.to_vec());
            }
        }
    }
    let set = wycheproof::mac::TestSet::load(wycheproof::mac::TestName::HmacSha256).unwrap();
    for group in set.test_groups {
        for t in group.tests {
            let mut mac = <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(&t.key).unwrap();
            mac.update(&t.msg);
            let full = mac.finalize().into_bytes();
            let ok = t.tag.len() == group.tag_size / 8 && full[..t.tag.len()] == t.tag[..];
            assert_eq!(ok, !t.result.must_fail(), "hmac tc {}", t.tc_id);
        }
    }
}

#[wasm_bindgen_test]
fn wycheproof_rsa_oaep_3072_first_groups() {
    use wycheproof::rsa_oaep::{TestName, TestSet};
    let set = TestSet::load(TestName::Rsa3072Sha256Mgf1Sha256).unwrap();
    let group = &set.test_groups[0];
    let key = PrivateKey::from_pkcs8_der(&group.pkcs8).unwrap();
    // RSA in wasm is slow; the first 12 cases cover valid messages, labels and bad padding.
    for t in group
        .tests
        .iter()
        .take(12)
        .chain(group.tests.iter().filter(|t| t.tc_id == 23))
    {
        let got = key.oaep_decrypt(&t.label, &t.ct);
        assert_eq!(got.is_some(), !t.result.must_fail(), "tc {}", t.tc_id);
    }
}

#[wasm_bindgen_test]
fn wycheproof_rsa_pss_3072() {
    use wycheproof::rsa_pss_verify::{TestName, TestSet};
    let set = TestSet::load(TestName::RsaPss3072Sha256Mgf1SaltLen32).unwrap();
    for group in set.test_groups {
        let key = PublicKey::from_spki_der(&group.der).unwrap();
        for t in group.tests {
            let ok = key.verify_pss(&t.msg, &t.sig).is_ok();
            assert_eq!(ok, !t.result.must_fail(), "tc {}", t.tc_id);
        }
    }
}

#[wasm_bindgen_test]
fn streaming_round_trip_in_the_browser() {
    let link = LinkKey::generate().unwrap();
    let content: Vec<u8> = (0..300_000u32).map(|i| (i * 31 % 251) as u8).collect();
    let meta = FileMeta {
        name: "w.bin".into(),
        ..FileMeta::default()
    };
    let (mut enc, mut sealed) =
        Encryptor::new(&[Recipient::Link(&link)], &meta, content.len() as u64).unwrap();
    for piece in content.chunks(50_000) {
        sealed.extend(enc.push(piece).unwrap());
    }
    sealed.extend(enc.finish().unwrap());
    let (header, hl) = Header::parse(&sealed).unwrap();
    let mut dec = PayloadDecryptor::new(&header, Identity::Link(&link)).unwrap();
    let mut out = Vec::new();
    for piece in sealed[hl..].chunks(33_333) {
        out.extend(dec.push(piece).unwrap());
    }
    out.extend(dec.finish().unwrap());
    assert_eq!(out, content);
    let mut bad = sealed.clone();
    bad[hl + 70_000] ^= 1;
    assert_eq!(
        decrypt(Identity::Link(&link), &bad).unwrap_err().code(),
        "payload.tampered"
    );
}

#[wasm_bindgen_test]
fn password_seal_in_the_browser() {
    let link = LinkKey::generate().unwrap();
    let pw = Password::from("pw");
    let params = Argon2Params {
        m_cost: 1024,
        t_cost: 1,
        p_cost: 1,
    };
    let sealed = encrypt(
        &[Recipient::Password {
            link: &link,
            password: &pw,
            params,
        }],
        &FileMeta::default(),
        b"secret",
    )
    .unwrap();
    assert_eq!(
        decrypt(Identity::Password(&link, &pw), &sealed).unwrap().1,
        b"secret"
    );
}

#[wasm_bindgen_test]
fn frozen_containers_open_in_the_browser() {
    let cases: serde_json::Value =
        serde_json::from_str(include_str!("data/containers/cases.json")).unwrap();
    let find = |file: &str| {
        cases
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["file"] == file)
            .unwrap()
            .clone()
    };
    let multi = find("valid_link_multichunk.msc");
    let link = LinkKey::parse(multi["link"].as_str().unwrap()).unwrap();
    let data = include_bytes!("data/containers/valid_link_multichunk.msc");
    let (_, plain) = decrypt(Identity::Link(&link), data).unwrap();
    assert_eq!(plain.len() as u64, multi["plaintext_len"].as_u64().unwrap());
    let swapped = include_bytes!("data/containers/chunks_swapped.msc");
    assert_eq!(
        decrypt(Identity::Link(&link), swapped).unwrap_err().code(),
        "payload.tampered"
    );
    let truncated = include_bytes!("data/containers/truncated_at_chunk_boundary.msc");
    assert_eq!(
        decrypt(Identity::Link(&link), truncated)
            .unwrap_err()
            .code(),
        "payload.truncated"
    );
}
