//! Administration: feeds, API keys and users. Every page and form is for
//! signed-in administrators only; every form carries the session's CSRF
//! token. After a change the page redirects to itself with a notice.

use actix_web::{HttpRequest, web};
use minijinja::context;

mod keys;
mod users;

use super::forms::Form;
use super::views::FeedView;
use super::visitor::Visitor;
use super::{PageResult, paths, render, see_other, sign_in_first};
use crate::domain::FeedScope;
use crate::error::ServiceError;
use crate::http::endpoint::{Endpoint, Routes};
use crate::http::query::Query;
use crate::service::{Wharf, feeds};

/// Registers the admin pages.
pub fn routes(routes: &mut Routes) {
    use actix_web::http::Method as M;
    routes
        .add(Endpoint::new("/admin").get(admin_home))
        .add(
            Endpoint::new("/admin/feeds")
                .get(feeds_page)
                .on(M::POST, create_feed),
        )
        .add(Endpoint::new("/admin/feeds/{feed}/access").on(M::POST, set_access))
        .add(Endpoint::new("/admin/feeds/{feed}/delete").on(M::POST, delete_feed))
        .add(
            Endpoint::new("/admin/keys")
                .get(keys::keys_page)
                .on(M::POST, keys::create_key),
        )
        .add(Endpoint::new("/admin/keys/{id}/revoke").on(M::POST, keys::revoke_key))
        .add(
            Endpoint::new("/admin/users")
                .get(users::users_page)
                .on(M::POST, users::create_user),
        )
        .add(Endpoint::new("/admin/users/{name}/delete").on(M::POST, users::delete_user));
}

/// The permissions a key or user form offers, in the order shown.
pub(super) const PERMISSIONS: [&str; 7] = [
    "view",
    "download",
    "add",
    "overwrite",
    "delete",
    "promote",
    "admin",
];

/// Lets an administrator through; sends an anonymous visitor to sign in.
pub(super) fn gate(req: &HttpRequest, visitor: &Visitor) -> Result<(), PageResult> {
    if visitor.session.is_none() {
        return Err(Ok(sign_in_first(req)));
    }
    visitor.require_admin().map_err(|e| Err(e.into()))
}

/// Checks the gate and the form's CSRF token.
pub(super) fn gate_form(
    req: &HttpRequest,
    visitor: &Visitor,
    form: &Form,
) -> Result<(), PageResult> {
    gate(req, visitor)?;
    visitor
        .check_csrf(form.get("csrf").unwrap_or(""))
        .map_err(|e| Err(e.into()))
}

pub(super) fn notice_of(req: &HttpRequest) -> Option<String> {
    Query::parse(req.query_string())
        .non_empty("notice")
        .map(str::to_owned)
}

pub(super) fn with_notice(page: &str, notice: &str) -> String {
    format!("{page}?notice={}", paths::query_value(notice))
}

async fn admin_home(req: HttpRequest, visitor: Visitor) -> PageResult {
    if let Err(answer) = gate(&req, &visitor) {
        return answer;
    }
    Ok(see_other("/admin/feeds"))
}

async fn feeds_page(req: HttpRequest, wharf: web::Data<Wharf>, visitor: Visitor) -> PageResult {
    if let Err(answer) = gate(&req, &visitor) {
        return answer;
    }
    feeds_view(&req, &wharf, &visitor, None).await
}

async fn feeds_view(
    req: &HttpRequest,
    wharf: &Wharf,
    visitor: &Visitor,
    error: Option<String>,
) -> PageResult {
    let feeds: Vec<FeedView> = feeds::visible_to(wharf, &visitor.caller)
        .await?
        .iter()
        .map(FeedView::from)
        .collect();
    render(
        "admin_feeds.html",
        context! {
            visitor => visitor.view(), title => "Feeds · Admin", section => "feeds",
            feeds, error, notice => notice_of(req),
        },
    )
}

async fn create_feed(
    req: HttpRequest,
    body: web::Bytes,
    wharf: web::Data<Wharf>,
    visitor: Visitor,
) -> PageResult {
    let form = Form::parse(&body);
    if let Err(answer) = gate_form(&req, &visitor, &form) {
        return answer;
    }
    let name = form.text("name").unwrap_or("");
    match feeds::create(
        &wharf,
        name,
        form.get("description").unwrap_or("").trim(),
        form.ticked("public"),
    )
    .await
    {
        Ok(feed) => Ok(see_other(&with_notice(
            "/admin/feeds",
            &format!("Feed '{}' created.", feed.name),
        ))),
        Err(error @ (ServiceError::BadRequest(_) | ServiceError::Conflict(_))) => {
            feeds_view(&req, &wharf, &visitor, Some(error.to_string())).await
        }
        Err(other) => Err(other.into()),
    }
}

async fn set_access(
    req: HttpRequest,
    feed: web::Path<String>,
    body: web::Bytes,
    wharf: web::Data<Wharf>,
    visitor: Visitor,
) -> PageResult {
    let form = Form::parse(&body);
    if let Err(answer) = gate_form(&req, &visitor, &form) {
        return answer;
    }
    let public = form.get("public") == Some("true");
    let updated = feeds::update(&wharf, &feed, None, Some(public)).await?;
    let access = if public { "public" } else { "private" };
    Ok(see_other(&with_notice(
        "/admin/feeds",
        &format!("Feed '{}' is now {access}.", updated.name),
    )))
}

async fn delete_feed(
    req: HttpRequest,
    feed: web::Path<String>,
    body: web::Bytes,
    wharf: web::Data<Wharf>,
    visitor: Visitor,
) -> PageResult {
    let form = Form::parse(&body);
    if let Err(answer) = gate_form(&req, &visitor, &form) {
        return answer;
    }
    if !form
        .get("confirm")
        .is_some_and(|c| c.trim().eq_ignore_ascii_case(&feed))
    {
        return feeds_view(
            &req,
            &wharf,
            &visitor,
            Some(format!(
                "To delete feed '{feed}', type its name in the box beside the button."
            )),
        )
        .await;
    }
    feeds::delete(&wharf, &feed).await?;
    Ok(see_other(&with_notice(
        "/admin/feeds",
        &format!("Feed '{feed}' and its packages were deleted."),
    )))
}

/// A scope as the pages write it.
pub(super) fn scope_text(scope: &FeedScope) -> String {
    match scope {
        FeedScope::All => "all feeds".to_owned(),
        FeedScope::Only(feeds) => feeds.iter().cloned().collect::<Vec<_>>().join(", "),
    }
}

/// A time to the minute, in UTC.
pub(super) fn minute(at: chrono::DateTime<chrono::Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}
