//! `medseal bundle --server` and `medseal contribute` against the real server binary over real
//! HTTP: a key is made and published, a study is signed and created, contributions are
//! uploaded (made with medseal-core, or by `medseal contribute`), and the researcher's export is
//! checked.
//!
//! The server binary is `target/debug/medseal-server` beside this package's `medseal` (built by
//! `cargo test --workspace` or `cargo build -p medseal-server`), or `MEDSEAL_SERVER_BIN`.

use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use medseal_core::container::{FileMeta, Recipient, encrypt};
use medseal_core::export::{Contribution, open_contribution};
use medseal_core::mask::{MaskOptions, Policy, PseudonymKey, mask_bytes, mask_bytes_with};
use medseal_core::pki::{PrivateKey, PublicKey};
use medseal_core::study::{
    STUDY_FORMAT, STUDY_VERSION, StudyDescription, StudyPolicy, parse_bundle, study_pseudonym_key,
};
use serde_json::{Value, json};

/// The real server on a free port with a fresh data folder; killed on drop.
struct Server {
    child: Child,
    url: String,
    data: tempfile::TempDir,
}

impl Server {
    fn start() -> Self {
        let bin = std::env::var_os("MEDSEAL_SERVER_BIN").map_or_else(
            || {
                Path::new(env!("CARGO_BIN_EXE_medseal"))
                    .with_file_name(format!("medseal-server{}", std::env::consts::EXE_SUFFIX))
            },
            PathBuf::from,
        );
        assert!(
            bin.exists(),
            "{} is missing: run `cargo build -p medseal-server` first (or set MEDSEAL_SERVER_BIN)",
            bin.display()
        );
        let data = tempfile::tempdir().expect("tempdir");
        let mut child = Command::new(&bin)
            .args(["--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data.path())
            .arg("--static-dir")
            .arg(data.path().join("no-static"))
            // Small parts, so that contributions travel in several.
            .args(["--part-size", "65536"])
            .args(["--rate-limit", "1000000", "--rate-burst", "1000000"])
            .env("MEDSEAL_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn medseal-server");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("the listening line");
        let url = line
            .trim()
            .strip_prefix("MedSeal listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .trim_end_matches('/')
            .to_owned();
        Self { child, url, data }
    }

    fn http(&self) -> reqwest::blocking::Client {
        reqwest::blocking::Client::new()
    }

    /// Publishes a public key (PEM).
    fn publish(&self, public_pem: &str) -> String {
        let r = self
            .http()
            .put(format!("{}/api/keys", self.url))
            .body(public_pem.to_owned())
            .send()
            .expect("publish");
        assert!(r.status().is_success(), "{:?}", r.text());
        r.json::<Value>().expect("json")["fingerprint"]
            .as_str()
            .expect("fingerprint")
            .to_owned()
    }

    /// Signs and creates a study with `key`; returns (id, admin token).
    fn create_study(&self, key: &PrivateKey, min_k: u32) -> (String, String) {
        let now = unix_now();
        let description = StudyDescription {
            format: STUDY_FORMAT.into(),
            version: STUDY_VERSION,
            title: "Asthma and air quality".into(),
            purpose: "Relate asthma visits to air quality.".into(),
            institution: "Example University".into(),
            contact: "study@example.org".into(),
            closes_at: now + 7 * 86_400,
            policy: StudyPolicy::safe_harbor(),
            min_k,
            key_fingerprint: key.public_key().fingerprint().to_b64url(),
            created_at: now,
            nonce: medseal_core::id::new_object_id().expect("nonce"),
        };
        let signed = description.sign(key).expect("sign");
        let r = self
            .http()
            .post(format!("{}/api/studies", self.url))
            .json(&signed)
            .send()
            .expect("create study");
        assert_eq!(r.status(), 201, "{:?}", r.text());
        let v: Value = r.json().expect("json");
        (
            v["id"].as_str().expect("id").to_owned(),
            v["admin_token"].as_str().expect("token").to_owned(),
        )
    }

    /// The stored description of a study (the signed body, byte for byte).
    fn description_path(&self, sid: &str) -> PathBuf {
        self.data
            .path()
            .join("objects/studies")
            .join(sid)
            .join("description")
    }

    /// Uploads a sealed contribution as the browser does: create, parts, complete.
    fn upload(&self, sid: &str, sealed: &[u8]) -> String {
        let c: Value = self
            .http()
            .post(format!("{}/api/studies/{sid}/contributions", self.url))
            .json(&json!({"size": sealed.len()}))
            .send()
            .expect("create")
            .json()
            .expect("json");
        let cid = c["id"].as_str().expect("id");
        let token = c["upload_token"].as_str().expect("token");
        let part = c["part_size"].as_u64().expect("part size") as usize;
        for (i, chunk) in sealed.chunks(part).enumerate() {
            let r = self
                .http()
                .put(format!(
                    "{}/api/studies/{sid}/contributions/{cid}/parts/{i}",
                    self.url
                ))
                .bearer_auth(token)
                .body(chunk.to_vec())
                .send()
                .expect("part");
            assert_eq!(r.status(), 200);
        }
        let r = self
            .http()
            .post(format!(
                "{}/api/studies/{sid}/contributions/{cid}/complete",
                self.url
            ))
            .bearer_auth(token)
            .send()
            .expect("complete");
        assert_eq!(r.status(), 200);
        cid.to_owned()
    }

    fn bundle(&self, sid: &str, admin: &str) -> Vec<u8> {
        let r = self
            .http()
            .get(format!("{}/api/studies/{sid}/bundle", self.url))
            .bearer_auth(admin)
            .send()
            .expect("bundle");
        assert_eq!(r.status(), 200);
        r.bytes().expect("body").to_vec()
    }

    fn study_json(&self, sid: &str) -> Vec<u8> {
        self.http()
            .get(format!("{}/api/studies/{sid}", self.url))
            .send()
            .expect("study")
            .bytes()
            .expect("body")
            .to_vec()
    }

    /// Every contribution the server holds for a study, complete or not.
    fn stored_contributions(&self, sid: &str) -> usize {
        std::fs::read_dir(self.data.path().join("objects/studies").join(sid).join("c"))
            .map_or(0, Iterator::count)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../core/tests/data")
        .join(name)
}

/// The Synthea fixture whose name starts with `prefix`.
fn fixture(prefix: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../core/tests/fixtures/synthea-r4");
    std::fs::read_dir(&dir)
        .expect("fixtures")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| {
            let n = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            n.starts_with(prefix) && n.ends_with(".json") && !n.ends_with(".identifiers.json")
        })
        .expect("fixture")
}

fn medseal(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_medseal"))
        .args(args)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .output()
        .expect("run medseal")
}

macro_rules! medseal {
    ($($arg:expr),* $(,)?) => {
        medseal(&[$(std::ffi::OsStr::new(&$arg)),*])
    };
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[track_caller]
fn assert_ok(o: &Output) {
    assert!(o.status.success(), "medseal failed: {}", stderr(o));
}

#[track_caller]
fn assert_fails(o: &Output, needle: &str) {
    assert!(!o.status.success(), "medseal succeeded: {}", stderr(o));
    assert!(
        stderr(o).contains(needle),
        "expected {needle:?} in: {}",
        stderr(o)
    );
}

/// The files in a folder, to check that a failed command left nothing behind.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn fixture_key() -> PrivateKey {
    PrivateKey::from_pem(&std::fs::read_to_string(data("rsa3072.pem")).expect("key")).expect("pem")
}

/// A masked fixture sealed to `public` with the metadata the browser writes.
fn core_contribution(public: &PublicKey, prefix: &str, secret: u8) -> Vec<u8> {
    let key = PseudonymKey::from_bytes(&[secret; 32]).expect("key");
    let bytes = std::fs::read(fixture(prefix)).expect("fixture");
    let (masked, _) = mask_bytes(
        &bytes,
        Some("application/json"),
        &Policy::safe_harbor(),
        &key,
    )
    .expect("mask");
    let meta = FileMeta {
        name: "record-1.json".into(),
        media_type: "application/json".into(),
        masked: true,
        policy: Some("safe-harbor@1".into()),
        created: Some(unix_now()),
        ..FileMeta::default()
    };
    encrypt(&[Recipient::Rsa(public)], &meta, &masked).expect("seal")
}

#[test]
fn bundle_from_the_server_equals_the_file_form_export() {
    let server = Server::start();
    let dir = tempfile::tempdir().expect("tmp");
    // The researcher makes a key with the CLI and publishes it.
    let pem = dir.path().join("researcher.pem");
    assert_ok(&medseal!("keygen", "-o", pem));
    let public_pem = std::fs::read_to_string(dir.path().join("researcher.pub.pem")).expect("pub");
    let fp = server.publish(&public_pem);
    let key = PrivateKey::from_pem(&std::fs::read_to_string(&pem).expect("pem")).expect("key");
    assert_eq!(fp, key.public_key().fingerprint().to_b64url());
    let (sid, admin) = server.create_study(&key, 3);
    for (i, prefix) in ["Carolee951", "Luisa710", "Todd315"].iter().enumerate() {
        server.upload(
            &sid,
            &core_contribution(&key.public_key(), prefix, i as u8 + 1),
        );
    }
    let token = dir.path().join("admin-token");
    std::fs::write(&token, format!("{admin}\n")).expect("token");

    let from_server = dir.path().join("from-server.zip");
    let o = medseal!(
        "bundle",
        "--server",
        server.url,
        "--study",
        sid,
        "--admin-token-file",
        token,
        "-i",
        pem,
        "-o",
        from_server
    );
    assert_ok(&o);
    assert!(stderr(&o).contains("3 contributions"), "{}", stderr(&o));

    // The same bundle and study, downloaded by hand, through the file form.
    let bundle = dir.path().join("study.bundle");
    std::fs::write(&bundle, server.bundle(&sid, &admin)).expect("write");
    let study = dir.path().join("study.json");
    std::fs::write(&study, server.study_json(&sid)).expect("write");
    let from_file = dir.path().join("from-file.zip");
    assert_ok(&medseal!(
        "bundle", bundle, "--study", study, "-i", pem, "-o", from_file
    ));
    let a = std::fs::read(&from_server).expect("export");
    assert_eq!(
        a,
        std::fs::read(&from_file).expect("export"),
        "the two exports differ"
    );

    // The export holds the study as signed and uses its k.
    let files = medseal_core::archive::read_stored(&a).expect("zip");
    let get = |name: &str| {
        files
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("{name} missing"))
            .1
            .clone()
    };
    let in_export: Value = serde_json::from_slice(&get("study.json")).expect("study.json");
    let served: Value = serde_json::from_slice(&server.study_json(&sid)).expect("json");
    assert_eq!(in_export, served["description"]);
    let report: Value = serde_json::from_slice(&get("risk-report.json")).expect("report");
    assert_eq!(report["k"], 3);
    assert_eq!(report["patients"], 3);
    let manifest: Value = serde_json::from_slice(&get("manifest.json")).expect("manifest");
    assert_eq!(manifest["transactionTime"], "2023-11-14T22:13:20Z");
    let patients = String::from_utf8(get("fhir/Patient.ndjson")).expect("utf-8");
    assert_eq!(patients.lines().count(), 3);
    assert!(!patients.contains("Carolee951") && !patients.contains("Todd315"));
}

#[test]
fn bundle_from_the_server_fails_clearly_and_leaves_no_file() {
    let server = Server::start();
    let dir = tempfile::tempdir().expect("tmp");
    let key = fixture_key();
    server.publish(&key.public_key().to_pem().expect("pem"));
    let (sid, admin) = server.create_study(&key, 2);
    server.upload(&sid, &core_contribution(&key.public_key(), "Carolee951", 1));
    let pem = data("rsa3072.pem");
    let good = dir.path().join("good-token");
    std::fs::write(&good, &admin).expect("write");
    let out_dir = tempfile::tempdir().expect("tmp");
    let out = out_dir.path().join("export.zip");
    let run = |server_url: &str, study: &str, token: &Path, identity: &Path, extra: &[&str]| {
        let mut args: Vec<&std::ffi::OsStr> = vec![
            "bundle".as_ref(),
            "--server".as_ref(),
            server_url.as_ref(),
            "--study".as_ref(),
            study.as_ref(),
            "--admin-token-file".as_ref(),
            token.as_os_str(),
            "-i".as_ref(),
            identity.as_os_str(),
            "-o".as_ref(),
            out.as_os_str(),
        ];
        args.extend(extra.iter().map(std::ffi::OsStr::new));
        let o = medseal(&args);
        assert!(
            listing(out_dir.path()).is_empty(),
            "a failed run left {:?}",
            listing(out_dir.path())
        );
        o
    };

    // A wrong admin token: the server's 403, said plainly.
    let wrong = dir.path().join("wrong-token");
    std::fs::write(&wrong, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n").expect("write");
    let o = run(&server.url, &sid, &wrong, &pem, &[]);
    assert_fails(&o, "refused the admin token");
    assert_fails(&o, "HTTP 403 bad_token");
    // An unknown study.
    let o = run(&server.url, "AAAAAAAAAAAAAAAAAAAAAA", &good, &pem, &[]);
    assert_fails(&o, "there is no study AAAAAAAAAAAAAAAAAAAAAA");
    assert_fails(&o, "HTTP 404");
    // A server that does not answer (a port nothing listens on).
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let dead = format!("http://{}", closed.local_addr().expect("addr"));
    drop(closed);
    let o = run(&dead, &sid, &good, &pem, &[]);
    assert_fails(&o, "could not be reached");
    // Bad key files.
    let not_pem = dir.path().join("not-a-key.pem");
    std::fs::write(&not_pem, "not a key").expect("write");
    assert_fails(
        &run(&server.url, &sid, &good, &not_pem, &[]),
        "not-a-key.pem",
    );
    let o = run(
        &server.url,
        &sid,
        &good,
        &dir.path().join("missing.pem"),
        &[],
    );
    assert_fails(&o, "missing.pem");
    // A study signed by someone else's key is refused before anything is downloaded.
    let other = dir.path().join("other.pem");
    assert_ok(&medseal!("keygen", "-o", other));
    let o = run(&server.url, &sid, &good, &other, &[]);
    assert_fails(&o, "not a study signed by your key");
    // A bundle above the bound.
    let o = run(
        &server.url,
        &sid,
        &good,
        &pem,
        &["--max-bundle-size", "100"],
    );
    assert_fails(&o, "larger");
    assert_fails(&o, "--max-bundle-size");
    // An empty token file, and the admin link in place of the token.
    let empty = dir.path().join("empty-token");
    std::fs::write(&empty, "\n").expect("write");
    assert_fails(&run(&server.url, &sid, &empty, &pem, &[]), "empty");
    let link = dir.path().join("admin-link");
    std::fs::write(&link, format!("{}/study/{sid}#{admin}\n", server.url)).expect("write");
    let o = medseal!(
        "bundle",
        "--server",
        server.url,
        "--study",
        format!("{}/study/{sid}", server.url),
        "--admin-token-file",
        link,
        "-i",
        pem,
        "-o",
        out
    );
    assert_ok(&o);
    assert!(out.exists());
    // The file form still needs its bundle, and --admin-token-file needs --server.
    assert!(!medseal!("bundle", "-i", pem, "-o", out).status.success());
    assert!(
        !medseal!(
            "bundle",
            "x.bundle",
            "--admin-token-file",
            good,
            "-i",
            pem,
            "-o",
            out
        )
        .status
        .success()
    );
}

/// Today (UTC) as the masking engine takes it.
fn today() -> (i32, u32, u32) {
    medseal_core::mask::civil_from_days((unix_now() / 86_400) as i64)
}

/// The contributions of a study, decrypted.
fn decrypted(server: &Server, sid: &str, admin: &str, key: &PrivateKey) -> Vec<Contribution> {
    let bytes = server.bundle(sid, admin);
    parse_bundle(&bytes)
        .expect("bundle")
        .iter()
        .map(|item| open_contribution(item, key).expect("decrypts"))
        .collect()
}

#[test]
fn contribute_masks_seals_and_uploads_like_the_browser() {
    let server = Server::start();
    let dir = tempfile::tempdir().expect("tmp");
    let key = fixture_key();
    let fp = server.publish(&key.public_key().to_pem().expect("pem"));
    let (sid, admin) = server.create_study(&key, 2);
    let link = format!("{}/c/{sid}#{fp}", server.url);
    let secret_a = dir.path().join("patient-a.secret");
    let secret_b = dir.path().join("patient-b.secret");
    let carolee = fixture("Carolee951");
    let luisa = fixture("Luisa710");

    // Patient A, by link, twice; patient B, by study id and fingerprint, with two files.
    let o = medseal!("contribute", link, carolee, "--secret-file", secret_a);
    assert_ok(&o);
    let withdraw = String::from_utf8(o.stdout.clone()).expect("utf-8");
    let withdraw = withdraw.trim();
    assert!(
        withdraw.starts_with(&format!("{}/withdraw/{sid}/", server.url)),
        "{withdraw}"
    );
    assert!(stderr(&o).contains("Asthma and air quality"));
    let secret_text = std::fs::read_to_string(&secret_a).expect("secret");
    let secret = medseal_core::id::from_b64url(secret_text.trim()).expect("base64url");
    assert_eq!(secret.len(), 32);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&secret_a)
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert_ok(&medseal!(
        "contribute",
        link,
        carolee,
        "--secret-file",
        secret_a
    ));
    assert_ok(&medseal!(
        "contribute",
        "--server",
        server.url,
        sid,
        "--fingerprint",
        fp,
        luisa,
        carolee,
        "--secret-file",
        secret_b
    ));
    assert_eq!(
        std::fs::read_to_string(&secret_a).expect("secret"),
        secret_text
    );

    // What the researcher decrypts is what the browser's worker makes: the study's policy under
    // HKDF(secret, study id), the browser's metadata, one pack for several files.
    let policy = StudyPolicy::safe_harbor().to_policy().expect("policy");
    let options = MaskOptions {
        as_of: Some(today()),
        format: None,
    };
    let pseudonym_key = study_pseudonym_key(&secret, &sid).expect("key");
    let (expected, _) = mask_bytes_with(
        &std::fs::read(&carolee).expect("read"),
        Some("application/json"),
        &policy,
        &pseudonym_key,
        &options,
    )
    .expect("mask");
    let contributions = decrypted(&server, &sid, &admin, &key);
    assert_eq!(contributions.len(), 3);
    assert_eq!(server.stored_contributions(&sid), 3);
    let singles: Vec<_> = contributions
        .iter()
        .filter(|c| c.files.len() == 1)
        .collect();
    assert_eq!(singles.len(), 2);
    for c in &singles {
        let (meta, content) = &c.files[0];
        assert_eq!(meta.name, "masked-record-1.json");
        assert_eq!(meta.media_type, "application/json");
        assert_eq!(meta.kind, "");
        assert!(meta.masked);
        assert_eq!(meta.policy.as_deref(), Some("safe-harbor@1"));
        assert!(meta.created.is_some_and(|t| t.abs_diff(unix_now()) < 600));
        assert_eq!(content, &expected, "not the browser's masking");
    }
    let pair = contributions
        .iter()
        .find(|c| c.files.len() == 2)
        .expect("the two-file contribution");
    let names: Vec<&str> = pair.files.iter().map(|(m, _)| m.name.as_str()).collect();
    assert_eq!(names, ["masked-record-1.json", "masked-record-2.json"]);
    assert!(pair.files.iter().all(|(m, _)| m.masked));
    let text = String::from_utf8_lossy(&pair.files[1].1);
    assert_ne!(
        pair.files[1].1, expected,
        "patient B's pseudonyms are not A's"
    );
    for id in ["Carolee951", "Sanford861", "Luisa710", "Carranza218"] {
        assert!(!text.contains(id), "{id} left in a contribution");
    }

    // The export: patient A's two contributions are one patient; B's record of the same person
    // is another (another secret), so three patients in all.
    let token = dir.path().join("admin");
    std::fs::write(&token, &admin).expect("write");
    let export = dir.path().join("export.zip");
    assert_ok(&medseal!(
        "bundle",
        "--server",
        server.url,
        "--study",
        sid,
        "--admin-token-file",
        token,
        "-i",
        data("rsa3072.pem"),
        "-o",
        export
    ));
    let files =
        medseal_core::archive::read_stored(&std::fs::read(&export).expect("zip")).expect("zip");
    let report = &files
        .iter()
        .find(|(n, _)| n == "risk-report.json")
        .expect("report")
        .1;
    let report: Value = serde_json::from_slice(report).expect("json");
    assert_eq!(report["patients"], 3, "{report}");

    // The withdraw link withdraws.
    let (rest, token) = withdraw.split_once('#').expect("fragment");
    let cid = rest.rsplit('/').next().expect("id");
    let r = server
        .http()
        .delete(format!(
            "{}/api/studies/{sid}/contributions/{cid}",
            server.url
        ))
        .bearer_auth(token)
        .send()
        .expect("withdraw");
    assert_eq!(r.status(), 204);
    assert_eq!(decrypted(&server, &sid, &admin, &key).len(), 2);
}

#[test]
fn contribute_refuses_a_study_that_does_not_match_the_pinned_key() {
    let server = Server::start();
    let dir = tempfile::tempdir().expect("tmp");
    let researcher = fixture_key();
    server.publish(&researcher.public_key().to_pem().expect("pem"));
    let (sid, admin) = server.create_study(&researcher, 2);
    // Another published key: a link pinning it must not accept the researcher's study.
    let other = dir.path().join("other.pem");
    assert_ok(&medseal!("keygen", "-o", other));
    let other_fp =
        server.publish(&std::fs::read_to_string(dir.path().join("other.pub.pem")).expect("pub"));
    let secret = dir.path().join("secret");
    let record = fixture("Carolee951");

    let o = medseal!(
        "contribute",
        format!("{}/c/{sid}#{other_fp}", server.url),
        record,
        "--secret-file",
        secret
    );
    assert_fails(&o, "failed its security check");
    assert_fails(&o, "names a different researcher key");
    assert!(o.stdout.is_empty());
    // A pin of a key the server does not have.
    let o = medseal!(
        "contribute",
        format!("{}/c/{sid}#{}", server.url, "A".repeat(43)),
        record,
        "--secret-file",
        secret
    );
    assert_fails(&o, "has no key with the fingerprint");
    // No pin at all, and a link and --fingerprint that disagree.
    assert_fails(
        &medseal!(
            "contribute",
            format!("{}/c/{sid}", server.url),
            record,
            "--secret-file",
            secret
        ),
        "fingerprint is missing",
    );
    let fp = researcher.public_key().fingerprint().to_b64url();
    assert_fails(
        &medseal!(
            "contribute",
            format!("{}/c/{sid}#{fp}", server.url),
            record,
            "--fingerprint",
            other_fp,
            "--secret-file",
            secret
        ),
        "different researcher keys",
    );
    // An unknown study.
    assert_fails(
        &medseal!(
            "contribute",
            format!("{}/c/{}#{fp}", server.url, "A".repeat(22)),
            record,
            "--secret-file",
            secret
        ),
        "no such study",
    );
    // A file that cannot be masked stops everything before the upload.
    let binary = dir.path().join("scan.pdf");
    std::fs::write(&binary, [0xffu8, 0xfe, 0, 1, 2]).expect("write");
    assert_fails(
        &medseal!(
            "contribute",
            format!("{}/c/{sid}#{fp}", server.url),
            record,
            binary,
            "--secret-file",
            secret
        ),
        "cannot be masked",
    );

    // Nothing reached the server, not even an unfinished upload.
    assert_eq!(server.stored_contributions(&sid), 0);
    assert_eq!(decrypted(&server, &sid, &admin, &researcher).len(), 0);
}

/// Contributions are anonymous: garbage, a container for another key and a container whose
/// plaintext is a damaged file pack, uploaded beside real ones, are left out of `medseal bundle
/// --server`'s export and named, and the real ones are exported.
#[test]
fn bundle_skips_contributions_that_cannot_be_opened_and_exports_the_rest() {
    use medseal_core::container::LinkKey;
    let server = Server::start();
    let dir = tempfile::tempdir().expect("tmp");
    let key = fixture_key();
    server.publish(&key.public_key().to_pem().expect("pem"));
    let (sid, admin) = server.create_study(&key, 2);
    server.upload(&sid, &core_contribution(&key.public_key(), "Carolee951", 1));
    let garbage = server.upload(&sid, &[0x13, 0x8a, 0x00, 0xff, 0x42]);
    let link = LinkKey::generate().expect("key");
    let meta = FileMeta {
        name: "masked-record-1.json".into(),
        media_type: "application/json".into(),
        masked: true,
        ..FileMeta::default()
    };
    let wrong_key = server.upload(
        &sid,
        &encrypt(&[Recipient::Link(&link)], &meta, b"{}").expect("seal"),
    );
    let mut bad_pack = medseal_core::pack::PACK_MAGIC.to_vec();
    bad_pack.extend_from_slice(&[0, 0, 0, 3, 9]);
    let pack_meta = FileMeta {
        media_type: medseal_core::pack::PACK_MEDIA_TYPE.into(),
        ..meta
    };
    let damaged = server.upload(
        &sid,
        &encrypt(&[Recipient::Rsa(&key.public_key())], &pack_meta, &bad_pack).expect("seal"),
    );
    server.upload(&sid, &core_contribution(&key.public_key(), "Luisa710", 2));

    let token = dir.path().join("admin");
    std::fs::write(&token, &admin).expect("write");
    let export = dir.path().join("export.zip");
    let o = medseal!(
        "bundle",
        "--server",
        server.url,
        "--study",
        sid,
        "--admin-token-file",
        token,
        "-i",
        data("rsa3072.pem"),
        "-o",
        export
    );
    assert_ok(&o);
    let err = stderr(&o);
    for id in [&garbage, &wrong_key, &damaged] {
        assert!(err.contains(&format!("skipped contribution {id}")), "{err}");
    }
    assert!(err.contains("2 contributions, 2 patients"), "{err}");
    let files =
        medseal_core::archive::read_stored(&std::fs::read(&export).expect("zip")).expect("zip");
    let get = |name: &str| {
        files
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("{name} missing"))
            .1
            .clone()
    };
    let manifest: Value = serde_json::from_slice(&get("manifest.json")).expect("json");
    let skipped = manifest["extension"]["https://medseal.org/export"]["skipped"]
        .as_array()
        .expect("skipped list")
        .clone();
    let mut listed: Vec<(String, String)> = skipped
        .iter()
        .map(|s| {
            assert!(s["reason"].as_str().is_some_and(|r| !r.is_empty()), "{s}");
            (
                s["id"].as_str().expect("id").to_owned(),
                s["code"].as_str().expect("code").to_owned(),
            )
        })
        .collect();
    listed.sort();
    let mut want = vec![
        (garbage.clone(), "header.not_medseal".to_owned()),
        (wrong_key.clone(), "unlock.not_for_this_key".to_owned()),
        (damaged.clone(), "pack.malformed".to_owned()),
    ];
    want.sort();
    assert_eq!(listed, want);
    let report: Value = serde_json::from_slice(&get("risk-report.json")).expect("report");
    assert_eq!(report["patients"], 2);
    assert_eq!(report["skipped"].as_array().map(Vec::len), Some(3));
    let text = String::from_utf8(get("risk-report.txt")).expect("utf-8");
    assert!(text.contains(&garbage), "{text}");
    assert_eq!(
        String::from_utf8(get("fhir/Patient.ndjson"))
            .expect("utf-8")
            .lines()
            .count(),
        2
    );
}

/// A server that answers study A's id with study B's description, signed by the same
/// researcher key, is refused by `medseal contribute` and `medseal bundle --server`: the id is
/// derived from the description. (The swap is made in the server's own storage, so the real
/// server serves it.)
#[test]
fn a_swapped_study_description_is_refused_by_contribute_and_bundle() {
    let server = Server::start();
    let dir = tempfile::tempdir().expect("tmp");
    let key = fixture_key();
    let fp = server.publish(&key.public_key().to_pem().expect("pem"));
    let (a, admin_a) = server.create_study(&key, 2);
    let (b, _) = server.create_study(&key, 50);
    assert_ne!(a, b);
    // The id is the hash of the signed description, as every client recomputes it.
    let served: Value = serde_json::from_slice(&server.study_json(&a)).expect("json");
    assert_eq!(
        medseal_core::study::study_id_of(&served["description"]).expect("id"),
        a
    );
    // Posting the same signed description again cannot make a second study under that id.
    let r = server
        .http()
        .post(format!("{}/api/studies", server.url))
        .header("content-type", "application/json")
        .body(server.study_json(&a))
        .send()
        .expect("repost");
    assert_eq!(r.status(), 409);

    let record = fixture("Carolee951");
    let secret = dir.path().join("secret");
    // Before the swap the study is accepted.
    assert_ok(&medseal!(
        "contribute",
        format!("{}/c/{a}#{fp}", server.url),
        record,
        "--secret-file",
        secret
    ));
    std::fs::copy(server.description_path(&b), server.description_path(&a)).expect("swap");
    assert_eq!(server.study_json(&a), server.study_json(&b));
    let o = medseal!(
        "contribute",
        format!("{}/c/{a}#{fp}", server.url),
        record,
        "--secret-file",
        secret
    );
    assert_fails(&o, "failed its security check");
    assert_fails(&o, "another study");
    assert!(o.stdout.is_empty());
    assert_eq!(server.stored_contributions(&a), 1, "nothing more was sent");

    let token = dir.path().join("admin");
    std::fs::write(&token, &admin_a).expect("write");
    let out = dir.path().join("export.zip");
    let o = medseal!(
        "bundle",
        "--server",
        server.url,
        "--study",
        a,
        "--admin-token-file",
        token,
        "-i",
        data("rsa3072.pem"),
        "-o",
        out
    );
    assert_fails(&o, "another study");
    assert!(!out.exists());
}

/// `medseal contribute` names files as the share page does: `masked-record-N` with only a
/// known extension, so an extension cannot leak the patient (`notes.JaneDoe-MRN1234`).
#[test]
fn contribute_sends_the_share_pages_neutral_names() {
    let server = Server::start();
    let dir = tempfile::tempdir().expect("tmp");
    let key = fixture_key();
    let fp = server.publish(&key.public_key().to_pem().expect("pem"));
    let (sid, admin) = server.create_study(&key, 2);
    let notes = dir.path().join("notes.JaneDoe-MRN1234");
    std::fs::write(&notes, "Seen today for a cough.\n").expect("write");
    let scan = dir.path().join("Jane_Doe.MRN1234");
    std::fs::write(&scan, "More notes.\n").expect("write");
    let carolee = fixture("Carolee951");
    assert_ok(&medseal!(
        "contribute",
        format!("{}/c/{sid}#{fp}", server.url),
        notes,
        scan,
        carolee,
        "--secret-file",
        dir.path().join("secret")
    ));
    let contributions = decrypted(&server, &sid, &admin, &key);
    assert_eq!(contributions.len(), 1);
    let names: Vec<&str> = contributions[0]
        .files
        .iter()
        .map(|(m, _)| m.name.as_str())
        .collect();
    assert_eq!(
        names,
        ["masked-record-1", "masked-record-2", "masked-record-3.json"]
    );
    let text = String::from_utf8_lossy(&contributions[0].files[0].1).into_owned();
    assert!(text.contains("cough"), "{text}");
}
