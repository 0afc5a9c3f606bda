//! `medseal encrypt` / `decrypt` / `fingerprint` end to end, with each kind of recipient, and the
//! promise that a failed decryption leaves no output file behind.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn medseal(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_medseal"))
        .args(args)
        .output()
        .expect("medseal runs")
}

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../core/tests/data")
        .join(name)
}

fn s(path: &Path) -> &str {
    path.to_str().expect("UTF-8 path")
}

/// Bytes that are not all alike, so a chunk mix-up would show.
fn content(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i * 31 % 251) as u8 ^ (i >> 16) as u8)
        .collect()
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "medseal failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn link_key_round_trips_every_chunk_shape() {
    let dir = tempfile::tempdir().expect("temp dir");
    for len in [0, 1, 65_535, 65_536, 65_537, 3 * 1024 * 1024 + 17] {
        let (input, sealed, back) = (
            dir.path().join("in"),
            dir.path().join("sealed"),
            dir.path().join("back"),
        );
        std::fs::write(&input, content(len)).expect("input");
        let key = ok(&medseal(&["encrypt", s(&input), "-o", s(&sealed)]));
        assert_eq!(key.len(), 43, "a 32-byte key in base64url: {key}");
        ok(&medseal(&[
            "decrypt",
            "--key",
            &key,
            s(&sealed),
            "-o",
            s(&back),
        ]));
        assert_eq!(
            std::fs::read(&back).expect("output"),
            content(len),
            "size {len}"
        );
    }
}

#[test]
fn a_key_that_begins_with_a_hyphen_is_a_key() {
    // One key in 64 starts with `-` in base64url; the CLI must not take it for a flag.
    let dir = tempfile::tempdir().expect("temp dir");
    let (input, sealed, back) = (
        dir.path().join("in"),
        dir.path().join("sealed"),
        dir.path().join("back"),
    );
    std::fs::write(&input, b"x").expect("input");
    ok(&medseal(&["encrypt", s(&input), "-o", s(&sealed)]));
    let out = medseal(&[
        "decrypt",
        "--key",
        &format!("-{}", "A".repeat(42)),
        s(&sealed),
        "-o",
        s(&back),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        !stderr.contains("unexpected argument"),
        "the key was parsed as a flag: {stderr}"
    );
}

#[test]
fn password_needs_link_and_password() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (input, sealed, back) = (
        dir.path().join("in"),
        dir.path().join("sealed"),
        dir.path().join("back"),
    );
    let (password, wrong) = (dir.path().join("pw"), dir.path().join("wrong"));
    std::fs::write(&input, b"lab results").expect("input");
    std::fs::write(&password, "correct horse\n").expect("password");
    std::fs::write(&wrong, "wrong horse\n").expect("password");
    let key = ok(&medseal(&[
        "encrypt",
        "--password-file",
        s(&password),
        s(&input),
        "-o",
        s(&sealed),
    ]));

    let out = medseal(&["decrypt", "--key", &key, s(&sealed), "-o", s(&back)]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("password"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = medseal(&[
        "decrypt",
        "--key",
        &key,
        "--password-file",
        s(&wrong),
        s(&sealed),
        "-o",
        s(&back),
    ]);
    assert!(!out.status.success());
    assert!(!back.exists(), "a failed decryption leaves no output");

    ok(&medseal(&[
        "decrypt",
        "--key",
        &key,
        "--password-file",
        s(&password),
        s(&sealed),
        "-o",
        s(&back),
    ]));
    assert_eq!(std::fs::read(&back).expect("output"), b"lab results");
}

#[test]
fn rsa_recipient_and_fingerprints() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (input, sealed, back) = (
        dir.path().join("in"),
        dir.path().join("sealed"),
        dir.path().join("back"),
    );
    std::fs::write(&input, content(200_000)).expect("input");
    let (private, public) = (data("rsa3072.pem"), data("rsa3072.pub.pem"));
    let stdout = ok(&medseal(&[
        "encrypt",
        "--recipient",
        s(&public),
        s(&input),
        "-o",
        s(&sealed),
    ]));
    assert!(
        stdout.is_empty(),
        "no link key is printed for a public-key recipient: {stdout}"
    );
    ok(&medseal(&[
        "decrypt",
        "--identity",
        s(&private),
        s(&sealed),
        "-o",
        s(&back),
    ]));
    assert_eq!(std::fs::read(&back).expect("output"), content(200_000));

    // The private and the public key have the same fingerprint.
    assert_eq!(
        ok(&medseal(&["fingerprint", s(&private)])),
        ok(&medseal(&["fingerprint", s(&public)]))
    );

    // A link key does not open a container sealed to a public key.
    let out = medseal(&[
        "decrypt",
        "--key",
        &"A".repeat(43),
        s(&sealed),
        "-o",
        s(&back.with_extension("x")),
    ]);
    assert!(!out.status.success());
    assert!(!back.with_extension("x").exists());
}

#[test]
fn tampering_fails_cleanly_and_leaves_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (input, sealed, back) = (
        dir.path().join("in"),
        dir.path().join("sealed"),
        dir.path().join("back"),
    );
    std::fs::write(&input, content(300_000)).expect("input");
    let key = ok(&medseal(&["encrypt", s(&input), "-o", s(&sealed)]));
    let mut bytes = std::fs::read(&sealed).expect("sealed");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x80;
    std::fs::write(&sealed, &bytes).expect("tampered");
    let out = medseal(&["decrypt", "--key", &key, s(&sealed), "-o", s(&back)]);
    assert!(!out.status.success());
    assert!(
        !String::from_utf8_lossy(&out.stderr).is_empty(),
        "a message says why"
    );
    assert!(!back.exists(), "no partial output");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .expect("dir")
        .filter_map(Result::ok)
        .map(|e| e.file_name())
        .collect();
    assert_eq!(
        leftovers.len(),
        2,
        "only the input and the container remain: {leftovers:?}"
    );
}

/// The browser's encrypted key file (a `medseal-private-key` record) is read as the plain PEM
/// is, with its passphrase from `MEDSEAL_KEY_PASSPHRASE_FILE`; a wrong or missing passphrase
/// fails clearly and writes nothing.
#[test]
fn the_encrypted_key_file_decrypts_like_the_plain_pem() {
    use medseal_core::keystore::{KEY_PARAMS, seal_key};
    use medseal_core::pki::PrivateKey;
    let dir = tempfile::tempdir().expect("temp dir");
    let (input, sealed, back) = (
        dir.path().join("in"),
        dir.path().join("sealed"),
        dir.path().join("back"),
    );
    std::fs::write(&input, content(70_000)).expect("input");
    let key = PrivateKey::from_pem(&std::fs::read_to_string(data("rsa3072.pem")).expect("pem"))
        .expect("key");
    let stored = seal_key(&key, "four unrelated words", "test", 1, KEY_PARAMS).expect("seal");
    let key_file = dir.path().join("medseal-key.json");
    std::fs::write(&key_file, serde_json::to_vec(&stored).expect("json")).expect("write");
    let good = dir.path().join("pass");
    std::fs::write(&good, "four unrelated words\n").expect("write");
    let wrong = dir.path().join("wrong");
    std::fs::write(&wrong, "five unrelated words\n").expect("write");
    ok(&medseal(&[
        "encrypt",
        "--recipient",
        s(&data("rsa3072.pub.pem")),
        s(&input),
        "-o",
        s(&sealed),
    ]));
    let decrypt = |pass: Option<&Path>| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_medseal"));
        c.args([
            "decrypt",
            "--identity",
            s(&key_file),
            s(&sealed),
            "-o",
            s(&back),
        ])
        .env_remove("MEDSEAL_KEY_PASSPHRASE")
        .env_remove("MEDSEAL_KEY_PASSPHRASE_FILE");
        if let Some(p) = pass {
            c.env("MEDSEAL_KEY_PASSPHRASE_FILE", p);
        }
        c.output().expect("medseal runs")
    };
    let out = decrypt(None);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("MEDSEAL_KEY_PASSPHRASE_FILE"));
    let out = decrypt(Some(&wrong));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("passphrase is wrong"));
    assert!(!back.exists());
    ok(&decrypt(Some(&good)));
    assert_eq!(std::fs::read(&back).expect("output"), content(70_000));
}
