//! A patient contributes to a study. The browser fetches the study and the researcher's key,
//! checks the key against the fingerprint pinned in the link's fragment and the signature,
//! and refuses a mismatch. It shows the study in plain words, masks the chosen records with the
//! study's policy and a pseudonym key that is the patient's own for this study, shows exactly
//! what will leave the device, and only after explicit consent seals the masked records to the
//! researcher's key and uploads them with no identity attached.

use std::rc::Rc;

use js_sys::{Array, Object, Uint8Array};
use medseal_core::study::{StudyDescription, verify_study, withdraw_link};
use yew::prelude::*;

use crate::components::mask_diff::MaskDiff;
use crate::study_ui::{self, get, request, set};
use crate::{api_study, browser, idb, mask_preview};

#[derive(Properties, PartialEq)]
pub struct Props {
    pub id: String,
}

#[derive(Clone, PartialEq)]
struct Masked {
    name: String,
    media_type: String,
    data: Vec<u8>,
    report: Vec<String>,
    /// What masking changed, original beside masked; stays in this page.
    changes: Rc<Vec<medseal_core::mask::Change>>,
    omitted: u64,
}

#[derive(Clone, PartialEq)]
enum Study {
    Loading,
    Refused(String),
    Failed(String),
    Ready {
        description: Box<StudyDescription>,
        spki: Vec<u8>,
    },
}

#[derive(Clone, PartialEq)]
enum Stage {
    Choosing,
    Masking,
    Preview { files: Vec<Masked>, policy: String },
    Sending(String, f64),
    Done { withdraw: String },
    Failed(String),
}

async fn load(id: &str, pin: &str) -> Study {
    if pin.is_empty() {
        return Study::Refused(
            "This contribution link is incomplete: the researcher's key fingerprint after # is missing, so the study cannot be checked.".into(),
        );
    }
    let study = match api_study::fetch_study(id).await {
        Ok(s) => s,
        Err(f) => return Study::Failed(explain(&f)),
    };
    let spki = match api_study::fetch_key(pin).await {
        Ok(k) => k,
        Err(f) if f.code == "not_found" => {
            return Study::Refused(
                "The server has no key with the fingerprint in your link. Do not contribute: this study cannot be checked.".into(),
            );
        }
        Err(f) => return Study::Failed(explain(&f)),
    };
    match verify_study(id, &study, &spki, pin) {
        Ok(description) => Study::Ready {
            description: Box::new(description),
            spki,
        },
        Err(e) => Study::Refused(format!(
            "Warning: do not contribute. This study failed its security check: {e}."
        )),
    }
}

fn explain(f: &crate::api::ApiFailure) -> String {
    match f.code.as_str() {
        "not_found" | "bad_id" => {
            "This link does not point to a study. It may have been mistyped.".into()
        }
        "expired" | "gone" => "This study has ended and its data has been deleted.".into(),
        "closed" => "This study no longer accepts contributions.".into(),
        _ => f.message.clone(),
    }
}

fn date(secs: u64) -> String {
    let d = js_sys::Date::new(&((secs as f64) * 1000.0).into());
    format!(
        "{:04}-{:02}-{:02}",
        d.get_utc_full_year(),
        d.get_utc_month() + 1,
        d.get_utc_date()
    )
}

#[function_component(ContributePage)]
pub fn contribute_page(props: &Props) -> Html {
    let study = use_state(|| Study::Loading);
    let stage = use_state(|| Stage::Choosing);
    let consent = use_state(|| false);
    {
        let study = study.clone();
        let id = props.id.clone();
        use_effect_with((), move |()| {
            let pin = browser::take_fragment();
            wasm_bindgen_futures::spawn_local(async move {
                study.set(load(&id, &pin).await);
            });
        });
    }
    let Study::Ready { description, spki } = &*study else {
        return html! {
            <section>
                <h1>{ "Contribute to a study" }</h1>
                {
                    match &*study {
                        Study::Refused(m) => html! {
                            <div class="warning" data-testid="tamper-warning">
                                <p class="error" data-testid="error" role="alert">{ m }</p>
                                <p>{ "Nothing has been read from your device or sent. Ask the researcher for their link again, through a channel you trust." }</p>
                            </div>
                        },
                        Study::Failed(m) => html! { <p class="error" data-testid="error" role="alert">{ m }</p> },
                        _ => html! { <p role="status">{ "Checking the study's signature…" }</p> },
                    }
                }
            </section>
        };
    };
    let policy_lines = description
        .policy
        .to_policy()
        .map(|p| p.describe())
        .unwrap_or_default();

    let on_files = {
        let (stage, consent, id, policy) = (
            stage.clone(),
            consent.clone(),
            props.id.clone(),
            serde_json::to_string(&description.policy).unwrap_or_default(),
        );
        Callback::from(move |e: Event| {
            let files = browser::files_of(&e);
            if files.is_empty() {
                return;
            }
            consent.set(false);
            stage.set(Stage::Masking);
            let (stage, id, policy) = (stage.clone(), id.clone(), policy.clone());
            wasm_bindgen_futures::spawn_local(async move {
                let secret = match idb::patient_secret().await {
                    Ok(s) => s,
                    Err(m) => {
                        stage.set(Stage::Failed(m));
                        return;
                    }
                };
                let req = request("mask");
                let list = Array::new();
                for f in &files {
                    let entry = Object::new();
                    set(&entry, "name", &f.name().into());
                    set(&entry, "type", &f.type_().into());
                    set(&entry, "file", f);
                    list.push(&entry);
                }
                set(&req, "files", &list);
                set(&req, "policy", &policy.into());
                set(&req, "secret", &Uint8Array::from(secret.as_slice()));
                set(&req, "study", &id.into());
                match study_ui::call(&req, &Array::new(), |_, _| {}).await {
                    Ok(answer) => {
                        let files = Array::from(&get(&answer, "files"))
                            .iter()
                            .map(|f| {
                                let (changes, omitted) = mask_preview::read_preview(&f);
                                Masked {
                                    name: get(&f, "name").as_string().unwrap_or_default(),
                                    media_type: get(&f, "type").as_string().unwrap_or_default(),
                                    data: Uint8Array::new(&get(&f, "data")).to_vec(),
                                    report: Array::from(&get(&f, "report"))
                                        .iter()
                                        .filter_map(|l| l.as_string())
                                        .collect(),
                                    changes,
                                    omitted,
                                }
                            })
                            .collect();
                        stage.set(Stage::Preview {
                            files,
                            policy: get(&answer, "label").as_string().unwrap_or_default(),
                        });
                    }
                    Err(f) => stage.set(Stage::Failed(f.message)),
                }
            });
        })
    };
    let on_consent = {
        let consent = consent.clone();
        Callback::from(move |e: Event| {
            let checked = e
                .target_dyn_into::<web_sys::HtmlInputElement>()
                .is_some_and(|i| i.checked());
            consent.set(checked);
        })
    };
    let on_send = {
        let (stage, consent, spki, id) = (
            stage.clone(),
            consent.clone(),
            spki.clone(),
            props.id.clone(),
        );
        Callback::from(move |_| {
            let Stage::Preview { files, policy } = (*stage).clone() else {
                return;
            };
            if !*consent {
                return;
            }
            let req = request("seal_rsa");
            let list = Array::new();
            let transfer = Array::new();
            for (i, f) in files.iter().enumerate() {
                let entry = Object::new();
                // The original file name may hold the patient's name: send the share page's
                // neutral one.
                set(
                    &entry,
                    "name",
                    &medseal_core::container::neutral_name(&f.name, i).into(),
                );
                set(&entry, "type", &f.media_type.clone().into());
                set(&entry, "masked", &true.into());
                let data = Uint8Array::from(f.data.as_slice());
                transfer.push(&data.buffer());
                set(&entry, "data", &data);
                list.push(&entry);
            }
            set(&req, "files", &list);
            set(&req, "policy", &policy.into());
            set(&req, "spki", &Uint8Array::from(spki.as_slice()));
            let (stage, id) = (stage.clone(), id.clone());
            stage.set(Stage::Sending(
                "Encrypting to the researcher's key".into(),
                0.0,
            ));
            wasm_bindgen_futures::spawn_local(async move {
                let sealed = match study_ui::call(&req, &transfer, |_, _| {}).await {
                    Ok(answer) => Uint8Array::new(&get(&answer, "sealed")).to_vec(),
                    Err(f) => {
                        stage.set(Stage::Failed(f.message));
                        return;
                    }
                };
                let progress_stage = stage.clone();
                match api_study::contribute(&id, &sealed, move |p| {
                    progress_stage.set(Stage::Sending("Uploading".into(), p));
                })
                .await
                {
                    Ok(done) => stage.set(Stage::Done {
                        withdraw: withdraw_link(
                            &browser::origin(),
                            &id,
                            &done.id,
                            &done.withdraw_token,
                        ),
                    }),
                    Err(f) => stage.set(Stage::Failed(explain(&f))),
                }
            });
        })
    };

    let body = match &*stage {
        Stage::Done { withdraw } => html! {
            <div data-testid="contributed" role="status">
                <p>{ "Thank you. Your masked records were encrypted to the researcher's key and sent, with nothing that identifies you or your device." }</p>
                <p>{ "Keep this private link: it withdraws your contribution while the study is open." }</p>
                <input class="link" readonly=true data-testid="withdraw-link" value={withdraw.clone()} />
            </div>
        },
        Stage::Sending(what, fraction) => html! {
            <p role="status" data-testid="contribute-progress">{ what }{ " " }<progress value={fraction.to_string()} max="1" /></p>
        },
        _ => html! {
            <>
                <h2>{ "Choose the records to contribute" }</h2>
                <input type="file" multiple=true data-testid="file-input" onchange={on_files} />
                {
                    match &*stage {
                        Stage::Masking => html! { <p role="status">{ "Masking on your device…" }</p> },
                        Stage::Failed(m) => html! { <p class="error" data-testid="error" role="alert">{ m }</p> },
                        Stage::Preview { files, .. } => html! {
                            <div data-testid="masked-preview-section">
                                <h2>{ "Exactly what will leave your device" }</h2>
                                { for files.iter().map(|f| {
                                    let text = String::from_utf8_lossy(&f.data);
                                    let shown: String = text.chars().take(6000).collect();
                                    html! {
                                        <details open=true>
                                            <summary>{ format!("{} ({} bytes after masking)", f.name, f.data.len()) }</summary>
                                            <ul>{ for f.report.iter().map(|l| html! { <li>{ l }</li> }) }</ul>
                                            <MaskDiff changes={f.changes.clone()} omitted={f.omitted} />
                                            <details>
                                                <summary>{ "The masked file as it will be sealed" }</summary>
                                                <pre data-testid="masked-preview">{ shown }</pre>
                                            </details>
                                        </details>
                                    }
                                }) }
                                <label class="consent">
                                    <input type="checkbox" data-testid="consent" checked={*consent} onchange={on_consent} />
                                    { " I have read what this study is for and what will be sent, and I agree to contribute these masked records." }
                                </label>
                                <button data-testid="contribute-button" disabled={!*consent} onclick={on_send}>{ "Contribute" }</button>
                            </div>
                        },
                        _ => html! {},
                    }
                }
            </>
        },
    };

    html! {
        <section>
            <h1>{ "Contribute to a study" }</h1>
            <div class="study" data-testid="study-verified">
                <h2 data-testid="study-title">{ &description.title }</h2>
                <p><strong>{ "Run by: " }</strong><span data-testid="study-institution">{ &description.institution }</span></p>
                <p><strong>{ "What it is for: " }</strong><span data-testid="study-purpose">{ &description.purpose }</span></p>
                <p><strong>{ "Contact: " }</strong>{ &description.contact }</p>
                <p><strong>{ "Open until: " }</strong>{ date(description.closes_at) }</p>
                <p>{ "Signed by the researcher's key " }<strong class="digits" data-testid="study-key-digits">{ study_ui::digits(&description.key_fingerprint) }</strong>
                   { ", the key your link names." }</p>
                <h3>{ "How your records are masked before they leave your device" }</h3>
                <ul data-testid="study-policy">{ for policy_lines.iter().map(|l| html! { <li>{ l }</li> }) }</ul>
                <p>{ "Your records get codes that link them together inside this study only. They cannot be linked to your contributions to other studies, and no one but this browser can compute them." }</p>
            </div>
            { body }
        </section>
    }
}
