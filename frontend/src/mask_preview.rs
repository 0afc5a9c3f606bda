//! The change list of a masked file, as the workers hand it to the page for the side-by-side
//! preview. It travels only between this origin's worker and page (postMessage), never to the
//! server: it holds the patient's own identifiers.
//!
//! Included by the page (`main.rs`) and by both workers (`#[path]`), so the two ends agree.

use std::rc::Rc;

use js_sys::{Object, Reflect};
use medseal_core::mask::{Change, MaskPreview};
use wasm_bindgen::JsValue;

/// The most changes listed for one file; the rest are counted. A large Bundle makes thousands
/// of changes of the same few kinds, and the page should stay quick to render.
pub const PREVIEW_CHANGES: usize = 2_000;

/// Puts the change list on a worker's answer for one file (`changes` as JSON, `omitted`).
pub fn set_preview(out: &Object, preview: &MaskPreview) {
    let json = serde_json::to_string(&preview.changes).unwrap_or_else(|_| "[]".into());
    let _ = Reflect::set(out, &"changes".into(), &json.into());
    let _ = Reflect::set(out, &"omitted".into(), &(preview.omitted as f64).into());
}

/// Reads what [`set_preview`] put on a file of a worker's answer.
pub fn read_preview(file: &JsValue) -> (Rc<Vec<Change>>, u64) {
    let get = |key: &str| Reflect::get(file, &key.into()).unwrap_or(JsValue::UNDEFINED);
    let changes = get("changes")
        .as_string()
        .and_then(|json| serde_json::from_str(&json).ok())
        .unwrap_or_default();
    let omitted = get("omitted").as_f64().map_or(0, |n| n as u64);
    (Rc::new(changes), omitted)
}
