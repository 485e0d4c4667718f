//! Administration: feeds, API keys and users. Every page and form is for
//! signed-in administrators only; every form carries the session's CSRF
//! token. After a change the page redirects to itself with a notice.

use actix_web::{HttpRequest, web};
use minijinja::context;
use secrecy::ExposeSecret;

use super::forms::Form;
use super::views::FeedView;
use super::visitor::Visitor;
use super::{PageResult, paths, render, see_other, sign_in_first};
use crate::domain::FeedScope;
use crate::error::ServiceError;
use crate::http::endpoint::Endpoint;
use crate::http::query::Query;
use crate::service::{Wharf, feeds, keys, users};

/// Registers the admin pages.
pub fn configure(cfg: &mut web::ServiceConfig) {
    use actix_web::http::Method as M;
    cfg.service(Endpoint::new("/admin").get(admin_home).build())
        .service(
            Endpoint::new("/admin/feeds")
                .get(feeds_page)
                .on(M::POST, create_feed)
                .build(),
        )
        .service(
            Endpoint::new("/admin/feeds/{feed}/access")
                .on(M::POST, set_access)
                .build(),
        )
        .service(
            Endpoint::new("/admin/feeds/{feed}/delete")
                .on(M::POST, delete_feed)
                .build(),
        )
        .service(
            Endpoint::new("/admin/keys")
                .get(keys_page)
                .on(M::POST, create_key)
                .build(),
        )
        .service(
            Endpoint::new("/admin/keys/{id}/revoke")
                .on(M::POST, revoke_key)
                .build(),
        )
        .service(
            Endpoint::new("/admin/users")
                .get(users_page)
                .on(M::POST, create_user)
                .build(),
        )
        .service(
            Endpoint::new("/admin/users/{name}/delete")
                .on(M::POST, delete_user)
                .build(),
        );
}

/// The permissions a key or user form offers, in the order shown.
const PERMISSIONS: [&str; 7] = [
    "view",
    "download",
    "add",
    "overwrite",
    "delete",
    "promote",
    "admin",
];

/// Lets an administrator through; sends an anonymous visitor to sign in.
fn gate(req: &HttpRequest, visitor: &Visitor) -> Result<(), PageResult> {
    if visitor.session.is_none() {
        return Err(Ok(sign_in_first(req)));
    }
    visitor.require_admin().map_err(|e| Err(e.into()))
}

/// Checks the gate and the form's CSRF token.
fn gate_form(req: &HttpRequest, visitor: &Visitor, form: &Form) -> Result<(), PageResult> {
    gate(req, visitor)?;
    visitor
        .check_csrf(form.get("csrf").unwrap_or(""))
        .map_err(|e| Err(e.into()))
}

fn notice_of(req: &HttpRequest) -> Option<String> {
    Query::parse(req.query_string())
        .non_empty("notice")
        .map(str::to_owned)
}

fn with_notice(page: &str, notice: &str) -> String {
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

/// A key as the keys page lists it.
#[derive(serde::Serialize)]
struct KeyView {
    id: String,
    name: String,
    permissions: String,
    feeds: String,
    created: String,
    expires: Option<String>,
    last_used: Option<String>,
}

fn scope_text(scope: &FeedScope) -> String {
    match scope {
        FeedScope::All => "all feeds".to_owned(),
        FeedScope::Only(feeds) => feeds.iter().cloned().collect::<Vec<_>>().join(", "),
    }
}

fn minute(at: chrono::DateTime<chrono::Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

async fn keys_page(req: HttpRequest, wharf: web::Data<Wharf>, visitor: Visitor) -> PageResult {
    if let Err(answer) = gate(&req, &visitor) {
        return answer;
    }
    keys_view(&req, &wharf, &visitor, None, None).await
}

async fn keys_view(
    req: &HttpRequest,
    wharf: &Wharf,
    visitor: &Visitor,
    error: Option<String>,
    created: Option<String>,
) -> PageResult {
    let keys: Vec<KeyView> = keys::list(wharf)
        .await?
        .into_iter()
        .map(|k| KeyView {
            permissions: k.permissions.join(", "),
            feeds: scope_text(&k.scope),
            created: minute(k.created_at),
            expires: k.expires_at.map(minute),
            last_used: k.last_used_at.map(minute),
            id: k.id,
            name: k.name,
        })
        .collect();
    let feed_names: Vec<String> = feeds::list(wharf)
        .await?
        .into_iter()
        .map(|f| f.name)
        .collect();
    render(
        "admin_keys.html",
        context! {
            visitor => visitor.view(), title => "API keys · Admin", section => "keys",
            keys, feed_names, permissions => PERMISSIONS, error, created,
            notice => notice_of(req),
        },
    )
}

async fn create_key(
    req: HttpRequest,
    body: web::Bytes,
    wharf: web::Data<Wharf>,
    visitor: Visitor,
) -> PageResult {
    let form = Form::parse(&body);
    if let Err(answer) = gate_form(&req, &visitor, &form) {
        return answer;
    }
    let expires_at = match form.text("expires_in_days") {
        None => None,
        Some(days) => match days.parse::<u32>() {
            Ok(days) if days > 0 => Some(chrono::Utc::now() + chrono::Duration::days(days.into())),
            _ => {
                let error =
                    format!("Expires in days must be a whole number above 0, not '{days}'.");
                return keys_view(&req, &wharf, &visitor, Some(error), None).await;
            }
        },
    };
    let new = keys::NewKey {
        name: form.get("name").unwrap_or("").trim().to_owned(),
        permissions: form.all("permissions").join(","),
        feeds: form.all("feeds").into_iter().map(str::to_owned).collect(),
        fixed_key: None,
        expires_at,
    };
    if new.permissions.is_empty() {
        let error = "Tick at least one permission.".to_owned();
        return keys_view(&req, &wharf, &visitor, Some(error), None).await;
    }
    match keys::create(&wharf, new).await {
        Ok(created) => {
            let key = created.key.expose_secret().to_owned();
            keys_view(&req, &wharf, &visitor, None, Some(key)).await
        }
        Err(error @ (ServiceError::BadRequest(_) | ServiceError::Conflict(_))) => {
            keys_view(&req, &wharf, &visitor, Some(error.to_string()), None).await
        }
        Err(other) => Err(other.into()),
    }
}

async fn revoke_key(
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Bytes,
    wharf: web::Data<Wharf>,
    visitor: Visitor,
) -> PageResult {
    let form = Form::parse(&body);
    if let Err(answer) = gate_form(&req, &visitor, &form) {
        return answer;
    }
    keys::revoke(&wharf, &id).await?;
    Ok(see_other(&with_notice(
        "/admin/keys",
        &format!("Key '{id}' was revoked."),
    )))
}

/// A user as the users page lists them.
#[derive(serde::Serialize)]
struct UserView {
    username: String,
    permissions: String,
    feeds: String,
    created: String,
}

async fn users_page(req: HttpRequest, wharf: web::Data<Wharf>, visitor: Visitor) -> PageResult {
    if let Err(answer) = gate(&req, &visitor) {
        return answer;
    }
    users_view(&req, &wharf, &visitor, None).await
}

async fn users_view(
    req: &HttpRequest,
    wharf: &Wharf,
    visitor: &Visitor,
    error: Option<String>,
) -> PageResult {
    let users: Vec<UserView> = users::list(wharf)
        .await?
        .into_iter()
        .map(|u| UserView {
            permissions: u.permissions.join(", "),
            feeds: scope_text(&u.scope),
            created: minute(u.created_at),
            username: u.username,
        })
        .collect();
    let feed_names: Vec<String> = feeds::list(wharf)
        .await?
        .into_iter()
        .map(|f| f.name)
        .collect();
    render(
        "admin_users.html",
        context! {
            visitor => visitor.view(), title => "Users · Admin", section => "users",
            users, feed_names, permissions => PERMISSIONS, error, notice => notice_of(req),
        },
    )
}

async fn create_user(
    req: HttpRequest,
    body: web::Bytes,
    wharf: web::Data<Wharf>,
    visitor: Visitor,
) -> PageResult {
    let form = Form::parse(&body);
    if let Err(answer) = gate_form(&req, &visitor, &form) {
        return answer;
    }
    let username = form.text("username").unwrap_or("").to_owned();
    let feeds: Vec<String> = form.all("feeds").into_iter().map(str::to_owned).collect();
    let result = users::create(
        &wharf,
        &username,
        form.get("password").unwrap_or(""),
        &form.all("permissions").join(","),
        &feeds,
    )
    .await;
    match result {
        Ok(()) => Ok(see_other(&with_notice(
            "/admin/users",
            &format!("User '{username}' created."),
        ))),
        Err(error @ (ServiceError::BadRequest(_) | ServiceError::Conflict(_))) => {
            users_view(&req, &wharf, &visitor, Some(error.to_string())).await
        }
        Err(other) => Err(other.into()),
    }
}

async fn delete_user(
    req: HttpRequest,
    name: web::Path<String>,
    body: web::Bytes,
    wharf: web::Data<Wharf>,
    visitor: Visitor,
) -> PageResult {
    let form = Form::parse(&body);
    if let Err(answer) = gate_form(&req, &visitor, &form) {
        return answer;
    }
    users::delete(&wharf, &name).await?;
    Ok(see_other(&with_notice(
        "/admin/users",
        &format!("User '{name}' was deleted."),
    )))
}
