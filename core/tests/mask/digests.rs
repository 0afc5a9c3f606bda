//! The frozen digests of masked outputs (`core/tests/data/mask-digests.json`), which the wasm
//! test in Chromium checks too. `MEDSEAL_BLESS=1` rewrites the file after an intended change.

use std::path::Path;

use crate::fixtures::fixtures;
use crate::frozen::{Case, Frozen, INPUTS, differences, digest};

fn digests_path() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/mask-digests.json")
}

/// Every Synthea fixture and every hand-written input, masked and digested.
pub fn computed() -> Vec<Case> {
    let mut cases: Vec<Case> = fixtures()
        .into_iter()
        .map(|(path, _)| {
            let file = path.file_name().expect("file name").to_string_lossy();
            let input = std::fs::read(&path).expect("fixture");
            digest(&format!("synthea-r4/{file}"), &input)
        })
        .collect();
    cases.extend(INPUTS.iter().map(|(name, input)| digest(name, input)));
    cases
}

#[test]
fn masked_outputs_match_the_frozen_digests() {
    let computed = computed();
    let path = digests_path();
    if std::env::var_os("MEDSEAL_BLESS").is_some_and(|v| v == "1") {
        let json = serde_json::to_string_pretty(&Frozen::new(computed)).expect("JSON") + "\n";
        std::fs::write(&path, json).expect("write the digests file");
        eprintln!("MEDSEAL_BLESS=1: wrote {}", path.display());
        return;
    }
    let frozen: Frozen = serde_json::from_slice(&std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}. Run MEDSEAL_BLESS=1 cargo test -p medseal-core --test mask digests to make it.",
            path.display()
        )
    }))
    .expect("digests file is JSON");
    assert_eq!(frozen.policy, "safe-harbor");
    let mut problems = differences(&frozen, &computed);
    for f in &frozen.cases {
        if !computed.iter().any(|c| c.name == f.name) {
            problems.push(format!("{}: in the digests file but no such input", f.name));
        }
    }
    assert!(
        problems.is_empty(),
        "masked output differs from {}:\n  {}\nIf the change of output is intended (a policy or \
         engine change, reviewed), rewrite the file with\n  MEDSEAL_BLESS=1 cargo test -p \
         medseal-core --test mask digests\nand commit it; the wasm test in Chromium checks the \
         same file.",
        path.display(),
        problems.join("\n  ")
    );
}
