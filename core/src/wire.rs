//! Serializable types exchanged between the browser and the server over HTTP. They are a
//! compatibility boundary: change them only with both ends.

use serde::{Deserialize, Serialize};

/// The server's answer to a successful share upload.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShareCreated {
    /// The share's identifier: 128 random bits chosen by the server, base64url.
    pub id: String,
    /// The secret that deletes the share. Shown once; the server keeps only its hash.
    pub revoke_token: String,
}

/// Every error the API returns has this body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    /// A stable machine-readable code, such as `not_found` or `too_large`.
    pub code: String,
    /// A plain sentence for people.
    pub message: String,
}
