//! The masking engine in headless Chromium: the same outputs as natively, byte for byte, and
//! the same identifier checks on one Synthea bundle.
//!
//! `CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
//!  CHROMEDRIVER=/usr/bin/chromedriver \
//!  cargo test --target wasm32-unknown-unknown -p medseal-core --test mask_wasm`
#![cfg(target_arch = "wasm32")]

use base64::Engine as _;
use medseal_core::mask::{
    InputFormat, MaskOptions, Policy, PseudonymKey, mask_bytes, mask_bytes_preview, mask_bytes_with,
};
use serde_json::Value;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

#[allow(dead_code)]
#[path = "mask/frozen.rs"]
mod frozen;

wasm_bindgen_test_configure!(run_in_browser);

const IDENTIFIERS: &str = include_str!(
    "fixtures/synthea-r4/Carolee951_Sanford861_d88f994a-5efa-421d-9c40-5f116d2114a6.identifiers.json"
);

/// The digests the native test checks too (`core/tests/mask/digests.rs`).
const DIGESTS: &str = include_str!("data/mask-digests.json");

macro_rules! fixture {
    ($name:literal) => {
        (
            concat!("synthea-r4/", $name),
            include_bytes!(concat!("fixtures/synthea-r4/", $name)) as &[u8],
        )
    };
}

/// Every Synthea fixture (15.7 MB in all, the largest 3.2 MB).
const FIXTURES: [(&str, &[u8]); 11] = [
    fixture!("Antonia30_Ruelas156_fe07e69a-4d6d-4e11-a675-de69f62de5f3.json"),
    fixture!("Carolee951_Sanford861_d88f994a-5efa-421d-9c40-5f116d2114a6.json"),
    fixture!("Johnetta529_Marquardt819_abb133fd-5683-45cd-a5c8-137ca2807fbe.json"),
    fixture!("Lindsey52_OReilly797_092afec8-ffca-4793-a91b-40f2055f9d89.json"),
    fixture!("Luisa710_Carranza218_2feb4fc9-0b59-4d72-bc87-aafcf11083d9.json"),
    fixture!("Lynwood354_Powlowski563_edca2a50-d3e4-4663-a104-6c226d5a8fcd.json"),
    fixture!("Paris331_Lindgren255_ef2185a2-4460-49bb-9604-a36ed52c2ef4.json"),
    fixture!("Sunny31_Lakin515_4da5c8a3-847e-4fd8-a21f-f5ab37f6662b.json"),
    fixture!("Terrie907_Skiles927_1c5a49ea-fc04-456b-9d86-82d3e8f25ab1.json"),
    fixture!("Todd315_Stamm704_0ce18c7d-fd78-46d9-81b5-8bed231c337a.json"),
    fixture!("Vanesa40_Grant908_c79d46db-3ba8-406a-8bc3-201509059978.json"),
];

/// Carolee951 Sanford861, whose identifiers are checked below.
const BUNDLE: &[u8] = FIXTURES[1].1;

#[wasm_bindgen_test]
fn masked_outputs_match_the_native_digests() {
    let frozen: frozen::Frozen = serde_json::from_str(DIGESTS).expect("digests file");
    let computed: Vec<frozen::Case> = FIXTURES
        .iter()
        .chain(frozen::INPUTS.iter())
        .map(|(name, input)| frozen::digest(name, input))
        .collect();
    let problems = frozen::differences(&frozen, &computed);
    assert!(
        problems.is_empty(),
        "the browser's output differs from the frozen digests:\n  {}",
        problems.join("\n  ")
    );
    // Every case of the file was computed here: the browser covers all the native test does.
    assert_eq!(computed.len(), frozen.cases.len());
}

#[wasm_bindgen_test]
fn the_preview_runs_in_the_browser_and_changes_nothing() {
    let key = PseudonymKey::from_bytes(&[frozen::KEY_BYTE; 32]).expect("key");
    let options = MaskOptions {
        as_of: Some(frozen::AS_OF),
        format: None,
    };
    for (name, input) in frozen::INPUTS.iter().chain(&FIXTURES[1..2]) {
        let hint = name.rsplit('/').next();
        let plain =
            mask_bytes_with(input, hint, &Policy::safe_harbor(), &key, &options).expect("masks");
        let (out, report, preview) =
            mask_bytes_preview(input, hint, &Policy::safe_harbor(), &key, &options, 50)
                .expect("masks");
        assert_eq!((out, report), plain, "{name}");
        assert!(!preview.changes.is_empty(), "{name}");
        for c in &preview.changes {
            for &(a, b) in &c.spans {
                assert!(c.before.get(a..b).is_some(), "{name}: {c:?}");
            }
        }
    }
}

#[wasm_bindgen_test]
fn masks_a_synthea_bundle_in_the_browser() {
    let key = PseudonymKey::generate().expect("the browser CSPRNG works");
    let (out, report) = mask_bytes(BUNDLE, None, &Policy::safe_harbor(), &key).expect("masks");
    assert_eq!(report.format, InputFormat::FhirBundle);
    assert!(report.total > 1000);
    let out = String::from_utf8(out).expect("UTF-8");
    let masked: Value = serde_json::from_str(&out).expect("JSON");
    let ids: Value = serde_json::from_str(IDENTIFIERS).expect("JSON");
    let mut notes = Vec::new();
    for e in masked["entry"].as_array().expect("entries") {
        for c in e["resource"]["content"].as_array().into_iter().flatten() {
            if let Some(d) = c["attachment"]["data"].as_str() {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(d)
                    .expect("base64");
                notes.push(String::from_utf8(bytes).expect("text"));
            }
        }
    }
    assert!(!notes.is_empty());
    for needle in ids["must_not_appear_substring"].as_array().expect("list") {
        let needle = needle.as_str().expect("string");
        assert!(!out.contains(needle), "{needle} survived");
        assert!(
            notes.iter().all(|n| !n.contains(needle)),
            "{needle} survived in a note"
        );
    }
    // The same key gives the same output, in the browser too.
    let (again, _) = mask_bytes(BUNDLE, None, &Policy::safe_harbor(), &key).expect("masks");
    assert_eq!(again, out.as_bytes());
}
