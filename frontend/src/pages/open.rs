//! The doctor's page for a link: fetch the ciphertext, open it with the key from the fragment,
//! show the record and offer the original file.

use std::rc::Rc;

use medseal_core::seal::{LinkKey, open};
use yew::prelude::*;

use crate::components::record_view::{OpenedFile, RecordView};
use crate::{api, browser};

#[derive(Properties, PartialEq)]
pub struct Props {
    pub id: String,
}

#[derive(Clone, PartialEq)]
enum State {
    Loading,
    Opened(Vec<OpenedFile>),
    Failed(String),
}

#[function_component(OpenPage)]
pub fn open_page(props: &Props) -> Html {
    let state = use_state(|| State::Loading);
    {
        let state = state.clone();
        let id = props.id.clone();
        use_effect_with((), move |()| {
            // Read the key before anything else and clear it from the address bar.
            let fragment = browser::take_fragment();
            wasm_bindgen_futures::spawn_local(async move {
                state.set(load(&id, &fragment).await.unwrap_or_else(State::Failed));
            });
        });
    }
    match &*state {
        State::Loading => {
            html! { <p aria-live="polite">{ "Downloading and decrypting the record…" }</p> }
        }
        State::Failed(message) => html! {
            <section>
                <h1>{ "This record cannot be opened" }</h1>
                <p class="error" data-testid="error" role="alert">{ message.clone() }</p>
            </section>
        },
        State::Opened(files) => html! {
            <section class="opened">
                <h1>{ "Shared record" }</h1>
                <p class="sealed-note" role="status">
                    { format!("Decrypted in this browser: {} file{}.", files.len(), if files.len() == 1 { "" } else { "s" }) }
                </p>
                { for files.iter().map(|file| html! { <RecordView file={file.clone()} /> }) }
            </section>
        },
    }
}

async fn load(id: &str, fragment: &str) -> Result<State, String> {
    let key = LinkKey::from_fragment(fragment).map_err(|_| {
        "This link is incomplete: the part after # that holds the key is missing or damaged."
            .to_owned()
    })?;
    let sealed = api::download_share(id)
        .await
        .map_err(|f| api::explain_share_failure(&f))?;
    let (meta, data) = open(&key, &sealed).map_err(|_| {
        "The record could not be decrypted: the link's key is wrong or the data was altered."
            .to_owned()
    })?;
    let url = browser::object_url(&data, &meta.media_type)?;
    Ok(State::Opened(vec![OpenedFile {
        name: meta.name,
        media_type: meta.media_type,
        data: Rc::new(data),
        url,
    }]))
}
