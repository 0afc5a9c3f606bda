//! `medseal keygen` and `medseal fingerprint`.

use std::io::Write;
use std::path::{Path, PathBuf};

use medseal_core::pki::{PrivateKey, PublicKey};

use crate::io::{describe, read_secret};

/// `NAME.pem` -> `NAME.pub.pem`; any other name gets `.pub.pem` appended.
fn public_path(private: &Path) -> PathBuf {
    let text = private.to_string_lossy();
    match text.strip_suffix(".pem") {
        Some(stem) => PathBuf::from(format!("{stem}.pub.pem")),
        None => PathBuf::from(format!("{text}.pub.pem")),
    }
}

pub fn keygen(output: &Path, bits: usize) -> Result<(), String> {
    if crate::io::is_std(output) {
        return Err("keygen writes two files: give a file name, not `-`".into());
    }
    let public_out = public_path(output);
    for path in [output, public_out.as_path()] {
        if path.exists() {
            return Err(format!(
                "{}: already exists; not overwriting a key",
                path.display()
            ));
        }
    }
    let key = PrivateKey::generate(bits).map_err(|e| e.to_string())?;
    let pem = key.to_pem().map_err(|e| e.to_string())?;
    let public = key.public_key();
    let public_pem = public.to_pem().map_err(|e| e.to_string())?;

    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(output).map_err(|e| describe(output, &e))?;
    file.write_all(pem.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| describe(output, &e))?;
    std::fs::write(&public_out, public_pem).map_err(|e| describe(&public_out, &e))?;
    let fp = public.fingerprint();
    println!("private key: {}", output.display());
    println!("public key:  {}", public_out.display());
    println!("fingerprint: {fp}");
    println!("             {}", fp.to_digits());
    Ok(())
}

pub fn fingerprint(key: &Path) -> Result<(), String> {
    let bytes = read_secret(key)?;
    let text =
        std::str::from_utf8(&bytes).map_err(|_| format!("{}: not a PEM file", key.display()))?;
    let public = if text.contains("PRIVATE KEY") {
        PrivateKey::from_pem(text)
            .map_err(|e| format!("{}: {e}", key.display()))?
            .public_key()
    } else {
        PublicKey::from_pem(text).map_err(|e| format!("{}: {e}", key.display()))?
    };
    let fp = public.fingerprint();
    println!("{fp}");
    println!("{}", fp.to_digits());
    println!("{} bits, base64url {}", public.bits(), fp.to_b64url());
    Ok(())
}
