//! The example configuration file parses and matches the built-in defaults,
//! so the documentation cannot drift from the code.

#[test]
fn the_example_config_file_is_valid_and_shows_the_defaults() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/wharf.example.toml");
    let text = std::fs::read_to_string(path).unwrap();
    let parsed: wharf::config::Settings = toml::from_str(&text).unwrap();
    let defaults = wharf::config::Settings::default();
    assert_eq!(format!("{parsed:?}"), format!("{defaults:?}"));
}
