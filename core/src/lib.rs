//! MedSeal's shared core: everything that must behave identically in the browser, the native
//! `medseal` tool and the tests. It performs no I/O: callers hand it bytes and get bytes back.
#![forbid(unsafe_code)]

pub mod container;
pub mod id;
pub mod mask;
pub mod pack;
pub mod pki;
pub mod record;
pub mod seal;
pub mod wire;
