//! `GET /openapi.json`: an `OpenAPI` 3.1 description of every API endpoint,
//! generated from the `#[utoipa::path]` attribute on each handler and the
//! wire shapes in `wire.rs`, built once per process.
//!
//! The web pages are not in it: they are for browsers, not programs. A test
//! (`tests/api/openapi.rs`) checks the document against the route table, so
//! an endpoint added without its description fails the suite.

use std::sync::LazyLock;

use actix_web::HttpResponse;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoParams, IntoResponses, OpenApi};

/// The document, serialised once.
static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
    ApiDoc::openapi()
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\":\"the document did not serialise: {e}\"}}"))
});

/// `GET /openapi.json`.
#[utoipa::path(
    method(get, head),
    path = "/openapi.json",
    tag = "server",
    responses((status = 200, description = "This document.", content_type = "application/json"))
)]
pub async fn document() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(DOCUMENT.as_str())
}

/// The feed a `/upack/<feed>/...` or `/api/packages/<feed>/...` address names.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // read by utoipa only: handlers read the raw path
pub struct FeedPath {
    /// The feed's name (matched ignoring case).
    feed: String,
}

/// A package version's address after the endpoint name.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // read by utoipa only: handlers read the raw path
pub struct PackagePath {
    /// The feed's name (matched ignoring case).
    feed: String,
    /// `<group>/<name>/<version>`, or `<group>/<name>` with `?latest`. The
    /// group may have several parts; its slashes may be sent literally or as
    /// `%2F`, and a `+` in a version literally or as `%2B`.
    tail: String,
}

/// The query that picks a version when the address has none.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // read by utoipa only: handlers read `http::query::Query`
pub struct LatestQuery {
    /// Bare (`?latest`): the highest stable version, else the highest
    /// prerelease; `latest=stable` or `latest=any` to choose.
    latest: Option<String>,
}

/// The refusals every API endpoint may answer, each one sentence of text.
#[derive(IntoResponses)]
#[allow(dead_code)] // read by utoipa only: `error.rs` maps errors to statuses
pub enum Refusals {
    /// The request is malformed: the sentence says what is wrong.
    #[response(status = 400, content_type = "text/plain")]
    BadRequest(String),
    /// Missing or insufficient credentials, or a feed the caller may not view
    /// (401 with a Basic challenge instead when `auth.challenge` is on and no
    /// credentials were sent; 429 with `Retry-After` after many failures).
    #[response(status = 403, content_type = "text/plain")]
    Forbidden(String),
    /// No such package or version.
    #[response(status = 404, content_type = "text/plain")]
    NotFound(String),
}

/// Adds the ways a caller can present a key or a password.
struct Credentials;

impl utoipa::Modify for Credentials {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "apiKeyHeader",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-ApiKey",
                "An API key, or <user>:<password>.",
            ))),
        );
        components.add_security_scheme(
            "apiKeyQuery",
            SecurityScheme::ApiKey(ApiKey::Query(ApiKeyValue::with_description(
                "key",
                "An API key.",
            ))),
        );
        components.add_security_scheme(
            "basic",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Basic)
                    .description(Some("User `api` with an API key as the password, or a user's name and password."))
                    .build(),
            ),
        );
    }
}

/// An address that answers exactly as another one does, documented as a
/// copy of it.
struct Alias {
    path: &'static str,
    copies: &'static str,
    methods: &'static [&'static str],
    /// A path parameter the alias adds: its name and description.
    adds: Option<(&'static str, &'static str)>,
}

const ALIASES: [Alias; 5] = [
    Alias {
        path: "/health/json",
        copies: "/health",
        methods: &["get", "head"],
        adds: None,
    },
    Alias {
        path: "/upack/{feed}/upload/{tail}",
        copies: "/upack/{feed}/upload",
        methods: &["put", "post"],
        adds: Some((
            "tail",
            "`<group>/<name>[/<version>]`, checked against the manifest.",
        )),
    },
    Alias {
        path: "/upack/{feed}",
        copies: "/upack/{feed}/upload",
        methods: &["put"],
        adds: None,
    },
    Alias {
        path: "/upack/{feed}/",
        copies: "/upack/{feed}/upload",
        methods: &["put"],
        adds: None,
    },
    Alias {
        path: "/api/packages/{feed}/upload/{file}",
        copies: "/api/packages/{feed}/upload",
        methods: &["put", "post"],
        adds: Some(("file", "The file's name (not read).")),
    },
];

/// Adds the aliases in `ALIASES`, each a copy of the operations it shares.
struct Aliases;

impl utoipa::Modify for Aliases {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
        for alias in ALIASES {
            let Some(mut item) = openapi.paths.paths.get(alias.copies).cloned() else {
                continue;
            };
            let keep = |name: &str| alias.methods.contains(&name);
            for (name, operation) in [
                ("get", &mut item.get),
                ("put", &mut item.put),
                ("post", &mut item.post),
                ("delete", &mut item.delete),
                ("head", &mut item.head),
            ] {
                if !keep(name) {
                    *operation = None;
                }
                if let (Some(operation), Some((parameter, description))) = (operation, alias.adds) {
                    let parameter: Parameter = ParameterBuilder::new()
                        .name(parameter)
                        .parameter_in(ParameterIn::Path)
                        .required(utoipa::openapi::Required::True)
                        .description(Some(description))
                        .schema(Some(utoipa::openapi::schema::Object::with_type(
                            utoipa::openapi::schema::Type::String,
                        )))
                        .build();
                    operation
                        .parameters
                        .get_or_insert_with(Vec::new)
                        .push(utoipa::openapi::RefOr::T(parameter));
                }
            }
            openapi.paths.paths.insert(alias.path.to_owned(), item);
        }
    }
}

/// Makes every operation id unique, as `OpenAPI` requires: one handler
/// answering several methods (`GET` and `HEAD`, `PUT` and `POST`) gives its
/// name to each, and pgutil's API reuses the Universal Feed API's names. A
/// second method's id takes the method as a suffix (`get_feed_head`), and
/// an id still repeated takes its tag as a prefix.
struct UniqueOperationIds;

impl utoipa::Modify for UniqueOperationIds {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let mut seen = std::collections::HashSet::new();
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                ("get", &mut item.get),
                ("put", &mut item.put),
                ("post", &mut item.post),
                ("delete", &mut item.delete),
                ("head", &mut item.head),
            ];
            let mut first_in_item = true;
            for (method, operation) in operations {
                let Some(operation) = operation else { continue };
                let id = operation.operation_id.clone().unwrap_or_default();
                let id = if std::mem::take(&mut first_in_item) {
                    id
                } else {
                    format!("{id}_{method}")
                };
                let tag = operation
                    .tags
                    .as_ref()
                    .and_then(|tags| tags.first())
                    .cloned()
                    .unwrap_or_default();
                let unique = [id.clone(), format!("{tag}_{id}")]
                    .into_iter()
                    .find(|candidate| !seen.contains(candidate))
                    .unwrap_or_else(|| format!("{tag}_{id}_{}", seen.len()));
                seen.insert(unique.clone());
                operation.operation_id = Some(unique);
            }
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Wharf",
        description = "The ProGet Universal Feed API and Wharf's management, pgutil, promotion and health endpoints. Anonymous callers may read feeds that allow it; everything else needs an API key (X-ApiKey header, ?key=, or HTTP Basic api:<key>) or a user's name and password. Missing or insufficient credentials get 403. Errors are one sentence of text/plain."
    ),
    modifiers(&Credentials, &Aliases, &UniqueOperationIds),
    security((), ("apiKeyHeader" = []), ("apiKeyQuery" = []), ("basic" = [])),
    paths(
        super::upack::downloads::download_vpack,
        super::upack::downloads::download_package,
        super::upack::downloads::download_file,
        super::upack::listings::list_packages,
        super::upack::listings::list_versions,
        super::upack::listings::search,
        super::upack::listings::feed_metadata,
        super::upack::writes::delete,
        super::upack::writes::upload,
        super::packages_api::feed_info,
        super::packages_api::latest,
        super::packages_api::versions,
        super::packages_api::download_package,
        super::packages_api::upload,
        super::packages_api::delete,
        super::management::create_feed,
        super::management::get_feed,
        super::management::list_feeds,
        super::management::update_feed,
        super::management::delete_feed,
        super::management::create_key,
        super::management::list_keys,
        super::management::delete_key,
        super::connectors::create,
        super::connectors::get,
        super::connectors::list,
        super::connectors::update,
        super::connectors::delete,
        super::promotion::promote,
        super::promotion::list,
        super::promotion::repackage,
        super::management::version,
        super::operations::request_export,
        super::operations::request_pull,
        super::operations::show,
        super::operations::list,
        super::health::health,
        super::health::live,
        super::health::ready,
        super::health::metrics,
        document,
    ),
    tags(
        (name = "upack", description = "The Universal Feed API, under /upack/<feed>/."),
        (name = "pgutil", description = "The package API pgutil uses, under /api/packages/<feed>/."),
        (name = "management", description = "Feeds and API keys; administrators only."),
        (name = "promotion", description = "Promotion and repackaging."),
        (name = "operations", description = "Long-running operations: requested (202), then polled."),
        (name = "server", description = "Health, version and this document."),
    )
)]
struct ApiDoc;
