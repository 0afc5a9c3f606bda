//! The doctor's page for a link: read the key from the fragment (and clear it), then let the
//! worker download the ciphertext as a stream and decrypt it as it arrives, into Blobs (a large
//! file on disk, in the origin's private file system, removed when this page goes); ask for
//! the password if one was set (the worker hands back the downloaded ciphertext, so it is not
//! downloaded twice); show the record. Large files are offered for download from their Blob and
//! never copied into the page's memory.

use std::rc::Rc;

use js_sys::{Array, Object, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use yew::prelude::*;

use crate::components::record_view::{OpenedFile, RecordView};
use crate::worker::{self, Canceller};
use crate::{api, browser};

#[derive(Properties, PartialEq)]
pub struct Props {
    pub id: String,
}

#[derive(Clone, PartialEq)]
enum State {
    Working { what: String, fraction: f64 },
    NeedPassword { wrong: bool },
    Opened(Vec<OpenedFile>),
    Failed(String),
}

/// Files up to this size are read into the page for the record viewer; larger ones are only
/// offered for download, from their Blob.
const VIEW_LIMIT: f64 = 32.0 * 1024.0 * 1024.0;

/// What the page holds between steps: the key from the fragment and, for a password-protected
/// record, the downloaded ciphertext (a Blob).
#[derive(Default)]
struct Held {
    fragment: String,
    sealed: Option<web_sys::Blob>,
    /// The file of the origin's private file system behind `sealed`, if any.
    sealed_stored: Option<crate::opfs::Kept>,
    /// Files of the origin's private file system behind the opened files' Blobs: removed when
    /// this page goes away (`opfs.rs`).
    stored: Vec<crate::opfs::Kept>,
}

/// Removes the page's files from the origin's private file system.
fn remove_stored(held: &Rc<std::cell::RefCell<Held>>) {
    for kept in std::mem::take(&mut held.borrow_mut().stored) {
        kept.remove();
    }
    if let Some(kept) = held.borrow_mut().sealed_stored.take() {
        kept.remove();
    }
}

#[function_component(OpenPage)]
pub fn open_page(props: &Props) -> Html {
    let state = use_state(|| State::Working {
        what: "Downloading".into(),
        fraction: 0.0,
    });
    let held = use_mut_ref(Held::default);
    let password = use_state(String::new);
    {
        // Opened files kept on disk go when the record's page does: on leaving it in the app,
        // and on closing or reloading the tab (a removal cut short there is finished by a later
        // opening's sweep).
        let held = held.clone();
        use_effect_with((), move |()| {
            let on_hide = {
                let held = held.clone();
                wasm_bindgen::closure::Closure::<dyn Fn()>::new(move || remove_stored(&held))
            };
            let window = web_sys::window();
            if let Some(window) = &window {
                let _ = window
                    .add_event_listener_with_callback("pagehide", on_hide.as_ref().unchecked_ref());
            }
            move || {
                if let Some(window) = &window {
                    let _ = window.remove_event_listener_with_callback(
                        "pagehide",
                        on_hide.as_ref().unchecked_ref(),
                    );
                }
                remove_stored(&held);
            }
        });
    }
    {
        let (state, held, id) = (state.clone(), held.clone(), props.id.clone());
        use_effect_with((), move |()| {
            // Read the key before anything else and clear it from the address bar.
            held.borrow_mut().fragment = browser::take_fragment();
            wasm_bindgen_futures::spawn_local(async move {
                if held.borrow().fragment.is_empty() {
                    return state.set(State::Failed(
                        "This link is incomplete: the part after # that holds the key is missing."
                            .into(),
                    ));
                }
                let fragment = held.borrow().fragment.clone();
                let source = Source::Download(id);
                state.set(decrypt(source, &fragment, "", &state, &held).await);
            });
        });
    }
    let on_password = {
        let password = password.clone();
        Callback::from(move |event: InputEvent| {
            if let Some(input) = event.target_dyn_into::<web_sys::HtmlInputElement>() {
                password.set(input.value());
            }
        })
    };
    let on_unlock = {
        let (state, held, password) = (state.clone(), held.clone(), password.clone());
        Callback::from(move |event: SubmitEvent| {
            event.prevent_default();
            let (state, password) = (state.clone(), (*password).clone());
            let (sealed, fragment) = (held.borrow().sealed.clone(), held.borrow().fragment.clone());
            let Some(sealed) = sealed else { return };
            let held = held.clone();
            wasm_bindgen_futures::spawn_local(async move {
                state.set(State::Working {
                    what: "Decrypting".into(),
                    fraction: 0.0,
                });
                let source = Source::Sealed(sealed);
                state.set(decrypt(source, &fragment, &password, &state, &held).await);
            });
        })
    };
    match &*state {
        State::Working { what, fraction } => html! {
            <section aria-live="polite">
                <h1>{ "Opening a shared record" }</h1>
                <label for="progress">{ format!("{what}… {:.0}%", fraction * 100.0) }</label>
                <progress id="progress" data-testid="progress" max="1" value={fraction.to_string()} />
            </section>
        },
        State::NeedPassword { wrong } => html! {
            <section>
                <h1>{ "This record is protected by a password" }</h1>
                <p>{ "The person who shared it will have told you the password separately." }</p>
                <form onsubmit={on_unlock}>
                    <label for="password">{ "Password" }</label>
                    <input id="password" type="password" data-testid="password-input" autocomplete="off" oninput={on_password} />
                    <button class="primary" type="submit" data-testid="password-submit">{ "Open record" }</button>
                </form>
                if *wrong { <p class="error" data-testid="error" role="alert">{ "That password is wrong. Check it with the person who shared the record." }</p> }
            </section>
        },
        State::Failed(message) => html! {
            <section>
                <h1>{ "This record cannot be opened" }</h1>
                <p class="error" data-testid="error" role="alert">{ message.clone() }</p>
            </section>
        },
        State::Opened(files) => html! {
            <section class="opened" aria-labelledby="h-opened">
                <h1 id="h-opened">{ "Shared record" }</h1>
                <p class="sealed-note" role="status">
                    { format!("Decrypted in this browser: {} file{}.", files.len(), if files.len() == 1 { "" } else { "s" }) }
                    if files.iter().any(|f| f.masked) { { " Masked by the patient: identifiers were removed before sharing." } }
                </p>
                { for files.iter().map(|file| html! { <RecordView file={file.clone()} /> }) }
            </section>
        },
    }
}

fn set(object: &Object, key: &str, value: &JsValue) {
    let _ = Reflect::set(object, &JsValue::from_str(key), value);
}

fn get(object: &JsValue, key: &str) -> JsValue {
    Reflect::get(object, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

/// Where the worker gets the ciphertext.
enum Source {
    /// Downloads `/api/shares/{id}` itself, as a stream.
    Download(String),
    /// Ciphertext downloaded before (a password-protected record).
    Sealed(web_sys::Blob),
}

async fn decrypt(
    source: Source,
    fragment: &str,
    password: &str,
    state: &UseStateHandle<State>,
    held: &Rc<std::cell::RefCell<Held>>,
) -> State {
    let request = Object::new();
    set(&request, "op", &"open".into());
    match &source {
        Source::Download(id) => set(&request, "id", &id.clone().into()),
        Source::Sealed(blob) => set(&request, "sealed", blob),
    }
    set(&request, "fragment", &fragment.into());
    set(&request, "password", &password.into());
    let on_progress = {
        let state = state.clone();
        move |what: String, fraction: f64| state.set(State::Working { what, fraction })
    };
    match worker::run(&request, &Array::new(), on_progress, &Canceller::default()).await {
        Ok(answer) if get(&answer, "type").as_string().as_deref() == Some("need_password") => {
            let sealed = get(&answer, "sealed");
            if sealed.is_instance_of::<web_sys::Blob>() {
                held.borrow_mut().sealed = Some(sealed.unchecked_into());
                if let Some(name) = get(&answer, "stored").as_string() {
                    held.borrow_mut().sealed_stored = crate::opfs::Kept::take(name).await;
                }
            } else if let Source::Sealed(blob) = source {
                held.borrow_mut().sealed = Some(blob);
            }
            State::NeedPassword { wrong: false }
        }
        Ok(answer) => {
            // The ciphertext kept for the password is no longer needed.
            let sealed_stored = {
                let mut held = held.borrow_mut();
                held.sealed = None;
                held.sealed_stored.take()
            };
            if let Some(kept) = sealed_stored {
                kept.remove();
            }
            let mut files = Vec::new();
            for f in Array::from(&get(&answer, "files")).iter() {
                let name = get(&f, "name").as_string().unwrap_or_default();
                let media_type = get(&f, "claimed").as_string().unwrap_or_default();
                let blob: web_sys::Blob = get(&f, "blob").unchecked_into();
                if let Some(stored) = get(&f, "stored").as_string()
                    && let Some(kept) = crate::opfs::Kept::take(stored).await
                {
                    held.borrow_mut().stored.push(kept);
                }
                // The worker typed the Blob by its magic bytes alone (or octet-stream).
                let view_type = blob.type_();
                let url = web_sys::Url::create_object_url_with_blob(&blob).unwrap_or_default();
                let download_url = browser::download_url_of(&blob).unwrap_or_default();
                let size = blob.size() as u64;
                let data = if blob.size() <= VIEW_LIMIT {
                    match JsFuture::from(blob.array_buffer()).await {
                        Ok(buffer) => Uint8Array::new(&buffer).to_vec(),
                        Err(_) => Vec::new(),
                    }
                } else {
                    Vec::new()
                };
                files.push(OpenedFile {
                    name,
                    media_type,
                    masked: get(&f, "masked").as_bool().unwrap_or(false),
                    size,
                    data: Rc::new(data),
                    url,
                    view_type,
                    download_url,
                });
            }
            State::Opened(files)
        }
        Err(failure) => match failure.code.as_str() {
            "password_required" => State::NeedPassword { wrong: false },
            "wrong_password" => State::NeedPassword { wrong: true },
            "not_found" | "bad_id" | "expired" | "used_up" | "revoked" => {
                State::Failed(api::explain_share_failure(&api::ApiFailure {
                    code: failure.code,
                    message: failure.message,
                }))
            }
            _ => State::Failed(failure.message),
        },
    }
}
