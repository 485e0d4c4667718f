//! Version parsing never panics; for any two accepted versions the byte
//! precedence key orders them exactly as SemVer precedence does.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wharf::domain::Version;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (left, right) = text.split_once('\n').unwrap_or((&text, "1.0.0"));
    let (Ok(a), Ok(b)) = (Version::parse(left), Version::parse(right)) else {
        return;
    };
    assert_eq!(
        a.precedence_key().cmp(&b.precedence_key()),
        a.as_semver().cmp_precedence(b.as_semver()),
        "{a} vs {b}"
    );
    assert_eq!(Version::parse(&a.to_string()).unwrap().precedence_key(), a.precedence_key());
});
