//! Uploading a package from the browser: a form that works without
//! JavaScript (`multipart/form-data`, CSRF field first), and the same
//! address taking the raw file from the page's script, which shows progress
//! (CSRF token in `X-CSRF-Token`). Both go through the same publish service
//! as the API, so the checks and the sentence on failure are the same.

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::TryStreamExt;
use minijinja::context;

use super::visitor::Visitor;
use super::{
    PageResult, paths, render, render_with_status, see_other, sign_in_first, visible_feed,
};
use crate::domain::Permission;
use crate::error::ServiceError;
use crate::service::Wharf;
use crate::service::publish::{self, Published, UploadHints};

/// `GET /feeds/<feed>/upload`: the upload form.
pub async fn form(
    req: HttpRequest,
    feed: web::Path<String>,
    wharf: web::Data<Wharf>,
    visitor: Visitor,
) -> PageResult {
    if visitor.session.is_none() {
        return Ok(sign_in_first(&req));
    }
    let feed = visible_feed(&wharf, &visitor, &feed).await?;
    if !visitor.caller.may(Permission::Add, &feed) {
        return Err(ServiceError::Forbidden(format!(
            "You may not add packages to feed '{}'.",
            feed.name
        ))
        .into());
    }
    render(
        "upload.html",
        context! {
            visitor => visitor.view(), title => format!("Upload to {}", feed.name),
            feed => context! { name => feed.name.clone(), url => paths::feed(&feed.name) },
            action => format!("{}/upload", paths::feed(&feed.name)),
            error => None::<String>,
        },
    )
}

/// `POST /feeds/<feed>/upload`: stores the chosen file.
pub async fn upload(
    req: HttpRequest,
    feed: web::Path<String>,
    payload: web::Payload,
    wharf: web::Data<Wharf>,
    visitor: Visitor,
) -> PageResult {
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    if is_form {
        upload_form(&req, &feed, payload, &wharf, &visitor).await
    } else {
        Ok(upload_raw(&req, &feed, payload, &wharf, &visitor).await)
    }
}

/// The script's upload: answers `201` with the version page's address, or
/// the status and sentence of the failure as text.
async fn upload_raw(
    req: &HttpRequest,
    feed: &str,
    payload: web::Payload,
    wharf: &Wharf,
    visitor: &Visitor,
) -> HttpResponse {
    let token = req
        .headers()
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let result = match visitor.check_csrf(token) {
        Ok(()) => {
            let hints = UploadHints {
                declared_length: crate::http::content_length(req),
                ..UploadHints::default()
            };
            publish::publish(wharf, &visitor.caller, feed, payload, hints).await
        }
        Err(refused) => Err(refused),
    };
    match result {
        Ok(published) => HttpResponse::Created()
            .insert_header((header::LOCATION, version_url(feed, &published)))
            .content_type("text/plain; charset=utf-8")
            .body(version_url(feed, &published)),
        Err(error) => actix_web::ResponseError::error_response(&error),
    }
}

/// The form's upload: redirects to the new version's page, or shows the
/// form again with the sentence.
async fn upload_form(
    req: &HttpRequest,
    feed: &str,
    payload: web::Payload,
    wharf: &Wharf,
    visitor: &Visitor,
) -> PageResult {
    let mut multipart = actix_multipart::Multipart::new(req.headers(), payload);
    let mut csrf_ok = false;
    let mut outcome: Option<Result<Published, ServiceError>> = None;
    let mut file_name = String::from("The file");
    while let Some(mut field) = multipart.try_next().await.map_err(|e| {
        ServiceError::BadRequest(format!("The upload form could not be read ({e})."))
    })? {
        match field.name() {
            Some("csrf") => {
                let mut value = Vec::new();
                while let Some(chunk) = field.try_next().await.map_err(|e| {
                    ServiceError::BadRequest(format!("The upload form could not be read ({e})."))
                })? {
                    value.extend_from_slice(&chunk);
                }
                visitor.check_csrf(&String::from_utf8_lossy(&value))?;
                csrf_ok = true;
            }
            Some("file") if csrf_ok && outcome.is_none() => {
                if let Some(name) = field.content_disposition().and_then(|d| d.get_filename()) {
                    file_name = format!("'{name}'");
                }
                outcome = Some(
                    publish::publish(wharf, &visitor.caller, feed, field, UploadHints::default())
                        .await,
                );
            }
            _ => {
                // Drain fields the form does not use.
                while field.try_next().await.ok().flatten().is_some() {}
            }
        }
    }
    match outcome {
        Some(Ok(published)) => Ok(see_other(&version_url(feed, &published))),
        Some(Err(error)) if !actix_web::ResponseError::status_code(&error).is_server_error() => {
            let status = actix_web::ResponseError::status_code(&error);
            Ok(render_with_status(
                status,
                "upload.html",
                context! {
                    visitor => visitor.view(), title => format!("Upload to {feed}"),
                    feed => context! { name => feed, url => paths::feed(feed) },
                    action => format!("{}/upload", paths::feed(feed)),
                    error => format!("{file_name} was not stored: {error}"),
                },
            )?)
        }
        Some(Err(error)) => Err(error.into()),
        None if !csrf_ok => Err(ServiceError::Forbidden(
            "The form has expired; reload the page and try again.".to_owned(),
        )
        .into()),
        None => Ok(render_with_status(
            StatusCode::BAD_REQUEST,
            "upload.html",
            context! {
                visitor => visitor.view(), title => format!("Upload to {feed}"),
                feed => context! { name => feed, url => paths::feed(feed) },
                action => format!("{}/upload", paths::feed(feed)),
                error => "Choose a .upack or .vpack file to upload.",
            },
        )?),
    }
}

fn version_url(feed: &str, published: &Published) -> String {
    paths::version(feed, &published.group, &published.name, &published.version)
}
