//! The web pages: HTML rendered from the templates in `web/templates`, with
//! the stylesheet and script in `web/static`, all embedded in the binary.
//!
//! Pages call the same services and show the same read models as the JSON
//! API, so a page and the API cannot disagree. A private feed a visitor may
//! not view is answered like a feed that does not exist. Errors are pages in
//! the same style (the API keeps its plain-text errors). Forms work without
//! JavaScript; the script only adds copy buttons and upload progress.

use std::fmt::Write as _;
use std::sync::LazyLock;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, ContentType};
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use minijinja::{Environment, Value, context};
use serde::Serialize;

use super::endpoint::{Endpoint, Routes};
use crate::domain::Permission;
use crate::error::ServiceError;
use crate::service::model::Feed;
use crate::service::{Wharf, access};

mod account;
mod admin;
mod assets;
mod browse;
mod forms;
pub mod paths;
mod upload;
mod views;
pub mod visitor;

use visitor::Visitor;

/// Registers the page routes.
pub fn routes(routes: &mut Routes) {
    use actix_web::http::Method as M;
    routes
        .add(Endpoint::new("/").get(browse::index))
        .add(Endpoint::new("/static/{file}").get(assets::asset))
        .add(
            Endpoint::new("/login")
                .get(account::login_form)
                .on(M::POST, account::login),
        )
        .add(Endpoint::new("/logout").on(M::POST, account::logout))
        .add(Endpoint::new("/feeds/{feed}").get(browse::feed))
        .add(
            Endpoint::new("/feeds/{feed}/upload")
                .get(upload::form)
                .on(M::POST, upload::upload),
        )
        .add(Endpoint::new("/feeds/{feed}/packages/{tail:.*}").get(browse::package_or_version));
    admin::routes(routes);
}

/// The templates, parsed once.
static TEMPLATES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    for (name, source) in [
        (
            "base.html",
            include_str!("../../../web/templates/base.html"),
        ),
        (
            "index.html",
            include_str!("../../../web/templates/index.html"),
        ),
        (
            "feed.html",
            include_str!("../../../web/templates/feed.html"),
        ),
        (
            "feed_table.html",
            include_str!("../../../web/templates/feed_table.html"),
        ),
        (
            "package.html",
            include_str!("../../../web/templates/package.html"),
        ),
        (
            "dependencies.html",
            include_str!("../../../web/templates/dependencies.html"),
        ),
        (
            "version.html",
            include_str!("../../../web/templates/version.html"),
        ),
        (
            "login.html",
            include_str!("../../../web/templates/login.html"),
        ),
        (
            "upload.html",
            include_str!("../../../web/templates/upload.html"),
        ),
        (
            "admin_nav.html",
            include_str!("../../../web/templates/admin_nav.html"),
        ),
        (
            "admin_feeds.html",
            include_str!("../../../web/templates/admin_feeds.html"),
        ),
        (
            "admin_keys.html",
            include_str!("../../../web/templates/admin_keys.html"),
        ),
        (
            "admin_users.html",
            include_str!("../../../web/templates/admin_users.html"),
        ),
        (
            "error.html",
            include_str!("../../../web/templates/error.html"),
        ),
    ] {
        if let Err(error) = env.add_template(name, source) {
            // Templates are part of the binary; a broken one is caught by
            // the tests that render every page.
            tracing::error!(template = name, %error, "template does not parse");
        }
    }
    env.add_filter("bytes", views::human_bytes);
    env.set_formatter(html_formatter);
    env
});

/// Escapes what HTML needs escaped (`& < > " '`) and nothing else, so
/// addresses in `href` stay readable (the default also escapes `/`).
fn html_formatter(
    out: &mut minijinja::Output,
    state: &minijinja::State,
    value: &Value,
) -> Result<(), minijinja::Error> {
    let plain = !matches!(state.auto_escape(), minijinja::AutoEscape::Html)
        || value.is_safe()
        || value.is_none()
        || value.is_undefined();
    if plain {
        return minijinja::escape_formatter(out, state, value);
    }
    let text = value
        .as_str()
        .map_or_else(|| value.to_string(), str::to_owned);
    for c in text.chars() {
        match c {
            '&' => out.write_str("&amp;")?,
            '<' => out.write_str("&lt;")?,
            '>' => out.write_str("&gt;")?,
            '"' => out.write_str("&quot;")?,
            '\'' => out.write_str("&#39;")?,
            other => out.write_char(other)?,
        }
    }
    Ok(())
}

/// An HTML page answer.
pub type PageResult = Result<HttpResponse, PageError>;

/// Renders `template` with `context` as a `200` page.
fn render(template: &str, context: impl Serialize) -> PageResult {
    render_with_status(StatusCode::OK, template, context).map_err(PageError)
}

fn render_with_status(
    status: StatusCode,
    template: &str,
    context: impl Serialize,
) -> Result<HttpResponse, ServiceError> {
    let html = TEMPLATES
        .get_template(template)
        .and_then(|t| t.render(context))
        .map_err(|e| ServiceError::internal(anyhow::anyhow!("rendering {template}: {e:#}")))?;
    Ok(HttpResponse::build(status)
        .content_type(ContentType::html())
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header(("x-frame-options", "DENY"))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; \
             frame-ancestors 'none'; form-action 'self'",
        ))
        .body(html))
}

/// A redirect after a form (`303 See Other`).
fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .finish()
}

/// The answer to a visitor who must sign in first: the sign-in page, then
/// back here.
fn sign_in_first(req: &HttpRequest) -> HttpResponse {
    see_other(&format!(
        "/login?next={}",
        paths::query_value(req.uri().path())
    ))
}

/// The feed `name` if the visitor may view it; a feed they may not view is
/// answered like one that does not exist.
async fn visible_feed(wharf: &Wharf, visitor: &Visitor, name: &str) -> Result<Feed, ServiceError> {
    match access::feed_for(wharf, &visitor.caller, name, Permission::View).await {
        Ok(feed) => Ok(feed),
        Err(
            ServiceError::Forbidden(_)
            | ServiceError::AuthenticationRequired
            | ServiceError::NotFound(_),
        ) => Err(ServiceError::NotFound(format!(
            "There is no feed named '{name}'."
        ))),
        Err(other) => Err(other),
    }
}

/// A failed page: the service error, shown as a page in Wharf's style.
#[derive(Debug)]
pub struct PageError(pub ServiceError);

impl From<ServiceError> for PageError {
    fn from(error: ServiceError) -> Self {
        Self(error)
    }
}

impl From<crate::domain::DomainError> for PageError {
    fn from(error: crate::domain::DomainError) -> Self {
        Self(error.into())
    }
}

impl std::fmt::Display for PageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        match self.0 {
            // A page asks for a sign-in, not for Basic credentials.
            ServiceError::AuthenticationRequired => StatusCode::FORBIDDEN,
            ref other => other.status_code(),
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let title = match status {
            StatusCode::NOT_FOUND => "Not found",
            StatusCode::FORBIDDEN => "Not allowed",
            s if s.is_server_error() => "Something went wrong",
            _ => "That did not work",
        };
        let message = match self.0 {
            ServiceError::AuthenticationRequired => "Sign in to see this page.".to_owned(),
            ref other => other.to_string(),
        };
        render_with_status(
            status,
            "error.html",
            context! { title, status => status.as_u16(), message },
        )
        .unwrap_or_else(|_| {
            HttpResponse::build(status)
                .content_type("text/plain; charset=utf-8")
                .body(message)
        })
    }
}

/// The HTML 404 for an address no route serves, when a browser asks.
pub fn not_found_page() -> HttpResponse {
    PageError(ServiceError::NotFound(
        "There is no page at this address.".to_owned(),
    ))
    .error_response()
}

#[cfg(test)]
mod tests {
    use super::TEMPLATES;

    #[test]
    fn every_template_in_web_is_compiled_in_and_parses() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/web/templates");
        for entry in std::fs::read_dir(dir).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            if let Err(error) = TEMPLATES.get_template(&name) {
                panic!("web/templates/{name} is not usable: {error:#}");
            }
        }
    }
}
