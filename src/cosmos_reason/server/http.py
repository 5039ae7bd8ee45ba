"""uvicorn's h11 protocol with read deadlines, so slow clients cannot hold connections forever.

uvicorn closes idle keep-alive connections, but a client that has sent part of a request head,
or stops in the middle of a body, is waited for without end (slowloris). Like nginx's
client_header_timeout and client_body_timeout:

- the whole request head must arrive within `header_timeout` seconds of its first byte
  (of the connection, for a connection's first request);
- while a body is read, each pause between two reads may last at most `body_timeout` seconds.

On expiry the client gets a 408 in the usual error envelope (unless its response has
started) and the connection is closed (after a short linger: see `_linger`); a route still
waiting for the body sees a disconnect.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from ..errors import error_body

log = logging.getLogger(__name__)
LINGER_SECONDS = 2.0  # after a 408: how long the client's further bytes are read and dropped


def http_protocol(header_timeout: float, body_timeout: float):
    """The `http` option for uvicorn.Config (a picklable factory, so `--workers` gets it too)."""
    return functools.partial(DeadlineH11Protocol, header_timeout=header_timeout, body_timeout=body_timeout)


class DeadlineH11Protocol(H11Protocol):
    def __init__(self, *args, header_timeout: float, body_timeout: float, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout = header_timeout
        self.body_timeout = body_timeout
        self._deadline: asyncio.TimerHandle | None = None
        self._waiting_for: str | None = None  # "head" or "body"
        self._lingering = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._wait_for("head", self.header_timeout)

    def data_received(self, data: bytes) -> None:
        if self._lingering:
            return
        super().data_received(data)
        self._update_deadline()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._update_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel()
        super().connection_lost(exc)

    def _update_deadline(self) -> None:
        state = self.conn.their_state
        if state is h11.SEND_BODY:
            self._wait_for("body", self.body_timeout)  # every read restarts the body clock
        elif state is h11.IDLE and self.conn.trailing_data[0]:
            if self._waiting_for != "head":  # part of the next head is here: its clock starts now
                self._wait_for("head", self.header_timeout)
        elif state is not h11.IDLE or self._waiting_for != "head":
            self._cancel()  # head and body are in (or the connection failed); idle keep-alive is uvicorn's

    def _wait_for(self, what: str, seconds: float) -> None:
        self._cancel()
        self._waiting_for = what
        self._deadline = self.loop.call_later(seconds, self._expired, what, seconds)

    def _cancel(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        self._deadline, self._waiting_for = None, None

    def _expired(self, what: str, seconds: float) -> None:
        self._deadline, self._waiting_for = None, None
        if self.transport.is_closing():
            return
        client = "%s:%d" % self.client if self.client else "a client"
        log.info("closing the connection from %s: request %s not received within %g s", client, what, seconds)
        cycle = self.cycle if what == "body" else None
        if cycle is None or not cycle.response_started:
            flag = "--header-read-timeout" if what == "head" else "--body-read-timeout"
            pause = "within" if what == "head" else "with no pause longer than"
            message = f"request {what} not received {pause} {seconds:g} s ({flag}); closing the connection"
            self.transport.write(_raw_408(message))
        if cycle is not None:
            cycle.disconnected = True
            cycle.message_event.set()
        self._linger()

    def _linger(self) -> None:
        """Close as nginx's lingering_close does: our side first (FIN after the 408), then discard what
        the client still sends for a moment. Closing at once with its bytes unread would reset the
        connection, and the client could lose the 408 before reading it."""
        self._lingering = True
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(LINGER_SECONDS, self.transport.close)


def _raw_408(message: str) -> bytes:
    """Written straight to the socket: h11 cannot answer a request whose head it has not parsed."""
    body = json.dumps(error_body(408, message, code="request_timeout")).encode()
    head = (
        "HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode() + body
