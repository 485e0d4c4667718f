//! Virtual package `contents` parsing never panics, and every accepted item
//! has a safe target path (no `..`, no drive letters, no leading slash).
#![no_main]

use libfuzzer_sys::fuzz_target;
use wharf::domain::VirtualContents;

fuzz_target!(|data: &[u8]| {
    let Ok(serde_json::Value::Object(manifest)) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    if let Ok(contents) = VirtualContents::parse(&manifest) {
        assert!(!contents.contents.is_empty());
        for (_, item) in contents.all() {
            let path = &item.virtual_path;
            assert!(!path.starts_with('/') && !path.ends_with('/'), "{path}");
            assert!(path.split('/').all(|part| part != ".." && !part.contains(':')), "{path}");
        }
    }
});
