//! Round trips through every API, at the sizes where chunking can go wrong.

use medseal_core::container::{
    CHUNK_SIZE, DecryptError, Encryptor, FileMeta, Header, Identity, LinkKey, Password,
    PayloadDecryptor, PayloadError, Recipient, UnlockError, decrypt, encrypt, padme, payload_len,
    stream_len,
};

use crate::common::{FAST_ARGON2, meta, pattern, rsa_key};

const SIZES: &[usize] = &[
    0,
    1,
    CHUNK_SIZE - 1,
    CHUNK_SIZE,
    CHUNK_SIZE + 1,
    3 * CHUNK_SIZE - 20,
    5 * 1024 * 1024 + 7,
];

#[test]
fn whole_buffer_round_trips_at_edge_sizes() {
    let link = LinkKey::generate().unwrap();
    for &size in SIZES {
        let content = pattern(size);
        let m = meta(&format!("file-{size}.bin"));
        let sealed = encrypt(&[Recipient::Link(&link)], &m, &content).unwrap();
        let (back_meta, back) = decrypt(Identity::Link(&link), &sealed).unwrap();
        assert_eq!(back_meta, m, "size {size}");
        assert!(back == content, "size {size}");
        // The payload length is the Padmé-bucketed length plus one tag per chunk.
        let (_, header_len) = Header::parse(&sealed).unwrap();
        let meta_len = serde_json::to_vec(&m).unwrap().len() as u64;
        let stream = stream_len(meta_len, size as u64).unwrap();
        assert_eq!(stream, padme(12 + meta_len + size as u64).unwrap());
        assert_eq!(
            (sealed.len() - header_len) as u64,
            payload_len(stream),
            "size {size}"
        );
    }
}

/// Pushes in awkward piece sizes on both sides and checks that the decryptor never returns more
/// than it was given plus one chunk, and that the encryptor never holds more than one chunk.
#[test]
fn streaming_in_odd_pieces() {
    let link = LinkKey::generate().unwrap();
    for &size in SIZES {
        let content = pattern(size);
        let m = meta("stream.bin");
        let (mut enc, mut sealed) =
            Encryptor::new(&[Recipient::Link(&link)], &m, size as u64).unwrap();
        let total = enc.payload_len();
        for piece in content.chunks(7919) {
            let out = enc.push(piece).unwrap();
            assert!(out.len() <= piece.len() + 2 * (CHUNK_SIZE + 16));
            sealed.extend(out);
        }
        while let Some(chunk) = enc.next_final_chunk().unwrap() {
            assert!(chunk.len() <= CHUNK_SIZE + 16);
            sealed.extend(chunk);
        }
        let (header, header_len) = Header::parse(&sealed).unwrap();
        assert_eq!((sealed.len() - header_len) as u64, total);

        let mut dec = PayloadDecryptor::new(&header, Identity::Link(&link)).unwrap();
        let mut plain = Vec::new();
        for piece in sealed[header_len..].chunks(4099) {
            plain.extend(dec.push(piece).unwrap());
        }
        plain.extend(dec.finish().unwrap());
        assert_eq!(dec.metadata(), Some(&m));
        assert!(plain == content, "size {size}");
    }
}

#[test]
fn encryptor_enforces_declared_length() {
    let link = LinkKey::generate().unwrap();
    let (mut enc, _) = Encryptor::new(&[Recipient::Link(&link)], &meta("x"), 10).unwrap();
    enc.push(b"12345").unwrap();
    assert!(enc.next_final_chunk().is_err());
    assert!(enc.push(b"123456").is_err());
}

#[test]
fn password_and_rsa_recipients() {
    let link = LinkKey::generate().unwrap();
    let pw = Password::from("tr0ub4dor&3");
    let content = pattern(100_000);
    let m = meta("pw.bin");
    let sealed = encrypt(
        &[Recipient::Password {
            link: &link,
            password: &pw,
            params: FAST_ARGON2,
        }],
        &m,
        &content,
    )
    .unwrap();
    let (header, _) = Header::parse(&sealed).unwrap();
    assert!(header.needs_password());
    assert_eq!(
        decrypt(Identity::Password(&link, &pw), &sealed).unwrap().1,
        content
    );
    let err = decrypt(Identity::Link(&link), &sealed).unwrap_err();
    assert_eq!(err, DecryptError::Unlock(UnlockError::PasswordRequired));
    let err = decrypt(Identity::Password(&link, &Password::from("nope")), &sealed).unwrap_err();
    assert_eq!(err.code(), "unlock.wrong_password");
    let other = LinkKey::generate().unwrap();
    let err = decrypt(Identity::Password(&other, &pw), &sealed).unwrap_err();
    assert_eq!(err.code(), "unlock.wrong_link");

    let key = rsa_key();
    let public = key.public_key();
    let sealed = encrypt(
        &[Recipient::Link(&link), Recipient::Rsa(&public)],
        &m,
        &content,
    )
    .unwrap();
    let (header, _) = Header::parse(&sealed).unwrap();
    assert_eq!(header.rsa_fingerprints(), vec![public.fingerprint().0]);
    assert_eq!(decrypt(Identity::Rsa(&key), &sealed).unwrap().1, content);
    assert_eq!(decrypt(Identity::Link(&link), &sealed).unwrap().1, content);
    let only_link = encrypt(&[Recipient::Link(&link)], &m, &content).unwrap();
    assert_eq!(
        decrypt(Identity::Rsa(&key), &only_link).unwrap_err().code(),
        "unlock.not_for_this_key"
    );
}

#[test]
fn password_must_be_alone() {
    let link = LinkKey::generate().unwrap();
    let pw = Password::from("pw");
    let recipients = [
        Recipient::Link(&link),
        Recipient::Password {
            link: &link,
            password: &pw,
            params: FAST_ARGON2,
        },
    ];
    assert!(encrypt(&recipients, &FileMeta::default(), b"x").is_err());
    assert!(encrypt(&[], &FileMeta::default(), b"x").is_err());
}

#[test]
fn header_round_trips_byte_for_byte() {
    let link = LinkKey::generate().unwrap();
    let key = rsa_key();
    let public = key.public_key();
    let sealed = encrypt(
        &[Recipient::Link(&link), Recipient::Rsa(&public)],
        &meta("h"),
        b"abc",
    )
    .unwrap();
    let (header, len) = Header::parse(&sealed).unwrap();
    assert_eq!(header.to_bytes(), sealed[..len]);
    // Every strict prefix of the header asks for more bytes.
    for cut in 0..len {
        assert!(
            matches!(Header::parse_prefix(&sealed[..cut]), Ok(None)),
            "cut {cut}"
        );
    }
}

#[test]
fn decryptor_refuses_input_after_an_error() {
    let link = LinkKey::generate().unwrap();
    let mut sealed = encrypt(&[Recipient::Link(&link)], &meta("e"), &pattern(200_000)).unwrap();
    let (header, header_len) = Header::parse(&sealed).unwrap();
    sealed[header_len + 10] ^= 1;
    let mut dec = PayloadDecryptor::new(&header, Identity::Link(&link)).unwrap();
    let err = dec.push(&sealed[header_len..]).unwrap_err();
    assert_eq!(err, PayloadError::Tampered { chunk: 0 });
    assert_eq!(dec.push(b"").unwrap_err(), err);
    assert_eq!(dec.finish().unwrap_err(), err);
}

#[test]
fn secrets_do_not_print() {
    let link = LinkKey::generate().unwrap();
    assert_eq!(format!("{link:?}"), "LinkKey(***)");
    assert_eq!(format!("{:?}", Password::from("hunter2")), "Password(***)");
    assert_eq!(format!("{:?}", rsa_key()), "PrivateKey(***)");
}

/// Slow: a 64 MiB round trip in 1 MiB pieces. Run with `MEDSEAL_SLOW_TESTS=1`.
#[test]
fn large_stream_when_asked() {
    if std::env::var_os("MEDSEAL_SLOW_TESTS").is_none() {
        return;
    }
    let link = LinkKey::generate().unwrap();
    let piece = pattern(1 << 20);
    let pieces = 64u64;
    let (mut enc, header) =
        Encryptor::new(&[Recipient::Link(&link)], &meta("big"), pieces << 20).unwrap();
    let (h, hl) = Header::parse(&header).unwrap();
    assert_eq!(hl, header.len());
    let mut dec = PayloadDecryptor::new(&h, Identity::Link(&link)).unwrap();
    let mut got = 0usize;
    for _ in 0..pieces {
        let ct = enc.push(&piece).unwrap();
        got += dec.push(&ct).unwrap().len();
    }
    while let Some(ct) = enc.next_final_chunk().unwrap() {
        got += dec.push(&ct).unwrap().len();
    }
    got += dec.finish().unwrap().len();
    assert_eq!(got as u64, pieces << 20);
}

/// The unsealed API (for callers that seal with an asynchronous AEAD such as WebCrypto) gives
/// chunks that, sealed with the same cipher and in order, make a container every reader opens.
#[test]
fn unsealed_chunks_sealed_by_the_caller_round_trip() {
    use medseal_core::container::{ChunkCipher, chunk_nonce};
    let link = LinkKey::generate().unwrap();
    for &size in SIZES {
        let content = pattern(size);
        let m = meta("unsealed.bin");
        let (mut enc, mut sealed) =
            Encryptor::new(&[Recipient::Link(&link)], &m, size as u64).unwrap();
        let mut chunks = Vec::new();
        for piece in content.chunks(100_000) {
            chunks.extend(enc.push_unsealed(piece).unwrap());
        }
        while let Some(chunk) = enc.next_final_unsealed().unwrap() {
            chunks.push(chunk);
        }
        for (i, chunk) in chunks.iter().enumerate() {
            assert_eq!(chunk.index, i as u64);
            assert_eq!(chunk.nonce, chunk_nonce(chunk.index, chunk.last));
            assert_eq!(chunk.last, i + 1 == chunks.len(), "size {size}");
            let mut buf = chunk.plaintext.to_vec();
            let tag = enc.cipher().seal(&chunk.nonce, &mut buf).unwrap();
            sealed.extend_from_slice(&buf);
            sealed.extend_from_slice(&tag);
        }
        assert_eq!(sealed.len() as u64 - enc.payload_len(), {
            let (_, header_len) = Header::parse(&sealed).unwrap();
            header_len as u64
        });
        let (back_meta, back) = decrypt(Identity::Link(&link), &sealed).unwrap();
        assert_eq!(back_meta, m);
        assert!(back == content, "size {size}");
    }
}
