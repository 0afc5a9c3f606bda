//! The researcher's study page (admin token in the fragment): lists the contributions, downloads
//! them all in one stream, decrypts them in the study worker with the researcher's private key,
//! and offers the export (FHIR NDJSON per type, CSV tables, manifest) and the risk report.

use js_sys::{Array, Uint8Array};
use medseal_core::export::RiskReport;
use medseal_core::study::SignedStudy;
use yew::prelude::*;

use crate::api_study::{self, ContributionInfo};
use crate::study_ui::{self, Unlocked, get, request, set};
use crate::{browser, idb};

#[derive(Properties, PartialEq)]
pub struct Props {
    pub id: String,
}

#[derive(Clone, PartialEq)]
enum Stage {
    Idle,
    Working(String, f64),
    Exported {
        url: String,
        report: RiskReport,
        count: u32,
    },
    Failed(String),
}

/// Checks the served study as the CLI's `medseal bundle --server` does: the description is the
/// one this study id was derived from and it is signed by the unlocked key. Returns the
/// description and the signed description's JSON (put in the export as is).
fn verify_own_study(
    id: &str,
    raw: Option<&[u8]>,
    unlocked: &Unlocked,
) -> Result<(medseal_core::study::StudyDescription, String), String> {
    let raw = raw.ok_or("The study description could not be loaded from the server.")?;
    let spki = medseal_core::id::from_b64url(&unlocked.stored.spki)
        .map_err(|_| "The stored key is damaged.".to_owned())?;
    let description =
        medseal_core::study::verify_study(id, raw, &spki, &unlocked.stored.fingerprint).map_err(
            |e| {
                format!(
                    "Refusing this study: it is not a study signed by your key, or the server \
                     changed it ({e}). Nothing was decrypted."
                )
            },
        )?;
    let signed: SignedStudy = serde_json::from_slice(raw).map_err(|e| e.to_string())?;
    let json = serde_json::to_string(&signed.description).map_err(|e| e.to_string())?;
    Ok((description, json))
}

#[function_component(StudyAdminPage)]
pub fn study_admin_page(props: &Props) -> Html {
    let token = use_state(String::new);
    // The signed study as served: shown only as a title until it is verified with the
    // researcher's own key, which happens before anything is decrypted.
    let study = use_state(|| None::<serde_json::Value>);
    let study_raw = use_state(|| None::<Vec<u8>>);
    let removed = use_state(Vec::<String>::new);
    let list = use_state(|| None::<Result<Vec<ContributionInfo>, String>>);
    let key = use_state(|| None::<Unlocked>);
    let stage = use_state(|| Stage::Idle);
    {
        let (token, study, study_raw, list, id) = (
            token.clone(),
            study.clone(),
            study_raw.clone(),
            list.clone(),
            props.id.clone(),
        );
        use_effect_with((), move |()| {
            let mut fragment = browser::take_fragment();
            wasm_bindgen_futures::spawn_local(async move {
                if fragment.is_empty() {
                    fragment = idb::get(idb::SECRETS, &format!("admin:{id}"))
                        .await
                        .ok()
                        .flatten()
                        .unwrap_or_default();
                }
                token.set(fragment.clone());
                if let Ok(raw) = api_study::fetch_study(&id).await {
                    if let Ok(signed) = serde_json::from_slice::<SignedStudy>(&raw) {
                        study.set(Some(signed.description));
                    }
                    study_raw.set(Some(raw));
                }
                list.set(Some(
                    api_study::list_contributions(&id, &fragment)
                        .await
                        .map_err(|f| match f.code.as_str() {
                            "bad_token" | "missing_token" => {
                                "This admin link is not valid for this study.".into()
                            }
                            _ => f.message,
                        }),
                ));
            });
        });
    }
    let title = study
        .as_ref()
        .and_then(|d| d.get("title"))
        .and_then(|t| t.as_str())
        .unwrap_or("Study")
        .to_owned();
    let fingerprint = study
        .as_ref()
        .and_then(|d| d.get("key_fingerprint"))
        .and_then(|t| t.as_str())
        .map(str::to_owned);

    let on_unlocked = {
        let key = key.clone();
        Callback::from(move |u: Unlocked| key.set(Some(u)))
    };
    let on_download = {
        let (key, token, stage, id, study_raw) = (
            key.clone(),
            token.clone(),
            stage.clone(),
            props.id.clone(),
            study_raw.clone(),
        );
        Callback::from(move |_| {
            let Some(unlocked) = (*key).clone() else {
                return;
            };
            let (token, stage, id) = ((*token).clone(), stage.clone(), id.clone());
            // The study must be this id's, signed by the researcher's own key: its k comes
            // from the verified description, never from what the server says.
            let verified = match verify_own_study(&id, study_raw.as_deref(), &unlocked) {
                Ok(v) => v,
                Err(m) => {
                    stage.set(Stage::Failed(m));
                    return;
                }
            };
            let k = verified.0.min_k;
            let study_json = Some(verified.1);
            stage.set(Stage::Working("Downloading the bundle".into(), 0.0));
            wasm_bindgen_futures::spawn_local(async move {
                // The worker downloads the bundle in one stream and decrypts it, off the page.
                let req = request("bundle_fetch");
                set(&req, "url", &format!("/api/studies/{id}/bundle").into());
                set(&req, "token", &token.into());
                set(&req, "pkcs8", &Uint8Array::from(unlocked.pkcs8.as_slice()));
                if let Some(s) = study_json {
                    set(&req, "study", &s.into());
                }
                set(&req, "k", &(k as f64).into());
                let progress_stage = stage.clone();
                let answer = study_ui::call(&req, &Array::new(), move |what, f| {
                    progress_stage.set(Stage::Working(what, f));
                })
                .await;
                match answer {
                    Ok(answer) => {
                        let zip = Uint8Array::new(&get(&answer, "zip")).to_vec();
                        let report: Option<RiskReport> = get(&answer, "report")
                            .as_string()
                            .and_then(|s| serde_json::from_str(&s).ok());
                        let count = get(&answer, "contributions").as_f64().unwrap_or(0.0) as u32;
                        match (browser::object_url(&zip, "application/zip"), report) {
                            (Ok(url), Some(report)) => {
                                stage.set(Stage::Exported { url, report, count })
                            }
                            (Err(m), _) => stage.set(Stage::Failed(m)),
                            (_, None) => {
                                stage.set(Stage::Failed("The risk report is missing.".into()))
                            }
                        }
                    }
                    Err(f) => stage.set(Stage::Failed(f.message)),
                }
            });
        })
    };

    let listing = match &*list {
        None => html! { <p role="status">{ "Loading the contributions…" }</p> },
        Some(Err(m)) => html! { <p class="error" data-testid="error" role="alert">{ m }</p> },
        Some(Ok(items)) => {
            let total: u64 = items.iter().map(|c| c.size).sum();
            html! {
                <>
                    <p><span data-testid="contribution-count">{ items.len() }</span>{ format!(" contributions, {:.1} kB of ciphertext in all.", total as f64 / 1000.0) }</p>
                    <table>
                        <thead><tr><th>{ "Contribution" }</th><th>{ "Size" }</th><th>{ "Received" }</th></tr></thead>
                        <tbody>{ for items.iter().map(|c| html! {
                            <tr data-testid="contribution-row">
                                <td class="mono">{ &c.id }</td>
                                <td>{ format!("{} bytes", c.size) }</td>
                                <td>{ String::from(js_sys::Date::new(&((c.created_at as f64) * 1000.0).into()).to_iso_string()) }</td>
                            </tr>
                        }) }</tbody>
                    </table>
                </>
            }
        }
    };

    html! {
        <section>
            <h1 data-testid="study-admin-title">{ title }</h1>
            { listing }
            if key.is_none() {
                <study_ui::KeyUnlock purpose="Unlock the study's key to decrypt the contributions on this device." only={fingerprint} on_unlocked={on_unlocked} />
            }
            <button data-testid="download-bundle" disabled={key.is_none() || matches!(*stage, Stage::Working(..))} onclick={on_download}>
                { "Download and decrypt all contributions" }
            </button>
            {
                match &*stage {
                    Stage::Idle => html! {},
                    Stage::Working(what, f) => html! {
                        <p role="status" data-testid="bundle-progress">{ what }{ " " }<progress value={f.to_string()} max="1" /></p>
                    },
                    Stage::Failed(m) => html! { <p class="error" data-testid="error" role="alert">{ m }</p> },
                    Stage::Exported { url, report, count } => html! {
                        <div data-testid="export-ready">
                            <p>{ format!("{count} contributions decrypted on this device.") }</p>
                            <a data-testid="bundle-export" href={url.clone()} download={format!("medseal-study-{}.zip", props.id)}>
                                { "Download the export (FHIR NDJSON, CSV tables, manifest, risk report)" }
                            </a>
                            if !report.skipped.is_empty() {
                                <div data-testid="skipped-contributions" role="alert">
                                    <p>{ format!("{} contribution(s) could not be opened and were left out of the export (they are listed in manifest.json and the risk report). Contributions are anonymous: anyone with the study link can upload one.", report.skipped.len()) }</p>
                                    <ul>{ for report.skipped.iter().map(|c| {
                                        let gone = removed.contains(&c.id);
                                        let on_delete = {
                                            let (removed, token, sid, cid) = (removed.clone(), (*token).clone(), props.id.clone(), c.id.clone());
                                            Callback::from(move |_| {
                                                let (removed, token, sid, cid) = (removed.clone(), token.clone(), sid.clone(), cid.clone());
                                                wasm_bindgen_futures::spawn_local(async move {
                                                    if api_study::withdraw(&sid, &cid, &token).await.is_ok() {
                                                        let mut list = (*removed).clone();
                                                        list.push(cid);
                                                        removed.set(list);
                                                    }
                                                });
                                            })
                                        };
                                        html! {
                                            <li data-testid="skipped-contribution" data-id={c.id.clone()}>
                                                <span class="mono">{ &c.id }</span>{ format!(": {}", c.reason) }
                                                if gone {
                                                    { " (deleted)" }
                                                } else {
                                                    { " " }<button data-testid="delete-contribution" onclick={on_delete}>{ "Delete it from the server" }</button>
                                                }
                                            </li>
                                        }
                                    }) }</ul>
                                </div>
                            }
                            <h2>{ "Re-identification risk" }</h2>
                            <div data-testid="risk-report" data-patients={report.patients.to_string()}
                                 data-under-k={report.under_k.len().to_string()} data-smallest={report.smallest_group.to_string()}>
                                <p>{ format!("{} patients in {} groups of birth year, sex and ZIP prefix; the smallest group has {} (study k = {}).",
                                    report.patients, report.groups, report.smallest_group, report.k) }</p>
                                if report.under_k.is_empty() {
                                    <p>{ "Every group has at least k patients." }</p>
                                } else {
                                    <p>{ format!("{} groups, {} patients, fall under k:", report.under_k.len(), report.patients_under_k) }</p>
                                    <ul>{ for report.under_k.iter().map(|g| html! {
                                        <li data-testid="risk-group">{ format!("born {}, {}, ZIP {}: {} patient(s)", g.birth_year, g.sex, g.zip3, g.size) }</li>
                                    }) }</ul>
                                }
                            </div>
                        </div>
                    },
                }
            }
        </section>
    }
}
