//! The `wharf` command line: `serve` (the default) and the operator
//! subcommands. Every subcommand reads the same settings as `serve`, so it
//! acts on the same database.

use std::io::Read;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use secrecy::ExposeSecret;

use crate::config::{self, Overrides};
use crate::service::{Wharf, feeds, gc, keys, users};
use crate::startup::Application;

/// A universal package feed server, compatible with `ProGet`'s Universal Feed API.
#[derive(Debug, Parser)]
#[command(name = "wharf", version, about)]
pub struct Cli {
    /// Address to listen on [env: `WHARF_BIND`] [default: 127.0.0.1:8624]
    #[arg(long, global = true)]
    bind: Option<String>,
    /// Directory for the `SQLite` file, blobs and temporary files [env: `WHARF_DATA_DIR`] [default: ./wharf-data]
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// sqlite://... or postgres://... [env: `DATABASE_URL`] [default: sqlite://<data-dir>/wharf.db]
    #[arg(long, global = true)]
    database_url: Option<String>,
    /// TOML configuration file
    #[arg(long, global = true, env = "WHARF_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the API (the default).
    Serve,
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
        name: String,
        /// Let anonymous callers view and download.
        #[arg(long)]
        public: bool,
        #[arg(long, default_value = "")]
        description: String,
    },
    /// List feeds, one per line.
    List,
    /// Delete a feed and its packages.
    Delete { name: String },
}

#[derive(Debug, Subcommand)]
enum KeyCommand {
    /// Create a key and print it (only the key, on stdout).
    Create(KeyCreate),
    /// List keys, one per line (never the key text: only hashes are stored).
    List,
    /// Revoke a key by its id.
    Revoke { id: String },
}

#[derive(Debug, Args)]
struct KeyCreate {
    /// A label for people.
    #[arg(long, default_value = "")]
    name: String,
    /// Limit the key to these feeds (comma-separated); all feeds by default.
    #[arg(long, value_delimiter = ',')]
    feeds: Vec<String>,
    /// view,download,add,overwrite,delete,promote or admin
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
        username: String,
        #[arg(long)]
        permissions: String,
        #[arg(long, value_delimiter = ',')]
        feeds: Vec<String>,
    },
    /// List users, one per line.
    List,
    /// Delete a user.
    Delete { username: String },
}

/// Runs the command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let overrides = Overrides {
        bind: cli.bind,
        data_dir: cli.data_dir,
        database_url: cli.database_url,
    };
    let layers = config::load::layers(cli.config.as_deref(), std::env::vars(), &overrides)?;
    let settings = config::load::extract(&layers)?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Config(ConfigCommand::Show) => {
            print!(
                "{}",
                config::show::render(&config::show::effective(&layers, &settings))
            );
        }
        Command::Serve => {
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
        FeedCommand::Delete { name } => {
            feeds::delete(wharf, &name).await?;
            eprintln!("Deleted feed '{name}'.");
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
            for key in keys::list(wharf).await? {
                let feeds = key.scope.to_stored().unwrap_or_else(|| "*".to_owned());
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
