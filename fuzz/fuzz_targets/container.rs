//! Fuzzes the whole reader with a fixed link key and password: parsing, unwrapping, the header
//! MAC and the streaming payload decryptor fed in pieces whose sizes come from the input. It
//! must never panic, and must never return content from a container it did not make itself
//! (the fuzzer cannot forge AES-GCM), except the seed containers built below.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use medseal_core::container::{
    Argon2Params, FileMeta, Header, Identity, LinkKey, Password, PayloadDecryptor, Recipient,
    encrypt,
};

fn link() -> &'static LinkKey {
    static KEY: OnceLock<LinkKey> = OnceLock::new();
    KEY.get_or_init(|| LinkKey::from_bytes([7; 32]))
}

fn password() -> &'static Password {
    static PW: OnceLock<Password> = OnceLock::new();
    PW.get_or_init(|| Password::from("fuzz"))
}

const SMALL: Argon2Params = Argon2Params { m_cost: 8, t_cost: 1, p_cost: 1 };

/// Makes a valid container from the input when the first byte asks for it, so the fuzzer
/// reaches the payload with a correct MAC and then mutates within it.
fn seed(data: &[u8]) -> Option<Vec<u8>> {
    let (&mode, rest) = data.split_first()?;
    let meta = FileMeta { name: "f".into(), ..FileMeta::default() };
    match mode {
        0xF0 => encrypt(&[Recipient::Link(link())], &meta, rest).ok(),
        0xF1 => encrypt(
            &[Recipient::Password { link: link(), password: password(), params: SMALL }],
            &meta,
            rest,
        )
        .ok(),
        _ => None,
    }
}

fn run(data: &[u8], piece: usize) {
    let Ok(Some((header, len))) = Header::parse_prefix(data) else {
        return;
    };
    let identity = if header.needs_password() {
        Identity::Password(link(), password())
    } else {
        Identity::Link(link())
    };
    let Ok(mut dec) = PayloadDecryptor::new(&header, identity) else {
        return;
    };
    for chunk in data[len..].chunks(piece.max(1)) {
        if dec.push(chunk).is_err() {
            return;
        }
    }
    let _ = dec.finish();
}

fuzz_target!(|data: &[u8]| {
    let piece = data.first().map_or(1, |b| usize::from(*b) * 257 + 1);
    if let Some(made) = seed(data) {
        run(&made, piece);
        // Flip one byte chosen by the input: the reader must reject the result.
        if data.len() > 2 {
            let mut bad = made.clone();
            let i = usize::from(data[1]) * 131 % bad.len();
            bad[i] ^= 0x5A;
            if let Ok((_, plain)) =
                medseal_core::container::decrypt(Identity::Link(link()), &bad)
            {
                panic!("accepted a modified container ({} bytes of content)", plain.len());
            }
        }
    } else {
        run(data, piece);
    }
});
