//! Frozen test containers, age-testkit style: each file in `tests/data/containers/` has an entry
//! in `cases.json` with the identity to try and the expected outcome, either success with a
//! known plaintext or a failure code (`DecryptError::code`).
//!
//! The files were written once by `generate_frozen_containers` with
//! `MEDSEAL_WRITE_TEST_DATA=1`; normal runs only read them, so a change to the format that
//! breaks old files fails here.

use std::fs;

use medseal_core::container::{
    AesGcmChunk, CHUNK_CT_SIZE, CHUNK_SIZE, ChunkCipher, FileKey, FileMeta, Header, Identity,
    LinkKey, Password, PayloadDecryptor, Recipient, TAG_LEN, chunk_nonce, decrypt, encrypt,
    stream_len,
};
use medseal_core::pki::{DEFAULT_RSA_BITS, PrivateKey};
use serde::{Deserialize, Serialize};

use crate::common::{FAST_ARGON2, data_dir, meta, pattern, sha256_hex};

#[derive(Serialize, Deserialize)]
struct Case {
    file: String,
    /// What this case exercises, in words.
    about: String,
    /// Link key (base64url), if the identity uses one.
    link: Option<String>,
    /// Password, with `link`, for a password identity.
    password: Option<String>,
    /// File name of a PEM private key under tests/data, for an RSA identity.
    rsa: Option<String>,
    /// `ok` or a failure code.
    expect: String,
    plaintext_len: Option<usize>,
    plaintext_sha256: Option<String>,
    meta_name: Option<String>,
}

fn containers() -> std::path::PathBuf {
    data_dir().join("containers")
}

fn outcome(identity: Identity<'_>, data: &[u8]) -> Result<(FileMeta, Vec<u8>), &'static str> {
    decrypt(identity, data).map_err(|e| e.code())
}

/// The same through the streaming API in 1000-byte pieces, with no whole-buffer call.
fn streamed(identity: Identity<'_>, data: &[u8]) -> Result<Vec<u8>, String> {
    let mut header_bytes = Vec::new();
    let mut rest = data;
    let (header, len) = loop {
        let take = rest.len().min(1000);
        header_bytes.extend_from_slice(&rest[..take]);
        rest = &rest[take..];
        match Header::parse_prefix(&header_bytes) {
            Ok(Some(found)) => break found,
            Ok(None) if take > 0 => continue,
            Ok(None) => return Err("header.truncated".into()),
            Err(e) => {
                return Err(medseal_core::container::DecryptError::from(e).code().into());
            }
        }
    };
    let code = |e: medseal_core::container::DecryptError| e.code().to_string();
    let mut dec = PayloadDecryptor::new(&header, identity).map_err(|e| code(e.into()))?;
    let mut out = dec.push(&header_bytes[len..]).map_err(|e| code(e.into()))?;
    for piece in rest.chunks(1000) {
        out.extend(dec.push(piece).map_err(|e| code(e.into()))?);
    }
    out.extend(dec.finish().map_err(|e| code(e.into()))?);
    Ok(out)
}

#[test]
fn frozen_containers_behave_as_stated() {
    let manifest = fs::read_to_string(containers().join("cases.json")).expect("cases.json");
    let cases: Vec<Case> = serde_json::from_str(&manifest).expect("valid manifest");
    assert!(cases.len() >= 20, "{} cases", cases.len());
    for case in &cases {
        let data = fs::read(containers().join(&case.file)).expect(&case.file);
        let link = case
            .link
            .as_deref()
            .map(|t| LinkKey::parse(t).expect("link"));
        let password = case.password.as_deref().map(Password::from);
        let rsa = case.rsa.as_deref().map(|f| {
            PrivateKey::from_pem(&fs::read_to_string(data_dir().join(f)).expect("pem"))
                .expect("key")
        });
        let identity = match (&link, &password, &rsa) {
            (Some(l), Some(p), _) => Identity::Password(l, p),
            (Some(l), None, _) => Identity::Link(l),
            (None, _, Some(k)) => Identity::Rsa(k),
            _ => panic!("{}: no identity", case.file),
        };
        let got = outcome(identity, &data);
        let streamed = streamed(identity, &data);
        match (&got, case.expect.as_str()) {
            (Ok((m, plain)), "ok") => {
                assert_eq!(Some(plain.len()), case.plaintext_len, "{}", case.file);
                assert_eq!(
                    Some(sha256_hex(plain)),
                    case.plaintext_sha256,
                    "{}",
                    case.file
                );
                assert_eq!(Some(&m.name), case.meta_name.as_ref(), "{}", case.file);
                assert_eq!(
                    streamed.as_ref().ok(),
                    Some(plain),
                    "{} streamed",
                    case.file
                );
            }
            (Err(code), expect) => {
                assert_eq!(*code, expect, "{}: {}", case.file, case.about);
                assert_eq!(
                    streamed.err().as_deref(),
                    Some(expect),
                    "{} streamed",
                    case.file
                );
            }
            (Ok(_), expect) => panic!("{} decrypted but should fail with {expect}", case.file),
        }
    }
}

/// Builds a link-key container by hand, to make files the real writer never makes.
fn handmade(link: &LinkKey, m: &FileMeta, content: &[u8], mark_last: bool, pad: u8) -> Vec<u8> {
    let file_key = FileKey::generate().unwrap();
    let stanza = Recipient::Link(link).wrap(&file_key).unwrap();
    let mut header = Header {
        payload_salt: [7u8; 32],
        stanzas: vec![stanza],
        mac: [0; 32],
    };
    header.mac = header.compute_mac(&file_key.header_key());
    let meta_json = serde_json::to_vec(m).unwrap();
    let total = stream_len(meta_json.len() as u64, content.len() as u64).unwrap() as usize;
    let mut plain = Vec::new();
    plain.extend_from_slice(&(content.len() as u64).to_be_bytes());
    plain.extend_from_slice(&(meta_json.len() as u32).to_be_bytes());
    plain.extend_from_slice(&meta_json);
    plain.extend_from_slice(content);
    plain.resize(total, pad);
    let cipher = AesGcmChunk::new(&file_key.payload_key(&header.payload_salt));
    let mut out = header.to_bytes();
    let chunks: Vec<&[u8]> = plain.chunks(CHUNK_SIZE).collect();
    for (i, chunk) in chunks.iter().enumerate() {
        let last = i + 1 == chunks.len() && mark_last;
        let mut buf = chunk.to_vec();
        let tag = cipher.seal(&chunk_nonce(i as u64, last), &mut buf).unwrap();
        out.extend_from_slice(&buf);
        out.extend_from_slice(&tag);
    }
    out
}

/// Writes the frozen containers and RSA fixtures. Runs only with `MEDSEAL_WRITE_TEST_DATA=1`.
#[test]
fn generate_frozen_containers() {
    if std::env::var_os("MEDSEAL_WRITE_TEST_DATA").is_none() {
        return;
    }
    let dir = containers();
    fs::create_dir_all(&dir).unwrap();
    let pem_path = data_dir().join("rsa3072.pem");
    if !pem_path.exists() {
        let key = PrivateKey::generate(DEFAULT_RSA_BITS).unwrap();
        fs::write(&pem_path, key.to_pem().unwrap().as_bytes()).unwrap();
        fs::write(
            data_dir().join("rsa3072.pub.pem"),
            key.public_key().to_pem().unwrap(),
        )
        .unwrap();
    }
    let rsa = crate::common::rsa_key();
    let link = LinkKey::generate().unwrap();
    let other = LinkKey::generate().unwrap();
    let pw = Password::from("correct horse battery staple");

    let mut cases = Vec::new();
    let mut add = |file: &str,
                   about: &str,
                   bytes: &[u8],
                   ident: (&LinkKey, Option<&str>, bool),
                   expect: &str,
                   plain: Option<(&[u8], &str)>| {
        fs::write(dir.join(file), bytes).unwrap();
        cases.push(Case {
            file: file.into(),
            about: about.into(),
            link: (!ident.2).then(|| ident.0.to_fragment()),
            password: ident.1.map(str::to_owned),
            rsa: ident.2.then(|| "rsa3072.pem".to_owned()),
            expect: expect.into(),
            plaintext_len: plain.map(|p| p.0.len()),
            plaintext_sha256: plain.map(|p| sha256_hex(p.0)),
            meta_name: plain.map(|p| p.1.to_owned()),
        });
    };

    let small = b"Hello, doctor. Potassium 5.4 mmol/L on 2024-03-01.\n".to_vec();
    let small_file = encrypt(&[Recipient::Link(&link)], &meta("note.txt"), &small).unwrap();
    add(
        "valid_link_small.msc",
        "link key, one chunk",
        &small_file,
        (&link, None, false),
        "ok",
        Some((&small, "note.txt")),
    );
    let empty_file = encrypt(&[Recipient::Link(&link)], &meta("empty.txt"), b"").unwrap();
    add(
        "valid_link_empty_content.msc",
        "link key, zero-byte file",
        &empty_file,
        (&link, None, false),
        "ok",
        Some((b"", "empty.txt")),
    );
    let big = pattern(200_000);
    let multi = encrypt(&[Recipient::Link(&link)], &meta("labs.bin"), &big).unwrap();
    add(
        "valid_link_multichunk.msc",
        "link key, four chunks",
        &multi,
        (&link, None, false),
        "ok",
        Some((&big, "labs.bin")),
    );
    let exact = pattern(CHUNK_SIZE);
    let exact_file = encrypt(&[Recipient::Link(&link)], &meta("exact.bin"), &exact).unwrap();
    add(
        "valid_link_64k.msc",
        "link key, 64 KiB of content",
        &exact_file,
        (&link, None, false),
        "ok",
        Some((&exact, "exact.bin")),
    );
    let pw_plain = pattern(1000);
    let pw_file = encrypt(
        &[Recipient::Password {
            link: &link,
            password: &pw,
            params: FAST_ARGON2,
        }],
        &meta("pw.bin"),
        &pw_plain,
    )
    .unwrap();
    add(
        "valid_password.msc",
        "link key and password",
        &pw_file,
        (&link, Some("correct horse battery staple"), false),
        "ok",
        Some((&pw_plain, "pw.bin")),
    );
    let public = rsa.public_key();
    let rsa_plain = pattern(70_000);
    let rsa_file = encrypt(
        &[Recipient::Link(&other), Recipient::Rsa(&public)],
        &meta("rsa.bin"),
        &rsa_plain,
    )
    .unwrap();
    add(
        "valid_rsa.msc",
        "RSA-3072 recipient beside a link recipient",
        &rsa_file,
        (&link, None, true),
        "ok",
        Some((&rsa_plain, "rsa.bin")),
    );

    let (_, small_hl) = Header::parse(&small_file).unwrap();
    let (_, multi_hl) = Header::parse(&multi).unwrap();
    let chunk = |i: usize| multi_hl + i * CHUNK_CT_SIZE..multi_hl + (i + 1) * CHUNK_CT_SIZE;

    let mut f = small_file.clone();
    f[0] = b'X';
    add(
        "bad_magic.msc",
        "first byte changed",
        &f,
        (&link, None, false),
        "header.not_medseal",
        None,
    );
    let mut f = small_file.clone();
    f[8] = 2;
    add(
        "unknown_version.msc",
        "version byte 2",
        &f,
        (&link, None, false),
        "header.unknown_version",
        None,
    );
    let mut f = rsa_file.clone();
    let (rsa_header, _) = Header::parse(&rsa_file).unwrap();
    let link_stanza_end = 43 + 3 + 64;
    f[link_stanza_end + 3 + 32 + 10] ^= 0x40; // inside the RSA stanza's ciphertext
    assert_eq!(rsa_header.stanzas.len(), 2);
    add(
        "altered_stanza.msc",
        "RSA stanza altered, opened through the link stanza",
        &f,
        (&other, None, false),
        "unlock.header_altered",
        None,
    );
    add(
        "wrong_key.msc",
        "valid file, another link key",
        &small_file,
        (&other, None, false),
        "unlock.wrong_key",
        None,
    );
    add(
        "wrong_password.msc",
        "valid file, wrong password",
        &pw_file,
        (&link, Some("Tr0ub4dor&3"), false),
        "unlock.wrong_password",
        None,
    );
    let mut f = small_file.clone();
    f[small_hl - 1] ^= 1;
    add(
        "bad_header_mac.msc",
        "last byte of the header MAC flipped",
        &f,
        (&link, None, false),
        "unlock.header_altered",
        None,
    );
    let mut f = small_file.clone();
    f[9] = 1;
    add(
        "bad_flags.msc",
        "reserved flags set",
        &f,
        (&link, None, false),
        "header.malformed",
        None,
    );
    add(
        "header_truncated.msc",
        "cut inside the header",
        &small_file[..small_hl - 5],
        (&link, None, false),
        "header.truncated",
        None,
    );
    let mut f = multi.clone();
    f[chunk(1).start + 100] ^= 0x01;
    add(
        "flipped_payload_byte.msc",
        "one bit flipped in chunk 1",
        &f,
        (&link, None, false),
        "payload.tampered",
        None,
    );
    add(
        "truncated_at_chunk_boundary.msc",
        "cut after chunk 1 of 4",
        &multi[..chunk(1).end],
        (&link, None, false),
        "payload.truncated",
        None,
    );
    add(
        "truncated_in_chunk.msc",
        "cut inside chunk 2",
        &multi[..chunk(2).start + 1000],
        (&link, None, false),
        "payload.truncated",
        None,
    );
    let first_chunk_only = &multi[..chunk(0).end];
    add(
        "truncated_to_first_chunk.msc",
        "only chunk 0 of 4",
        first_chunk_only,
        (&link, None, false),
        "payload.truncated",
        None,
    );
    let mut f = multi[..chunk(1).start].to_vec();
    f.extend_from_slice(&multi[chunk(2)]);
    f.extend_from_slice(&multi[chunk(1)]);
    f.extend_from_slice(&multi[chunk(3).start..]);
    add(
        "chunks_swapped.msc",
        "chunks 1 and 2 swapped",
        &f,
        (&link, None, false),
        "payload.tampered",
        None,
    );
    let mut f = multi[..chunk(2).start].to_vec();
    f.extend_from_slice(&multi[chunk(1)]);
    f.extend_from_slice(&multi[chunk(2).start..]);
    add(
        "chunk_duplicated.msc",
        "chunk 1 repeated",
        &f,
        (&link, None, false),
        "payload.tampered",
        None,
    );
    let mut f = multi.clone();
    f.extend_from_slice(b"extra");
    add(
        "trailing_data.msc",
        "five bytes after the last chunk",
        &f,
        (&link, None, false),
        "payload.trailing_data",
        None,
    );
    add(
        "empty_payload.msc",
        "a valid header and nothing else",
        &small_file[..small_hl],
        (&link, None, false),
        "payload.empty",
        None,
    );
    let f = handmade(&link, &meta("x.bin"), &big, false, 0);
    add(
        "last_chunk_flag_missing.msc",
        "every chunk sealed as a non-last chunk",
        &f,
        (&link, None, false),
        "payload.truncated",
        None,
    );
    let f = handmade(&link, &meta("x.bin"), &small, false, 0);
    add(
        "last_chunk_flag_missing_single.msc",
        "the only chunk sealed as a non-last chunk",
        &f,
        (&link, None, false),
        "payload.truncated",
        None,
    );
    let f = handmade(&link, &meta("x.bin"), &big, true, 0xAA);
    add(
        "nonzero_padding.msc",
        "authenticated but padding is not zero",
        &f,
        (&link, None, false),
        "payload.malformed",
        None,
    );
    let f = handmade(&link, &meta("x.bin"), &big, true, 0);
    add(
        "valid_handmade.msc",
        "the hand-made writer agrees with the real one",
        &f,
        (&link, None, false),
        "ok",
        Some((&big, "x.bin")),
    );

    let json = serde_json::to_string_pretty(&cases).unwrap();
    fs::write(dir.join("cases.json"), json + "\n").unwrap();
    let _ = TAG_LEN;
}
