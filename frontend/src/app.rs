//! Top-level component and the routes of the app. Routing is by path only: secrets live in the
//! fragment, which pages read themselves and then remove from the address bar.

use yew::prelude::*;

use crate::pages::{
    contribute::ContributePage,
    keys::KeysPage,
    share_key::{OpenWithKeyPage, ShareToKeyPage},
    study_admin::StudyAdminPage,
    study_new::StudyNewPage,
    withdraw::WithdrawPage,
};
use crate::pages::{open::OpenPage, revoke::RevokePage, share::SharePage, shl_open::ShlOpenPage};

/// The pages of the app, parsed from `location.pathname`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    /// `/`: the patient's share page.
    Share,
    /// `/s/{id}`: the doctor's view of a share.
    Open { id: String },
    /// `/revoke/{id}`: the patient's private page that deletes a share.
    Revoke { id: String },
    /// `/revoke/shl/{id}`: the same for a SMART Health Link hosted here.
    RevokeShl { id: String },
    /// `/open`: paste a SMART Health Link or a MedSeal link. `/` with a `#shlink:/` fragment
    /// opens that link.
    OpenLink,
    /// `/keys`: the key manager.
    Keys,
    /// `/study/new`: a researcher creates a study.
    StudyNew,
    /// `/study/{id}`: the researcher's study page (admin token in the fragment).
    StudyAdmin { id: String },
    /// `/c/{id}`: a patient contributes (key fingerprint in the fragment).
    Contribute { id: String },
    /// `/withdraw/{study}/{id}`: a patient withdraws a contribution (token in the fragment).
    Withdraw { study: String, id: String },
    /// `/to/{fingerprint}`: a patient shares to a doctor's published key.
    ToKey { fingerprint: String },
    /// `/k/{id}`: a doctor opens a share sealed to their key (no fragment at all).
    OpenWithKey { id: String },
    /// Anything else.
    NotFound,
}

impl Route {
    /// Parses a path such as `/s/abc`.
    #[must_use]
    pub fn from_path(path: &str) -> Self {
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        match parts.as_slice() {
            [""] => Self::Share,
            ["s", id] if medseal_core::id::is_object_id(id) => Self::Open {
                id: (*id).to_owned(),
            },
            ["revoke", id] if medseal_core::id::is_object_id(id) => Self::Revoke {
                id: (*id).to_owned(),
            },
            ["revoke", "shl", id] if medseal_core::id::is_link_id(id) => Self::RevokeShl {
                id: (*id).to_owned(),
            },
            ["open"] => Self::OpenLink,
            ["keys"] => Self::Keys,
            ["study", "new"] => Self::StudyNew,
            ["study", id] if medseal_core::id::is_object_id(id) => Self::StudyAdmin {
                id: (*id).to_owned(),
            },
            ["c", id] if medseal_core::id::is_object_id(id) => Self::Contribute {
                id: (*id).to_owned(),
            },
            ["withdraw", study, id]
                if medseal_core::id::is_object_id(study) && medseal_core::id::is_object_id(id) =>
            {
                Self::Withdraw {
                    study: (*study).to_owned(),
                    id: (*id).to_owned(),
                }
            }
            ["to", fp] if fp.len() == 43 && medseal_core::id::from_b64url(fp).is_ok() => {
                Self::ToKey {
                    fingerprint: (*fp).to_owned(),
                }
            }
            ["k", id] if medseal_core::id::is_object_id(id) => Self::OpenWithKey {
                id: (*id).to_owned(),
            },
            _ => Self::NotFound,
        }
    }
}

#[function_component(App)]
pub fn app() -> Html {
    let mut route = Route::from_path(&crate::browser::pathname());
    // A SMART Health Link opens on the viewer's address with the link in the fragment
    // (`https://medseal.example/#shlink:/...`).
    if route == Route::Share && crate::browser::fragment_has(medseal_core::shl::SCHEME) {
        route = Route::OpenLink;
    }
    // Opened files a closed tab left on disk go as soon as the app starts again.
    use_effect_with((), |()| {
        wasm_bindgen_futures::spawn_local(crate::opfs::sweep_unused());
    });
    // Outside a secure context (plain http on a network address) the app touches no key,
    // password, fragment or record: it explains instead.
    let page = if !crate::browser::may_handle_secrets() {
        html! {
            <section data-testid="insecure-context">
                <h1>{ "This connection is not secure" }</h1>
                <p class="error" role="alert">{ "MedSeal opened over plain http, not https. Anyone on the network could read or change this page, so MedSeal does not handle keys, passwords or records here: nothing was read, decrypted or sent." }</p>
                <p>{ "Open the same link with https:// instead of http://, or ask whoever runs this server to turn on https. (Plain http is only allowed on this computer itself: localhost, 127.0.0.1 or [::1].)" }</p>
            </section>
        }
    } else {
        match route {
            Route::Share => html! { <SharePage /> },
            Route::Open { id } => html! { <OpenPage {id} /> },
            Route::Revoke { id } => html! { <RevokePage {id} shl={false} /> },
            Route::RevokeShl { id } => html! { <RevokePage {id} shl={true} /> },
            Route::OpenLink => html! { <ShlOpenPage /> },
            Route::Keys => html! { <KeysPage /> },
            Route::StudyNew => html! { <StudyNewPage /> },
            Route::StudyAdmin { id } => html! { <StudyAdminPage {id} /> },
            Route::Contribute { id } => html! { <ContributePage {id} /> },
            Route::Withdraw { study, id } => html! { <WithdrawPage {study} {id} /> },
            Route::ToKey { fingerprint } => html! { <ShareToKeyPage {fingerprint} /> },
            Route::OpenWithKey { id } => html! { <OpenWithKeyPage {id} /> },
            Route::NotFound => html! {
                <section>
                    <h1>{ "Page not found" }</h1>
                    <p data-testid="error" role="alert">{ "This address does not lead anywhere in MedSeal." }</p>
                    <p><a href="/">{ "Share a record" }</a></p>
                </section>
            },
        }
    };
    html! {
        <>
            <header class="top">
                <a class="brand" href="/">{ "MedSeal" }</a>
                <span class="tagline">{ "Records sealed in your browser. The server sees only ciphertext." }</span>
                <nav class="top-nav">
                    <a href="/">{ "Share" }</a>{ " · " }
                    <a href="/open" data-testid="nav-open">{ "Open a link" }</a>{ " · " }
                    <a href="/keys" data-testid="nav-keys">{ "Keys" }</a>{ " · " }
                    <a href="/study/new" data-testid="nav-new-study">{ "New study" }</a>
                </nav>
            </header>
            <main>
                if crate::browser::may_handle_secrets() {
                    <crate::components::support::BrowserSupport />
                }
                { page }
            </main>
        </>
    }
}
