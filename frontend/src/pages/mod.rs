//! One module per page of the app.

pub mod open;
pub mod revoke;
pub mod share;
