//! Building and running the server, and preparing an empty database.

use std::net::TcpListener;

use actix_http::HttpService;
use actix_service::{fn_service, map_config};
use actix_web::dev::AppConfig;
use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{App, web};
use secrecy::ExposeSecret;

use crate::config::Settings;
use crate::http::in_flight::InFlight;
use crate::service::cache::POLL_INTERVAL;
use crate::service::{Wharf, change_follower, downloads, feeds, keys, operations, users};
use crate::supervisor::Supervisor;

/// How often counted downloads are written to the database.
const DOWNLOAD_FLUSH_INTERVAL: std::time::Duration = std::time::Duration::from_secs(2);

/// A bound, not yet running server.
pub struct Application {
    server: Server,
    port: u16,
    wharf: Wharf,
    in_flight: InFlight,
}

impl Application {
    /// Binds the listener (port 0 picks a free port, which
    /// [`Application::port`] reports), then opens storage and prepares a new
    /// database. Binding first means a busy port fails before anything is
    /// created or a one-time key is printed.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(&settings.bind)
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", settings.bind))?;
        let port = listener.local_addr()?.port();
        let wharf = Wharf::open(settings).await?;
        crate::telemetry::request_metrics::install(
            crate::http::route_table()
                .into_iter()
                .map(|route| route.path),
        );
        if let Some(message) = bootstrap(&wharf).await? {
            println!("{message}");
        }
        let data = web::Data::new(wharf.clone());
        let screening = wharf.clone();
        let in_flight = InFlight::default();
        let counting = in_flight.clone();
        // actix-web's `HttpServer` with one addition: the expectation handler
        // that screens uploads before `100 Continue` (see `http::expect`).
        let server = actix_server::Server::build()
            .listen("wharf", listener, move || {
                let data = data.clone();
                let app = App::new()
                    .wrap(from_fn(crate::http::access_log::middleware))
                    .app_data(data)
                    .app_data(counting.clone())
                    .configure(crate::http::configure);
                let screening = screening.clone();
                HttpService::build()
                    .expect(fn_service(move |req| {
                        let wharf = screening.clone();
                        async move { crate::http::expect::screen(&wharf, req).await }
                    }))
                    .finish(map_config(app, |()| AppConfig::default()))
                    .tcp()
            })?
            // Signals are handled in `run_until_stopped`: actix would stop
            // at once on Ctrl-C, cutting transfers that SIGTERM lets finish.
            .disable_signals()
            .run();
        tracing::info!(address = %wharf.settings.bind, port, "Wharf is listening");
        Ok(Self {
            server,
            port,
            wharf,
            in_flight,
        })
    }

    /// The port actually bound.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The shared services (for tests that inspect storage).
    pub fn wharf(&self) -> &Wharf {
        &self.wharf
    }

    /// Serves until the process is asked to stop (SIGINT and SIGTERM both
    /// finish in-flight requests first; a second signal stops at once), with the background tasks running beside
    /// it under one supervisor: stopped together after the server drains,
    /// each after one last round (download counts are flushed once more).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let supervisor = background_tasks(&self.wharf);
        let signals = tokio::spawn(stop_on_signals(
            self.server.handle(),
            self.in_flight.clone(),
        ));
        let result = self.server.await;
        signals.abort();
        supervisor.shutdown().await;
        result
    }
}

/// Stops the server on the first SIGTERM or Ctrl-C (SIGINT) after the
/// requests in flight finish; a second signal stops the process at once
/// (an interrupted upload leaves nothing half-stored: see RELIABILITY.md).
async fn stop_on_signals(server: actix_web::dev::ServerHandle, in_flight: InFlight) {
    let Ok(mut next_signal) = StopSignals::install() else {
        tracing::warn!("cannot listen for stop signals; stop Wharf with SIGKILL");
        return;
    };
    let first = next_signal.recv().await;
    tracing::info!(
        signal = first,
        "stopping: finishing the requests in flight (send it again to stop at once)"
    );
    // Stop accepting, wait for the requests in flight, then stop (see
    // `http::in_flight` for why actix's own graceful stop is not enough).
    let drained = async {
        server.pause().await;
        let left = in_flight.drained(SHUTDOWN_LIMIT).await;
        if left > 0 {
            tracing::warn!(
                requests = left,
                "stopping with requests still in flight after the time limit"
            );
        }
        server.stop(true).await;
    };
    tokio::select! {
        () = drained => {}
        second = next_signal.recv() => {
            tracing::warn!(signal = second, "stopping at once, without waiting for requests in flight");
            std::process::exit(130);
        }
    }
}

/// How long a stop waits for requests in flight.
const SHUTDOWN_LIMIT: std::time::Duration = std::time::Duration::from_secs(30);

/// SIGINT and SIGTERM as one stream of signal names.
struct StopSignals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

impl StopSignals {
    fn install() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.interrupt.recv() => "SIGINT",
            _ = self.terminate.recv() => "SIGTERM",
        }
    }
}

/// The serving process's background tasks.
fn background_tasks(wharf: &Wharf) -> Supervisor {
    let mut supervisor = Supervisor::default();
    let counts = wharf.clone();
    supervisor.every("download-count flush", DOWNLOAD_FLUSH_INTERVAL, move || {
        let wharf = counts.clone();
        async move { downloads::flush(&wharf).await }
    });
    let (db, caches) = (wharf.db.clone(), wharf.caches.clone());
    supervisor.until_stopped("cache invalidation listener", move |stop| {
        change_follower::follow(db, caches, stop)
    });
    let caches = wharf.caches.clone();
    supervisor.every("cache invalidation poll", POLL_INTERVAL, move || {
        let caches = caches.clone();
        async move {
            if caches.is_listening() {
                return Ok(());
            }
            caches
                .check_remote_changes()
                .await
                .map_err(|e| anyhow::Error::new(e).context("reading the change log"))
        }
    });
    let sessions = wharf.auth.clone();
    supervisor.every(
        "ended-session cleanup",
        SESSION_CLEANUP_INTERVAL,
        move || {
            let sessions = sessions.clone();
            async move {
                sessions
                    .remove_ended_sessions()
                    .await
                    .map(|_| ())
                    .map_err(|e| anyhow::anyhow!("removing ended sessions: {e}"))
            }
        },
    );
    // Operation workers; the owner names the process and worker in the
    // operations table, so a lease can be traced to who holds it.
    let process = uuid::Uuid::new_v4().simple().to_string();
    for worker in 0..wharf.settings.operations.workers {
        let wharf = wharf.clone();
        let owner = format!("{}:{}:{worker}", std::process::id(), &process[..8]);
        // At a lower priority: a long pull must not slow the requests.
        let started = supervisor.until_stopped_in_background("operation worker", move |stop| {
            operations::work(wharf, owner, stop)
        });
        if let Err(error) = started {
            tracing::error!(%error, "cannot start the operation workers' runtime");
        }
    }
    supervisor
}

/// How often ended web sessions are removed from the database.
const SESSION_CLEANUP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(3600);

/// A password for the first administrator: 20 letters and digits.
fn generate_password() -> String {
    crate::service::auth::random_token()[..20].to_owned()
}

/// On an empty database (no feeds, no keys): creates the feed `default`
/// (anonymous view and download) and an administrator key. Returns the
/// message to print once, with the key and ready-to-paste commands. Processes
/// starting together take turns (`db::first_start`): one prepares, the
/// others find the database prepared.
pub async fn bootstrap(wharf: &Wharf) -> anyhow::Result<Option<String>> {
    let turn = crate::db::first_start::lock(&wharf.db).await?;
    let prepared = prepare_new_database(wharf).await;
    turn.release().await?;
    prepared
}

async fn prepare_new_database(wharf: &Wharf) -> anyhow::Result<Option<String>> {
    if !feeds::is_new_installation(wharf).await? {
        return Ok(None);
    }
    feeds::create(wharf, "default", "The default feed.", true).await?;
    let fixed_key = wharf.settings.admin_api_key.clone();
    let from_env = fixed_key.is_some();
    let created = keys::create(
        wharf,
        keys::NewKey {
            name: "first administrator key".to_owned(),
            permissions: "admin".to_owned(),
            feeds: Vec::new(),
            fixed_key,
            expires_at: None,
        },
    )
    .await?;
    let fixed_password = wharf.settings.admin_password.clone();
    let password_from_env = fixed_password.is_some();
    let password = fixed_password.unwrap_or_else(|| generate_password().into());
    users::create(wharf, "admin", password.expose_secret(), "admin", &[]).await?;
    let base = format!("http://{}", wharf.settings.bind);
    let password_line = if password_from_env {
        "The password is the one in WHARF_ADMIN_PASSWORD.".to_owned()
    } else {
        format!(
            "Password (shown only this once):\n\n    {}\n",
            password.expose_secret()
        )
    };
    let key_line = if from_env {
        "The administrator API key is the one in WHARF_ADMIN_API_KEY.".to_owned()
    } else {
        format!(
            "Administrator API key (shown only this once, keep it safe):\n\n    {}\n",
            created.key.expose_secret()
        )
    };
    let key = if from_env {
        "$WHARF_ADMIN_API_KEY"
    } else {
        created.key.expose_secret()
    };
    Ok(Some(format!(
        "Wharf created the feed 'default' (anyone may view and download), an administrator key and an administrator user.\n\
         {key_line}\n\
         Sign in to the web pages at {base}/ as 'admin'. {password_line}\n\
         Upload a package:\n    curl -X PUT -f -H \"X-ApiKey: {key}\" --upload-file my-app-1.0.0.upack {base}/upack/default/upload\n\
         Download the latest version (add the group before the name if it has one: .../download/<group>/my-app):\n    curl -fOJ \"{base}/upack/default/download/my-app?latest\"\n\
         Fetch a virtual package's manifest:\n    curl -fOJ \"{base}/upack/default/download-vpack/my-release?latest\"\n\
         List what the feed holds: {base}/upack/default/packages\n\
         Manage feeds, keys and users: wharf --help\n"
    )))
}
