//! Large opened files go to disk as they are decrypted, in the Origin Private File System, so a
//! browser tab holds a few megabytes of a record however large it is (issue 16; phones,
//! issue 17). The worker writes through a sync access handle (`DiskFile`); the page gets a File
//! that the browser reads from disk when it is shown or downloaded, holds a Web Lock named after
//! it while it shows it, and removes it (`Kept::remove`) when the record's page goes away. A
//! file left behind by a tab that could not remove it (closed or crashed) is removed by the next
//! start of the app or the next large opening, once no page holds its lock (`sweep`).
//!
//! Everything is feature-detected: no `navigator.storage.getDirectory` (older engines), a
//! directory that throws (Firefox's and Safari's private windows), no `createSyncAccessHandle`,
//! or too little quota for the file, and [`DiskFile::create`] gives `None`; the caller then
//! keeps Blobs as before. Calls go through `Reflect` and await a Promise only when one is
//! returned, because Safari before 17 made the access handle's methods asynchronous.

use js_sys::{Array, Function, Object, Promise, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

/// The folder of the origin's private file system that holds opened files.
pub const DIR: &str = "medseal-opened";
/// Files at least this large are written to disk; smaller ones stay in Blobs.
pub const FROM_SIZE: f64 = 16.0 * 1024.0 * 1024.0;
/// Without Web Locks to tell, a file this old (milliseconds since it was written) is taken to
/// belong to no open page any more.
const STALE_MS: f64 = 24.0 * 3600.0 * 1000.0;
/// With Web Locks, an unlocked file this old is removed.
const GRACE_MS: f64 = 10.0 * 60.0 * 1000.0;
/// Room kept free beyond the file itself, so the origin's other data can still be written.
const MARGIN: f64 = 64.0 * 1024.0 * 1024.0;

fn get(object: &JsValue, key: &str) -> JsValue {
    Reflect::get(object, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

/// Calls `target.name(...args)`, awaiting the result when it is a Promise.
async fn call(target: &JsValue, name: &str, args: &Array) -> Result<JsValue, JsValue> {
    let function: Function = get(target, name).dyn_into()?;
    let out = Reflect::apply(&function, target, args)?;
    match out.dyn_into::<Promise>() {
        Ok(promise) => JsFuture::from(promise).await,
        Err(value) => Ok(value),
    }
}

fn options(key: &str, value: &JsValue) -> Object {
    let object = Object::new();
    let _ = Reflect::set(&object, &JsValue::from_str(key), value);
    object
}

fn storage() -> JsValue {
    get(&get(&js_sys::global(), "navigator"), "storage")
}

/// The folder of opened files, made when missing.
async fn directory() -> Result<JsValue, JsValue> {
    let root = call(&storage(), "getDirectory", &Array::new()).await?;
    let create = options("create", &JsValue::TRUE);
    call(
        &root,
        "getDirectoryHandle",
        &Array::of2(&DIR.into(), &create),
    )
    .await
}

/// A file being written in the worker.
pub struct DiskFile {
    dir: JsValue,
    handle: JsValue,
    /// The sync access handle; `None` once the file is finished.
    access: Option<JsValue>,
    /// Its name in [`DIR`], which the page uses to remove it.
    pub name: String,
    at: f64,
}

impl DiskFile {
    /// A new, empty file for about `size` bytes, or `None` when this browser cannot write one
    /// (see the module's notes).
    pub async fn create(size: f64) -> Option<Self> {
        let storage = storage();
        if let Ok(estimate) = call(&storage, "estimate", &Array::new()).await {
            let quota = get(&estimate, "quota").as_f64().unwrap_or(f64::INFINITY);
            let usage = get(&estimate, "usage").as_f64().unwrap_or(0.0);
            if quota - usage < size + MARGIN {
                return None;
            }
        }
        let dir = directory().await.ok()?;
        sweep(&dir).await;
        let name = format!(
            "{:x}-{:x}",
            js_sys::Date::now() as u64,
            (js_sys::Math::random() * 9_007_199_254_740_992.0) as u64
        );
        let create = options("create", &JsValue::TRUE);
        let handle = call(
            &dir,
            "getFileHandle",
            &Array::of2(&name.clone().into(), &create),
        )
        .await
        .ok()?;
        match call(&handle, "createSyncAccessHandle", &Array::new()).await {
            Ok(access) => Some(Self {
                dir,
                handle,
                access: Some(access),
                name,
                at: 0.0,
            }),
            Err(_) => {
                let _ = call(&dir, "removeEntry", &Array::of1(&name.into())).await;
                None
            }
        }
    }

    /// Appends `bytes`; an error when the disk or the quota is full.
    pub async fn write(&mut self, bytes: &[u8]) -> Result<(), String> {
        let Some(access) = &self.access else {
            return Err("the file is already closed".into());
        };
        if bytes.is_empty() {
            return Ok(());
        }
        let at = options("at", &JsValue::from_f64(self.at));
        let data = Uint8Array::from(bytes);
        let written = call(access, "write", &Array::of2(&data, &at))
            .await
            .map_err(|e| describe(&e))?;
        if written.as_f64() != Some(bytes.len() as f64) {
            return Err("the browser's storage for this site is full".into());
        }
        self.at += bytes.len() as f64;
        Ok(())
    }

    /// Closes the file and returns it as a Blob typed `media_type`, whose bytes the browser
    /// reads from disk.
    pub async fn finish(mut self, media_type: &str) -> Result<web_sys::Blob, String> {
        let access = self.access.take().ok_or("the file is already closed")?;
        call(&access, "flush", &Array::new())
            .await
            .map_err(|e| describe(&e))?;
        call(&access, "close", &Array::new())
            .await
            .map_err(|e| describe(&e))?;
        let file = call(&self.handle, "getFile", &Array::new())
            .await
            .map_err(|e| describe(&e))?;
        let typed = web_sys::BlobPropertyBag::new();
        typed.set_type(media_type);
        web_sys::Blob::new_with_blob_sequence_and_options(&Array::of1(&file), &typed)
            .map_err(|e| describe(&e))
    }
}

impl Drop for DiskFile {
    /// A file not finished (a failure, a tampered record) is closed and removed at once.
    fn drop(&mut self) {
        if let Some(access) = self.access.take() {
            let (dir, name) = (self.dir.clone(), self.name.clone());
            wasm_bindgen_futures::spawn_local(async move {
                let _ = call(&access, "close", &Array::new()).await;
                let _ = call(&dir, "removeEntry", &Array::of1(&name.into())).await;
            });
        }
    }
}

fn describe(error: &JsValue) -> String {
    let message = get(error, "message").as_string().unwrap_or_default();
    if get(error, "name").as_string().as_deref() == Some("QuotaExceededError") {
        "the browser's storage for this site is full".into()
    } else if message.is_empty() {
        "the browser could not write the file to its storage".into()
    } else {
        message
    }
}

/// True when the origin's private file system opens here (the page cannot see the workers' sync
/// access handles, so this is the part it can check).
pub async fn available() -> bool {
    call(&storage(), "getDirectory", &Array::new())
        .await
        .is_ok()
}

/// The Web Lock a page holds while it shows a file of [`DIR`]: a sweep leaves a locked file
/// alone, and the lock goes with the page however the page ends.
fn lock_name(name: &str) -> String {
    format!("{DIR}/{name}")
}

/// Names of the locks held in this origin, or `None` without the Web Locks API.
async fn held_locks() -> Option<Vec<String>> {
    let locks = get(&get(&js_sys::global(), "navigator"), "locks");
    let snapshot = call(&locks, "query", &Array::new()).await.ok()?;
    let mut names = Vec::new();
    for list in ["held", "pending"] {
        for lock in Array::from(&get(&snapshot, list)).iter() {
            if let Some(name) = get(&lock, "name").as_string() {
                names.push(name);
            }
        }
    }
    Some(names)
}

/// Removes the files of [`DIR`] that no page shows any more: not locked by a page and not
/// written in the last ten minutes (a worker may still be writing, or a page just receiving
/// one). Without Web Locks a file is kept for a day. A file another tab is writing cannot be
/// read and is left alone.
async fn sweep(dir: &JsValue) {
    let Ok(entries) = call(dir, "values", &Array::new()).await else {
        return;
    };
    let held = held_locks().await;
    let keep_for = if held.is_some() { GRACE_MS } else { STALE_MS };
    let now = js_sys::Date::now();
    let mut stale = Vec::new();
    while let Ok(step) = call(&entries, "next", &Array::new()).await {
        if get(&step, "done").is_truthy() {
            break;
        }
        let handle = get(&step, "value");
        if get(&handle, "kind").as_string().as_deref() != Some("file") {
            continue;
        }
        let name = get(&handle, "name").as_string().unwrap_or_default();
        if held
            .as_ref()
            .is_some_and(|held| held.contains(&lock_name(&name)))
        {
            continue;
        }
        if let Ok(file) = call(&handle, "getFile", &Array::new()).await {
            let modified = get(&file, "lastModified").as_f64().unwrap_or(now);
            if now - modified > keep_for {
                stale.push(name);
            }
        }
    }
    for name in stale {
        let _ = call(dir, "removeEntry", &Array::of1(&name.into())).await;
    }
}

/// Sweeps [`DIR`] (see [`sweep`]) if it exists: run by the page when the app starts, so a
/// file left by a closed or crashed tab does not wait for the next large opening.
pub async fn sweep_unused() {
    let Ok(root) = call(&storage(), "getDirectory", &Array::new()).await else {
        return;
    };
    if let Ok(dir) = call(&root, "getDirectoryHandle", &Array::of1(&DIR.into())).await {
        sweep(&dir).await;
    }
}

/// A file of [`DIR`] a page is showing: locked while the page lives, removed by
/// [`Kept::remove`].
pub struct Kept {
    dir: JsValue,
    name: String,
}

impl Kept {
    /// Takes the file named `name` (from the worker's answer) into the page's keeping.
    pub async fn take(name: String) -> Option<Self> {
        let dir = directory().await.ok()?;
        let locks = get(&get(&js_sys::global(), "navigator"), "locks");
        if let Ok(request) = get(&locks, "request").dyn_into::<Function>() {
            // The lock is held until the page goes: its callback's promise never settles.
            let hold = wasm_bindgen::closure::Closure::once_into_js(|| {
                Promise::new(&mut |_resolve, _reject| {})
            });
            let _ = request.call2(&locks, &lock_name(&name).into(), &hold);
        }
        Some(Self { dir, name })
    }

    /// Removes the file. The call is made at once, without awaiting anything first, so it is
    /// already sent when this runs as the page is hidden for the last time.
    pub fn remove(&self) {
        if let Ok(function) = get(&self.dir, "removeEntry").dyn_into::<Function>() {
            let _ = function.call1(&self.dir, &self.name.clone().into());
        }
    }
}
