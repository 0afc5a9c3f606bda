//! Project Wycheproof vectors for every primitive MedSeal relies on, run through the same code
//! paths the container uses where those paths accept the vector's parameters.

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use medseal_core::container::{AesGcmChunk, ChunkCipher, PayloadKey};
use medseal_core::pki::{PrivateKey, PublicKey};
use sha2::Sha256;

#[test]
fn aes_256_gcm() {
    use wycheproof::aead::{TestName, TestSet};
    let set = TestSet::load(TestName::AesGcm).unwrap();
    let mut ran = 0;
    for group in set.test_groups {
        if group.key_size != 256 {
            continue;
        }
        for t in group.tests {
            let valid_shape = group.nonce_size == 96 && group.tag_size == 128;
            if !valid_shape {
                // aes-gcm's Aes256Gcm type only takes 96-bit nonces and 128-bit tags, as
                // MedSeal does; other shapes cannot even be expressed.
                continue;
            }
            let cipher = Aes256Gcm::new_from_slice(&t.key).unwrap();
            let mut ct_tag = t.ct.to_vec();
            ct_tag.extend_from_slice(&t.tag);
            let nonce = aes_gcm::aead::Nonce::<Aes256Gcm>::try_from(&t.nonce[..]).unwrap();
            let got = cipher.decrypt(
                &nonce,
                Payload {
                    msg: &ct_tag,
                    aad: &t.aad,
                },
            );
            if t.result.must_fail() {
                assert!(got.is_err(), "tc {}", t.tc_id);
            } else {
                assert_eq!(got.unwrap(), t.pt.to_vec(), "tc {}", t.tc_id);
                let enc = cipher
                    .encrypt(
                        &nonce,
                        Payload {
                            msg: &t.pt,
                            aad: &t.aad,
                        },
                    )
                    .unwrap();
                assert_eq!(enc, ct_tag, "tc {}", t.tc_id);
            }
            // The container's chunk seam, for vectors without associated data.
            if t.aad.is_empty() {
                let key = PayloadKey::from_bytes(t.key[..].try_into().unwrap());
                let chunk = AesGcmChunk::new(&key);
                let nonce: [u8; 12] = t.nonce[..].try_into().unwrap();
                let tag: [u8; 16] = t.tag[..].try_into().unwrap();
                let mut buf = t.ct.to_vec();
                let opened = chunk.open(&nonce, &mut buf, &tag);
                if t.result.must_fail() {
                    assert!(opened.is_err(), "seam tc {}", t.tc_id);
                    assert_eq!(buf, t.ct.to_vec(), "failed open must leave the buffer");
                } else {
                    assert!(opened.is_ok(), "seam tc {}", t.tc_id);
                    assert_eq!(buf, t.pt.to_vec());
                    let mut buf = t.pt.to_vec();
                    assert_eq!(chunk.seal(&nonce, &mut buf).unwrap(), tag);
                    assert_eq!(buf, t.ct.to_vec());
                }
            }
            ran += 1;
        }
    }
    assert!(ran > 50, "ran {ran}");
}

#[test]
fn hkdf_sha256() {
    use wycheproof::hkdf::{TestName, TestSet};
    let set = TestSet::load(TestName::HkdfSha256).unwrap();
    let mut ran = 0;
    for group in set.test_groups {
        for t in group.tests {
            let hk = Hkdf::<Sha256>::new(Some(&t.salt), &t.ikm);
            let mut okm = vec![0u8; t.size];
            let got = hk.expand(&t.info, &mut okm);
            if t.result.must_fail() {
                assert!(got.is_err(), "tc {}", t.tc_id);
            } else {
                got.unwrap();
                assert_eq!(okm, t.okm.to_vec(), "tc {}", t.tc_id);
            }
            ran += 1;
        }
    }
    assert!(ran > 50);
}

#[test]
fn hmac_sha256() {
    use wycheproof::mac::{TestName, TestSet};
    let set = TestSet::load(TestName::HmacSha256).unwrap();
    let mut ran = 0;
    for group in set.test_groups {
        for t in group.tests {
            let mut mac = <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(&t.key).unwrap();
            mac.update(&t.msg);
            let full = mac.finalize().into_bytes();
            // Truncated-tag vectors compare a prefix; MedSeal always uses the full 32 bytes.
            let matches =
                full[..t.tag.len().min(32)] == t.tag[..] && t.tag.len() == group.tag_size / 8;
            assert_eq!(matches, !t.result.must_fail(), "tc {}", t.tc_id);
            ran += 1;
        }
    }
    assert!(ran > 50);
}

fn oaep(name: wycheproof::rsa_oaep::TestName) -> usize {
    use wycheproof::rsa_oaep::TestSet;
    let set = TestSet::load(name).unwrap();
    let mut ran = 0;
    for group in set.test_groups {
        let key = PrivateKey::from_pkcs8_der(&group.pkcs8).unwrap();
        for t in group.tests {
            let got = key.oaep_decrypt(&t.label, &t.ct);
            if t.result.must_fail() {
                assert!(got.is_none(), "tc {}", t.tc_id);
            } else {
                assert_eq!(
                    got.as_deref().map(|v| v.as_slice()),
                    Some(&t.pt[..]),
                    "tc {}",
                    t.tc_id
                );
            }
            ran += 1;
        }
    }
    ran
}

#[test]
fn rsa_oaep_sha256_3072() {
    assert!(oaep(wycheproof::rsa_oaep::TestName::Rsa3072Sha256Mgf1Sha256) > 10);
}

#[test]
fn rsa_oaep_sha256_4096() {
    assert!(oaep(wycheproof::rsa_oaep::TestName::Rsa4096Sha256Mgf1Sha256) > 10);
}

fn pss(name: wycheproof::rsa_pss_verify::TestName) -> usize {
    use wycheproof::rsa_pss_verify::TestSet;
    let set = TestSet::load(name).unwrap();
    let mut ran = 0;
    for group in set.test_groups {
        let key = PublicKey::from_spki_der(&group.der).unwrap();
        for t in group.tests {
            let ok = key.verify_pss(&t.msg, &t.sig).is_ok();
            assert_eq!(ok, !t.result.must_fail(), "tc {} {}", t.tc_id, t.comment);
            ran += 1;
        }
    }
    ran
}

#[test]
fn rsa_pss_sha256_3072() {
    assert!(pss(wycheproof::rsa_pss_verify::TestName::RsaPss3072Sha256Mgf1SaltLen32) > 10);
}

#[test]
fn rsa_pss_sha256_4096() {
    assert!(pss(wycheproof::rsa_pss_verify::TestName::RsaPss4096Sha256Mgf1SaltLen32) > 10);
}
