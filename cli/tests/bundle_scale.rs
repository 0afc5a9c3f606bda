//! `medseal bundle` at study scale: 2,000 contributions, a bundle larger than the memory the
//! export may use, read as a stream and exported one contribution at a time. The export is read
//! back by Python's `zipfile` (an implementation that is not MedSeal's), and so is a ZIP64
//! archive made small by forcing the ZIP64 form.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use medseal_core::archive::{Method, ZipStream};
use medseal_core::container::{FileMeta, Recipient, encrypt};
use medseal_core::pki::PublicKey;
use medseal_core::study::BUNDLE_MAGIC;
use serde_json::{Value, json};

const CONTRIBUTIONS: usize = 2_000;
const OBSERVATIONS: usize = 90;
/// The most the export may hold at once (peak RSS), whatever the study's size.
const PEAK_LIMIT: u64 = 64 << 20;

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../core/tests/data")
        .join(name)
}

/// A made-up masked record: a Patient and its Observations, different for each contribution.
fn record(i: usize) -> Vec<u8> {
    let patient = format!("p{i:05}");
    let mut entry = vec![json!({"resource": {
        "resourceType": "Patient", "id": patient, "gender": if i % 2 == 0 { "female" } else { "male" },
        "birthDate": format!("{}", 1940 + i % 60),
        "address": [{"state": "MA", "postalCode": format!("0{:02}", i % 30), "country": "US"}]
    }})];
    for j in 0..OBSERVATIONS {
        entry.push(json!({"resource": {
            "resourceType": "Observation", "id": format!("o{i}-{j}"), "status": "final",
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]}],
            "code": {"coding": [{"system": "http://loinc.org", "code": "2339-0", "display": "Glucose [Mass/volume] in Blood"}]},
            "subject": {"reference": format!("Patient/{patient}")},
            "effectiveDateTime": format!("{}-01-01", 2000 + j % 20),
            "valueQuantity": {"value": 70 + (i * 7 + j * 13) % 60, "unit": "mg/dL", "system": "http://unitsofmeasure.org", "code": "mg/dL"},
            "note": [{"text": format!("sample {i}/{j}: {}", "x".repeat(200 + (i + j) % 97))}]
        }}));
    }
    serde_json::to_vec(&json!({"resourceType": "Bundle", "type": "collection", "entry": entry}))
        .unwrap()
}

/// The contribution id of `i`: 22 base64url characters.
fn id(i: usize) -> String {
    format!("{i:0>22}")
}

/// Writes the bundle in the server's framing straight to disk, never holding it whole.
fn write_bundle(path: &Path) -> u64 {
    let public =
        PublicKey::from_pem(&std::fs::read_to_string(data("rsa3072.pub.pem")).unwrap()).unwrap();
    let mut out = BufWriter::new(std::fs::File::create(path).unwrap());
    out.write_all(BUNDLE_MAGIC).unwrap();
    out.write_all(&(CONTRIBUTIONS as u32).to_be_bytes())
        .unwrap();
    let meta = FileMeta {
        name: "masked-record-1.json".into(),
        media_type: "application/fhir+json".into(),
        masked: true,
        policy: Some("safe-harbor@1".into()),
        ..FileMeta::default()
    };
    let mut size = 0;
    for i in 0..CONTRIBUTIONS {
        let sealed = encrypt(&[Recipient::Rsa(&public)], &meta, &record(i)).unwrap();
        let id = id(i);
        out.write_all(&[id.len() as u8]).unwrap();
        out.write_all(id.as_bytes()).unwrap();
        out.write_all(&(1_700_000_000 + i as u64).to_be_bytes())
            .unwrap();
        out.write_all(&(sealed.len() as u64).to_be_bytes()).unwrap();
        out.write_all(&sealed).unwrap();
        size += sealed.len() as u64;
    }
    out.write_all(&[0]).unwrap();
    out.flush().unwrap();
    size
}

/// The peak resident memory of a running process, from `/proc/PID/status` (`VmHWM`, bytes).
fn peak_rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Python's zipfile on `zip`: `testzip()` (every CRC) and each entry's text.
fn python_read(zip: &Path) -> Value {
    let script = r#"
import json, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    bad = z.testzip()
    out = {"bad": bad, "entries": {}}
    for info in z.infolist():
        text = z.read(info).decode("utf-8")
        out["entries"][info.filename] = {
            "lines": len(text.splitlines()), "size": info.file_size,
            "deflated": info.compress_type == zipfile.ZIP_DEFLATED,
            "json": json.loads(text) if info.filename.endswith(".json") else None,
        }
    print(json.dumps(out))
"#;
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(zip)
        .output()
        .expect("python3 runs (installed on every machine the tests run on)");
    assert!(
        out.status.success(),
        "python zipfile: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn a_study_of_2000_contributions_exports_in_memory_that_does_not_grow_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("study.bundle");
    let ciphertext = write_bundle(&bundle);
    let bundle_len = std::fs::metadata(&bundle).unwrap().len();
    assert!(
        bundle_len > 2 * PEAK_LIMIT,
        "the bundle ({bundle_len} bytes) must dwarf the limit"
    );

    let out = dir.path().join("export.zip");
    let mut child = Command::new(env!("CARGO_BIN_EXE_medseal"))
        .args(["bundle", "-i"])
        .arg(data("rsa3072.pem"))
        .arg("-o")
        .arg(&out)
        .arg("--k")
        .arg("2")
        .arg(&bundle)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap());
    let mut peak = 0;
    let status = loop {
        if let Some(p) = peak_rss(pid) {
            peak = peak.max(p);
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let log = reader.join().unwrap();
    assert!(status.success(), "{log}");
    assert!(peak > 0, "peak RSS was read");
    eprintln!(
        "bundle {bundle_len} bytes ({ciphertext} of ciphertext), export {} bytes, peak RSS {} KiB",
        std::fs::metadata(&out).unwrap().len(),
        peak / 1024
    );
    assert!(
        peak < PEAK_LIMIT,
        "medseal bundle peaked at {} MiB for a {} MiB bundle (limit {} MiB)",
        peak >> 20,
        bundle_len >> 20,
        PEAK_LIMIT >> 20
    );
    assert!(
        log.contains(&format!(
            "{CONTRIBUTIONS} contributions, {CONTRIBUTIONS} patients"
        )),
        "{log}"
    );
    // The spool folder beside the output is gone.
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.file_name())
        .collect();
    assert_eq!(left.len(), 2, "{left:?}");

    let read = python_read(&out);
    assert_eq!(read["bad"], Value::Null, "every CRC matches");
    let entries = &read["entries"];
    assert_eq!(entries["fhir/Patient.ndjson"]["lines"], CONTRIBUTIONS);
    assert_eq!(
        entries["fhir/Observation.ndjson"]["lines"],
        CONTRIBUTIONS * OBSERVATIONS
    );
    assert_eq!(entries["csv/patients.csv"]["lines"], CONTRIBUTIONS + 1);
    assert_eq!(
        entries["csv/observations.csv"]["lines"],
        CONTRIBUTIONS * OBSERVATIONS + 1
    );
    assert_eq!(entries["fhir/Observation.ndjson"]["deflated"], true);
    let manifest = &entries["manifest.json"]["json"];
    let output = manifest["output"].as_array().unwrap();
    let count = |t: &str| {
        output
            .iter()
            .find(|o| o["type"] == t)
            .map(|o| o["count"].clone())
    };
    assert_eq!(count("Patient"), Some(json!(CONTRIBUTIONS)));
    assert_eq!(
        count("Observation"),
        Some(json!(CONTRIBUTIONS * OBSERVATIONS))
    );
    assert_eq!(
        manifest["extension"]["https://medseal.org/export"]["contributions"]
            .as_array()
            .map(Vec::len),
        Some(CONTRIBUTIONS)
    );
    let report = &entries["risk-report.json"]["json"];
    assert_eq!(report["patients"], CONTRIBUTIONS);
}

#[test]
fn python_reads_a_small_archive_in_the_zip64_form() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("forced.zip");
    let ndjson: Vec<u8> = (0..5000)
        .flat_map(|i| format!("{{\"n\":{i}}}\n").into_bytes())
        .collect();
    let mut z = ZipStream::new(std::fs::File::create(&path).unwrap()).force_zip64();
    z.add_reader("fhir/Patient.ndjson", &mut &ndjson[..], ndjson.len() as u64)
        .unwrap();
    z.add(
        "risk-report.json",
        Method::Deflated,
        b"{\"patients\": 5000}",
    )
    .unwrap();
    z.add("study.json", Method::Stored, b"{}").unwrap();
    z.finish().unwrap();
    let bytes = std::fs::read(&path).unwrap();
    assert!(
        bytes.windows(4).any(|w| w == 0x0606_4b50u32.to_le_bytes()),
        "ZIP64 end record"
    );
    let read = python_read(&path);
    assert_eq!(read["bad"], Value::Null);
    assert_eq!(read["entries"]["fhir/Patient.ndjson"]["lines"], 5000);
    assert_eq!(read["entries"]["fhir/Patient.ndjson"]["size"], ndjson.len());
    assert_eq!(
        read["entries"]["risk-report.json"]["json"],
        json!({"patients": 5000})
    );
    assert_eq!(read["entries"]["study.json"]["deflated"], false);
}
