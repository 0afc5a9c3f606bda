//! A FHIR document (an International Patient Summary, or any Bundle of type `document`) shown as
//! the document it is: its title, date, patient, authors and attesters, then each section in
//! the author's order with its narrative and what it lists. The narrative arrives as XHTML; it is
//! read by [`medseal_core::ips`] into blocks of plain text, and every piece of it is inserted
//! here as a text node. No markup, link, style or image of the sender's ever reaches the page.

use std::rc::Rc;

use medseal_core::ips::{Block, Document, Entry, Inline, Narrative, Section};
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct Props {
    pub document: Rc<Document>,
}

#[function_component(DocumentView)]
pub fn document_view(props: &Props) -> Html {
    let doc = &props.document;
    let title = if doc.title.trim().is_empty() {
        doc.type_label
            .clone()
            .unwrap_or_else(|| "Clinical document".to_owned())
    } else {
        doc.title.clone()
    };
    let mut facts: Vec<(&str, String)> = Vec::new();
    if let Some(label) = &doc.type_label {
        if label != &title {
            facts.push(("Kind", label.clone()));
        }
    }
    if let Some(date) = &doc.date {
        facts.push(("Date", date.clone()));
    }
    if let Some(status) = &doc.status {
        facts.push(("Status", status.clone()));
    }
    if !doc.authors.is_empty() {
        facts.push(("Author", doc.authors.join(" · ")));
    }
    if let Some(custodian) = &doc.custodian {
        facts.push(("Custodian", custodian.clone()));
    }
    for a in &doc.attesters {
        let who = a.party.clone().unwrap_or_else(|| "(not named)".to_owned());
        let when = a
            .time
            .as_ref()
            .map(|t| format!(", {t}"))
            .unwrap_or_default();
        facts.push(("Attested", format!("{who} ({}{when})", a.mode)));
    }
    html! {
        <div class="document" data-testid="ips-document">
            <header class="panel document-head">
                <h3 data-testid="ips-title">{ title }</h3>
                if let Some(subject) = &doc.subject {
                    <p class="document-subject" data-testid="ips-subject">
                        <strong>{ if subject.name.is_empty() { "Patient (not named)".to_owned() } else { subject.name.clone() } }</strong>
                        { [subject.gender.clone(), subject.birth_date.clone().map(|b| format!("born {b}"))]
                            .into_iter().flatten().map(|s| format!(" · {s}")).collect::<String>() }
                        if subject.unresolved { <span class="meta">{ " · the patient's details are not in this document" }</span> }
                    </p>
                }
                if !facts.is_empty() {
                    <dl class="document-facts">
                        { for facts.into_iter().map(|(k, v)| html! { <><dt>{ k }</dt><dd>{ v }</dd></> }) }
                    </dl>
                }
                // The Composition's own narrative mostly restates the facts above (generated
                // text); with sections to read it folds away, without any it is the document.
                if !doc.narrative.is_empty() {
                    if doc.sections.is_empty() {
                        { narrative_view(&doc.narrative) }
                    } else {
                        <details class="document-narrative" data-testid="ips-document-narrative">
                            <summary>{ "The document's own summary text" }</summary>
                            { narrative_view(&doc.narrative) }
                        </details>
                    }
                }
            </header>
            if doc.sections.is_empty() {
                <p class="meta">{ "This document has no sections." }</p>
            }
            { for doc.sections.iter().enumerate().map(|(i, s)| section_view(s, &i.to_string(), 0)) }
        </div>
    }
}

fn section_view(section: &Section, id: &str, depth: usize) -> Html {
    let heading_id = format!("ips-s-{id}");
    let title = if section.title.trim().is_empty() {
        section
            .codes
            .iter()
            .find(|c| !c.display.is_empty())
            .map_or_else(|| "Untitled section".to_owned(), |c| c.display.clone())
    } else {
        section.title.clone()
    };
    let heading = match depth {
        0 => html! { <h3 id={heading_id.clone()} data-testid="ips-section-title">{ title }</h3> },
        _ => html! { <h4 id={heading_id.clone()} data-testid="ips-section-title">{ title }</h4> },
    };
    // Entries whose only content is an absence statement say it once, under the narrative.
    html! {
        <section class={classes!("panel", "document-section", (depth > 0).then_some("nested"))}
                 data-testid="ips-section" data-code={section.code.clone().unwrap_or_default()}
                 aria-labelledby={heading_id}>
            { heading }
            if !section.narrative.is_empty() {
                { narrative_view(&section.narrative) }
            }
            if let Some(reason) = &section.empty_reason {
                <p class="empty-reason" data-testid="ips-empty-reason">
                    { if reason.text.is_empty() { reason.code.clone() } else { reason.text.clone() } }
                </p>
            }
            if !section.entries.is_empty() {
                { entries_view(&section.entries, section.narrative.is_empty()) }
            }
            if section.narrative.is_empty() && section.entries.is_empty()
                && section.empty_reason.is_none() && section.children.is_empty() {
                <p class="meta">{ "Nothing recorded in this section." }</p>
            }
            { for section.children.iter().enumerate().map(|(i, c)| section_view(c, &format!("{id}-{i}"), depth + 1)) }
        </section>
    }
}

/// The coded entries. With a narrative above them they are the structured detail and fold
/// away; without one they are the section's content and show open.
fn entries_view(entries: &[Entry], open: bool) -> Html {
    let list = html! {
        <ul class="entries" data-testid="ips-entries">
            { for entries.iter().map(|e| {
                let text = e.absent.clone().unwrap_or_else(|| e.summary.clone());
                let meta: Vec<String> = [
                    Some(e.resource_type.clone()),
                    e.date.clone(),
                    e.unresolved.then(|| "not included in this document".to_owned()),
                ].into_iter().flatten().filter(|s| !s.is_empty()).collect();
                html! {
                    <li data-testid={ if e.absent.is_some() { "ips-absent" } else { "ips-entry" } }>
                        <span class="entry-text">{ text }</span>
                        <span class="meta">{ meta.join(" · ") }</span>
                    </li>
                }
            }) }
        </ul>
    };
    if open {
        list
    } else {
        html! {
            <details class="entries-detail">
                <summary>{ format!("Coded entries ({})", entries.len()) }</summary>
                { list }
            </details>
        }
    }
}

fn narrative_view(narrative: &Narrative) -> Html {
    html! {
        <div class="narrative" data-testid="ips-narrative">
            { for narrative.blocks.iter().map(block_view) }
            if narrative.truncated {
                <p class="meta" data-testid="ips-truncated">{ "Part of this text is too long to show here. “Download original” has all of it." }</p>
            }
        </div>
    }
}

fn block_view(block: &Block) -> Html {
    match block {
        Block::Paragraph(inlines) => html! { <p>{ inlines_view(inlines) }</p> },
        Block::Heading(text) => {
            html! { <p class="narrative-heading"><strong>{ text.clone() }</strong></p> }
        }
        Block::List { ordered, items } => {
            let items = items.iter().map(|i| html! { <li>{ inlines_view(i) }</li> });
            if *ordered {
                html! { <ol>{ for items }</ol> }
            } else {
                html! { <ul>{ for items }</ul> }
            }
        }
        Block::Table { head, rows } => html! {
            <div class="table-wrap">
                <table>
                    if !head.is_empty() {
                        <thead><tr>{ for head.iter().map(|h| html! { <th scope="col">{ h.clone() }</th> }) }</tr></thead>
                    }
                    <tbody>
                        { for rows.iter().map(|r| html! { <tr>{ for r.iter().map(cell_view) }</tr> }) }
                    </tbody>
                </table>
            </div>
        },
    }
}

fn cell_view(cell: &String) -> Html {
    let mut lines = cell.split('\n');
    let first = lines.next().unwrap_or_default().to_owned();
    html! {
        <td>
            { first }
            { for lines.map(|l| html! { <><br />{ l.to_owned() }</> }) }
        </td>
    }
}

fn inlines_view(inlines: &[Inline]) -> Html {
    html! {
        { for inlines.iter().map(|inline| match inline {
            Inline::Text { text, bold, italic } => match (bold, italic) {
                (false, false) => html! { { text.clone() } },
                (true, false) => html! { <strong>{ text.clone() }</strong> },
                (false, true) => html! { <em>{ text.clone() }</em> },
                (true, true) => html! { <strong><em>{ text.clone() }</em></strong> },
            },
            Inline::Break => html! { <br /> },
        }) }
    }
}
