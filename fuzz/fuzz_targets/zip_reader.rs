//! Package inspection on arbitrary bytes never panics, from a file and from
//! memory (a small upload) alike, with the same verdict; and an accepted
//! zip's listed files can be found and read within their declared sizes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wharf::upack::{self, EntryLookup, Limits};

fuzz_target!(|data: &[u8]| {
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    std::io::Write::write_all(&mut file, data).expect("write");
    let limits = Limits {
        max_entries: 1_000,
        max_inflated_bytes: 64 * 1024 * 1024,
        max_manifest_bytes: 64 * 1024,
        max_compression_ratio: 1_000,
    };
    let from_file = upack::inspect(file.path(), &limits);
    let from_memory = upack::inspect_bytes(data, &limits);
    assert_eq!(
        from_file.as_ref().map(|i| (&i.manifest.id, &i.files)).ok(),
        from_memory.as_ref().map(|i| (&i.manifest.id, &i.files)).ok(),
        "file and memory inspection agree"
    );
    let Ok(inspected) = from_file else {
        return;
    };
    for entry in inspected.files.iter().take(8) {
        let path = format!("package/{}", entry.name);
        if let Ok(EntryLookup::File { index, size, .. }) = upack::find_entry(file.path(), &path) {
            let mut sink = Vec::new();
            if let Ok(copied) = upack::copy_entry(file.path(), index, &mut sink) {
                assert!(copied <= size);
            }
        }
    }
});
