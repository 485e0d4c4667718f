//! What the templates show, built from the service's read models: the same
//! `VersionDetail` and `PackageSummary` the JSON API renders, so a page and
//! the API cannot disagree. Text from manifests is escaped by the templates;
//! descriptions are Markdown, rendered here and sanitised.

use serde::Serialize;

use super::paths;
use crate::domain::{ContentSource, Dependency, VirtualContents};
use crate::service::model::{FeedSummary, PackageSummary, VersionDetail};

/// A feed in the list of feeds.
#[derive(Debug, Serialize)]
pub struct FeedView {
    pub name: String,
    pub url: String,
    pub description: String,
    pub public: bool,
    pub package_count: i64,
    pub version_count: i64,
}

impl From<&FeedSummary> for FeedView {
    fn from(summary: &FeedSummary) -> Self {
        Self {
            url: paths::feed(&summary.feed.name),
            name: summary.feed.name.clone(),
            description: summary.feed.description.clone(),
            public: summary.feed.anonymous_read,
            package_count: summary.package_count,
            version_count: summary.version_count,
        }
    }
}

/// A package in a feed's list.
#[derive(Debug, Serialize)]
pub struct PackageRowView {
    pub group: String,
    pub name: String,
    pub title: Option<String>,
    pub url: String,
    pub latest_version: String,
    pub latest_is_prerelease: bool,
    pub description: String,
    pub downloads: i64,
}

impl PackageRowView {
    pub fn new(feed: &str, package: &PackageSummary) -> Self {
        let latest = package.latest();
        Self {
            group: latest.group().to_owned(),
            name: latest.name().to_owned(),
            title: latest
                .manifest_text("title")
                .filter(|t| !t.eq_ignore_ascii_case(latest.name())),
            url: paths::package(feed, latest.group(), latest.name()),
            latest_version: latest.version().to_owned(),
            latest_is_prerelease: !latest.is_stable(),
            description: first_line(&plain_text(
                &latest
                    .manifest_text("shortDescription")
                    .or_else(|| latest.manifest_text("description"))
                    .unwrap_or_default(),
            )),
            downloads: package.total_downloads(),
        }
    }
}

/// One version in a package's list.
#[derive(Debug, Serialize)]
pub struct VersionRowView {
    pub version: String,
    pub url: String,
    pub prerelease: bool,
    pub published: String,
    pub size: i64,
    pub downloads: i64,
    pub is_virtual: bool,
}

impl VersionRowView {
    pub fn new(feed: &str, version: &VersionDetail) -> Self {
        Self {
            version: version.version().to_owned(),
            url: paths::version(feed, version.group(), version.name(), version.version()),
            prerelease: !version.is_stable(),
            published: date(version),
            size: version.size_bytes(),
            downloads: version.downloads(),
            is_virtual: version.is_virtual(),
        }
    }
}

/// A dependency, linked to its package's page.
#[derive(Debug, Serialize)]
pub struct DependencyView {
    pub text: String,
    pub url: Option<String>,
    pub range: Option<String>,
}

/// The manifest's dependencies, each linked to its package in `feed`.
pub fn dependencies(feed: &str, version: &VersionDetail) -> Vec<DependencyView> {
    let manifest = version.manifest();
    let Some(list) = manifest.get("dependencies").and_then(|d| d.as_array()) else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|d| d.as_str())
        .map(|text| match Dependency::parse(text) {
            Some(dependency) => DependencyView {
                text: if dependency.group.is_empty() {
                    dependency.name.clone()
                } else {
                    format!("{}/{}", dependency.group, dependency.name)
                },
                url: Some(paths::package(feed, &dependency.group, &dependency.name)),
                range: dependency.range,
            },
            None => DependencyView {
                text: text.to_owned(),
                url: None,
                range: None,
            },
        })
        .collect()
}

/// An entry of a virtual package's `contents`.
#[derive(Debug, Serialize)]
pub struct ContentView {
    pub target: String,
    pub source: String,
    pub url: Option<String>,
}

/// A virtual package's contents, package sources linked to their versions.
pub fn contents(feed: &str, version: &VersionDetail) -> Vec<ContentView> {
    let Ok(parsed) = VirtualContents::parse(&version.manifest()) else {
        return Vec::new();
    };
    parsed
        .all()
        .map(|(is_meta, item)| {
            let root = if is_meta { "" } else { "package/" };
            let target = format!("{root}{}", item.virtual_path);
            match &item.source {
                ContentSource::Package { id, version, .. } => ContentView {
                    target,
                    source: format!("{id} {version}"),
                    url: Some(paths::version(
                        feed,
                        id.group.as_str(),
                        id.name.as_str(),
                        &version.to_string(),
                    )),
                },
                ContentSource::Url { url, .. } => ContentView {
                    target,
                    source: url.clone(),
                    url: None,
                },
                ContentSource::Asset { feed, asset } => ContentView {
                    target,
                    source: format!("asset {feed}/{asset}"),
                    url: None,
                },
            }
        })
        .collect()
}

/// A file or folder in a version's file browser.
#[derive(Debug, Serialize)]
pub struct FileView {
    pub name: String,
    pub is_folder: bool,
    /// For a folder, the version page showing it; for a file, its download.
    pub url: String,
    pub size: Option<u64>,
}

/// The entries directly inside `folder` (relative to `package/`, empty for
/// the top), folders first.
pub fn files_in(version: &VersionDetail, feed: &str, folder: &str) -> Vec<FileView> {
    let page = paths::version(feed, version.group(), version.name(), version.version());
    let download = paths::api(
        "download-file",
        feed,
        version.group(),
        version.name(),
        version.version(),
    );
    let prefix = if folder.is_empty() {
        String::new()
    } else {
        format!("{}/", folder.trim_end_matches('/'))
    };
    let mut folders = std::collections::BTreeSet::new();
    let mut files = Vec::new();
    for entry in version.files() {
        let Some(rest) = entry.name.strip_prefix(&prefix) else {
            continue;
        };
        match rest.split_once('/') {
            Some((sub, _)) if !sub.is_empty() => {
                folders.insert(sub.to_owned());
            }
            _ if rest.is_empty() || rest.ends_with('/') => {}
            _ => files.push(FileView {
                name: rest.to_owned(),
                is_folder: false,
                url: format!(
                    "{download}?path={}",
                    paths::query_value(&format!("package/{}", entry.name))
                ),
                size: Some(entry.size),
            }),
        }
    }
    folders
        .into_iter()
        .map(|sub| FileView {
            url: format!(
                "{page}?path={}",
                paths::query_value(&format!("{prefix}{sub}"))
            ),
            name: sub,
            is_folder: true,
            size: None,
        })
        .chain(files)
        .collect()
}

/// A version's publication date, `YYYY-MM-DD HH:MM UTC`.
pub fn date(version: &VersionDetail) -> String {
    version
        .published_at()
        .format("%Y-%m-%d %H:%M UTC")
        .to_string()
}

/// Markdown rendered to HTML with anything unsafe removed (scripts, event
/// handlers, `javascript:` links); links open as plain links.
pub fn markdown(text: &str) -> String {
    let parser = pulldown_cmark::Parser::new_ext(text, pulldown_cmark::Options::ENABLE_TABLES);
    let mut html = String::new();
    pulldown_cmark::html::push_html(&mut html, parser);
    ammonia::Builder::default()
        .link_rel(Some("nofollow noopener noreferrer"))
        .clean(&html)
        .to_string()
}

/// The text of Markdown without its markup (for one-line summaries); each
/// paragraph or list item on its own line, HTML dropped.
fn plain_text(markdown: &str) -> String {
    use pulldown_cmark::{Event, TagEnd};
    let mut text = String::new();
    for event in pulldown_cmark::Parser::new(markdown) {
        match event {
            Event::Text(t) | Event::Code(t) => text.push_str(&t),
            Event::SoftBreak | Event::HardBreak => text.push(' '),
            Event::End(TagEnd::Paragraph | TagEnd::Item | TagEnd::Heading(_)) => text.push('\n'),
            _ => {}
        }
    }
    text
}

fn first_line(text: &str) -> String {
    let line = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let mut short: String = line.chars().take(160).collect();
    if line.chars().count() > 160 {
        short.push('…');
    }
    short
}

/// The `bytes` template filter: `1.4 MB`, `532 B`.
#[allow(clippy::cast_precision_loss)]
pub fn human_bytes(size: i64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut value = size as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{size} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_keeps_formatting_and_drops_scripts() {
        let html = markdown(
            "**bold** [ok](https://example.com) <script>alert(1)</script> [x](javascript:alert(1)) <img src=x onerror=alert(1)>",
        );
        assert!(html.contains("<strong>bold</strong>"));
        assert!(html.contains("href=\"https://example.com\""));
        assert!(!html.contains("<script"));
        assert!(!html.contains("javascript:"));
        assert!(!html.contains("onerror"));
    }

    #[test]
    fn summaries_drop_markup() {
        assert_eq!(
            first_line(&plain_text(
                "Deploys **Acme** [services](https://x).\n\nMore."
            )),
            "Deploys Acme services."
        );
        assert_eq!(first_line(&plain_text("<b>hi</b> there")), "hi there");
    }

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(human_bytes(532), "532 B");
        assert_eq!(human_bytes(1_400_000), "1.4 MB");
    }
}
