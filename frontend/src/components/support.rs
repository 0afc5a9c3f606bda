//! What this browser can and cannot do for MedSeal, said in plain words when something is
//! missing. Every check is feature detection (the API is there and answers), never a guess from
//! the browser's name, so a new or unusual browser gets the same treatment as a known one.

use js_sys::Reflect;
use wasm_bindgen::JsValue;
use yew::prelude::*;

/// One capability this browser lacks, and what it means for the person using it.
#[derive(Clone, PartialEq)]
struct Missing {
    /// A stable name, for tests and screen readers' context (`data-feature`).
    feature: &'static str,
    what: &'static str,
    consequence: &'static str,
}

fn is_present(target: &JsValue, name: &str) -> bool {
    Reflect::get(target, &name.into()).is_ok_and(|v| !v.is_undefined() && !v.is_null())
}

/// The checks that need no waiting: background workers, WebCrypto, reading files as streams.
fn missing_now() -> Vec<Missing> {
    let global = js_sys::global();
    let mut out = Vec::new();
    if !is_present(&global, "Worker") {
        out.push(Missing {
            feature: "workers",
            what: "Background work (Web Workers)",
            consequence: "MedSeal seals, masks and opens records in the background and cannot do it in this browser: sharing, opening, keys and studies do not work here. Please use a current Chrome, Edge, Firefox or Safari.",
        });
    }
    let subtle = Reflect::get(&global, &"crypto".into())
        .and_then(|crypto| Reflect::get(&crypto, &"subtle".into()))
        .is_ok_and(|s| !s.is_undefined() && !s.is_null());
    if !subtle {
        out.push(Missing {
            feature: "webcrypto",
            what: "The browser's own encryption (WebCrypto)",
            consequence: "MedSeal uses its built-in encryption instead. Everything works, but large files and new keys take longer.",
        });
    }
    let streams = Reflect::get(&global, &"Blob".into())
        .and_then(|blob| Reflect::get(&blob, &"prototype".into()))
        .and_then(|proto| Reflect::get(&proto, &"stream".into()))
        .is_ok_and(|f| f.is_function());
    if !streams {
        out.push(Missing {
            feature: "streams",
            what: "Reading files piece by piece (Blob streams)",
            consequence: "Files cannot be shared from this browser, since they are read as a stream; opening records still works.",
        });
    }
    out
}

/// The storage check: IndexedDB must exist and let the app open its database (private windows
/// in some browsers have it and refuse to open it).
async fn missing_storage() -> Option<Missing> {
    if crate::idb::available().await {
        return None;
    }
    Some(Missing {
        feature: "storage",
        what: "Keeping data on this device (IndexedDB)",
        consequence: "This browser does not let MedSeal keep anything on this device (private windows may block it). Sharing and opening records work. Keys made here cannot be kept, so export the key file at once, and contributing to a study needs a normal window.",
    })
}

/// The disk check: the origin's private file system must open (it throws in Firefox's and
/// Safari's private windows), or large records are opened in memory (`opfs.rs`).
async fn missing_disk() -> Option<Missing> {
    if crate::opfs::available().await {
        return None;
    }
    Some(Missing {
        feature: "disk",
        what: "Opening large records onto this device's disk (the private file system)",
        consequence: "Records are opened in the browser's memory instead. Everything works, but a very large file (hundreds of megabytes, on a phone especially) may not open here; a normal window can open it.",
    })
}

/// Says what does not work in this browser, if anything; renders nothing when all is there.
#[function_component(BrowserSupport)]
pub fn browser_support() -> Html {
    let missing = use_state(missing_now);
    {
        let missing = missing.clone();
        use_effect_with((), move |()| {
            wasm_bindgen_futures::spawn_local(async move {
                let mut all = (*missing).clone();
                let before = all.len();
                all.extend(missing_storage().await);
                all.extend(missing_disk().await);
                if all.len() > before {
                    missing.set(all);
                }
            });
        });
    }
    if missing.is_empty() {
        return html! {};
    }
    html! {
        <section class="note support" data-testid="browser-support" role="note">
            <h2>{ "What does not work in this browser" }</h2>
            <ul>
                { for missing.iter().map(|m| html! {
                    <li data-testid="support-missing" data-feature={m.feature}>
                        <strong>{ m.what }</strong>{ ": " }{ m.consequence }
                    </li>
                }) }
            </ul>
            <p>{ "Everything else works here." }</p>
        </section>
    }
}
