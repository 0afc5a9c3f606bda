//! The key manager: RSA key pairs made in the browser (in the study worker, so the page never
//! freezes), kept only on this device under a passphrase (Argon2id) in IndexedDB, exported to
//! and imported from the PEM key file the `medseal` tool reads, published to the server's key
//! directory, with fingerprints to compare aloud or by QR code.

use js_sys::Array;
use medseal_core::keystore::StoredKey;
use medseal_core::pki::Fingerprint;
use yew::prelude::*;

use crate::components::qr::QrCodeView;
use crate::study_ui::{self, bind, get, request, set};
use crate::{api_study, browser, idb};

#[derive(Clone, PartialEq)]
enum Busy {
    Idle,
    Working(String),
    Failed(String),
}

async fn save(answer: &wasm_bindgen::JsValue) -> Result<StoredKey, String> {
    let json = get(answer, "stored").as_string().unwrap_or_default();
    let stored: StoredKey = serde_json::from_str(&json).map_err(|e| e.to_string())?;
    idb::put(idb::KEYS, &stored.fingerprint, &json).await?;
    Ok(stored)
}

#[function_component(KeysPage)]
pub fn keys_page() -> Html {
    let keys = use_state(Vec::<StoredKey>::new);
    let reload = use_state(|| 0u32);
    let label = use_state(|| "My key".to_owned());
    let passphrase = use_state(String::new);
    let confirm = use_state(String::new);
    let import_passphrase = use_state(String::new);
    let import_file = use_state(|| None::<web_sys::File>);
    let busy = use_state(|| Busy::Idle);
    let published = use_state(Vec::<String>::new);
    let exported = use_state(|| None::<(String, String)>);
    {
        let keys = keys.clone();
        let busy = busy.clone();
        use_effect_with(*reload, move |_| {
            wasm_bindgen_futures::spawn_local(async move {
                match study_ui::stored_keys().await {
                    Ok(list) => keys.set(list),
                    Err(message) => busy.set(Busy::Failed(message)),
                }
            });
        });
    }

    let on_create = {
        let (label, passphrase, confirm, busy, reload) = (
            label.clone(),
            passphrase.clone(),
            confirm.clone(),
            busy.clone(),
            reload.clone(),
        );
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            if *passphrase != *confirm {
                busy.set(Busy::Failed("The two passphrases differ.".into()));
                return;
            }
            if passphrase.chars().count() < medseal_core::keystore::MIN_PASSPHRASE_CHARS {
                busy.set(Busy::Failed(
                    "Choose a passphrase of at least 12 characters: four unrelated words are \
                     easy to remember and hard to guess."
                        .into(),
                ));
                return;
            }
            let req = request("keygen");
            set(&req, "passphrase", &(*passphrase).clone().into());
            set(&req, "label", &(*label).clone().into());
            let (busy, reload, passphrase, confirm) = (
                busy.clone(),
                reload.clone(),
                passphrase.clone(),
                confirm.clone(),
            );
            busy.set(Busy::Working(
                "Generating an RSA-3072 key pair in the background…".into(),
            ));
            wasm_bindgen_futures::spawn_local(async move {
                let progress_busy = busy.clone();
                let answer = study_ui::call(&req, &Array::new(), move |stage, _| {
                    progress_busy.set(Busy::Working(format!("{stage}…")));
                })
                .await;
                match answer {
                    Ok(answer) => match save(&answer).await {
                        Ok(_) => {
                            passphrase.set(String::new());
                            confirm.set(String::new());
                            busy.set(Busy::Idle);
                            reload.set(*reload + 1);
                        }
                        Err(m) => busy.set(Busy::Failed(m)),
                    },
                    Err(f) => busy.set(Busy::Failed(f.message)),
                }
            });
        })
    };

    let on_import_file = {
        let import_file = import_file.clone();
        Callback::from(move |e: Event| import_file.set(browser::files_of(&e).into_iter().next()))
    };
    let on_import = {
        let (import_file, import_passphrase, busy, reload) = (
            import_file.clone(),
            import_passphrase.clone(),
            busy.clone(),
            reload.clone(),
        );
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let Some(file) = (*import_file).clone() else {
                busy.set(Busy::Failed("Choose a key file to import.".into()));
                return;
            };
            let (passphrase, busy, reload) =
                ((*import_passphrase).clone(), busy.clone(), reload.clone());
            busy.set(Busy::Working("Importing the key…".into()));
            wasm_bindgen_futures::spawn_local(async move {
                let text = match wasm_bindgen_futures::JsFuture::from(file.text()).await {
                    Ok(t) => t.as_string().unwrap_or_default(),
                    Err(_) => {
                        busy.set(Busy::Failed("The key file could not be read.".into()));
                        return;
                    }
                };
                let req = request("import");
                set(&req, "pem", &text.into());
                set(&req, "passphrase", &passphrase.into());
                set(&req, "label", &file.name().into());
                match study_ui::call(&req, &Array::new(), |_, _| {}).await {
                    Ok(answer) => match save(&answer).await {
                        Ok(_) => {
                            busy.set(Busy::Idle);
                            reload.set(*reload + 1);
                        }
                        Err(m) => busy.set(Busy::Failed(m)),
                    },
                    Err(f) => busy.set(Busy::Failed(f.message)),
                }
            });
        })
    };

    let key_card = |k: &StoredKey| {
        let fp = Fingerprint::parse(&k.fingerprint).ok();
        let on_publish = {
            let (k, busy, published) = (k.clone(), busy.clone(), published.clone());
            Callback::from(move |_| {
                let (k, busy, published) = (k.clone(), busy.clone(), published.clone());
                wasm_bindgen_futures::spawn_local(async move {
                    let der = medseal_core::id::from_b64url(&k.spki).unwrap_or_default();
                    match api_study::publish_key(&der).await {
                        Ok(()) => {
                            let mut list = (*published).clone();
                            list.push(k.fingerprint.clone());
                            published.set(list);
                        }
                        Err(f) => busy.set(Busy::Failed(f.message)),
                    }
                });
            })
        };
        let on_export = {
            let (exported, busy) = (exported.clone(), busy.clone());
            Callback::from(move |unlocked: study_ui::Unlocked| {
                busy.set(Busy::Idle);
                exported.set(Some((unlocked.stored.fingerprint.clone(), unlocked.pem)));
            })
        };
        let on_delete = {
            let (k, reload) = (k.clone(), reload.clone());
            Callback::from(move |_| {
                let confirmed = web_sys::window()
                    .and_then(|w| w.confirm_with_message("Delete this key from this device? Without an exported key file it is lost for good, and what was sealed to it can no longer be opened.").ok())
                    .unwrap_or(false);
                if !confirmed {
                    return;
                }
                let (k, reload) = (k.clone(), reload.clone());
                wasm_bindgen_futures::spawn_local(async move {
                    let _ = idb::delete(idb::KEYS, &k.fingerprint).await;
                    reload.set(*reload + 1);
                });
            })
        };
        let is_published = published.contains(&k.fingerprint);
        let export_pem = exported
            .as_ref()
            .filter(|(f, _)| *f == k.fingerprint)
            .map(|(_, pem)| pem.clone());
        // The encrypted key file is the stored record itself (FORMAT.md appendix A): still
        // under the passphrase, and read by the medseal tool as the plain PEM is.
        let on_download_encrypted = {
            let (k, busy) = (k.clone(), busy.clone());
            Callback::from(move |_| {
                let json = serde_json::to_vec_pretty(&k).unwrap_or_default();
                if let Err(m) = browser::download_bytes(
                    &json,
                    &format!("medseal-key-{}.medseal-key.json", &k.fingerprint[..8]),
                ) {
                    busy.set(Busy::Failed(m));
                }
            })
        };
        let on_download_pem = {
            let (pem, name, busy) = (
                export_pem.clone(),
                format!("medseal-key-{}.pem", &k.fingerprint[..8]),
                busy.clone(),
            );
            Callback::from(move |_| {
                if let Some(pem) = &pem {
                    if let Err(m) = browser::download_bytes(pem.as_bytes(), &name) {
                        busy.set(Busy::Failed(m));
                    }
                }
            })
        };
        let share_link = format!("{}/to/{}", browser::origin(), k.fingerprint);
        html! {
            <article class="key-card" data-testid="key-card" data-fingerprint={k.fingerprint.clone()}>
                <h3 data-testid="key-label-shown">{ &k.label }</h3>
                <p>{ "Fingerprint, to compare aloud: " }
                    <strong class="digits" data-testid="key-digits">{ fp.map(|f| f.to_digits()).unwrap_or_default() }</strong></p>
                <p class="mono" data-testid="key-fingerprint">{ fp.map(|f| f.to_string()).unwrap_or_default() }</p>
                <QrCodeView text={format!("medseal-key:{}", k.fingerprint)} label="QR code of the key's fingerprint" />
                <p>
                    <button data-testid="publish-key" onclick={on_publish}>{ "Publish the public key" }</button>
                    if is_published {
                        <span data-testid="key-published" role="status">{ " Published. Patients can share to this key with: " }
                            <a data-testid="share-to-key-link" href={share_link.clone()}>{ share_link.clone() }</a></span>
                    }
                </p>
                <details>
                    <summary data-testid="export-key-open">{ "Export the key file" }</summary>
                    <p>{ "The encrypted key file keeps your private key under its passphrase; the medseal command-line tool reads it (give the passphrase in a file named by MEDSEAL_KEY_PASSPHRASE_FILE). Prefer it." }</p>
                    <button data-testid="encrypted-key-download" onclick={on_download_encrypted}>{ "Download the encrypted key file" }</button>
                    <p>{ "The plain key file holds your private key without a passphrase: anyone who gets a copy can open what was sealed to this key. Export it only if you need it, and keep it somewhere safe." }</p>
                    <study_ui::KeyUnlock purpose="Unlock the key to export it without a passphrase." only={Some(k.fingerprint.clone())} on_unlocked={on_export} />
                    if export_pem.is_some() {
                        <button data-testid="key-file-download" onclick={on_download_pem}>{ "Download the plain key file" }</button>
                    }
                </details>
                <button class="danger" data-testid="delete-key" onclick={on_delete}>{ "Delete from this device" }</button>
            </article>
        }
    };

    html! {
        <section>
            <h1>{ "Your keys" }</h1>
            <p>{ "A key pair lets researchers sign studies and receive contributions, and lets doctors receive records with no secret in the link. The private key never leaves this device unless you export it; it is stored encrypted under your passphrase." }</p>
            {
                match &*busy {
                    Busy::Idle => html! {},
                    Busy::Working(m) => html! { <p data-testid="key-progress" role="status"><progress /> { m }</p> },
                    Busy::Failed(m) => html! { <p class="error" data-testid="error" role="alert">{ m }</p> },
                }
            }
            <div data-testid="key-list">{ for keys.iter().map(key_card) }</div>
            <h2>{ "Create a key" }</h2>
            <form onsubmit={on_create}>
                <label>{ "Name " }<input data-testid="key-label" value={(*label).clone()} oninput={bind(&label)} /></label>
                <label>{ " Passphrase " }<input type="password" autocomplete="new-password" data-testid="key-passphrase" value={(*passphrase).clone()} oninput={bind(&passphrase)} /></label>
                <label>{ " Again " }<input type="password" autocomplete="new-password" data-testid="key-passphrase-confirm" value={(*confirm).clone()} oninput={bind(&confirm)} /></label>
                if !passphrase.is_empty() {
                    <p class="meta" data-testid="passphrase-strength" aria-live="polite">{ medseal_core::keystore::passphrase_strength(&passphrase).hint() }</p>
                }
                <button type="submit" data-testid="key-create" disabled={matches!(*busy, Busy::Working(_))}>{ "Create key pair" }</button>
            </form>
            <h2>{ "Import a key file" }</h2>
            <form onsubmit={on_import}>
                <input type="file" accept=".pem,.key,text/plain" data-testid="import-key-file" onchange={on_import_file} />
                <label>{ " New passphrase " }<input type="password" autocomplete="new-password" data-testid="import-passphrase" value={(*import_passphrase).clone()} oninput={bind(&import_passphrase)} /></label>
                if !import_passphrase.is_empty() {
                    <p class="meta" data-testid="import-passphrase-strength" aria-live="polite">{ medseal_core::keystore::passphrase_strength(&import_passphrase).hint() }</p>
                }
                <button type="submit" data-testid="import-key" disabled={matches!(*busy, Busy::Working(_))}>{ "Import" }</button>
            </form>
        </section>
    }
}
