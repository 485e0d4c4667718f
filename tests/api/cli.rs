//! The `wharf` binary: first start, and the operator subcommands acting on
//! the same database as the server.

use std::process::Stdio;
use std::time::Duration;

use reqwest::StatusCode;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use crate::helpers::{Backend, UpackBuilder, fresh_postgres_database};

pub struct Cli {
    pub dir: tempfile::TempDir,
    database_url: Option<String>,
}

impl Cli {
    pub async fn new(backend: Backend) -> Self {
        let database_url = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => Some(fresh_postgres_database().await),
        };
        Self {
            dir: tempfile::tempdir().unwrap(),
            database_url,
        }
    }

    /// Points the commands at another database (`None`: the `SQLite` default).
    pub fn set_database_url(&mut self, url: Option<String>) {
        self.database_url = url;
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_wharf"));
        command
            .arg("--data-dir")
            .arg(self.dir.path().join("data"))
            .args(args)
            .env_remove("DATABASE_URL")
            .env_remove("WHARF_ADMIN_API_KEY")
            .env_remove("WHARF_ADMIN_PASSWORD")
            .env_remove("WHARF_BIND")
            .env_remove("WHARF_DATA_DIR")
            .env_remove("WHARF_CONFIG")
            .kill_on_drop(true);
        if let Some(url) = &self.database_url {
            command.env("DATABASE_URL", url);
        }
        command
    }

    pub async fn run(&self, args: &[&str]) -> String {
        let output = self.command(args).output().await.unwrap();
        assert!(
            output.status.success(),
            "wharf {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `wharf serve`, returning the child and its stdout lines so far once
/// it answers `/health`.
pub async fn serve(
    cli: &Cli,
    port: u16,
    extra_env: &[(&str, &str)],
) -> (tokio::process::Child, Vec<String>) {
    let mut command = cli.command(&["serve", "--bind", &format!("127.0.0.1:{port}")]);
    let log = std::fs::File::create(cli.dir.path().join("serve.log")).unwrap();
    command.stdout(Stdio::piped()).stderr(log);
    for (name, value) in extra_env {
        command.env(name, value);
    }
    let mut child = command.spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let client = reqwest::Client::new();
    let mut printed = Vec::new();
    for _ in 0..200 {
        while let Ok(Ok(Some(line))) =
            tokio::time::timeout(Duration::from_millis(20), lines.next_line()).await
        {
            printed.push(line);
        }
        if let Ok(response) = client
            .get(format!("http://127.0.0.1:{port}/health"))
            .send()
            .await
            && response.status() == StatusCode::OK
        {
            while let Ok(Ok(Some(line))) =
                tokio::time::timeout(Duration::from_millis(100), lines.next_line()).await
            {
                printed.push(line);
            }
            return (child, printed);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("wharf serve did not become healthy; printed: {printed:?}");
}

async fn first_start_creates_the_default_feed_and_prints_a_working_admin_key(backend: Backend) {
    let cli = Cli::new(backend).await;
    let port = free_port();
    let (mut child, printed) = serve(&cli, port, &[]).await;
    let key = printed
        .iter()
        .map(|l| l.trim())
        .find(|l| l.starts_with("wharf_"))
        .unwrap_or_else(|| panic!("no key printed: {printed:?}"))
        .to_owned();
    assert!(
        printed
            .iter()
            .any(|l| l.contains("curl -X PUT") && l.contains(&key)),
        "{printed:?}"
    );
    let client = reqwest::Client::new();
    let upload = client
        .put(format!("http://127.0.0.1:{port}/upack/default/upload"))
        .header("X-ApiKey", &key)
        .body(UpackBuilder::new("", "my-app", "1.0.0").build())
        .send()
        .await
        .unwrap();
    assert_eq!(upload.status(), StatusCode::CREATED);
    let download = client
        .get(format!(
            "http://127.0.0.1:{port}/upack/default/download/my-app?latest"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(
        download.status(),
        StatusCode::OK,
        "the default feed is anonymously readable"
    );
    child.kill().await.unwrap();

    // A second start prints no new key.
    let (mut child, printed) = serve(&cli, port, &[]).await;
    assert!(
        !printed.iter().any(|l| l.trim().starts_with("wharf_")),
        "{printed:?}"
    );
    child.kill().await.unwrap();
}

async fn the_admin_key_can_be_fixed_by_environment(backend: Backend) {
    let cli = Cli::new(backend).await;
    let port = free_port();
    let (mut child, printed) = serve(
        &cli,
        port,
        &[("WHARF_ADMIN_API_KEY", "compose-admin-key-123")],
    )
    .await;
    assert!(
        printed.iter().any(|l| l.contains("WHARF_ADMIN_API_KEY")),
        "{printed:?}"
    );
    let response = reqwest::Client::new()
        .put(format!("http://127.0.0.1:{port}/upack/default/upload"))
        .header("X-ApiKey", "compose-admin-key-123")
        .body(UpackBuilder::new("", "my-app", "1.0.0").build())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    child.kill().await.unwrap();
}

async fn feed_and_key_subcommands_act_on_the_servers_database(backend: Backend) {
    let cli = Cli::new(backend).await;
    cli.run(&["migrate"]).await;
    cli.run(&["feed", "create", "team", "--description", "Team builds"])
        .await;
    cli.run(&["feed", "create", "open", "--public"]).await;
    let feeds = cli.run(&["feed", "list"]).await;
    assert_eq!(
        feeds.lines().collect::<Vec<_>>(),
        vec!["open\tpublic\t", "team\tprivate\tTeam builds"]
    );

    let key = cli
        .run(&[
            "key",
            "create",
            "--name",
            "ci",
            "--feeds",
            "team",
            "--permissions",
            "view,download,add",
        ])
        .await;
    assert_eq!(key.lines().count(), 1, "only the key is printed: {key:?}");
    let key = key.trim().to_owned();
    assert!(key.starts_with("wharf_"));
    let listed = cli.run(&["key", "list"]).await;
    assert_eq!(listed.lines().count(), 1);
    assert!(
        listed.contains("ci\tadd,download,view") || listed.contains("ci\tview,download,add"),
        "{listed}"
    );
    assert!(!listed.contains(&key), "key list never shows key text");

    let port = free_port();
    let (mut child, _) = serve(&cli, port, &[]).await;
    let client = reqwest::Client::new();
    let upload = |key: String| {
        client
            .put(format!("http://127.0.0.1:{port}/upack/team/upload"))
            .header("X-ApiKey", key)
            .body(UpackBuilder::new("", "pkg", "1.0.0").build())
            .send()
    };
    assert_eq!(
        upload(key.clone()).await.unwrap().status(),
        StatusCode::CREATED
    );
    let versions = || {
        client
            .get(format!("http://127.0.0.1:{port}/upack/team/versions"))
            .header("X-ApiKey", &key)
            .send()
    };
    // Used again, so that the server's worker threads remember the key.
    for _ in 0..4 {
        assert_eq!(versions().await.unwrap().status(), StatusCode::OK);
    }
    let id = listed.split('\t').next().unwrap().to_owned();
    cli.run(&["key", "revoke", &id]).await;
    // Revoked in another process: the running server learns of it through
    // the change generation, within its poll interval (100 ms).
    let revoked_at = std::time::Instant::now();
    loop {
        let after = versions().await.unwrap();
        if after.status() == StatusCode::FORBIDDEN {
            break;
        }
        assert!(
            revoked_at.elapsed() < Duration::from_secs(2),
            "a revoked key still works after 2 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().await.unwrap();

    cli.run(&["feed", "delete", "team", "--yes"]).await;
    assert_eq!(cli.run(&["feed", "list"]).await.lines().count(), 1);
    let gc = cli.run(&["gc", "--grace-minutes", "0"]).await;
    assert!(gc.contains("deleted 1"), "{gc}");
    let failed = cli
        .command(&["feed", "delete", "team", "--yes"])
        .output()
        .await
        .unwrap();
    assert!(!failed.status.success());
    assert!(String::from_utf8_lossy(&failed.stderr).contains("does not exist"));
}

async fn keys_and_passwords_never_reach_the_log(backend: Backend) {
    let cli = Cli::new(backend).await;
    let port = free_port();
    let (mut child, _) = serve(
        &cli,
        port,
        &[
            ("WHARF_ADMIN_API_KEY", "log-secret-admin-key"),
            ("WHARF_LOG", "info"),
        ],
    )
    .await;
    let base = format!("http://127.0.0.1:{port}/upack/default");
    let client = reqwest::Client::new();
    let requests = [
        client.get(format!("{base}/versions?key=log-secret-admin-key")),
        client
            .get(format!("{base}/versions"))
            .header("X-ApiKey", "log-secret-admin-key"),
        client
            .get(format!("{base}/versions"))
            .basic_auth("api", Some("log-secret-admin-key")),
        client.get(format!("{base}/versions?key=log-secret-wrong-key")),
        client
            .get(format!("{base}/versions"))
            .basic_auth("someone", Some("log-secret-password")),
    ];
    for request in requests {
        request.send().await.unwrap();
    }
    // The access log is written by a thread of its own: wait for the five
    // lines before stopping the server.
    let log = wait_for_log(&cli, |log| {
        log.matches("path=/upack/default/versions ").count() == 5
    })
    .await;
    child.kill().await.unwrap();
    assert!(
        !log.contains("log-secret"),
        "a secret reached the log:\n{log}"
    );
}

/// The server's log once `ready` says it holds what is awaited (it fails
/// after ten seconds, showing the log).
pub async fn wait_for_log(cli: &Cli, ready: impl Fn(&str) -> bool) -> String {
    let path = cli.dir.path().join("serve.log");
    for _ in 0..200 {
        let log = std::fs::read_to_string(&path).unwrap_or_default();
        if ready(&log) {
            return log;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "the log never held what was awaited:\n{}",
        std::fs::read_to_string(&path).unwrap_or_default()
    );
}

async fn a_busy_port_fails_before_anything_is_created_or_printed(backend: Backend) {
    let cli = Cli::new(backend).await;
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = format!("127.0.0.1:{}", taken.local_addr().unwrap().port());
    let output = cli
        .command(&["serve", "--bind", &address])
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("cannot listen on {address}")),
        "{stderr}"
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        !stdout.contains("API key"),
        "no one-time key was printed: {stdout}"
    );
    assert!(
        !cli.dir.path().join("data/wharf.db").exists(),
        "no database was created"
    );
    let (mut child, printed) = serve(&cli, free_port(), &[]).await;
    assert!(
        printed.iter().any(|l| l.contains("shown only this once")),
        "the next start still prints the key: {printed:?}"
    );
    for line in [
        "curl -fOJ",
        "download-vpack",
        "wharf --help",
        "/upack/default/packages",
    ] {
        assert!(
            printed.iter().any(|l| l.contains(line)),
            "{line}: {printed:?}"
        );
    }
    child.kill().await.unwrap();
}

async fn an_invalid_log_filter_is_an_error_at_start(backend: Backend) {
    let cli = Cli::new(backend).await;
    let output = cli
        .command(&["feed", "list"])
        .env("WHARF_LOG", "info,wharf=loudest")
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("WHARF_LOG is not a valid log filter") && stderr.contains("loudest"),
        "{stderr}"
    );
}

async fn config_show_names_each_source_and_bad_settings_stop_the_start(backend: Backend) {
    let cli = Cli::new(backend).await;
    let file = cli.dir.path().join("wharf.toml");
    std::fs::write(&file, "[auth]\nverified_cache_seconds = 5\n").unwrap();
    let shown = cli
        .command(&["config", "show", "--config"])
        .arg(&file)
        .env("WHARF_DATABASE__MAX_CONNECTIONS", "4")
        .env("WHARF_ADMIN_API_KEY", "a-secret-admin-key")
        .output()
        .await
        .unwrap();
    assert!(shown.status.success());
    let text = String::from_utf8(shown.stdout).unwrap();
    let line = |key: &str| {
        text.lines()
            .find(|l| l.starts_with(&format!("{key} = ")))
            .unwrap_or_else(|| panic!("no {key} in:\n{text}"))
            .to_owned()
    };
    assert!(line("database.max_connections").contains("= 4"));
    assert!(
        line("database.max_connections")
            .contains("environment variable WHARF_DATABASE__MAX_CONNECTIONS")
    );
    assert!(
        line("auth.verified_cache_seconds").contains(&format!("config file {}", file.display()))
    );
    assert!(line("data_dir").contains("command-line flag --data-dir"));
    assert!(line("bind").contains("# default; WHARF_BIND"));
    assert!(line("admin_api_key").contains("<redacted>"));
    assert!(!text.contains("a-secret-admin-key"));

    let refused = cli
        .command(&["feed", "list"])
        .env("WHARF_AUTH__ARGON2__PARALLELISM", "0")
        .output()
        .await
        .unwrap();
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("auth.argon2"), "{stderr}");
    assert!(
        !cli.dir.path().join("data").exists(),
        "nothing is created when settings are bad"
    );
}

async fn deleting_a_feed_asks_first_and_keys_name_only_real_feeds(backend: Backend) {
    let cli = Cli::new(backend).await;
    cli.run(&["feed", "create", "doomed"]).await;
    let refused = cli
        .command(&[
            "key",
            "create",
            "--feeds",
            "nosuch",
            "--permissions",
            "view",
        ])
        .output()
        .await
        .unwrap();
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("There is no feed named 'nosuch'"),
        "{stderr}"
    );
    cli.run(&[
        "key",
        "create",
        "--name",
        "scoped",
        "--feeds",
        "doomed",
        "--permissions",
        "view",
    ])
    .await;

    let asked = cli
        .command(&["feed", "delete", "doomed"])
        .output()
        .await
        .unwrap();
    assert!(!asked.status.success());
    let stderr = String::from_utf8_lossy(&asked.stderr);
    assert!(
        stderr.contains("--yes") && stderr.contains("1 API key(s) are limited to it"),
        "{stderr}"
    );
    assert!(
        cli.run(&["feed", "list"]).await.contains("doomed"),
        "nothing was deleted"
    );
    cli.run(&["feed", "delete", "doomed", "--yes"]).await;
    assert!(!cli.run(&["feed", "list"]).await.contains("doomed"));
    let keys = cli.run(&["key", "list"]).await;
    let line = keys.lines().find(|l| l.contains("\tscoped\t")).unwrap();
    assert!(
        line.contains("feeds=(none: its feeds were deleted)"),
        "{line}"
    );
    assert!(!keys.contains("doomed"));
}

async fn help_lists_every_setting_and_bind_only_on_serve(backend: Backend) {
    let cli = Cli::new(backend).await;
    let help = cli.run(&["--help"]).await;
    for variable in [
        "WHARF_ADMIN_PASSWORD",
        "WHARF_AUTH__ARGON2__MEMORY_KIB",
        "WHARF_DATABASE__MAX_CONNECTIONS",
        "WHARF_LIMITS__MAX_UPLOAD_BYTES or WHARF_MAX_UPLOAD_BYTES",
        "WHARF_LOG",
    ] {
        assert!(help.contains(variable), "--help lacks {variable}:\n{help}");
    }
    assert!(!help.contains("--bind"));
    assert!(cli.run(&["serve", "--help"]).await.contains("--bind"));
    assert!(
        !cli.run(&["feed", "list", "--help"])
            .await
            .contains("--bind")
    );
    // Every argument and flag of every subcommand has a description.
    for args in [
        &["feed", "create", "--help"][..],
        &["feed", "delete", "--help"],
        &["key", "create", "--help"],
        &["key", "revoke", "--help"],
        &["user", "create", "--help"],
        &["user", "delete", "--help"],
        &["gc", "--help"],
    ] {
        let text = cli.run(args).await;
        // clap writes a description beside its flag, or (when long) on the
        // next line, indented.
        let lines: Vec<&str> = text.lines().collect();
        let undescribed: Vec<&str> = lines
            .iter()
            .enumerate()
            .filter(|(_, l)| l.trim_start().starts_with(['-', '<']))
            .filter(|(i, l)| {
                let beside = l.split("  ").filter(|p| !p.trim().is_empty()).count() >= 2;
                let below = lines.get(i + 1).is_some_and(|next| {
                    let next = next.trim_start();
                    !next.is_empty() && !next.starts_with(['-', '<'])
                });
                !beside && !below
            })
            .map(|(_, l)| *l)
            .collect();
        assert!(undescribed.is_empty(), "wharf {args:?}: {undescribed:?}");
    }
}

async fn start_up_failures_name_what_failed_once(backend: Backend) {
    let mut cli = Cli::new(backend).await;
    let stderr_of = |output: std::process::Output| {
        assert!(!output.status.success());
        String::from_utf8_lossy(&output.stderr).trim().to_owned()
    };
    // A data directory that cannot be created: the path and the reason.
    let file = cli.dir.path().join("a-file");
    std::fs::write(&file, b"").unwrap();
    let blocked = file.join("data");
    let text = stderr_of(
        cli.command(&["feed", "list"])
            .arg("--data-dir")
            .arg(&blocked)
            .output()
            .await
            .unwrap(),
    );
    assert!(
        text.contains(&format!(
            "cannot create the data directory {}",
            blocked.display()
        )) && text.contains("Not a directory"),
        "{text}"
    );
    // A PostgreSQL server that is not there: its address and the cause, once.
    let port = free_port();
    cli.set_database_url(Some(format!("postgres://wharf@127.0.0.1:{port}/wharf")));
    let text = stderr_of(cli.command(&["feed", "list"]).output().await.unwrap());
    assert!(
        text.contains(&format!("cannot connect to PostgreSQL at 127.0.0.1:{port}"))
            && text.contains("refused"),
        "{text}"
    );
    assert_eq!(text.matches("refused").count(), 1, "{text}");
    if backend == Backend::Postgres {
        // A user the server does not know: the server's own sentence, once.
        let real = crate::helpers::postgres_admin_url();
        let (server, _) = real.rsplit_once('/').unwrap();
        let unknown = server.replacen("postgres@", "nosuchuser@", 1);
        cli.set_database_url(Some(format!("{unknown}/postgres")));
        let text = stderr_of(cli.command(&["feed", "list"]).output().await.unwrap());
        assert!(
            text.contains("user 'nosuchuser'") && text.contains("does not exist"),
            "{text}"
        );
        assert_eq!(text.matches("does not exist").count(), 1, "{text}");
    }
}

dual_backend_tests!(
    start_up_failures_name_what_failed_once,
    deleting_a_feed_asks_first_and_keys_name_only_real_feeds,
    help_lists_every_setting_and_bind_only_on_serve,
    config_show_names_each_source_and_bad_settings_stop_the_start,
    an_invalid_log_filter_is_an_error_at_start,
    a_busy_port_fails_before_anything_is_created_or_printed,
    keys_and_passwords_never_reach_the_log,
    first_start_creates_the_default_feed_and_prints_a_working_admin_key,
    the_admin_key_can_be_fixed_by_environment,
    feed_and_key_subcommands_act_on_the_servers_database,
);
