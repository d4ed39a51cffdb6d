//! [`WithReplication`]: puts the replication routes (under `wire::PREFIX`) in front of the S3
//! service on the same listener. Replication requests never reach `s3s` or the S3 op metrics.

use std::sync::Arc;

use bytes::Bytes;
use futures::future::BoxFuture;
use http::{Request, Response};
use http_body_util::{Either, Full};
use hyper::body::Incoming;

use super::receiver::Receiver;
use super::wire::PREFIX;

/// The S3 service plus the replication routes.
#[derive(Debug, Clone)]
pub struct WithReplication<S> {
    inner: S,
    receiver: Arc<Receiver>,
}

impl<S> WithReplication<S> {
    pub fn new(inner: S, receiver: Arc<Receiver>) -> Self {
        WithReplication { inner, receiver }
    }
}

impl<S, B> hyper::service::Service<Request<Incoming>> for WithReplication<S>
where
    S: hyper::service::Service<Request<Incoming>, Response = Response<B>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: Send + 'static,
{
    type Response = Response<Either<B, Full<Bytes>>>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        if req.uri().path().starts_with(PREFIX) {
            let receiver = self.receiver.clone();
            return Box::pin(async move { Ok(receiver.handle(req).await.map(Either::Right)) });
        }
        let fut = self.inner.call(req);
        Box::pin(async move { Ok(fut.await?.map(Either::Left)) })
    }
}
