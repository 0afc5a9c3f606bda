//! `medseal bundle`: decrypts a study bundle with the researcher's private key and writes the
//! same export the browser makes (FHIR NDJSON per resource type, CSV tables, manifest, risk
//! report), for studies too large for a browser. The bundle comes from a file, or straight from
//! the server with the study's admin token (`--server`), in which case the study is first
//! checked to be signed by the researcher's own key.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use medseal_core::archive::ZipStream;
use medseal_core::export::{Contribution, Exporter, OpenError, Skipped, Spool, open_contribution};
use medseal_core::pki::PrivateKey;
use medseal_core::study::{BundleStream, OwnedBundleItem, SignedStudy, StudyError, verify_study};

use crate::http::{Failure, Server};
use crate::io::{Output, describe, read_secret};

/// The default largest bundle `--server` downloads (1 TiB): the bundle is read as a stream and
/// the export written as one, so the limit is the disk's, not memory's.
pub const DEFAULT_MAX_BUNDLE: u64 = 1 << 40;

/// The largest single contribution read: each is decrypted in memory, one at a time.
pub const MAX_CONTRIBUTION: u64 = 2 << 30;

/// The environment variable naming a file whose first line is the passphrase of an encrypted
/// key file.
pub const PASSPHRASE_FILE_VAR: &str = "MEDSEAL_KEY_PASSPHRASE_FILE";
/// The environment variable holding the passphrase of an encrypted key file.
pub const PASSPHRASE_VAR: &str = "MEDSEAL_KEY_PASSPHRASE";

/// A private key from a key file: the plain PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`), or
/// the encrypted key file the browser's key page exports (a `medseal-private-key` JSON
/// record, FORMAT.md appendix A), unlocked with the passphrase from the file named by
/// `MEDSEAL_KEY_PASSPHRASE_FILE` or from `MEDSEAL_KEY_PASSPHRASE`.
pub fn load_private_key(identity: &Path) -> Result<PrivateKey, String> {
    let bytes = read_secret(identity)?;
    let text = std::str::from_utf8(&bytes).map_err(|_| {
        format!(
            "{}: not a key file (expected -----BEGIN PRIVATE KEY----- or an encrypted MedSeal \
             key file)",
            identity.display()
        )
    })?;
    if text.trim_start().starts_with('{') {
        let stored: medseal_core::keystore::StoredKey = serde_json::from_str(text)
            .map_err(|e| format!("{}: not a MedSeal key file: {e}", identity.display()))?;
        let passphrase = key_passphrase().map_err(|m| format!("{}: {m}", identity.display()))?;
        return stored
            .unlock(&passphrase)
            .map_err(|e| format!("{}: {e}", identity.display()));
    }
    PrivateKey::from_pem(text).map_err(|e| format!("{}: {e}", identity.display()))
}

fn key_passphrase() -> Result<zeroize::Zeroizing<String>, String> {
    if let Some(path) = std::env::var_os(PASSPHRASE_FILE_VAR) {
        let path = std::path::PathBuf::from(path);
        let bytes = read_secret(&path)?;
        let text = std::str::from_utf8(&bytes)
            .map_err(|_| format!("{}: the passphrase is not text", path.display()))?;
        let line = text.lines().next().unwrap_or("");
        return Ok(zeroize::Zeroizing::new(line.to_owned()));
    }
    match std::env::var(PASSPHRASE_VAR) {
        Ok(p) if !p.is_empty() => Ok(zeroize::Zeroizing::new(p)),
        _ => Err(format!(
            "this key file is encrypted: give its passphrase in a file named by \
             {PASSPHRASE_FILE_VAR} (or in {PASSPHRASE_VAR})"
        )),
    }
}

/// `medseal bundle BUNDLE_FILE`: the bundle and, optionally, the study description from files.
pub fn bundle(
    input: &Path,
    output: &Path,
    identity: &Path,
    k: Option<u32>,
    study: Option<&Path>,
) -> Result<(), String> {
    let key = load_private_key(identity)?;
    let bytes = File::open(input).map_err(|e| describe(input, &e))?;
    let length = bytes.metadata().ok().map(|m| m.len());
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
    write_export(
        BufReader::with_capacity(1 << 20, bytes),
        length,
        &input.display().to_string(),
        &key,
        study,
        k,
        output,
    )
}

/// Where the bundle of `medseal bundle --server` comes from.
pub struct Remote<'a> {
    /// The server's address.
    pub server: &'a str,
    /// The study's identifier (or its admin link).
    pub study: &'a str,
    /// A file holding the admin token (or the admin link).
    pub admin_token_file: &'a Path,
    /// The largest bundle to download, in bytes.
    pub max_bundle: u64,
}

/// `medseal bundle --server URL --study ID --admin-token-file F`: fetches the signed study,
/// refuses it unless it is signed by `identity`'s own key, downloads the bundle with the admin
/// token, and writes the export with the study's k.
pub fn bundle_from_server(
    remote: &Remote<'_>,
    output: &Path,
    identity: &Path,
    k: Option<u32>,
) -> Result<(), String> {
    let key = load_private_key(identity)?;
    let token_text = read_secret(remote.admin_token_file)?;
    let token = admin_token(&token_text)
        .map_err(|m| format!("{}: {m}", remote.admin_token_file.display()))?;
    let sid = study_id(remote.study)?;
    let server = Server::new(remote.server)?;

    let signed = server
        .study(&sid)
        .map_err(|f| study_failure(&f, &sid, &server))?;
    let public = key.public_key();
    let fingerprint = public.fingerprint();
    let spki = public.to_spki_der().map_err(|e| e.to_string())?;
    let description =
        verify_study(&sid, &signed, &spki, &fingerprint.to_b64url()).map_err(|e| {
            let why = match e {
            StudyError::DescriptionKeyMismatch => {
                "it names another researcher key: give the --identity the study was created with"
                    .to_owned()
            }
            StudyError::BadSignature => {
                "its signature does not verify with your key: it may have been tampered with"
                    .to_owned()
            }
            StudyError::WrongStudy => {
                "the server answered with the description of another study (its id is not \
                 derived from that description)"
                    .to_owned()
            }
            other => other.to_string(),
        };
            format!(
                "refusing study {sid} on {}: it is not a study signed by your key {} ({}): {why}",
                server.origin(),
                identity.display(),
                fingerprint.to_digits()
            )
        })?;
    // The description exactly as signed and served, as the browser puts it in the export.
    let study: SignedStudy =
        serde_json::from_slice(&signed).map_err(|e| format!("study {sid}: {e}"))?;
    eprintln!(
        "study {sid}: {:?}, signed by your key; downloading its bundle",
        description.title
    );
    let bytes = server
        .bundle(&sid, &token, remote.max_bundle)
        .map_err(|f| match (f.status, f.code.as_str()) {
            (Some(401 | 403), _) => format!(
                "the server refused the admin token in {} for study {sid}: {f}. Use the token \
                 (or the admin link) the server gave when the study was created.",
                remote.admin_token_file.display()
            ),
            (None, "too_large") => format!("{f}; raise --max-bundle-size"),
            _ => study_failure(&f, &sid, &server),
        })?;
    let length = bytes.announced();
    write_export(
        BufReader::with_capacity(1 << 20, bytes),
        length,
        &format!("the bundle of study {sid}"),
        &key,
        Some(study.description),
        k.unwrap_or(description.min_k),
        output,
    )
}

/// Explains a failed call about a study.
fn study_failure(f: &Failure, sid: &str, server: &Server) -> String {
    match (f.status, f.code.as_str()) {
        (Some(404), _) | (Some(400), "bad_id") => format!(
            "there is no study {sid} on {}: {f}. Check the study id and the server.",
            server.origin()
        ),
        (Some(410), _) => format!(
            "study {sid} has ended and its data was deleted from {}: {f}",
            server.origin()
        ),
        _ => format!("study {sid}: {f}"),
    }
}

/// The study id: the id itself, or the path of an admin or contribution link.
fn study_id(text: &str) -> Result<String, String> {
    let text = text.trim();
    let path = text.split('#').next().unwrap_or("");
    let candidate = path
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or(path);
    if medseal_core::id::is_object_id(candidate) {
        Ok(candidate.to_owned())
    } else {
        Err(format!(
            "{text:?} is not a study id (22 base64url characters) or a study link"
        ))
    }
}

/// The admin token from its file: the first line, either the token or the whole admin link
/// (`https://host/study/{id}#{token}`).
fn admin_token(bytes: &[u8]) -> Result<String, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "the admin token is not text".to_owned())?;
    let line = text.lines().next().unwrap_or("").trim();
    let token = line.rsplit_once('#').map_or(line, |(_, t)| t);
    if token.is_empty() {
        return Err("the admin token file is empty".into());
    }
    if !token
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err("this is not an admin token (base64url characters expected)".into());
    }
    Ok(token.to_owned())
}

/// The export time: now, or `SOURCE_DATE_EPOCH` when set, so that two exports of the same
/// bundle can be compared byte for byte.
fn export_time() -> u64 {
    if let Some(t) = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|v| v.trim().parse().ok())
    {
        return t;
    }
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Where `medseal bundle` keeps the export's entries until the archive is written: one file
/// each in a temporary folder beside the output (not in a `/tmp` that may be memory), removed
/// when the export ends. At most [`OPEN_SPOOL_FILES`] are open at once.
struct FileSpool {
    dir: tempfile::TempDir,
    entries: HashMap<String, SpoolEntry>,
    open: Vec<String>,
}

struct SpoolEntry {
    path: PathBuf,
    len: u64,
    writer: Option<BufWriter<File>>,
}

/// Spool files open for appending at once (NDJSON per resource type and the CSV tables are
/// the busy ones; a contribution's other files are written once).
const OPEN_SPOOL_FILES: usize = 48;

impl FileSpool {
    fn beside(output: &Path) -> Result<Self, String> {
        let dir = match output.parent() {
            Some(p) if !p.as_os_str().is_empty() && !crate::io::is_std(output) => p.to_path_buf(),
            _ if crate::io::is_std(output) => std::env::temp_dir(),
            _ => PathBuf::from("."),
        };
        let dir = tempfile::Builder::new()
            .prefix(".medseal-export-")
            .tempdir_in(&dir)
            .map_err(|e| describe(&dir, &e))?;
        Ok(Self {
            dir,
            entries: HashMap::new(),
            open: Vec::new(),
        })
    }
}

impl Spool for FileSpool {
    fn append(&mut self, entry: &str, bytes: &[u8]) -> std::io::Result<()> {
        if !self.entries.contains_key(entry) {
            let path = self.dir.path().join(format!("{}", self.entries.len()));
            self.entries.insert(
                entry.to_owned(),
                SpoolEntry {
                    path,
                    len: 0,
                    writer: None,
                },
            );
        }
        let e = self.entries.get_mut(entry).expect("inserted above");
        if e.writer.is_none() {
            if self.open.len() >= OPEN_SPOOL_FILES {
                let oldest = self.open.remove(0);
                if let Some(mut w) = self.entries.get_mut(&oldest).and_then(|o| o.writer.take()) {
                    w.flush()?;
                }
            }
            let e = self.entries.get_mut(entry).expect("inserted above");
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&e.path)?;
            e.writer = Some(BufWriter::with_capacity(64 * 1024, file));
            self.open.push(entry.to_owned());
        }
        let e = self.entries.get_mut(entry).expect("inserted above");
        e.writer.as_mut().expect("opened above").write_all(bytes)?;
        e.len += bytes.len() as u64;
        Ok(())
    }

    fn len(&self, entry: &str) -> u64 {
        self.entries.get(entry).map_or(0, |e| e.len)
    }

    fn reader(&mut self, entry: &str) -> std::io::Result<Box<dyn Read + '_>> {
        let Some(e) = self.entries.get_mut(entry) else {
            return Ok(Box::new(std::io::empty()));
        };
        if let Some(mut w) = e.writer.take() {
            w.flush()?;
            self.open.retain(|o| o != entry);
        }
        Ok(Box::new(BufReader::with_capacity(
            64 * 1024,
            File::open(&e.path)?,
        )))
    }
}

/// Most ciphertext read ahead for one batch (a batch always holds at least one contribution).
const BATCH_BYTES: u64 = 64 << 20;

/// The next contributions to open together: two per worker, fewer when they pass
/// [`BATCH_BYTES`]; empty at the end of the bundle.
fn next_batch<R: Read>(
    stream: &mut BundleStream<R>,
    workers: usize,
) -> Result<Vec<OwnedBundleItem>, medseal_core::study::BundleError> {
    let mut batch = Vec::new();
    let mut bytes = 0u64;
    while batch.len() < workers * 2 && bytes < BATCH_BYTES {
        let Some(item) = stream.next_item()? else {
            break;
        };
        bytes += item.ciphertext.len() as u64;
        batch.push(item);
    }
    Ok(batch)
}

/// Opens `batch` on `workers` threads, results in the batch's order.
fn open_in_parallel(
    batch: &[OwnedBundleItem],
    key: &PrivateKey,
    workers: usize,
) -> Vec<Result<Contribution, OpenError>> {
    let per_thread = batch.len().div_ceil(workers.max(1)).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = batch
            .chunks(per_thread)
            .map(|chunk| {
                scope.spawn(move || {
                    chunk
                        .iter()
                        .map(|item| open_contribution(&item.borrow(), key))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a decryption thread panicked"))
            .collect()
    })
}

/// The progress of reading a bundle of `length` bytes: bytes, rate and time left, drawn on
/// stderr when it is a terminal; hidden otherwise (the caller then prints plain lines).
fn progress_bar(length: Option<u64>) -> indicatif::ProgressBar {
    use std::io::IsTerminal as _;
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let (bar, template) = match length {
        Some(n) => (
            indicatif::ProgressBar::new(n),
            "{msg} [{bar:30}] {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec}, {eta} left",
        ),
        None => (
            indicatif::ProgressBar::new_spinner(),
            "{spinner} {msg} {binary_bytes} {binary_bytes_per_sec}",
        ),
    };
    if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// Decrypts the contributions of a bundle read from `input` one at a time and writes the export
/// to `output` atomically, deflated (ZIP64 where needed), in memory that does not grow with the
/// study: the largest contribution, the spool's buffers and the tallies.
fn write_export(
    input: impl Read,
    length: Option<u64>,
    what: &str,
    key: &PrivateKey,
    study: Option<serde_json::Value>,
    k: u32,
    output: &Path,
) -> Result<(), String> {
    let bar = progress_bar(length);
    let mut stream = BundleStream::new(bar.wrap_read(input), MAX_CONTRIBUTION);
    let total = stream.count().map_err(|e| format!("{what}: {e}"))?;
    // On a terminal, a bar; otherwise (a log, a pipe) one plain line a contribution.
    let say = |line: String| {
        if bar.is_hidden() {
            eprintln!("{line}");
        } else {
            bar.println(line);
        }
    };
    let mut exporter = Exporter::new(FileSpool::beside(output)?).map_err(|e| e.to_string())?;
    let mut skipped: Vec<Skipped> = Vec::new();
    let mut n = 0u64;
    // Contributions are anonymous: one that cannot be opened (garbage, sealed to another key,
    // damaged) is left out and named, and the others are exported.
    // Decryption (RSA-OAEP, then AES-GCM) is most of the time: a few contributions at a time
    // are opened on every core, then exported in the bundle's order.
    let workers = std::thread::available_parallelism()
        .map_or(1, std::num::NonZero::get)
        .min(8);
    loop {
        let batch = next_batch(&mut stream, workers).map_err(|e| format!("{what}: {e}"))?;
        if batch.is_empty() {
            break;
        }
        for (item, opened) in batch.iter().zip(open_in_parallel(&batch, key, workers)) {
            n += 1;
            if bar.is_hidden() {
                eprintln!("decrypting contribution {n} of {total}");
            } else {
                bar.set_message(format!("contribution {n} of {total}"));
            }
            match opened {
                Ok(c) => exporter.add(&c).map_err(|e| e.to_string())?,
                Err(e) => {
                    let s = Skipped::of(&item.borrow(), &e);
                    say(format!("skipped contribution {}: {}", s.id, s.reason));
                    skipped.push(s);
                }
            }
        }
    }
    bar.finish_and_clear();
    let mut file = Output::create(output)?;
    let mut zip = ZipStream::new(file.writer());
    let finished = exporter
        .finish(
            &skipped,
            study.as_ref(),
            k,
            export_time(),
            &mut |name, content, len| zip.add_reader(name, content, len),
        )
        .map_err(|e| format!("{}: {e}", output.display()))?;
    zip.finish()
        .map_err(|e| format!("{}: {e}", output.display()))?;
    file.commit()?;
    let r = &finished.report;
    if !skipped.is_empty() {
        eprintln!(
            "{} contribution(s) could not be opened and were left out (listed in manifest.json \
             and the risk report); the researcher can delete them with the admin token",
            skipped.len()
        );
    }
    eprintln!(
        "{} contributions, {} patients; smallest group {}; {} groups ({} patients) under k = {}",
        finished.contributions,
        r.patients,
        r.smallest_group,
        r.under_k.len(),
        r.patients_under_k,
        r.k
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn study_ids_and_admin_tokens_are_read_from_ids_links_and_files() {
        let id = "AbCdEfGhIjKlMnOpQrStUv";
        assert_eq!(study_id(id).unwrap(), id);
        assert_eq!(
            study_id(&format!("https://h.example/study/{id}#tok")).unwrap(),
            id
        );
        assert_eq!(
            study_id(&format!("https://h.example/c/{id}#fp")).unwrap(),
            id
        );
        assert!(study_id("not-an-id").is_err());
        assert_eq!(admin_token(b"abc_DEF-1\n").unwrap(), "abc_DEF-1");
        assert_eq!(
            admin_token(format!("https://h/study/{id}#tok-1\n").as_bytes()).unwrap(),
            "tok-1"
        );
        assert!(admin_token(b"\n").is_err());
        assert!(admin_token(b"a token with spaces").is_err());
    }
}
