//! What the key and study pages share: the study worker, form helpers, and the component that
//! picks a stored key and unlocks it with its passphrase.

use js_sys::{Array, Object, Reflect};
use medseal_core::keystore::StoredKey;
use wasm_bindgen::{JsCast, JsValue};
use yew::prelude::*;

use crate::idb;
use crate::worker::{Canceller, JobFailure, run_with};

/// Built by Trunk from `src/bin/medseal-study-worker.rs` (see index.html).
pub const STUDY_WORKER_URL: &str = "/medseal-study-worker_loader.js";

/// Runs one request on a fresh study worker.
pub async fn call(
    request: &Object,
    transfer: &Array,
    on_progress: impl Fn(String, f64) + 'static,
) -> Result<JsValue, JobFailure> {
    run_with(
        STUDY_WORKER_URL,
        request,
        transfer,
        on_progress,
        &Canceller::default(),
    )
    .await
}

/// Sets a member of a JavaScript object.
pub fn set(object: &Object, key: &str, value: &JsValue) {
    let _ = Reflect::set(object, &JsValue::from_str(key), value);
}

/// Reads a member of a JavaScript object.
pub fn get(object: &JsValue, key: &str) -> JsValue {
    Reflect::get(object, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

/// A request object with its `op`.
pub fn request(op: &str) -> Object {
    let object = Object::new();
    set(&object, "op", &op.into());
    set(&object, "now", &now().into());
    object
}

/// Now, Unix seconds.
pub fn now() -> f64 {
    (js_sys::Date::now() / 1000.0).floor()
}

/// The value of the input or textarea or select an event came from.
pub fn value_of(event: &Event) -> String {
    let Some(target) = event.target() else {
        return String::new();
    };
    if let Some(input) = target.dyn_ref::<web_sys::HtmlInputElement>() {
        return input.value();
    }
    if let Some(area) = target.dyn_ref::<web_sys::HtmlTextAreaElement>() {
        return area.value();
    }
    if let Some(select) = target.dyn_ref::<web_sys::HtmlSelectElement>() {
        return select.value();
    }
    String::new()
}

/// A text input bound to a state.
pub fn bind(state: &UseStateHandle<String>) -> Callback<InputEvent> {
    let state = state.clone();
    Callback::from(move |e: InputEvent| state.set(value_of(&e)))
}

/// A select or checkbox change bound to a state.
pub fn bind_change(state: &UseStateHandle<String>) -> Callback<Event> {
    let state = state.clone();
    Callback::from(move |e: Event| state.set(value_of(&e)))
}

/// The stored keys of this browser.
pub async fn stored_keys() -> Result<Vec<StoredKey>, String> {
    Ok(idb::all(idb::KEYS)
        .await?
        .iter()
        .filter_map(|s| serde_json::from_str(s).ok())
        .collect())
}

/// An unlocked private key, held in the page's memory until it is closed.
#[derive(Clone, PartialEq)]
pub struct Unlocked {
    /// PKCS#8 DER.
    pub pkcs8: Vec<u8>,
    /// PKCS#8 PEM (what the `medseal` tool reads).
    pub pem: String,
    /// The stored record (public key, fingerprint, label).
    pub stored: StoredKey,
}

/// Unlocks a stored key in the worker.
pub async fn unlock(stored: &StoredKey, passphrase: &str) -> Result<Unlocked, String> {
    let req = request("unlock");
    let json = serde_json::to_string(stored).map_err(|e| e.to_string())?;
    set(&req, "stored", &json.into());
    set(&req, "passphrase", &passphrase.into());
    let answer = call(&req, &Array::new(), |_, _| {})
        .await
        .map_err(|f| f.message)?;
    Ok(Unlocked {
        pkcs8: js_sys::Uint8Array::new(&get(&answer, "pkcs8")).to_vec(),
        pem: get(&answer, "pem").as_string().unwrap_or_default(),
        stored: stored.clone(),
    })
}

#[derive(Properties, PartialEq)]
pub struct UnlockProps {
    /// What the key is needed for, in words.
    pub purpose: AttrValue,
    pub on_unlocked: Callback<Unlocked>,
    /// Only offer the key with this fingerprint (base64url), if given.
    #[prop_or_default]
    pub only: Option<String>,
}

/// Lists this browser's keys and unlocks the chosen one.
#[function_component(KeyUnlock)]
pub fn key_unlock(props: &UnlockProps) -> Html {
    let keys = use_state(|| None::<Result<Vec<StoredKey>, String>>);
    let chosen = use_state(String::new);
    let passphrase = use_state(String::new);
    let working = use_state(|| false);
    let error = use_state(|| None::<String>);
    {
        let keys = keys.clone();
        let chosen = chosen.clone();
        let only = props.only.clone();
        use_effect_with((), move |()| {
            wasm_bindgen_futures::spawn_local(async move {
                let loaded = stored_keys().await.map(|list| {
                    list.into_iter()
                        .filter(|k| only.as_ref().is_none_or(|o| *o == k.fingerprint))
                        .collect::<Vec<_>>()
                });
                if let Some(first) = loaded.as_ref().ok().and_then(|list| list.first()) {
                    chosen.set(first.fingerprint.clone());
                }
                keys.set(Some(loaded));
            });
        });
    }
    let on_unlock = {
        let keys = keys.clone();
        let chosen = chosen.clone();
        let passphrase = passphrase.clone();
        let working = working.clone();
        let error = error.clone();
        let on_unlocked = props.on_unlocked.clone();
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let Some(Ok(list)) = &*keys else { return };
            let Some(stored) = list.iter().find(|k| k.fingerprint == *chosen).cloned() else {
                return;
            };
            let (passphrase, working, error, on_unlocked) = (
                (*passphrase).clone(),
                working.clone(),
                error.clone(),
                on_unlocked.clone(),
            );
            working.set(true);
            error.set(None);
            wasm_bindgen_futures::spawn_local(async move {
                match unlock(&stored, &passphrase).await {
                    Ok(unlocked) => on_unlocked.emit(unlocked),
                    Err(message) => error.set(Some(message)),
                }
                working.set(false);
            });
        })
    };
    let body = match &*keys {
        None => html! { <p>{ "Looking for your keys…" }</p> },
        Some(Err(message)) => {
            html! { <p class="error" data-testid="error" role="alert">{ message }</p> }
        }
        Some(Ok(list)) if list.is_empty() => html! {
            <p data-testid="no-keys" class="error" role="alert">
                { "No key on this device fits. " }<a href="/keys">{ "Create or import a key" }</a>{ " first." }
            </p>
        },
        Some(Ok(list)) => html! {
            <form class="unlock" onsubmit={on_unlock}>
                <label>{ "Key " }
                    <select data-testid="key-select" onchange={bind_change(&chosen)}>
                        { for list.iter().map(|k| html! {
                            <option value={k.fingerprint.clone()} selected={*chosen == k.fingerprint}>
                                { format!("{} ({})", k.label, short_fingerprint(&k.fingerprint)) }
                            </option>
                        }) }
                    </select>
                </label>
                <label>{ " Passphrase " }
                    <input type="password" data-testid="unlock-passphrase" autocomplete="current-password"
                           value={(*passphrase).clone()} oninput={bind(&passphrase)} />
                </label>
                <button type="submit" data-testid="unlock-button" disabled={*working}>
                    { if *working { "Unlocking…" } else { "Unlock" } }
                </button>
                if let Some(message) = &*error {
                    <p class="error" data-testid="error" role="alert">{ message }</p>
                }
            </form>
        },
    };
    html! {
        <div class="key-unlock">
            <p>{ props.purpose.clone() }</p>
            { body }
        </div>
    }
}

/// The spoken form of a base64url fingerprint.
pub fn digits(fingerprint: &str) -> String {
    medseal_core::pki::Fingerprint::parse(fingerprint)
        .map(|f| f.to_digits())
        .unwrap_or_default()
}

/// The first digits group, to tell keys apart in a list.
pub fn short_fingerprint(fingerprint: &str) -> String {
    digits(fingerprint)
        .split(' ')
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}
