//! The one table that maps service errors to HTTP statuses.
//!
//! Services return [`ServiceError`]; its `Display` is the one-sentence body
//! the client sees (as `text/plain`). Internal errors are the exception: their
//! cause is logged here, once, and the client gets an opaque sentence.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};

use crate::domain::DomainError;
use crate::upack::PackageError;

/// Why a request failed, by the status it maps to.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The request is malformed; the sentence says what to fix.
    #[error("{0}")]
    BadRequest(String),
    /// The request is refused for a reason scripts tell apart by `code`
    /// (an operation's `unknown_source`): a 400 with `{code, message}`.
    #[error("{message}")]
    Refused { code: &'static str, message: String },
    /// No credentials were sent and the server is configured to challenge.
    #[error("This request needs credentials: an API key or a user name and password.")]
    AuthenticationRequired,
    /// Missing, unknown or insufficient credentials.
    #[error("{0}")]
    Forbidden(String),
    /// The feed, package, version or file does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The request conflicts with what is stored.
    #[error("{0}")]
    Conflict(String),
    /// The client stopped sending the body.
    #[error("{0}")]
    RequestTimeout(String),
    /// The body is larger than allowed.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// The requested range lies outside the content.
    #[error("The requested range is not satisfiable for a {size}-byte file.")]
    RangeNotSatisfiable { size: u64 },
    /// Too many failed authentications from this client address.
    #[error(
        "Too many failed authentication attempts from this address; try again in {retry_after_seconds} seconds."
    )]
    TooManyAttempts { retry_after_seconds: u64 },
    /// A remote feed (a connector) failed to answer for a package the feed
    /// lacks; the sentence names the connector and what went wrong.
    #[error("{0}")]
    BadGateway(String),
    /// The database cannot be reached.
    #[error("The database is unavailable; try again shortly.")]
    Unavailable,
    /// The blob store (an S3 bucket) cannot be reached. The cause, which
    /// names the server, is logged, never sent.
    #[error("The package storage is unavailable; try again shortly.")]
    StorageUnavailable(#[source] anyhow::Error),
    /// Anything unexpected. The cause is logged, never sent.
    #[error("An internal error occurred; it has been logged.")]
    Internal(#[source] anyhow::Error),
}

impl ServiceError {
    /// Wraps an unexpected error, noting where in Wharf it was met (the
    /// log then says which step failed even when the cause is a bare I/O
    /// error); the caller still sees only the opaque sentence. Called
    /// directly, not as `map_err(ServiceError::internal)`: through a function
    /// pointer the location would be the standard library's. Use
    /// [`OrInternal::or_internal`] on results.
    #[track_caller]
    pub fn internal(error: impl Into<anyhow::Error>) -> Self {
        let at = std::panic::Location::caller();
        Self::unexpected(
            error
                .into()
                .context(format!("at {}:{}", at.file(), at.line())),
        )
    }

    /// An unexpected error, unless it is the blob store's server failing to
    /// answer: an outage a client should retry after, like the database's.
    fn unexpected(error: anyhow::Error) -> Self {
        if crate::blob::is_outage(&error) {
            Self::StorageUnavailable(error)
        } else {
            Self::Internal(error)
        }
    }

    /// What went wrong, if this is an internal error or a storage outage
    /// (for the log only: it names files and hosts).
    pub fn internal_cause(&self) -> Option<&anyhow::Error> {
        match self {
            Self::Internal(cause) | Self::StorageUnavailable(cause) => Some(cause),
            _ => None,
        }
    }

    /// Wraps an unexpected error with what was being done (which blob, which
    /// file, which step), for the log.
    pub fn internal_while(doing: impl std::fmt::Display, error: impl Into<anyhow::Error>) -> Self {
        Self::unexpected(error.into().context(doing.to_string()))
    }
}

/// `.or_internal("what was being done")` on any result whose error is unexpected.
pub trait OrInternal<T> {
    /// Maps the error to [`ServiceError::Internal`] with `doing` as its context.
    fn or_internal(self, doing: impl std::fmt::Display) -> Result<T, ServiceError>;
}

impl<T, E: Into<anyhow::Error>> OrInternal<T> for Result<T, E> {
    #[track_caller]
    fn or_internal(self, doing: impl std::fmt::Display) -> Result<T, ServiceError> {
        let at = std::panic::Location::caller();
        self.map_err(|e| {
            ServiceError::internal_while(
                format_args!("{doing} (at {}:{})", at.file(), at.line()),
                e,
            )
        })
    }
}

impl From<sqlx::Error> for ServiceError {
    fn from(error: sqlx::Error) -> Self {
        if crate::db::is_unavailable(&error) {
            tracing::error!(error = %error, "database unavailable");
            Self::Unavailable
        } else {
            Self::Internal(error.into())
        }
    }
}

impl From<crate::db::TxError<ServiceError>> for ServiceError {
    fn from(error: crate::db::TxError<ServiceError>) -> Self {
        match error {
            crate::db::TxError::Db(e) => e.into(),
            crate::db::TxError::Outside(e) => e,
        }
    }
}

impl From<DomainError> for ServiceError {
    fn from(error: DomainError) -> Self {
        Self::BadRequest(error.to_string())
    }
}

impl From<PackageError> for ServiceError {
    fn from(error: PackageError) -> Self {
        match error {
            PackageError::Io(e) => Self::Internal(e.into()),
            other => Self::BadRequest(other.to_string()),
        }
    }
}

impl ResponseError for ServiceError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) | Self::Refused { .. } => StatusCode::BAD_REQUEST,
            Self::AuthenticationRequired => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::RangeNotSatisfiable { .. } => StatusCode::RANGE_NOT_SATISFIABLE,
            Self::TooManyAttempts { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::BadGateway(_) => StatusCode::BAD_GATEWAY,
            Self::Unavailable | Self::StorageUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Builds the answer only: the cause of an internal error is logged,
    /// with the request's id, by `http::access_log`.
    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        if let Self::Refused { code, message } = self {
            return response.json(serde_json::json!({ "code": code, "message": message }));
        }
        response.content_type("text/plain; charset=utf-8");
        match self {
            Self::AuthenticationRequired => {
                response.insert_header((
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"wharf\""),
                ));
            }
            Self::RangeNotSatisfiable { size } => {
                response.insert_header((header::CONTENT_RANGE, format!("bytes */{size}")));
            }
            Self::TooManyAttempts {
                retry_after_seconds,
            } => {
                response.insert_header((header::RETRY_AFTER, retry_after_seconds.to_string()));
            }
            _ => {}
        }
        response.body(self.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The one table, checked row by row: every variant and its status.
    #[test]
    fn every_error_maps_to_its_status_with_its_sentence() {
        let cases = [
            (ServiceError::BadRequest("b.".into()), 400),
            (ServiceError::AuthenticationRequired, 401),
            (ServiceError::Forbidden("f.".into()), 403),
            (ServiceError::NotFound("n.".into()), 404),
            (ServiceError::Conflict("c.".into()), 409),
            (ServiceError::RequestTimeout("t.".into()), 408),
            (ServiceError::PayloadTooLarge("p.".into()), 413),
            (ServiceError::RangeNotSatisfiable { size: 3 }, 416),
            (
                ServiceError::TooManyAttempts {
                    retry_after_seconds: 5,
                },
                429,
            ),
            (ServiceError::Unavailable, 503),
            (
                ServiceError::StorageUnavailable(anyhow::anyhow!("bucket host")),
                503,
            ),
            (ServiceError::internal(anyhow::anyhow!("secret cause")), 500),
        ];
        for (error, status) in cases {
            assert_eq!(error.status_code().as_u16(), status, "{error:?}");
            let response = error.error_response();
            assert_eq!(response.status().as_u16(), status);
            assert_eq!(
                response.headers().get(header::CONTENT_TYPE).unwrap(),
                "text/plain; charset=utf-8"
            );
        }
        let refused = ServiceError::Refused {
            code: "unknown_source",
            message: "m.".into(),
        };
        assert_eq!(refused.status_code().as_u16(), 400);
        assert_eq!(
            refused
                .error_response()
                .headers()
                .get(header::CONTENT_TYPE)
                .unwrap(),
            "application/json"
        );
        let internal = ServiceError::internal(anyhow::anyhow!("secret cause"));
        assert!(
            !internal.to_string().contains("secret"),
            "5xx bodies are opaque"
        );
        let ServiceError::Internal(cause) = internal else {
            unreachable!()
        };
        assert!(format!("{cause:#}").contains("src/error.rs"), "{cause:#}");
        let ServiceError::Internal(cause) = Err::<(), _>(anyhow::anyhow!("disk on fire"))
            .or_internal("storing blob ab12")
            .unwrap_err()
        else {
            unreachable!()
        };
        let logged = format!("{cause:#}");
        assert!(
            logged.contains("storing blob ab12 (at src/error.rs:")
                && logged.contains("disk on fire"),
            "{logged}"
        );
    }

    #[test]
    fn refusals_carry_their_headers() {
        let challenge = ServiceError::AuthenticationRequired.error_response();
        assert_eq!(
            challenge.headers().get(header::WWW_AUTHENTICATE).unwrap(),
            "Basic realm=\"wharf\""
        );
        let range = ServiceError::RangeNotSatisfiable { size: 3 }.error_response();
        assert_eq!(
            range.headers().get(header::CONTENT_RANGE).unwrap(),
            "bytes */3"
        );
        let limited = ServiceError::TooManyAttempts {
            retry_after_seconds: 5,
        }
        .error_response();
        assert_eq!(limited.headers().get(header::RETRY_AFTER).unwrap(), "5");
    }

    #[test]
    fn database_outages_are_503_and_other_database_errors_500() {
        assert_eq!(
            ServiceError::from(sqlx::Error::PoolTimedOut).status_code(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            ServiceError::from(sqlx::Error::RowNotFound).status_code(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
        assert_eq!(
            ServiceError::from(PackageError::Empty).status_code(),
            StatusCode::BAD_REQUEST
        );
    }
}
