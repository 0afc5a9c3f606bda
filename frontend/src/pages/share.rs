//! The patient's page: pick records, choose who they are for and how long the link lives, see
//! exactly what leaves the device, seal in the worker, upload only ciphertext, get a link.

use std::cell::Cell;
use std::rc::Rc;

use js_sys::{Array, Object, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use yew::prelude::*;

use crate::browser;
use crate::components::mask_diff::MaskDiff;
use crate::components::qr::QrCodeView;
use crate::mask_preview;
use crate::worker::{self, Canceller};

/// Expiry choices offered to the patient, in seconds (DESIGN.md: 1 hour to 30 days).
const EXPIRIES: &[(u64, &str)] = &[
    (3_600, "1 hour"),
    (86_400, "1 day"),
    (7 * 86_400, "7 days"),
    (30 * 86_400, "30 days"),
];
/// Download limits offered (1 to 100).
const DOWNLOADS: &[u32] = &[1, 2, 3, 5, 10, 25, 100];

/// What the patient shares: the whole record, or a masked (de-identified) copy.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Full,
    Masked,
}

/// The kind of link: MedSeal's own (any file, streamed, passwords that encrypt) or a SMART
/// Health Link (FHIR only, opened by any SHL viewer).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    MedSeal,
    Shl,
}

/// A masked copy of one picked file, ready to preview and seal.
#[derive(Clone, PartialEq)]
struct MaskedFile {
    name: String,
    media_type: String,
    data: Rc<Vec<u8>>,
    report: Vec<String>,
    policy: String,
    /// What masking changed, original beside masked; stays in this page.
    changes: Rc<Vec<medseal_core::mask::Change>>,
    omitted: u64,
}

#[derive(Clone, PartialEq)]
enum Preview {
    None,
    Masking,
    Ready {
        files: Vec<MaskedFile>,
        policy: Vec<String>,
    },
    Failed(String),
}

#[derive(Clone, PartialEq)]
enum Stage {
    Choosing,
    Working {
        what: String,
        fraction: f64,
    },
    Done {
        link: String,
        revoke_link: String,
        shl: bool,
    },
    /// The files do not fit a SMART Health Link: why, with the MedSeal link offered instead.
    NotFit(String),
    Failed(String),
}

#[function_component(SharePage)]
pub fn share_page() -> Html {
    let files = use_state(Vec::<web_sys::File>::new);
    let mode = use_state(|| Mode::Full);
    let preview = use_state(|| Preview::None);
    let expires_in = use_state(|| 7 * 86_400u64);
    let max_downloads = use_state(|| 5u32);
    let password = use_state(String::new);
    let format = use_state(|| Format::MedSeal);
    let passcode = use_state(String::new);
    let stage = use_state(|| Stage::Choosing);
    // None: not tried; Some(Ok): copied; Some(Err(why)): the browser could not copy.
    let copied = use_state(|| None::<Result<(), String>>);
    let dragging = use_state(|| false);
    let canceller = use_mut_ref(Canceller::default);
    let cancelled = use_mut_ref(|| Rc::new(Cell::new(false)));

    // Masking runs again whenever the files or the mode change, so the preview is always of
    // exactly what would be sealed.
    {
        let preview = preview.clone();
        use_effect_with(((*files).clone(), *mode), move |(files, mode)| {
            if *mode == Mode::Masked && !files.is_empty() {
                let files = files.clone();
                preview.set(Preview::Masking);
                wasm_bindgen_futures::spawn_local(async move {
                    preview.set(mask_files(&files).await.unwrap_or_else(Preview::Failed));
                });
            } else {
                preview.set(Preview::None);
            }
        });
    }

    let set_files = {
        let files = files.clone();
        let stage = stage.clone();
        Callback::from(move |picked: Vec<web_sys::File>| {
            stage.set(Stage::Choosing);
            files.set(picked);
        })
    };
    let on_files = {
        let set_files = set_files.clone();
        Callback::from(move |event: Event| set_files.emit(browser::files_of(&event)))
    };
    let on_drop = {
        let set_files = set_files.clone();
        let dragging = dragging.clone();
        Callback::from(move |event: DragEvent| {
            event.prevent_default();
            dragging.set(false);
            let list = event.data_transfer().and_then(|t| t.files());
            if let Some(list) = list {
                set_files.emit((0..list.length()).filter_map(|i| list.get(i)).collect());
            }
        })
    };
    let on_drag_over = {
        let dragging = dragging.clone();
        Callback::from(move |event: DragEvent| {
            event.prevent_default();
            dragging.set(true);
        })
    };
    let on_drag_leave = {
        let dragging = dragging.clone();
        Callback::from(move |_: DragEvent| dragging.set(false))
    };
    let on_mode = |value: Mode| {
        let mode = mode.clone();
        Callback::from(move |_: Event| mode.set(value))
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
    let on_password = {
        let password = password.clone();
        Callback::from(move |event: InputEvent| {
            if let Some(input) = event.target_dyn_into::<web_sys::HtmlInputElement>() {
                password.set(input.value());
            }
        })
    };
    let on_passcode = {
        let passcode = passcode.clone();
        Callback::from(move |event: InputEvent| {
            if let Some(input) = event.target_dyn_into::<web_sys::HtmlInputElement>() {
                passcode.set(input.value());
            }
        })
    };
    let on_format = |value: Format| {
        let (format, stage) = (format.clone(), stage.clone());
        Callback::from(move |_: Event| {
            format.set(value);
            stage.set(Stage::Choosing);
        })
    };
    let on_cancel = {
        let canceller = canceller.clone();
        let cancelled = cancelled.clone();
        Callback::from(move |_| {
            cancelled.borrow().set(true);
            canceller.borrow().cancel();
        })
    };
    let share_as = {
        let (files, mode, preview, stage) = (files.clone(), *mode, preview.clone(), stage.clone());
        let (expires_in, max_downloads, password) =
            (*expires_in, *max_downloads, (*password).clone());
        let shl_passcode = (*passcode).clone();
        let (canceller, cancelled) = (canceller.clone(), cancelled.clone());
        let format_state = format.clone();
        Callback::from(move |format: Format| {
            format_state.set(format);
            let masked = match (mode, &*preview) {
                _ if files.is_empty() => {
                    return stage.set(Stage::Failed("Choose a file to share first.".into()));
                }
                (Mode::Full, _) => None,
                (Mode::Masked, Preview::Ready { files, .. }) => Some(files.clone()),
                (Mode::Masked, _) => {
                    return stage.set(Stage::Failed(
                        "Wait for the masked preview before sharing.".into(),
                    ));
                }
            };
            let stage = stage.clone();
            let flag = Rc::new(Cell::new(false));
            *cancelled.borrow_mut() = flag.clone();
            if format == Format::Shl {
                let (files, passcode) = ((*files).clone(), shl_passcode.clone());
                wasm_bindgen_futures::spawn_local(async move {
                    stage.set(Stage::Working {
                        what: "Reading".into(),
                        fraction: 0.0,
                    });
                    let done = share_shl(
                        &files,
                        masked.as_deref(),
                        &passcode,
                        expires_in,
                        max_downloads,
                        &stage,
                        &flag,
                    )
                    .await;
                    stage.set(match done {
                        Ok(done) => done,
                        Err(_) if flag.get() => {
                            Stage::Failed("Cancelled. Nothing was shared.".into())
                        }
                        Err(message) => Stage::Failed(message),
                    });
                });
                return;
            }
            let entries = match &masked {
                None => file_entries(&files),
                Some(masked) => masked_entries(masked),
            };
            let password = password.clone();
            let canceller = canceller.borrow().clone();
            wasm_bindgen_futures::spawn_local(async move {
                stage.set(Stage::Working {
                    what: "Encrypting".into(),
                    fraction: 0.0,
                });
                let done = share(
                    entries,
                    &password,
                    expires_in,
                    max_downloads,
                    &stage,
                    &canceller,
                    &flag,
                )
                .await;
                stage.set(match done {
                    Ok(done) => done,
                    Err(_) if flag.get() => Stage::Failed("Cancelled. Nothing was shared.".into()),
                    Err(message) => Stage::Failed(message),
                });
            });
        })
    };
    let on_share = {
        let (share_as, format) = (share_as.clone(), *format);
        Callback::from(move |_: MouseEvent| share_as.emit(format))
    };
    let on_fallback = {
        let share_as = share_as.clone();
        Callback::from(move |_: MouseEvent| share_as.emit(Format::MedSeal))
    };

    let busy = matches!(*stage, Stage::Working { .. });
    let result = match &*stage {
        Stage::Choosing => html! {},
        Stage::Working { what, fraction } => html! {
            <div class="progress-box" aria-live="polite">
                <label for="progress">{ format!("{what}… {:.0}%", fraction * 100.0) }</label>
                <progress id="progress" data-testid="progress" max="1" value={fraction.to_string()} />
                <button data-testid="cancel-button" onclick={on_cancel}>{ "Cancel" }</button>
            </div>
        },
        Stage::Failed(message) => {
            html! { <p class="error" data-testid="error" role="alert">{ message.clone() }</p> }
        }
        Stage::NotFit(why) => html! {
            <div class="notice" data-testid="shl-not-fit" role="alert">
                <p>{ format!("{why} A MedSeal link carries any file, of any size.") }</p>
                <button class="primary" data-testid="shl-fallback" onclick={on_fallback}>{ "Share as a MedSeal link instead" }</button>
            </div>
        },
        Stage::Done {
            link,
            revoke_link,
            shl,
        } => {
            let on_copy = {
                let link = link.clone();
                let copied = copied.clone();
                Callback::from(move |_| {
                    let link = link.clone();
                    let copied = copied.clone();
                    wasm_bindgen_futures::spawn_local(async move {
                        copied.set(Some(browser::copy_to_clipboard(&link).await));
                    });
                })
            };
            html! {
                <div class="result" aria-live="polite">
                    <h2>{ "Your record is sealed and shared" }</h2>
                    <label for="share-link">{ "Send this link to your doctor. Anyone with it can open the record until it expires." }</label>
                    <div class="link-row">
                        <input id="share-link" data-testid="share-link" readonly=true value={link.clone()} />
                        <button onclick={on_copy} data-testid="copy-link">{ if matches!(*copied, Some(Ok(()))) { "Copied" } else { "Copy link" } }</button>
                    </div>
                    if let Some(Err(why)) = &*copied {
                        <p class="meta" data-testid="copy-failed" role="status">{ why.clone() }</p>
                    }
                    <QrCodeView text={link.clone()} label="QR code of the share link, for a phone to scan" />
                    if *shl {
                        <p data-testid="shl-note">{ "This is a SMART Health Link: any SMART Health Link viewer, patient app or clinical system that reads them can open it." }</p>
                    }
                    if *shl && !passcode.is_empty() {
                        <p>{ "Tell your doctor the passcode separately, for example by phone. It is not in the link, and the link stops working after too many wrong tries." }</p>
                    }
                    if !*shl && !password.is_empty() {
                        <p>{ "Tell your doctor the password separately, for example by phone. It is not in the link." }</p>
                    }
                    <div class="private">
                        <h3>{ "Your private revoke link" }</h3>
                        <p>{ "Keep this link to yourself. Opening it lets you delete the share at any time." }</p>
                        <a data-testid="revoke-link" href={revoke_link.clone()}>{ revoke_link.clone() }</a>
                    </div>
                </div>
            }
        }
    };

    html! {
        <section class="share" aria-labelledby="h-share">
            <h1 id="h-share">{ "Share a health record" }</h1>
            <p>{ "Your files are encrypted in this browser before anything is sent. The key travels only in the link you send, after the #, which browsers never send to servers." }</p>
            <div class={classes!("drop", dragging.then_some("dragging"))} ondrop={on_drop} ondragover={on_drag_over} ondragleave={on_drag_leave}>
                <label for="file">{ "Records to share (FHIR JSON or NDJSON, CSV, PDF, images, any file). Drop them here or choose:" }</label>
                <input id="file" type="file" multiple=true data-testid="file-input" onchange={on_files} disabled={busy} />
                if !files.is_empty() {
                    <ul class="picked" data-testid="picked-files">
                        { for files.iter().map(|f| html! { <li>{ format!("{} ({} bytes)", f.name(), f.size()) }</li> }) }
                    </ul>
                }
            </div>
            <fieldset class="mode">
                <legend>{ "Who is it for?" }</legend>
                <label><input type="radio" name="mode" data-testid="mode-full" checked={*mode == Mode::Full} onchange={on_mode(Mode::Full)} />
                    { " My doctor: the full record" }</label>
                <label><input type="radio" name="mode" data-testid="mode-masked" checked={*mode == Mode::Masked} onchange={on_mode(Mode::Masked)} />
                    { " Masked: names, contact details, identifiers and exact dates removed (HIPAA Safe Harbor)" }</label>
            </fieldset>
            { preview_view(&preview) }
            <fieldset class="format">
                <legend>{ "Kind of link" }</legend>
                <label><input type="radio" name="format" data-testid="format-medseal" checked={*format == Format::MedSeal} onchange={on_format(Format::MedSeal)} />
                    { " MedSeal link: any file, any size; an optional password that encrypts" }</label>
                <label><input type="radio" name="format" data-testid="format-shl" checked={*format == Format::Shl} onchange={on_format(Format::Shl)} />
                    { " SMART Health Link: FHIR records, opened by any SMART Health Link viewer or clinical system" }</label>
            </fieldset>
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
                        { for DOWNLOADS.iter().map(|n| html! {
                            <option value={n.to_string()} selected={*n == *max_downloads}>{ n.to_string() }</option>
                        }) }
                    </select>
                </div>
                if *format == Format::MedSeal {
                    <div class="field">
                        <label for="password">{ "Password (optional)" }</label>
                        <input id="password" type="password" data-testid="password" autocomplete="new-password" oninput={on_password} />
                    </div>
                } else {
                    <div class="field">
                        <label for="shl-passcode">{ "Passcode (optional)" }</label>
                        <input id="shl-passcode" type="password" data-testid="shl-passcode" autocomplete="new-password" oninput={on_passcode} />
                    </div>
                }
            </div>
            <button class="primary" data-testid="share-button" onclick={on_share} disabled={busy}>{ "Encrypt and share" }</button>
            { result }
        </section>
    }
}

fn preview_view(preview: &Preview) -> Html {
    match preview {
        Preview::None => html! {},
        Preview::Masking => {
            html! { <p aria-live="polite">{ "Masking your records in this browser…" }</p> }
        }
        Preview::Failed(message) => {
            html! { <p class="error" data-testid="error" role="alert">{ message.clone() }</p> }
        }
        Preview::Ready { files, policy } => html! {
            <section class="preview" data-testid="mask-preview" aria-labelledby="h-preview">
                <h2 id="h-preview">{ "Exactly what will leave this device" }</h2>
                <details>
                    <summary>{ "What the Safe Harbor policy removes" }</summary>
                    <ul>{ for policy.iter().map(|line| html! { <li>{ line.clone() }</li> }) }</ul>
                </details>
                { for files.iter().map(|f| html! {
                    <div class="masked-file">
                        <h3>{ f.name.clone() }</h3>
                        <ul data-testid="mask-report">{ for f.report.iter().map(|line| html! { <li>{ line.clone() }</li> }) }</ul>
                        <MaskDiff changes={f.changes.clone()} omitted={f.omitted} />
                        <details>
                            <summary>{ "The masked file as it will be sealed" }</summary>
                            <pre class="text-view" data-testid="masked-text">{ String::from_utf8_lossy(&f.data[..f.data.len().min(20_000)]).into_owned() }</pre>
                        </details>
                    </div>
                }) }
            </section>
        },
    }
}

fn select_value(event: &Event) -> Option<String> {
    event
        .target()?
        .dyn_into::<web_sys::HtmlSelectElement>()
        .ok()
        .map(|s| s.value())
}

fn set(object: &Object, key: &str, value: &JsValue) {
    let _ = Reflect::set(object, &JsValue::from_str(key), value);
}

fn get(object: &JsValue, key: &str) -> JsValue {
    Reflect::get(object, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

/// Worker entries for picked files: the worker reads the `File`s itself.
fn file_entries(files: &[web_sys::File]) -> Array {
    files
        .iter()
        .map(|f| {
            let entry = Object::new();
            set(&entry, "name", &f.name().into());
            set(&entry, "type", &f.type_().into());
            set(&entry, "file", f);
            JsValue::from(entry)
        })
        .collect()
}

fn masked_entries(files: &[MaskedFile]) -> Array {
    files
        .iter()
        .map(|f| {
            let entry = Object::new();
            set(&entry, "name", &f.name.clone().into());
            set(&entry, "type", &f.media_type.clone().into());
            set(&entry, "data", &Uint8Array::from(f.data.as_slice()));
            set(&entry, "masked", &true.into());
            set(&entry, "policy", &f.policy.clone().into());
            JsValue::from(entry)
        })
        .collect()
}

async fn mask_files(files: &[web_sys::File]) -> Result<Preview, String> {
    let request = Object::new();
    set(&request, "op", &"mask".into());
    set(&request, "files", &file_entries(files));
    let answer = worker::run(&request, &Array::new(), |_, _| {}, &Canceller::default())
        .await
        .map_err(|f| f.message)?;
    let files = Array::from(&get(&answer, "files"))
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let (changes, omitted) = mask_preview::read_preview(&f);
            MaskedFile {
                // File names often carry the patient's name or record number: a masked file gets a
                // neutral name that keeps only the extension.
                name: medseal_core::container::neutral_name(
                    &get(&f, "name").as_string().unwrap_or_default(),
                    i,
                ),
                media_type: get(&f, "type").as_string().unwrap_or_default(),
                data: Rc::new(Uint8Array::new(&get(&f, "data")).to_vec()),
                report: Array::from(&get(&f, "report"))
                    .iter()
                    .filter_map(|l| l.as_string())
                    .collect(),
                policy: get(&f, "policy").as_string().unwrap_or_default(),
                changes,
                omitted,
            }
        })
        .collect();
    let policy = Array::from(&get(&answer, "policy"))
        .iter()
        .filter_map(|l| l.as_string())
        .collect();
    Ok(Preview::Ready { files, policy })
}

/// Seals and uploads in the worker: it reads the file in slices, seals chunk by chunk and sends
/// each part as soon as it is ready, so neither the page nor the worker holds the whole file.
async fn share(
    entries: Array,
    password: &str,
    expires_in: u64,
    max_downloads: u32,
    stage: &UseStateHandle<Stage>,
    canceller: &Canceller,
    cancelled: &Rc<Cell<bool>>,
) -> Result<Stage, String> {
    let request = Object::new();
    set(&request, "op", &"seal".into());
    set(&request, "files", &entries);
    set(&request, "password", &password.into());
    let upload = Object::new();
    set(&upload, "expires_in", &(expires_in as f64).into());
    set(&upload, "max_downloads", &max_downloads.into());
    set(&request, "upload", &upload);
    let on_progress = {
        let stage = stage.clone();
        move |what: String, fraction: f64| stage.set(Stage::Working { what, fraction })
    };
    let sealed = worker::run(&request, &Array::new(), on_progress, canceller)
        .await
        .map_err(|f| f.message)?;
    if cancelled.get() {
        return Err("Cancelled.".into());
    }
    let fragment = get(&sealed, "fragment").as_string().unwrap_or_default();
    let id = get(&sealed, "id").as_string().unwrap_or_default();
    let revoke_token = get(&sealed, "revoke_token").as_string().unwrap_or_default();
    let origin = browser::origin();
    Ok(Stage::Done {
        link: format!("{origin}/s/{id}#{fragment}"),
        revoke_link: format!("{origin}/revoke/{id}#{revoke_token}"),
        shl: false,
    })
}

/// Shares as a SMART Health Link: the files (or their masked copies) must be FHIR JSON or
/// health cards within the server's size; each is encrypted in this page as a compact JWE.
async fn share_shl(
    files: &[web_sys::File],
    masked: Option<&[MaskedFile]>,
    passcode: &str,
    expires_in: u64,
    max_downloads: u32,
    stage: &UseStateHandle<Stage>,
    cancelled: &Rc<Cell<bool>>,
) -> Result<Stage, String> {
    let config = crate::shl::config().await.map_err(|f| f.message)?;
    let mut picked: Vec<(String, Rc<Vec<u8>>)> = Vec::new();
    match masked {
        Some(masked) => {
            picked.extend(masked.iter().map(|f| (f.name.clone(), f.data.clone())));
        }
        None => {
            for file in files {
                // Larger files could never fit: do not read them into the page.
                if file.size() > config.shl_max_file as f64 {
                    return Ok(Stage::NotFit(format!(
                        "“{}” is too large for a SMART Health Link on this server (at most {} MiB).",
                        file.name(),
                        config.shl_max_file >> 20
                    )));
                }
                let buffer = wasm_bindgen_futures::JsFuture::from(file.array_buffer())
                    .await
                    .map_err(|_| format!("“{}” could not be read.", file.name()))?;
                picked.push((file.name(), Rc::new(Uint8Array::new(&buffer).to_vec())));
            }
        }
    }
    if let Some(why) = crate::shl::does_not_fit(&picked, &config) {
        return Ok(Stage::NotFit(why));
    }
    let to_share = picked
        .into_iter()
        .filter_map(|(_, data)| {
            medseal_core::shl::content_type_of(&data)
                .map(|content_type| crate::shl::ToShare { content_type, data })
        })
        .collect();
    let progress = {
        let stage = stage.clone();
        move |what: &str, fraction: f64| {
            stage.set(Stage::Working {
                what: what.to_owned(),
                fraction,
            });
        }
    };
    let passcode = (!passcode.is_empty()).then_some(passcode);
    let hosted = crate::shl::host(
        to_share,
        passcode,
        expires_in,
        max_downloads,
        None,
        progress,
        cancelled,
    )
    .await?;
    Ok(Stage::Done {
        link: hosted.link,
        revoke_link: hosted.revoke_link,
        shl: true,
    })
}
