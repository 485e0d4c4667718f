//! The access line's text and JSON forms.
#![cfg(test)]

use chrono::DateTime;

use super::*;

/// One line, newline included, in `format`, stamped `now`.
fn format_line(entry: &Entry<'_>, format: LogFormat, now: SystemTime) -> Vec<u8> {
    let stamp = now.duration_since(UNIX_EPOCH).unwrap();
    let mut line = Vec::new();
    push_line(&mut line, entry, format, whole_micros(stamp));
    line
}

/// A manifest fetch's entry.
fn entry<'a>(user_agent: Option<&'a str>, caller: Option<CallerName<'a>>) -> Entry<'a> {
    Entry {
        client: Some("192.0.2.7".parse().unwrap()),
        method: "GET",
        path: "/upack/main/download-vpack/manifests/release",
        status: 200,
        bytes: 512,
        duration_ms: Duration::from_micros(1_234),
        caller,
        user_agent,
        request_id: "7d5c",
    }
}

fn at() -> SystemTime {
    DateTime::parse_from_rfc3339("2026-11-30T21:51:20.121323Z")
        .unwrap()
        .into()
}

#[test]
fn a_text_line_has_every_field_as_key_value() {
    let line = format_line(
        &entry(
            Some("upack/3.1 (Linux)"),
            Some(CallerName::Key("ab12cd34ef56")),
        ),
        LogFormat::Text,
        at(),
    );
    assert_eq!(
        String::from_utf8(line).unwrap(),
        "2026-11-30T21:51:20.121323Z  INFO wharf::access: client=192.0.2.7 method=GET \
         path=/upack/main/download-vpack/manifests/release status=200 bytes=512 \
         duration_ms=1.234 caller=key:ab12cd34ef56 user_agent=\"upack/3.1 (Linux)\" \
         request_id=7d5c\n"
    );
}

#[test]
fn a_text_line_shows_an_ipv6_client_and_a_missing_one() {
    let mut v6 = entry(None, None);
    v6.client = Some("2001:db8::7".parse().unwrap());
    let line = String::from_utf8(format_line(&v6, LogFormat::Text, at())).unwrap();
    assert!(line.contains(" client=2001:db8::7 method=GET "), "{line}");
    let mut v4 = entry(None, None);
    v4.client = Some("10.0.99.255".parse().unwrap());
    let line = String::from_utf8(format_line(&v4, LogFormat::Text, at())).unwrap();
    assert!(line.contains(" client=10.0.99.255 method=GET "), "{line}");
    let mut unknown = entry(None, None);
    unknown.client = None;
    let line = String::from_utf8(format_line(&unknown, LogFormat::Text, at())).unwrap();
    assert!(line.contains(" client=- method=GET "), "{line}");
}

#[test]
fn text_values_that_could_forge_a_field_or_a_line_are_quoted() {
    let line = format_line(
        &entry(Some("evil\" status=500\nfake line"), None),
        LogFormat::Text,
        at(),
    );
    let line = String::from_utf8(line).unwrap();
    assert_eq!(line.lines().count(), 1, "{line}");
    assert!(
        line.contains(r#"user_agent="evil\" status=500\u{a}fake line""#),
        "{line}"
    );
    assert!(line.contains(" caller=- "), "{line}");
    let line = format_line(&entry(Some("curl ünï"), None), LogFormat::Text, at());
    let line = String::from_utf8(line).unwrap();
    assert!(line.contains(r#" user_agent="curl ünï" "#), "{line}");
}

#[test]
fn the_caller_is_a_key_by_id_or_a_user_quoted_like_any_value() {
    let text = |caller| {
        let line = format_line(&entry(None, Some(caller)), LogFormat::Text, at());
        String::from_utf8(line).unwrap()
    };
    assert!(text(CallerName::Key("ab12")).contains(" caller=key:ab12 "));
    let user = text(CallerName::User("mallory status=500"));
    assert!(user.contains(r#" caller="mallory status=500" "#), "{user}");
    assert!(text(CallerName::User("")).contains(r#" caller="" "#));
    let json = format_line(
        &entry(None, Some(CallerName::Key("ab12"))),
        LogFormat::Json,
        at(),
    );
    let value: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(value["caller"], "key:ab12");
}

#[test]
fn a_json_line_is_one_object_with_the_same_fields() {
    let line = format_line(
        &entry(Some("pgutil"), Some(CallerName::User("ci-bot"))),
        LogFormat::Json,
        at(),
    );
    assert_eq!(line.last(), Some(&b'\n'));
    let value: serde_json::Value = serde_json::from_slice(&line).unwrap();
    assert_eq!(
        value,
        serde_json::json!({
            "timestamp": "2026-11-30T21:51:20.121323Z",
            "level": "INFO",
            "target": "wharf::access",
            "client": "192.0.2.7",
            "method": "GET",
            "path": "/upack/main/download-vpack/manifests/release",
            "status": 200,
            "bytes": 512,
            "duration_ms": 1.234,
            "caller": "ci-bot",
            "user_agent": "pgutil",
            "request_id": "7d5c",
        })
    );
}

#[test]
fn the_timestamp_follows_the_clock_across_seconds_and_days() {
    for shown in [
        "2026-11-30T23:59:59.999999Z",
        "2026-12-01T00:00:00.000001Z",
        "2026-12-01T00:00:00.500000Z",
        "2026-11-30T23:59:59.000000Z",
    ] {
        let at = DateTime::parse_from_rfc3339(shown).unwrap();
        let mut stamp = Vec::new();
        text::push_timestamp(&mut stamp, u64::try_from(at.timestamp_micros()).unwrap());
        assert_eq!(String::from_utf8(stamp).unwrap(), shown);
    }
}

#[test]
fn the_text_duration_is_milliseconds_with_three_decimals() {
    for (micros, shown) in [
        (0, "0.000"),
        (999, "0.999"),
        (1_000, "1.000"),
        (61_000_042, "61000.042"),
    ] {
        let mut line_entry = entry(None, None);
        line_entry.duration_ms = Duration::from_micros(micros);
        let line = String::from_utf8(format_line(&line_entry, LogFormat::Text, at())).unwrap();
        assert!(line.contains(&format!(" duration_ms={shown} ")), "{line}");
    }
}
