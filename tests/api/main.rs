//! Integration tests: the real server on a loopback socket, driven over HTTP,
//! each test on `SQLite` and on `PostgreSQL` (see `dual_backend_tests!`).

/// Generates `sqlite::<test>` and `postgres::<test>` for each listed
/// `async fn <test>(backend: Backend)`, so nextest filters can pick a backend.
macro_rules! dual_backend_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Postgres).await
                }
            )*
        }
    };
}

mod access_log;
mod auth;
mod authorization;
mod blob_rows;
mod browser;
mod caching;
mod cli;
mod concurrency;
mod conformance;
mod connectors;
mod crash;
mod database;
mod download;
mod download_vpack;
mod gc;
mod hardening;
mod helpers;
mod hostile;
mod import;
mod latest;
mod listing;
mod management;
mod openapi;
mod operations;
mod packages_api;
mod pages;
mod paths;
mod promotion;
mod pull;
mod s3;
mod scale;
mod upload;
mod upstream;
mod vpack;
