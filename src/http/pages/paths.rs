//! The addresses of pages and of the API downloads they link to, built in
//! one place so that a group's slashes and a version's `+` are encoded the
//! same way everywhere.

use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};

/// Characters escaped inside one path segment.
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'+')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}');

/// Characters escaped in a query value.
const QUERY: &AsciiSet = &SEGMENT.add(b'&').add(b'=');

fn segment(text: &str) -> String {
    utf8_percent_encode(text, SEGMENT).to_string()
}

/// A query value, escaped.
pub fn query_value(text: &str) -> String {
    utf8_percent_encode(text, QUERY).to_string()
}

/// `group/name` with each segment escaped (the group's slashes kept).
fn package_path(group: &str, name: &str) -> String {
    group
        .split('/')
        .filter(|s| !s.is_empty())
        .chain(std::iter::once(name))
        .map(segment)
        .collect::<Vec<_>>()
        .join("/")
}

/// `/feeds/<feed>`.
pub fn feed(feed: &str) -> String {
    format!("/feeds/{}", segment(feed))
}

/// `/feeds/<feed>/packages/<group.../><name>`.
pub fn package(feed: &str, group: &str, name: &str) -> String {
    format!(
        "/feeds/{}/packages/{}",
        segment(feed),
        package_path(group, name)
    )
}

/// `/feeds/<feed>/packages/<group.../><name>/versions/<version>`.
pub fn version(feed: &str, group: &str, name: &str, version: &str) -> String {
    format!(
        "{}/versions/{}",
        package(feed, group, name),
        segment(version)
    )
}

/// The API address `/upack/<feed>/<endpoint>/<group.../><name>/<version>`.
pub fn api(endpoint: &str, feed: &str, group: &str, name: &str, version: &str) -> String {
    format!(
        "/upack/{}/{endpoint}/{}/{}",
        segment(feed),
        package_path(group, name),
        segment(version)
    )
}

/// Splits a page tail `<group.../><name>[/versions/<version>]` into the
/// package's segments and the version, if the tail names one. A version
/// page is recognised by its last two segments: `versions` and a valid
/// `SemVer` version.
pub fn split_package_tail(tail: &str) -> (Vec<String>, Option<String>) {
    let segments: Vec<String> = tail
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect();
    if let [package @ .., marker, version] = segments.as_slice()
        && marker == "versions"
        && !package.is_empty()
        && semver::Version::parse(version).is_ok()
    {
        return (package.to_vec(), Some(version.clone()));
    }
    (segments, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_keep_their_slashes_and_versions_escape_plus() {
        assert_eq!(
            version("main", "a/b", "tool", "1.0.0+build.1"),
            "/feeds/main/packages/a/b/tool/versions/1.0.0%2Bbuild.1"
        );
        assert_eq!(package("main", "", "tool"), "/feeds/main/packages/tool");
        assert_eq!(
            api("download", "main", "a/b", "tool", "1.0.0"),
            "/upack/main/download/a/b/tool/1.0.0"
        );
    }

    #[test]
    fn a_tail_names_a_package_or_one_of_its_versions() {
        assert_eq!(
            split_package_tail("a/b/tool/versions/1.0.0%2Bx"),
            (
                vec!["a".into(), "b".into(), "tool".into()],
                Some("1.0.0+x".into())
            )
        );
        assert_eq!(
            split_package_tail("a/versions/tool"),
            (vec!["a".into(), "versions".into(), "tool".into()], None)
        );
        assert_eq!(split_package_tail("tool"), (vec!["tool".into()], None));
    }
}
