//! `medseal bundle` end to end: a bundle in the server's framing, made of contributions sealed
//! to the researcher's key, becomes the same export the browser writes.

use std::path::{Path, PathBuf};
use std::process::Command;

use medseal_core::container::{FileMeta, Recipient, encrypt};
use medseal_core::mask::{Policy, PseudonymKey, mask_bytes};
use medseal_core::pki::PublicKey;
use medseal_core::study::{BundleItem, write_bundle};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../core/tests/data")
        .join(name)
}

fn fixture(prefix: &str) -> Vec<u8> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../core/tests/fixtures/synthea-r4");
    let path = std::fs::read_dir(&dir)
        .expect("fixtures")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| {
            let n = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            n.starts_with(prefix) && n.ends_with(".json") && !n.ends_with(".identifiers.json")
        })
        .expect("fixture");
    std::fs::read(path).expect("read")
}

#[test]
fn bundle_decrypts_contributions_and_writes_the_export() {
    let public =
        PublicKey::from_pem(&std::fs::read_to_string(data("rsa3072.pub.pem")).expect("public key"))
            .expect("key");
    let policy = Policy::safe_harbor();
    let mut sealed = Vec::new();
    for (i, name) in ["Carolee951", "Luisa710"].iter().enumerate() {
        let key = PseudonymKey::from_bytes(&[i as u8 + 1; 32]).expect("key");
        let (masked, _) =
            mask_bytes(&fixture(name), Some("application/fhir+json"), &policy, &key).expect("mask");
        let meta = FileMeta {
            name: "record-1.json".into(),
            media_type: "application/fhir+json".into(),
            masked: true,
            policy: Some("safe-harbor@1".into()),
            ..FileMeta::default()
        };
        sealed.push(encrypt(&[Recipient::Rsa(&public)], &meta, &masked).expect("seal"));
    }
    let items: Vec<BundleItem<'_>> = sealed
        .iter()
        .enumerate()
        .map(|(i, c)| BundleItem {
            id: format!("{}AAAAAAAAAAAAAAAAAAAAA", i),
            created_at: 1_700_000_000 + i as u64,
            ciphertext: c,
        })
        .collect();
    let dir = tempfile::tempdir().expect("tmp");
    let bundle = dir.path().join("study.bundle");
    std::fs::write(&bundle, write_bundle(&items)).expect("write");
    let out = dir.path().join("export.zip");
    let status = Command::new(env!("CARGO_BIN_EXE_medseal"))
        .args(["bundle", "-i"])
        .arg(data("rsa3072.pem"))
        .arg("-o")
        .arg(&out)
        .arg("--k")
        .arg("2")
        .arg(&bundle)
        .output()
        .expect("runs");
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let zip = std::fs::read(&out).expect("export");
    let files = medseal_core::archive::read_stored(&zip).expect("zip");
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    for want in [
        "fhir/Patient.ndjson",
        "fhir/Condition.ndjson",
        "csv/patients.csv",
        "csv/observations.csv",
        "manifest.json",
        "risk-report.json",
    ] {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }
    let patients = &files
        .iter()
        .find(|(n, _)| n == "fhir/Patient.ndjson")
        .expect("patients")
        .1;
    assert_eq!(patients.iter().filter(|b| **b == b'\n').count(), 2);
    let all: Vec<u8> = files.iter().flat_map(|(_, d)| d.clone()).collect();
    let text = String::from_utf8_lossy(&all);
    assert!(!text.contains("Carolee951") && !text.contains("Luisa710"));
    assert!(text.contains("http://loinc.org"));

    // The wrong key fails, and leaves no export behind.
    let other = dir.path().join("other.zip");
    let wrong = dir.path().join("wrong.pem");
    std::fs::write(&wrong, "not a key").expect("write");
    let status = Command::new(env!("CARGO_BIN_EXE_medseal"))
        .args(["bundle", "-i"])
        .arg(&wrong)
        .arg("-o")
        .arg(&other)
        .arg(&bundle)
        .output()
        .expect("runs");
    assert!(!status.status.success());
    assert!(!other.exists());
}
