//! MedSeal's Web Worker: sealing, uploading, downloading and opening run here, off the page's
//! thread, so the page stays responsive and can show progress and a cancel button.
//!
//! Large files stream: the worker reads the file in slices, seals it chunk by chunk and uploads
//! each part as soon as it is ready; the other way it reads the download as a stream, opens it
//! chunk by chunk and writes the plaintext of a large file to the origin's private file system
//! as it goes (`opfs.rs`), or collects it in Blobs where the browser cannot, so the wasm memory
//! stays bounded whatever the size of the file. A connection that breaks costs a retry: a
//! part is sent again (those the server has are not), and a download resumes with a ranged GET
//! and the resume token its first answer carried, so it is not counted again. Bulk AES-256-GCM
//! goes through WebCrypto when the worker has it (`webcrypto.rs`), through the `aes-gcm` crate
//! otherwise.
//!
//! Messages are plain JavaScript objects (see `frontend/src/worker.rs` for the page's side).
//! The worker first posts `{type: "ready"}`; the page sends its one request only then.
//! - in: `{op: "seal", files: [{name, type, kind?, masked?, policy?, data: Uint8Array} or
//!   {name, type, file: File}], password: string | null,
//!   upload?: {expires_in, max_downloads}, webcrypto?: bool}`
//!   out, with `upload`: `{type: "sealed", fragment, id, revoke_token, size}` once every part is
//!   stored and the upload completed; without: `{type: "sealed", fragment, sealed: Blob, size}`.
//! - in: `{op: "open", id?: string, sealed?: Blob | Uint8Array, fragment, password, webcrypto?}`
//!   (downloads `/api/shares/{id}` when `sealed` is absent)
//!   out: `{type: "opened", files: [{name, type, claimed, masked, size, blob: Blob, stored?}]}`
//!   (`type` is the Blob's: proven by magic bytes or application/octet-stream; `claimed` the
//!   sender's), or, when the record needs a password that was not given,
//!   `{type: "need_password", sealed?: Blob, stored?}` with the downloaded ciphertext, so the
//!   page can ask for it without downloading again. `stored` names the file of the origin's
//!   private file system (`opfs.rs`) that holds a large Blob's bytes; the page removes it when
//!   it is done with the Blob.
//! - in: `{op: "mask", files: [{name, type, data}]}`
//!   out: `{type: "masked", files: [{name, type, data, report: [string], policy}], policy: [string]}`
//! - in: `{op: "keygen", bits, webcrypto?}` out: `{type: "keygen", fingerprint}`: an RSA key
//!   pair made with WebCrypto when available, else with the `rsa` crate (`webcrypto: false`
//!   forces the crate); `cargo xtask bench` times both.
//! - along the way: `{type: "progress", stage: string, fraction: number}`
//! - on failure: `{type: "error", code: string, message: string}`
#![forbid(unsafe_code)]

#[allow(dead_code)] // the page's half is unused here
#[path = "../mask_preview.rs"]
mod mask_preview;
#[allow(dead_code)] // the page's half (Kept, sweep_unused) is unused here
#[path = "../opfs.rs"]
mod opfs;
#[path = "../webcrypto.rs"]
mod webcrypto;

use std::collections::VecDeque;

use js_sys::{Array, Object, Promise, Reflect, Uint8Array};
use mask_preview::{PREVIEW_CHANGES, set_preview};
use medseal_core::container::{
    CHUNK_CT_SIZE, EncryptError, Encryptor, FileMeta, Header, Identity, LinkKey, Password,
    PayloadDecryptor, PayloadError, PlainChunk, Recipient, UnlockError, chunk_nonce,
    safe_blob_type,
};
use medseal_core::mask::{MaskOptions, Policy, PseudonymKey, mask_bytes_preview};
use medseal_core::pack::{PACK_MEDIA_TYPE, is_pack, pack, pack_meta, unpack};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{Blob, DedicatedWorkerGlobalScope, MessageEvent};
use webcrypto::{FastCipher, WebAes};
use zeroize::Zeroizing;

/// The file is read, and the download handed to the decryptor, in slices of this size.
const SLICE: usize = 1 << 20;
/// Collected output is folded into one Blob whenever this much is pending, so the worker holds
/// Blobs (which the browser may spill to disk) rather than many small buffers.
const BLOB_BATCH: f64 = 8.0 * 1024.0 * 1024.0;
/// Part uploads in flight at once while sealing goes on.
const PARTS_IN_FLIGHT: usize = 3;
/// Chunks opened by WebCrypto at once.
const OPEN_BATCH: usize = 32;

fn scope() -> DedicatedWorkerGlobalScope {
    js_sys::global().unchecked_into()
}

fn get(object: &JsValue, key: &str) -> JsValue {
    Reflect::get(object, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

fn set(object: &Object, key: &str, value: &JsValue) {
    let _ = Reflect::set(object, &JsValue::from_str(key), value);
}

fn post(message: &Object, transfer: &Array) {
    let _ = scope().post_message_with_transfer(message, transfer);
}

thread_local! {
    /// When progress was last posted (ms since the epoch), and for which stage.
    static LAST_PROGRESS: std::cell::RefCell<(f64, String)> =
        const { std::cell::RefCell::new((f64::NEG_INFINITY, String::new())) };
    /// The fraction of the last progress report, for notes that do not move it.
    static LAST_FRACTION: std::cell::Cell<f64> = const { std::cell::Cell::new(0.0) };
}

/// Reports `stage` at the fraction reached so far (a retry, say).
fn progress_note(stage: &str) {
    progress(stage, LAST_FRACTION.with(std::cell::Cell::get));
}

/// Posts progress at most every 50 ms (and always at a new stage, at 0 and at 1): a message per
/// 64 KiB piece cost several percent of a large file's time in the profile.
fn progress(stage: &str, fraction: f64) {
    LAST_FRACTION.with(|last| last.set(fraction));
    let now = js_sys::Date::now();
    let due = LAST_PROGRESS.with(|last| {
        let mut last = last.borrow_mut();
        let due = last.1 != stage || now - last.0 >= 50.0 || fraction <= 0.0 || fraction >= 1.0;
        if due {
            *last = (now, stage.to_owned());
        }
        due
    });
    if !due {
        return;
    }
    let message = Object::new();
    set(&message, "type", &"progress".into());
    set(&message, "stage", &stage.into());
    set(&message, "fraction", &fraction.into());
    post(&message, &Array::new());
}

/// Bytes of this worker's wasm memory (it only grows), for `tests/bench/profile-worker.mjs`.
fn wasm_memory() -> f64 {
    wasm_bindgen::memory()
        .unchecked_into::<js_sys::WebAssembly::Memory>()
        .buffer()
        .unchecked_into::<js_sys::ArrayBuffer>()
        .byte_length() as f64
}

/// A failure with a stable code the page maps to words.
struct Failure {
    code: String,
    message: String,
}

impl Failure {
    fn new(code: &str, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
        }
    }

    fn network() -> Self {
        Self::new(
            "network",
            "The MedSeal server could not be reached. Check your connection and try again.",
        )
    }

    fn encrypt(e: EncryptError) -> Self {
        Self::new("encrypt", format!("Encryption failed: {e}"))
    }

    fn storage(e: String) -> Self {
        Self::new(
            "storage",
            format!(
                "The opened file could not be written to this browser's storage: {e}. Free some space on this device and open the link again (if it allowed one download only, ask for a new link)."
            ),
        )
    }

    fn tampered(e: PayloadError) -> Self {
        Self::new(
            "tampered",
            format!(
                "The record could not be decrypted: the data was altered or is incomplete ({e})."
            ),
        )
    }
}

fn main() {
    let handler = Closure::<dyn Fn(MessageEvent)>::new(|event: MessageEvent| {
        let data = event.data();
        wasm_bindgen_futures::spawn_local(async move {
            let result = match get(&data, "op").as_string().as_deref() {
                Some("seal") => seal(&data).await,
                Some("open") => open(&data).await,
                Some("mask") => mask(&data),
                Some("keygen") => keygen(&data).await,
                _ => Err(Failure::new("bad_request", "unknown worker request")),
            };
            if let Err(failure) = result {
                let message = Object::new();
                set(&message, "type", &"error".into());
                set(&message, "code", &failure.code.into());
                set(&message, "message", &failure.message.into());
                post(&message, &Array::new());
            }
        });
    });
    scope().set_onmessage(Some(handler.as_ref().unchecked_ref()));
    handler.forget();
    // Messages posted before this point would have found no handler: tell the page we listen.
    let ready = Object::new();
    set(&ready, "type", &"ready".into());
    post(&ready, &Array::new());
}

fn new_blob(parts: &Array, media_type: &str) -> Result<Blob, Failure> {
    let options = web_sys::BlobPropertyBag::new();
    options.set_type(media_type);
    Blob::new_with_blob_sequence_and_options(parts, &options)
        .map_err(|_| Failure::new("memory", "The browser could not hold the file."))
}

fn file_reader() -> Result<web_sys::FileReaderSync, Failure> {
    web_sys::FileReaderSync::new()
        .map_err(|_| Failure::new("read", "This browser cannot read files in the background."))
}

/// Reads bytes `start..end` of a Blob into `buf` (resized to fit).
fn read_slice(
    reader: &web_sys::FileReaderSync,
    blob: &Blob,
    start: f64,
    end: f64,
    buf: &mut Vec<u8>,
) -> Result<(), Failure> {
    let slice = blob
        .slice_with_f64_and_f64(start, end)
        .map_err(|_| Failure::new("read", "The file could not be read."))?;
    let buffer = reader
        .read_as_array_buffer(&slice)
        .map_err(|_| Failure::new("read", "The file could not be read."))?;
    let array = Uint8Array::new(&buffer);
    buf.resize(array.length() as usize, 0);
    array.copy_to(buf);
    Ok(())
}

/// The bytes of a file entry: its `data` (a Uint8Array) or its `file` (read whole).
fn read_bytes(entry: &JsValue) -> Result<Vec<u8>, Failure> {
    let file = get(entry, "file");
    if file.is_undefined() {
        return Ok(Uint8Array::new(&get(entry, "data")).to_vec());
    }
    let blob: Blob = file.unchecked_into();
    let mut buf = Vec::new();
    read_slice(&file_reader()?, &blob, 0.0, blob.size(), &mut buf).map_err(|_| {
        Failure::new(
            "read",
            format!(
                "{} could not be read.",
                get(entry, "name").as_string().unwrap_or_default()
            ),
        )
    })?;
    Ok(buf)
}

fn password_of(request: &JsValue) -> Option<Password> {
    get(request, "password")
        .as_string()
        .filter(|p| !p.is_empty())
        .map(Password::new)
}

fn wants_webcrypto(request: &JsValue) -> bool {
    get(request, "webcrypto").as_bool().unwrap_or(true)
}

/// Where sealed content comes from: a File read in slices, or bytes already in memory.
enum Content {
    File(Blob),
    Bytes(Vec<u8>),
}

impl Content {
    fn len(&self) -> u64 {
        match self {
            Self::File(blob) => blob.size() as u64,
            Self::Bytes(bytes) => bytes.len() as u64,
        }
    }
}

fn meta_of(file: &JsValue) -> FileMeta {
    FileMeta {
        name: get(file, "name").as_string().unwrap_or_default(),
        media_type: get(file, "type").as_string().unwrap_or_default(),
        kind: get(file, "kind").as_string().unwrap_or_default(),
        masked: get(file, "masked").as_bool().unwrap_or(false),
        policy: get(file, "policy").as_string(),
        created: Some((js_sys::Date::now() / 1000.0) as u64),
    }
}

/// One file streams from its `File`; several are packed in memory (a pack is one container).
fn content_of(request: &JsValue) -> Result<(FileMeta, Content), Failure> {
    let entries: Vec<JsValue> = Array::from(&get(request, "files")).iter().collect();
    match entries.as_slice() {
        [] => Err(Failure::new(
            "no_files",
            "Choose at least one file to share.",
        )),
        [one] => {
            let file = get(one, "file");
            let content = if file.is_undefined() {
                Content::Bytes(Uint8Array::new(&get(one, "data")).to_vec())
            } else {
                Content::File(file.unchecked_into())
            };
            Ok((meta_of(one), content))
        }
        several => {
            let files = several
                .iter()
                .map(|f| read_bytes(f).map(|data| (meta_of(f), data)))
                .collect::<Result<Vec<_>, _>>()?;
            let refs: Vec<(FileMeta, &[u8])> = files
                .iter()
                .map(|(m, d)| (m.clone(), d.as_slice()))
                .collect();
            let meta = pack_meta(&refs, Some((js_sys::Date::now() / 1000.0) as u64));
            Ok((meta, Content::Bytes(pack(&refs))))
        }
    }
}

async fn fetch(url: &str, init: &web_sys::RequestInit) -> Result<web_sys::Response, Failure> {
    let response = JsFuture::from(scope().fetch_with_str_and_init(url, init))
        .await
        .map_err(|_| Failure::network())?;
    Ok(response.unchecked_into())
}

/// The server's JSON error as a failure.
async fn server_failure(response: &web_sys::Response) -> Failure {
    let status = response.status();
    let text = match response.text() {
        Ok(promise) => JsFuture::from(promise)
            .await
            .ok()
            .and_then(|t| t.as_string()),
        Err(_) => None,
    };
    match text.and_then(|t| serde_json::from_str::<medseal_core::wire::ApiError>(&t).ok()) {
        Some(body) => Failure {
            code: body.code,
            message: body.message,
        },
        None => Failure::new(
            &format!("http_{status}"),
            format!("The server answered with an unexpected error ({status})."),
        ),
    }
}

async fn response_json(response: &web_sys::Response) -> Result<serde_json::Value, Failure> {
    let text = JsFuture::from(response.text().map_err(|_| Failure::network())?)
        .await
        .map_err(|_| Failure::network())?
        .as_string()
        .unwrap_or_default();
    serde_json::from_str(&text).map_err(|_| Failure::network())
}

fn sleep(ms: i32) -> JsFuture {
    let promise = Promise::new(&mut |resolve, _| {
        let _ = scope().set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms);
    });
    JsFuture::from(promise)
}

/// An upload in progress: the share's id and token, and the parts on their way.
struct Upload {
    id: String,
    bearer: String,
    revoke_token: String,
    part_size: f64,
    next_index: u32,
    in_flight: VecDeque<JsFuture>,
}

impl Upload {
    async fn create(size: u64, options: &JsValue) -> Result<Self, Failure> {
        let body = serde_json::json!({
            "size": size,
            "expires_in": get(options, "expires_in").as_f64().unwrap_or(7.0 * 86_400.0) as u64,
            "max_downloads": get(options, "max_downloads").as_f64().unwrap_or(5.0) as u32,
        });
        let init = web_sys::RequestInit::new();
        init.set_method("POST");
        let headers = web_sys::Headers::new().map_err(|_| Failure::network())?;
        headers
            .set("Content-Type", "application/json")
            .map_err(|_| Failure::network())?;
        init.set_headers(&headers);
        init.set_body(&JsValue::from_str(&body.to_string()));
        let response = fetch("/api/shares", &init).await?;
        if !response.ok() {
            return Err(server_failure(&response).await);
        }
        let answer = response_json(&response).await?;
        let text = |key: &str| answer[key].as_str().unwrap_or_default().to_owned();
        Ok(Self {
            id: text("id"),
            bearer: format!("Bearer {}", text("upload_token")),
            revoke_token: text("revoke_token"),
            part_size: answer["part_size"]
                .as_f64()
                .unwrap_or(4.0 * 1024.0 * 1024.0)
                .max(1.0),
            next_index: 0,
            in_flight: VecDeque::new(),
        })
    }

    /// Starts uploading the next part; waits for the oldest part when too many are on their way.
    async fn send(&mut self, part: Uint8Array) -> Result<(), Failure> {
        let url = format!("/api/shares/{}/parts/{}", self.id, self.next_index);
        self.next_index += 1;
        let bearer = self.bearer.clone();
        let task = wasm_bindgen_futures::future_to_promise(async move {
            put_part(&url, &bearer, &part)
                .await
                .map(|()| JsValue::UNDEFINED)
                .map_err(|f| {
                    let error = Object::new();
                    set(&error, "code", &f.code.into());
                    set(&error, "message", &f.message.into());
                    error.into()
                })
        });
        self.in_flight.push_back(JsFuture::from(task));
        while self.in_flight.len() >= PARTS_IN_FLIGHT {
            self.wait_one().await?;
        }
        Ok(())
    }

    async fn wait_one(&mut self) -> Result<(), Failure> {
        if let Some(task) = self.in_flight.pop_front() {
            task.await.map_err(|error| Failure {
                code: get(&error, "code")
                    .as_string()
                    .unwrap_or_else(|| "network".into()),
                message: get(&error, "message")
                    .as_string()
                    .unwrap_or_else(|| Failure::network().message),
            })?;
        }
        Ok(())
    }

    async fn complete(&mut self) -> Result<(), Failure> {
        while !self.in_flight.is_empty() {
            self.wait_one().await?;
        }
        let init = web_sys::RequestInit::new();
        init.set_method("POST");
        let headers = web_sys::Headers::new().map_err(|_| Failure::network())?;
        headers
            .set("Authorization", &self.bearer)
            .map_err(|_| Failure::network())?;
        init.set_headers(&headers);
        let url = format!("/api/shares/{}/complete", self.id);
        // Completing twice is harmless, so a broken connection only means asking again.
        let mut attempt = 0;
        let response = loop {
            match fetch(&url, &init).await {
                Ok(response) => break response,
                Err(_) if attempt < RETRIES => {
                    attempt += 1;
                    progress_note("Connection lost: finishing again");
                    let _ = sleep(retry_delay(attempt)).await;
                }
                Err(failure) => return Err(failure),
            }
        };
        if !response.ok() {
            return Err(server_failure(&response).await);
        }
        Ok(())
    }
}

/// PUTs one part; a dropped connection costs a retry of that part, not the upload.
async fn put_part(url: &str, bearer: &str, part: &Uint8Array) -> Result<(), Failure> {
    let mut attempt = 0;
    loop {
        let init = web_sys::RequestInit::new();
        init.set_method("PUT");
        let headers = web_sys::Headers::new().map_err(|_| Failure::network())?;
        headers
            .set("Authorization", bearer)
            .map_err(|_| Failure::network())?;
        headers
            .set("Content-Type", "application/octet-stream")
            .map_err(|_| Failure::network())?;
        init.set_headers(&headers);
        init.set_body(part);
        let wait = match fetch(url, &init).await {
            Ok(response) if response.ok() => return Ok(()),
            // Busy (too many parts at once, the rate limit) or too slow: the server says when
            // to try again, or the usual wait applies.
            Ok(response) if [408, 429, 503].contains(&response.status()) && attempt < RETRIES => {
                let after = response
                    .headers()
                    .get("Retry-After")
                    .ok()
                    .flatten()
                    .and_then(|s| s.trim().parse::<i32>().ok());
                after.map_or(retry_delay(attempt + 1), |s| s.clamp(0, 60) * 1000)
            }
            Ok(response) => return Err(server_failure(&response).await),
            // The connection broke: parts the server has stay stored; this one goes again.
            Err(_) if attempt < RETRIES => {
                progress_note("Connection lost: sending again");
                retry_delay(attempt + 1)
            }
            Err(failure) => return Err(failure),
        };
        attempt += 1;
        let _ = sleep(wait).await;
    }
}

/// Where sealed bytes go: parts uploaded as they fill, or Blobs kept for the caller.
struct Sink {
    pending: Array,
    pending_len: f64,
    blobs: Array,
    upload: Option<Upload>,
}

impl Sink {
    fn new(upload: Option<Upload>) -> Self {
        Self {
            pending: Array::new(),
            pending_len: 0.0,
            blobs: Array::new(),
            upload,
        }
    }

    /// Adds a piece (an ArrayBuffer, a typed array or a Blob) of `len` bytes.
    fn add(&mut self, piece: &JsValue, len: f64) {
        self.pending.push(piece);
        self.pending_len += len;
    }

    fn add_bytes(&mut self, bytes: &[u8]) {
        if !bytes.is_empty() {
            self.add(&Uint8Array::from(bytes), bytes.len() as f64);
        }
    }

    /// The next part: the first `part_size` pending bytes copied into one fresh array, the rest
    /// left pending. Copied, not sliced from a Blob of the pending pieces: a Blob slice keeps its
    /// whole parent alive, and the next part's Blob would hold that slice, so every part sent
    /// stayed reachable until the end (WebKit kept about 1.5 times the file). A plain array is
    /// garbage as soon as its upload is done, and engines count its memory towards collection.
    fn take_part(pending: &mut Array, pending_len: &mut f64, part_size: f64) -> Uint8Array {
        let len = part_size.min(*pending_len) as u32;
        let part = Uint8Array::new_with_length(len);
        let rest = Array::new();
        let mut filled = 0u32;
        for piece in pending.iter() {
            let bytes = if piece.is_instance_of::<js_sys::ArrayBuffer>() {
                Uint8Array::new(&piece)
            } else {
                piece.unchecked_into::<Uint8Array>()
            };
            let piece_len = bytes.length();
            let take = (len - filled).min(piece_len);
            if take > 0 {
                part.set(&bytes.subarray(0, take), filled);
                filled += take;
            }
            if take < piece_len {
                rest.push(&bytes.subarray(take, piece_len));
            }
        }
        *pending = rest;
        *pending_len -= f64::from(len);
        part
    }

    /// Sends every whole part (or folds pending pieces into a Blob); `last` sends the rest.
    async fn flush(&mut self, last: bool) -> Result<(), Failure> {
        match &mut self.upload {
            Some(upload) => {
                while self.pending_len >= upload.part_size
                    || (last && (self.pending_len > 0.0 || upload.next_index == 0))
                {
                    let part =
                        Self::take_part(&mut self.pending, &mut self.pending_len, upload.part_size);
                    upload.send(part).await?;
                }
                if last {
                    upload.complete().await?;
                }
            }
            None => {
                if self.pending_len >= BLOB_BATCH || (last && self.pending_len > 0.0) {
                    let blob = new_blob(&self.pending, "")?;
                    self.blobs.push(&blob);
                    self.pending = Array::new();
                    self.pending_len = 0.0;
                }
            }
        }
        Ok(())
    }
}

/// Bytes collected into Blobs through one staging array that is reused: each batch is copied
/// from wasm into it and the Blob constructor copies it out, so collecting a large file leaves
/// no garbage arrays behind (WebKit's page grew by hundreds of megabytes of them, collected late).
struct BlobWriter {
    staging: Uint8Array,
    len: u32,
    blobs: Array,
}

impl BlobWriter {
    fn new() -> Self {
        Self {
            staging: Uint8Array::new_with_length(BLOB_BATCH as u32),
            len: 0,
            blobs: Array::new(),
        }
    }

    fn add(&mut self, mut bytes: &[u8]) -> Result<(), Failure> {
        while !bytes.is_empty() {
            let room = self.staging.length() - self.len;
            let take = (room as usize).min(bytes.len());
            self.staging
                .subarray(self.len, self.len + take as u32)
                .copy_from(&bytes[..take]);
            self.len += take as u32;
            bytes = &bytes[take..];
            if self.len == self.staging.length() {
                self.fold()?;
            }
        }
        Ok(())
    }

    /// Moves the staged bytes into a new Blob.
    fn fold(&mut self) -> Result<(), Failure> {
        if self.len > 0 {
            let blob = new_blob(&Array::of1(&self.staging.subarray(0, self.len)), "")?;
            self.blobs.push(&blob);
            self.len = 0;
        }
        Ok(())
    }

    /// Everything as one Blob of `media_type`.
    fn finish(mut self, media_type: &str) -> Result<Blob, Failure> {
        self.fold()?;
        new_blob(&self.blobs, media_type)
    }
}

/// Seals chunks with WebCrypto, all at once, and adds their ciphertexts in order.
async fn seal_chunks(
    web: &WebAes,
    chunks: Vec<PlainChunk>,
    sink: &mut Sink,
) -> Result<(), Failure> {
    let failed = |_| Failure::new("encrypt", "Encryption failed in the browser's WebCrypto.");
    let promises = chunks
        .iter()
        .map(|c| web.seal(&c.nonce, &c.plaintext))
        .collect::<Result<Array, _>>()
        .map_err(failed)?;
    let sealed = JsFuture::from(Promise::all(&promises))
        .await
        .map_err(failed)?;
    for (buffer, chunk) in Array::from(&sealed).iter().zip(&chunks) {
        sink.add(&buffer, (chunk.plaintext.len() + 16) as f64);
    }
    Ok(())
}

async fn seal(request: &JsValue) -> Result<(), Failure> {
    let (meta, content) = content_of(request)?;
    let key = LinkKey::generate()
        .map_err(|_| Failure::new("random", "This browser's random number generator failed."))?;
    let password = password_of(request);
    let recipient = match &password {
        Some(password) => Recipient::Password {
            link: &key,
            password,
            params: Default::default(),
        },
        None => Recipient::Link(&key),
    };
    let upload_options = get(request, "upload");
    let stage = if upload_options.is_object() {
        "Encrypting and uploading"
    } else {
        "Encrypting"
    };
    progress(stage, 0.0);
    let total = content.len();
    let (mut encryptor, header) = Encryptor::<FastCipher>::with_cipher(&[recipient], &meta, total)
        .map_err(Failure::encrypt)?;
    let size = header.len() as u64 + encryptor.payload_len();
    let upload = if upload_options.is_object() {
        Some(Upload::create(size, &upload_options).await?)
    } else {
        None
    };
    let web = if wants_webcrypto(request) {
        WebAes::new(encryptor.cipher().key_bytes()).await
    } else {
        None
    };
    let mut sink = Sink::new(upload);
    sink.add_bytes(&header);
    // A File is read as a stream: several times faster in Chromium than FileReaderSync slices.
    let mut reader = match &content {
        Content::File(blob) => Some(Source::blob(blob)?),
        Content::Bytes(_) => None,
    };
    let mut buf = Vec::new();
    let mut done = 0u64;
    while done < total {
        let piece: &[u8] = match (&content, &mut reader) {
            (Content::File(_), Some(reader)) => {
                buf = reader.next().await?.unwrap_or_default();
                &buf
            }
            (Content::Bytes(bytes), _) => {
                let end = (done + SLICE as u64).min(total);
                &bytes[done as usize..end as usize]
            }
            (Content::File(_), None) => {
                return Err(Failure::new("read", "The file could not be read."));
            }
        };
        if piece.is_empty() {
            return Err(Failure::new(
                "read",
                format!("{} changed while it was read.", meta.name),
            ));
        }
        done += piece.len() as u64;
        match &web {
            Some(web) => {
                let chunks = encryptor.push_unsealed(piece).map_err(Failure::encrypt)?;
                seal_chunks(web, chunks, &mut sink).await?;
            }
            None => {
                let sealed = encryptor.push(piece).map_err(Failure::encrypt)?;
                sink.add_bytes(&sealed);
            }
        }
        sink.flush(false).await?;
        progress(stage, done as f64 / total.max(1) as f64);
    }
    drop(buf);
    loop {
        match &web {
            Some(web) => match encryptor.next_final_unsealed().map_err(Failure::encrypt)? {
                Some(chunk) => seal_chunks(web, vec![chunk], &mut sink).await?,
                None => break,
            },
            None => match encryptor.next_final_chunk().map_err(Failure::encrypt)? {
                Some(sealed) => sink.add_bytes(&sealed),
                None => break,
            },
        }
        sink.flush(false).await?;
    }
    sink.flush(true).await?;
    let message = Object::new();
    set(&message, "type", &"sealed".into());
    set(&message, "wasm_memory", &wasm_memory().into());
    set(&message, "fragment", &key.to_fragment().into());
    set(&message, "size", &(size as f64).into());
    match &sink.upload {
        Some(upload) => {
            set(&message, "id", &upload.id.clone().into());
            set(
                &message,
                "revoke_token",
                &upload.revoke_token.clone().into(),
            );
        }
        None => {
            let blob = new_blob(&sink.blobs, "application/octet-stream")?;
            set(&message, "sealed", &blob);
        }
    }
    post(&message, &Array::new());
    Ok(())
}

/// How much of a Blob one stream covers. Some engines read a Blob's stream ahead of its reader
/// without bound (WebKit held a whole 200 MB File in the page that way), so a Blob is read as
/// a stream over one window at a time: the speed of streams, the memory of a window.
const BLOB_WINDOW: f64 = 16.0 * 1024.0 * 1024.0;

/// Where bytes come from: a download or a Blob (a File, or ciphertext kept for a password),
/// read as a stream, one piece ahead so reading overlaps the crypto.
struct Source {
    reader: web_sys::ReadableStreamDefaultReader,
    ahead: Option<JsFuture>,
    /// For a Blob: the Blob and where its next window starts.
    rest: Option<(Blob, f64)>,
    /// For a download: how to carry on when the connection breaks.
    resume: Option<Resume>,
}

/// A download's way back after a broken connection: a ranged GET from the first byte not yet
/// received, with the resume token of the download's first answer, so the share's download
/// count is not charged again (server/API.md, "Resuming").
struct Resume {
    url: String,
    token: String,
    received: u64,
    total: Option<u64>,
    /// Attempts since the last byte arrived.
    attempts: u32,
}

/// Attempts to resume a broken download, or to send a part again, before giving up; waits
/// grow from one second to `RETRY_MAX_MS` between them (about a minute and a half in all).
const RETRIES: u32 = 10;
const RETRY_MAX_MS: i32 = 15_000;

fn retry_delay(attempt: u32) -> i32 {
    (500 * 2i32.saturating_pow(attempt.min(8))).min(RETRY_MAX_MS)
}

impl Source {
    fn new(reader: web_sys::ReadableStreamDefaultReader) -> Self {
        Self {
            reader,
            ahead: None,
            rest: None,
            resume: None,
        }
    }

    /// Reconnects a broken download where it stopped; false when it cannot.
    async fn reconnect(&mut self) -> Result<bool, Failure> {
        let Some(resume) = &mut self.resume else {
            return Ok(false);
        };
        if resume.token.is_empty() {
            return Ok(false);
        }
        while resume.attempts < RETRIES {
            resume.attempts += 1;
            let fraction = resume
                .total
                .map_or(0.0, |t| resume.received as f64 / t.max(1) as f64);
            progress("Connection lost: resuming the download", fraction);
            let _ = sleep(retry_delay(resume.attempts)).await;
            let init = web_sys::RequestInit::new();
            init.set_method("GET");
            let headers = web_sys::Headers::new().map_err(|_| Failure::network())?;
            headers
                .set("Range", &format!("bytes={}-", resume.received))
                .map_err(|_| Failure::network())?;
            headers
                .set("MedSeal-Resume-Token", &resume.token)
                .map_err(|_| Failure::network())?;
            init.set_headers(&headers);
            let Ok(response) = fetch(&resume.url, &init).await else {
                continue;
            };
            let from = format!("bytes {}-", resume.received);
            let starts_here = response
                .headers()
                .get("Content-Range")
                .ok()
                .flatten()
                .is_some_and(|range| range.starts_with(&from));
            if response.status() == 206 && starts_here {
                let body = response.body().ok_or_else(Failure::network)?;
                self.reader = body.get_reader().unchecked_into();
                self.ahead = None;
                progress("Downloading and decrypting", fraction);
                return Ok(true);
            }
            if !response.ok() {
                return Err(server_failure(&response).await);
            }
            // A whole answer where a range was asked: the bytes cannot be joined safely.
            return Err(Failure::new(
                "network",
                "The download broke off and the server could not continue it. Open the link again.",
            ));
        }
        Ok(false)
    }

    fn blob(blob: &Blob) -> Result<Self, Failure> {
        let end = BLOB_WINDOW.min(blob.size());
        let mut source = Self::new(window_reader(blob, 0.0, end)?);
        source.rest = Some((blob.clone(), end));
        Ok(source)
    }

    /// Moves to the Blob's next window; false at the end (or for a download).
    fn next_window(&mut self) -> Result<bool, Failure> {
        let Some((blob, start)) = &mut self.rest else {
            return Ok(false);
        };
        if *start >= blob.size() {
            return Ok(false);
        }
        let end = (*start + BLOB_WINDOW).min(blob.size());
        self.reader = window_reader(blob, *start, end)?;
        *start = end;
        Ok(true)
    }

    /// The next piece, or `None` at the end.
    async fn next(&mut self) -> Result<Option<Vec<u8>>, Failure> {
        loop {
            let read = match self.ahead.take() {
                Some(read) => read,
                None => JsFuture::from(self.reader.read()),
            };
            let read = match read.await {
                Ok(read) => read,
                // A broken connection: carry on from the next byte, if this is a download.
                Err(_) if self.reconnect().await? => continue,
                Err(_) => return Err(Failure::network()),
            };
            if get(&read, "done").as_bool().unwrap_or(true) {
                if self.next_window()? {
                    continue;
                }
                if let Some(resume) = &self.resume {
                    // A connection closed early can end the stream without an error.
                    if resume.total.is_some_and(|t| resume.received < t) {
                        if self.reconnect().await? {
                            continue;
                        }
                        return Err(Failure::network());
                    }
                }
                return Ok(None);
            }
            self.ahead = Some(JsFuture::from(self.reader.read()));
            // The value is already a Uint8Array: copy it into wasm once. (`Uint8Array::new` on
            // it would copy it in JavaScript first; that was a tenth of the time in the profile.)
            let piece = get(&read, "value").unchecked_into::<Uint8Array>().to_vec();
            if let Some(resume) = &mut self.resume {
                resume.received += piece.len() as u64;
                resume.attempts = 0;
            }
            return Ok(Some(piece));
        }
    }
}

/// A stream reader over bytes `start..end` of a Blob.
fn window_reader(
    blob: &Blob,
    start: f64,
    end: f64,
) -> Result<web_sys::ReadableStreamDefaultReader, Failure> {
    let window = blob
        .slice_with_f64_and_f64(start, end)
        .map_err(|_| Failure::new("read", "The file could not be read."))?;
    Ok(window.stream().get_reader().unchecked_into())
}

/// Opens the ciphertext from `source` (of `total` bytes, if known).
async fn open(request: &JsValue) -> Result<(), Failure> {
    let fragment = get(request, "fragment").as_string().unwrap_or_default();
    let key = LinkKey::parse(&fragment).map_err(|_| {
        Failure::new(
            "bad_key",
            "This link is incomplete: the part after # that holds the key is missing or damaged.",
        )
    })?;
    let given = get(request, "sealed");
    let downloading = given.is_undefined() || given.is_null();
    let (mut source, total) = if downloading {
        let id = get(request, "id").as_string().unwrap_or_default();
        progress("Downloading", 0.0);
        let init = web_sys::RequestInit::new();
        init.set_method("GET");
        let response = fetch(&format!("/api/shares/{id}"), &init).await?;
        if !response.ok() {
            return Err(server_failure(&response).await);
        }
        let total = response
            .headers()
            .get("Content-Length")
            .ok()
            .flatten()
            .and_then(|v| v.parse::<u64>().ok());
        let token = response
            .headers()
            .get("MedSeal-Resume-Token")
            .ok()
            .flatten()
            .unwrap_or_default();
        let body = response.body().ok_or_else(Failure::network)?;
        let reader: web_sys::ReadableStreamDefaultReader = body.get_reader().unchecked_into();
        let mut source = Source::new(reader);
        source.resume = Some(Resume {
            url: format!("/api/shares/{id}"),
            token,
            received: 0,
            total,
            attempts: 0,
        });
        (source, total)
    } else {
        let blob: Blob = if given.is_instance_of::<Blob>() {
            given.unchecked_into()
        } else {
            new_blob(&Array::of1(&given), "")?
        };
        let total = blob.size() as u64;
        (Source::blob(&blob)?, Some(total))
    };
    let stage = if downloading {
        "Downloading and decrypting"
    } else {
        "Decrypting"
    };
    let report = |received: u64| {
        if let Some(total) = total {
            progress(stage, received as f64 / total.max(1) as f64);
        }
    };

    // The header first: at most 32 KiB at the start.
    let mut pending: Vec<u8> = Vec::new();
    let mut received = 0u64;
    let (header, header_len) = loop {
        match Header::parse_prefix(&pending) {
            Ok(Some(found)) => break found,
            Ok(None) => {}
            Err(e) => {
                return Err(Failure::new(
                    "not_medseal",
                    format!("This is not a readable MedSeal record ({e})."),
                ));
            }
        }
        match source.next().await? {
            Some(piece) => {
                received += piece.len() as u64;
                pending.extend_from_slice(&piece);
            }
            None => {
                let e = Header::parse(&pending).err();
                return Err(Failure::new(
                    "not_medseal",
                    format!(
                        "This is not a readable MedSeal record ({}).",
                        e.map(|e| e.to_string()).unwrap_or_default()
                    ),
                ));
            }
        }
    };
    let password = password_of(request);
    let identity = match (&password, header.needs_password()) {
        (_, false) => Identity::Link(&key),
        (Some(password), true) => Identity::Password(&key, password),
        (None, true) => return need_password(source, pending, downloading, total).await,
    };
    let mut decryptor = PayloadDecryptor::<FastCipher>::with_cipher(&header, identity).map_err(
        |e| match e {
            UnlockError::WrongPassword => Failure::new("wrong_password", "The password is wrong."),
            UnlockError::HeaderAltered => Failure::new(
                "tampered",
                "The record could not be decrypted: its data was altered.",
            ),
            _ => Failure::new(
                "wrong_key",
                "The record could not be decrypted: the link's key is wrong or the data was altered.",
            ),
        },
    )?;
    // WebCrypto opens chunks ahead when the chunk boundaries are known from the total length.
    let web = match total {
        Some(_) if wants_webcrypto(request) => WebAes::new(decryptor.cipher().key_bytes()).await,
        _ => None,
    };
    let payload_total = total.map(|t| t.saturating_sub(header_len as u64));
    let chunks = payload_total.map(|p| p.div_ceil(CHUNK_CT_SIZE as u64));
    pending.drain(..header_len);

    let mut output = Output {
        expected: payload_total.map(|p| p as f64),
        ..Output::default()
    };
    let mut next_chunk = 0u64;
    let mut ended = false;
    loop {
        // Open the whole chunks that are here, in batches, then feed them to the decryptor.
        let mut end = pending.len();
        if let (Some(web), Some(payload_total), Some(chunks)) = (&web, payload_total, chunks) {
            let mut opening = Vec::new();
            let mut at = 0usize;
            while opening.len() < OPEN_BATCH && next_chunk < chunks {
                let start = next_chunk * CHUNK_CT_SIZE as u64;
                let len = (payload_total - start).min(CHUNK_CT_SIZE as u64) as usize;
                if at + len > pending.len() {
                    break;
                }
                let nonce = chunk_nonce(next_chunk, next_chunk + 1 == chunks);
                if let Ok(promise) = web.open(&nonce, &pending[at..at + len]) {
                    opening.push((nonce, JsFuture::from(promise)));
                }
                at += len;
                next_chunk += 1;
            }
            for (nonce, opened) in opening {
                if let Ok(buffer) = opened.await {
                    decryptor
                        .cipher()
                        .preopened(nonce, Zeroizing::new(Uint8Array::new(&buffer).to_vec()));
                }
            }
            if !ended && next_chunk < chunks {
                end = at;
            }
        }
        if end > 0 {
            let content = decryptor.push(&pending[..end]).map_err(Failure::tampered)?;
            output.add(&decryptor, &content).await?;
            pending.drain(..end);
        }
        if ended {
            break;
        }
        if web.is_some() && !pending.is_empty() && pending.len() >= OPEN_BATCH * CHUNK_CT_SIZE {
            // A whole batch is here: open it before reading more.
            continue;
        }
        match source.next().await? {
            Some(piece) => {
                received += piece.len() as u64;
                pending.extend_from_slice(&piece);
                report(received);
            }
            None => ended = true,
        }
    }
    let content = decryptor.finish().map_err(Failure::tampered)?;
    output.add(&decryptor, &content).await?;
    let meta = decryptor.metadata().cloned().unwrap_or_default();
    let files = output.finish(meta).await?;
    let message = Object::new();
    set(&message, "type", &"opened".into());
    set(&message, "wasm_memory", &wasm_memory().into());
    set(&message, "files", &files);
    post(&message, &Array::new());
    Ok(())
}

/// The record needs a password the page has not asked for yet: keep the downloaded ciphertext
/// (a share's downloads are counted) and hand it to the page with the question.
async fn need_password(
    mut source: Source,
    pending: Vec<u8>,
    downloading: bool,
    total: Option<u64>,
) -> Result<(), Failure> {
    let message = Object::new();
    set(&message, "type", &"need_password".into());
    let disk = match total {
        Some(size) if downloading && size as f64 >= opfs::FROM_SIZE => {
            opfs::DiskFile::create(size as f64).await
        }
        _ => None,
    };
    if let Some(mut disk) = disk {
        // A large download goes to disk too, and the page removes it once the record is open.
        disk.write(&pending).await.map_err(Failure::storage)?;
        while let Some(piece) = source.next().await? {
            disk.write(&piece).await.map_err(Failure::storage)?;
        }
        let name = disk.name.clone();
        let blob = disk
            .finish("application/octet-stream")
            .await
            .map_err(Failure::storage)?;
        set(&message, "sealed", &blob);
        set(&message, "stored", &name.into());
    } else if downloading {
        let mut writer = BlobWriter::new();
        writer.add(&pending)?;
        while let Some(piece) = source.next().await? {
            writer.add(&piece)?;
        }
        let blob = writer.finish("application/octet-stream")?;
        set(&message, "sealed", &blob);
    }
    post(&message, &Array::new());
    Ok(())
}

/// Opened content: Blobs for one file (so a large file never sits in wasm memory), or bytes
/// for a pack of several files, which is unpacked at the end.
#[derive(Default)]
struct Output {
    /// The expected size of the content, when known: a single file this large goes to disk.
    expected: Option<f64>,
    sink: Option<BlobWriter>,
    /// A single large file, written to the origin's private file system as it is opened.
    disk: Option<opfs::DiskFile>,
    packed: Option<Zeroizing<Vec<u8>>>,
    /// The first bytes of a single file's content, for the magic-byte check.
    head: Vec<u8>,
}

/// How many first bytes decide the Blob's type (`safe_blob_type`).
const HEAD_LEN: usize = 16;

impl Output {
    async fn add(
        &mut self,
        decryptor: &PayloadDecryptor<FastCipher>,
        content: &[u8],
    ) -> Result<(), Failure> {
        if self.sink.is_none() && self.disk.is_none() && self.packed.is_none() {
            let Some(meta) = decryptor.metadata() else {
                return Ok(());
            };
            if meta.media_type == PACK_MEDIA_TYPE {
                self.packed = Some(Zeroizing::new(Vec::new()));
            } else {
                self.disk = match self.expected {
                    Some(size) if size >= opfs::FROM_SIZE => opfs::DiskFile::create(size).await,
                    _ => None,
                };
                if self.disk.is_none() {
                    self.sink = Some(BlobWriter::new());
                }
            }
        }
        if let Some(packed) = &mut self.packed {
            packed.extend_from_slice(content);
        }
        if (self.sink.is_some() || self.disk.is_some()) && self.head.len() < HEAD_LEN {
            let take = (HEAD_LEN - self.head.len()).min(content.len());
            self.head.extend_from_slice(&content[..take]);
        }
        if let Some(disk) = &mut self.disk {
            disk.write(content).await.map_err(Failure::storage)?;
        }
        if let Some(sink) = &mut self.sink {
            sink.add(content)?;
        }
        Ok(())
    }

    async fn finish(mut self, meta: FileMeta) -> Result<Array, Failure> {
        let list = Array::new();
        // A Blob's type is never the sender's: it is the type its magic bytes prove (PDF, PNG,
        // JPEG, GIF, WebP) or application/octet-stream, so that no decrypted file (HTML, SVG)
        // can render as a page of this origin. The sender's type travels as `claimed`.
        let entry = |meta: &FileMeta, blob: &Blob, stored: Option<&str>| {
            let file = Object::new();
            if let Some(name) = stored {
                set(&file, "stored", &name.into());
            }
            set(&file, "name", &meta.name.clone().into());
            set(&file, "type", &blob.type_().into());
            set(&file, "claimed", &meta.media_type.clone().into());
            set(&file, "masked", &meta.masked.into());
            set(&file, "size", &blob.size().into());
            set(&file, "blob", blob);
            file
        };
        if let Some(packed) = &self.packed {
            if is_pack(packed) {
                let files = unpack(packed).map_err(|e| {
                    Failure::new(
                        "tampered",
                        format!("The shared files could not be read: {e}."),
                    )
                })?;
                for (meta, data) in files {
                    let blob = new_blob(
                        &Array::of1(&Uint8Array::from(data.as_slice())),
                        safe_blob_type(&data),
                    )?;
                    list.push(&entry(&meta, &blob, None));
                }
                return Ok(list);
            }
            let blob = new_blob(
                &Array::of1(&Uint8Array::from(packed.as_slice())),
                safe_blob_type(packed),
            )?;
            list.push(&entry(&meta, &blob, None));
            return Ok(list);
        }
        if let Some(disk) = self.disk.take() {
            let name = disk.name.clone();
            let blob = disk
                .finish(safe_blob_type(&self.head))
                .await
                .map_err(Failure::storage)?;
            list.push(&entry(&meta, &blob, Some(&name)));
            return Ok(list);
        }
        let media_type = safe_blob_type(&self.head);
        let blob = match self.sink.take() {
            Some(sink) => sink.finish(media_type)?,
            None => new_blob(&Array::new(), media_type)?,
        };
        list.push(&entry(&meta, &blob, None));
        Ok(list)
    }
}

/// Masks every file under the Safe Harbor policy with a fresh pseudonym key, so the patient can
/// preview exactly what will leave the device before anything is sealed.
fn mask(request: &JsValue) -> Result<(), Failure> {
    let policy = Policy::safe_harbor();
    let key = PseudonymKey::generate()
        .map_err(|_| Failure::new("random", "This browser's random number generator failed."))?;
    let files = Array::from(&get(request, "files"));
    let list = Array::new();
    let transfer = Array::new();
    let count = files.length().max(1);
    for (i, file) in files.iter().enumerate() {
        let name = get(&file, "name").as_string().unwrap_or_default();
        let media_type = get(&file, "type").as_string().unwrap_or_default();
        let data = read_bytes(&file)?;
        progress("Masking", i as f64 / count as f64);
        let hint = if media_type.is_empty() {
            name.clone()
        } else {
            media_type.clone()
        };
        let (masked, report, preview) = mask_bytes_preview(
            &data,
            Some(&hint),
            &policy,
            &key,
            &MaskOptions::default(),
            PREVIEW_CHANGES,
        )
        .map_err(|e| {
            Failure::new(
                "mask",
                format!(
                    "{name} cannot be masked: {e}. Remove it, or share the full record instead."
                ),
            )
        })?;
        let array = Uint8Array::from(masked.as_slice());
        let out = Object::new();
        set(&out, "name", &name.into());
        set(&out, "type", &media_type.into());
        set(&out, "data", &array);
        set(
            &out,
            "policy",
            &format!("{}@{}", policy.name, policy.version).into(),
        );
        let lines = Array::new();
        for line in report.summary() {
            lines.push(&line.into());
        }
        set(&out, "report", &lines);
        set_preview(&out, &preview);
        transfer.push(&array.buffer());
        list.push(&out);
    }
    let described = Array::new();
    for line in policy.describe() {
        described.push(&line.into());
    }
    let message = Object::new();
    set(&message, "type", &"masked".into());
    set(&message, "files", &list);
    set(&message, "policy", &described);
    post(&message, &transfer);
    Ok(())
}

/// Generates an RSA key pair as `webcrypto::generate_private_key` does; the bench times it.
async fn keygen(request: &JsValue) -> Result<(), Failure> {
    let bits = get(request, "bits")
        .as_f64()
        .map_or(medseal_core::pki::DEFAULT_RSA_BITS, |b| b as usize);
    let key = if wants_webcrypto(request) {
        webcrypto::generate_private_key(bits).await
    } else {
        medseal_core::pki::PrivateKey::generate(bits)
    }
    .map_err(|e| Failure::new("keygen", format!("Key generation failed: {e}")))?;
    let message = Object::new();
    set(&message, "type", &"keygen".into());
    set(
        &message,
        "fingerprint",
        &key.public_key().fingerprint().to_string().into(),
    );
    post(&message, &Array::new());
    Ok(())
}
