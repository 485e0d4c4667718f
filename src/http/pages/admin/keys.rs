//! API keys: create (the key shown once), list, revoke.

use actix_web::{HttpRequest, web};
use minijinja::context;
use secrecy::ExposeSecret;

use super::super::forms::Form;
use super::super::visitor::Visitor;
use super::super::{PageResult, render, see_other};
use super::{PERMISSIONS, gate, gate_form, minute, notice_of, scope_text, with_notice};
use crate::error::ServiceError;
use crate::service::{Wharf, feeds, keys};

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

pub(super) async fn keys_page(
    req: HttpRequest,
    wharf: web::Data<Wharf>,
    visitor: Visitor,
) -> PageResult {
    if let Err(answer) = gate(&req, &visitor) {
        return answer;
    }
    keys_view(&req, &wharf, &visitor, None, None).await
}

pub(super) async fn keys_view(
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

pub(super) async fn create_key(
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

pub(super) async fn revoke_key(
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
