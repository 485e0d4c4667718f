//! The S3-compatible backend: how a bucket is reached, and how a spooled
//! upload gets into it.
//!
//! Failures must surface in seconds, not minutes: a process whose bucket is
//! gone should answer 503 while its load balancer still waits, so retries
//! and timeouts are set tighter than `object_store`'s defaults (ten retries
//! over three minutes). The overall timeout is long, because it covers the
//! whole body of a multi-gigabyte download; a stalled one is resumed by
//! `object_store` with a ranged request.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, PutPayload, WriteMultipart};

use crate::config::S3Settings;

/// Files up to this size go up in one `PUT`; larger ones in parts of this
/// size (S3 wants parts of at least 5 MiB, except the last).
pub(super) const PART_BYTES: usize = 8 * 1024 * 1024;

/// Parts of one upload sent at once.
const PARTS_IN_FLIGHT: usize = 4;

/// Retries of one request that failed for a reason worth retrying.
const MAX_RETRIES: usize = 3;
/// No retry starts later than this after the first try.
const RETRY_WINDOW: Duration = Duration::from_secs(15);
/// Longest wait for a connection to the server.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest one request may take, body included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// The bucket `settings` name, as an object store with the prefix applied.
#[cfg(feature = "s3")]
pub(super) fn connect(settings: &S3Settings) -> anyhow::Result<Arc<dyn ObjectStore>> {
    use object_store::aws::AmazonS3Builder;
    use object_store::{ClientOptions, RetryConfig};
    use secrecy::ExposeSecret;

    anyhow::ensure!(
        !settings.bucket.is_empty(),
        "storage.backend is s3 but storage.s3.bucket is empty: name the bucket"
    );
    let mut builder = AmazonS3Builder::from_env()
        .with_bucket_name(&settings.bucket)
        .with_region(&settings.region)
        .with_virtual_hosted_style_request(settings.virtual_hosted_style)
        .with_retry(RetryConfig {
            max_retries: MAX_RETRIES,
            retry_timeout: RETRY_WINDOW,
            ..RetryConfig::default()
        })
        .with_client_options(
            ClientOptions::new()
                .with_connect_timeout(CONNECT_TIMEOUT)
                .with_timeout(REQUEST_TIMEOUT)
                .with_allow_http(settings.endpoint.starts_with("http://")),
        );
    if !settings.endpoint.is_empty() {
        builder = builder.with_endpoint(&settings.endpoint);
    }
    // Over TLS the body's integrity is the connection's: signing its SHA-256
    // too would hash every uploaded byte once more (seconds per GiB). Over
    // plain HTTP the signature is all that guards the bytes, so it stays.
    let over_tls = settings.endpoint.is_empty() || settings.endpoint.starts_with("https://");
    builder = builder.with_unsigned_payload(over_tls);
    if let Some(id) = &settings.access_key_id {
        builder = builder.with_access_key_id(id);
    }
    if let Some(secret) = &settings.secret_access_key {
        builder = builder.with_secret_access_key(secret.expose_secret());
    }
    let bucket = builder.build().with_context(|| {
        format!(
            "cannot use the S3 bucket {:?} at {}",
            settings.bucket,
            describe_endpoint(settings)
        )
    })?;
    Ok(if settings.prefix.trim_matches('/').is_empty() {
        Arc::new(bucket)
    } else {
        Arc::new(object_store::prefix::PrefixStore::new(
            bucket,
            settings.prefix.trim_matches('/'),
        ))
    })
}

/// Without the `s3` feature, a clear refusal.
#[cfg(not(feature = "s3"))]
pub(super) fn connect(_settings: &S3Settings) -> anyhow::Result<Arc<dyn ObjectStore>> {
    anyhow::bail!(
        "storage.backend is s3, but this build of Wharf was made without S3 support \
         (build it with the default cargo feature `s3`)"
    )
}

/// Where the bucket is, for messages: the endpoint, or AWS.
pub(super) fn describe_endpoint(settings: &S3Settings) -> String {
    if settings.endpoint.is_empty() {
        format!("AWS S3 ({})", settings.region)
    } else {
        settings.endpoint.clone()
    }
}

/// Copies the file at `source` to `path`: one `PUT` when it is small, a
/// multipart upload otherwise, aborted if any part fails (so the bucket
/// keeps no orphaned parts).
pub(super) async fn upload_file(
    store: &dyn ObjectStore,
    path: &StorePath,
    source: &Path,
) -> anyhow::Result<()> {
    use tokio::io::AsyncReadExt;
    let mut file = tokio::fs::File::open(source).await?;
    let size = file.metadata().await?.len();
    if size <= PART_BYTES as u64 {
        let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(PART_BYTES));
        file.read_to_end(&mut bytes).await?;
        store.put(path, PutPayload::from(bytes)).await?;
        return Ok(());
    }
    let mut upload =
        WriteMultipart::new_with_chunk_size(store.put_multipart(path).await?, PART_BYTES);
    let copied = async {
        let mut buffer = vec![0u8; 1024 * 1024];
        loop {
            let read = file.read(&mut buffer).await?;
            if read == 0 {
                break;
            }
            upload.wait_for_capacity(PARTS_IN_FLIGHT).await?;
            upload.write(&buffer[..read]);
        }
        anyhow::Ok(())
    }
    .await;
    if let Err(e) = copied {
        if let Err(abort) = upload.abort().await {
            tracing::warn!(error = %abort, "could not abort a failed multipart upload; the bucket's lifecycle rule for incomplete uploads will remove its parts");
        }
        return Err(e);
    }
    upload.finish().await?;
    Ok(())
}
