//! `medseal contribute`: a patient contributes records to a research study from the command
//! line, exactly as the contribution page does in the browser (frontend/src/pages/contribute.rs
//! and the study worker): the study is checked against the researcher's key fingerprint the link
//! pins, each file is masked with the study's policy under the patient's pseudonym key for this
//! study (HKDF of the patient's own 32-byte secret and the study id), the masked files are sealed
//! to the researcher's key with the same metadata the browser writes (neutral names
//! `masked-record-N.ext`, the policy label, one file pack for several files), and uploaded with no
//! identity. Nothing is uploaded unless every check and every file succeeds.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use medseal_core::container::{FileMeta, Recipient, encrypt};
use medseal_core::mask::{MaskOptions, mask_bytes_with};
use medseal_core::pack::{pack, pack_meta};
use medseal_core::pki::Fingerprint;
use medseal_core::study::{study_pseudonym_key, verify_study, withdraw_link};
use zeroize::Zeroizing;

use crate::http::{Failure, Server};
use crate::io::describe;

/// What `medseal contribute` was asked.
pub struct Request<'a> {
    /// `--server`, else the origin of the link.
    pub server: Option<&'a str>,
    /// A contribution link `https://host/c/{sid}#{fingerprint}` or a study id.
    pub study: &'a str,
    /// `--fingerprint`, required with a bare study id.
    pub fingerprint: Option<&'a str>,
    /// The patient's secret.
    pub secret_file: &'a Path,
    /// The records.
    pub files: &'a [PathBuf],
}

/// Where to contribute: the server, the study and the pinned fingerprint.
#[derive(Debug, PartialEq, Eq)]
struct Target {
    server: String,
    study: String,
    pin: String,
}

fn target(server: Option<&str>, study: &str, fingerprint: Option<&str>) -> Result<Target, String> {
    let study = study.trim();
    let (link, fragment) = match study.split_once('#') {
        Some((l, f)) => (l, Some(f)),
        None => (study, None),
    };
    let (origin, sid) = match link.rsplit_once("/c/") {
        Some((origin, sid)) => (Some(origin), sid.trim_end_matches('/')),
        None => (None, link),
    };
    if !medseal_core::id::is_object_id(sid) {
        return Err(format!(
            "{study:?} is neither a contribution link (https://host/c/STUDY#FINGERPRINT) nor a study id"
        ));
    }
    let pin = match (fragment.filter(|f| !f.is_empty()), fingerprint) {
        (Some(f), Some(g)) if Fingerprint::parse(f).ok() != Fingerprint::parse(g).ok() => {
            return Err(
                "the link and --fingerprint name different researcher keys: refusing to guess which to trust"
                    .into(),
            );
        }
        (Some(f), _) | (None, Some(f)) => f,
        (None, None) => {
            return Err(
                "the researcher's key fingerprint is missing: give the whole contribution link (with the part after #) or --fingerprint, as the researcher gave it to you"
                    .into(),
            );
        }
    };
    let pin = Fingerprint::parse(pin.trim())
        .map_err(|_| {
            format!("{pin:?} is not a key fingerprint (43 base64url or 64 hex characters)")
        })?
        .to_b64url();
    let server = match (server, origin) {
        (Some(s), _) => s.to_owned(),
        (None, Some(o)) if o.starts_with("http://") || o.starts_with("https://") => o.to_owned(),
        _ => {
            return Err(
                "give --server, or the whole contribution link (https://host/c/...)".into(),
            );
        }
    };
    Ok(Target {
        server,
        study: sid.to_owned(),
        pin,
    })
}

/// The patient's secret: 32 bytes, kept in `path` as base64url text (or raw bytes), made with
/// the operating system's CSPRNG and written with mode 0600 when the file does not exist. As in
/// the browser, losing it makes later contributions look like a new patient.
fn patient_secret(path: &Path) -> Result<Zeroizing<Vec<u8>>, String> {
    match std::fs::read(path) {
        Ok(bytes) => {
            let bytes = Zeroizing::new(bytes);
            let text = std::str::from_utf8(&bytes).map(str::trim).unwrap_or("");
            let secret = match medseal_core::id::from_b64url(text) {
                Ok(decoded) if decoded.len() == 32 => Zeroizing::new(decoded),
                _ if bytes.len() == 32 => Zeroizing::new(bytes.to_vec()),
                _ => {
                    return Err(format!(
                        "{}: not a MedSeal patient secret (32 bytes, as base64url text)",
                        path.display()
                    ));
                }
            };
            Ok(secret)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let fresh: Zeroizing<[u8; 32]> = Zeroizing::new(
                medseal_core::id::random_bytes()
                    .map_err(|e| format!("the random number generator failed: {e}"))?,
            );
            let text = Zeroizing::new(format!("{}\n", medseal_core::id::b64url(&*fresh)));
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                options.mode(0o600);
            }
            let mut file = options.open(path).map_err(|e| describe(path, &e))?;
            file.write_all(text.as_bytes())
                .and_then(|()| file.sync_all())
                .map_err(|e| describe(path, &e))?;
            eprintln!(
                "medseal: made a new patient secret in {} (keep it to contribute again as the same patient)",
                path.display()
            );
            Ok(Zeroizing::new(fresh.to_vec()))
        }
        Err(e) => Err(describe(path, &e)),
    }
}

/// The media type Chromium gives a file picked in the page (`File.type`), for the kinds of
/// records people contribute; empty when it has none, as in the browser. The worker masks with
/// this as the hint, or the file name when it is empty.
fn browser_media_type(name: &str) -> &'static str {
    let lower = name.to_ascii_lowercase();
    let ext = lower.rsplit_once('.').map_or("", |(_, e)| e);
    match ext {
        "json" => "application/json",
        "csv" => "text/csv",
        "txt" | "text" => "text/plain",
        "xml" => "text/xml",
        "html" | "htm" => "text/html",
        "pdf" => "application/pdf",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        _ => "",
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn explain(f: &Failure, what: &str) -> String {
    match f.code.as_str() {
        "not_found" | "bad_id" => format!(
            "{what}: there is no such study on this server. The link may have been mistyped. {f}"
        ),
        "expired" => format!("{what}: this study has ended and its data has been deleted. {f}"),
        "closed" => format!("{what}: this study no longer accepts contributions. {f}"),
        _ => format!("{what}: {f}"),
    }
}

pub fn contribute(request: &Request<'_>) -> Result<(), String> {
    if request.files.is_empty() {
        return Err("give at least one record to contribute".into());
    }
    let target = target(request.server, request.study, request.fingerprint)?;
    let server = Server::new(&target.server)?;
    let sid = &target.study;

    // The same checks as the contribution page, in the same order, before anything is read.
    let signed = server
        .study(sid)
        .map_err(|f| explain(&f, &format!("study {sid}")))?;
    let spki = server.key(&target.pin).map_err(|f| {
        if f.code == "not_found" {
            format!(
                "the server has no key with the fingerprint in your link ({}). Do not \
                 contribute: this study cannot be checked. Nothing was sent.",
                target.pin
            )
        } else {
            explain(&f, "the researcher's key")
        }
    })?;
    let description = verify_study(sid, &signed, &spki, &target.pin).map_err(|e| {
        format!("do not contribute: study {sid} failed its security check: {e}. Nothing was sent.")
    })?;
    if now() >= description.closes_at {
        return Err(format!(
            "study {sid} ({:?}) closed and accepts no more contributions. Nothing was sent.",
            description.title
        ));
    }
    let policy = description.policy.to_policy().map_err(|e| e.to_string())?;
    let label = format!("{}@{}", policy.name, policy.version);
    eprintln!("study: {}", description.title);
    eprintln!("run by: {}", description.institution);
    eprintln!("for: {}", description.purpose);
    eprintln!("contact: {}", description.contact);
    eprintln!(
        "signed by the researcher's key {}, the key your link names",
        Fingerprint::parse(&target.pin)
            .map(|f| f.to_digits())
            .unwrap_or_default()
    );
    for line in policy.describe() {
        eprintln!("  masking: {line}");
    }

    let secret = patient_secret(request.secret_file)?;
    let key = study_pseudonym_key(&secret, sid).map_err(|e| e.to_string())?;
    let options = MaskOptions {
        as_of: Some(crate::mask::today()),
        format: None,
    };
    let created = Some(now());
    let mut masked_files = Vec::with_capacity(request.files.len());
    for (i, path) in request.files.iter().enumerate() {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let data = Zeroizing::new(std::fs::read(path).map_err(|e| describe(path, &e))?);
        let media_type = browser_media_type(&name);
        let hint = if media_type.is_empty() {
            name.as_str()
        } else {
            media_type
        };
        let (masked, report) = mask_bytes_with(&data, Some(hint), &policy, &key, &options)
            .map_err(|e| {
                format!(
                    "{}: cannot be masked: {e}. Leave it out to contribute the others. Nothing was sent.",
                    path.display()
                )
            })?;
        eprintln!("{}:", path.display());
        for line in report.summary() {
            eprintln!("  {line}");
        }
        // The original file name may hold the patient's name: the share page's neutral name
        // is sent.
        let meta = FileMeta {
            name: medseal_core::container::neutral_name(&name, i),
            media_type: media_type.into(),
            kind: String::new(),
            masked: true,
            policy: Some(label.clone()),
            created,
        };
        masked_files.push((meta, Zeroizing::new(masked)));
    }
    let recipient =
        medseal_core::pki::PublicKey::from_spki_der(&spki).map_err(|e| e.to_string())?;
    let sealed = match masked_files.as_slice() {
        [(meta, data)] => encrypt(&[Recipient::Rsa(&recipient)], meta, data),
        several => {
            let refs: Vec<(FileMeta, &[u8])> = several
                .iter()
                .map(|(m, d)| (m.clone(), d.as_slice()))
                .collect();
            let meta = pack_meta(&refs, created);
            let packed = Zeroizing::new(pack(&refs));
            encrypt(&[Recipient::Rsa(&recipient)], &meta, &packed)
        }
    }
    .map_err(|e| format!("encryption failed: {e}"))?;

    let (id, withdraw_token) = server
        .contribute(sid, &sealed)
        .map_err(|f| explain(&f, "the upload failed"))?;
    eprintln!(
        "contributed {} masked record(s), encrypted to the researcher's key, with nothing that identifies you.",
        masked_files.len()
    );
    eprintln!("keep this private link: it withdraws your contribution while the study is open.");
    println!(
        "{}",
        withdraw_link(&server.origin(), sid, &id, &withdraw_token)
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SID: &str = "AbCdEfGhIjKlMnOpQrStUv";
    const FP: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

    #[test]
    fn links_ids_and_fingerprints_give_the_target() {
        let want = Target {
            server: "https://h.example".into(),
            study: SID.into(),
            pin: FP.into(),
        };
        let link = format!("https://h.example/c/{SID}#{FP}");
        assert_eq!(target(None, &link, None), Ok(want));
        // --server wins for the address; the link still pins the key.
        let t = target(Some("http://127.0.0.1:1"), &link, Some(FP)).unwrap();
        assert_eq!(
            (t.server.as_str(), t.pin.as_str()),
            ("http://127.0.0.1:1", FP)
        );
        let hex = "00".repeat(32);
        let t = target(Some("http://h"), SID, Some(&hex)).unwrap();
        assert_eq!(t.pin, FP);
        // Missing or conflicting pins are refused.
        assert!(target(Some("http://h"), SID, None).is_err());
        assert!(target(None, &format!("https://h.example/c/{SID}"), None).is_err());
        let other = format!("{}E", &FP[..42]);
        assert!(target(None, &link, Some(&other)).is_err());
        assert!(target(None, SID, Some(FP)).is_err(), "no server");
        assert!(target(Some("http://h"), "nope", Some(FP)).is_err());
    }

    #[test]
    fn media_types_are_the_browsers() {
        assert_eq!(browser_media_type("Bundle.JSON"), "application/json");
        assert_eq!(browser_media_type("a.csv"), "text/csv");
        assert_eq!(browser_media_type("a.ndjson"), "");
        assert_eq!(browser_media_type("noext"), "");
    }

    #[test]
    fn a_missing_secret_file_is_made_once_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        let first = patient_secret(&path).unwrap();
        assert_eq!(first.len(), 32);
        assert_eq!(*patient_secret(&path).unwrap(), *first);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&path, "short").unwrap();
        assert!(patient_secret(&path).is_err());
    }
}
