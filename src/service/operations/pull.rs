//! Pull: fetch a package from one of a feed's connectors and store it, as
//! an APS catalog's `download-package` fetches a package from a remote
//! catalog by name (the highest version when none is given).
//!
//! The request names the feed, the package, optionally a version and a
//! `source`, which must equal one of the feed's connector URLs character
//! for character (a trailing slash matters: `unknown_source` otherwise);
//! without it the feed's first connector is used. The run asks the remote's
//! Universal Feed API for the package's versions, picks the version (the
//! latest rule when none was asked for), downloads it into this process's
//! scratch folder while computing its SHA-1, refuses it when that differs
//! from the SHA-1 the remote lists, and stores it through `ingest`, like an
//! upload (the same validation and 409 rule, as the requester).

use std::time::Duration;

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha1::{Digest, Sha1};
use tokio::io::AsyncWriteExt;

use crate::domain::{FeedScope, Grant, GroupName, LatestRule, PackageName, Permission, Version};
use crate::error::ServiceError;
use crate::service::auth::Principal;
use crate::service::connectors::{self, Connector, Credentials};
use crate::service::publish::{self, UploadHints};
use crate::service::{Caller, Wharf, access};

use super::{Failure, Kind, Operation, Progress, RunResult};

/// The most packages one pull request may ask for.
pub const MAX_BATCH: usize = 100;

/// One package to pull, as the API takes it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PullRequest {
    pub feed: String,
    #[serde(default)]
    pub group: String,
    pub name: String,
    pub version: Option<String>,
    pub source: Option<String>,
}

/// What is stored: the request checked, with its connector chosen.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Stored {
    feed: String,
    group: String,
    name: String,
    version: Option<String>,
    connector: String,
    source: String,
    /// The requester may replace an existing version (their `overwrite`).
    overwrite: bool,
}

/// Checks every request of a batch (the caller's `add` on each feed, names,
/// versions, sources) and, only if all pass, queues one operation each.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn request(
    wharf: &Wharf,
    caller: &Caller,
    requests: Vec<PullRequest>,
) -> Result<Vec<Operation>, ServiceError> {
    if requests.is_empty() {
        return Err(ServiceError::BadRequest(
            "Name at least one package to pull.".to_owned(),
        ));
    }
    if requests.len() > MAX_BATCH {
        return Err(ServiceError::BadRequest(format!(
            "One request may pull at most {MAX_BATCH} packages, not {}; send several.",
            requests.len()
        )));
    }
    let mut checked = Vec::with_capacity(requests.len());
    for request in requests {
        checked.push(check(wharf, caller, request).await?);
    }
    let mut queued = Vec::with_capacity(checked.len());
    for stored in checked {
        let json = serde_json::to_value(&stored).unwrap_or(Value::Null);
        queued.push(super::enqueue(wharf, caller, Kind::Pull, &json).await?);
    }
    Ok(queued)
}

async fn check(
    wharf: &Wharf,
    caller: &Caller,
    request: PullRequest,
) -> Result<Stored, ServiceError> {
    let feed = access::feed_for(wharf, caller, &request.feed, Permission::Add).await?;
    GroupName::parse(&request.group)?;
    PackageName::parse(&request.name)?;
    if let Some(version) = &request.version {
        Version::parse(version)?;
    }
    let candidates = connectors::list(wharf, Some(&feed.name)).await?;
    let connector = match &request.source {
        Some(source) => candidates.iter().find(|c| &c.url == source).ok_or_else(|| {
            let known: Vec<&str> = candidates.iter().map(|c| c.url.as_str()).collect();
            ServiceError::Refused {
                code: "unknown_source",
                message: format!(
                    "The source '{source}' is not a connector of feed '{}' (its connectors: {}); it must match one exactly.",
                    feed.name,
                    if known.is_empty() { "none".to_owned() } else { known.join(", ") }
                ),
            }
        })?,
        None => candidates.first().ok_or_else(|| ServiceError::Refused {
            code: "no_connector",
            message: format!("Feed '{}' has no connectors to pull from.", feed.name),
        })?,
    };
    if !connector.admits(&request.name) {
        return Err(ServiceError::Refused {
            code: "excluded_by_connector",
            message: format!(
                "Connector '{}' does not offer packages named '{}' (its filters exclude it).",
                connector.name, request.name
            ),
        });
    }
    Ok(Stored {
        overwrite: caller.may(Permission::Overwrite, &feed),
        feed: feed.name,
        group: request.group,
        name: request.name,
        version: request.version,
        connector: connector.name.clone(),
        source: connector.url.clone(),
    })
}

/// Runs a queued pull.
pub(super) async fn run(
    wharf: &Wharf,
    request: &Value,
    requested_by: &str,
    progress: &Progress,
) -> RunResult {
    let stored: Stored = serde_json::from_value(request.clone())
        .map_err(|e| Failure::new("internal", 500, format!("The request cannot be read: {e}")))?;
    let connector = connectors::get(wharf, &stored.connector)
        .await
        .map_err(|_| {
            Failure::new(
                "source_config_invalid",
                400,
                format!("The connector '{}' no longer exists.", stored.connector),
            )
        })?;
    let remote = Remote::of(wharf, &connector)?;
    let (version, sha1) = remote.pick(&stored).await?;
    let spooled = remote.download(wharf, &stored, &version, progress).await?;
    let actual = spooled.sha1.clone();
    if !actual.eq_ignore_ascii_case(&sha1) {
        return Err(Failure::new(
            "sha1_mismatch",
            502,
            format!(
                "{} sent {} {} with SHA-1 {actual}, but lists {sha1}; nothing was stored.",
                connector.url,
                display_id(&stored),
                version
            ),
        ));
    }
    // The requester, with what was checked at the request: add (and
    // overwrite, if they held it) on this feed alone.
    let grant = Grant {
        permissions: if stored.overwrite {
            [Permission::Add, Permission::Overwrite].into()
        } else {
            [Permission::Add].into()
        },
        scope: FeedScope::Only([stored.feed.to_ascii_lowercase()].into()),
    };
    let principal = match requested_by.strip_prefix("key:") {
        Some(id) => Principal::Key {
            id: id.to_owned(),
            grant,
        },
        None => Principal::User {
            username: requested_by.to_owned(),
            grant,
        },
    };
    let file = tokio::fs::File::open(spooled.file.path())
        .await
        .map_err(|e| Failure::new("internal", 500, format!("The download cannot be read: {e}")))?;
    let body = tokio_util::io::ReaderStream::new(file);
    let published = publish::ingest(
        wharf,
        &principal,
        &stored.feed,
        body,
        UploadHints::default(),
    )
    .await
    .map_err(Failure::from)?;
    Ok((
        201,
        json!({
            "group": published.group, "name": published.name, "version": published.version,
            "sha1": published.sha1, "sha256": published.sha256, "size": published.size_bytes,
            "source": connector.url,
        }),
    ))
}

fn display_id(stored: &Stored) -> String {
    if stored.group.is_empty() {
        stored.name.clone()
    } else {
        format!("{}/{}", stored.group, stored.name)
    }
}

/// A connector, checked and ready to be asked.
struct Remote {
    base: reqwest::Url,
    url: String,
    credentials: Option<Credentials>,
    timeout: Duration,
    client: reqwest::Client,
}

/// A downloaded package in the scratch folder, and its SHA-1.
struct Spooled {
    file: tempfile::NamedTempFile,
    sha1: String,
}

impl Remote {
    fn of(wharf: &Wharf, connector: &Connector) -> Result<Self, Failure> {
        let invalid = |why: String| Failure::new("source_config_invalid", 400, why);
        let base = reqwest::Url::parse(connector.url.trim_end_matches('/'))
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
            .ok_or_else(|| {
                invalid(format!(
                    "The connector '{}' has a URL that cannot be used: '{}'.",
                    connector.name, connector.url
                ))
            })?;
        let credentials =
            connectors::credentials(&wharf.settings.connectors, connector).map_err(invalid)?;
        Ok(Self {
            base,
            url: connector.url.clone(),
            credentials,
            timeout: Duration::from_secs(u64::try_from(connector.timeout_seconds).unwrap_or(30)),
            client: wharf.http_client.clone(),
        })
    }

    /// `<base>/<segments...>`, each segment encoded.
    fn address(&self, segments: &[&str]) -> reqwest::Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty()
                .extend(segments.iter().filter(|s| !s.is_empty()));
        }
        url
    }

    fn get(&self, url: reqwest::Url) -> reqwest::RequestBuilder {
        let request = self.client.get(url);
        match &self.credentials {
            Some(Credentials::ApiKey(key)) => request.header("X-ApiKey", key),
            Some(Credentials::Basic { username, password }) => {
                request.basic_auth(username, Some(password))
            }
            None => request,
        }
    }

    /// A failure for a request that did not get an answer.
    fn unreachable(&self, error: &reqwest::Error) -> Failure {
        let host = self.base.host_str().unwrap_or_default().to_owned();
        // The resolver's words are in the error's sources, not its message.
        let mut chain = error.to_string();
        let mut source = std::error::Error::source(error);
        while let Some(cause) = source {
            chain.push_str(": ");
            chain.push_str(&cause.to_string());
            source = cause.source();
        }
        if error.is_timeout() {
            Failure::new(
                "remote_timeout",
                504,
                format!(
                    "{} did not answer within {} s.",
                    self.url,
                    self.timeout.as_secs()
                ),
            )
        } else if error.is_connect()
            && (chain.contains("dns error") || chain.contains("failed to lookup address"))
        {
            Failure::new(
                "resolve_failed",
                502,
                format!(
                    "The host '{host}' of connector {} cannot be resolved.",
                    self.url
                ),
            )
        } else {
            Failure::new(
                "remote_unreachable",
                502,
                format!("{} cannot be reached: {error}.", self.url),
            )
        }
    }

    /// Sends `request` for `what`; a failure unless the remote answers 2xx.
    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        what: &str,
    ) -> Result<reqwest::Response, Failure> {
        let response = request.send().await.map_err(|e| self.unreachable(&e))?;
        let status = response.status();
        if status.is_success() {
            Ok(response)
        } else {
            Err(Failure::new(
                "remote_failed",
                502,
                format!("{} answered {status} when asked for {what}.", self.url),
            ))
        }
    }

    /// The version to pull and the SHA-1 the remote lists for it.
    async fn pick(&self, stored: &Stored) -> Result<(String, String), Failure> {
        let mut url = self.address(&["versions"]);
        url.query_pairs_mut().append_pair("name", &stored.name);
        if !stored.group.is_empty() {
            url.query_pairs_mut().append_pair("group", &stored.group);
        }
        let request = self.get(url).timeout(self.timeout);
        let what = format!("the versions of {}", display_id(stored));
        let response = self.send(request, &what).await?;
        let body = response.bytes().await.map_err(|e| self.unreachable(&e))?;
        let listed: Vec<Value> = serde_json::from_slice(&body).map_err(|e| {
            Failure::new(
                "remote_invalid",
                502,
                format!("{} answered versions that cannot be read ({e}).", self.url),
            )
        })?;
        let versions: Vec<(Version, &Value)> = listed
            .iter()
            .filter_map(|v| Some((Version::parse(v["version"].as_str()?).ok()?, v)))
            .collect();
        let not_found =
            |what: String| Failure::new("not_found", 404, format!("{} has no {what}.", self.url));
        let wanted = if let Some(wanted) = &stored.version {
            Version::parse(wanted).map_err(|e| Failure::new("bad_request", 400, e.to_string()))?
        } else {
            LatestRule::StableElsePrerelease
                .pick(versions.iter().map(|(v, _)| v))
                .ok_or_else(|| not_found(format!("package {}", display_id(stored))))?
                .clone()
        };
        let chosen = versions.iter().find(|(v, _)| *v == wanted).ok_or_else(|| {
            if stored.version.is_some() {
                not_found(format!("version {wanted} of {}", display_id(stored)))
            } else {
                not_found(format!("package {}", display_id(stored)))
            }
        })?;
        let sha1 = chosen.1["sha1"]
            .as_str()
            .filter(|s| s.len() == 40)
            .ok_or_else(|| {
                Failure::new(
                    "remote_invalid",
                    502,
                    format!(
                        "{} lists no SHA-1 for {} {}, so it cannot be verified.",
                        self.url,
                        display_id(stored),
                        chosen.0
                    ),
                )
            })?;
        let version = chosen.1["version"].as_str().unwrap_or_default().to_owned();
        Ok((version, sha1.to_owned()))
    }

    /// Downloads the version into the scratch folder; each piece must come
    /// within the connector's timeout.
    async fn download(
        &self,
        wharf: &Wharf,
        stored: &Stored,
        version: &str,
        progress: &Progress,
    ) -> Result<Spooled, Failure> {
        let mut segments: Vec<&str> = vec!["download"];
        segments.extend(stored.group.split('/'));
        segments.push(&stored.name);
        segments.push(version);
        let what = format!("the download of {} {version}", display_id(stored));
        let response = self.send(self.get(self.address(&segments)), &what).await?;
        if let Some(length) = response.content_length() {
            progress.set_total(length);
        }
        let internal = |e: std::io::Error| {
            Failure::new(
                "internal",
                500,
                format!("The download cannot be spooled: {e}"),
            )
        };
        let file = tempfile::NamedTempFile::new_in(wharf.temp_dir()).map_err(internal)?;
        let mut writer = tokio::fs::File::from_std(file.reopen().map_err(internal)?);
        let mut hasher = Sha1::new();
        let mut body = response.bytes_stream();
        loop {
            let next = tokio::time::timeout(self.timeout, body.next())
                .await
                .map_err(|_| {
                    Failure::new(
                        "remote_timeout",
                        504,
                        format!(
                            "{} stopped sending {} {version} for {} s.",
                            self.url,
                            display_id(stored),
                            self.timeout.as_secs()
                        ),
                    )
                })?;
            let Some(chunk) = next else { break };
            let chunk = chunk.map_err(|e| self.unreachable(&e))?;
            hasher.update(&chunk);
            writer.write_all(&chunk).await.map_err(internal)?;
            progress.add(chunk.len());
        }
        writer.flush().await.map_err(internal)?;
        Ok(Spooled {
            file,
            sha1: hex::encode(hasher.finalize()),
        })
    }
}
