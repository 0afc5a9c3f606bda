//! MedSeal's Web Worker: sealing and opening run here, off the page's thread, so the page stays
//! responsive and can show progress and a cancel button.
//!
//! Messages are plain JavaScript objects (see `frontend/src/worker.rs` for the page's side).
//! The worker first posts `{type: "ready"}`; the page sends its one request only then.
//! - in: `{op: "seal", files: [{name, type, data: Uint8Array}], password: string | null}`
//!   out: `{type: "sealed", sealed: Uint8Array, fragment: string}`
//! - in: `{op: "open", sealed: Uint8Array, fragment: string, password: string | null}`
//!   out: `{type: "opened", files: [{name, type, masked, data: Uint8Array}]}`
//! - in: `{op: "mask", files: [{name, type, data}]}`
//!   out: `{type: "masked", files: [{name, type, data, report: [string], policy}], policy: [string]}`
//! - along the way: `{type: "progress", stage: string, fraction: number}`
//! - on failure: `{type: "error", code: string, message: string}`
#![forbid(unsafe_code)]

use js_sys::{Array, Object, Reflect, Uint8Array};
use medseal_core::container::{
    Encryptor, FileMeta, Header, Identity, LinkKey, Password, PayloadDecryptor, Recipient,
    UnlockError,
};
use medseal_core::mask::{Policy, PseudonymKey, mask_bytes};
use medseal_core::pack::{PACK_MEDIA_TYPE, is_pack, pack, unpack};
use wasm_bindgen::prelude::*;
use web_sys::{DedicatedWorkerGlobalScope, MessageEvent};

/// Plaintext is encrypted and decrypted in slices of this size between progress reports.
const SLICE: usize = 1 << 20;

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

/// A failure with a stable code the page maps to words.
struct Failure {
    code: &'static str,
    message: String,
}

impl Failure {
    fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

fn main() {
    let handler = Closure::<dyn Fn(MessageEvent)>::new(|event: MessageEvent| {
        let data = event.data();
        let result = match get(&data, "op").as_string().as_deref() {
            Some("seal") => seal(&data),
            Some("open") => open(&data),
            Some("mask") => mask(&data),
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
    scope().set_onmessage(Some(handler.as_ref().unchecked_ref()));
    handler.forget();
    // Messages posted before this point would have found no handler: tell the page we listen.
    let ready = Object::new();
    set(&ready, "type", &"ready".into());
    post(&ready, &Array::new());
}

/// The bytes of a file entry: its `data` (a Uint8Array) or its `file` (a File or Blob, read
/// here with the synchronous reader only workers have, so the page never holds the file).
fn read_bytes(entry: &JsValue) -> Result<Vec<u8>, Failure> {
    let file = get(entry, "file");
    if file.is_undefined() {
        return Ok(Uint8Array::new(&get(entry, "data")).to_vec());
    }
    let blob: web_sys::Blob = file.unchecked_into();
    let reader = web_sys::FileReaderSync::new()
        .map_err(|_| Failure::new("read", "This browser cannot read files in the background."))?;
    let buffer = reader.read_as_array_buffer(&blob).map_err(|_| {
        Failure::new(
            "read",
            format!(
                "{} could not be read.",
                get(entry, "name").as_string().unwrap_or_default()
            ),
        )
    })?;
    Ok(Uint8Array::new(&buffer).to_vec())
}

fn password_of(request: &JsValue) -> Option<Password> {
    get(request, "password")
        .as_string()
        .filter(|p| !p.is_empty())
        .map(Password::new)
}

fn seal(request: &JsValue) -> Result<(), Failure> {
    let files: Vec<(FileMeta, Vec<u8>)> = Array::from(&get(request, "files"))
        .iter()
        .map(|file| {
            let meta = FileMeta {
                name: get(&file, "name").as_string().unwrap_or_default(),
                media_type: get(&file, "type").as_string().unwrap_or_default(),
                kind: get(&file, "kind").as_string().unwrap_or_default(),
                masked: get(&file, "masked").as_bool().unwrap_or(false),
                policy: get(&file, "policy").as_string(),
                created: Some((js_sys::Date::now() / 1000.0) as u64),
            };
            read_bytes(&file).map(|data| (meta, data))
        })
        .collect::<Result<_, _>>()?;
    let (meta, content) = match files.as_slice() {
        [] => {
            return Err(Failure::new(
                "no_files",
                "Choose at least one file to share.",
            ));
        }
        [(meta, data)] => (meta.clone(), data.clone()),
        several => {
            let refs: Vec<(FileMeta, &[u8])> = several
                .iter()
                .map(|(m, d)| (m.clone(), d.as_slice()))
                .collect();
            let meta = FileMeta {
                name: format!("{} files", several.len()),
                media_type: PACK_MEDIA_TYPE.into(),
                kind: "files".into(),
                masked: several.iter().all(|(m, _)| m.masked),
                policy: several.first().and_then(|(m, _)| m.policy.clone()),
                created: Some((js_sys::Date::now() / 1000.0) as u64),
            };
            (meta, pack(&refs))
        }
    };
    drop(files);
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
    progress("Encrypting", 0.0);
    let (mut encryptor, mut sealed) = Encryptor::new(&[recipient], &meta, content.len() as u64)
        .map_err(|e| Failure::new("encrypt", format!("Encryption failed: {e}")))?;
    sealed.reserve(usize::try_from(encryptor.payload_len()).unwrap_or(0));
    let total = content.len().max(1);
    for (i, slice) in content.chunks(SLICE).enumerate() {
        sealed.extend(
            encryptor
                .push(slice)
                .map_err(|e| Failure::new("encrypt", format!("Encryption failed: {e}")))?,
        );
        progress(
            "Encrypting",
            ((i + 1) * SLICE).min(total) as f64 / total as f64,
        );
    }
    while let Some(chunk) = encryptor
        .next_final_chunk()
        .map_err(|e| Failure::new("encrypt", format!("Encryption failed: {e}")))?
    {
        sealed.extend(chunk);
    }
    let array = Uint8Array::from(sealed.as_slice());
    let message = Object::new();
    set(&message, "type", &"sealed".into());
    set(&message, "sealed", &array);
    set(&message, "fragment", &key.to_fragment().into());
    post(&message, &Array::of1(&array.buffer()));
    Ok(())
}

fn open(request: &JsValue) -> Result<(), Failure> {
    let sealed = Uint8Array::new(&get(request, "sealed")).to_vec();
    let fragment = get(request, "fragment").as_string().unwrap_or_default();
    let key = LinkKey::parse(&fragment).map_err(|_| {
        Failure::new(
            "bad_key",
            "This link is incomplete: the part after # that holds the key is missing or damaged.",
        )
    })?;
    let (header, header_len) = Header::parse(&sealed).map_err(|e| {
        Failure::new(
            "not_medseal",
            format!("This is not a readable MedSeal record ({e})."),
        )
    })?;
    let password = password_of(request);
    let identity = match (&password, header.needs_password()) {
        (_, false) => Identity::Link(&key),
        (Some(password), true) => Identity::Password(&key, password),
        (None, true) => {
            return Err(Failure::new(
                "password_required",
                "This record is protected by a password.",
            ));
        }
    };
    progress("Decrypting", 0.0);
    let mut decryptor = PayloadDecryptor::new(&header, identity).map_err(|e| match e {
        UnlockError::WrongPassword => Failure::new("wrong_password", "The password is wrong."),
        UnlockError::HeaderAltered => Failure::new(
            "tampered",
            "The record could not be decrypted: its data was altered.",
        ),
        _ => Failure::new(
            "wrong_key",
            "The record could not be decrypted: the link's key is wrong or the data was altered.",
        ),
    })?;
    let payload = &sealed[header_len..];
    let mut content = Vec::with_capacity(payload.len());
    let total = payload.len().max(1);
    let tampered = |e: medseal_core::container::PayloadError| {
        Failure::new(
            "tampered",
            format!(
                "The record could not be decrypted: the data was altered or is incomplete ({e})."
            ),
        )
    };
    for (i, slice) in payload.chunks(SLICE).enumerate() {
        content.extend(decryptor.push(slice).map_err(tampered)?);
        progress(
            "Decrypting",
            ((i + 1) * SLICE).min(total) as f64 / total as f64,
        );
    }
    content.extend(decryptor.finish().map_err(tampered)?);
    let meta = decryptor.metadata().cloned().unwrap_or_default();
    let files = if meta.media_type == PACK_MEDIA_TYPE && is_pack(&content) {
        unpack(&content).map_err(|e| {
            Failure::new(
                "tampered",
                format!("The shared files could not be read: {e}."),
            )
        })?
    } else {
        vec![(meta, content)]
    };
    let list = Array::new();
    let transfer = Array::new();
    for (meta, data) in files {
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
        let (masked, report) = mask_bytes(&data, Some(&hint), &policy, &key).map_err(|e| {
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
