#![cfg(not(target_arch = "wasm32"))]
//! Masking tests: every Synthea fixture against its list of identifiers, clinical content
//! before and after, pseudonyms, date shifts, NDJSON/CSV/text, ZIP and age rules, reports and
//! policies.

mod csv_columns;
mod digests;
mod fixtures;
mod forms;
mod free_text;
mod frozen;
mod notes;
mod policy;
mod preview;
mod rules;
mod scale;
mod schema;

use medseal_core::mask::{MaskOptions, MaskReport, Policy, PseudonymKey, mask_bytes_with};
use serde_json::Value;

pub fn key(byte: u8) -> PseudonymKey {
    PseudonymKey::from_bytes(&[byte; 32]).expect("32 bytes is long enough")
}

/// Ages are computed at a fixed date, so the tests do not depend on the clock.
pub fn opts() -> MaskOptions {
    MaskOptions {
        as_of: Some((2026, 11, 24)),
        format: None,
    }
}

pub fn mask(
    input: &[u8],
    hint: Option<&str>,
    policy: &Policy,
    key: &PseudonymKey,
) -> (String, MaskReport) {
    let (out, report) =
        mask_bytes_with(input, hint, policy, key, &opts()).expect("masking succeeds");
    (String::from_utf8(out).expect("output is UTF-8"), report)
}

pub fn mask_json(v: &Value, policy: &Policy, key: &PseudonymKey) -> (Value, MaskReport) {
    let (out, report) = mask(v.to_string().as_bytes(), None, policy, key);
    (serde_json::from_str(&out).expect("output is JSON"), report)
}

/// Snapshot check in the style of expect-test: on mismatch, prints the actual text to paste.
pub fn check(actual: &str, expected: &str) {
    let (a, e) = (actual.trim(), expected.trim());
    if a != e {
        panic!("snapshot mismatch.\n--- actual ---\n{a}\n--- expected ---\n{e}\n");
    }
}

/// Calls `f` on every string in a JSON document, with its key.
pub fn each_string<'a>(v: &'a Value, key: &'a str, f: &mut dyn FnMut(&'a str, &'a str)) {
    match v {
        Value::String(s) => f(key, s),
        Value::Array(a) => a.iter().for_each(|i| each_string(i, key, f)),
        Value::Object(m) => m.iter().for_each(|(k, c)| each_string(c, k, f)),
        _ => {}
    }
}
