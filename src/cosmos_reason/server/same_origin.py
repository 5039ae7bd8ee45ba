"""A server without API keys answers only requests a browser page of its own could send.

Without a key, anyone who can reach the port may use it; a web page elsewhere must not be
able to use a browser as that someone. Two browser tricks, refused with a 403:

- a cross-origin request: a page on another origin posts to us (a `text/plain` body needs no
  preflight). Browsers send `Origin` on such requests; it must name this server's own origin
  (the `Host` the request came to). The playground is same-origin and never trips this.
- DNS rebinding: the attacker's own name, re-resolved to this machine, makes the request
  "same-origin" for the browser; its `Host` is then the attacker's name. Accepted hosts are
  this server's bound address, IP literals, `localhost` and `*.localhost`, this machine's
  own names, and single-label names (docker/compose service names; a rebinding attack needs
  a name in a public DNS zone, which always has a dot).

Non-browser clients (curl, the openai SDK) send no `Origin` and their `Host` is the address
they connected to, so they pass. With API keys set this guard is off: the key is the gate,
and a browser never sends it cross-origin on its own.
"""

from __future__ import annotations

import ipaddress
import json
import socket

from starlette.types import ASGIApp, Receive, Scope, Send

from ..errors import error_body


class SameOriginMiddleware:
    def __init__(self, app: ASGIApp, bound_host: str | None) -> None:
        self.app = app
        self.own_names = {
            name.lower().rstrip(".") for name in (bound_host, socket.gethostname(), socket.getfqdn()) if name
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {name.lower(): value.decode("latin-1") for name, value in scope["headers"]}
        host = headers.get(b"host", "").strip()
        origin = headers.get(b"origin")
        problem = None
        if host and not self.is_own_host(host):
            problem = (
                f"Host {host!r} is not an address of this server; a server without an API key answers only "
                "to its own addresses (a guard against DNS rebinding). Set --api-key to serve other names"
            )
        elif origin is not None and not same_origin(origin, host):
            problem = (
                f"cross-origin request from {origin!r} refused: a server without an API key answers "
                "browsers only from its own pages. Set --api-key to allow other origins' requests"
            )
        if problem is None:
            await self.app(scope, receive, send)
            return
        payload = json.dumps(error_body(403, problem, code="cross_origin_refused")).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 403,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": payload})

    def is_own_host(self, host: str) -> bool:
        name = host_name(host)
        if name is None:
            return False
        try:
            ipaddress.ip_address(name)
            return True
        except ValueError:
            pass
        return "." not in name or name.endswith(".localhost") or name in self.own_names


def host_name(host: str) -> str | None:
    """'Example.COM:8000' -> 'example.com', '[::1]:8000' -> '::1'; None when malformed."""
    host = host.strip().lower()
    if host.startswith("["):
        inside, bracket, rest = host[1:].partition("]")
        return inside if bracket and (not rest or rest[1:].isdigit() and rest[0] == ":") else None
    name, _, port = host.partition(":")
    if port and not port.isdigit() or not name:
        return None
    return name.rstrip(".")


def same_origin(origin: str, host: str) -> bool:
    """Origin 'http://localhost:8000' (scheme://host[:port]) against Host 'localhost:8000'."""
    scheme, sep, rest = origin.strip().lower().partition("://")
    return bool(sep) and scheme in ("http", "https") and rest == host.strip().lower()
