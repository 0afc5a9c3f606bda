//! The OpenAPI 3 description, generated from the handlers' annotations so it cannot drift.

use axum::Json;
use axum::extract::State;
use utoipa::OpenApi;
use utoipa::openapi::header::Header;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};

use crate::AppState;

use crate::handlers::{self, keys, ops, shares, shl, studies};

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

/// The errors every operation can give, added to each so that the document lists every status
/// a client can receive: 429 and 500 on every `/api` operation (the rate limiter and storage
/// failures), 400 `bad_id`/`bad_request` on every operation with a path parameter (malformed
/// identifiers and URL encodings). Path parameters also get their exact shapes.
struct CommonErrors;

fn error_response(description: &str) -> RefOr<utoipa::openapi::Response> {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build(),
        )
        .build()
        .into()
}

fn add_error(op: &mut Operation, status: u16, description: &str) {
    op.responses
        .responses
        .entry(status.to_string())
        .or_insert_with(|| error_response(description));
}

/// What [`crate::handlers::keys::parse_fingerprint`] accepts: 64 hex digits, or 43 base64url
/// characters decoding to 32 bytes with the two unused low bits of the last character zero
/// (the decoder is strict about them).
pub const FINGERPRINT_PATTERN: &str = "^([A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]|[0-9a-fA-F]{64})$";

/// What [`crate::objects::check_id`] accepts: any 22 base64url characters.
pub const ID_PATTERN: &str = "^[A-Za-z0-9_-]{22}$";

/// What [`crate::objects::Object::shl`] accepts: any 43 base64url characters.
pub const LINK_ID_PATTERN: &str = "^[A-Za-z0-9_-]{43}$";

/// The schema of a path parameter, by name.
fn path_parameter_schema(name: &str) -> Option<utoipa::openapi::Schema> {
    let string = ObjectBuilder::new().schema_type(Type::String);
    let schema = match name {
        "id" | "sid" | "cid" => string
            .pattern(Some(ID_PATTERN))
            .min_length(Some(22))
            .max_length(Some(22))
            .description(Some("128-bit identifier: 22 base64url characters")),
        "lid" => string
            .pattern(Some(LINK_ID_PATTERN))
            .min_length(Some(43))
            .max_length(Some(43))
            .description(Some("256-bit link identifier: 43 base64url characters")),
        "fingerprint" => string
            .pattern(Some(FINGERPRINT_PATTERN))
            .min_length(Some(43))
            .max_length(Some(64))
            .description(Some(
                "SHA-256 of the DER SubjectPublicKeyInfo: base64url (43) or hex (64)",
            )),
        _ => return None,
    };
    Some(schema.build().into())
}

impl utoipa::Modify for CommonErrors {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, item) in &mut openapi.paths.paths {
            let is_api = path.starts_with("/api/");
            for op in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.head,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                // Handlers of shares and studies share names (`create`, `put_part`, ...), and
                // operation ids must be unique: prefix them with the tag.
                if let (Some(tag), Some(id)) = (
                    op.tags.as_ref().and_then(|t| t.first()),
                    op.operation_id.as_mut(),
                ) && !id.starts_with(tag.as_str())
                {
                    *id = format!("{tag}_{id}");
                }
                let mut has_path_params = false;
                for param in op.parameters.iter_mut().flatten() {
                    if param.parameter_in == ParameterIn::Path {
                        has_path_params = true;
                        if let Some(schema) = path_parameter_schema(&param.name) {
                            param.schema = Some(schema.into());
                        }
                    }
                }
                if op.request_body.is_some() {
                    // Every body is read with a size limit and at --min-body-rate.
                    add_error(
                        op,
                        413,
                        "`too_large`: the body or the declared size is larger than allowed",
                    );
                    add_error(
                        op,
                        408,
                        "`too_slow`: the body arrived slower than --min-body-rate",
                    );
                }
                if op.security.is_some() {
                    add_error(op, 401, "`missing_token`: no `Authorization: Bearer` token");
                    add_error(
                        op,
                        403,
                        "`bad_token`: the token is not valid for this object",
                    );
                }
                if has_path_params {
                    add_error(
                        op,
                        400,
                        "`bad_id`: a malformed identifier or path; or as documented",
                    );
                }
                if is_api {
                    let limited = ResponseBuilder::new()
                        .description("`rate_limited`: too many requests from this client")
                        .content(
                            "application/json",
                            ContentBuilder::new()
                                .schema(Some(Ref::from_schema_name("ErrorBody")))
                                .build(),
                        )
                        .header(
                            "Retry-After",
                            Header::new(ObjectBuilder::new().schema_type(Type::Integer)),
                        )
                        .build();
                    // A 429 the handler declared keeps its description, and gets the header.
                    match op.responses.responses.get_mut("429") {
                        Some(RefOr::T(response)) => {
                            response.headers.insert(
                                "Retry-After".into(),
                                Header::new(ObjectBuilder::new().schema_type(Type::Integer)),
                            );
                        }
                        _ => {
                            op.responses.responses.insert("429".into(), limited.into());
                        }
                    }
                    add_error(op, 500, "`internal`: the server or its storage failed");
                }
            }
        }
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
        ops::healthz, ops::metrics, serve, shl::config, shl::create, shl::put_part, shl::status,
        shl::complete, shl::manifest, shl::direct, shl::file, shl::revoke,
    ),
    components(schemas(
        ErrorBody, shares::CreateShare, shares::ShareCreated, handlers::PartStored,
        handlers::UploadStatus, handlers::Completed, keys::KeyPublished, studies::SignedStudy,
        studies::StudyCreated, studies::CreateContribution, studies::ContributionCreated,
        studies::ContributionInfo, ops::Health, shl::Config, shl::CreateShl, shl::NewShlFile,
        shl::PasscodeBody, shl::ShlCreated, shl::ManifestRequestBody, shl::ManifestBody,
        shl::ManifestFileBody, shl::PasscodeRefusedBody,
    )),
    modifiers(&BearerAuth, &CommonErrors),
)]
pub struct ApiDoc;

/// The API description with this server's bounds on request fields (sizes, expiry, download
/// limits), so that clients and fuzzers know what will be accepted.
#[must_use]
pub fn document(settings: &crate::settings::Settings) -> serde_json::Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
    let bounds: [(&str, &str, u64, u64); 5] = [
        ("CreateShare", "size", 0, settings.max_object_size),
        (
            "CreateShare",
            "expires_in",
            settings.min_expiry,
            settings.max_expiry,
        ),
        (
            "CreateShare",
            "max_downloads",
            1,
            u64::from(settings.max_downloads),
        ),
        ("CreateContribution", "size", 0, settings.max_object_size),
        ("PartStored", "size", 0, settings.part_size),
    ];
    // Links tell clients and fuzzers how an upload proceeds: parts, status, completion and
    // download of the share just created, with its upload and revoke tokens.
    let share = "$response.body#/id";
    let upload = "Bearer {$response.body#/upload_token}";
    let revoke = "Bearer {$response.body#/revoke_token}";
    let links = serde_json::json!({
        "PutFirstPart": {"operationId": "shares_put_part", "parameters": {
            "id": share, "index": 0, "header.Authorization": upload}},
        "UploadStatus": {"operationId": "shares_status", "parameters": {
            "id": share, "header.Authorization": upload}},
        "Complete": {"operationId": "shares_complete", "parameters": {
            "id": share, "header.Authorization": upload}},
        "Download": {"operationId": "shares_download", "parameters": {"id": share}},
        "Revoke": {"operationId": "shares_revoke", "parameters": {
            "id": share, "header.Authorization": revoke}},
    });
    if let Some(serde_json::Value::Object(created)) =
        doc.pointer_mut("/paths/~1api~1shares/post/responses/201")
    {
        created.insert("links".into(), links);
    }
    // `POST /api/keys` is the same operation as `PUT /api/keys` (API.md): declared too.
    if let Some(mut put) = doc.pointer("/paths/~1api~1keys/put").cloned() {
        if let Some(op) = put.as_object_mut() {
            op.insert("operationId".into(), "keys_publish_post".into());
        }
        if let Some(serde_json::Value::Object(item)) = doc.pointer_mut("/paths/~1api~1keys") {
            item.insert("post".into(), put);
        }
    }
    // And from a study just created to every study and contribution operation: its id and
    // admin token; a contribution's own operations take the contribution's id and tokens.
    let sid = "$response.body#/id";
    let admin = "Bearer {$response.body#/admin_token}";
    let study_links = serde_json::json!({
        "Fetch": {"operationId": "studies_fetch", "parameters": {"sid": sid}},
        "Contribute": {"operationId": "studies_contribute", "parameters": {"sid": sid}},
        "List": {"operationId": "studies_list", "parameters": {
            "sid": sid, "header.Authorization": admin}},
        "Bundle": {"operationId": "studies_bundle", "parameters": {
            "sid": sid, "header.Authorization": admin}},
    });
    let study = "$request.path.sid";
    let cid = "$response.body#/id";
    let withdraw = "Bearer {$response.body#/withdraw_token}";
    let contribution_links = serde_json::json!({
        "PutFirstPart": {"operationId": "studies_put_part", "parameters": {
            "sid": study, "cid": cid, "index": 0, "header.Authorization": upload}},
        "UploadStatus": {"operationId": "studies_status", "parameters": {
            "sid": study, "cid": cid, "header.Authorization": upload}},
        "Complete": {"operationId": "studies_complete", "parameters": {
            "sid": study, "cid": cid, "header.Authorization": upload}},
        "Download": {"operationId": "studies_download", "parameters": {
            "sid": study, "cid": cid}},
        "Withdraw": {"operationId": "studies_withdraw", "parameters": {
            "sid": study, "cid": cid, "header.Authorization": withdraw}},
    });
    for (pointer, links) in [
        ("/paths/~1api~1studies/post/responses/201", study_links),
        (
            "/paths/~1api~1studies~1{sid}~1contributions/post/responses/201",
            contribution_links,
        ),
    ] {
        if let Some(serde_json::Value::Object(created)) = doc.pointer_mut(pointer) {
            created.insert("links".into(), links);
        }
    }
    for (schema, field, min, max) in bounds {
        let pointer = format!("/components/schemas/{schema}/properties/{field}");
        if let Some(serde_json::Value::Object(property)) = doc.pointer_mut(&pointer) {
            property.insert("minimum".into(), min.into());
            property.insert("maximum".into(), max.into());
        }
    }
    doc
}

/// `GET /api/openapi.json`.
#[utoipa::path(get, path = "/api/openapi.json", tag = "ops",
    responses((status = 200, content_type = "application/json", body = Object)))]
pub async fn serve(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(document(&state.settings))
}
