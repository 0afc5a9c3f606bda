//! The patient's private revoke page: the token is in the fragment and is sent only in a header.

use yew::prelude::*;

use crate::{api, browser};

#[derive(Properties, PartialEq)]
pub struct Props {
    pub id: String,
    /// A SMART Health Link (`/revoke/shl/{id}`) rather than a share.
    pub shl: bool,
}

#[derive(Clone, PartialEq)]
enum State {
    Ready,
    Working,
    Done,
    Failed(String),
}

#[function_component(RevokePage)]
pub fn revoke_page(props: &Props) -> Html {
    let token = use_state(String::new);
    let state = use_state(|| State::Ready);
    {
        let token = token.clone();
        use_effect_with((), move |()| token.set(browser::take_fragment()));
    }
    let on_revoke = {
        let id = props.id.clone();
        let shl = props.shl;
        let token = token.clone();
        let state = state.clone();
        Callback::from(move |_| {
            let (id, token, state) = (id.clone(), (*token).clone(), state.clone());
            state.set(State::Working);
            wasm_bindgen_futures::spawn_local(async move {
                let done = if shl {
                    api::revoke_shl(&id, &token).await
                } else {
                    api::revoke_share(&id, &token).await
                };
                match done {
                    Ok(()) => state.set(State::Done),
                    Err(f) if f.code == "bad_token" => state.set(State::Failed(
                        "This revoke link is not valid for this share.".into(),
                    )),
                    Err(f)
                        if shl
                            && matches!(
                                f.code.as_str(),
                                "not_found" | "expired" | "revoked" | "used_up" | "disabled"
                            ) =>
                    {
                        state.set(State::Failed(
                            "This link is already gone: it expired, was used up or was revoked."
                                .into(),
                        ));
                    }
                    Err(f) => state.set(State::Failed(api::explain_share_failure(&f))),
                }
            });
        })
    };
    html! {
        <section>
            <h1>{ "Revoke a share" }</h1>
            {
                match &*state {
                    State::Done => html! { <p data-testid="revoked" role="status">{ "The share is deleted. Its link no longer opens anything." }</p> },
                    State::Failed(message) => html! { <p class="error" data-testid="error" role="alert">{ message }</p> },
                    _ => html! {
                        <>
                            <p>{ "Revoking deletes the encrypted record from the server at once. Anyone holding the link will no longer be able to open it." }</p>
                            <button class="danger" data-testid="revoke-button" onclick={on_revoke} disabled={*state == State::Working}>{ "Revoke now" }</button>
                        </>
                    },
                }
            }
        </section>
    }
}
