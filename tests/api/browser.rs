//! The web pages in a real browser: headless Chromium driven through
//! chromedriver (the `WebDriver` protocol), end to end on both databases, with screenshots
//! of every page at desktop and phone width under `target/screenshots/`.
//!
//! Needs `chromium` and `chromium-driver` (Debian packages); `scripts/test`
//! installs them. Without them this test fails and says so: a missing
//! browser is not a reason to skip.

use std::process::Stdio;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use crate::cli::free_port;
use crate::helpers::{Backend, UpackBuilder, fixture_dir, spawn_app};
use crate::pages::create_user;

/// A chromedriver process, stopped on drop.
struct Driver {
    child: tokio::process::Child,
    port: u16,
}

impl Driver {
    async fn start() -> Self {
        let port = free_port();
        let child = tokio::process::Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start chromedriver ({e}): install the Debian packages chromium and \
                     chromium-driver (scripts/test does)"
                )
            });
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return Self { child, port };
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("chromedriver did not listen on port {port}");
    }

    async fn browser(&self) -> Client {
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".to_owned(),
            json!({
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu",
                    "--disable-background-networking", "--no-first-run",
                    "--disable-dev-shm-usage", "--window-size=1280,900",
                ],
            }),
        );
        // chromedriver speaks plain HTTP on loopback: no TLS stack needed.
        ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{}", self.port))
            .await
            .expect("chromedriver starts a Chromium session")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// Where screenshots go: `target/screenshots/`.
fn screenshot_dir() -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Saves the current page at desktop and phone width.
async fn screenshots(browser: &Client, backend: Backend, name: &str) {
    // Tall windows, so a screenshot shows most of a page, not only its top.
    for (label, width, height) in [("desktop", 1280, 1400), ("phone", 390, 1700)] {
        browser.set_window_size(width, height).await.unwrap();
        let png = browser.screenshot().await.unwrap();
        let file = screenshot_dir().join(format!("{backend:?}-{name}-{label}.png").to_lowercase());
        std::fs::write(file, png).unwrap();
    }
    browser.set_window_size(1280, 900).await.unwrap();
}

async fn fill(browser: &Client, id: &str, text: &str) {
    let field = browser.find(Locator::Id(id)).await.unwrap();
    field.clear().await.unwrap();
    field.send_keys(text).await.unwrap();
}

async fn click(browser: &Client, locator: Locator<'_>) {
    browser.find(locator).await.unwrap().click().await.unwrap();
}

async fn page_text(browser: &Client) -> String {
    browser
        .find(Locator::Css("main"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Waits until the address contains `part`.
async fn wait_for_url(browser: &Client, part: &str) {
    for _ in 0..100 {
        if browser.current_url().await.unwrap().as_str().contains(part) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "the browser did not reach an address containing {part}; it is at {}",
        browser.current_url().await.unwrap()
    );
}

/// Fetches `path` from inside the page (with the page's cookies), returning
/// the status and the body's bytes.
async fn fetch_in_page(browser: &Client, path: &str) -> (u64, Vec<u8>) {
    let result = browser
        .execute_async(
            "const [path, done] = arguments;
             fetch(path).then(async (r) => {
               const bytes = new Uint8Array(await r.arrayBuffer());
               done([r.status, Array.from(bytes)]);
             }).catch((e) => done([0, []]));",
            vec![json!(path)],
        )
        .await
        .unwrap();
    let status = result[0].as_u64().unwrap();
    let bytes = result[1]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| u8::try_from(b.as_u64().unwrap()).unwrap())
        .collect();
    (status, bytes)
}

async fn a_person_signs_in_publishes_finds_downloads_and_administers(backend: Backend) {
    let app = spawn_app(backend).await;
    create_user(&app, "root", "admin", &[]).await;
    let driver = Driver::start().await;
    let browser = driver.browser().await;
    let url = |path: &str| app.url(path);

    // Sign in.
    browser.goto(&url("/login")).await.unwrap();
    screenshots(&browser, backend, "login").await;
    fill(&browser, "username", "root").await;
    fill(&browser, "password", "correct horse").await;
    click(&browser, Locator::Css("form.stack button")).await;
    wait_for_url(&browser, "/").await;
    assert!(browser.source().await.unwrap().contains("Sign out"));

    // Create a private feed.
    browser.goto(&url("/admin/feeds")).await.unwrap();
    fill(&browser, "feed-name", "builds").await;
    fill(&browser, "feed-description", "Nightly builds").await;
    click(&browser, Locator::Css("form.row-form button")).await;
    wait_for_url(&browser, "notice=").await;
    assert!(page_text(&browser).await.contains("Feed 'builds' created."));
    screenshots(&browser, backend, "admin-feeds").await;

    // Upload a real-world package and one with folders through the page.
    let fixture = fixture_dir("upack-valid").join("jenkins-example-0.0.1.upack");
    let fixture_bytes = std::fs::read(&fixture).unwrap();
    let built = tempfile::Builder::new()
        .suffix(".upack")
        .tempfile()
        .unwrap();
    let built_bytes = UpackBuilder::new("acme/tools", "deployer", "2.1.0")
        .field("title", json!("Acme deployer"))
        .field("description", json!("Deploys **Acme** services."))
        .file("package/bin/deploy.sh", b"#!/bin/sh\necho deploy\n")
        .file("package/docs/guide.txt", b"read me")
        .build();
    std::fs::write(built.path(), &built_bytes).unwrap();
    for (file, lands_on) in [
        (fixture.as_path(), "/versions/0.0.3"),
        (
            built.path(),
            "/feeds/builds/packages/acme/tools/deployer/versions/2.1.0",
        ),
    ] {
        browser.goto(&url("/feeds/builds/upload")).await.unwrap();
        if lands_on.starts_with("/versions/0") {
            screenshots(&browser, backend, "upload").await;
        }
        browser
            .find(Locator::Id("file"))
            .await
            .unwrap()
            .send_keys(file.to_str().unwrap())
            .await
            .unwrap();
        click(&browser, Locator::Css("#upload-form button")).await;
        wait_for_url(&browser, lands_on).await;
    }
    // The server's sentence for a file that is not a package.
    let junk = tempfile::Builder::new()
        .suffix(".upack")
        .tempfile()
        .unwrap();
    std::fs::write(junk.path(), b"this is not a zip").unwrap();
    browser.goto(&url("/feeds/builds/upload")).await.unwrap();
    browser
        .find(Locator::Id("file"))
        .await
        .unwrap()
        .send_keys(junk.path().to_str().unwrap())
        .await
        .unwrap();
    click(&browser, Locator::Css("#upload-form button")).await;
    let alert = browser
        .wait()
        .for_element(Locator::Css("#upload-error:not([hidden])"))
        .await
        .unwrap();
    let sentence = alert.text().await.unwrap();
    assert!(
        sentence.contains("was not stored") && sentence.contains("zip"),
        "the page names the file and shows the server's sentence: {sentence}"
    );
    screenshots(&browser, backend, "upload-refused").await;

    // Find it by search.
    browser.goto(&url("/feeds/builds")).await.unwrap();
    screenshots(&browser, backend, "feed").await;
    fill(&browser, "q", "deployer").await;
    click(&browser, Locator::Css("form.search button")).await;
    wait_for_url(&browser, "q=deployer").await;
    let rows = browser
        .find_all(Locator::Css("table.packages tbody tr"))
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    click(&browser, Locator::LinkText("acme/tools/deployer")).await;
    wait_for_url(&browser, "/packages/acme/tools/deployer").await;
    assert!(
        browser
            .source()
            .await
            .unwrap()
            .contains("<strong>Acme</strong>")
    );
    screenshots(&browser, backend, "package").await;

    // Its version page, a download compared byte for byte, and its files.
    click(&browser, Locator::Css("table.versions a")).await;
    wait_for_url(&browser, "/versions/2.1.0").await;
    screenshots(&browser, backend, "version").await;
    let text = page_text(&browser).await;
    assert!(
        text.contains(&hex_sha256(&built_bytes)),
        "the page shows the SHA-256"
    );
    let href = browser
        .find(Locator::LinkText("Download .upack"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        fetch_in_page(&browser, &href).await,
        (200, built_bytes.clone())
    );
    click(&browser, Locator::LinkText("bin/")).await;
    wait_for_url(&browser, "path=bin").await;
    let file = browser.find(Locator::LinkText("deploy.sh")).await.unwrap();
    let file_href = file.attr("href").await.unwrap().unwrap();
    assert_eq!(
        fetch_in_page(&browser, &file_href).await,
        (200, b"#!/bin/sh\necho deploy\n".to_vec())
    );
    screenshots(&browser, backend, "version-files").await;

    // The real-world package downloads as uploaded.
    let fixture_href = "/upack/builds/download/andrew/sumner/proget/ExamplePackage/0.0.3";
    assert_eq!(
        fetch_in_page(&browser, fixture_href).await,
        (200, fixture_bytes)
    );

    // Create a key, see it once, revoke it.
    browser.goto(&url("/admin/keys")).await.unwrap();
    fill(&browser, "key-name", "from-the-browser").await;
    click(&browser, Locator::Id("perm-view")).await;
    click(&browser, Locator::Css("form.stack button")).await;
    let key = browser
        .wait()
        .for_element(Locator::Id("new-key"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    screenshots(&browser, backend, "admin-keys").await;
    let listed = app
        .client
        .get(app.url("/upack/builds/packages"))
        .header("X-ApiKey", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), 200, "the key shown works");
    let id = wharf::service::auth::public_id(&key);
    click(
        &browser,
        Locator::Css(&format!("form[action='/admin/keys/{id}/revoke'] button")),
    )
    .await;
    wait_for_url(&browser, "notice=").await;
    let refused = app
        .client
        .get(app.url("/upack/builds/packages"))
        .header("X-ApiKey", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403, "the revoked key is refused");
    browser.goto(&url("/admin/users")).await.unwrap();
    screenshots(&browser, backend, "admin-users").await;
    browser.goto(&url("/")).await.unwrap();
    screenshots(&browser, backend, "index").await;

    // Sign out; an anonymous visitor sees neither the feed nor its packages.
    click(&browser, Locator::Css("form[action='/logout'] button")).await;
    // The address was "/" before as well: wait for the signed-out page.
    browser
        .wait()
        .for_element(Locator::Css("a[href='/login']"))
        .await
        .unwrap();
    assert!(!browser.source().await.unwrap().contains("builds"));
    browser
        .goto(&url("/feeds/builds/packages/acme/tools/deployer"))
        .await
        .unwrap();
    let text = page_text(&browser).await;
    assert!(text.contains("There is no feed named 'builds'."), "{text}");
    screenshots(&browser, backend, "not-found").await;
    let (status, _) = fetch_in_page(&browser, &href).await;
    assert_eq!(
        status, 403,
        "an anonymous download of a private package is refused"
    );

    browser.close().await.unwrap();
}

fn hex_sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

dual_backend_tests!(a_person_signs_in_publishes_finds_downloads_and_administers);
