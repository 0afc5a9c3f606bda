//! MedSeal's browser app. Everything secret happens here: the server only ever receives
//! ciphertext. See ARCHITECTURE.md for the map.
#![forbid(unsafe_code)]

mod api;
mod app;
mod browser;
mod components;
mod pages;
mod worker;

fn main() {
    yew::Renderer::<app::App>::new().render();
}
