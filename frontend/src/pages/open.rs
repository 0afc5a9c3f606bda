//! The doctor's page for a link: fetch the ciphertext, open it with the key from the fragment,
//! show the record and offer the original file.

use medseal_core::seal::{FileMeta, LinkKey, open};
use yew::prelude::*;

use crate::{api, browser};

#[derive(Properties, PartialEq)]
pub struct Props {
    pub id: String,
}

#[derive(Clone, PartialEq)]
enum State {
    Loading,
    Opened {
        meta: FileMeta,
        size: usize,
        text: Option<String>,
        url: String,
    },
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
                <p class="error" data-testid="error" role="alert">{ message }</p>
            </section>
        },
        State::Opened {
            meta,
            size,
            text,
            url,
        } => html! {
            <section data-testid="record-view" class="record">
                <h1>{ meta.name.clone() }</h1>
                <p class="meta">{ format!("{} · {} bytes", if meta.media_type.is_empty() { "file" } else { &meta.media_type }, size) }</p>
                <a class="primary" data-testid="download-original" href={url.clone()} download={meta.name.clone()}>
                    { "Download original" }
                </a>
                if let Some(text) = text {
                    <pre class="text-view">{ text.clone() }</pre>
                }
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
    let text = looks_textual(&meta, &data).then(|| String::from_utf8_lossy(&data).into_owned());
    Ok(State::Opened {
        size: data.len(),
        meta,
        text,
        url,
    })
}

fn looks_textual(meta: &FileMeta, data: &[u8]) -> bool {
    let textual_type = meta.media_type.starts_with("text/")
        || meta.media_type.contains("json")
        || meta.media_type.contains("xml");
    (textual_type || meta.media_type.is_empty())
        && data.len() <= 2 << 20
        && std::str::from_utf8(data).is_ok()
}
