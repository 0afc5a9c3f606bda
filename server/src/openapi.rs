//! The OpenAPI 3 description, generated from the handlers' annotations so it cannot drift.

use axum::Json;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

use crate::handlers::{self, keys, ops, shares, studies};

/// The error body of every failed request.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Stable machine-readable code, such as `not_found`, `used_up` or `bad_token`.
    pub code: String,
    /// A plain sentence for people.
    pub message: String,
}

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The API description.
#[derive(OpenApi)]
#[openapi(
    info(title = "MedSeal server API", description = "Blob server holding only ciphertext, public keys, signed study descriptions and token hashes. See server/API.md."),
    paths(
        shares::create, shares::put_part, shares::status, shares::complete, shares::download,
        shares::revoke, keys::publish, keys::fetch, studies::create, studies::fetch,
        studies::contribute, studies::put_part, studies::status, studies::complete,
        studies::withdraw, studies::list, studies::download, studies::bundle,
        ops::healthz, ops::metrics, serve,
    ),
    components(schemas(
        ErrorBody, shares::CreateShare, shares::ShareCreated, handlers::PartStored,
        handlers::UploadStatus, handlers::Completed, keys::KeyPublished, studies::SignedStudy,
        studies::StudyCreated, studies::CreateContribution, studies::ContributionCreated,
        studies::ContributionInfo, ops::Health,
    )),
    modifiers(&BearerAuth),
)]
pub struct ApiDoc;

/// `GET /api/openapi.json`.
#[utoipa::path(get, path = "/api/openapi.json", tag = "ops",
    responses((status = 200, content_type = "application/json", body = Object)))]
pub async fn serve() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
