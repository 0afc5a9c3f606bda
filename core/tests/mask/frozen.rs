//! The frozen masking digests of `core/tests/data/mask-digests.json`, shared by the native
//! test (`digests.rs`) and the wasm test (`core/tests/mask_wasm.rs`): both mask the same
//! inputs with the same key and date and compare against the one file, which proves that the
//! browser and the native build give the same bytes.

use medseal_core::mask::{MaskOptions, Policy, PseudonymKey, mask_bytes_with};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The key byte (repeated 32 times) the digests are made with.
pub const KEY_BYTE: u8 = 7;
/// The date ages are computed at.
pub const AS_OF: (i32, u32, u32) = (2026, 11, 24);

/// The small hand-written inputs, one of each form, by their name in the digests file.
pub const INPUTS: [(&str, &[u8]); 5] = [
    (
        "mask-inputs/resource.json",
        include_bytes!("../data/mask-inputs/resource.json"),
    ),
    (
        "mask-inputs/bundle.json",
        include_bytes!("../data/mask-inputs/bundle.json"),
    ),
    (
        "mask-inputs/patients.ndjson",
        include_bytes!("../data/mask-inputs/patients.ndjson"),
    ),
    (
        "mask-inputs/patients.csv",
        include_bytes!("../data/mask-inputs/patients.csv"),
    ),
    (
        "mask-inputs/note.txt",
        include_bytes!("../data/mask-inputs/note.txt"),
    ),
];

/// The digests file.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
pub struct Frozen {
    /// What the file is.
    pub about: String,
    /// The policy.
    pub policy: String,
    /// The key: 32 bytes of this value.
    pub key_byte: u8,
    /// Ages are computed at this date.
    pub as_of: String,
    /// One entry per input.
    pub cases: Vec<Case>,
}

/// One input's masked output, by digest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Case {
    /// `synthea-r4/NAME.json` (under `core/tests/fixtures/`) or `mask-inputs/NAME` (under
    /// `core/tests/data/`).
    pub name: String,
    /// SHA-256 of the masked output, hex.
    pub sha256: String,
    /// The report's total.
    pub total: u64,
}

impl Frozen {
    /// A file holding these cases.
    pub fn new(cases: Vec<Case>) -> Self {
        Self {
            about: "SHA-256 of each input masked under the built-in safe-harbor policy with the \
                    key of 32 bytes of key_byte and ages computed at as_of, and the report's total. \
                    Checked natively by core/tests/mask/digests.rs and in headless Chromium by \
                    core/tests/mask_wasm.rs; MEDSEAL_BLESS=1 cargo test -p medseal-core --test mask \
                    digests rewrites it after an intended change."
                .to_owned(),
            policy: "safe-harbor".to_owned(),
            key_byte: KEY_BYTE,
            as_of: format!("{:04}-{:02}-{:02}", AS_OF.0, AS_OF.1, AS_OF.2),
            cases,
        }
    }

    /// The case of that name.
    pub fn case(&self, name: &str) -> Option<&Case> {
        self.cases.iter().find(|c| c.name == name)
    }
}

/// Masks one input as the digests file says (the name, whose file name is the media hint).
pub fn digest(name: &str, input: &[u8]) -> Case {
    let key = PseudonymKey::from_bytes(&[KEY_BYTE; 32]).expect("32 bytes");
    let options = MaskOptions {
        as_of: Some(AS_OF),
        format: None,
    };
    let hint = name.rsplit('/').next();
    let (out, report) = mask_bytes_with(input, hint, &Policy::safe_harbor(), &key, &options)
        .unwrap_or_else(|e| panic!("{name}: masking failed: {e}"));
    Case {
        name: name.to_owned(),
        sha256: hex::encode(Sha256::digest(&out)),
        total: report.total,
    }
}

/// Compares computed cases with the frozen ones; returns one line per difference.
pub fn differences(frozen: &Frozen, computed: &[Case]) -> Vec<String> {
    let mut out = Vec::new();
    for c in computed {
        match frozen.case(&c.name) {
            None => out.push(format!("{}: not in the digests file", c.name)),
            Some(f) if f != c => out.push(format!(
                "{}: sha256 {} total {} (frozen: sha256 {} total {})",
                c.name, c.sha256, c.total, f.sha256, f.total
            )),
            Some(_) => {}
        }
    }
    out
}
