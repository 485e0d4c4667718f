//! Decoding the package address at the end of a URL path.
//!
//! Clients differ: some send group slashes literally (`a/b/pkg`), some as
//! `%2F` (`a%2Fb/pkg`); some send `+` in a version literally, some as `%2B`.
//! The raw path is split on `/` first and each segment percent-decoded after,
//! so `%2F` becomes part of a segment and then splits like a literal slash.
//! A `+` stays a `+` (form decoding applies to query strings, never paths).
//! Empty segments (`download//pkg`, a trailing slash) are ignored.

/// Why a path tail could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("The request path is not valid percent-encoded UTF-8.")]
pub struct TailError;

/// Decodes a raw (still percent-encoded) path tail into its segments.
pub fn decode_segments(raw_tail: &str) -> Result<Vec<String>, TailError> {
    let mut segments = Vec::new();
    for raw in raw_tail.split('/') {
        let decoded = percent_encoding::percent_decode_str(raw)
            .decode_utf8()
            .map_err(|_| TailError)?;
        segments.extend(
            decoded
                .split('/')
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
        );
    }
    Ok(segments)
}

/// Decodes one raw path segment (the feed name).
pub fn decode_segment(raw: &str) -> Result<String, TailError> {
    percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .map(std::borrow::Cow::into_owned)
        .map_err(|_| TailError)
}

/// The raw path after the first `skip` segments of `path` (which starts with `/`).
pub fn raw_tail_after(path: &str, skip: usize) -> &str {
    let mut rest = path.trim_start_matches('/');
    for _ in 0..skip {
        rest = rest.split_once('/').map_or("", |(_, after)| after);
    }
    rest
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn slashes_literal_or_encoded_split_the_same_way() {
        let expected = vec!["a", "b", "c", "pkg", "1.0.0"];
        assert_eq!(decode_segments("a/b/c/pkg/1.0.0").unwrap(), expected);
        assert_eq!(decode_segments("a%2Fb%2fc/pkg/1.0.0").unwrap(), expected);
    }

    #[test]
    fn plus_stays_plus_and_percent_2b_becomes_plus() {
        assert_eq!(
            decode_segments("pkg/1.0.0+b").unwrap(),
            vec!["pkg", "1.0.0+b"]
        );
        assert_eq!(
            decode_segments("pkg/1.0.0%2Bb").unwrap(),
            vec!["pkg", "1.0.0+b"]
        );
    }

    #[test]
    fn empty_segments_are_ignored() {
        assert_eq!(decode_segments("/pkg/").unwrap(), vec!["pkg"]);
        assert!(decode_segments("").unwrap().is_empty());
    }

    #[test]
    fn invalid_utf8_is_an_error() {
        assert_eq!(decode_segments("%FF/pkg"), Err(TailError));
    }

    #[test]
    fn raw_tail_skips_whole_segments() {
        assert_eq!(raw_tail_after("/upack/f/download/a%2Fb/p", 3), "a%2Fb/p");
        assert_eq!(raw_tail_after("/upack/f/download", 3), "");
    }

    proptest! {
        #[test]
        fn encoding_then_decoding_round_trips(
            group in proptest::collection::vec("[0-9A-Za-z._-]{1,8}", 0..4),
            name in "[0-9A-Za-z._-]{1,12}",
            version in "[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}(-[0-9A-Za-z.-]{1,6})?(\\+[0-9A-Za-z.-]{1,6})?",
            encode_slashes in any::<bool>(),
        ) {
            const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
                .remove(b'.').remove(b'_').remove(b'-');
            let group_part = if encode_slashes {
                percent_encoding::utf8_percent_encode(&group.join("/"), SEGMENT).to_string()
            } else {
                group.join("/")
            };
            let raw = format!(
                "{group_part}/{}/{}",
                percent_encoding::utf8_percent_encode(&name, SEGMENT),
                percent_encoding::utf8_percent_encode(&version, SEGMENT)
            );
            let mut expected: Vec<String> = group.clone();
            expected.push(name.clone());
            expected.push(version.clone());
            prop_assert_eq!(decode_segments(&raw).unwrap(), expected);
        }
    }
}
