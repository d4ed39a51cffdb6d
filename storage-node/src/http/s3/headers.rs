//! The standard object headers (`Cache-Control`, `Content-Disposition`, `Content-Encoding`,
//! `Content-Language`, `Expires`, `Content-Type`), stored with the object and returned on GET and
//! HEAD, with GET's `response-*` query overrides; and the `x-amz-tagging` header. User metadata
//! (`x-amz-meta-*`) is RFC 2047-decoded by `s3s` on the way in and encoded on the way out, as AWS
//! does for non-ASCII values.

use std::collections::BTreeMap;

use s3s::dto::{Metadata, Timestamp, TimestampFormat};
use s3s::{S3Result, s3_error};

use crate::store::ObjectAttrs;

/// At most this many tags per object, as S3.
pub(super) const MAX_TAGS: usize = 10;
const MAX_TAG_KEY: usize = 128;
const MAX_TAG_VALUE: usize = 256;

/// The standard headers of a write request.
#[derive(Debug, Default)]
pub(super) struct Standard {
    pub content_type: Option<String>,
    pub cache_control: Option<String>,
    pub content_disposition: Option<String>,
    pub content_encoding: Option<String>,
    pub content_language: Option<String>,
    pub expires: Option<Timestamp>,
}

/// The attributes a PUT, CreateMultipartUpload or CopyObject (REPLACE) sets.
pub(super) fn attrs(
    std: Standard,
    metadata: Option<Metadata>,
    tagging: Option<&str>,
) -> S3Result<ObjectAttrs> {
    Ok(ObjectAttrs {
        content_type: std.content_type,
        user_metadata: metadata
            .map(|m| m.into_iter().collect())
            .unwrap_or_default(),
        cache_control: std.cache_control,
        content_disposition: std.content_disposition,
        // `aws-chunked` is the transfer coding of the request, never the object's (AWS drops it).
        content_encoding: std.content_encoding.and_then(|e| {
            let kept: Vec<&str> = e
                .split(',')
                .map(str::trim)
                .filter(|c| !c.is_empty() && !c.eq_ignore_ascii_case("aws-chunked"))
                .collect();
            (!kept.is_empty()).then(|| kept.join(","))
        }),
        content_language: std.content_language,
        expires: std.expires.as_ref().and_then(format_date),
        tags: match tagging {
            Some(t) => parse_tagging_header(t)?,
            None => BTreeMap::new(),
        },
        sse_c: None,
        part_sizes: Vec::new(),
        upload_id: None,
    })
}

fn format_date(t: &Timestamp) -> Option<String> {
    let mut buf = Vec::new();
    t.format(TimestampFormat::HttpDate, &mut buf).ok()?;
    String::from_utf8(buf).ok()
}

fn parse_date(s: &str) -> Option<Timestamp> {
    Timestamp::parse(TimestampFormat::HttpDate, s).ok()
}

/// The headers a GET or HEAD returns: the stored ones, each replaced by its `response-*` override.
#[derive(Debug, Default)]
pub(super) struct Out {
    pub content_type: Option<String>,
    pub cache_control: Option<String>,
    pub content_disposition: Option<String>,
    pub content_encoding: Option<String>,
    pub content_language: Option<String>,
    pub expires: Option<Timestamp>,
}

/// `response-*` query parameters.
#[derive(Debug, Default)]
pub(super) struct Overrides {
    pub content_type: Option<String>,
    pub cache_control: Option<String>,
    pub content_disposition: Option<String>,
    pub content_encoding: Option<String>,
    pub content_language: Option<String>,
    pub expires: Option<Timestamp>,
}

pub(super) fn out(a: &ObjectAttrs, o: Overrides) -> Out {
    Out {
        content_type: o.content_type.or_else(|| a.content_type.clone()),
        cache_control: o.cache_control.or_else(|| a.cache_control.clone()),
        content_disposition: o
            .content_disposition
            .or_else(|| a.content_disposition.clone()),
        content_encoding: o.content_encoding.or_else(|| a.content_encoding.clone()),
        content_language: o.content_language.or_else(|| a.content_language.clone()),
        expires: o
            .expires
            .or_else(|| a.expires.as_deref().and_then(parse_date)),
    }
}

pub(super) fn metadata(m: &BTreeMap<String, String>) -> Option<Metadata> {
    if m.is_empty() {
        None
    } else {
        Some(m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
    }
}

/// Decodes `%XX` and `+` of a URL-encoded form value.
fn form_decode(s: &str) -> S3Result<String> {
    let bad = || {
        s3_error!(
            InvalidArgument,
            "The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded URL query parameters without tag name duplicates."
        )
    };
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = b.get(i + 1..i + 3).ok_or_else(bad)?;
                let hex = std::str::from_utf8(hex).map_err(|_| bad())?;
                out.push(u8::from_str_radix(hex, 16).map_err(|_| bad())?);
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| bad())
}

/// `x-amz-tagging: k1=v1&k2=v2`.
pub(super) fn parse_tagging_header(h: &str) -> S3Result<BTreeMap<String, String>> {
    let mut tags = BTreeMap::new();
    for pair in h.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (k, v) = (form_decode(k)?, form_decode(v)?);
        if tags.insert(k, v).is_some() {
            return Err(s3_error!(
                InvalidTag,
                "Cannot provide multiple Tags with the same key"
            ));
        }
    }
    check_tags(&tags)?;
    Ok(tags)
}

/// S3's limits on a tag set.
pub(super) fn check_tags(tags: &BTreeMap<String, String>) -> S3Result<()> {
    if tags.len() > MAX_TAGS {
        return Err(s3_error!(
            InvalidTag,
            "Object tags cannot be greater than 10"
        ));
    }
    for (k, v) in tags {
        if k.is_empty() || k.chars().count() > MAX_TAG_KEY {
            return Err(s3_error!(
                InvalidTag,
                "The TagKey you have provided is invalid"
            ));
        }
        if v.chars().count() > MAX_TAG_VALUE {
            return Err(s3_error!(
                InvalidTag,
                "The TagValue you have provided is invalid"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
