//! The patient's page: pick a record, seal it in the browser, upload only ciphertext, get a link.

use medseal_core::seal::{FileMeta, LinkKey, seal};
use yew::prelude::*;

use crate::{api, browser};

/// Expiry choices offered to the patient, in seconds.
const EXPIRIES: &[(u64, &str)] = &[
    (3_600, "1 hour"),
    (86_400, "1 day"),
    (7 * 86_400, "7 days"),
    (30 * 86_400, "30 days"),
];

#[derive(Clone, PartialEq)]
enum Stage {
    Choosing,
    Working { what: String, fraction: f64 },
    Done { link: String, revoke_link: String },
    Failed(String),
}

#[function_component(SharePage)]
pub fn share_page() -> Html {
    let files = use_state(Vec::<web_sys::File>::new);
    let expires_in = use_state(|| 86_400u64);
    let max_downloads = use_state(|| 5u32);
    let stage = use_state(|| Stage::Choosing);
    let copied = use_state(|| false);

    let on_files = {
        let files = files.clone();
        Callback::from(move |event: Event| files.set(browser::files_of(&event)))
    };
    let on_expiry = {
        let expires_in = expires_in.clone();
        Callback::from(move |event: Event| {
            if let Some(value) = select_value(&event).and_then(|v| v.parse().ok()) {
                expires_in.set(value);
            }
        })
    };
    let on_downloads = {
        let max_downloads = max_downloads.clone();
        Callback::from(move |event: Event| {
            if let Some(value) = select_value(&event).and_then(|v| v.parse().ok()) {
                max_downloads.set(value);
            }
        })
    };
    let on_share = {
        let files = files.clone();
        let stage = stage.clone();
        let expires_in = *expires_in;
        let max_downloads = *max_downloads;
        Callback::from(move |_| {
            let Some(file) = files.first().cloned() else {
                stage.set(Stage::Failed("Choose a file to share first.".into()));
                return;
            };
            let stage = stage.clone();
            wasm_bindgen_futures::spawn_local(async move {
                stage.set(Stage::Working {
                    what: "Reading".into(),
                    fraction: 0.0,
                });
                match share_file(&file, expires_in, max_downloads, &stage).await {
                    Ok(done) => stage.set(done),
                    Err(message) => stage.set(Stage::Failed(message)),
                }
            });
        })
    };

    let result = match &*stage {
        Stage::Choosing => html! {},
        Stage::Working { what, fraction } => html! {
            <div class="progress-box" aria-live="polite">
                <label for="progress">{ what }</label>
                <progress id="progress" data-testid="progress" max="1" value={fraction.to_string()} />
            </div>
        },
        Stage::Failed(message) => {
            html! { <p class="error" data-testid="error" role="alert">{ message }</p> }
        }
        Stage::Done { link, revoke_link } => {
            let on_copy = {
                let link = link.clone();
                let copied = copied.clone();
                Callback::from(move |_| {
                    let link = link.clone();
                    let copied = copied.clone();
                    wasm_bindgen_futures::spawn_local(async move {
                        copied.set(browser::copy_to_clipboard(&link).await.is_ok());
                    });
                })
            };
            html! {
                <div class="result" aria-live="polite">
                    <h2>{ "Your record is sealed and shared" }</h2>
                    <label for="share-link">{ "Send this link to your doctor. Anyone with it can open the record." }</label>
                    <div class="link-row">
                        <input id="share-link" data-testid="share-link" readonly=true value={link.clone()} />
                        <button onclick={on_copy} data-testid="copy-link">{ if *copied { "Copied" } else { "Copy" } }</button>
                    </div>
                    <p class="private">
                        { "Keep this private link to delete the share at any time: " }
                        <a data-testid="revoke-link" href={revoke_link.clone()}>{ "revoke link" }</a>
                    </p>
                </div>
            }
        }
    };
    let busy = matches!(*stage, Stage::Working { .. });

    html! {
        <section class="share">
            <h1>{ "Share a health record" }</h1>
            <p>{ "Your file is encrypted in this browser before anything is sent. The key travels only in the link you send, after the #, which browsers never send to servers." }</p>
            <div class="field">
                <label for="file">{ "Record to share" }</label>
                <input id="file" type="file" data-testid="file-input" onchange={on_files} disabled={busy} />
            </div>
            <div class="options">
                <div class="field">
                    <label for="expiry">{ "Link expires after" }</label>
                    <select id="expiry" data-testid="expiry" onchange={on_expiry}>
                        { for EXPIRIES.iter().map(|(secs, label)| html! {
                            <option value={secs.to_string()} selected={*secs == *expires_in}>{ *label }</option>
                        }) }
                    </select>
                </div>
                <div class="field">
                    <label for="downloads">{ "Downloads allowed" }</label>
                    <select id="downloads" data-testid="max-downloads" onchange={on_downloads}>
                        { for [1u32, 2, 5, 10, 100].iter().map(|n| html! {
                            <option value={n.to_string()} selected={*n == *max_downloads}>{ n.to_string() }</option>
                        }) }
                    </select>
                </div>
            </div>
            <button class="primary" data-testid="share-button" onclick={on_share} disabled={busy}>{ "Encrypt and share" }</button>
            { result }
        </section>
    }
}

fn select_value(event: &Event) -> Option<String> {
    use wasm_bindgen::JsCast;
    event
        .target()?
        .dyn_into::<web_sys::HtmlSelectElement>()
        .ok()
        .map(|s| s.value())
}

async fn share_file(
    file: &web_sys::File,
    expires_in: u64,
    max_downloads: u32,
    stage: &UseStateHandle<Stage>,
) -> Result<Stage, String> {
    let data = browser::read_file(file).await?;
    stage.set(Stage::Working {
        what: "Encrypting".into(),
        fraction: 0.0,
    });
    let key = LinkKey::generate().map_err(|e| e.to_string())?;
    let meta = FileMeta {
        kind: String::new(),
        masked: false,
        policy: None,
        created: Some((js_sys::Date::now() / 1000.0) as u64),
        name: file.name(),
        media_type: file.type_(),
    };
    let sealed = seal(&key, &meta, &data).map_err(|e| e.to_string())?;
    drop(data);
    let progress = {
        let stage = stage.clone();
        move |fraction| {
            stage.set(Stage::Working {
                what: "Uploading".into(),
                fraction,
            })
        }
    };
    let upload = api::upload_share(&sealed, expires_in, max_downloads, progress)
        .await
        .map_err(|failure| failure.message)?;
    let origin = browser::origin();
    Ok(Stage::Done {
        link: format!("{origin}/s/{}#{}", upload.id, key.to_fragment()),
        revoke_link: format!("{origin}/revoke/{}#{}", upload.id, upload.revoke_token),
    })
}
