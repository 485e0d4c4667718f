//! Signing in and out.

use actix_web::cookie::time;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use minijinja::context;

use super::forms::Form;
use super::visitor::{LOGIN_COOKIE, SESSION_COOKIE, Visitor, cookie, same};
use super::{PageResult, render_with_status, see_other};
use crate::error::ServiceError;
use crate::http::query::Query;
use crate::service::Wharf;
use crate::service::auth::random_token;

/// Where to go after signing in: a path on this server, never elsewhere.
fn local_target(next: Option<&str>) -> String {
    match next {
        Some(path) if path.starts_with('/') && !path.starts_with("//") && !path.contains('\\') => {
            path.to_owned()
        }
        _ => "/".to_owned(),
    }
}

/// `GET /login[?next=]`: the sign-in form.
pub async fn login_form(req: HttpRequest, visitor: Visitor) -> PageResult {
    let query = Query::parse(req.query_string());
    let next = local_target(query.get("next"));
    if visitor.session.is_some() {
        return Ok(see_other(&next));
    }
    form_page(&req, StatusCode::OK, &next, "", None)
}

fn form_page(
    req: &HttpRequest,
    status: StatusCode,
    next: &str,
    username: &str,
    error: Option<&str>,
) -> PageResult {
    // The sign-in form has no session to tie a CSRF token to, so its token
    // is paired with a short-lived cookie instead.
    let token = random_token();
    let mut response = render_with_status(
        status,
        "login.html",
        context! { title => "Sign in", next, username, error, csrf => token.clone() },
    )?;
    response
        .add_cookie(&cookie(
            req,
            LOGIN_COOKIE,
            token,
            time::Duration::minutes(30),
        ))
        .map_err(|e| ServiceError::internal(anyhow::anyhow!("setting a cookie: {e}")))?;
    Ok(response)
}

/// `POST /login`: checks the name and password and begins a session.
pub async fn login(req: HttpRequest, body: web::Bytes, wharf: web::Data<Wharf>) -> PageResult {
    let form = Form::parse(&body);
    let next = local_target(form.get("next"));
    let username = form.get("username").unwrap_or("").trim().to_owned();
    let paired = req
        .cookie(LOGIN_COOKIE)
        .is_some_and(|c| same(c.value(), form.get("csrf").unwrap_or("")));
    if !paired {
        return form_page(
            &req,
            StatusCode::FORBIDDEN,
            &next,
            &username,
            Some("The form has expired; please sign in again."),
        );
    }
    let password = form.get("password").unwrap_or("").to_owned();
    let address =
        crate::http::client_address::client_address(&wharf, req.peer_addr(), req.headers());
    match wharf
        .auth
        .sign_in(&username, password.into(), address)
        .await
    {
        Ok(signed_in) => {
            use secrecy::ExposeSecret;
            let mut response = see_other(&next);
            let lifetime = time::Duration::seconds(signed_in.lifetime.num_seconds());
            let session = cookie(
                &req,
                SESSION_COOKIE,
                signed_in.token.expose_secret().to_owned(),
                lifetime,
            );
            let spent = cookie(&req, LOGIN_COOKIE, String::new(), time::Duration::ZERO);
            for c in [session, spent] {
                response.add_cookie(&c).map_err(|e| {
                    ServiceError::internal(anyhow::anyhow!("setting a cookie: {e}"))
                })?;
            }
            Ok(response)
        }
        Err(error @ (ServiceError::Forbidden(_) | ServiceError::TooManyAttempts { .. })) => {
            let status = actix_web::ResponseError::status_code(&error);
            form_page(&req, status, &next, &username, Some(&error.to_string()))
        }
        Err(other) => Err(other.into()),
    }
}

/// `POST /logout`: ends the session.
pub async fn logout(
    req: HttpRequest,
    body: web::Bytes,
    wharf: web::Data<Wharf>,
    visitor: Visitor,
) -> PageResult {
    let form = Form::parse(&body);
    if visitor.session.is_some() {
        visitor.check_csrf(form.get("csrf").unwrap_or(""))?;
    }
    if let Some(token) = &visitor.token {
        wharf.auth.sign_out(token).await?;
    }
    let mut response: HttpResponse = see_other("/");
    response
        .add_cookie(&cookie(
            &req,
            SESSION_COOKIE,
            String::new(),
            time::Duration::ZERO,
        ))
        .map_err(|e| ServiceError::internal(anyhow::anyhow!("setting a cookie: {e}")))?;
    Ok(response)
}
