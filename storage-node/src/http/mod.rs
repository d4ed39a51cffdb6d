//! The HTTP side of the node: the S3 API (`s3`, `checksums`, `error`, wrapped by `metered`), its
//! optional TLS (`tls`), the admin routes (`admin`), and the accept loops (`server`, with `expect`'s
//! connection close after a bodiless `Expect: 100-continue`).
//! Nothing here touches the file system except through `crate::store`.

pub mod admin;
pub mod auth;
mod checksums;
pub mod compat;
pub mod cors_preflight;
pub mod error;
mod expect;
pub mod metered;
pub mod s3;
pub mod server;
pub mod tls;
