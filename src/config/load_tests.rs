//! Loading settings: layers, aliases, validation, sentences.
#![cfg(test)]
use secrecy::ExposeSecret;

use super::*;

fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn load(file: Option<&Path>, env: &[(&str, &str)], flags: &Overrides) -> anyhow::Result<Settings> {
    extract(&layers(file, vars(env), flags)?)
}

#[test]
fn layers_apply_in_order_file_env_flags() {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        file.path(),
        "bind = \"0.0.0.0:1\"\ndata_dir = \"/from-file\"\n[auth]\nchallenge = true\n[limits]\nmax_upload_bytes = 5\nmax_entries = 7\n",
    )
    .unwrap();
    let settings = load(
        Some(file.path()),
        &[
            ("WHARF_DATA_DIR", "/from-env"),
            ("WHARF_MAX_UPLOAD_BYTES", "9"),
            ("WHARF_AUTH_CHALLENGE", "False"),
        ],
        &Overrides {
            bind: Some("127.0.0.1:2".into()),
            ..Overrides::default()
        },
    )
    .unwrap();
    assert_eq!(settings.limits.max_entries, 7);
    assert_eq!(settings.bind, "127.0.0.1:2");
    assert_eq!(settings.data_dir, PathBuf::from("/from-env"));
    assert_eq!(settings.limits.max_upload_bytes, 9);
    assert!(!settings.auth.challenge);
    assert_eq!(
        settings.database_url().expose_secret(),
        "sqlite:///from-env/wharf.db"
    );
}

#[test]
fn every_setting_has_a_section_key_variable_and_it_beats_the_alias() {
    let settings = load(
        None,
        &[
            ("WHARF_AUTH__ARGON2__MEMORY_KIB", "8192"),
            ("WHARF_LIMITS__MAX_ENTRIES", "12"),
            ("WHARF_DATABASE__MAX_CONNECTIONS", "3"),
            ("WHARF_VPACK__URL_ALLOWLIST", "a.example, b.example"),
            ("WHARF_MAX_UPLOAD_BYTES", "9"),
            ("WHARF_LIMITS__MAX_UPLOAD_BYTES", "10"),
            ("WHARF_LOG", "debug"),
            ("WHARF_CONFIG", "/nowhere"),
        ],
        &Overrides::default(),
    )
    .unwrap();
    assert_eq!(settings.auth.argon2.memory_kib, 8192);
    assert_eq!(settings.limits.max_entries, 12);
    assert_eq!(settings.database.max_connections, Some(3));
    assert_eq!(settings.vpack.url_allowlist, ["a.example", "b.example"]);
    assert_eq!(settings.limits.max_upload_bytes, 10);
}

#[test]
fn secrets_are_redacted_in_debug_output() {
    let settings = load(
        None,
        &[("DATABASE_URL", "postgres://u:hunter2@h/db")],
        &Overrides::default(),
    )
    .unwrap();
    assert!(!format!("{settings:?}").contains("hunter2"));
    assert!(settings.uses_postgres());
}

#[test]
fn bad_values_are_one_sentence_naming_the_variable_or_file() {
    let error = |env: &[(&str, &str)]| {
        load(None, env, &Overrides::default())
            .unwrap_err()
            .to_string()
    };
    let text = error(&[("WHARF_MAX_UPLOAD_BYTES", "lots")]);
    assert!(text.contains("limits.max_upload_bytes"), "{text}");
    assert!(text.contains("WHARF_MAX_UPLOAD_BYTES"), "{text}");
    let text = error(&[("WHARF_LIMITS__MAX_ENTIRES", "5")]);
    assert!(text.contains("WHARF_LIMITS__MAX_ENTIRES"), "{text}");
    assert!(text.contains("unknown field"), "{text}");
    assert!(error(&[("WHARF_BIND", "localhost")]).contains("bind must be"));
    assert!(error(&[("WHARF_AUTH__ARGON2__ITERATIONS", "0")]).contains("auth.argon2"));
    assert!(error(&[("WHARF_LIMITS__UPLOAD_IDLE_SECONDS", "0")]).contains("at least 1"));
    assert!(error(&[("DATABASE_URL", "mysql://x")]).contains("database_url must"));

    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), "[limits]\nmax_entries = \"many\"\n").unwrap();
    let text = load(Some(file.path()), &[], &Overrides::default())
        .unwrap_err()
        .to_string();
    assert!(text.contains(&file.path().display().to_string()), "{text}");
    assert!(text.contains("limits.max_entries"), "{text}");
    let missing = load(
        Some(Path::new("/no/such/wharf.toml")),
        &[],
        &Overrides::default(),
    );
    assert!(
        missing
            .unwrap_err()
            .to_string()
            .contains("/no/such/wharf.toml")
    );
}

#[test]
fn variable_names_follow_the_section_key_rule() {
    assert_eq!(variable_for("bind"), "WHARF_BIND");
    assert_eq!(
        variable_for("auth.argon2.memory_kib"),
        "WHARF_AUTH__ARGON2__MEMORY_KIB"
    );
    assert_eq!(
        setting_of("WHARF_AUTH__ARGON2__MEMORY_KIB").unwrap(),
        "auth.argon2.memory_kib"
    );
    assert_eq!(setting_of("WHARF_LOG"), None);
    assert_eq!(setting_of("HOME"), None);
}
