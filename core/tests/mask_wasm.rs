//! The masking engine in headless Chromium: one Synthea bundle masked in the browser, with the
//! same identifier checks as the native tests.
//!
//! `CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
//!  cargo test --target wasm32-unknown-unknown -p medseal-core --test mask_wasm`
#![cfg(target_arch = "wasm32")]

use base64::Engine as _;
use medseal_core::mask::{InputFormat, Policy, PseudonymKey, mask_bytes};
use serde_json::Value;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

const BUNDLE: &[u8] = include_bytes!(
    "fixtures/synthea-r4/Carolee951_Sanford861_d88f994a-5efa-421d-9c40-5f116d2114a6.json"
);
const IDENTIFIERS: &str = include_str!(
    "fixtures/synthea-r4/Carolee951_Sanford861_d88f994a-5efa-421d-9c40-5f116d2114a6.identifiers.json"
);

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
