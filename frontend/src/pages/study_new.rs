//! A researcher creates a study: fills in the description, signs it with their key (RSA-PSS,
//! in the worker) and publishes it. They get the contribution link, which pins their key's
//! fingerprint in its fragment, and a private admin link.

use js_sys::Array;
use medseal_core::mask::FreeText;
use medseal_core::study::{
    AddressOption, DateOption, STUDY_FORMAT, STUDY_VERSION, StudyDescription, StudyPolicy,
    admin_link, contribution_link,
};
use yew::prelude::*;

use crate::components::qr::QrCodeView;
use crate::study_ui::{self, Unlocked, bind, bind_change, get, request, set};
use crate::{api_study, browser, idb};

#[derive(Clone, PartialEq)]
enum Stage {
    Editing,
    Working(String),
    Done {
        contribution: String,
        admin: String,
        admin_token: String,
        study_id: String,
    },
    Failed(String),
}

fn default_close() -> String {
    let d = js_sys::Date::new(&((js_sys::Date::now() + 30.0 * 86_400_000.0).into()));
    format!(
        "{:04}-{:02}-{:02}",
        d.get_utc_full_year(),
        d.get_utc_month() + 1,
        d.get_utc_date()
    )
}

/// The studies created in this browser: (id, title). Their admin tokens are kept beside them.
async fn my_studies() -> Vec<(String, String)> {
    idb::get(idb::SECRETS, "studies")
        .await
        .ok()
        .flatten()
        .and_then(|json| serde_json::from_str(&json).ok())
        .unwrap_or_default()
}

#[function_component(StudyNewPage)]
pub fn study_new_page() -> Html {
    let key = use_state(|| None::<Unlocked>);
    let title = use_state(String::new);
    let purpose = use_state(String::new);
    let institution = use_state(String::new);
    let contact = use_state(String::new);
    let closes = use_state(default_close);
    let dates = use_state(|| "year".to_owned());
    let addresses = use_state(|| "zip3".to_owned());
    let free_text = use_state(|| "scrub".to_owned());
    let min_k = use_state(|| "5".to_owned());
    let stage = use_state(|| Stage::Editing);
    let mine = use_state(Vec::<(String, String)>::new);
    {
        let mine = mine.clone();
        use_effect_with((), move |()| {
            wasm_bindgen_futures::spawn_local(async move { mine.set(my_studies().await) });
        });
    }

    let on_unlocked = {
        let key = key.clone();
        Callback::from(move |u: Unlocked| key.set(Some(u)))
    };
    let on_submit = {
        let (key, title, purpose, institution, contact, closes) = (
            key.clone(),
            title.clone(),
            purpose.clone(),
            institution.clone(),
            contact.clone(),
            closes.clone(),
        );
        let (dates, addresses, free_text, min_k, stage) = (
            dates.clone(),
            addresses.clone(),
            free_text.clone(),
            min_k.clone(),
            stage.clone(),
        );
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let Some(unlocked) = (*key).clone() else {
                stage.set(Stage::Failed("Unlock your key first.".into()));
                return;
            };
            let closes_at = js_sys::Date::parse(&format!("{}T23:59:59Z", *closes));
            if closes_at.is_nan() {
                stage.set(Stage::Failed("Choose a closing date.".into()));
                return;
            }
            let nonce = match medseal_core::id::new_object_id() {
                Ok(n) => n,
                Err(e) => {
                    stage.set(Stage::Failed(e.to_string()));
                    return;
                }
            };
            let description = StudyDescription {
                format: STUDY_FORMAT.into(),
                version: STUDY_VERSION,
                title: title.trim().to_owned(),
                purpose: purpose.trim().to_owned(),
                institution: institution.trim().to_owned(),
                contact: contact.trim().to_owned(),
                closes_at: (closes_at / 1000.0) as u64,
                policy: StudyPolicy {
                    base: "safe-harbor".into(),
                    dates: if *dates == "shift" {
                        DateOption::Shift
                    } else {
                        DateOption::Year
                    },
                    addresses: if *addresses == "remove" {
                        AddressOption::Remove
                    } else {
                        AddressOption::Zip3
                    },
                    free_text: if *free_text == "remove" {
                        FreeText::Remove
                    } else {
                        FreeText::Scrub
                    },
                },
                min_k: min_k.parse().unwrap_or(0),
                key_fingerprint: unlocked.stored.fingerprint.clone(),
                created_at: study_ui::now() as u64,
                nonce,
            };
            if let Err(e) = description.validate() {
                stage.set(Stage::Failed(format!("{e}.")));
                return;
            }
            let Ok(json) = serde_json::to_string(&description) else {
                return;
            };
            let title_text = description.title.clone();
            let stage = stage.clone();
            stage.set(Stage::Working("Signing the study…".into()));
            wasm_bindgen_futures::spawn_local(async move {
                let result = async {
                    let spki = medseal_core::id::from_b64url(&unlocked.stored.spki)
                        .map_err(|_| "The key is damaged.".to_owned())?;
                    // Publishing again is harmless: the server answers 200 for a known key.
                    api_study::publish_key(&spki).await.map_err(|f| f.message)?;
                    let req = request("sign");
                    set(
                        &req,
                        "pkcs8",
                        &js_sys::Uint8Array::from(unlocked.pkcs8.as_slice()),
                    );
                    set(&req, "description", &json.into());
                    let answer = study_ui::call(&req, &Array::new(), |_, _| {})
                        .await
                        .map_err(|f| f.message)?;
                    let body = get(&answer, "body").as_string().unwrap_or_default();
                    let created = api_study::create_study(&body)
                        .await
                        .map_err(|f| f.message)?;
                    // Kept on this device so the researcher can come back to the admin page.
                    let _ = idb::put(
                        idb::SECRETS,
                        &format!("admin:{}", created.id),
                        &created.admin_token,
                    )
                    .await;
                    let mut mine = my_studies().await;
                    mine.push((created.id.clone(), title_text.clone()));
                    if let Ok(json) = serde_json::to_string(&mine) {
                        let _ = idb::put(idb::SECRETS, "studies", &json).await;
                    }
                    let fp = medseal_core::pki::Fingerprint::parse(&unlocked.stored.fingerprint)
                        .map_err(|e| e.to_string())?;
                    Ok::<_, String>(Stage::Done {
                        contribution: contribution_link(&browser::origin(), &created.id, &fp),
                        admin: admin_link(&browser::origin(), &created.id, &created.admin_token),
                        admin_token: created.admin_token.clone(),
                        study_id: created.id.clone(),
                    })
                }
                .await;
                stage.set(result.unwrap_or_else(Stage::Failed));
            });
        })
    };

    if let Stage::Done {
        contribution,
        admin,
        admin_token,
        study_id,
    } = &*stage
    {
        return html! {
            <section>
                <h1>{ "Your study is published" }</h1>
                <p>{ "Hand this contribution link to patients. It carries your key's fingerprint after the #, so their browser can check that the study really is yours." }</p>
                <input class="link" readonly=true data-testid="contribution-link" value={contribution.clone()} />
                <QrCodeView text={contribution.clone()} label="QR code of the contribution link" />
                <p>{ "Your private admin link lists and downloads the contributions. Keep it secret: it is shown only once (this browser also remembers it)." }</p>
                <p><a data-testid="admin-link" href={admin.clone()}>{ admin.clone() }</a></p>
                <p>{ "The admin token alone, for the command-line tool (" }<code>{ format!("medseal bundle --server {} --study {study_id} --admin-token-file TOKEN_FILE -i KEY.pem -o export.zip", browser::origin()) }</code>{ "):" }</p>
                <input class="link mono" readonly=true data-testid="admin-token" aria-label="Admin token" value={admin_token.clone()} />
            </section>
        };
    }
    let working = matches!(*stage, Stage::Working(_));
    html! {
        <section>
            if !mine.is_empty() {
                <h2>{ "Your studies on this device" }</h2>
                <ul data-testid="my-studies">{ for mine.iter().map(|(id, title)| html! {
                    <li><a href={format!("/study/{id}")}>{ title }</a></li>
                }) }</ul>
            }
            <h1>{ "Create a research study" }</h1>
            if let Some(k) = &*key {
                <p data-testid="key-unlocked">{ format!("Signing with {} ({})", k.stored.label, study_ui::digits(&k.stored.fingerprint)) }</p>
            } else {
                <study_ui::KeyUnlock purpose="Unlock the key that will sign the study and receive the contributions." on_unlocked={on_unlocked} />
            }
            <form class="study-form" onsubmit={on_submit}>
                <label>{ "Title" }<input data-testid="study-title" value={(*title).clone()} oninput={bind(&title)} /></label>
                <label>{ "Purpose, in plain words" }<textarea data-testid="study-purpose" value={(*purpose).clone()} oninput={bind(&purpose)} /></label>
                <label>{ "Institution" }<input data-testid="study-institution-input" value={(*institution).clone()} oninput={bind(&institution)} /></label>
                <label>{ "Contact" }<input data-testid="study-contact-input" value={(*contact).clone()} oninput={bind(&contact)} /></label>
                <label>{ "Contributions close on" }<input type="date" data-testid="study-closes-input" value={(*closes).clone()} oninput={bind(&closes)} /></label>
                <fieldset>
                    <legend>{ "Masking policy: HIPAA Safe Harbor" }</legend>
                    <label>{ "Dates " }
                        <select data-testid="policy-dates" onchange={bind_change(&dates)}>
                            <option value="year" selected={*dates == "year"}>{ "Year only (Safe Harbor)" }</option>
                            <option value="shift" selected={*dates == "shift"}>{ "Shifted per patient, intervals kept (needs expert determination)" }</option>
                        </select>
                    </label>
                    <label>{ " Addresses " }
                        <select data-testid="policy-addresses" onchange={bind_change(&addresses)}>
                            <option value="zip3" selected={*addresses == "zip3"}>{ "State and 3-digit ZIP (Safe Harbor)" }</option>
                            <option value="remove" selected={*addresses == "remove"}>{ "Removed" }</option>
                        </select>
                    </label>
                    <label>{ " Notes and narratives " }
                        <select data-testid="policy-free-text" onchange={bind_change(&free_text)}>
                            <option value="scrub" selected={*free_text == "scrub"}>{ "Kept, with names, places, dates and numbers removed" }</option>
                            <option value="remove" selected={*free_text == "remove"}>{ "Removed entirely (structured data only)" }</option>
                        </select>
                    </label>
                </fieldset>
                <label>{ "Minimum group size k for the risk report" }<input type="number" min="2" max="100" data-testid="study-k-input" value={(*min_k).clone()} oninput={bind(&min_k)} /></label>
                <button type="submit" data-testid="study-create" disabled={working || key.is_none()}>{ "Sign and publish" }</button>
            </form>
            {
                match &*stage {
                    Stage::Working(m) => html! { <p role="status"><progress /> { m }</p> },
                    Stage::Failed(m) => html! { <p class="error" data-testid="error" role="alert">{ m }</p> },
                    _ => html! {},
                }
            }
        </section>
    }
}
