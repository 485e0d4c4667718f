//! A connector's remote feed, asked over the Universal Feed API: which
//! versions it has (with their SHA-1s) and a version's bytes, spooled into
//! this process's scratch folder while hashed. Each request is bounded by
//! the connector's timeout (a download, per piece), and every way a remote
//! can fail is a `Failure` with its code: `resolve_failed` naming the host,
//! `remote_timeout`, `remote_unreachable`, `remote_failed` (an error status),
//! `remote_invalid`, `not_found`, `source_config_invalid`.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{Map, Value};
use sha1::{Digest, Sha1};
use tokio::io::AsyncWriteExt;

use crate::domain::{LatestRule, Version};
use crate::service::Wharf;
use crate::service::operations::{Failure, Progress};

use super::{Connector, Credentials};

/// The package asked for: its group, name, and version (none: the latest).
pub struct Wanted<'a> {
    pub group: &'a str,
    pub name: &'a str,
    pub version: Option<&'a str>,
}

impl Wanted<'_> {
    /// `group/name`, or `name` without a group, for sentences.
    pub fn display(&self) -> String {
        if self.group.is_empty() {
            self.name.to_owned()
        } else {
            format!("{}/{}", self.group, self.name)
        }
    }
}

/// A connector, checked and ready to be asked.
pub struct Remote {
    base: reqwest::Url,
    url: String,
    credentials: Option<Credentials>,
    timeout: Duration,
    client: reqwest::Client,
}

/// One version as a remote lists it.
#[derive(Debug, Clone)]
pub struct RemoteVersion {
    /// The version, parsed.
    pub version: Version,
    /// The version as the remote writes it.
    pub text: String,
    /// The SHA-1 the remote lists (empty when it lists none).
    pub sha1: String,
    /// A virtual package (fetched as its manifest).
    pub is_virtual: bool,
    /// The remote's whole object, for listings.
    pub object: Map<String, Value>,
}

impl RemoteVersion {
    /// The version an entry of a remote's `versions` describes, if it says
    /// one that can be read.
    pub fn read(object: Map<String, Value>) -> Option<Self> {
        let text = object.get("version")?.as_str()?.to_owned();
        let version = Version::parse(&text).ok()?;
        let sha1 = object
            .get("sha1")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_ascii_lowercase();
        let is_virtual = object
            .get("isVirtual")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        Some(Self {
            version,
            text,
            sha1,
            is_virtual,
            object,
        })
    }
}

/// A downloaded package in the scratch folder, its SHA-1 verified.
pub struct Spooled {
    pub file: tempfile::NamedTempFile,
}

impl Remote {
    pub fn of(wharf: &Wharf, connector: &Connector) -> Result<Self, Failure> {
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
        let credentials = connector
            .credentials(&wharf.settings.connectors)
            .map_err(invalid)?;
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
        self.succeeded(response, what)
    }

    /// `response`, or a failure unless it is 2xx.
    fn succeeded(
        &self,
        response: reqwest::Response,
        what: &str,
    ) -> Result<reqwest::Response, Failure> {
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

    /// What the remote's `endpoint` (`versions`, `packages`, `search`)
    /// answers to `query`: its JSON objects, as listed.
    pub async fn listing(
        &self,
        endpoint: &str,
        query: &[(&str, &str)],
    ) -> Result<Vec<Map<String, Value>>, Failure> {
        let mut url = self.address(&[endpoint]);
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        let request = self.get(url).timeout(self.timeout);
        let response = request.send().await.map_err(|e| self.unreachable(&e))?;
        // A remote without the one package asked for answers 404.
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(Vec::new());
        }
        let response = self.succeeded(response, &format!("its {endpoint}"))?;
        let body = response.bytes().await.map_err(|e| self.unreachable(&e))?;
        let listed: Value = serde_json::from_slice(&body).map_err(|e| {
            Failure::new(
                "remote_invalid",
                502,
                format!(
                    "{} answered {endpoint} that cannot be read ({e}).",
                    self.url
                ),
            )
        })?;
        // An array, or one object when one package or version was named.
        let listed = match listed {
            Value::Array(items) => items,
            object @ Value::Object(_) => vec![object],
            _ => Vec::new(),
        };
        Ok(listed
            .into_iter()
            .filter_map(|v| match v {
                Value::Object(object) => Some(object),
                _ => None,
            })
            .collect())
    }

    /// Every version the remote lists of the package (any order).
    pub async fn versions(&self, group: &str, name: &str) -> Result<Vec<RemoteVersion>, Failure> {
        let mut query = vec![("name", name)];
        if !group.is_empty() {
            query.push(("group", group));
        }
        Ok(self
            .listing("versions", &query)
            .await?
            .into_iter()
            .filter_map(RemoteVersion::read)
            .collect())
    }

    /// The version to pull: the one asked for, or the latest.
    pub async fn pick(&self, wanted: &Wanted<'_>) -> Result<RemoteVersion, Failure> {
        let versions = self.versions(wanted.group, wanted.name).await?;
        let not_found =
            |what: String| Failure::new("not_found", 404, format!("{} has no {what}.", self.url));
        let target = if let Some(asked) = wanted.version {
            Version::parse(asked).map_err(|e| Failure::new("bad_request", 400, e.to_string()))?
        } else {
            LatestRule::StableElsePrerelease
                .pick(versions.iter().map(|v| &v.version))
                .ok_or_else(|| not_found(format!("package {}", wanted.display())))?
                .clone()
        };
        let chosen = versions
            .into_iter()
            .find(|v| v.version == target)
            .ok_or_else(|| {
                if wanted.version.is_some() {
                    not_found(format!("version {target} of {}", wanted.display()))
                } else {
                    not_found(format!("package {}", wanted.display()))
                }
            })?;
        self.verifiable(wanted, chosen)
    }

    /// `version`, if the remote listed a SHA-1 to verify its bytes by.
    pub fn verifiable(
        &self,
        wanted: &Wanted<'_>,
        version: RemoteVersion,
    ) -> Result<RemoteVersion, Failure> {
        if version.sha1.len() == 40 {
            Ok(version)
        } else {
            Err(Failure::new(
                "remote_invalid",
                502,
                format!(
                    "{} lists no SHA-1 for {} {}, so it cannot be verified.",
                    self.url,
                    wanted.display(),
                    version.text
                ),
            ))
        }
    }

    /// Downloads the version into the scratch folder and checks its SHA-1
    /// against the one listed (`sha1_mismatch` otherwise); each piece must
    /// come within the connector's timeout.
    pub async fn download(
        &self,
        wharf: &Wharf,
        wanted: &Wanted<'_>,
        chosen: &RemoteVersion,
        progress: &Progress,
    ) -> Result<Spooled, Failure> {
        let version = chosen.text.as_str();
        // A virtual package's listed SHA-1 is its manifest's: fetch that,
        // not the package the remote would assemble from it.
        let mut segments: Vec<&str> = vec![if chosen.is_virtual {
            "download-vpack"
        } else {
            "download"
        }];
        segments.extend(wanted.group.split('/'));
        segments.push(wanted.name);
        segments.push(version);
        let what = format!("the download of {} {version}", wanted.display());
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
                            wanted.display(),
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
        let actual = hex::encode(hasher.finalize());
        if !actual.eq_ignore_ascii_case(&chosen.sha1) {
            return Err(Failure::new(
                "sha1_mismatch",
                502,
                format!(
                    "{} sent {} {version} with SHA-1 {actual}, but lists {}; nothing was stored.",
                    self.url,
                    wanted.display(),
                    chosen.sha1
                ),
            ));
        }
        Ok(Spooled { file })
    }
}
