//! The Web Worker of keys and studies: RSA key generation, Argon2id key protection, study
//! signing, masking for a study, sealing to an RSA key and decrypting a study bundle run here,
//! so the page never freezes. Same protocol as `medseal-worker` (see `frontend/src/worker.rs`):
//! the worker posts `{type: "ready"}`, the page posts one request, the worker posts
//! `{type: "progress", stage, fraction}*` and then one answer or `{type: "error", code, message}`.
//!
//! - `{op: "keygen", passphrase, label, now}` -> `{type: "key", stored: string}`
//! - `{op: "import", pem, passphrase, label, now}` -> `{type: "key", stored: string}`
//! - `{op: "unlock", stored, passphrase}` -> `{type: "unlocked", pkcs8: Uint8Array, pem: string}`
//! - `{op: "sign", pkcs8, description: string}` -> `{type: "signed", body: string}`
//! - `{op: "mask", files: [{name, type, file | data}], policy: string, secret: Uint8Array,
//!   study: string}` -> `{type: "masked", files: [{name, type, data, report: [string]}],
//!   policy: [string], label: string}`
//! - `{op: "seal_rsa", files: [{name, type, data, masked}], policy: string | null, spki}` ->
//!   `{type: "sealed", sealed: Uint8Array}`
//! - `{op: "open_rsa", pkcs8, sealed}` -> `{type: "opened", files: [{name, type, masked, data}]}`
//! - `{op: "bundle", pkcs8, bundle: Uint8Array, study: string | null, k, now}` ->
//!   `{type: "exported", zip: Uint8Array, report: string, contributions: number}`
//! - `{op: "bundle_fetch", pkcs8, url, token, study, k, now}`: the same, after downloading the
//!   bundle itself in one stream (the admin token goes in the `Authorization` header), with
//!   progress.
#![forbid(unsafe_code)]

#[allow(dead_code)] // the page's half is unused here
#[path = "../mask_preview.rs"]
mod mask_preview;

use js_sys::{Array, Object, Reflect, Uint8Array};
use mask_preview::{PREVIEW_CHANGES, set_preview};
use medseal_core::container::{Encryptor, FileMeta, Recipient};
use medseal_core::export::{Exporter, MemorySpool, Skipped, open_contribution};
use medseal_core::keystore::{StoredKey, seal_key};
use medseal_core::mask::{MaskOptions, mask_bytes_preview};
use medseal_core::pack::{pack, pack_meta};
use medseal_core::pki::{DEFAULT_RSA_BITS, PrivateKey, PublicKey};
use medseal_core::study::{StudyPolicy, parse_bundle, study_pseudonym_key};
use wasm_bindgen::prelude::*;
use web_sys::{DedicatedWorkerGlobalScope, MessageEvent};

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

fn progress(stage: &str, fraction: f64) {
    let message = Object::new();
    set(&message, "type", &"progress".into());
    set(&message, "stage", &stage.into());
    set(&message, "fraction", &fraction.into());
    post(&message, &Array::new());
}

struct Failure {
    code: &'static str,
    message: String,
}

fn fail(code: &'static str, message: impl Into<String>) -> Failure {
    Failure {
        code,
        message: message.into(),
    }
}

fn text(request: &JsValue, key: &str) -> String {
    get(request, key).as_string().unwrap_or_default()
}

fn bytes(request: &JsValue, key: &str) -> Vec<u8> {
    let v = get(request, key);
    if v.is_undefined() || v.is_null() {
        return Vec::new();
    }
    Uint8Array::new(&v).to_vec()
}

fn main() {
    let handler = Closure::<dyn Fn(MessageEvent)>::new(|event: MessageEvent| {
        let data = event.data();
        let result = match get(&data, "op").as_string().as_deref() {
            Some("keygen") => keygen(&data),
            Some("import") => import(&data),
            Some("unlock") => unlock(&data),
            Some("sign") => sign(&data),
            Some("mask") => mask(&data),
            Some("seal_rsa") => seal_rsa(&data),
            Some("open_rsa") => open_rsa(&data),
            Some("bundle") => bundle(&data, bytes(&data, "bundle")),
            Some("bundle_fetch") => {
                wasm_bindgen_futures::spawn_local(async move {
                    let result =
                        match fetch_bundle(&text(&data, "url"), &text(&data, "token")).await {
                            Ok(downloaded) => bundle(&data, downloaded),
                            Err(e) => Err(e),
                        };
                    if let Err(failure) = result {
                        post_failure(&failure);
                    }
                });
                Ok(())
            }
            _ => Err(fail("bad_request", "unknown worker request")),
        };
        if let Err(failure) = result {
            post_failure(&failure);
        }
    });
    scope().set_onmessage(Some(handler.as_ref().unchecked_ref()));
    handler.forget();
    let ready = Object::new();
    set(&ready, "type", &"ready".into());
    post(&ready, &Array::new());
}

fn post_failure(failure: &Failure) {
    let message = Object::new();
    set(&message, "type", &"error".into());
    set(&message, "code", &failure.code.into());
    set(&message, "message", &failure.message.as_str().into());
    post(&message, &Array::new());
}

/// Downloads the study bundle in one stream, reporting progress against its length.
async fn fetch_bundle(url: &str, token: &str) -> Result<Vec<u8>, Failure> {
    use wasm_bindgen_futures::JsFuture;
    let network = |_| fail("network", "The MedSeal server could not be reached.");
    let headers = web_sys::Headers::new().map_err(network)?;
    headers
        .set("Authorization", &format!("Bearer {token}"))
        .map_err(network)?;
    let init = web_sys::RequestInit::new();
    init.set_method("GET");
    init.set_headers(&headers);
    let request = web_sys::Request::new_with_str_and_init(url, &init).map_err(network)?;
    let global: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
    let response: web_sys::Response = JsFuture::from(global.fetch_with_request(&request))
        .await
        .map_err(network)?
        .unchecked_into();
    match response.status() {
        200 => {}
        401 | 403 => {
            return Err(fail(
                "bad_token",
                "This admin link is not valid for this study.",
            ));
        }
        status => {
            return Err(fail(
                "download",
                format!("The bundle could not be downloaded (HTTP {status})."),
            ));
        }
    }
    let total = response
        .headers()
        .get("content-length")
        .ok()
        .flatten()
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0);
    let body = response
        .body()
        .ok_or_else(|| fail("download", "The server sent an empty bundle."))?;
    let reader: web_sys::ReadableStreamDefaultReader = body.get_reader().unchecked_into();
    let mut out = Vec::with_capacity(total.min(1e9) as usize);
    loop {
        let chunk = JsFuture::from(reader.read()).await.map_err(|_| {
            fail(
                "network",
                "The download of the bundle broke off. Try again.",
            )
        })?;
        if get(&chunk, "done").as_bool().unwrap_or(true) {
            break;
        }
        out.extend(Uint8Array::new(&get(&chunk, "value")).to_vec());
        if total > 0.0 {
            progress("Downloading the bundle", out.len() as f64 / total);
        }
    }
    Ok(out)
}

fn now(request: &JsValue) -> u64 {
    get(request, "now").as_f64().unwrap_or(0.0) as u64
}

fn store(key: &PrivateKey, request: &JsValue) -> Result<(), Failure> {
    progress("Protecting the key with your passphrase", 0.6);
    let stored = seal_key(
        key,
        &text(request, "passphrase"),
        &text(request, "label"),
        now(request),
        medseal_core::keystore::KEY_PARAMS,
    )
    .map_err(|e| fail("passphrase", e.to_string()))?;
    let json = serde_json::to_string(&stored).map_err(|e| fail("encode", e.to_string()))?;
    let message = Object::new();
    set(&message, "type", &"key".into());
    set(&message, "stored", &json.into());
    post(&message, &Array::new());
    Ok(())
}

fn keygen(request: &JsValue) -> Result<(), Failure> {
    if text(request, "passphrase").chars().count() < medseal_core::keystore::MIN_PASSPHRASE_CHARS {
        return Err(fail(
            "passphrase",
            "Choose a passphrase of at least 12 characters.",
        ));
    }
    progress("Generating an RSA-3072 key pair", 0.0);
    let key = PrivateKey::generate(DEFAULT_RSA_BITS).map_err(|e| fail("keygen", e.to_string()))?;
    store(&key, request)
}

fn import(request: &JsValue) -> Result<(), Failure> {
    let key = PrivateKey::from_pem(&text(request, "pem")).map_err(|e| {
        fail(
            "bad_key",
            format!("This file is not a MedSeal private key: {e}."),
        )
    })?;
    store(&key, request)
}

fn unlock(request: &JsValue) -> Result<(), Failure> {
    let stored: StoredKey = serde_json::from_str(&text(request, "stored"))
        .map_err(|_| fail("bad_key", "The stored key is damaged."))?;
    progress("Unlocking the key", 0.2);
    let key = stored.unlock(&text(request, "passphrase")).map_err(|e| {
        fail(
            "wrong_passphrase",
            format!("The key cannot be unlocked: {e}."),
        )
    })?;
    let der = key
        .to_pkcs8_der()
        .map_err(|e| fail("encode", e.to_string()))?;
    let pem = key.to_pem().map_err(|e| fail("encode", e.to_string()))?;
    let array = Uint8Array::from(der.as_slice());
    let message = Object::new();
    set(&message, "type", &"unlocked".into());
    set(&message, "pkcs8", &array);
    set(&message, "pem", &pem.as_str().into());
    post(&message, &Array::new());
    Ok(())
}

fn private_key(request: &JsValue) -> Result<PrivateKey, Failure> {
    PrivateKey::from_pkcs8_der(&bytes(request, "pkcs8"))
        .map_err(|_| fail("bad_key", "The private key is not usable."))
}

fn sign(request: &JsValue) -> Result<(), Failure> {
    let key = private_key(request)?;
    let description: medseal_core::study::StudyDescription =
        serde_json::from_str(&text(request, "description"))
            .map_err(|e| fail("invalid", e.to_string()))?;
    progress("Signing", 0.5);
    let signed = description
        .sign(&key)
        .map_err(|e| fail("invalid", format!("The study cannot be signed: {e}.")))?;
    let body = serde_json::to_string(&signed).map_err(|e| fail("encode", e.to_string()))?;
    let message = Object::new();
    set(&message, "type", &"signed".into());
    set(&message, "body", &body.into());
    post(&message, &Array::new());
    Ok(())
}

fn read_file(entry: &JsValue) -> Result<Vec<u8>, Failure> {
    let file = get(entry, "file");
    if file.is_undefined() {
        return Ok(Uint8Array::new(&get(entry, "data")).to_vec());
    }
    let blob: web_sys::Blob = file.unchecked_into();
    let reader = web_sys::FileReaderSync::new()
        .map_err(|_| fail("read", "This browser cannot read files in the background."))?;
    let buffer = reader.read_as_array_buffer(&blob).map_err(|_| {
        fail(
            "read",
            format!("{} could not be read.", text(entry, "name")),
        )
    })?;
    Ok(Uint8Array::new(&buffer).to_vec())
}

fn mask(request: &JsValue) -> Result<(), Failure> {
    let choice: StudyPolicy = serde_json::from_str(&text(request, "policy"))
        .map_err(|e| fail("policy", e.to_string()))?;
    let policy = choice
        .to_policy()
        .map_err(|e| fail("policy", e.to_string()))?;
    let key = study_pseudonym_key(&bytes(request, "secret"), &text(request, "study"))
        .map_err(|e| fail("key", e.to_string()))?;
    let today = js_sys::Date::new_0();
    let options = MaskOptions {
        as_of: Some((
            today.get_utc_full_year() as i32,
            today.get_utc_month() + 1,
            today.get_utc_date(),
        )),
        format: None,
    };
    let files = Array::from(&get(request, "files"));
    let list = Array::new();
    let transfer = Array::new();
    let count = files.length().max(1);
    for (i, file) in files.iter().enumerate() {
        let name = text(&file, "name");
        let media_type = text(&file, "type");
        let data = read_file(&file)?;
        progress("Masking", i as f64 / f64::from(count));
        let hint = if media_type.is_empty() {
            name.clone()
        } else {
            media_type.clone()
        };
        let (masked, report, preview) =
            mask_bytes_preview(&data, Some(&hint), &policy, &key, &options, PREVIEW_CHANGES)
                .map_err(|e| {
                    fail(
                        "mask",
                        format!("{name} cannot be masked: {e}. Remove it to continue."),
                    )
                })?;
        let array = Uint8Array::from(masked.as_slice());
        let out = Object::new();
        set(&out, "name", &name.into());
        set(&out, "type", &media_type.into());
        set(&out, "data", &array);
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
    set(
        &message,
        "label",
        &format!("{}@{}", policy.name, policy.version).into(),
    );
    post(&message, &transfer);
    Ok(())
}

fn seal_rsa(request: &JsValue) -> Result<(), Failure> {
    let recipient = PublicKey::from_spki_der(&bytes(request, "spki")).map_err(|e| {
        fail(
            "bad_key",
            format!("The recipient's key is not usable: {e}."),
        )
    })?;
    let policy = get(request, "policy").as_string();
    let created = Some((js_sys::Date::now() / 1000.0) as u64);
    let mut files = Vec::new();
    for file in Array::from(&get(request, "files")).iter() {
        let masked = get(&file, "masked").as_bool().unwrap_or(false);
        let meta = FileMeta {
            name: text(&file, "name"),
            media_type: text(&file, "type"),
            kind: text(&file, "kind"),
            masked,
            policy: if masked { policy.clone() } else { None },
            created,
        };
        files.push((meta, read_file(&file)?));
    }
    let (meta, content) = match files.as_slice() {
        [] => return Err(fail("no_files", "Choose at least one file.")),
        [(meta, data)] => (meta.clone(), data.clone()),
        several => {
            let refs: Vec<(FileMeta, &[u8])> = several
                .iter()
                .map(|(m, d)| (m.clone(), d.as_slice()))
                .collect();
            (pack_meta(&refs, created), pack(&refs))
        }
    };
    progress("Encrypting", 0.0);
    let (mut encryptor, mut sealed) =
        Encryptor::new(&[Recipient::Rsa(&recipient)], &meta, content.len() as u64)
            .map_err(|e| fail("encrypt", format!("Encryption failed: {e}")))?;
    let total = content.len().max(1);
    for (i, slice) in content.chunks(1 << 20).enumerate() {
        sealed.extend(
            encryptor
                .push(slice)
                .map_err(|e| fail("encrypt", format!("Encryption failed: {e}")))?,
        );
        progress(
            "Encrypting",
            ((i + 1) << 20).min(total) as f64 / total as f64,
        );
    }
    sealed.extend(
        encryptor
            .finish()
            .map_err(|e| fail("encrypt", format!("Encryption failed: {e}")))?,
    );
    let array = Uint8Array::from(sealed.as_slice());
    let message = Object::new();
    set(&message, "type", &"sealed".into());
    set(&message, "sealed", &array);
    post(&message, &Array::of1(&array.buffer()));
    Ok(())
}

fn open_rsa(request: &JsValue) -> Result<(), Failure> {
    let key = private_key(request)?;
    let sealed = bytes(request, "sealed");
    progress("Decrypting", 0.1);
    let item = medseal_core::study::BundleItem {
        id: String::new(),
        created_at: 0,
        ciphertext: &sealed,
    };
    let opened = open_contribution(&item, &key).map_err(|e| match e {
        medseal_core::export::OpenError::Decrypt { source, .. } => {
            let code = source.code();
            if code == "unlock.not_for_this_key" {
                fail(
                    "wrong_key",
                    "This record was not sealed for your key: open it with the key it was shared to.",
                )
            } else {
                fail(
                    "tampered",
                    format!("The record could not be decrypted ({code})."),
                )
            }
        }
        other => fail("tampered", other.to_string()),
    })?;
    let list = Array::new();
    let transfer = Array::new();
    for (meta, data) in opened.files {
        let array = Uint8Array::from(data.as_slice());
        let file = Object::new();
        set(&file, "name", &meta.name.into());
        set(&file, "type", &meta.media_type.into());
        set(&file, "masked", &meta.masked.into());
        set(&file, "data", &array);
        transfer.push(&array.buffer());
        list.push(&file);
    }
    let message = Object::new();
    set(&message, "type", &"opened".into());
    set(&message, "files", &list);
    post(&message, &transfer);
    Ok(())
}

fn bundle(request: &JsValue, data: Vec<u8>) -> Result<(), Failure> {
    let key = private_key(request)?;
    let study: Option<serde_json::Value> = get(request, "study")
        .as_string()
        .and_then(|s| serde_json::from_str(&s).ok());
    let k = get(request, "k").as_f64().unwrap_or(5.0) as u32;
    let exporter_failed = |e: medseal_core::export::ExportError| fail("export", e.to_string());
    // One contribution at a time: each is decrypted, read into the export's entries and
    // dropped, so the worker never holds every decrypted contribution at once.
    let mut exporter = Exporter::new(MemorySpool::default()).map_err(exporter_failed)?;
    let mut skipped = Vec::new();
    let mut exported = 0usize;
    {
        let items = parse_bundle(&data)
            .map_err(|e| fail("bundle", format!("The bundle cannot be read: {e}.")))?;
        let total = items.len().max(1);
        for (i, item) in items.iter().enumerate() {
            progress("Decrypting contributions", i as f64 / total as f64);
            // A contribution that cannot be opened is left out and listed, so that one
            // anonymous bad upload cannot block the export of the others.
            match open_contribution(item, &key) {
                Ok(c) => {
                    exporter.add(&c).map_err(exporter_failed)?;
                    exported += 1;
                }
                Err(e) => skipped.push(Skipped::of(item, &e)),
            }
        }
    }
    // The bundle is not needed for the archive.
    drop(data);
    progress("Building the export", 0.95);
    let out = exporter
        .finish_in_memory(&skipped, study.as_ref(), k, now(request))
        .map_err(exporter_failed)?;
    let report = serde_json::to_string(&out.report).map_err(|e| fail("encode", e.to_string()))?;
    let array = Uint8Array::from(out.zip.as_slice());
    let message = Object::new();
    set(&message, "type", &"exported".into());
    set(&message, "zip", &array);
    set(&message, "report", &report.into());
    set(&message, "contributions", &(exported as f64).into());
    post(&message, &Array::of1(&array.buffer()));
    Ok(())
}
