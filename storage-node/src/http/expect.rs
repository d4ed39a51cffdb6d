//! `Expect: 100-continue` on a request without a body: the answer closes the connection.
//!
//! hyper never sends `100 Continue` when the framing says there is no body (`Content-Length: 0`),
//! which RFC 9110 §10.1.1 allows; it answers with the final response at once. botocore (boto3,
//! the AWS CLI) sends `Expect: 100-continue` on every PutObject/UploadPart, empty ones included,
//! and reads whatever status line comes during its 1 s wait as the final answer. It then keeps
//! that status line on the pooled connection (`AWSConnection.response_class` is only reset on
//! `close()` or a request without `Expect`), so the next PUT with `Expect` on that connection
//! parses the real status line as a header, loses every header (ETag included) and reads the body
//! until the connection closes (boto/botocore#3755): an `'ETag'` KeyError in s3transfer, or a
//! PutObject without ETag, after the header timeout. S3 itself always sends `100 Continue`;
//! hyper has no way to send it here, so the answer carries `Connection: close` instead: the
//! client closes the connection, which resets its state, and the next request opens a new one.
//!
//! A request with a body and `Expect` is safe: hyper sends `100 Continue` when the body is first
//! read, and closes the connection itself when a final answer comes before the body was read.

use futures::future::BoxFuture;
use http::header::{CONNECTION, EXPECT, HeaderValue};
use http::{HeaderMap, Request, Response};

/// Wraps a service so that its answer to a bodiless `Expect: 100-continue` request closes the
/// connection.
#[derive(Clone)]
pub struct CloseAfterBodilessExpect<S>(pub S);

/// Whether the request asks for `100 Continue` (the only expectation HTTP defines).
fn expects_continue(headers: &HeaderMap) -> bool {
    headers
        .get_all(EXPECT)
        .iter()
        .any(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"))
}

impl<S, ReqB, B> hyper::service::Service<Request<ReqB>> for CloseAfterBodilessExpect<S>
where
    S: hyper::service::Service<Request<ReqB>, Response = Response<B>>,
    S::Future: Send + 'static,
    ReqB: http_body::Body,
{
    type Response = Response<B>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn call(&self, req: Request<ReqB>) -> Self::Future {
        let close = expects_continue(req.headers()) && req.body().is_end_stream();
        let fut = self.0.call(req);
        Box::pin(async move {
            let mut resp = fut.await?;
            if close {
                resp.headers_mut()
                    .insert(CONNECTION, HeaderValue::from_static("close"));
            }
            Ok(resp)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use http_body_util::{Empty, Full};
    use hyper::service::Service;
    use std::convert::Infallible;

    type Req = Request<http_body_util::Either<Empty<Bytes>, Full<Bytes>>>;

    async fn answer(req: Req) -> Option<HeaderValue> {
        let svc = CloseAfterBodilessExpect(hyper::service::service_fn(|_req: Req| async {
            Ok::<_, Infallible>(Response::new(Empty::<Bytes>::new()))
        }));
        let resp = svc.call(req).await.unwrap_or_else(|e| match e {});
        resp.headers().get(CONNECTION).cloned()
    }

    fn req(expect: Option<&str>, body: &'static [u8]) -> Req {
        let mut b = Request::builder().method("PUT").uri("/b/k");
        if let Some(e) = expect {
            b = b.header(EXPECT, e);
        }
        let body = if body.is_empty() {
            http_body_util::Either::Left(Empty::new())
        } else {
            http_body_util::Either::Right(Full::new(Bytes::from_static(body)))
        };
        b.body(body).expect("a valid request")
    }

    #[tokio::test]
    async fn only_a_bodiless_expect_closes() {
        let close = Some(HeaderValue::from_static("close"));
        assert_eq!(answer(req(Some("100-continue"), b"")).await, close);
        assert_eq!(answer(req(Some("100-Continue"), b"")).await, close);
        assert_eq!(answer(req(Some("100-continue"), b"data")).await, None);
        assert_eq!(answer(req(None, b"")).await, None);
        assert_eq!(answer(req(Some("something-else"), b"")).await, None);
    }
}
