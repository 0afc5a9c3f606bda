#![cfg(not(target_arch = "wasm32"))]
//! The one integration test binary of medseal-core (matklad, "Delete Cargo Integration Tests").

mod argon2_ceiling;
mod common;
mod frozen;
mod ips;
mod pki;
mod props;
mod roundtrip;
mod shl;
mod wycheproof_vectors;
