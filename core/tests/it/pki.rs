//! RSA keys, fingerprints and signatures.

use medseal_core::pki::{Fingerprint, KeyError, PrivateKey, PublicKey, SignatureError};
use serde_json::json;

use crate::common::{data_dir, rsa_key};

#[test]
fn pem_round_trip_and_fingerprint_forms() {
    let key = rsa_key();
    let public = key.public_key();
    assert_eq!(public.bits(), 3072);
    let committed = std::fs::read_to_string(data_dir().join("rsa3072.pub.pem")).unwrap();
    assert_eq!(PublicKey::from_pem(&committed).unwrap(), public);
    let again = PrivateKey::from_pem(&key.to_pem().unwrap()).unwrap();
    assert_eq!(again.public_key(), public);
    let fp = public.fingerprint();
    assert_eq!(Fingerprint::parse(&fp.to_hex()).unwrap(), fp);
    assert_eq!(Fingerprint::parse(&fp.to_b64url()).unwrap(), fp);
    let digits = fp.to_digits();
    assert_eq!(digits.len(), 6 * 5 + 5);
    assert!(
        digits
            .split(' ')
            .all(|g| g.len() == 5 && g.bytes().all(|b| b.is_ascii_digit()))
    );
    assert!(fp.to_string().starts_with("SHA256:"));
    // SHA-256 of the DER SubjectPublicKeyInfo, as the format says.
    assert_eq!(
        fp.to_hex(),
        crate::common::sha256_hex(&public.to_spki_der().unwrap())
    );
}

#[test]
fn small_keys_are_refused() {
    assert_eq!(
        PrivateKey::generate(2048).unwrap_err(),
        KeyError::BadSize(2048)
    );
    assert!(PublicKey::from_pem("not a key").is_err());
}

#[test]
fn canonical_signatures() {
    let key = rsa_key();
    let public = key.public_key();
    let study = json!({"title": "Statins", "closes": "2026-01-01", "policy": {"k": 5, "id": "safe-harbor"}});
    let reordered = json!({"policy": {"id": "safe-harbor", "k": 5}, "closes": "2026-01-01", "title": "Statins"});
    let sig = key.sign_canonical("medseal/v1 study", &study).unwrap();
    assert_eq!(sig.len(), 384);
    public
        .verify_canonical("medseal/v1 study", &reordered, &sig)
        .unwrap();
    assert_eq!(
        public.verify_canonical("medseal/v1 other", &study, &sig),
        Err(SignatureError::Invalid)
    );
    let changed = json!({"title": "Statins!", "closes": "2026-01-01", "policy": {"k": 5, "id": "safe-harbor"}});
    assert_eq!(
        public.verify_canonical("medseal/v1 study", &changed, &sig),
        Err(SignatureError::Invalid)
    );
    assert_eq!(
        medseal_core::pki::canonical_json(&study).unwrap(),
        br#"{"closes":"2026-01-01","policy":{"id":"safe-harbor","k":5},"title":"Statins"}"#
    );
}
