//! The `wharf` command line: `serve` (the default) and the operator
//! subcommands. Every subcommand reads the same settings as `serve`, so it
//! acts on the same database.

use std::fmt::Write as _;
use std::io::Read;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use secrecy::ExposeSecret;

use crate::config::{self, Overrides};
use crate::domain::FeedScope;
use crate::service::{Wharf, feeds, gc, keys, users};
use crate::startup::Application;

mod connectors;
mod import;
mod operations;

/// A universal package feed server, compatible with `ProGet`'s Universal Feed API.
#[derive(Debug, Parser)]
#[command(name = "wharf", version, about, after_help = settings_help())]
pub struct Cli {
    /// Directory for the `SQLite` file, blobs and temporary files [env: `WHARF_DATA_DIR`] [default: ./wharf-data]
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// sqlite://... or postgres://... [env: `DATABASE_URL`] [default: sqlite://<data-dir>/wharf.db]
    #[arg(long, global = true)]
    database_url: Option<String>,
    /// TOML configuration file (every setting below can be set in it)
    #[arg(long, global = true, env = "WHARF_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the API and the web pages (the default).
    Serve {
        /// Address to listen on [env: `WHARF_BIND`] [default: 127.0.0.1:8624]
        #[arg(long)]
        bind: Option<String>,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Manage feeds.
    #[command(subcommand)]
    Feed(FeedCommand),
    /// Manage API keys.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Manage users who sign in with a password.
    #[command(subcommand)]
    User(UserCommand),
    /// Show the settings in effect.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Manage a feed's connectors to remote feeds.
    #[command(subcommand)]
    Connector(connectors::ConnectorCommand),
    /// Follow long-running operations (exports).
    #[command(subcommand)]
    Op(operations::OpCommand),
    /// Store many packages at once, as uploads would (moving feeds, seeding).
    Import {
        /// The feed to store them in.
        feed: String,
        /// `.upack`/`.vpack` files, directories holding them, or `-` for a
        /// tar stream of packages on standard input.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Delete blobs that no package version references.
    Gc {
        /// Keep unreferenced blobs younger than this many minutes (uploads in flight).
        #[arg(long, default_value_t = 60)]
        grace_minutes: u64,
    },
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Print every setting in effect with where it came from (default,
    /// config file, environment variable or flag) and its variable name;
    /// secrets are redacted.
    Show,
}

#[derive(Debug, Subcommand)]
enum FeedCommand {
    /// Create a feed.
    Create {
        /// The feed's name: letters, digits, '.', '_' or '-'.
        name: String,
        /// Let anonymous callers view and download.
        #[arg(long)]
        public: bool,
        /// Free text shown with the feed.
        #[arg(long, default_value = "")]
        description: String,
    },
    /// List feeds, one per line.
    List,
    /// Delete a feed and its packages (asks for --yes).
    Delete {
        /// The feed to delete.
        name: String,
        /// Yes, delete the feed and every package in it.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Debug, Subcommand)]
enum KeyCommand {
    /// Create a key and print it (only the key, on stdout).
    Create(KeyCreate),
    /// List keys, one per line (never the key text: only hashes are stored).
    List,
    /// Revoke a key by its id.
    Revoke {
        /// The key's public id (the first column of `wharf key list`).
        id: String,
    },
}

#[derive(Debug, Args)]
struct KeyCreate {
    /// A label for people.
    #[arg(long, default_value = "")]
    name: String,
    /// Limit the key to these feeds (comma-separated); all feeds by default.
    #[arg(long, value_delimiter = ',')]
    feeds: Vec<String>,
    /// Comma-separated: view, download, add, overwrite, delete, promote; or admin
    #[arg(long)]
    permissions: String,
    /// Make the key stop working after this many days.
    #[arg(long)]
    expires_in_days: Option<u32>,
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Create a user; the password is read from `WHARF_USER_PASSWORD` or stdin.
    Create {
        /// The name they sign in with.
        username: String,
        /// Comma-separated: view, download, add, overwrite, delete, promote; or admin
        #[arg(long)]
        permissions: String,
        /// Limit the user to these feeds (comma-separated); all feeds by default.
        #[arg(long, value_delimiter = ',')]
        feeds: Vec<String>,
    },
    /// List users, one per line.
    List,
    /// Delete a user (their web sessions end with them).
    Delete {
        /// The user to delete.
        username: String,
    },
}

/// The settings section of `wharf --help`: every setting with its variable
/// and default, generated from the settings themselves so it cannot drift.
fn settings_help() -> String {
    let defaults = config::Settings::default();
    let shown = config::show::effective(&figment::Figment::new(), &defaults);
    let width = shown.iter().map(|s| s.key.len()).max().unwrap_or(0);
    let mut text = String::from(
        "Settings (TOML key, environment variable, default); `wharf config show` prints those in effect:\n",
    );
    for item in shown {
        let variable = config::load::variable_for(&item.key);
        let aliases: Vec<&str> = config::ALIASES
            .iter()
            .filter(|(_, key)| *key == item.key)
            .map(|(alias, _)| *alias)
            .collect();
        let variable = if aliases.is_empty() {
            variable
        } else {
            format!("{variable} or {}", aliases.join(" or "))
        };
        let _ = writeln!(text, "  {:<width$}  {variable}  [{}]", item.key, item.value);
    }
    text.push_str(
        "Also: WHARF_LOG (log filter, e.g. info or wharf=debug), WHARF_CONFIG (the TOML file).",
    );
    text
}

/// Runs the command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let bind = match &cli.command {
        Some(Command::Serve { bind }) => bind.clone(),
        _ => None,
    };
    let overrides = Overrides {
        bind,
        data_dir: cli.data_dir,
        database_url: cli.database_url,
    };
    let layers = config::load::layers(cli.config.as_deref(), std::env::vars(), &overrides)?;
    let settings = config::load::extract(&layers)?;
    // Logging follows the settings (`log.format`); the guard writes the
    // access log's last lines when the command ends.
    let _log = crate::telemetry::init(&settings.log)?;
    match cli.command.unwrap_or(Command::Serve { bind: None }) {
        Command::Config(ConfigCommand::Show) => {
            print!(
                "{}",
                config::show::render(&config::show::effective(&layers, &settings))
            );
        }
        Command::Serve { .. } => {
            Application::build(settings)
                .await?
                .run_until_stopped()
                .await?;
        }
        Command::Migrate => {
            Wharf::open(settings).await?;
            eprintln!("Migrations applied.");
        }
        Command::Feed(command) => feed(&Wharf::open(settings).await?, command).await?,
        Command::Key(command) => key(&Wharf::open(settings).await?, command).await?,
        Command::User(command) => user(&Wharf::open(settings).await?, command).await?,
        Command::Connector(command) => {
            connectors::connector(&Wharf::open(settings).await?, command).await?;
        }
        Command::Op(command) => operations::op(&Wharf::open(settings).await?, command).await?,
        Command::Import { feed, paths } => {
            import::import(&Wharf::open(settings).await?, &feed, &paths).await?;
        }
        Command::Gc { grace_minutes } => {
            let wharf = Wharf::open(settings).await?;
            let report = gc::collect(&wharf, Duration::from_secs(grace_minutes * 60)).await?;
            println!(
                "examined {} blobs, deleted {}, kept {} unreferenced but younger than {grace_minutes} minutes; deleted {} stale spool files",
                report.examined, report.deleted, report.kept_young, report.spool_files_deleted
            );
        }
    }
    Ok(())
}

async fn feed(wharf: &Wharf, command: FeedCommand) -> anyhow::Result<()> {
    match command {
        FeedCommand::Create {
            name,
            public,
            description,
        } => {
            let feed = feeds::create(wharf, &name, &description, public).await?;
            eprintln!("Created feed '{}'.", feed.name);
        }
        FeedCommand::List => {
            for feed in feeds::list(wharf).await? {
                let access = if feed.anonymous_read {
                    "public"
                } else {
                    "private"
                };
                println!("{}\t{access}\t{}", feed.name, feed.description);
            }
        }
        FeedCommand::Delete { name, yes } => {
            if !feeds::list(wharf)
                .await?
                .iter()
                .any(|f| f.name.eq_ignore_ascii_case(&name))
            {
                anyhow::bail!("The feed '{name}' does not exist.");
            }
            let scoped = keys::list(wharf)
                .await?
                .into_iter()
                .filter(|k| k.scope.covers(&name.to_ascii_lowercase()) && k.scope != FeedScope::All)
                .count();
            let consequence = format!(
                "Deleting feed '{name}' deletes every package in it. {scoped} API key(s) are limited to it; \
                 they keep that limit and reach nothing unless a feed named '{name}' is created again \
                 (revoke them with `wharf key revoke`)."
            );
            if !yes {
                anyhow::bail!("{consequence} Run again with --yes to delete it.");
            }
            feeds::delete(wharf, &name).await?;
            eprintln!("Deleted feed '{name}'. {scoped} API key(s) were limited to it.");
        }
    }
    Ok(())
}

async fn key(wharf: &Wharf, command: KeyCommand) -> anyhow::Result<()> {
    match command {
        KeyCommand::Create(args) => {
            let created = keys::create(
                wharf,
                keys::NewKey {
                    name: args.name,
                    permissions: args.permissions,
                    feeds: args.feeds,
                    fixed_key: None,
                    expires_at: args
                        .expires_in_days
                        .map(|days| chrono::Utc::now() + chrono::Duration::days(days.into())),
                },
            )
            .await?;
            println!("{}", created.key.expose_secret());
        }
        KeyCommand::List => {
            let existing: Vec<String> = feeds::list(wharf)
                .await?
                .into_iter()
                .map(|f| f.name.to_ascii_lowercase())
                .collect();
            for key in keys::list(wharf).await? {
                // A deleted feed is no longer shown; a key left with none
                // says that it reaches nothing.
                let feeds = match &key.scope {
                    FeedScope::All => "*".to_owned(),
                    FeedScope::Only(names) => {
                        let live: Vec<&str> = names
                            .iter()
                            .filter(|n| existing.contains(n))
                            .map(String::as_str)
                            .collect();
                        if live.is_empty() {
                            "(none: its feeds were deleted)".to_owned()
                        } else {
                            live.join(",")
                        }
                    }
                };
                let last_used = key
                    .last_used_at
                    .map_or_else(|| "never".to_owned(), |t| t.to_rfc3339());
                println!(
                    "{}\t{}\t{}\tfeeds={feeds}\tcreated={}\tlast_used={last_used}",
                    key.id,
                    key.name,
                    key.permissions.join(","),
                    key.created_at.to_rfc3339()
                );
            }
        }
        KeyCommand::Revoke { id } => {
            keys::revoke(wharf, &id).await?;
            eprintln!("Revoked key '{id}'.");
        }
    }
    Ok(())
}

async fn user(wharf: &Wharf, command: UserCommand) -> anyhow::Result<()> {
    match command {
        UserCommand::Create {
            username,
            permissions,
            feeds,
        } => {
            let password = if let Ok(password) = std::env::var("WHARF_USER_PASSWORD") {
                password
            } else {
                let mut input = String::new();
                std::io::stdin().read_to_string(&mut input)?;
                input.trim_end_matches(['\r', '\n']).to_owned()
            };
            users::create(wharf, &username, &password, &permissions, &feeds).await?;
            eprintln!("Created user '{username}'.");
        }
        UserCommand::List => {
            for user in users::list(wharf).await? {
                let feeds = user.scope.to_stored().unwrap_or_else(|| "*".to_owned());
                println!(
                    "{}\t{}\tfeeds={feeds}",
                    user.username,
                    user.permissions.join(",")
                );
            }
        }
        UserCommand::Delete { username } => {
            users::delete(wharf, &username).await?;
            eprintln!("Deleted user '{username}'.");
        }
    }
    Ok(())
}
