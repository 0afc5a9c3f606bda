//! One module per page of the app.

pub mod contribute;
pub mod keys;
pub mod open;
pub mod revoke;
pub mod share;
pub mod share_key;
pub mod shl_open;
pub mod study_admin;
pub mod study_new;
pub mod withdraw;
