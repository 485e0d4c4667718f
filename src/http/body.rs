//! Request bodies that carry named fields: a JSON object or a form, read
//! the same way wherever an endpoint takes them (promotion, repackaging,
//! operations).

use std::collections::HashMap;

use actix_web::HttpRequest;
use serde_json::Value;

use crate::error::ServiceError;

/// Reads the request's fields from a JSON object or a form body (keys
/// matched ignoring case; JSON strings and booleans are taken, other values refused).
pub fn body_fields(
    req: &HttpRequest,
    body: &[u8],
) -> Result<HashMap<String, String>, ServiceError> {
    let is_form = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
    let pairs: Vec<(String, String)> = if is_form {
        form_urlencoded::parse(body)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    } else {
        let Value::Object(object) = serde_json::from_slice(body).map_err(|e| {
            ServiceError::BadRequest(format!("The request body is not a JSON object ({e})."))
        })?
        else {
            return Err(ServiceError::BadRequest(
                "The request body must be a JSON object.".to_owned(),
            ));
        };
        object
            .into_iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k, s)),
                Value::Bool(b) => Ok((k, b.to_string())),
                _ => Err(ServiceError::BadRequest(format!("{k} must be a string."))),
            })
            .collect::<Result<_, _>>()?
    };
    Ok(pairs
        .into_iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v))
        .collect())
}
