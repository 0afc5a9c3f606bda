//! Small wrappers over browser APIs that pages share.

use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

fn window() -> web_sys::Window {
    // The app only ever runs in a window; Trunk's loader guarantees it.
    web_sys::window().expect("MedSeal runs in a browser window")
}

/// True for the loopback names a browser may reach over plain http without anyone on the
/// network seeing the traffic: `localhost` (and `*.localhost`), `127.0.0.0/8` and `[::1]`.
#[must_use]
pub fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    if host == "localhost" || host.ends_with(".localhost") || host == "[::1]" || host == "::1" {
        return true;
    }
    match host.parse::<std::net::Ipv4Addr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => false,
    }
}

/// True if this page may handle secrets (keys, passwords, decrypted records): it is a secure
/// context (https), or plain http on loopback. Elsewhere, on plain http anyone on the network
/// could read or change the app itself, so the app refuses instead of falling back to
/// handling keys without WebCrypto.
pub fn may_handle_secrets() -> bool {
    let w = window();
    if w.is_secure_context() {
        return true;
    }
    is_loopback_host(&w.location().hostname().unwrap_or_default())
}

/// The current path, without query or fragment.
pub fn pathname() -> String {
    window().location().pathname().unwrap_or_default()
}

/// The page's origin, such as `http://127.0.0.1:8080`.
pub fn origin() -> String {
    window().location().origin().unwrap_or_default()
}

/// True if the fragment contains `needle` (read without removing it).
pub fn fragment_has(needle: &str) -> bool {
    window().location().hash().is_ok_and(|h| h.contains(needle))
}

/// Reads the fragment (without `#`) and removes it from the address bar and the history entry,
/// so the secret it carries is not left on screen or in the browser's history.
pub fn take_fragment() -> String {
    let location = window().location();
    let hash = location.hash().unwrap_or_default();
    let fragment = hash.strip_prefix('#').unwrap_or(&hash).to_owned();
    if !fragment.is_empty() {
        let path = location.pathname().unwrap_or_default();
        let search = location.search().unwrap_or_default();
        if let Ok(history) = window().history() {
            let _ = history.replace_state_with_url(
                &JsValue::NULL,
                "",
                Some(&format!("{path}{search}")),
            );
        }
    }
    fragment
}

/// Makes an object URL for bytes, for a download link or an inline view.
pub fn object_url(bytes: &[u8], media_type: &str) -> Result<String, String> {
    let array = js_sys::Uint8Array::from(bytes);
    let parts = js_sys::Array::of1(&array);
    let options = web_sys::BlobPropertyBag::new();
    options.set_type(if media_type.is_empty() {
        "application/octet-stream"
    } else {
        media_type
    });
    let blob = web_sys::Blob::new_with_u8_array_sequence_and_options(&parts, &options)
        .map_err(|_| "the browser could not hold the file".to_owned())?;
    web_sys::Url::create_object_url_with_blob(&blob)
        .map_err(|_| "the browser could not offer the file".to_owned())
}

/// An object URL for decrypted bytes, typed only by their magic bytes (PDF, PNG, JPEG, GIF,
/// WebP) and otherwise `application/octet-stream`, never by what the sender claimed: an HTML
/// or SVG file must not render as a page of this origin.
pub fn decrypted_view_url(bytes: &[u8]) -> Result<String, String> {
    object_url(bytes, medseal_core::container::safe_blob_type(bytes))
}

/// An `application/octet-stream` object URL of a Blob's bytes (no copy), for "Download
/// original": opened in a tab, the browser downloads it instead of rendering it.
pub fn download_url_of(blob: &web_sys::Blob) -> Result<String, String> {
    let octet = blob
        .slice_with_f64_and_f64_and_content_type(0.0, blob.size(), "application/octet-stream")
        .map_err(|_| "the browser could not hold the file".to_owned())?;
    web_sys::Url::create_object_url_with_blob(&octet)
        .map_err(|_| "the browser could not offer the file".to_owned())
}

/// Offers bytes as a download named `name` (an `application/octet-stream` Blob, so it never
/// renders), through a link clicked once and an object URL revoked a minute later.
pub fn download_bytes(bytes: &[u8], name: &str) -> Result<(), String> {
    let url = object_url(bytes, "application/octet-stream")?;
    let document = window()
        .document()
        .ok_or_else(|| "the page has no document".to_owned())?;
    let a: web_sys::HtmlAnchorElement = document
        .create_element("a")
        .map_err(|_| "the browser could not offer the file".to_owned())?
        .unchecked_into();
    a.set_href(&url);
    a.set_download(name);
    a.click();
    let revoke = wasm_bindgen::closure::Closure::once_into_js(move || revoke_url(&url));
    let _ = window()
        .set_timeout_with_callback_and_timeout_and_arguments_0(revoke.unchecked_ref(), 60_000);
    Ok(())
}

/// Lets go of an object URL made by this page (keys and decrypted files are not left
/// reachable once their view is gone).
pub fn revoke_url(url: &str) {
    if url.starts_with("blob:") {
        let _ = web_sys::Url::revoke_object_url(url);
    }
}

/// Copies text to the clipboard; resolves once done. Feature-detected: `navigator.clipboard`
/// is missing outside secure contexts and in some engines, and engines may refuse the write
/// (a permission, or no recent user gesture); each case gets a plain message.
pub async fn copy_to_clipboard(text: &str) -> Result<(), String> {
    let navigator = window().navigator();
    let clipboard =
        js_sys::Reflect::get(&navigator, &"clipboard".into()).unwrap_or(JsValue::UNDEFINED);
    let can_write = !clipboard.is_undefined()
        && !clipboard.is_null()
        && js_sys::Reflect::get(&clipboard, &"writeText".into()).is_ok_and(|f| f.is_function());
    if !can_write {
        return Err(
            "This browser does not let pages copy: select the link and copy it yourself.".into(),
        );
    }
    let clipboard: web_sys::Clipboard = clipboard.unchecked_into();
    JsFuture::from(clipboard.write_text(text))
        .await
        .map(|_| ())
        .map_err(|_| {
            "The browser refused to copy: select the link and copy it yourself.".to_owned()
        })
}

/// The files of an `<input type=file>` change event.
pub fn files_of(event: &web_sys::Event) -> Vec<web_sys::File> {
    let Some(input) = event
        .target()
        .and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok())
    else {
        return Vec::new();
    };
    let Some(list) = input.files() else {
        return Vec::new();
    };
    (0..list.length()).filter_map(|i| list.get(i)).collect()
}
