//! The patient's private withdraw page: the token is in the fragment and is sent only in a
//! header.

use yew::prelude::*;

use crate::{api_study, browser};

#[derive(Properties, PartialEq)]
pub struct Props {
    pub study: String,
    pub id: String,
}

#[derive(Clone, PartialEq)]
enum State {
    Ready,
    Working,
    Done,
    Failed(String),
}

#[function_component(WithdrawPage)]
pub fn withdraw_page(props: &Props) -> Html {
    let token = use_state(String::new);
    let state = use_state(|| State::Ready);
    {
        let token = token.clone();
        use_effect_with((), move |()| token.set(browser::take_fragment()));
    }
    let on_withdraw = {
        let (study, id, token, state) = (
            props.study.clone(),
            props.id.clone(),
            token.clone(),
            state.clone(),
        );
        Callback::from(move |_| {
            let (study, id, token, state) =
                (study.clone(), id.clone(), (*token).clone(), state.clone());
            state.set(State::Working);
            wasm_bindgen_futures::spawn_local(async move {
                match api_study::withdraw(&study, &id, &token).await {
                    Ok(()) => state.set(State::Done),
                    Err(f) => state.set(State::Failed(match f.code.as_str() {
                        "bad_token" | "missing_token" => "This withdraw link is not valid for this contribution.".into(),
                        "not_found" | "withdrawn" | "gone" => "This contribution no longer exists: it was already withdrawn or the study has ended.".into(),
                        _ => f.message,
                    })),
                }
            });
        })
    };
    html! {
        <section>
            <h1>{ "Withdraw a contribution" }</h1>
            {
                match &*state {
                    State::Done => html! { <p data-testid="withdrawn" role="status">{ "Your contribution is deleted from the server. The researcher will not receive it." }</p> },
                    State::Failed(m) => html! { <p class="error" data-testid="error" role="alert">{ m }</p> },
                    _ => html! {
                        <>
                            <p>{ "Withdrawing deletes your encrypted contribution from the server at once, while the study is open." }</p>
                            <button class="danger" data-testid="withdraw-button" onclick={on_withdraw} disabled={*state == State::Working}>{ "Withdraw now" }</button>
                        </>
                    },
                }
            }
        </section>
    }
}
