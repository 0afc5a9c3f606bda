//! A password stanza's Argon2id parameters are refused beyond MedSeal's ceiling
//! (FORMAT.md section 6.1) when the header is parsed, before any Argon2id runs: a server (or
//! anyone handing out a file) cannot make a reader's browser spend gigabytes of work per
//! attempt on a header whose MAC is only checked afterwards.

use medseal_core::container::{
    Argon2Params, DecryptError, Header, HeaderError, Identity, LinkKey, Password, Recipient,
    decrypt, encrypt,
};

use crate::common::{FAST_ARGON2, meta};

/// The offset of the password stanza's m, t, p in a one-stanza header: magic (8), version,
/// flags, payload salt (32), count, type, body length (2), then the 16-byte salt.
const PARAMS_AT: usize = 8 + 1 + 1 + 32 + 1 + 1 + 2 + 16;

fn with_params(sealed: &[u8], m: u32, t: u32, p: u32) -> Vec<u8> {
    let mut out = sealed.to_vec();
    out[PARAMS_AT..PARAMS_AT + 4].copy_from_slice(&m.to_be_bytes());
    out[PARAMS_AT + 4..PARAMS_AT + 8].copy_from_slice(&t.to_be_bytes());
    out[PARAMS_AT + 8..PARAMS_AT + 12].copy_from_slice(&p.to_be_bytes());
    out
}

#[test]
fn argon2_parameters_beyond_the_ceiling_are_refused_before_argon2_runs() {
    let link = LinkKey::generate().expect("key");
    let pw = Password::from("correct horse");
    let sealed = encrypt(
        &[Recipient::Password {
            link: &link,
            password: &pw,
            params: FAST_ARGON2,
        }],
        &meta("a.txt"),
        b"hello",
    )
    .expect("seal");
    // The crafted header is the real one with the parameters rewritten in place.
    let (header, _) = Header::parse(&sealed).expect("parse");
    assert!(header.needs_password());
    assert_eq!(with_params(&sealed, 64, 1, 1), sealed);

    for (m, t, p) in [
        (256 * 1024, 16, 16), // the old limits: about 4 GiB of work per attempt
        (Argon2Params::MAX_M_COST + 1, 1, 1),
        (Argon2Params::MAX_M_COST, 3, 1), // each within bounds, the product beyond
        (19 * 1024, Argon2Params::MAX_T_COST + 1, 1),
        (19 * 1024, 2, Argon2Params::MAX_P_COST + 1),
        (u32::MAX, u32::MAX, u32::MAX),
    ] {
        let crafted = with_params(&sealed, m, t, p);
        assert!(
            matches!(Header::parse(&crafted), Err(HeaderError::Malformed(_))),
            "m={m} t={t} p={p} parsed"
        );
        let err = decrypt(Identity::Password(&link, &pw), &crafted).expect_err("refused");
        assert_eq!(err.code(), "header.malformed", "m={m} t={t} p={p}: {err}");
        assert!(matches!(err, DecryptError::Header(_)));
    }
    // What MedSeal writes, and the ceiling itself, still parse.
    for (m, t, p) in [
        (19 * 1024, 2, 1),
        (46 * 1024, 2, 1),
        (Argon2Params::MAX_M_COST, 2, 1),
        (Argon2Params::MAX_M_COST, 2, Argon2Params::MAX_P_COST),
    ] {
        Header::parse(&with_params(&sealed, m, t, p))
            .unwrap_or_else(|e| panic!("m={m} t={t} p={p}: {e}"));
    }
    assert!(Argon2Params::DEFAULT.acceptable());
}
