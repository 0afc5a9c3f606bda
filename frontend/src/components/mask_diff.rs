//! The side-by-side preview of masking: each value masking changed, as it is on the patient's
//! device and as it will leave it, with the removed parts highlighted.
//!
//! The change list holds the patient's own identifiers, so it only ever lives in this page: it is
//! never part of what is sealed or uploaded (see `medseal_core::mask::MaskPreview`).

use medseal_core::mask::{Change, Method};
use yew::prelude::*;

/// How many changes one file shows before "show all" is needed; a Bundle can hold thousands.
const SHOWN_AT_FIRST: usize = 200;

#[derive(Properties, PartialEq)]
pub struct MaskDiffProps {
    /// The changes, in document order.
    pub changes: std::rc::Rc<Vec<Change>>,
    /// Changes made but not listed (the list is bounded).
    pub omitted: u64,
}

/// A table of original and masked values.
#[function_component(MaskDiff)]
pub fn mask_diff(props: &MaskDiffProps) -> Html {
    let expanded = use_state(|| false);
    if props.changes.is_empty() {
        return html! {
            <p data-testid="mask-diff-empty">{ "Masking found nothing to change in this file." }</p>
        };
    }
    let limit = if *expanded {
        props.changes.len()
    } else {
        SHOWN_AT_FIRST.min(props.changes.len())
    };
    let hidden = props.changes.len() - limit;
    let on_more = {
        let expanded = expanded.clone();
        Callback::from(move |_| expanded.set(true))
    };
    html! {
        <div class="mask-diff" data-testid="mask-diff">
            <table>
                <caption>{ "What masking changed: the original stays on this device, only the right-hand column leaves it. Highlighted parts are removed or replaced." }</caption>
                <thead>
                    <tr>
                        <th scope="col">{ "Where" }</th>
                        <th scope="col">{ "On your device" }</th>
                        <th scope="col">{ "What leaves it" }</th>
                    </tr>
                </thead>
                <tbody>
                    { for props.changes[..limit].iter().map(row) }
                </tbody>
            </table>
            if hidden > 0 {
                <button class="link-button" data-testid="mask-diff-more" onclick={on_more}>
                    { format!("Show {hidden} more change{}", if hidden == 1 { "" } else { "s" }) }
                </button>
            }
            if props.omitted > 0 {
                <p>{ format!("{} further change{} of the same kinds are made but not listed here.", props.omitted, if props.omitted == 1 { "" } else { "s" }) }</p>
            }
        </div>
    }
}

fn row(change: &Change) -> Html {
    // A whole value replaced is marked as new; a text with a few words replaced is shown plain,
    // so the eye goes to the marked words on the left.
    let whole = matches!(change.spans.as_slice(), [(0, end)] if *end == change.before.len());
    let after = match &change.after {
        Some(text) if whole => html! { <span class="after">{ text.clone() }</span> },
        Some(text) => html! { <span>{ text.clone() }</span> },
        None => html! { <em class="removed-note">{ "removed" }</em> },
    };
    html! {
        <tr data-testid="mask-diff-row" data-kind={format!("{:?}", change.kind)}>
            <td class="where">
                <span class="mono">{ change.location.clone() }</span>
                <br />
                <small>{ format!("{} ({})", change.kind.plain(), method_words(change.method)) }</small>
            </td>
            <td class="before" data-testid="mask-diff-before">{ highlighted(&change.before, &change.spans) }</td>
            <td data-testid="mask-diff-after">{ after }</td>
        </tr>
    }
}

/// `before` with its removed spans in `<mark>`. Spans that do not fall on character boundaries
/// (they never should) are shown unhighlighted rather than panicking.
fn highlighted(before: &str, spans: &[(usize, usize)]) -> Html {
    let mut parts = Vec::new();
    let mut at = 0;
    for &(start, end) in spans {
        if start < at || end < start || end > before.len() {
            continue;
        }
        let (Some(plain), Some(marked)) = (before.get(at..start), before.get(start..end)) else {
            continue;
        };
        if !plain.is_empty() {
            parts.push(html! { { plain.to_owned() } });
        }
        parts.push(html! { <mark>{ marked.to_owned() }</mark> });
        at = end;
    }
    if let Some(rest) = before.get(at..) {
        if !rest.is_empty() {
            parts.push(html! { { rest.to_owned() } });
        }
    }
    html! { <>{ for parts }</> }
}

fn method_words(method: Method) -> &'static str {
    match method {
        Method::Keep => "kept",
        Method::Redact => "removed",
        Method::Generalize => "generalized",
        Method::DateShift => "date shifted",
        Method::Pseudonym => "replaced by a pseudonym",
        Method::Substitute => "substituted",
    }
}
