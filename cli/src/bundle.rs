//! `medseal bundle`: decrypts a study bundle downloaded from the server with the researcher's
//! private key and writes the same export the browser makes (FHIR NDJSON per resource type,
//! CSV tables, manifest, risk report), for studies too large for a browser.

use std::path::Path;

use medseal_core::export::{export, open_contribution};
use medseal_core::pki::PrivateKey;
use medseal_core::study::parse_bundle;

use crate::io::{Output, describe, read_secret};

pub fn bundle(
    input: &Path,
    output: &Path,
    identity: &Path,
    k: Option<u32>,
    study: Option<&Path>,
) -> Result<(), String> {
    let pem = read_secret(identity)?;
    let pem = std::str::from_utf8(&pem)
        .map_err(|_| format!("{}: not a PEM key file", identity.display()))?;
    let key = PrivateKey::from_pem(pem).map_err(|e| format!("{}: {e}", identity.display()))?;
    let bytes = std::fs::read(input).map_err(|e| describe(input, &e))?;
    let items = parse_bundle(&bytes).map_err(|e| format!("{}: {e}", input.display()))?;
    let study: Option<serde_json::Value> = match study {
        Some(path) => {
            let text = std::fs::read(path).map_err(|e| describe(path, &e))?;
            let value: serde_json::Value = serde_json::from_slice(&text)
                .map_err(|e| format!("{}: not JSON: {e}", path.display()))?;
            // Accept the signed form the server serves, or the bare description.
            Some(value.get("description").cloned().unwrap_or(value))
        }
        None => None,
    };
    let k = k
        .or_else(|| {
            study
                .as_ref()
                .and_then(|s| s.get("min_k"))
                .and_then(serde_json::Value::as_u64)
                .and_then(|k| u32::try_from(k).ok())
        })
        .unwrap_or(5);
    let mut contributions = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        eprintln!("decrypting contribution {} of {}", i + 1, items.len());
        contributions.push(open_contribution(item, &key).map_err(|e| e.to_string())?);
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let out = export(&contributions, study.as_ref(), k, now).map_err(|e| e.to_string())?;
    let mut file = Output::create(output)?;
    file.write(&out.zip)?;
    file.commit()?;
    let r = &out.report;
    eprintln!(
        "{} contributions, {} patients; smallest group {}; {} groups ({} patients) under k = {}",
        contributions.len(),
        r.patients,
        r.smallest_group,
        r.under_k.len(),
        r.patients_under_k,
        r.k
    );
    Ok(())
}
