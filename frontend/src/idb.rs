//! A small IndexedDB store of JSON strings: the user's protected private keys (`keys`, by
//! fingerprint) and the patient's own pseudonym secret (`secrets`). Nothing here is ever sent
//! to the server.

use js_sys::{Array, Function, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{IdbDatabase, IdbRequest, IdbTransactionMode};

const DB_NAME: &str = "medseal";
const DB_VERSION: u32 = 1;
/// Protected private keys, by fingerprint (base64url).
pub const KEYS: &str = "keys";
/// Device secrets, such as the patient's pseudonym secret.
pub const SECRETS: &str = "secrets";

fn failed() -> String {
    "This browser's storage (IndexedDB) is not available. Private browsing may block it.".into()
}

async fn done(request: &IdbRequest) -> Result<JsValue, String> {
    let target = request.clone();
    let promise = Promise::new(&mut |resolve: Function, reject: Function| {
        let result_of = target.clone();
        let ok = Closure::once_into_js(move |_: web_sys::Event| {
            let _ = resolve.call1(
                &JsValue::NULL,
                &result_of.result().unwrap_or(JsValue::UNDEFINED),
            );
        });
        let err = Closure::once_into_js(move |_: web_sys::Event| {
            let _ = reject.call1(&JsValue::NULL, &JsValue::NULL);
        });
        target.set_onsuccess(Some(ok.unchecked_ref()));
        target.set_onerror(Some(err.unchecked_ref()));
    });
    JsFuture::from(promise).await.map_err(|_| failed())
}

async fn open() -> Result<IdbDatabase, String> {
    let factory = web_sys::window()
        .and_then(|w| w.indexed_db().ok().flatten())
        .ok_or_else(failed)?;
    let request = factory
        .open_with_u32(DB_NAME, DB_VERSION)
        .map_err(|_| failed())?;
    let upgrading = request.clone();
    let on_upgrade = Closure::once_into_js(move |_: web_sys::Event| {
        if let Ok(result) = upgrading.result() {
            let db: IdbDatabase = result.unchecked_into();
            let names = db.object_store_names();
            for store in [KEYS, SECRETS] {
                if !names.contains(store) {
                    let _ = db.create_object_store(store);
                }
            }
        }
    });
    request.set_onupgradeneeded(Some(on_upgrade.unchecked_ref()));
    Ok(done(&request).await?.unchecked_into())
}

/// True if this browser lets the app open its database (some private windows refuse it).
pub async fn available() -> bool {
    open().await.is_ok()
}

/// Stores `value` under `key`.
pub async fn put(store: &str, key: &str, value: &str) -> Result<(), String> {
    let db = open().await?;
    let tx = db
        .transaction_with_str_and_mode(store, IdbTransactionMode::Readwrite)
        .map_err(|_| failed())?;
    let request = tx
        .object_store(store)
        .and_then(|s| s.put_with_key(&JsValue::from_str(value), &JsValue::from_str(key)))
        .map_err(|_| failed())?;
    done(&request).await.map(|_| ())
}

/// The value under `key`, if any.
pub async fn get(store: &str, key: &str) -> Result<Option<String>, String> {
    let db = open().await?;
    let tx = db.transaction_with_str(store).map_err(|_| failed())?;
    let request = tx
        .object_store(store)
        .and_then(|s| s.get(&JsValue::from_str(key)))
        .map_err(|_| failed())?;
    Ok(done(&request).await?.as_string())
}

/// Every value of a store.
pub async fn all(store: &str) -> Result<Vec<String>, String> {
    let db = open().await?;
    let tx = db.transaction_with_str(store).map_err(|_| failed())?;
    let request = tx
        .object_store(store)
        .and_then(|s| s.get_all())
        .map_err(|_| failed())?;
    let values = done(&request).await?;
    Ok(Array::from(&values)
        .iter()
        .filter_map(|v| v.as_string())
        .collect())
}

/// Deletes `key`.
pub async fn delete(store: &str, key: &str) -> Result<(), String> {
    let db = open().await?;
    let tx = db
        .transaction_with_str_and_mode(store, IdbTransactionMode::Readwrite)
        .map_err(|_| failed())?;
    let request = tx
        .object_store(store)
        .and_then(|s| s.delete(&JsValue::from_str(key)))
        .map_err(|_| failed())?;
    done(&request).await.map(|_| ())
}

/// The patient's pseudonym secret: 32 random bytes made once and kept in this browser. Study
/// pseudonym keys are derived from it (`medseal_core::study::study_pseudonym_key`).
pub async fn patient_secret() -> Result<Vec<u8>, String> {
    let stored = get(SECRETS, "patient")
        .await?
        .and_then(|text| medseal_core::id::from_b64url(&text).ok())
        .filter(|bytes| bytes.len() == 32);
    if let Some(bytes) = stored {
        return Ok(bytes);
    }
    let fresh: [u8; 32] = medseal_core::id::random_bytes()
        .map_err(|_| "This browser's random number generator failed.".to_owned())?;
    put(SECRETS, "patient", &medseal_core::id::b64url(&fresh)).await?;
    Ok(fresh.to_vec())
}
