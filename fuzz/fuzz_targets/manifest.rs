//! `upack.json` parsing and validation never panics, and whatever it accepts
//! has valid identity fields that survive a round trip through storage JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wharf::domain::Manifest;

fuzz_target!(|data: &[u8]| {
    if let Ok(manifest) = Manifest::parse(data) {
        let stored = manifest.to_json();
        let again = Manifest::parse(stored.as_bytes()).expect("a stored manifest parses again");
        assert_eq!(again.id, manifest.id);
        assert_eq!(again.version.to_string(), manifest.version.to_string());
        assert_eq!(again.is_virtual, manifest.is_virtual);
    }
});
