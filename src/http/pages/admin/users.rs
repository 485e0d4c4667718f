//! Users who sign in with a password: create, list, delete.

use super::super::forms::Form;
use super::super::visitor::Visitor;
use super::super::{PageResult, render, see_other};
use super::{PERMISSIONS, gate, gate_form, minute, notice_of, scope_text, with_notice};
use crate::error::ServiceError;
use crate::service::{Wharf, feeds, users};
use actix_web::{HttpRequest, web};
use minijinja::context;

/// A user as the users page lists them.
#[derive(serde::Serialize)]
struct UserView {
    username: String,
    permissions: String,
    feeds: String,
    created: String,
}

pub(super) async fn users_page(
    req: HttpRequest,
    wharf: web::Data<Wharf>,
    visitor: Visitor,
) -> PageResult {
    if let Err(answer) = gate(&req, &visitor) {
        return answer;
    }
    users_view(&req, &wharf, &visitor, None).await
}

pub(super) async fn users_view(
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

pub(super) async fn create_user(
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

pub(super) async fn delete_user(
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
