"""A fault-injecting reverse proxy in front of a moto server, for tests of S3 faults during a run.

Every client of a run (Spark's s3a, DuckDB's httpfs, boto3) is pointed at the proxy's URL instead of the
moto server's. Each S3 request is forwarded unchanged, or instead, at the configured rates per HTTP
method, answered with 503 SlowDown or 500 InternalError (S3's XML error bodies), cut with a TCP reset, or
delayed before it is forwarded. Requests of other services (Glue, Athena: JSON over POST with an
`X-Amz-Target` header) and moto's own `/moto-api` pass through untouched unless `all_services` is set.

Deterministic with a seed: whether the n-th request with a given method and path meets a fault depends
only on (seed, method, path, n), not on how the threads of the clients interleave. `injected` counts
what was injected, by (method, fault); `forwarded` counts requests passed to moto, by method.

    with FaultProxy(moto_url, {"PUT": {"503": 0.1}, "*": {"reset": 0.02}}, seed=1) as proxy:
        ... point aws.endpoint_url at proxy.url ...
    proxy.injected  # Counter({('PUT', '503'): 7, ('GET', 'reset'): 1, ...})
"""

from __future__ import annotations

import http.client
import random
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Optional
from urllib.parse import urlparse

FAULTS = ("503", "500", "reset", "slow")
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection"}

_ERRORS = {
    "503": ("Service Unavailable", "SlowDown", "Please reduce your request rate."),
    "500": ("Internal Server Error", "InternalError", "We encountered an internal error. Please try again."),
}


def s3_error_body(code: str, message: str, resource: str) -> bytes:
    """S3's XML error document, as S3 sends it with a 5xx."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message><Resource>{resource}</Resource>"
        "<RequestId>FAULTPROXY</RequestId><HostId>faultproxy</HostId></Error>"
    ).encode()


class FaultProxy:
    """A threaded HTTP reverse proxy on 127.0.0.1 (a free port) injecting S3 faults; use as a context manager.

    `rates` maps an HTTP method (or "*" for any method without its own entry) to {fault: probability},
    faults being "503", "500", "reset" and "slow" (a pause of `slow_s` before forwarding); probabilities
    of one method add up to at most 1. With `match(method, path, headers)`, only requests it is true for can
    meet a fault (e.g. one client's, by its User-Agent). Assign `rates` to change them between runs (e.g. {} for none).
    """

    def __init__(
        self,
        upstream: str,
        rates: Optional[dict[str, dict[str, float]]] = None,
        seed: int = 0,
        slow_s: float = 0.5,
        all_services: bool = False,
        match: Optional[Callable[[str, str, Message], bool]] = None,
    ) -> None:
        up = urlparse(upstream)
        self.upstream = (up.hostname or "127.0.0.1", up.port or 80)
        self.seed, self.slow_s, self.all_services = seed, slow_s, all_services
        self.match = match
        self.rates = rates or {}
        self.injected: Counter[tuple[str, str]] = Counter()
        self.forwarded: Counter[str] = Counter()
        self._seen: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="s3-fault-proxy", daemon=True)

    @property
    def rates(self) -> dict[str, dict[str, float]]:
        return self._rates

    @rates.setter
    def rates(self, rates: dict[str, dict[str, float]]) -> None:
        for method, faults in rates.items():
            unknown = set(faults) - set(FAULTS)
            if unknown or sum(faults.values()) > 1 or min(faults.values(), default=0) < 0:
                raise ValueError(f"rates[{method!r}]: faults from {FAULTS} with probabilities summing to <= 1")
        self._rates = {m.upper(): dict(f) for m, f in rates.items()}

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def decide(self, method: str, path: str, headers: Optional[Message] = None) -> Optional[str]:
        """The fault for this request, or None to forward it; counted in `injected`."""
        faults = self._rates.get(method, self._rates.get("*", {}))
        if not faults or (self.match is not None and not self.match(method, path, headers or Message())):
            return None
        with self._lock:
            self._seen[(method, path)] += 1
            n = self._seen[(method, path)]
        draw = random.Random(f"{self.seed}:{method}:{path}:{n}").random()
        for fault in FAULTS:
            rate = faults.get(fault, 0.0)
            if draw < rate:
                with self._lock:
                    self.injected[(method, fault)] += 1
                return fault
            draw -= rate
        return None


def _handler(proxy: FaultProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as S3 clients expect; every response has a Content-Length

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
            pass  # quiet: the counters say what happened

        def _body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass  # trailers
                        return b"".join(chunks)
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _handle(self) -> None:
            body = self._body()  # read first: a fault must not leave the client writing into a dead socket
            s3 = proxy.all_services or not (self.headers.get("X-Amz-Target") or self.path.startswith("/moto-api"))
            fault = proxy.decide(self.command, self.path, self.headers) if s3 else None
            if fault == "reset":
                # SO_LINGER 0: close() sends RST, what a client sees as "connection reset by peer".
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.close_connection = True
                self.connection.close()
                return
            if fault in _ERRORS:
                reason, code, message = _ERRORS[fault]
                payload = s3_error_body(code, message, self.path.split("?")[0])
                self.send_response(int(fault), reason)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)
                return
            if fault == "slow":
                time.sleep(proxy.slow_s)
            self._forward(body)

        def _forward(self, body: bytes) -> None:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP | {"expect"}}
            if body or "Content-Length" in self.headers or self.headers.get("Transfer-Encoding"):
                headers = {k: v for k, v in headers.items() if k.lower() != "content-length"}
                headers["Content-Length"] = str(len(body))
            conn = http.client.HTTPConnection(*proxy.upstream, timeout=120)
            try:
                conn.request(self.command, self.path, body=body, headers=headers)
                resp = conn.getresponse()
                payload = resp.read()
                with proxy._lock:
                    proxy.forwarded[self.command] += 1
                self.send_response(resp.status, resp.reason)
                for k, v in resp.getheaders():
                    if k.lower() not in HOP_BY_HOP and not (k.lower() == "content-length" and self.command != "HEAD"):
                        self.send_header(k, v)
                if self.command != "HEAD":
                    self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)
            finally:
                conn.close()

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

    return Handler
