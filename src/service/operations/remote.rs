//! A connector's remote feed, asked over the Universal Feed API: which
//! versions it has (with their SHA-1s) and a version's bytes, spooled into
//! this process's scratch folder while hashed. Each request is bounded by
//! the connector's timeout (a download, per piece), and every way a remote
//! can fail is a `Failure` with its code: `resolve_failed` naming the host,
//! `remote_timeout`, `remote_unreachable`, `remote_failed` (an error status),
//! `remote_invalid`, `not_found`, `source_config_invalid`.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::Value;
use sha1::{Digest, Sha1};
use tokio::io::AsyncWriteExt;

use crate::domain::{LatestRule, Version};
use crate::service::Wharf;
use crate::service::connectors::{self, Connector, Credentials};

use super::{Failure, Progress};

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

/// A downloaded package in the scratch folder, and its SHA-1.
pub struct Spooled {
    pub file: tempfile::NamedTempFile,
    pub sha1: String,
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
    pub async fn pick(&self, wanted: &Wanted<'_>) -> Result<(String, String), Failure> {
        let mut url = self.address(&["versions"]);
        url.query_pairs_mut().append_pair("name", wanted.name);
        if !wanted.group.is_empty() {
            url.query_pairs_mut().append_pair("group", wanted.group);
        }
        let request = self.get(url).timeout(self.timeout);
        let what = format!("the versions of {}", wanted.display());
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
        let target = if let Some(asked) = wanted.version {
            Version::parse(asked).map_err(|e| Failure::new("bad_request", 400, e.to_string()))?
        } else {
            LatestRule::StableElsePrerelease
                .pick(versions.iter().map(|(v, _)| v))
                .ok_or_else(|| not_found(format!("package {}", wanted.display())))?
                .clone()
        };
        let chosen = versions.iter().find(|(v, _)| *v == target).ok_or_else(|| {
            if wanted.version.is_some() {
                not_found(format!("version {target} of {}", wanted.display()))
            } else {
                not_found(format!("package {}", wanted.display()))
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
                        wanted.display(),
                        chosen.0
                    ),
                )
            })?;
        let version = chosen.1["version"].as_str().unwrap_or_default().to_owned();
        Ok((version, sha1.to_owned()))
    }

    /// Downloads the version into the scratch folder; each piece must come
    /// within the connector's timeout.
    pub async fn download(
        &self,
        wharf: &Wharf,
        wanted: &Wanted<'_>,
        version: &str,
        progress: &Progress,
    ) -> Result<Spooled, Failure> {
        let mut segments: Vec<&str> = vec!["download"];
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
        Ok(Spooled {
            file,
            sha1: hex::encode(hasher.finalize()),
        })
    }
}
