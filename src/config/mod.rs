//! Settings: what they are and their defaults.
//!
//! Layers (built-in defaults < TOML file < environment < command-line flags)
//! are merged by `figment` in [`load`]; [`show`] prints the result with the
//! layer each value came from. Every setting has a TOML key
//! `<section>.<key>` and a variable `WHARF_<SECTION>__<KEY>`; the short names
//! in [`load::ALIASES`] are a stable interface that scripts depend on: add
//! names, rename none. Secrets (database URL, admin key) are `SecretString`s,
//! so `Debug`, logs and `wharf config show` show them redacted.

use std::path::PathBuf;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::upack;

pub mod load;
pub mod proxies;
pub mod show;

pub use load::{ALIASES, Overrides};
pub use proxies::TrustedProxies;

/// All of Wharf's settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Address to listen on.
    pub bind: String,
    /// Directory for the `SQLite` file, blobs and temporary files.
    pub data_dir: PathBuf,
    /// `sqlite://...` or `postgres://...`; `None` means the `SQLite` file in
    /// `data_dir`.
    #[serde(serialize_with = "show::url_without_password")]
    pub database_url: Option<SecretString>,
    /// The first administrator key, instead of a generated one.
    #[serde(serialize_with = "show::redacted")]
    pub admin_api_key: Option<SecretString>,
    /// The first administrator user's password, instead of a generated one.
    #[serde(serialize_with = "show::redacted")]
    pub admin_password: Option<SecretString>,
    /// Database connections.
    pub database: DatabaseSettings,
    /// Authentication.
    pub auth: AuthSettings,
    /// Size limits.
    pub limits: LimitSettings,
    /// Virtual packages.
    pub vpack: VpackSettings,
    /// Long-running operations (export, pull).
    pub operations: OperationSettings,
    /// Where exports may write.
    pub export: ExportSettings,
    /// Connectors to remote feeds.
    pub connectors: ConnectorSettings,
    /// Logs (their filter is `WHARF_LOG`, not a setting).
    pub log: LogSettings,
    /// Where package bytes are kept.
    pub storage: StorageSettings,
}

/// Where package bytes are kept.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageSettings {
    /// `local` (the `store` folder in `data_dir`) or `s3` (a bucket shared
    /// by every process, as several processes behind a load balancer need).
    pub backend: StorageBackend,
    /// The bucket, for `backend = "s3"`.
    pub s3: S3Settings,
}

/// Which blob store holds package bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StorageBackend {
    /// A folder on this machine.
    #[default]
    Local,
    /// An S3-compatible bucket.
    S3,
}

/// An S3-compatible bucket. Credentials left out here come from the
/// standard AWS variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
/// `AWS_SESSION_TOKEN`, `AWS_REGION`, ...), then the instance's role.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct S3Settings {
    /// The bucket's name.
    pub bucket: String,
    /// The service's URL for servers other than AWS (`MinIO`, Ceph RGW,
    /// R2, Garage): `http://minio:9000`. Empty means AWS S3.
    pub endpoint: String,
    /// The bucket's region (`us-east-1` if unsure on other servers).
    pub region: String,
    /// A folder inside the bucket that holds Wharf's objects (empty: the
    /// bucket's root), so one bucket can serve several installations.
    pub prefix: String,
    /// The access key's id, instead of `AWS_ACCESS_KEY_ID`.
    pub access_key_id: Option<String>,
    /// The access key's secret, instead of `AWS_SECRET_ACCESS_KEY`.
    #[serde(serialize_with = "show::redacted")]
    pub secret_access_key: Option<SecretString>,
    /// `bucket.host` addressing instead of `host/bucket`; most servers
    /// other than AWS want the default, path-style.
    pub virtual_hosted_style: bool,
}

impl Default for S3Settings {
    fn default() -> Self {
        Self {
            bucket: String::new(),
            endpoint: String::new(),
            region: "us-east-1".to_owned(),
            prefix: String::new(),
            access_key_id: None,
            secret_access_key: None,
            virtual_hosted_style: false,
        }
    }
}

/// Log settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogSettings {
    /// `text` (one readable line per event) or `json` (one object per line,
    /// for log shippers); applies to the access log and every other line.
    pub format: LogFormat,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// `key=value` pairs after a timestamp and a level.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Connector settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConnectorSettings {
    /// The key that seals connector credentials in the database: 32 random
    /// bytes in base64. Without it, connectors cannot have credentials.
    #[serde(serialize_with = "show::redacted")]
    pub secret_key: Option<SecretString>,
    /// How long what a remote feed lists is remembered, in seconds (a
    /// version it did not list is asked for again before a 404).
    pub metadata_cache_seconds: u64,
}

impl Default for ConnectorSettings {
    fn default() -> Self {
        Self {
            secret_key: None,
            metadata_cache_seconds: 300,
        }
    }
}

/// How operations are run.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OperationSettings {
    /// Operations this process runs at once.
    pub workers: u32,
    /// How long a claim on an operation lasts without renewal, in seconds;
    /// a process that dies holding one leaves it to others after this long.
    pub lease_seconds: u64,
    /// Runs of one operation (the first and its retries after a process
    /// died running it) before it fails.
    pub max_attempts: u32,
}

impl Default for OperationSettings {
    fn default() -> Self {
        Self {
            workers: 2,
            lease_seconds: 30,
            max_attempts: 3,
        }
    }
}

/// Where exports may write.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExportSettings {
    /// Absolute directories under which `file://` containers may be; empty
    /// (the default) refuses every `file://` export. A comma-separated string
    /// is accepted too (the form an environment variable gives).
    #[serde(deserialize_with = "load::list_or_comma_separated")]
    pub allowed_roots: Vec<String>,
    /// Buckets (`bucket`, or `bucket/prefix` for a folder of one) that
    /// `s3://` containers may be in, reached with `storage.s3`'s endpoint,
    /// region and credentials; empty (the default) refuses every `s3://`
    /// export. Comma-separated in an environment variable.
    #[serde(deserialize_with = "load::list_or_comma_separated")]
    pub allowed_buckets: Vec<String>,
}

/// Database connection settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseSettings {
    /// Most connections in the pool (default: 16 on `PostgreSQL`, 8 on
    /// `SQLite`). Several processes on one `PostgreSQL` share its
    /// `max_connections`.
    pub max_connections: Option<u32>,
}

/// Virtual package settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VpackSettings {
    /// Hosts that URL sources in virtual packages may be fetched from. Empty
    /// (the default) refuses every URL source. A comma-separated string is
    /// accepted too (the form an environment variable gives).
    #[serde(deserialize_with = "load::list_or_comma_separated")]
    pub url_allowlist: Vec<String>,
    /// Largest URL source one assembly fetches; never more than
    /// `limits.max_upload_bytes`.
    pub max_url_source_bytes: u64,
}

impl Default for VpackSettings {
    fn default() -> Self {
        Self {
            url_allowlist: Vec::new(),
            max_url_source_bytes: 256 * 1024 * 1024,
        }
    }
}

/// Authentication settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthSettings {
    /// Answer requests without credentials that need them with 401 and a
    /// Basic challenge, instead of 403.
    pub challenge: bool,
    /// How long a successful argon2 verification is remembered, in seconds.
    pub verified_cache_seconds: u64,
    /// How long a web sign-in lasts, in hours.
    pub session_hours: u32,
    /// argon2id cost parameters for new keys and passwords.
    pub argon2: Argon2Settings,
    /// Failed authentications allowed per client address per minute before
    /// further attempts from it are answered 429 (0 turns the limit off).
    pub max_failures_per_minute: u32,
    /// Proxies (addresses or CIDR blocks) whose `X-Forwarded-For` names the
    /// client, for the failure limit and the access log: the load balancer
    /// in front of Wharf. Empty (the default): the peer is the client. A
    /// comma-separated string is accepted too.
    pub trusted_proxies: TrustedProxies,
}

/// argon2id cost parameters (OWASP's recommended minimum by default).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Argon2Settings {
    /// Memory cost in KiB.
    pub memory_kib: u32,
    /// Number of passes.
    pub iterations: u32,
    /// Degree of parallelism.
    pub parallelism: u32,
}

/// Size limits.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitSettings {
    /// Largest accepted upload body.
    pub max_upload_bytes: u64,
    /// Longest pause between two parts of an upload body before the upload
    /// is abandoned (408) and its spool file removed.
    pub upload_idle_seconds: u64,
    /// Most entries one archive may hold.
    pub max_entries: usize,
    /// Largest total of an archive's declared uncompressed sizes.
    pub max_inflated_bytes: u64,
    /// Largest `upack.json` (or JSON virtual manifest).
    pub max_manifest_bytes: u64,
    /// Largest uncompressed/compressed ratio for an entry over 1 MiB.
    pub max_compression_ratio: u64,
}

impl LimitSettings {
    /// The limits applied to every package's archive.
    pub fn package(&self) -> upack::Limits {
        upack::Limits {
            max_entries: self.max_entries,
            max_inflated_bytes: self.max_inflated_bytes,
            max_manifest_bytes: self.max_manifest_bytes,
            max_compression_ratio: self.max_compression_ratio,
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8624".to_owned(),
            data_dir: PathBuf::from("./wharf-data"),
            database_url: None,
            admin_api_key: None,
            admin_password: None,
            database: DatabaseSettings::default(),
            auth: AuthSettings::default(),
            limits: LimitSettings::default(),
            vpack: VpackSettings::default(),
            operations: OperationSettings::default(),
            export: ExportSettings::default(),
            connectors: ConnectorSettings::default(),
            log: LogSettings::default(),
            storage: StorageSettings::default(),
        }
    }
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            challenge: false,
            verified_cache_seconds: 60,
            session_hours: 12,
            argon2: Argon2Settings::default(),
            max_failures_per_minute: 30,
            trusted_proxies: TrustedProxies::default(),
        }
    }
}

impl Default for Argon2Settings {
    fn default() -> Self {
        Self {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
        }
    }
}

impl Default for LimitSettings {
    fn default() -> Self {
        Self {
            max_upload_bytes: 10 * 1024 * 1024 * 1024,
            upload_idle_seconds: 60,
            max_entries: upack::Limits::default().max_entries,
            max_inflated_bytes: upack::Limits::default().max_inflated_bytes,
            max_manifest_bytes: upack::Limits::default().max_manifest_bytes,
            max_compression_ratio: upack::Limits::default().max_compression_ratio,
        }
    }
}

impl Settings {
    /// The database URL in effect (the `SQLite` file in the data directory
    /// unless one was given).
    pub fn database_url(&self) -> SecretString {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!("sqlite://{}", self.data_dir.join("wharf.db").display()).into(),
        }
    }

    /// Where spooled uploads and other temporary files go. Inside the data
    /// directory, so a spooled file can be linked into the blob store.
    pub fn temp_dir(&self) -> PathBuf {
        self.data_dir.join("tmp")
    }

    /// Where the local blob store lives.
    pub fn blob_dir(&self) -> PathBuf {
        self.data_dir.join("store")
    }

    /// Whether the database URL names `PostgreSQL`.
    pub fn uses_postgres(&self) -> bool {
        self.database_url().expose_secret().starts_with("postgres")
    }
}
