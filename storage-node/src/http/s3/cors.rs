//! Bucket CORS (`?cors`): the rules are a bucket document in the store; `preflight` answers an
//! `OPTIONS` request from them (served by `crate::http::cors_preflight`, in front of `s3s`).

use serde::{Deserialize, Serialize};

use s3s::dto::*;
use s3s::{S3Result, s3_error};

use crate::http::error::to_s3;
use crate::store::{ObjectStore, StoreError};

/// The store's name for a bucket's CORS rules.
const BUCKET_DOC: &str = "cors";
/// S3 accepts at most 100 rules.
const MAX_RULES: usize = 100;
const METHODS: [&str; 5] = ["GET", "PUT", "POST", "DELETE", "HEAD"];

/// One CORS rule as stored.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Rule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub allowed_origins: Vec<String>,
    pub allowed_methods: Vec<String>,
    #[serde(default)]
    pub allowed_headers: Vec<String>,
    #[serde(default)]
    pub expose_headers: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age_seconds: Option<i32>,
}

/// `*` anywhere in a pattern (S3 allows one) matches any run of characters; case-insensitive for
/// headers, exact for origins.
fn wildcard(pattern: &str, value: &str, ignore_case: bool) -> bool {
    let (p, v) = if ignore_case {
        (pattern.to_ascii_lowercase(), value.to_ascii_lowercase())
    } else {
        (pattern.to_owned(), value.to_owned())
    };
    match p.split_once('*') {
        None => p == v,
        Some((pre, post)) => {
            v.len() >= pre.len() + post.len() && v.starts_with(pre) && v.ends_with(post)
        }
    }
}

/// What a matching rule allows for a preflight.
#[derive(Debug, PartialEq, Eq)]
pub struct Allowed {
    pub origin: String,
    pub methods: String,
    pub headers: Option<String>,
    pub expose: Option<String>,
    pub max_age: Option<i32>,
}

/// The first rule allowing `origin`, `method` and every requested header, as S3 evaluates them.
pub fn preflight(
    rules: &[Rule],
    origin: &str,
    method: &str,
    headers: &[String],
) -> Option<Allowed> {
    let rule = rules.iter().find(|r| {
        r.allowed_origins.iter().any(|o| wildcard(o, origin, false))
            && r.allowed_methods.iter().any(|m| m == method)
            && headers
                .iter()
                .all(|h| r.allowed_headers.iter().any(|a| wildcard(a, h, true)))
    })?;
    let any_origin = rule.allowed_origins.iter().any(|o| o == "*");
    Some(Allowed {
        origin: if any_origin {
            "*".to_owned()
        } else {
            origin.to_owned()
        },
        methods: rule.allowed_methods.join(", "),
        headers: (!headers.is_empty()).then(|| headers.join(", ")),
        expose: (!rule.expose_headers.is_empty()).then(|| rule.expose_headers.join(", ")),
        max_age: rule.max_age_seconds,
    })
}

/// The stored rules of a bucket; `None` when it has none.
pub async fn rules<S: ObjectStore>(
    store: &S,
    bucket: &str,
) -> Result<Option<Vec<Rule>>, StoreError> {
    let Some(doc) = store.get_bucket_config(bucket, BUCKET_DOC).await? else {
        return Ok(None);
    };
    serde_json::from_slice(&doc)
        .map(Some)
        .map_err(|e| StoreError::io("parse stored CORS rules", std::io::Error::other(e)))
}

pub(super) async fn put_bucket_cors<S: ObjectStore>(
    store: &S,
    input: PutBucketCorsInput,
) -> S3Result<()> {
    let rules = input.cors_configuration.cors_rules;
    if rules.is_empty() || rules.len() > MAX_RULES {
        return Err(s3_error!(
            MalformedXML,
            "a CORS configuration holds 1 to 100 rules"
        ));
    }
    let mut out = Vec::with_capacity(rules.len());
    for r in rules {
        if r.allowed_origins.is_empty() || r.allowed_methods.is_empty() {
            return Err(s3_error!(
                MalformedXML,
                "every CORS rule needs an origin and a method"
            ));
        }
        for m in &r.allowed_methods {
            if !METHODS.contains(&m.as_str()) {
                return Err(s3_error!(
                    InvalidRequest,
                    "Found unsupported HTTP method in CORS config. Unsupported method is {m}"
                ));
            }
        }
        for o in &r.allowed_origins {
            if o.matches('*').count() > 1 {
                return Err(s3_error!(
                    InvalidRequest,
                    "AllowedOrigin \"{o}\" can not have more than one wildcard."
                ));
            }
        }
        out.push(Rule {
            id: r.id,
            allowed_origins: r.allowed_origins,
            allowed_methods: r.allowed_methods,
            allowed_headers: r.allowed_headers.unwrap_or_default(),
            expose_headers: r.expose_headers.unwrap_or_default(),
            max_age_seconds: r.max_age_seconds,
        });
    }
    let doc = serde_json::to_vec(&out).map_err(|e| s3_error!(InternalError, "{e}"))?;
    store
        .put_bucket_config(&input.bucket, BUCKET_DOC, Some(doc))
        .await
        .map_err(to_s3)
}

pub(super) async fn get_bucket_cors<S: ObjectStore>(
    store: &S,
    bucket: &str,
) -> S3Result<GetBucketCorsOutput> {
    let rules = rules(store, bucket).await.map_err(to_s3)?.ok_or_else(|| {
        s3_error!(
            NoSuchCORSConfiguration,
            "The CORS configuration does not exist"
        )
    })?;
    Ok(GetBucketCorsOutput {
        cors_rules: Some(
            rules
                .into_iter()
                .map(|r| CORSRule {
                    id: r.id,
                    allowed_origins: r.allowed_origins,
                    allowed_methods: r.allowed_methods,
                    allowed_headers: (!r.allowed_headers.is_empty()).then_some(r.allowed_headers),
                    expose_headers: (!r.expose_headers.is_empty()).then_some(r.expose_headers),
                    max_age_seconds: r.max_age_seconds,
                })
                .collect(),
        ),
    })
}

pub(super) async fn delete_bucket_cors<S: ObjectStore>(store: &S, bucket: &str) -> S3Result<()> {
    store
        .put_bucket_config(bucket, BUCKET_DOC, None)
        .await
        .map_err(to_s3)
}

#[cfg(test)]
mod tests;
