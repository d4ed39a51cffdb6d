//! The receiving side: the replication routes on the S3 listener (see `wire` for the protocol).
//! Every request is authenticated before anything is read or stored; each frame's MAC is checked
//! before its object becomes visible. Applied writes are not logged again (no bounce), and applying
//! the same frame twice is harmless: the store keeps the newer version.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use hmac::Mac;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};

use super::wire::{
    self, ApplyResponse, FrameHeader, Hello, HmacSha256, KeyVersion, VersionsRequest,
    VersionsResponse,
};
use crate::store::disk::DiskStore;
use crate::store::{ByteStream, FinishHook, MAX_OBJECT_SIZE, StoreError, now_ms};

/// Data is handed to the store in pieces of at most this size.
const CHUNK: usize = 1 << 20;
/// Frames up to this size are read whole, MAC-checked, and applied in groups, all of a group at
/// once, so the store's group commit makes a group durable with one fsync (the apply path writes no
/// durable state of its own: the sender's cursor moves on the answer); larger ones are streamed to
/// the store one at a time.
const INLINE_MAX: u64 = 1 << 20;
const GROUP_BYTES: u64 = 8 << 20;
const GROUP_FRAMES: usize = 64;

/// Serves the replication routes.
#[derive(Debug)]
pub struct Receiver {
    node_id: String,
    secret: Vec<u8>,
    incarnation: String,
    store: DiskStore,
}

fn reply(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r
}

fn json<T: serde::Serialize>(v: &T) -> Response<Full<Bytes>> {
    match serde_json::to_vec(v) {
        Ok(b) => {
            let mut r = reply(StatusCode::OK, b);
            r.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/json"),
            );
            r
        }
        Err(e) => reply(StatusCode::INTERNAL_SERVER_ERROR, format!("encode: {e}\n")),
    }
}

/// Pulls exact byte counts out of a streaming request body.
struct BodyReader<B> {
    body: B,
    buf: BytesMut,
    eof: bool,
}

impl<B> BodyReader<B>
where
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    async fn fill(&mut self, n: usize) -> std::io::Result<()> {
        while self.buf.len() < n && !self.eof {
            match self.body.frame().await {
                Some(Ok(f)) => {
                    if let Ok(d) = f.into_data() {
                        self.buf.extend_from_slice(&d);
                    }
                }
                Some(Err(e)) => return Err(std::io::Error::other(e.to_string())),
                None => self.eof = true,
            }
        }
        if self.buf.len() < n {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "body ended inside a frame",
            ));
        }
        Ok(())
    }

    async fn take(&mut self, n: usize) -> std::io::Result<Bytes> {
        self.fill(n).await?;
        Ok(self.buf.split_to(n).freeze())
    }

    /// Up to `max` bytes (at least one).
    async fn chunk(&mut self, max: usize) -> std::io::Result<Bytes> {
        if self.buf.is_empty() {
            self.fill(1).await?;
        }
        let n = self.buf.len().min(max);
        Ok(self.buf.split_to(n).freeze())
    }
}

/// A body stream fed by the request parser.
struct ChannelStream(tokio::sync::mpsc::Receiver<std::io::Result<Bytes>>);

impl futures::Stream for ChannelStream {
    type Item = std::io::Result<Bytes>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.poll_recv(cx)
    }
}

impl Receiver {
    pub fn new(node_id: String, secret: String, incarnation: String, store: DiskStore) -> Self {
        Receiver {
            node_id,
            secret: secret.into_bytes(),
            incarnation,
            store,
        }
    }

    /// Checks the request's signature headers; `Err` is the 403 to send.
    fn authenticate(
        &self,
        method: &Method,
        path: &str,
        headers: &http::HeaderMap,
        body_hash: &str,
    ) -> Result<(), Box<Response<Full<Bytes>>>> {
        let get = |h: &str| headers.get(h).and_then(|v| v.to_str().ok());
        let denied = |why: &str| {
            tracing::warn!(
                path,
                reason = why,
                "refused an unauthenticated replication request"
            );
            Box::new(reply(
                StatusCode::FORBIDDEN,
                format!("replication request refused: {why}\n"),
            ))
        };
        let (Some(node), Some(time), Some(sig)) =
            (get(wire::HDR_NODE), get(wire::HDR_TIME), get(wire::HDR_SIG))
        else {
            return Err(denied("missing signature headers"));
        };
        let Ok(time_ms) = time.parse::<u64>() else {
            return Err(denied("bad time"));
        };
        if now_ms().abs_diff(time_ms) > wire::MAX_SKEW_MS {
            return Err(denied("request time too far from this node's clock"));
        }
        if !wire::verify(
            &self.secret,
            method.as_str(),
            path,
            node,
            time_ms,
            body_hash,
            sig,
        ) {
            return Err(denied("bad signature"));
        }
        Ok(())
    }

    /// Handles one request under `wire::PREFIX`.
    pub async fn handle<B>(&self, req: Request<B>) -> Response<Full<Bytes>>
    where
        B: http_body::Body<Data = Bytes> + Unpin + Send,
        B::Error: std::error::Error + Send + Sync + 'static,
    {
        let (parts, body) = req.into_parts();
        let path = parts.uri.path().to_owned();
        let route = path.strip_prefix(wire::PREFIX).unwrap_or("");
        match (&parts.method, route) {
            (&Method::GET, "hello") => {
                if let Err(r) =
                    self.authenticate(&parts.method, &path, &parts.headers, &wire::body_hash(b""))
                {
                    return *r;
                }
                json(&Hello {
                    node_id: self.node_id.clone(),
                    incarnation: self.incarnation.clone(),
                })
            }
            (&Method::POST, "versions") => {
                let bytes = match http_body_util::Limited::new(body, wire::MAX_JSON_BODY)
                    .collect()
                    .await
                {
                    Ok(c) => c.to_bytes(),
                    Err(_) => {
                        return reply(
                            StatusCode::PAYLOAD_TOO_LARGE,
                            "body too large or unreadable\n",
                        );
                    }
                };
                if let Err(r) = self.authenticate(
                    &parts.method,
                    &path,
                    &parts.headers,
                    &wire::body_hash(&bytes),
                ) {
                    return *r;
                }
                let req: VersionsRequest = match serde_json::from_slice(&bytes) {
                    Ok(r) => r,
                    Err(e) => {
                        return reply(
                            StatusCode::BAD_REQUEST,
                            format!("bad versions request: {e}\n"),
                        );
                    }
                };
                if req.keys.len() > wire::MAX_KEYS {
                    return reply(StatusCode::BAD_REQUEST, "too many keys\n");
                }
                let versions = req
                    .keys
                    .iter()
                    .map(|k| {
                        self.store
                            .version_of(&req.bucket, k)
                            .map(|(version, deleted)| KeyVersion { version, deleted })
                    })
                    .collect();
                let noncurrent = req
                    .keys
                    .iter()
                    .map(|k| self.store.noncurrent_versions(&req.bucket, k))
                    .collect();
                json(&VersionsResponse {
                    versions,
                    noncurrent,
                })
            }
            (&Method::POST, "apply") => {
                if let Err(r) =
                    self.authenticate(&parts.method, &path, &parts.headers, wire::FRAMES)
                {
                    return *r;
                }
                let time_ms = parts
                    .headers
                    .get(wire::HDR_TIME)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                let mut reader = BodyReader {
                    body,
                    buf: BytesMut::new(),
                    eof: false,
                };
                match self.apply(&mut reader, time_ms).await {
                    Ok(answer) => json(&answer),
                    Err((status, msg)) => {
                        tracing::warn!(status = status.as_u16(), error = %msg, "replication apply refused");
                        let mut r = reply(status, format!("{msg}\n"));
                        // The rest of the body is unread: do not reuse the connection.
                        r.headers_mut().insert(
                            http::header::CONNECTION,
                            http::HeaderValue::from_static("close"),
                        );
                        r
                    }
                }
            }
            _ => reply(StatusCode::NOT_FOUND, "no such replication route\n"),
        }
    }

    async fn apply<B>(
        &self,
        reader: &mut BodyReader<B>,
        time_ms: u64,
    ) -> Result<ApplyResponse, (StatusCode, String)>
    where
        B: http_body::Body<Data = Bytes> + Unpin + Send,
        B::Error: std::error::Error + Send + Sync + 'static,
    {
        let bad = |m: String| (StatusCode::BAD_REQUEST, m);
        let mut answer = ApplyResponse {
            incarnation: Some(self.incarnation.clone()),
            ..Default::default()
        };
        let mut group: Vec<(usize, FrameHeader, Bytes)> = Vec::new();
        let mut group_bytes = 0u64;
        for frame_no in 0..=wire::MAX_KEYS {
            let len = reader
                .take(4)
                .await
                .map_err(|e| bad(format!("frame {frame_no}: {e}")))?;
            let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize;
            if len == 0 {
                self.apply_group(group, &mut answer).await?;
                return Ok(answer);
            }
            if len > wire::MAX_HEADER_LEN {
                return Err(bad(format!("frame {frame_no}: header of {len} bytes")));
            }
            let header_bytes = reader
                .take(len)
                .await
                .map_err(|e| bad(format!("frame {frame_no}: {e}")))?;
            let header: FrameHeader = serde_json::from_slice(&header_bytes)
                .map_err(|e| bad(format!("frame {frame_no}: header: {e}")))?;
            let size = header.meta.size;
            if size > MAX_OBJECT_SIZE {
                return Err(bad(format!("frame {frame_no}: object of {size} bytes")));
            }
            let mut mac = wire::frame_mac(&self.secret, time_ms, &header_bytes);
            if let Some(op) = header.op {
                if size != 0 {
                    return Err(bad(format!("frame {frame_no}: an op frame carries data")));
                }
                let got = reader
                    .take(wire::MAC_LEN)
                    .await
                    .map_err(|e| bad(format!("frame {frame_no}: {e}")))?;
                if mac.verify_slice(&got).is_err() {
                    return Err((
                        StatusCode::FORBIDDEN,
                        format!("frame {frame_no}: frame MAC does not match"),
                    ));
                }
                // Ops apply in order with the object frames around them.
                self.apply_group(std::mem::take(&mut group), &mut answer)
                    .await?;
                group_bytes = 0;
                match self
                    .store
                    .apply_op(&header.bucket, &header.meta.key, op)
                    .await
                {
                    Ok(true) => answer.applied += 1,
                    Ok(false) => answer.stale += 1,
                    Err(
                        e @ (StoreError::InvalidBucketName(_)
                        | StoreError::InvalidKey(_)
                        | StoreError::KeyTooLong { .. }),
                    ) => return Err(bad(format!("frame {frame_no}: {e}"))),
                    Err(e) => {
                        return Err((
                            StatusCode::INTERNAL_SERVER_ERROR,
                            format!("frame {frame_no}: {e}"),
                        ));
                    }
                }
                continue;
            }
            let stale = self.store.replica_is_stale(&header.bucket, &header.meta);
            if stale {
                let mut left = size;
                while left > 0 {
                    let c = reader
                        .chunk(left.min(CHUNK as u64) as usize)
                        .await
                        .map_err(|e| bad(format!("frame {frame_no}: {e}")))?;
                    left -= c.len() as u64;
                }
                reader
                    .take(wire::MAC_LEN)
                    .await
                    .map_err(|e| bad(format!("frame {frame_no}: {e}")))?;
                answer.stale += 1;
                continue;
            }
            if size <= INLINE_MAX {
                let data = reader
                    .take(size as usize)
                    .await
                    .map_err(|e| bad(format!("frame {frame_no}: {e}")))?;
                mac.update(&data);
                let got = reader
                    .take(wire::MAC_LEN)
                    .await
                    .map_err(|e| bad(format!("frame {frame_no}: {e}")))?;
                if mac.verify_slice(&got).is_err() {
                    return Err((
                        StatusCode::FORBIDDEN,
                        format!("frame {frame_no}: frame MAC does not match"),
                    ));
                }
                group_bytes += size;
                group.push((frame_no, header, data));
                if group.len() >= GROUP_FRAMES || group_bytes >= GROUP_BYTES {
                    self.apply_group(std::mem::take(&mut group), &mut answer)
                        .await?;
                    group_bytes = 0;
                }
                continue;
            }
            // A large frame: what came before it goes first.
            self.apply_group(std::mem::take(&mut group), &mut answer)
                .await?;
            group_bytes = 0;
            let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(4);
            let cell: Arc<Mutex<Option<(HmacSha256, Bytes)>>> = Arc::new(Mutex::new(None));
            let fed = cell.clone();
            let reader = &mut *reader;
            let feed = async move {
                let mut left = size;
                while left > 0 {
                    let c = match reader.chunk(left.min(CHUNK as u64) as usize).await {
                        Ok(c) => c,
                        Err(e) => {
                            let _ = tx
                                .send(Err(std::io::Error::new(e.kind(), e.to_string())))
                                .await;
                            return Err(e.to_string());
                        }
                    };
                    mac.update(&c);
                    left -= c.len() as u64;
                    if tx.send(Ok(c)).await.is_err() {
                        return Err("the store stopped reading".to_owned());
                    }
                }
                let got = reader
                    .take(wire::MAC_LEN)
                    .await
                    .map_err(|e| e.to_string())?;
                *fed.lock().unwrap_or_else(|e| e.into_inner()) = Some((mac, got));
                drop(tx);
                Ok(())
            };
            let finish: FinishHook = Box::new(move |_| {
                let (mac, got) = cell
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .take()
                    .ok_or_else(|| StoreError::BadDigest("frame MAC missing".to_owned()))?;
                mac.verify_slice(&got)
                    .map_err(|_| StoreError::BadDigest("frame MAC does not match".to_owned()))?;
                Ok(BTreeMap::new())
            });
            let stream: ByteStream = Box::pin(ChannelStream(rx));
            let (fed, applied) = tokio::join!(
                feed,
                self.store
                    .apply_replica(&header.bucket, header.meta, stream, finish)
            );
            match (fed, applied) {
                (Ok(()), Ok(true)) => answer.applied += 1,
                (Ok(()), Ok(false)) => answer.stale += 1,
                (_, Err(StoreError::BadDigest(m))) if m.contains("MAC") => {
                    return Err((StatusCode::FORBIDDEN, format!("frame {frame_no}: {m}")));
                }
                (
                    _,
                    Err(
                        e @ (StoreError::BadDigest(_)
                        | StoreError::InvalidBucketName(_)
                        | StoreError::InvalidKey(_)
                        | StoreError::KeyTooLong { .. }),
                    ),
                ) => {
                    return Err(bad(format!("frame {frame_no}: {e}")));
                }
                (_, Err(e)) => {
                    return Err((
                        StatusCode::INTERNAL_SERVER_ERROR,
                        format!("frame {frame_no}: {e}"),
                    ));
                }
                (Err(e), Ok(_)) => return Err(bad(format!("frame {frame_no}: {e}"))),
            }
        }
        Err(bad(format!("more than {} frames", wire::MAX_KEYS)))
    }

    /// Applies verified small frames as one batch: the store appends the small objects among them
    /// to its log together, so one group fsync makes the batch durable, and the answer (which moves
    /// the sender's cursor) is sent only after it. Frames of one key keep the newest version.
    async fn apply_group(
        &self,
        group: Vec<(usize, FrameHeader, Bytes)>,
        answer: &mut ApplyResponse,
    ) -> Result<(), (StatusCode, String)> {
        if group.is_empty() {
            return Ok(());
        }
        let frames: Vec<usize> = group.iter().map(|(frame_no, ..)| *frame_no).collect();
        let items = group
            .into_iter()
            .map(|(_, header, data)| (header.bucket, header.meta, data))
            .collect();
        let results = self.store.apply_replicas(items).await;
        for (frame_no, r) in frames.into_iter().zip(results) {
            match r {
                Ok(true) => answer.applied += 1,
                Ok(false) => answer.stale += 1,
                Err(
                    e @ (StoreError::BadDigest(_)
                    | StoreError::InvalidBucketName(_)
                    | StoreError::InvalidKey(_)
                    | StoreError::KeyTooLong { .. }),
                ) => {
                    return Err((StatusCode::BAD_REQUEST, format!("frame {frame_no}: {e}")));
                }
                Err(e) => {
                    return Err((
                        StatusCode::INTERNAL_SERVER_ERROR,
                        format!("frame {frame_no}: {e}"),
                    ));
                }
            }
        }
        Ok(())
    }
}
