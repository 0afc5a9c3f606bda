//! Sharing to a doctor's published key, with no secret in the link at all. The patient opens
//! `/to/{fingerprint}` (the doctor hands it over, or its QR code), the browser fetches the key
//! and checks it has that fingerprint, seals the records to it and uploads them as a share. The
//! doctor opens `/k/{id}` and decrypts with the private key kept in their browser.

use std::rc::Rc;

use js_sys::{Array, Object, Uint8Array};
use yew::prelude::*;

use crate::components::record_view::{OpenedFile, RecordView};
use crate::study_ui::{self, Unlocked, get, request, set};
use crate::{api, api_study, browser};

#[derive(Properties, PartialEq)]
pub struct ToKeyProps {
    pub fingerprint: String,
}

#[derive(Clone, PartialEq)]
enum Key {
    Loading,
    Ready(Vec<u8>),
    Failed(String),
}

#[derive(Clone, PartialEq)]
enum Stage {
    Choosing,
    Working(String),
    Done { link: String, revoke: String },
    Failed(String),
}

#[function_component(ShareToKeyPage)]
pub fn share_to_key_page(props: &ToKeyProps) -> Html {
    let key = use_state(|| Key::Loading);
    let files = use_state(Vec::<web_sys::File>::new);
    let stage = use_state(|| Stage::Choosing);
    {
        let (key, fp) = (key.clone(), props.fingerprint.clone());
        use_effect_with((), move |()| {
            wasm_bindgen_futures::spawn_local(async move {
                key.set(match api_study::fetch_key(&fp).await {
                    Ok(der) if medseal_core::study::check_pinned_key(&der, &fp).is_ok() => {
                        Key::Ready(der)
                    }
                    Ok(_) => Key::Failed(
                        "Warning: the server sent a key that does not match this link. Do not share: ask the doctor for the link again.".into(),
                    ),
                    Err(f) => Key::Failed(f.message),
                });
            });
        });
    }
    let Key::Ready(der) = &*key else {
        return html! {
            <section>
                <h1>{ "Share with a doctor's key" }</h1>
                {
                    match &*key {
                        Key::Failed(m) => html! { <p class="error" data-testid="error" role="alert">{ m }</p> },
                        _ => html! { <p role="status">{ "Fetching the doctor's key…" }</p> },
                    }
                }
            </section>
        };
    };
    let on_files = {
        let files = files.clone();
        Callback::from(move |e: Event| files.set(browser::files_of(&e)))
    };
    let on_share = {
        let (files, stage, der) = (files.clone(), stage.clone(), der.clone());
        Callback::from(move |_| {
            if files.is_empty() {
                return;
            }
            let req = request("seal_rsa");
            let list = Array::new();
            for f in files.iter() {
                let entry = Object::new();
                set(&entry, "name", &f.name().into());
                set(&entry, "type", &f.type_().into());
                set(&entry, "file", f);
                list.push(&entry);
            }
            set(&req, "files", &list);
            set(&req, "spki", &Uint8Array::from(der.as_slice()));
            let stage = stage.clone();
            stage.set(Stage::Working("Encrypting to the doctor's key".into()));
            wasm_bindgen_futures::spawn_local(async move {
                let sealed = match study_ui::call(&req, &Array::new(), |_, _| {}).await {
                    Ok(answer) => Uint8Array::new(&get(&answer, "sealed")).to_vec(),
                    Err(f) => {
                        stage.set(Stage::Failed(f.message));
                        return;
                    }
                };
                stage.set(Stage::Working("Uploading".into()));
                let cancelled = Rc::new(std::cell::Cell::new(false));
                match api::upload_share(&sealed, 7 * 86_400, 10, |_| {}, &cancelled).await {
                    Ok(up) => stage.set(Stage::Done {
                        link: format!("{}/k/{}", browser::origin(), up.id),
                        revoke: format!(
                            "{}/revoke/{}#{}",
                            browser::origin(),
                            up.id,
                            up.revoke_token
                        ),
                    }),
                    Err(f) => stage.set(Stage::Failed(f.message)),
                }
            });
        })
    };
    html! {
        <section>
            <h1>{ "Share with a doctor's key" }</h1>
            <p>{ "Compare these digits with your doctor, aloud or on their screen, before sharing:" }</p>
            <p><strong class="digits" data-testid="doctor-key-digits">{ study_ui::digits(&props.fingerprint) }</strong></p>
            {
                match &*stage {
                    Stage::Done { link, revoke } => html! {
                        <div data-testid="shared-to-key" role="status">
                            <p>{ "Sealed to the doctor's key. Only the holder of its private key can open it; the link holds no secret." }</p>
                            <input class="link" readonly=true data-testid="share-link" value={link.clone()} />
                            <p><a data-testid="revoke-link" href={revoke.clone()}>{ "Private revoke link" }</a></p>
                        </div>
                    },
                    _ => html! {
                        <>
                            <input type="file" multiple=true data-testid="file-input" onchange={on_files} />
                            <button data-testid="share-button" disabled={files.is_empty() || matches!(*stage, Stage::Working(_))} onclick={on_share}>{ "Seal and share" }</button>
                            {
                                match &*stage {
                                    Stage::Working(m) => html! { <p role="status"><progress /> { m }</p> },
                                    Stage::Failed(m) => html! { <p class="error" data-testid="error" role="alert">{ m }</p> },
                                    _ => html! {},
                                }
                            }
                        </>
                    },
                }
            }
        </section>
    }
}

#[derive(Properties, PartialEq)]
pub struct OpenProps {
    pub id: String,
}

#[derive(Clone, PartialEq)]
enum Opened {
    Locked,
    Working,
    Files(Vec<OpenedFile>),
    Failed(String),
}

#[function_component(OpenWithKeyPage)]
pub fn open_with_key_page(props: &OpenProps) -> Html {
    let state = use_state(|| Opened::Locked);
    let on_unlocked = {
        let (state, id) = (state.clone(), props.id.clone());
        Callback::from(move |unlocked: Unlocked| {
            let (state, id) = (state.clone(), id.clone());
            state.set(Opened::Working);
            wasm_bindgen_futures::spawn_local(async move {
                let sealed = match api_study::download_share(&id).await {
                    Ok(s) => s,
                    Err(f) => {
                        state.set(Opened::Failed(api::explain_share_failure(&f)));
                        return;
                    }
                };
                let req = request("open_rsa");
                set(&req, "pkcs8", &Uint8Array::from(unlocked.pkcs8.as_slice()));
                set(&req, "sealed", &Uint8Array::from(sealed.as_slice()));
                match study_ui::call(&req, &Array::new(), |_, _| {}).await {
                    Ok(answer) => {
                        let files = Array::from(&get(&answer, "files"))
                            .iter()
                            .map(|f| {
                                let data = Uint8Array::new(&get(&f, "data")).to_vec();
                                let media_type = get(&f, "type").as_string().unwrap_or_default();
                                OpenedFile {
                                    name: get(&f, "name").as_string().unwrap_or_default(),
                                    // Typed by magic bytes, never by the sender's claim.
                                    url: browser::decrypted_view_url(&data).unwrap_or_default(),
                                    view_type: medseal_core::container::safe_blob_type(&data)
                                        .to_owned(),
                                    download_url: browser::object_url(
                                        &data,
                                        "application/octet-stream",
                                    )
                                    .unwrap_or_default(),
                                    media_type,
                                    masked: get(&f, "masked").as_bool().unwrap_or(false),
                                    size: data.len() as u64,
                                    data: Rc::new(data),
                                }
                            })
                            .collect();
                        state.set(Opened::Files(files));
                    }
                    Err(f) => state.set(Opened::Failed(f.message)),
                }
            });
        })
    };
    html! {
        <section>
            <h1>{ "A record shared to your key" }</h1>
            {
                match &*state {
                    Opened::Locked => html! {
                        <study_ui::KeyUnlock purpose="This record was sealed to a key. Unlock your key to open it on this device." on_unlocked={on_unlocked} />
                    },
                    Opened::Working => html! { <p role="status">{ "Downloading and decrypting…" }</p> },
                    Opened::Failed(m) => html! { <p class="error" data-testid="error" role="alert">{ m }</p> },
                    Opened::Files(files) => html! {
                        <div data-testid="record-view-list">
                            { for files.iter().map(|file| html! { <RecordView file={file.clone()} /> }) }
                        </div>
                    },
                }
            }
        </section>
    }
}
