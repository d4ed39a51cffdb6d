"""Request traces: a trace id in every request log line, and OTLP/HTTP spans when configured.

A small OTLP receiver runs in this process on 127.0.0.1 and decodes what the node sends with
the official OpenTelemetry protobuf classes (`opentelemetry-proto`).
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"
WAIT_S = 20.0


class OtlpReceiver:
    """Records every span POSTed to /v1/traces."""

    def __init__(self) -> None:
        self.spans: list[tuple[dict, object]] = []  # (resource attributes, Span)
        self.requests = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                ok = self.path == "/v1/traces" and self.headers.get("Content-Type") == "application/x-protobuf"
                if ok:
                    req = ExportTraceServiceRequest.FromString(body)
                    with receiver.lock:
                        receiver.requests += 1
                        for rs in req.resource_spans:
                            attrs = {a.key: a.value.string_value for a in rs.resource.attributes}
                            for ss in rs.scope_spans:
                                receiver.spans.extend((attrs, s) for s in ss.spans)
                out = ExportTraceServiceResponse().SerializeToString() if ok else b"bad request"
                self.send_response(200 if ok else 400)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1/traces"

    def span_with_trace(self, trace_hex: str):
        with self.lock:
            for attrs, s in self.spans:
                if s.trace_id.hex() == trace_hex:
                    return attrs, s
        return None

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def receiver():
    r = OtlpReceiver()
    yield r
    r.close()


@pytest.fixture(scope="module")
def traced(node_factory, receiver):
    return node_factory(extra_args=["--otlp-traces-endpoint", receiver.url])


def wait_for(pred, what: str):
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.2)
    raise AssertionError(f"timed out after {WAIT_S}s waiting for {what}")


def request_lines(node) -> list[dict]:
    return [r for r in node.log_records() if r.get("message") == "request"]


def test_log_lines_carry_trace_ids_without_an_exporter(node, s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    lines = request_lines(node)
    assert lines, "no request lines"
    for line in lines:
        assert len(line["trace_id"]) == 32 and int(line["trace_id"], 16) != 0, line
        assert len(line["span_id"]) == 16, line
    assert len({l["trace_id"] for l in lines}) == len(lines), "each request starts its own trace"


def test_caller_traceparent_is_joined_and_the_span_exported(traced, receiver):
    s3 = traced.client()
    s3.create_bucket(Bucket="traced")
    url = s3.generate_presigned_url("put_object", Params={"Bucket": "traced", "Key": "obj"}, ExpiresIn=300)
    r = requests.put(url, data=b"hello", timeout=10,
                     headers={"traceparent": f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"})
    assert r.status_code == 200, r.text

    attrs, span = wait_for(lambda: receiver.span_with_trace(CALLER_TRACE), "the PUT span")
    assert span.parent_span_id.hex() == CALLER_SPAN
    assert span.name == "s3.put"
    assert span.kind == span.SPAN_KIND_SERVER
    assert span.end_time_unix_nano > span.start_time_unix_nano
    sattrs = {a.key: a.value for a in span.attributes}
    assert sattrs["http.response.status_code"].int_value == 200
    assert sattrs["aws.s3.bucket"].string_value == "traced"
    assert sattrs["http.request.method"].string_value == "PUT"
    assert attrs["service.name"] == "storage-node"
    assert attrs["service.instance.id"] == traced.node_id

    line = next(l for l in request_lines(traced) if l["trace_id"] == CALLER_TRACE)
    assert line["span_id"] == span.span_id.hex(), "the log line names the exported span"


def test_every_request_is_one_span_and_errors_are_marked(traced, receiver):
    s3 = traced.client()
    s3.create_bucket(Bucket="traced2")
    for i in range(5):
        s3.put_object(Bucket="traced2", Key=f"k{i}", Body=b"v")
    with pytest.raises(Exception):
        s3.get_object(Bucket="traced2", Key="missing")
    lines = [l for l in request_lines(traced) if l.get("bucket") == "traced2"]
    assert len(lines) == 7
    spans = wait_for(
        lambda: all(receiver.span_with_trace(l["trace_id"]) for l in lines) and
        [receiver.span_with_trace(l["trace_id"])[1] for l in lines],
        "one span per request line",
    )
    assert [s.span_id.hex() for s in spans] == [l["span_id"] for l in lines]
    missing = spans[-1]
    codes = {a.key: a.value for a in missing.attributes}
    assert codes["http.response.status_code"].int_value == 404
    assert codes["aws.s3.error_code"].string_value == "NoSuchKey"
    # A 4xx is the client's error: the server span stays unset, as OpenTelemetry's HTTP conventions say.
    assert missing.status.code != missing.status.STATUS_CODE_ERROR


def test_bad_endpoint_is_refused_by_check_config(tmp_path):
    import subprocess
    from conftest import node_binary

    cfg = tmp_path / "n.toml"
    cfg.write_text(f'data_dir = "{tmp_path / "d"}"\nsecret_key = "s"\notlp_traces_endpoint = "ftp://x/v1/traces"\n')
    out = subprocess.run([str(node_binary()), "check-config", str(cfg)], capture_output=True, text=True, timeout=30)
    assert out.returncode != 0
    assert "otlp_traces_endpoint" in out.stderr and "http://" in out.stderr
