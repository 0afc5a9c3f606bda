//! MedSeal's shared core: everything that must behave identically in the browser, the native
//! `medseal` tool and the tests. It performs no I/O: callers hand it bytes and get bytes back.
#![forbid(unsafe_code)]

pub mod archive;
pub mod container;
pub mod export;
pub mod id;
pub mod ips;
pub mod keystore;
pub mod mask;
pub mod pack;
pub mod pki;
pub mod record;
pub mod shl;
pub mod study;
pub mod wire;
