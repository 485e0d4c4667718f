//! `wharf connector create|list|delete`: a feed's remote feeds, from a shell.
//! Credentials come from an environment variable named on the command line
//! (`--api-key-env VAR`), never from an argument a process list would show.

use clap::Subcommand;

use crate::service::Wharf;
use crate::service::connectors::{self, ConnectorSpec, Credentials};

#[derive(Debug, Subcommand)]
pub enum ConnectorCommand {
    /// Add a remote feed to the end of a feed's connectors.
    Create {
        /// The feed it serves.
        feed: String,
        /// The remote feed's Universal Feed API address (`https://host/upack/feed`).
        url: String,
        /// Its name (default: the feed and the URL's host).
        #[arg(long)]
        name: Option<String>,
        /// Seconds a request to the remote may take (default 30).
        #[arg(long)]
        timeout_seconds: Option<i32>,
        /// Only package names matching this pattern ('*' is a wildcard); repeatable.
        #[arg(long)]
        include: Vec<String>,
        /// Never package names matching this pattern; repeatable.
        #[arg(long)]
        exclude: Vec<String>,
        /// The environment variable holding the remote's API key (sealed with `connectors.secret_key`).
        #[arg(long)]
        api_key_env: Option<String>,
    },
    /// List connectors, by feed and in order.
    List {
        /// Only this feed's.
        #[arg(long)]
        feed: Option<String>,
    },
    /// Delete a connector.
    Delete {
        /// Its name.
        name: String,
    },
}

pub async fn connector(wharf: &Wharf, command: ConnectorCommand) -> anyhow::Result<()> {
    match command {
        ConnectorCommand::Create {
            feed,
            url,
            name,
            timeout_seconds,
            include,
            exclude,
            api_key_env,
        } => {
            let credentials = match api_key_env {
                Some(variable) => Some(Credentials::ApiKey(std::env::var(&variable).map_err(
                    |_| anyhow::anyhow!("the environment variable {variable} is not set"),
                )?)),
                None => None,
            };
            let spec = ConnectorSpec {
                url,
                timeout_seconds,
                include,
                exclude,
                credentials,
            };
            let created = connectors::create(wharf, &feed, name.as_deref(), &spec).await?;
            println!(
                "Connector '{}' added to feed '{}' (number {}): {}",
                created.name, created.feed, created.position, created.url
            );
        }
        ConnectorCommand::List { feed } => {
            let found = connectors::list(wharf, feed.as_deref()).await?;
            if found.is_empty() {
                println!("No connectors.");
            }
            for c in found {
                let filters: Vec<String> = c
                    .include
                    .iter()
                    .cloned()
                    .chain(c.exclude.iter().map(|p| format!("!{p}")))
                    .collect();
                println!(
                    "{} {} #{} {} timeout={}s credentials={} filters={}",
                    c.feed,
                    c.name,
                    c.position,
                    c.url,
                    c.timeout_seconds,
                    if c.has_credentials { "yes" } else { "no" },
                    if filters.is_empty() {
                        "*".to_owned()
                    } else {
                        filters.join(",")
                    }
                );
            }
        }
        ConnectorCommand::Delete { name } => {
            connectors::delete(wharf, &name).await?;
            println!("Connector '{name}' deleted.");
        }
    }
    Ok(())
}
