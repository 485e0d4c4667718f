//! Small uploads keep their bytes in their blob's database row, so that one
//! commit makes an upload durable: no file is written for them, every reader
//! finds them there, bytes stored as files before are still read from the
//! store, and gc takes row-held bytes with their row.

use std::io::Read;

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{Backend, UpackBuilder, expect_status, fixture_dir, random_bytes, spawn_app};

/// A real package of 402 bytes: `UniversalPackageTest` 0.1.1.
fn small_real_package() -> Vec<u8> {
    std::fs::read(fixture_dir("upack-valid").join("UniversalPackageTest-0.1.1.upack")).unwrap()
}

fn zip_entry(archive: &[u8], name: &str) -> Vec<u8> {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(archive)).unwrap();
    let mut entry = zip.by_name(name).unwrap();
    let mut bytes = Vec::new();
    entry.read_to_end(&mut bytes).unwrap();
    bytes
}

async fn a_small_upload_is_held_by_its_row_and_every_reader_finds_it(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_feed("prod", false).await;
    let package = small_real_package();
    let sha256 = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&package));
    app.publish("default", package.clone()).await;
    assert_eq!(app.blob_file_count(), 0, "no file for a small upload");
    assert_eq!(app.stored_blob_count().await, 1);
    let held = wharf::db::blobs::content(&app.wharf.db, &sha256).await;
    assert_eq!(held.unwrap().as_deref(), Some(&package[..]));

    let base = "/upack/default/download/UniversalPackageTest/0.1.1";
    let (status, whole) = app.admin_get_bytes(base).await;
    assert_eq!((status, whole.as_slice()), (StatusCode::OK, &package[..]));
    let range = app
        .client
        .get(app.url(base))
        .header("X-ApiKey", &app.admin_key)
        .header("Range", "bytes=0-3")
        .send()
        .await
        .unwrap();
    assert_eq!(range.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(range.bytes().await.unwrap().as_ref(), b"PK\x03\x04");
    let (status, file) = app
        .admin_get_bytes(
            "/upack/default/download-file/UniversalPackageTest/0.1.1?path=package%2Fupack.json",
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(String::from_utf8_lossy(&file).contains("UniversalPackageTest"));
    let (status, content) = app
        .admin_get_bytes(&format!("{base}?contentOnly=zip"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        zip_entry(&content, "upack.json"),
        zip_entry(&package, "package/upack.json")
    );

    // A virtual package assembles from it.
    let vpack = json!({"name": "release", "version": "1.0.0", "contents": [
        {"source": "UniversalPackageTest:0.1.1", "virtualPath": "tests"}
    ]});
    app.publish("default", serde_json::to_vec(&vpack).unwrap())
        .await;
    let (status, assembled) = app
        .admin_get_bytes("/upack/default/download/release/1.0.0")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        zip_entry(&assembled, "package/tests/upack.json"),
        zip_entry(&package, "package/upack.json")
    );

    // Promotion reuses the row's bytes; repackaging reads them.
    app.admin_post_json("/api/promotions/promote", &json!({"fromFeed": "default", "toFeed": "prod", "name": "UniversalPackageTest", "version": "0.1.1"})).await;
    let (status, promoted) = app
        .admin_get_bytes("/upack/prod/download/UniversalPackageTest/0.1.1")
        .await;
    assert_eq!((status, promoted), (StatusCode::OK, package.clone()));
    app.admin_post_json("/api/repackaging/repackage", &json!({"feed": "default", "name": "UniversalPackageTest", "version": "0.1.1", "newVersion": "0.2.0"})).await;
    let (status, repackaged) = app
        .admin_get_bytes("/upack/default/download-file/UniversalPackageTest/0.2.0?path=upack.json")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(String::from_utf8_lossy(&repackaged).contains("0.2.0"));

    // gc takes the bytes with the row once nothing refers to them.
    for path in [
        "/upack/default/delete/UniversalPackageTest/0.1.1",
        "/upack/prod/delete/UniversalPackageTest/0.1.1",
    ] {
        expect_status(
            app.admin_request(reqwest::Method::DELETE, path).await,
            StatusCode::OK,
        )
        .await;
    }
    wharf::service::gc::collect(&app.wharf, std::time::Duration::ZERO)
        .await
        .unwrap();
    let held = wharf::db::blobs::content(&app.wharf.db, &sha256).await;
    assert_eq!(held.unwrap(), None, "gone with its row");
    let (status, _) = app.admin_get_bytes(base).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn large_and_converted_uploads_are_files_in_the_store_and_read_from_there(backend: Backend) {
    let app = spawn_app(backend).await;
    let large = UpackBuilder::new("", "large", "1.0.0")
        .file("package/data.bin", &random_bytes(100 * 1024))
        .build();
    app.publish("default", large.clone()).await;
    assert_eq!(app.blob_file_count(), 1, "a large upload is a file");
    let (status, bytes) = app
        .admin_get_bytes("/upack/default/download/large/1.0.0")
        .await;
    assert_eq!((status, bytes.len()), (StatusCode::OK, large.len()));

    // Merging metadata writes a new package file, stored as a file: small,
    // and not in its row, as all bytes stored before rows held any.
    let response = app
        .client
        .put(app.url("/upack/default/upload?title=Merged"))
        .header("X-ApiKey", &app.admin_key)
        .body(small_real_package())
        .send()
        .await
        .unwrap();
    expect_status(response, StatusCode::CREATED).await;
    assert_eq!(app.blob_file_count(), 2);
    let (status, manifest) = app
        .admin_get_bytes("/upack/default/download-file/UniversalPackageTest/0.1.1?path=upack.json")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(String::from_utf8_lossy(&manifest).contains("Merged"));
    let (status, whole) = app
        .admin_get_bytes("/upack/default/download/UniversalPackageTest/0.1.1")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        zip_entry(&whole, "package/upack.json"),
        zip_entry(&small_real_package(), "package/upack.json")
    );
}

/// A small upload of a version that exists is refused by its batch before
/// anything of it is written: no blob row, no bytes.
async fn a_small_upload_of_an_existing_version_writes_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    app.publish("default", small_real_package()).await;
    let other = UpackBuilder::new("", "UniversalPackageTest", "0.1.1")
        .file("package/other.txt", b"other bytes")
        .build();
    let sha256 = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&other));
    let key = app.create_key("view,download,add", &["default"]).await;
    let refused = app.upload_with_key("default", other, Some(&key)).await;
    let text = expect_status(refused, StatusCode::CONFLICT).await;
    assert!(text.contains("already exists"), "{text}");
    let rows = wharf::db::blobs::all_rows(&app.wharf.db).await.unwrap();
    assert!(
        !rows.contains(&sha256),
        "no row for the refused upload's blob"
    );
    assert_eq!(app.stored_blob_count().await, 1);
}

dual_backend_tests!(
    a_small_upload_of_an_existing_version_writes_nothing,
    a_small_upload_is_held_by_its_row_and_every_reader_finds_it,
    large_and_converted_uploads_are_files_in_the_store_and_read_from_there,
);
