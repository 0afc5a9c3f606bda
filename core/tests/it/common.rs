//! Helpers shared by the test modules.

use std::path::PathBuf;

use medseal_core::container::{Argon2Params, FileMeta};
use medseal_core::pki::PrivateKey;

/// Argon2id parameters small enough for fast tests (never for real files).
pub const FAST_ARGON2: Argon2Params = Argon2Params {
    m_cost: 64,
    t_cost: 1,
    p_cost: 1,
};

pub fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

pub fn meta(name: &str) -> FileMeta {
    FileMeta {
        name: name.into(),
        media_type: "application/octet-stream".into(),
        kind: "other".into(),
        masked: false,
        policy: None,
        created: Some(1_760_000_000),
    }
}

/// Deterministic content of `len` bytes that is not all zeros and not periodic in 64 KiB.
pub fn pattern(len: usize) -> Vec<u8> {
    let mut x: u32 = 0x9e37_79b9;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect()
}

/// The committed RSA-3072 test key (generated once by the frozen-vector generator).
pub fn rsa_key() -> PrivateKey {
    let pem = std::fs::read_to_string(data_dir().join("rsa3072.pem")).expect("rsa3072.pem fixture");
    PrivateKey::from_pem(&pem).expect("valid fixture key")
}

pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(data))
}
