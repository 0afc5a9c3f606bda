//! Shows one decrypted file as a person expects to read it: a FHIR document (IPS) section by
//! section, other FHIR as a clinician's summary, PDFs
//! and images inline, CSV as a table, text as text, anything else as a download. Decrypted
//! content is only ever inserted as text nodes or loaded from an object URL, never as HTML.

use std::rc::Rc;

use medseal_core::record::{
    ClinicalRecord, Entry, PatientSummary, TestResults, looks_like_fhir, read_fhir,
};
use yew::prelude::*;

use super::document_view::DocumentView;
use super::trend_chart::TrendChart;

/// A file that was decrypted in this browser.
#[derive(Clone, Debug, PartialEq)]
pub struct OpenedFile {
    pub name: String,
    pub media_type: String,
    /// True if the patient masked it before sharing.
    pub masked: bool,
    /// The file's size in bytes.
    pub size: u64,
    /// Its bytes, when small enough to show here (empty for larger files, which are offered
    /// only as a download).
    pub data: Rc<Vec<u8>>,
    /// An object URL of the bytes for inline display, typed by their magic bytes alone
    /// (`view_type`), never by the sender's media type.
    pub url: String,
    /// The type of `url`'s Blob: `application/pdf`, `image/png`, `image/jpeg`, `image/gif`,
    /// `image/webp` when the magic bytes prove it, otherwise `application/octet-stream`.
    pub view_type: String,
    /// An `application/octet-stream` object URL of the same bytes, for "Download original".
    pub download_url: String,
}

#[derive(Properties, PartialEq)]
pub struct Props {
    pub file: OpenedFile,
}

fn today() -> String {
    let iso: String = js_sys::Date::new_0().to_iso_string().into();
    iso.chars().take(10).collect()
}

#[function_component(RecordView)]
pub fn record_view(props: &Props) -> Html {
    let file = &props.file;
    {
        // The object URLs die with the view.
        let urls = (file.url.clone(), file.download_url.clone());
        use_effect_with(urls, |(view, download)| {
            let (view, download) = (view.clone(), download.clone());
            move || {
                crate::browser::revoke_url(&view);
                crate::browser::revoke_url(&download);
            }
        });
    }
    let media = file.media_type.to_ascii_lowercase();
    let name = file.name.to_ascii_lowercase();
    let body = if file.data.len() as u64 != file.size {
        html! { <p data-testid="too-large">{ format!("This file is too large to show here ({}). Use “Download original” to open it.", human_size(file.size)) }</p> }
    } else if file.view_type == "application/pdf" {
        // Only a file whose bytes are a PDF goes into the viewer, whatever its name says.
        html! {
            <object class="pdf" data={file.url.clone()} type="application/pdf" aria-label={format!("PDF document {}", file.name)}>
                <p>{ "This browser cannot show PDFs inline. Use “Download original”." }</p>
            </object>
        }
    } else if file.view_type.starts_with("image/") {
        html! { <img class="inline-image" src={file.url.clone()} alt={format!("Image {}", file.name)} /> }
    } else if looks_like_fhir(&file.data) {
        // A FHIR document (an IPS) is read as its author wrote it, section by section; its
        // entries are also offered as the clinician's summary every other record gets.
        let document = medseal_core::ips::read_document(&file.data);
        match (document, read_fhir(&file.data, &today())) {
            (Some(document), record) => html! {
                <>
                    <DocumentView document={Rc::new(document)} />
                    if let Ok(record) = record {
                        <details class="panel document-summary" data-testid="ips-clinical-summary">
                            <summary>{ "Clinical summary of the coded entries" }</summary>
                            <ClinicalView record={Rc::new(record)} />
                        </details>
                    }
                </>
            },
            (None, Ok(record)) => html! { <ClinicalView record={Rc::new(record)} /> },
            (None, Err(e)) => text_view(&file.data, Some(&e.to_string())),
        }
    } else if media.contains("csv") || name.ends_with(".csv") {
        csv_view(&file.data)
    } else if std::str::from_utf8(&file.data).is_ok()
        && (media.starts_with("text/")
            || media.contains("json")
            || media.contains("xml")
            || media.is_empty())
    {
        text_view(&file.data, None)
    } else {
        html! { <p>{ "This kind of file cannot be shown here. Use “Download original” to open it." }</p> }
    };
    html! {
        <article class="file" data-testid="record-view" aria-labelledby={format!("file-{}", file.url.len())}>
            <div class="file-head">
                <h2 data-testid="file-name">{ file.name.clone() }</h2>
                <p class="meta">{ format!("{} · {}", if file.media_type.is_empty() { "file" } else { &file.media_type }, human_size(file.size)) }</p>
                <a class="button primary" data-testid="download-original" href={file.download_url.clone()} download={file.name.clone()}>
                    { "Download original" }
                </a>
            </div>
            { body }
        </article>
    }
}

#[derive(Properties, PartialEq)]
struct AttachmentProps {
    title: String,
    media_type: String,
    data: Rc<Vec<u8>>,
}

/// An attachment inside a FHIR record: an image inline only when its bytes prove it is one
/// (an SVG never is), anything else an `application/octet-stream` download; its object URL
/// lives as long as the view.
#[function_component(AttachmentView)]
fn attachment_view(props: &AttachmentProps) -> Html {
    let data = props.data.clone();
    let url = use_memo(data, |d| {
        crate::browser::decrypted_view_url(d).unwrap_or_default()
    });
    {
        let url = (*url).clone();
        use_effect_with(url, |u| {
            let u = u.clone();
            move || crate::browser::revoke_url(&u)
        });
    }
    let inline = medseal_core::container::inline_media_type(&props.data);
    if inline.is_some_and(|t| t.starts_with("image/")) {
        html! { <figure><img class="inline-image" src={(*url).clone()} alt={props.title.clone()} /><figcaption>{ props.title.clone() }</figcaption></figure> }
    } else {
        html! { <p><a href={(*url).clone()} download={props.title.clone()}>{ format!("Attachment: {} ({})", props.title, props.media_type) }</a></p> }
    }
}

fn human_size(bytes: u64) -> String {
    match bytes {
        0..1_024 => format!("{bytes} bytes"),
        1_024..1_048_576 => format!("{:.1} KB", bytes as f64 / 1024.0),
        _ => format!("{:.1} MB", bytes as f64 / 1_048_576.0),
    }
}

fn text_view(data: &[u8], note: Option<&str>) -> Html {
    html! {
        <>
            if let Some(note) = note { <p class="meta">{ note.to_owned() }</p> }
            <pre class="text-view" data-testid="text-view">{ String::from_utf8_lossy(data).into_owned() }</pre>
        </>
    }
}

/// Splits CSV text into rows of fields (RFC 4180 quoting).
#[must_use]
pub fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => row.push(std::mem::take(&mut field)),
            ('\r', false) => {}
            ('\n', false) => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (c, _) => field.push(c),
        }
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push(row);
    }
    rows
}

fn csv_view(data: &[u8]) -> Html {
    let rows = parse_csv(&String::from_utf8_lossy(data));
    let Some((head, body)) = rows.split_first() else {
        return html! { <p>{ "This table is empty." }</p> };
    };
    html! {
        <div class="table-wrap">
            <table data-testid="csv-table">
                <thead><tr>{ for head.iter().map(|h| html! { <th scope="col">{ h.clone() }</th> }) }</tr></thead>
                <tbody>
                    { for body.iter().take(5_000).map(|r| html! { <tr>{ for r.iter().map(|c| html! { <td>{ c.clone() }</td> }) }</tr> }) }
                </tbody>
            </table>
        </div>
    }
}

#[derive(Properties, PartialEq)]
struct ClinicalProps {
    record: Rc<ClinicalRecord>,
}

#[function_component(ClinicalView)]
fn clinical_view(props: &ClinicalProps) -> Html {
    let record = &props.record;
    let active: Vec<Entry> = record
        .problems
        .iter()
        .filter(|p| p.status == "active")
        .cloned()
        .collect();
    let resolved: Vec<Entry> = record
        .problems
        .iter()
        .filter(|p| p.status != "active")
        .cloned()
        .collect();
    let active_meds: Vec<Entry> = record
        .medications
        .iter()
        .filter(|m| m.status == "active")
        .cloned()
        .collect();
    let past_meds: Vec<Entry> = record
        .medications
        .iter()
        .filter(|m| m.status != "active")
        .cloned()
        .collect();
    html! {
        <div class="clinical" data-testid="clinical-view">
            if let Some(patient) = &record.patient { { patient_card(patient) } }
            { entry_section("problems", "Active problems", &active, "No active problems recorded.") }
            { entry_section("medications", "Current medications", &active_meds, "No current medications recorded.") }
            { entry_section("allergies", "Allergies", &record.allergies, "No allergies recorded.") }
            { entry_section("immunizations", "Immunizations", &record.immunizations, "No immunizations recorded.") }
            { results_section(&record.results) }
            { encounters_section(record) }
            { notes_section(record) }
            { entry_section("past-problems", "Resolved and past problems", &resolved, "None recorded.") }
            { entry_section("past-medications", "Past medications", &past_meds, "None recorded.") }
            { entry_section("procedures", "Procedures", &record.procedures, "No procedures recorded.") }
            <section class="panel" aria-labelledby="h-contents">
                <h3 id="h-contents">{ "What this record contains" }</h3>
                <p class="meta">{ record.resource_counts.iter().map(|(k, n)| format!("{k}: {n}")).collect::<Vec<_>>().join(" · ") }</p>
            </section>
        </div>
    }
}

fn patient_card(patient: &PatientSummary) -> Html {
    let age = patient
        .age
        .map(|a| format!("{a} years"))
        .unwrap_or_default();
    html! {
        <section class="panel patient" data-testid="patient-summary" aria-labelledby="h-patient">
            <h3 id="h-patient">{ if patient.name.is_empty() { "Patient".to_owned() } else { patient.name.clone() } }</h3>
            <dl>
                <dt>{ "Sex" }</dt><dd>{ patient.sex.clone() }</dd>
                <dt>{ "Born" }</dt><dd>{ patient.birth_date.clone() }</dd>
                <dt>{ "Age" }</dt><dd>{ age }</dd>
                if let Some(deceased) = &patient.deceased { <><dt>{ "Deceased" }</dt><dd>{ deceased.clone() }</dd></> }
                if !patient.contact.is_empty() { <><dt>{ "Contact" }</dt><dd>{ patient.contact.join(" · ") }</dd></> }
                if !patient.address.is_empty() { <><dt>{ "Address" }</dt><dd>{ patient.address.join(" · ") }</dd></> }
                if !patient.identifiers.is_empty() { <><dt>{ "Identifiers" }</dt><dd>{ patient.identifiers.join(" · ") }</dd></> }
            </dl>
        </section>
    }
}

fn entry_section(id: &str, title: &str, entries: &[Entry], empty: &str) -> Html {
    html! {
        <section class="panel" data-testid={id.to_owned()} aria-labelledby={format!("h-{id}")}>
            <h3 id={format!("h-{id}")}>{ title }</h3>
            if entries.is_empty() {
                <p class="meta">{ empty }</p>
            } else {
                <ul class="entries">
                    { for entries.iter().map(|e| html! {
                        <li>
                            <span class="entry-text">{ e.text.clone() }</span>
                            <span class="meta">{ [e.date.as_str(), e.status.as_str(), e.code.as_str()].iter().filter(|s| !s.is_empty()).copied().collect::<Vec<_>>().join(" · ") }</span>
                        </li>
                    }) }
                </ul>
            }
        </section>
    }
}

fn results_section(results: &[TestResults]) -> Html {
    let mut categories: Vec<&str> = results.iter().map(|t| t.category.as_str()).collect();
    categories.dedup();
    html! {
        <section class="panel" data-testid="results" aria-labelledby="h-results">
            <h3 id="h-results">{ "Results and vital signs" }</h3>
            if results.is_empty() { <p class="meta">{ "No results recorded." }</p> }
            { for categories.into_iter().map(|category| {
                let tests: Vec<&TestResults> = results.iter().filter(|t| t.category == category).collect();
                html! {
                    <>
                        <h4>{ category_title(category) }</h4>
                        <div class="table-wrap">
                        <table class="results">
                            <thead><tr>
                                <th scope="col">{ "Test" }</th><th scope="col">{ "Latest" }</th><th scope="col">{ "Date" }</th>
                                <th scope="col">{ "Reference range" }</th><th scope="col">{ "Trend" }</th>
                            </tr></thead>
                            <tbody>
                                { for tests.into_iter().map(result_row) }
                            </tbody>
                        </table>
                        </div>
                    </>
                }
            }) }
        </section>
    }
}

fn category_title(category: &str) -> String {
    match category {
        "vital-signs" => "Vital signs".into(),
        "laboratory" => "Laboratory".into(),
        "survey" => "Surveys and scores".into(),
        "" => "Other observations".into(),
        other => other.replace('-', " "),
    }
}

fn result_row(test: &TestResults) -> Html {
    let latest = test.measurements.last();
    let history: Vec<String> = test
        .measurements
        .iter()
        .map(|m| format!("{}: {}", m.date, m.display))
        .collect();
    html! {
        <tr data-testid="result-row">
            <th scope="row">
                <span class="entry-text">{ test.name.clone() }</span>
                <span class="meta">{ format!(" {}", test.code) }</span>
            </th>
            <td>
                { latest.map(|m| m.display.clone()).unwrap_or_default() }
                if let Some(m) = latest.filter(|m| !m.interpretation.is_empty()) { <span class="meta">{ format!(" ({})", m.interpretation) }</span> }
            </td>
            <td>{ latest.map(|m| m.date.clone()).unwrap_or_default() }</td>
            <td>{ test.reference_range.clone() }</td>
            <td>
                <TrendChart test={test.clone()} />
                if test.measurements.len() > 1 {
                    <details><summary>{ format!("All {} values", test.measurements.len()) }</summary>
                        <ul class="history">{ for history.into_iter().map(|h| html! { <li>{ h }</li> }) }</ul>
                    </details>
                }
            </td>
        </tr>
    }
}

fn encounters_section(record: &ClinicalRecord) -> Html {
    html! {
        <section class="panel" data-testid="encounters" aria-labelledby="h-encounters">
            <h3 id="h-encounters">{ "Encounters" }</h3>
            if record.encounters.is_empty() { <p class="meta">{ "No encounters recorded." }</p> }
            <ol class="timeline">
                { for record.encounters.iter().map(|e| html! {
                    <li>
                        <time>{ e.start.clone() }</time>
                        <span class="entry-text">{ e.kind.clone() }</span>
                        <span class="meta">{ [e.class.as_str(), e.reason.as_str()].iter().filter(|s| !s.is_empty()).copied().collect::<Vec<_>>().join(" · ") }</span>
                    </li>
                }) }
            </ol>
        </section>
    }
}

fn notes_section(record: &ClinicalRecord) -> Html {
    html! {
        <section class="panel" data-testid="notes" aria-labelledby="h-notes">
            <h3 id="h-notes">{ "Clinical notes" }</h3>
            if record.notes.is_empty() && record.attachments.is_empty() { <p class="meta">{ "No notes recorded." }</p> }
            { for record.notes.iter().map(|n| html! {
                <details class="note">
                    <summary>{ format!("{} · {}", n.date, n.title) }</summary>
                    <pre class="text-view">{ n.text.clone() }</pre>
                </details>
            }) }
            { for record.attachments.iter().map(|a| html! {
                <AttachmentView title={a.title.clone()} media_type={a.media_type.clone()} data={Rc::new(a.data.clone())} />
            }) }
        </section>
    }
}
