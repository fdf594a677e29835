"""An OTLP/HTTP receiver on a loopback port, for the tests of tracing: the spans the
system's processes export to it (``CB_OTLP_ENDPOINT``), decoded from protobuf with the
collector's own message types (opentelemetry-proto, which the exporter depends on)."""

from __future__ import annotations

import gzip
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from tests.helpers import QuietHandler


@dataclass
class Span:
    trace: str
    id: str
    parent: str
    name: str
    service: str
    process: str
    attributes: dict[str, Any]
    links: list[tuple[str, str]] = field(default_factory=list)

    @property
    def kind_of_hop(self) -> bool:
        """A request served, a message published or a task run (not a call inside one)."""
        return self.name.startswith(("run/", "publish ", "POST ", "GET "))


def _value(any_value: Any) -> Any:
    kind = any_value.WhichOneof("value")
    if kind == "array_value":
        return [_value(v) for v in any_value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _value(kv.value) for kv in any_value.kvlist_value.values}
    return getattr(any_value, kind) if kind else None


class Collector(ThreadingHTTPServer):
    """An OTLP/HTTP receiver (protobuf) on a loopback port: every span exported to it."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Receive)
        self.spans: list[Span] = []
        self.lock = threading.Lock()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def take(self, body: bytes) -> None:
        request = trace_service_pb2.ExportTraceServiceRequest.FromString(body)
        for resource_spans in request.resource_spans:
            resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for s in scope_spans.spans:
                    span = Span(
                        s.trace_id.hex(),
                        s.span_id.hex(),
                        s.parent_span_id.hex(),
                        s.name,
                        str(resource.get("service.name")),
                        str(resource.get("cb.process")),
                        {a.key: _value(a.value) for a in s.attributes},
                        [(link.trace_id.hex(), link.span_id.hex()) for link in s.links],
                    )
                    with self.lock:
                        self.spans.append(span)

    def trace(self, trace_id: str) -> list[Span]:
        with self.lock:
            return [s for s in self.spans if s.trace == trace_id]


class _Receive(QuietHandler):
    server: Collector

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        self.server.take(body)
        answer = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)


@contextmanager
def receiving() -> Iterator[Collector]:
    """A collector serving in a thread of its own while the block runs."""
    collector = Collector()
    thread = threading.Thread(target=collector.serve_forever, daemon=True)
    thread.start()
    try:
        yield collector
    finally:
        collector.shutdown()
        collector.server_close()
        thread.join(timeout=10)
