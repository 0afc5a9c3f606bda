//! A full disk: uploads that hit ENOSPC get `507 storage_full`, and what was stored before
//! stays intact and readable.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::body::Body;
use bytes::Bytes;
use medseal_server::storage::local::LocalStore;
use medseal_server::storage::{ByteStream, Key, ObjectInfo, Store, StoreError};

use crate::support::{TestApp, data};

/// A 1 MiB tmpfs mounted for one test, unmounted on drop (also when the test panics).
struct Tmpfs {
    path: PathBuf,
    _dir: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts it, or fails the test with the reason: this test is not skipped, because a
    /// skipped full-disk test looks the same as a passing one.
    fn mount(size: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("mnt");
        std::fs::create_dir(&path).expect("mount point");
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&path)
            .output();
        match out {
            Ok(out) if out.status.success() => Self { path, _dir: dir },
            Ok(out) => panic!(
                "full-disk test: cannot mount a {size} tmpfs at {} ({}): it needs root or \
                 CAP_SYS_ADMIN (run the server tests as root, or in a container with \
                 --cap-add SYS_ADMIN)",
                path.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            ),
            Err(e) => panic!("full-disk test: cannot run mount(8): {e}"),
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.path)
            .status();
    }
}

fn tmp_files(root: &Path) -> Vec<String> {
    std::fs::read_dir(root.join("tmp"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

/// The local backend on a real 1 MiB tmpfs: the disk fills during an upload's parts.
#[tokio::test]
async fn local_backend_on_a_full_tmpfs() {
    let fs = Tmpfs::mount("1m");
    let store = Arc::new(LocalStore::open(&fs.path).expect("open store"));
    let part = 64 * 1024;
    let app = TestApp::with_store(store, |s| {
        s.part_size = part as u64;
        s.max_object_size = 8 << 20;
    });

    // Stored before the disk fills: one complete share, one upload in progress.
    let before = data(200_000, 1);
    let (kept, _) = app.share(&before, 5).await;
    let pending = app.create_share(3 * part, 1).await;
    let pending_id = pending["id"].as_str().unwrap();
    let pending_token = format!("Bearer {}", pending["upload_token"].as_str().unwrap());
    let r = app
        .call(
            "PUT",
            &format!("/api/shares/{pending_id}/parts/0"),
            &[("authorization", &pending_token)],
            data(part, 2),
        )
        .await;
    assert_eq!(r.status, 200);

    // An upload larger than the disk: parts succeed until the disk is full, then 507.
    let big = app.create_share(2 << 20, 1).await;
    let id = big["id"].as_str().unwrap();
    let token = format!("Bearer {}", big["upload_token"].as_str().unwrap());
    let bytes = data(2 << 20, 3);
    let mut stored = 0;
    let mut full = None;
    for (i, chunk) in bytes.chunks(part).enumerate() {
        let r = app
            .call(
                "PUT",
                &format!("/api/shares/{id}/parts/{i}"),
                &[("authorization", &token)],
                chunk.to_vec(),
            )
            .await;
        if r.status == 200 {
            stored += 1;
        } else {
            r.expect_err(507, "storage_full");
            full = Some(i);
            break;
        }
    }
    let full = full.expect("a 2 MiB upload fitted on a 1 MiB disk");
    assert!(stored > 0, "the disk was full before the upload began");
    // The failed write left no temporary file behind.
    assert_eq!(tmp_files(&fs.path), Vec::<String>::new());

    // Retrying the part gets the same clear answer; completing reports the missing parts.
    app.call(
        "PUT",
        &format!("/api/shares/{id}/parts/{full}"),
        &[("authorization", &token)],
        bytes[full * part..(full + 1) * part].to_vec(),
    )
    .await
    .expect_err(507, "storage_full");
    let r = app
        .call(
            "GET",
            &format!("/api/shares/{id}/upload"),
            &[("authorization", &token)],
            Body::empty(),
        )
        .await;
    assert_eq!(r.status, 200);
    let parts: Vec<u64> = serde_json::from_value(r.json()["parts"].clone()).unwrap();
    assert_eq!(parts, (0..stored as u64).collect::<Vec<_>>());
    app.call(
        "POST",
        &format!("/api/shares/{id}/complete"),
        &[("authorization", &token)],
        Body::empty(),
    )
    .await
    .expect_err(409, "incomplete");

    // What was stored before is intact, and the server still answers.
    let r = app.get(&format!("/api/shares/{kept}")).await;
    assert_eq!(r.status, 200);
    assert_eq!(&r.body[..], &before[..]);
    let r = app
        .call(
            "GET",
            &format!("/api/shares/{pending_id}/upload"),
            &[("authorization", &pending_token)],
            Body::empty(),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["parts"], serde_json::json!([0]));
    assert_eq!(app.get("/healthz").await.status, 200);
    // A new upload is refused cleanly or accepted, never a 500.
    let r = app
        .post_json(
            "/api/shares",
            serde_json::json!({"size": 10, "expires_in": 3600, "max_downloads": 1}),
        )
        .await;
    assert!(
        r.status == 201 || r.code() == "storage_full",
        "{}: {}",
        r.status,
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(tmp_files(&fs.path), Vec::<String>::new());
}

/// A local store whose writes fail with ENOSPC while `full` is set, as a full disk does.
struct FillableStore {
    inner: LocalStore,
    full: AtomicBool,
}

#[async_trait::async_trait]
impl Store for FillableStore {
    async fn create(&self, key: &Key, data: Bytes) -> Result<(), StoreError> {
        if self.full.load(Ordering::SeqCst) {
            return Err(StoreError::Full);
        }
        self.inner.create(key, data).await
    }
    async fn get(&self, key: &Key) -> Result<Bytes, StoreError> {
        self.inner.get(key).await
    }
    async fn get_range(
        &self,
        key: &Key,
        range: std::ops::Range<u64>,
    ) -> Result<ByteStream, StoreError> {
        self.inner.get_range(key, range).await
    }
    async fn head(&self, key: &Key) -> Result<ObjectInfo, StoreError> {
        self.inner.head(key).await
    }
    async fn delete(&self, key: &Key) -> Result<(), StoreError> {
        self.inner.delete(key).await
    }
    async fn list(&self, prefix: &Key) -> Result<Vec<ObjectInfo>, StoreError> {
        self.inner.list(prefix).await
    }
    fn name(&self) -> &'static str {
        "local"
    }
}

/// Every write path answers `507 storage_full` on a full disk, and works again once there is
/// space, with nothing stored before lost. Runs anywhere (no mount).
#[tokio::test]
async fn every_write_path_reports_storage_full() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(FillableStore {
        inner: LocalStore::open(dir.path()).unwrap(),
        full: AtomicBool::new(false),
    });
    let app = TestApp::with_store(store.clone(), |_| {});
    let before = data(5000, 4);
    let (kept, revoke) = app.share(&before, 5).await;
    let open = app.create_share(2048, 1).await;
    let oid = open["id"].as_str().unwrap();
    let otoken = format!("Bearer {}", open["upload_token"].as_str().unwrap());
    let r = app
        .call(
            "PUT",
            &format!("/api/shares/{oid}/parts/0"),
            &[("authorization", &otoken)],
            data(1024, 5),
        )
        .await;
    assert_eq!(r.status, 200);

    store.full.store(true, Ordering::SeqCst);
    app.post_json(
        "/api/shares",
        serde_json::json!({"size": 10, "expires_in": 3600, "max_downloads": 1}),
    )
    .await
    .expect_err(507, "storage_full");
    let part1 = data(1024, 6);
    app.call(
        "PUT",
        &format!("/api/shares/{oid}/parts/1"),
        &[("authorization", &otoken)],
        part1.clone(),
    )
    .await
    .expect_err(507, "storage_full");
    app.call(
        "PUT",
        "/api/keys",
        &[],
        medseal_core::pki::PrivateKey::generate(3072)
            .unwrap()
            .public_key()
            .to_spki_der()
            .unwrap(),
    )
    .await
    .expect_err(507, "storage_full");
    // Revoking needs its tombstone written: refused, and the share stays as it was.
    app.call(
        "DELETE",
        &format!("/api/shares/{kept}"),
        &[("authorization", &format!("Bearer {revoke}"))],
        Body::empty(),
    )
    .await
    .expect_err(507, "storage_full");
    // A limited download's slot marker cannot be written, so it is refused rather than served
    // uncounted, ranged or not (a range from byte 100 used to be served: it did not count).
    app.call(
        "GET",
        &format!("/api/shares/{kept}"),
        &[("range", "bytes=100-")],
        Body::empty(),
    )
    .await
    .expect_err(507, "storage_full");
    app.get(&format!("/api/shares/{kept}"))
        .await
        .expect_err(507, "storage_full");

    // Space again: the same requests succeed and nothing was lost.
    store.full.store(false, Ordering::SeqCst);
    let r = app
        .call(
            "PUT",
            &format!("/api/shares/{oid}/parts/1"),
            &[("authorization", &otoken)],
            part1.clone(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let r = app
        .call(
            "POST",
            &format!("/api/shares/{oid}/complete"),
            &[("authorization", &otoken)],
            Body::empty(),
        )
        .await;
    assert_eq!(r.status, 200);
    let r = app.get(&format!("/api/shares/{oid}")).await;
    let mut expected = data(1024, 5);
    expected.extend_from_slice(&part1);
    assert_eq!(&r.body[..], &expected[..]);
    let r = app.get(&format!("/api/shares/{kept}")).await;
    assert_eq!(r.status, 200);
    assert_eq!(&r.body[..], &before[..]);
}
