//! The path-tail decoder never panics and never yields an empty segment or
//! one containing a slash, whatever the raw path.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wharf::http::tail::decode_segments;

fuzz_target!(|data: &[u8]| {
    let raw = String::from_utf8_lossy(data);
    if let Ok(segments) = decode_segments(&raw) {
        for segment in segments {
            assert!(!segment.is_empty());
            assert!(!segment.contains('/'));
        }
    }
});
