"""A local media host for fetch tests: http.server on 127.0.0.1, plus fake DNS and routing.

Tests can only reach 127.0.0.1. To exercise "public host -> private redirect" paths they
use `FakeDNS` (names -> addresses the checks see) and `NatBackend` (the connection to a
"public" test address is really made to 127.0.0.1), so the real checking and pinning
code runs unchanged: only the world outside it is simulated.
"""

from __future__ import annotations

import gzip
import socket
import ssl
import subprocess
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpcore

#: Stand-in public address (TEST-NET would be refused as reserved/non-global).
PUBLIC_IP = "93.184.216.34"


@dataclass
class MediaHost:
    port: int
    files: dict[str, bytes]
    requests: list[tuple[str, str]] = field(default_factory=list)  # (path, Host header)
    sni: list[str] = field(default_factory=list)
    scheme: str = "http"
    held: threading.Semaphore = field(default_factory=lambda: threading.Semaphore(0))  # +1 per /hold arrival
    release: threading.Event = field(default_factory=threading.Event)  # lets every /hold answer

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"

    def count(self, path: str) -> int:
        return sum(1 for p, _ in self.requests if p == path)


def _handler(host: MediaHost):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # quiet
            pass

        def do_GET(self) -> None:
            parts = urllib.parse.urlsplit(self.path)
            query = urllib.parse.parse_qs(parts.query)
            host.requests.append((parts.path, self.headers.get("host", "")))
            path = parts.path
            if path == "/redirect":
                return self._send(302, b"", {"location": query["to"][0]})
            if path.startswith("/chain/"):
                left = int(path.rsplit("/", 1)[1])
                target = f"/chain/{left - 1}" if left > 1 else "/image.png"  # /chain/N: N redirects
                return self._send(302, b"", {"location": target})
            if path == "/hold":  # a slow host the test controls: answers once host.release is set
                host.held.release()
                host.release.wait(60)
                return self._send(200, host.files["/image.png"])
            if path == "/slow":
                time.sleep(float(query.get("s", ["3"])[0]))
                return self._send(200, host.files["/image.png"])
            if path == "/big":  # no Content-Length: the fetcher must count while reading
                self.send_response(200)
                self.send_header("connection", "close")
                self.end_headers()
                try:
                    for _ in range(int(query.get("mb", ["4"])[0]) * 16):
                        self.wfile.write(b"\0" * 65536)
                except OSError:
                    pass
                self.close_connection = True
                return None
            if path == "/declared-big":
                self.send_response(200)
                self.send_header("content-length", str(1 << 40))
                self.end_headers()
                self.close_connection = True
                return None
            if path == "/gzip-bomb":
                body = gzip.compress(b"\0" * (8 << 20))
                return self._send(200, body, {"content-encoding": "gzip"})
            if path == "/no-store":
                return self._send(200, host.files["/image.png"], {"cache-control": "no-store"})
            if path in host.files:
                return self._send(200, host.files[path])
            return self._send(404, b"not found")

        def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            try:
                self.wfile.write(body)
            except OSError:
                pass

    return Handler


class serve_media:
    """`with serve_media(files) as host:` a threaded server on 127.0.0.1 (https with tls=(cert, key))."""

    def __init__(self, files: dict[str, bytes], tls: tuple[Path, Path] | None = None) -> None:
        self.host = MediaHost(0, files, scheme="https" if tls else "http")
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self.host))
        self.server.daemon_threads = True
        self.server.block_on_close = False
        if tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            context.sni_callback = lambda sock, name, ctx: self.host.sni.append(name)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.host.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> MediaHost:
        self.thread.start()
        return self.host

    def __exit__(self, *exc) -> None:
        self.host.release.set()
        self.server.shutdown()
        self.server.server_close()


class FakeDNS:
    """A resolver for MediaLoader/GuardedBackend: name -> addresses; unknown names fail."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table
        self.asked: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        if host not in self.table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return list(self.table[host])


class NatBackend(httpcore.AsyncNetworkBackend):
    """Connects to 127.0.0.1 when asked for PUBLIC_IP; records what it was asked for."""

    def __init__(self) -> None:
        self.inner = httpcore.AnyIOBackend()
        self.connects: list[str] = []

    async def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        self.connects.append(host)
        target = "127.0.0.1" if host == PUBLIC_IP else host
        return await self.inner.connect_tcp(
            target, port, timeout=timeout, local_address=local_address, socket_options=socket_options
        )

    async def connect_unix_socket(self, path, timeout=None, socket_options=None):
        raise AssertionError("unexpected unix socket")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


def closed_port() -> int:
    """A local port nobody listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def self_signed_cert(directory: Path, name: str) -> tuple[Path, Path] | None:
    """A certificate for `name` made with the openssl CLI, or None when it is missing."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    try:
        subprocess.run(
            [
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-days",
                "1",
                "-subj",
                f"/CN={name}",
                "-addext",
                f"subjectAltName=DNS:{name}",
                "-keyout",
                str(key),
                "-out",
                str(cert),
            ],
            check=True,
            capture_output=True,
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return cert, key
