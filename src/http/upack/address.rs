//! The package address of a `/upack/<feed>/<endpoint>/<tail...>` request,
//! read from the raw path (see `tail`), so group slashes may arrive literal or
//! as `%2F`, and `+` in a version survives. An extractor, so handlers state
//! what they read instead of opening with the same lines.

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};

use crate::domain::{PackageId, Version};
use crate::error::ServiceError;
use crate::service::packages::VersionSelector;

use super::super::query::Query;
use super::super::tail;

/// The feed name and the decoded segments after the endpoint name.
pub struct Address {
    pub feed: String,
    pub segments: Vec<String>,
}

impl Address {
    /// Reads `/upack/<feed>/<endpoint>/<tail...>` from the raw request path.
    pub fn of(req: &HttpRequest) -> Result<Self, ServiceError> {
        let path = req.uri().path();
        let bad_path = |e: tail::TailError| ServiceError::BadRequest(e.to_string());
        let feed_raw = tail::raw_tail_after(path, 1)
            .split('/')
            .next()
            .unwrap_or_default();
        Ok(Self {
            feed: tail::decode_segment(feed_raw).map_err(bad_path)?,
            segments: tail::decode_segments(tail::raw_tail_after(path, 3)).map_err(bad_path)?,
        })
    }

    /// The package and version a download-style request names: the last
    /// segment is the version unless `latest` is asked for.
    pub fn package_version(
        &self,
        query: &Query,
    ) -> Result<(PackageId, VersionSelector), ServiceError> {
        if let Some(rule) = query.latest()? {
            return Ok((
                PackageId::from_segments(&self.segments)?,
                VersionSelector::Latest(rule),
            ));
        }
        let no_version = |detail: String| {
            ServiceError::BadRequest(format!(
                "The address needs a version (.../<name>/<version>) or ?latest{detail}."
            ))
        };
        match self.segments.split_last() {
            Some((version, id)) if !id.is_empty() => match Version::parse(version) {
                Ok(version) => Ok((
                    PackageId::from_segments(id)?,
                    VersionSelector::Exact(version),
                )),
                Err(_) => Err(no_version(format!("; '{version}' is not a SemVer version"))),
            },
            _ => Err(no_version(String::new())),
        }
    }
}

impl FromRequest for Address {
    type Error = ServiceError;
    type Future = Ready<Result<Self, ServiceError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Self::of(req))
    }
}
