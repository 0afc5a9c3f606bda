//! Opens a SMART Health Link: `{origin}/#shlink:/...` (the fragment is read, then cleared from
//! the address bar), or a link pasted on `/open`. The page asks for the passcode of a link with
//! flag `P` (the same controls as a MedSeal password), fetches and decrypts the files in this
//! browser and shows them in the record viewer with the link's label. Health cards are shown as
//! "signature not verified": MedSeal does not check issuers' keys.

use std::rc::Rc;

use medseal_core::shl::Link;
use yew::prelude::*;

use crate::browser;
use crate::components::record_view::{OpenedFile, RecordView};
use crate::shl;

#[derive(Clone, PartialEq)]
enum State {
    /// No link yet: a box to paste one in.
    Paste {
        error: Option<String>,
    },
    Working(String),
    NeedPasscode {
        wrong: Option<String>,
    },
    Opened(Vec<(OpenedFile, Option<String>)>),
    Failed(String),
}

#[derive(Default)]
struct Held {
    link: Option<Link>,
    allow_http: bool,
}

fn now() -> u64 {
    (js_sys::Date::now() / 1000.0) as u64
}

/// Starts on a parsed link: expired links and plain-http hosts stop here; a passcode link asks
/// first; any other is fetched at once.
async fn start(text: &str, state: &UseStateHandle<State>, held: &Rc<std::cell::RefCell<Held>>) {
    let link = match Link::parse(text) {
        Ok(link) => link,
        Err(e) => {
            return state.set(State::Failed(format!(
                "This SMART Health Link cannot be opened: {e}"
            )));
        }
    };
    if link.expired(now()) {
        return state.set(State::Failed(
            "This SMART Health Link has expired. Ask the person who shared it for a new one."
                .into(),
        ));
    }
    let allow_http = shl::config()
        .await
        .map(|c| c.shl_allow_http)
        .unwrap_or(false);
    if let Err(f) = shl::check_url(&link.url, allow_http) {
        return state.set(State::Failed(f.message()));
    }
    let needs_passcode = link.has_flag('P');
    {
        let mut held = held.borrow_mut();
        held.link = Some(link);
        held.allow_http = allow_http;
    }
    if needs_passcode {
        state.set(State::NeedPasscode { wrong: None });
    } else {
        fetch(None, state, held).await;
    }
}

async fn fetch(
    passcode: Option<String>,
    state: &UseStateHandle<State>,
    held: &Rc<std::cell::RefCell<Held>>,
) {
    let Some(link) = held.borrow().link.clone() else {
        return;
    };
    let allow_http = held.borrow().allow_http;
    state.set(State::Working("Downloading".into()));
    let fetched = match shl::fetch_files(&link, passcode.as_deref(), allow_http).await {
        Ok(f) => f,
        Err(shl::Failure::WrongPasscode(left)) if left != Some(0) => {
            return state.set(State::NeedPasscode {
                wrong: Some(shl::Failure::WrongPasscode(left).message()),
            });
        }
        Err(f) => return state.set(State::Failed(f.message())),
    };
    state.set(State::Working("Decrypting".into()));
    match shl::open_files(&link, fetched) {
        Ok(files) => state.set(State::Opened(files.into_iter().map(viewer_file).collect())),
        Err(f) => state.set(State::Failed(f.message())),
    }
}

fn viewer_file(file: shl::Opened) -> (OpenedFile, Option<String>) {
    let view_type = medseal_core::container::safe_blob_type(&file.data).to_owned();
    let url = browser::decrypted_view_url(&file.data).unwrap_or_default();
    let download_url =
        browser::object_url(&file.data, "application/octet-stream").unwrap_or_default();
    let note = file.card_issuer.map(|iss| {
        format!("SMART Health Card from {iss}: signature not verified. MedSeal did not check the issuer's key, so this card may have been changed or made by someone else.")
    });
    (
        OpenedFile {
            name: file.name,
            media_type: file.content_type,
            masked: false,
            size: file.data.len() as u64,
            data: Rc::new(file.data),
            url,
            view_type,
            download_url,
        },
        note,
    )
}

#[function_component(ShlOpenPage)]
pub fn shl_open_page() -> Html {
    let state = use_state(|| State::Working("Reading the link".into()));
    let held = use_mut_ref(Held::default);
    let passcode = use_state(String::new);
    let pasted = use_state(String::new);
    {
        let (state, held) = (state.clone(), held.clone());
        use_effect_with((), move |()| {
            let fragment = browser::take_fragment();
            wasm_bindgen_futures::spawn_local(async move {
                if fragment.contains(medseal_core::shl::SCHEME) {
                    start(&fragment, &state, &held).await;
                } else {
                    state.set(State::Paste { error: None });
                }
            });
        });
    }
    let label = held.borrow().link.as_ref().and_then(Link::display_label);
    let on_passcode = {
        let passcode = passcode.clone();
        Callback::from(move |event: InputEvent| {
            if let Some(input) = event.target_dyn_into::<web_sys::HtmlInputElement>() {
                passcode.set(input.value());
            }
        })
    };
    let on_unlock = {
        let (state, held, passcode) = (state.clone(), held.clone(), passcode.clone());
        Callback::from(move |event: SubmitEvent| {
            event.prevent_default();
            let (state, held, code) = (state.clone(), held.clone(), (*passcode).clone());
            if code.is_empty() {
                return state.set(State::NeedPasscode {
                    wrong: Some("Type the passcode first.".into()),
                });
            }
            wasm_bindgen_futures::spawn_local(
                async move { fetch(Some(code), &state, &held).await },
            );
        })
    };
    let on_pasted = {
        let pasted = pasted.clone();
        Callback::from(move |event: InputEvent| {
            if let Some(input) = event.target_dyn_into::<web_sys::HtmlInputElement>() {
                pasted.set(input.value());
            }
        })
    };
    let on_open = {
        let (state, held, pasted) = (state.clone(), held.clone(), pasted.clone());
        Callback::from(move |event: SubmitEvent| {
            event.prevent_default();
            let text = pasted.trim().to_owned();
            let (state, held) = (state.clone(), held.clone());
            if text.contains(medseal_core::shl::SCHEME) {
                state.set(State::Working("Reading the link".into()));
                wasm_bindgen_futures::spawn_local(async move { start(&text, &state, &held).await });
            } else if let Some(rest) = text.strip_prefix(&browser::origin())
                && (rest.starts_with("/s/") || rest.starts_with("/k/"))
            {
                // A MedSeal link of this server: open it as its own page.
                if let Some(window) = web_sys::window() {
                    let _ = window.location().assign(&text);
                }
            } else {
                state.set(State::Paste {
                    error: Some("That is not a SMART Health Link (shlink:/…) or a MedSeal link of this server.".into()),
                });
            }
        })
    };
    let label_view = match &label {
        Some(l) => html! { <p class="shl-label" data-testid="shl-label">{ l.clone() }</p> },
        None => html! {},
    };
    match &*state {
        State::Paste { error } => html! {
            <section>
                <h1>{ "Open a shared record" }</h1>
                <form onsubmit={on_open}>
                    <label for="link-input">{ "Paste a SMART Health Link (shlink:/…) or a MedSeal link" }</label>
                    <input id="link-input" data-testid="link-input" autocomplete="off" spellcheck="false" oninput={on_pasted} />
                    <button class="primary" type="submit" data-testid="link-open">{ "Open" }</button>
                </form>
                if let Some(e) = error { <p class="error" data-testid="error" role="alert">{ e.clone() }</p> }
            </section>
        },
        State::Working(what) => html! {
            <section aria-live="polite">
                <h1>{ "Opening a SMART Health Link" }</h1>
                { label_view }
                <p data-testid="progress">{ format!("{what}…") }</p>
            </section>
        },
        State::NeedPasscode { wrong } => html! {
            <section>
                <h1>{ "This link is protected by a passcode" }</h1>
                { label_view }
                <p>{ "The person who shared it will have told you the passcode separately. The link's host counts wrong passcodes and disables the link after too many." }</p>
                <form onsubmit={on_unlock}>
                    <label for="password">{ "Passcode" }</label>
                    <input id="password" type="password" data-testid="password-input" autocomplete="off" oninput={on_passcode} />
                    <button class="primary" type="submit" data-testid="password-submit">{ "Open record" }</button>
                </form>
                if let Some(w) = wrong { <p class="error" data-testid="error" role="alert">{ w.clone() }</p> }
            </section>
        },
        State::Failed(message) => html! {
            <section>
                <h1>{ "This link cannot be opened" }</h1>
                { label_view }
                <p class="error" data-testid="error" role="alert">{ message.clone() }</p>
            </section>
        },
        State::Opened(files) => html! {
            <section class="opened" aria-labelledby="h-opened">
                <h1 id="h-opened">{ "Shared record" }</h1>
                { label_view }
                <p class="sealed-note" role="status">
                    { format!("SMART Health Link decrypted in this browser: {} file{}.", files.len(), if files.len() == 1 { "" } else { "s" }) }
                </p>
                { for files.iter().map(|(file, note)| html! {
                    <>
                        if let Some(note) = note { <p class="warning" data-testid="shc-unverified" role="note">{ note.clone() }</p> }
                        <RecordView file={file.clone()} />
                    </>
                }) }
            </section>
        },
    }
}
