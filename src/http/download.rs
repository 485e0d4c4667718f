//! Responses that serve stored bytes: `Content-Disposition`, `Content-Length`,
//! a strong `ETag` (the SHA-256 of the bytes), `Accept-Ranges`, conditional
//! GET (304) and single byte ranges (206).

use actix_web::http::header::{
    self, Charset, ContentDisposition, DispositionParam, DispositionType, ExtendedValue,
    HeaderName, HeaderValue, TryIntoHeaderValue,
};
use actix_web::{HttpRequest, HttpResponse};

use crate::error::ServiceError;
use crate::service::Wharf;
use crate::service::packages::{self, BlobBody, StoredBytes};

/// Streams stored bytes with download headers.
pub async fn stored_bytes(
    req: &HttpRequest,
    wharf: &Wharf,
    bytes: &StoredBytes,
    content_type: &str,
    file_name: String,
) -> Result<HttpResponse, ServiceError> {
    let size = u64::try_from(bytes.size_bytes).unwrap_or(0);
    let etag = format!("\"{}\"", bytes.blob_sha256);
    if none_match(req, &etag) {
        return Ok(HttpResponse::NotModified()
            .insert_header((header::ETAG, etag))
            .finish());
    }
    let range = requested_range(req, &etag, size)?;
    let mut response = match &range {
        Some(r) => {
            let mut partial = HttpResponse::PartialContent();
            partial.insert_header((
                header::CONTENT_RANGE,
                format!("bytes {}-{}/{size}", r.start, r.end - 1),
            ));
            partial
        }
        None => HttpResponse::Ok(),
    };
    let length = range.as_ref().map_or(size, |r| r.end - r.start);
    let body = packages::open_blob(wharf, bytes, range).await?;
    response
        .content_type(content_type)
        .insert_header(attachment(file_name))
        .insert_header((header::ETAG, etag))
        .insert_header((header::ACCEPT_RANGES, "bytes"));
    Ok(match body {
        BlobBody::Whole(bytes) => response.body(bytes),
        BlobBody::Stream(stream) => response.no_chunking(length).streaming(stream),
    })
}

/// `Content-Disposition: attachment; filename="..."`, plus RFC 6266's
/// `filename*=UTF-8''...` when the name is not ASCII (with an ASCII stand-in
/// in `filename` for clients that do not read `filename*`).
///
/// A name of printable ASCII that needs no escaping (nearly every package
/// file name) is written straight into the value: actix's
/// `ContentDisposition` formats each parameter through a regular expression,
/// which was 3 % of a manifest download's time. The text is the same.
pub fn attachment(file_name: String) -> (HeaderName, HeaderValue) {
    let plain = file_name
        .bytes()
        .all(|b| (b' '..=b'~').contains(&b) && b != b'"' && b != b'\\');
    let value = if plain {
        let mut text = String::with_capacity(file_name.len() + 22);
        text.push_str("attachment; filename=\"");
        text.push_str(&file_name);
        text.push('"');
        HeaderValue::try_from(text)
    } else {
        escaped_attachment(file_name).try_into_value()
    };
    // Every byte of either form is visible ASCII; an error cannot happen,
    // and a bare `attachment` would still save the file.
    let value = value.unwrap_or_else(|_| HeaderValue::from_static("attachment"));
    (header::CONTENT_DISPOSITION, value)
}

/// The general form of [`attachment`]: quoting and escaping by actix.
fn escaped_attachment(file_name: String) -> ContentDisposition {
    let mut parameters = Vec::with_capacity(2);
    if file_name.is_ascii() {
        parameters.push(DispositionParam::Filename(file_name));
    } else {
        let fallback = file_name
            .chars()
            .map(|c| if c.is_ascii() { c } else { '_' })
            .collect();
        parameters.push(DispositionParam::Filename(fallback));
        parameters.push(DispositionParam::FilenameExt(ExtendedValue {
            charset: Charset::Ext("UTF-8".to_owned()),
            language_tag: None,
            value: file_name.into_bytes(),
        }));
    }
    ContentDisposition {
        disposition: DispositionType::Attachment,
        parameters,
    }
}

/// Whether `If-None-Match` names this entity.
fn none_match(req: &HttpRequest, etag: &str) -> bool {
    req.headers()
        .get_all(header::IF_NONE_MATCH)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == "*" || t == etag)
}

/// The single byte range asked for, if any and if `If-Range` allows it.
/// Several ranges are answered with the whole body, which HTTP permits, and
/// so is a range in another unit or one that does not parse (RFC 9110
/// section 14.2: such a `Range` is ignored); only a well-formed byte range
/// wholly outside the content is 416.
fn requested_range(
    req: &HttpRequest,
    etag: &str,
    size: u64,
) -> Result<Option<std::ops::Range<u64>>, ServiceError> {
    let Some(value) = req
        .headers()
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
    else {
        return Ok(None);
    };
    if let Some(if_range) = req
        .headers()
        .get(header::IF_RANGE)
        .and_then(|v| v.to_str().ok())
        && if_range.trim() != etag
    {
        return Ok(None);
    }
    match http_range::HttpRange::parse(value, size) {
        Ok(ranges) if ranges.len() == 1 => {
            let r = ranges[0];
            Ok(Some(r.start..r.start + r.length))
        }
        Ok(_) | Err(http_range::HttpRangeParseError::InvalidRange) => Ok(None),
        Err(http_range::HttpRangeParseError::NoOverlap) => {
            Err(ServiceError::RangeNotSatisfiable { size })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_direct_value_is_the_text_actix_would_write() {
        for name in [
            "hdars-1.2.3.upack",
            "Release Notes (final).txt",
            "~weird but plain~.vpack",
            "quote\"d.txt",
            "back\\slash.txt",
            "naïve résumé.txt",
            "tab\tname.txt",
            "",
        ] {
            let (header_name, direct) = attachment(name.to_owned());
            assert_eq!(header_name, header::CONTENT_DISPOSITION);
            let general = escaped_attachment(name.to_owned())
                .try_into_value()
                .expect("actix formats every name");
            assert_eq!(direct, general, "for the file name {name:?}");
        }
    }
}
