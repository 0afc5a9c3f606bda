//! MedSeal's browser app. Everything secret happens here: the server only ever receives
//! ciphertext. See ARCHITECTURE.md for the map.
#![forbid(unsafe_code)]

mod api;
mod api_study;
mod app;
mod browser;
mod components;
mod idb;
#[allow(dead_code)] // the workers' half is unused here
mod mask_preview;
#[allow(dead_code)] // the worker's half (DiskFile) is unused here
mod opfs;
mod pages;
mod shl;
mod study_ui;
mod worker;

fn main() {
    yew::Renderer::<app::App>::new().render();
}
