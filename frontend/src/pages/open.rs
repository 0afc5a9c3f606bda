//! The doctor's page for a link: read the key from the fragment (and clear it), download the
//! ciphertext, ask for the password if one was set, decrypt in the worker with progress, and
//! show the record.

use std::rc::Rc;

use js_sys::{Array, Object, Reflect, Uint8Array};
use wasm_bindgen::JsValue;
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

/// What the page holds between steps: the key from the fragment and the downloaded ciphertext.
#[derive(Default)]
struct Held {
    fragment: String,
    sealed: Option<Rc<Vec<u8>>>,
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
                match api::download_share(&id).await {
                    Ok(sealed) => {
                        let sealed = Rc::new(sealed);
                        held.borrow_mut().sealed = Some(sealed.clone());
                        let fragment = held.borrow().fragment.clone();
                        state.set(decrypt(&sealed, &fragment, "", &state).await);
                    }
                    Err(failure) => state.set(State::Failed(api::explain_share_failure(&failure))),
                }
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
            wasm_bindgen_futures::spawn_local(async move {
                state.set(State::Working {
                    what: "Decrypting".into(),
                    fraction: 0.0,
                });
                state.set(decrypt(&sealed, &fragment, &password, &state).await);
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

async fn decrypt(
    sealed: &[u8],
    fragment: &str,
    password: &str,
    state: &UseStateHandle<State>,
) -> State {
    let request = Object::new();
    set(&request, "op", &"open".into());
    set(&request, "sealed", &Uint8Array::from(sealed));
    set(&request, "fragment", &fragment.into());
    set(&request, "password", &password.into());
    let on_progress = {
        let state = state.clone();
        move |what: String, fraction: f64| state.set(State::Working { what, fraction })
    };
    match worker::run(&request, &Array::new(), on_progress, &Canceller::default()).await {
        Ok(answer) => {
            let files = Array::from(&get(&answer, "files"))
                .iter()
                .map(|f| {
                    let name = get(&f, "name").as_string().unwrap_or_default();
                    let media_type = get(&f, "type").as_string().unwrap_or_default();
                    let data = Uint8Array::new(&get(&f, "data")).to_vec();
                    let url = browser::object_url(&data, &media_type).unwrap_or_default();
                    OpenedFile {
                        name,
                        media_type,
                        masked: get(&f, "masked").as_bool().unwrap_or(false),
                        data: Rc::new(data),
                        url,
                    }
                })
                .collect();
            State::Opened(files)
        }
        Err(failure) => match failure.code.as_str() {
            "password_required" => State::NeedPassword { wrong: false },
            "wrong_password" => State::NeedPassword { wrong: true },
            _ => State::Failed(failure.message),
        },
    }
}
