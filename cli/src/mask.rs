//! `medseal mask`: de-identify a record natively with the same engine as the browser.

use std::io::{Read, Write};
use std::path::Path;

use medseal_core::mask::{MaskOptions, Policy, PseudonymKey, civil_from_days, mask_bytes_with};

/// Masks INPUT under a policy and writes it in the same form to OUTPUT (or stdout).
pub fn mask(
    input: &Path,
    output: Option<&Path>,
    policy: &str,
    key_file: Option<&Path>,
    report: bool,
) -> Result<(), String> {
    let policy = match Policy::builtin(policy) {
        Some(p) => p,
        None => {
            let text = std::fs::read_to_string(policy).map_err(|e| {
                format!("{policy}: {e} (the policy is neither a built-in name such as safe-harbor nor a readable file)")
            })?;
            Policy::from_json(&text).map_err(|e| format!("{policy}: {e}"))?
        }
    };
    let key = match key_file {
        Some(path) => {
            let mut bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
            while bytes.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                bytes.pop();
            }
            let key =
                PseudonymKey::from_bytes(&bytes).map_err(|e| format!("{}: {e}", path.display()));
            zeroize::Zeroize::zeroize(&mut bytes);
            key?
        }
        None => {
            eprintln!(
                "medseal: no --key-file: using a fresh random key, so pseudonyms will not match other runs"
            );
            PseudonymKey::generate().map_err(|e| e.to_string())?
        }
    };
    let data = if input == Path::new("-") {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .map_err(|e| format!("stdin: {e}"))?;
        buf
    } else {
        std::fs::read(input).map_err(|e| format!("{}: {e}", input.display()))?
    };
    let hint = input.file_name().map(|n| n.to_string_lossy().into_owned());
    let options = MaskOptions {
        as_of: Some(today()),
        format: None,
    };
    let (masked, rep) = mask_bytes_with(&data, hint.as_deref(), &policy, &key, &options)
        .map_err(|e| e.to_string())?;
    match output {
        Some(path) if path != Path::new("-") => {
            std::fs::write(path, &masked).map_err(|e| format!("{}: {e}", path.display()))?
        }
        _ => std::io::stdout()
            .write_all(&masked)
            .map_err(|e| format!("stdout: {e}"))?,
    }
    if report {
        for line in rep.summary() {
            eprintln!("{line}");
        }
        for r in &rep.by_rule {
            eprintln!(
                "  {:<28} {:<12} {:<11} {}",
                r.rule,
                r.kind.as_str(),
                r.method.as_str(),
                r.count
            );
        }
    }
    Ok(())
}

/// Today's date (UTC), for ages over 89.
pub(crate) fn today() -> (i32, u32, u32) {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    civil_from_days((secs / 86_400) as i64)
}
