//! The web pages over a real socket: signing in with CSRF-paired forms,
//! private feeds answered like missing ones, session cookies that read but
//! never write through the API, admin forms, uploads from the page, paging
//! and sanitised descriptions. The browser itself is driven in `browser.rs`.

use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};

use crate::helpers::{Backend, TestApp, UpackBuilder, spawn_app};

/// A signed-in browser: its session cookie and the session's CSRF token.
pub struct Session {
    pub cookie: String,
    pub csrf: String,
}

/// The value of cookie `name` among a response's `Set-Cookie` headers.
pub fn set_cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix(&format!("{name}=")))
        .map(|rest| rest.split(';').next().unwrap_or("").to_owned())
}

/// The first `name="csrf" value="..."` in a page.
pub fn csrf_in(html: &str) -> String {
    let marker = "name=\"csrf\" value=\"";
    let start = html.find(marker).expect("a form with a CSRF token") + marker.len();
    html[start..start + html[start..].find('"').unwrap()].to_owned()
}

/// Creates user `name` with `permissions` on `feeds` (all when empty).
pub async fn create_user(app: &TestApp, name: &str, permissions: &str, feeds: &[&str]) {
    let feeds: Vec<String> = feeds.iter().map(|f| (*f).to_owned()).collect();
    wharf::service::users::create(&app.wharf, name, "correct horse", permissions, &feeds)
        .await
        .unwrap();
}

/// Signs in through the form as a browser does.
pub async fn sign_in(
    app: &TestApp,
    name: &str,
    password: &str,
) -> Result<Session, (StatusCode, String)> {
    let form = app.client.get(app.url("/login")).send().await.unwrap();
    let login_cookie = set_cookie(&form, "wharf_login").expect("the form sets its CSRF cookie");
    let token = csrf_in(&form.text().await.unwrap());
    assert_eq!(token, login_cookie);
    let response = app
        .client
        .post(app.url("/login"))
        .header(COOKIE, format!("wharf_login={login_cookie}"))
        .form(&[
            ("username", name),
            ("password", password),
            ("csrf", &token),
            ("next", "/"),
        ])
        .send()
        .await
        .unwrap();
    if response.status() != StatusCode::SEE_OTHER {
        return Err((response.status(), response.text().await.unwrap()));
    }
    let cookie = set_cookie(&response, "wharf_session").expect("a session cookie");
    let home = app
        .client
        .get(app.url("/"))
        .header(COOKIE, format!("wharf_session={cookie}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    Ok(Session {
        csrf: csrf_in(&home),
        cookie,
    })
}

impl Session {
    pub fn header(&self) -> String {
        format!("wharf_session={}", self.cookie)
    }
}

async fn get(app: &TestApp, path: &str, session: Option<&Session>) -> (StatusCode, String) {
    let mut request = app.client.get(app.url(path)).header("Accept", "text/html");
    if let Some(session) = session {
        request = request.header(COOKIE, session.header());
    }
    let response = request.send().await.unwrap();
    (response.status(), response.text().await.unwrap())
}

async fn post_form(
    app: &TestApp,
    path: &str,
    session: &Session,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    app.client
        .post(app.url(path))
        .header(COOKIE, session.header())
        .form(fields)
        .send()
        .await
        .unwrap()
}

async fn signing_in_and_out_uses_paired_csrf_tokens_and_a_session_row(backend: Backend) {
    let app = spawn_app(backend).await;
    create_user(&app, "dana", "view,download", &[]).await;

    let (status, page) = sign_in(&app, "dana", "wrong password").await.err().unwrap();
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        page.contains("The user name or password is not valid."),
        "{page}"
    );

    // A sign-in without the paired cookie is refused, whatever the password.
    let refused = app
        .client
        .post(app.url("/login"))
        .form(&[
            ("username", "dana"),
            ("password", "correct horse"),
            ("csrf", "forged"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(set_cookie(&refused, "wharf_session").is_none());

    let session = sign_in(&app, "dana", "correct horse").await.unwrap();
    let (_, home) = get(&app, "/", Some(&session)).await;
    assert!(home.contains("dana") && home.contains("Sign out"));

    // Signing out needs the session's token, then ends the session for good.
    let forged = post_form(&app, "/logout", &session, &[("csrf", "forged")]).await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let out = post_form(&app, "/logout", &session, &[("csrf", &session.csrf)]).await;
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    let (_, home) = get(&app, "/", Some(&session)).await;
    assert!(
        home.contains("Sign in") && !home.contains("Sign out"),
        "the old cookie signs no one in"
    );
}

async fn a_private_feed_is_answered_like_a_missing_one(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_feed("secret", false).await;
    app.create_feed("open", true).await;
    app.publish(
        "secret",
        UpackBuilder::new("acme", "hidden", "1.0.0").build(),
    )
    .await;
    create_user(&app, "outsider", "view,download", &["open"]).await;
    create_user(&app, "insider", "view,download", &["secret"]).await;

    let (_, home) = get(&app, "/", None).await;
    assert!(
        home.contains("/feeds/open") && !home.contains("secret"),
        "{home}"
    );
    let outsider = sign_in(&app, "outsider", "correct horse").await.unwrap();
    for session in [None, Some(&outsider)] {
        let (missing_status, missing) = get(&app, "/feeds/nothing-here", session).await;
        let (status, page) = get(&app, "/feeds/secret", session).await;
        assert_eq!(
            (status, missing_status),
            (StatusCode::NOT_FOUND, StatusCode::NOT_FOUND)
        );
        assert_eq!(
            page.replace("secret", "X"),
            missing.replace("nothing-here", "X")
        );
        let (status, page) = get(
            &app,
            "/feeds/secret/packages/acme/hidden/versions/1.0.0",
            session,
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(!page.contains("hidden"));
    }
    let insider = sign_in(&app, "insider", "correct horse").await.unwrap();
    let (status, page) = get(&app, "/feeds/secret", Some(&insider)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("hidden"));
}

async fn a_session_reads_through_the_api_but_never_writes(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_feed("team", false).await;
    let package = UpackBuilder::new("", "tool", "1.0.0")
        .file("package/a.txt", b"hello")
        .build();
    app.publish("team", package.clone()).await;
    create_user(&app, "writer", "view,download,add,delete", &["team"]).await;
    let session = sign_in(&app, "writer", "correct horse").await.unwrap();

    let download = app
        .client
        .get(app.url("/upack/team/download/tool/1.0.0"))
        .header(COOKIE, session.header())
        .send()
        .await
        .unwrap();
    assert_eq!(download.status(), StatusCode::OK);
    assert_eq!(download.bytes().await.unwrap().to_vec(), package);
    let anonymous = app
        .client
        .get(app.url("/upack/team/download/tool/1.0.0"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::FORBIDDEN);

    // A cookie is no credential for a write: a cross-site form could send it.
    let upload = app
        .client
        .put(app.url("/upack/team/upload"))
        .header(COOKIE, session.header())
        .body(UpackBuilder::new("", "tool", "2.0.0").build())
        .send()
        .await
        .unwrap();
    assert_eq!(upload.status(), StatusCode::FORBIDDEN);
    let delete = app
        .client
        .delete(app.url("/upack/team/delete/tool/1.0.0"))
        .header(COOKIE, session.header())
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status(), StatusCode::FORBIDDEN);
    let (status, _) = get(
        &app,
        "/feeds/team/packages/tool/versions/2.0.0",
        Some(&session),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn uploads_from_the_page_need_the_token_and_show_the_servers_sentence(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_feed("team", false).await;
    create_user(&app, "writer", "view,download,add", &["team"]).await;
    let session = sign_in(&app, "writer", "correct horse").await.unwrap();
    let (status, form) = get(&app, "/feeds/team/upload", Some(&session)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(form.contains("enctype=\"multipart/form-data\""));

    // The script's upload: raw body, token in a header.
    let raw = |token: &str, body: Vec<u8>| {
        app.client
            .post(app.url("/feeds/team/upload"))
            .header(COOKIE, session.header())
            .header("X-CSRF-Token", token)
            .body(body)
            .send()
    };
    let forged = raw("forged", UpackBuilder::new("", "tool", "1.0.0").build())
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let created = raw(
        &session.csrf,
        UpackBuilder::new("acme", "tool", "1.0.0").build(),
    )
    .await
    .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    assert_eq!(
        created.headers()[LOCATION],
        "/feeds/team/packages/acme/tool/versions/1.0.0"
    );
    let invalid = raw(&session.csrf, b"not a zip".to_vec()).await.unwrap();
    assert_eq!(invalid.status(), StatusCode::BAD_REQUEST);
    let sentence = invalid.text().await.unwrap();
    assert!(
        sentence.ends_with('.') && !sentence.contains('\n'),
        "{sentence}"
    );

    // Without JavaScript: a multipart form, CSRF field first.
    let multipart = |token: &str, file: Vec<u8>| {
        let form = reqwest::multipart::Form::new()
            .text("csrf", token.to_owned())
            .part(
                "file",
                reqwest::multipart::Part::bytes(file).file_name("x.upack"),
            );
        app.client
            .post(app.url("/feeds/team/upload"))
            .header(COOKIE, session.header())
            .multipart(form)
            .send()
    };
    let stored = multipart(
        &session.csrf,
        UpackBuilder::new("", "other", "2.0.0").build(),
    )
    .await
    .unwrap();
    assert_eq!(stored.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        stored.headers()[LOCATION],
        "/feeds/team/packages/other/versions/2.0.0"
    );
    let again = multipart(
        &session.csrf,
        UpackBuilder::new("", "other", "2.0.0").build(),
    )
    .await
    .unwrap();
    assert_eq!(again.status(), StatusCode::CONFLICT);
    let page = again.text().await.unwrap();
    assert!(
        page.contains("role=\"alert\"")
            && page.contains("&#39;x.upack&#39; was not stored")
            && page.contains("already exists"),
        "the page names the file and says why: {page}"
    );
    let forged = multipart("forged", UpackBuilder::new("", "third", "1.0.0").build())
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let (status, _) = get(&app, "/feeds/team/packages/third", Some(&session)).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "a forged form stores nothing"
    );
}

async fn admin_forms_change_nothing_without_the_sessions_token(backend: Backend) {
    let app = spawn_app(backend).await;
    create_user(&app, "root", "admin", &[]).await;
    create_user(&app, "reader", "view", &[]).await;
    let admin = sign_in(&app, "root", "correct horse").await.unwrap();
    let reader = sign_in(&app, "reader", "correct horse").await.unwrap();

    let forged = post_form(
        &app,
        "/admin/feeds",
        &admin,
        &[("csrf", "forged"), ("name", "made")],
    )
    .await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let not_admin = post_form(
        &app,
        "/admin/feeds",
        &reader,
        &[("csrf", &reader.csrf), ("name", "made")],
    )
    .await;
    assert_eq!(not_admin.status(), StatusCode::FORBIDDEN);
    let feed_names = || async {
        wharf::service::feeds::list(&app.wharf)
            .await
            .unwrap()
            .into_iter()
            .map(|f| f.name)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        feed_names().await,
        ["default"],
        "a refused form creates nothing"
    );

    let made = post_form(
        &app,
        "/admin/feeds",
        &admin,
        &[("csrf", &admin.csrf), ("name", "made"), ("public", "on")],
    )
    .await;
    assert_eq!(made.status(), StatusCode::SEE_OTHER);
    let (_, page) = get(
        &app,
        made.headers()[LOCATION].to_str().unwrap(),
        Some(&admin),
    )
    .await;
    assert!(page.contains("Feed &#39;made&#39; created."), "{page}");
    let bad = post_form(
        &app,
        "/admin/feeds",
        &admin,
        &[("csrf", &admin.csrf), ("name", "no spaces")],
    )
    .await;
    assert_eq!(bad.status(), StatusCode::OK);
    assert!(bad.text().await.unwrap().contains("role=\"alert\""));

    // Deleting asks for the feed's name.
    let unconfirmed = post_form(
        &app,
        "/admin/feeds/made/delete",
        &admin,
        &[("csrf", &admin.csrf)],
    )
    .await;
    assert!(unconfirmed.text().await.unwrap().contains("type its name"));
    assert_eq!(feed_names().await, ["default", "made"]);
    let deleted = post_form(
        &app,
        "/admin/feeds/made/delete",
        &admin,
        &[("csrf", &admin.csrf), ("confirm", "made")],
    )
    .await;
    assert_eq!(deleted.status(), StatusCode::SEE_OTHER);
    assert_eq!(feed_names().await, ["default"]);

    // A key is shown once, then only its id.
    let created = post_form(
        &app,
        "/admin/keys",
        &admin,
        &[
            ("csrf", &admin.csrf),
            ("name", "ci"),
            ("permissions", "view"),
            ("permissions", "download"),
        ],
    )
    .await;
    let page = created.text().await.unwrap();
    let marker = "<code id=\"new-key\">";
    let start = page.find(marker).expect("the new key is shown") + marker.len();
    let key = &page[start..start + page[start..].find('<').unwrap()];
    let (_, later) = get(&app, "/admin/keys", Some(&admin)).await;
    assert!(!later.contains(key));
    let meta = app
        .client
        .get(app.url("/api/api-keys/list"))
        .header("X-ApiKey", key)
        .send()
        .await
        .unwrap();
    assert_eq!(
        meta.status(),
        StatusCode::FORBIDDEN,
        "a view key is not an admin key"
    );
    let id = wharf::service::auth::public_id(key);
    let revoked = post_form(
        &app,
        &format!("/admin/keys/{id}/revoke"),
        &admin,
        &[("csrf", &admin.csrf)],
    )
    .await;
    assert_eq!(revoked.status(), StatusCode::SEE_OTHER);
    assert!(
        wharf::service::keys::list(&app.wharf)
            .await
            .unwrap()
            .iter()
            .all(|k| k.id != id)
    );

    // Deleting a user ends their sessions at once.
    let removed = post_form(
        &app,
        "/admin/users/reader/delete",
        &admin,
        &[("csrf", &admin.csrf)],
    )
    .await;
    assert_eq!(removed.status(), StatusCode::SEE_OTHER);
    let (_, home) = get(&app, "/", Some(&reader)).await;
    assert!(!home.contains("Sign out"));
}

async fn feed_pages_page_search_and_sanitise(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_feed("big", true).await;
    for i in 0..120 {
        let description = if i == 7 {
            "Has a **bold** claim <script>alert('x')</script> [bad](javascript:alert(1))"
        } else {
            "An ordinary package."
        };
        app.publish(
            "big",
            UpackBuilder::new("acme", &format!("pkg{i:03}"), "1.0.0")
                .field("description", serde_json::json!(description))
                .build(),
        )
        .await;
    }
    let rows = |page: &str| page.matches("<tr>").count() - 1;
    let (status, first) = get(&app, "/feeds/big", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(rows(&first), 50);
    assert!(first.contains("href=\"/feeds/big?page=2\""));
    let (_, third) = get(&app, "/feeds/big?page=3", None).await;
    assert_eq!(rows(&third), 20);
    assert!(third.contains("pkg119") && !third.contains("page=4"));
    let (_, found) = get(&app, "/feeds/big?q=pkg11", None).await;
    assert_eq!(rows(&found), 10);
    let (_, package) = get(&app, "/feeds/big/packages/acme/pkg007", None).await;
    assert!(package.contains("<strong>bold</strong>"));
    assert!(!package.contains("<script>alert") && !package.contains("javascript:"));
    assert!(
        first.len() < 150_000,
        "the feed page is {} bytes",
        first.len()
    );
}

async fn errors_are_pages_for_pages_and_text_for_the_api(backend: Backend) {
    let app = spawn_app(backend).await;
    let (status, page) = get(&app, "/feeds/none", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(page.starts_with("<!doctype html>") && page.contains("There is no feed named"));
    let (status, page) = get(&app, "/no/such/page", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(page.starts_with("<!doctype html>"));
    let api = app
        .client
        .get(app.url("/upack/none/packages"))
        .send()
        .await
        .unwrap();
    assert!(
        api.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let admin = app.client.get(app.url("/admin/keys")).send().await.unwrap();
    assert_eq!(admin.status(), StatusCode::SEE_OTHER);
    assert_eq!(admin.headers()[LOCATION], "/login?next=%2Fadmin%2Fkeys");
}

/// The package page lists versions newest first by semantic version (1.10.0 above
/// 1.2.0) with prereleases marked; a version page links its dependencies; a
/// virtual version's page links each entry of `contents` and offers the
/// `.vpack`, which downloads the stored manifest byte for byte.
async fn package_and_virtual_version_pages_link_what_they_name(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_feed("rel", true).await;
    for version in ["1.0.0", "1.2.0", "1.10.0", "2.0.0-rc.1"] {
        app.publish("rel", UpackBuilder::new("acme", "lib", version).build())
            .await;
    }
    app.publish(
        "rel",
        UpackBuilder::new("", "app", "3.0.0")
            .field("dependencies", serde_json::json!(["acme/lib:1.10.0"]))
            .build(),
    )
    .await;
    let manifest = serde_json::to_vec_pretty(&serde_json::json!({
        "group": "releases",
        "name": "bundle",
        "version": "1.0.0",
        "contents": ["acme/lib:1.10.0"]
    }))
    .unwrap();
    app.publish("rel", manifest.clone()).await;

    let (status, package) = get(&app, "/feeds/rel/packages/acme/lib", None).await;
    assert_eq!(status, StatusCode::OK);
    let position = |v: &str| {
        package
            .find(&format!("<code>{v}</code>"))
            .unwrap_or_else(|| panic!("{v} is listed: {package}"))
    };
    assert!(position("2.0.0-rc.1") < position("1.10.0"));
    assert!(position("1.10.0") < position("1.2.0"));
    assert!(position("1.2.0") < position("1.0.0"));
    assert_eq!(package.matches("badge pre").count(), 1, "{package}");
    assert!(package.contains("href=\"/feeds/rel/packages/acme/lib/versions/1.10.0\""));

    let (_, app_page) = get(&app, "/feeds/rel/packages/app/versions/3.0.0", None).await;
    assert!(
        app_page.contains("href=\"/feeds/rel/packages/acme/lib\""),
        "the dependency links to its package: {app_page}"
    );

    let (status, bundle) = get(
        &app,
        "/feeds/rel/packages/releases/bundle/versions/1.0.0",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        bundle.contains("href=\"/feeds/rel/packages/acme/lib/versions/1.10.0\""),
        "each content entry links to its version: {bundle}"
    );
    let marker = "href=\"";
    let vpack_link = bundle
        .split(marker)
        .skip(1)
        .map(|rest| &rest[..rest.find('"').unwrap()])
        .find(|href| href.contains("download-vpack"))
        .unwrap_or_else(|| panic!("a .vpack download: {bundle}"))
        .replace("&amp;", "&");
    let downloaded = app.get(&vpack_link).await;
    assert_eq!(downloaded.status(), StatusCode::OK, "{vpack_link}");
    assert_eq!(
        downloaded.bytes().await.unwrap().as_ref(),
        manifest.as_slice()
    );
}

dual_backend_tests!(
    signing_in_and_out_uses_paired_csrf_tokens_and_a_session_row,
    a_private_feed_is_answered_like_a_missing_one,
    a_session_reads_through_the_api_but_never_writes,
    uploads_from_the_page_need_the_token_and_show_the_servers_sentence,
    admin_forms_change_nothing_without_the_sessions_token,
    feed_pages_page_search_and_sanitise,
    errors_are_pages_for_pages_and_text_for_the_api,
    package_and_virtual_version_pages_link_what_they_name,
);
