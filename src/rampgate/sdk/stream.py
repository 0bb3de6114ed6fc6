"""Hold the ruleset's event stream open with the standard library's HTTP client.

Every other request the SDK makes goes through httpx. The stream does not, when it can help it:
a change reaches every process of every service at the same moment, so whatever one pushed
event costs to read is paid once per process, all at once, on hosts that run many workers.
Through httpx (httpcore's pool and h11's state machine, about 150 Python calls per event) one
pushed ruleset cost 93 µs of CPU to read, before any parsing; through ``http.client``, whose
chunked reader sits on a C buffer, 40 µs (``python -m benchmarks.stream_read``, both measured in
one run on this project's 2-core development machine).

``http.client`` speaks neither proxies nor httpx transports, so :func:`direct_stream_possible`
sends any client with a custom transport, or whose server is reached through a proxy, down
the httpx path instead.
"""

from __future__ import annotations

import http.client
import socket
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from typing import Protocol

import httpx

from .tls import shared_ssl_context

__all__ = [
    "DirectStream",
    "EventStream",
    "HttpxStream",
    "StreamRefused",
    "direct_stream_possible",
    "open_httpx_stream",
]

_PROBLEM_BYTES = 2048  # of a refusal's body, kept for the error message


class StreamRefused(Exception):
    """The server answered the stream request with something other than 200."""

    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"the event stream was refused: HTTP {status}: {body}")
        self.status = status


def direct_stream_possible(url: httpx.URL, *, custom_transport: bool) -> bool:
    """True when nothing but a plain connection stands between the client and ``url``."""
    if custom_transport or url.scheme not in ("http", "https"):
        return False
    proxies = urllib.request.getproxies()  # the *_PROXY variables httpx also honours
    if not (proxies.get(url.scheme) or proxies.get("all")):
        return True
    return bool(urllib.request.proxy_bypass(url.host))


class EventStream(Protocol):
    def chunks(self) -> Iterator[bytes]:
        """The body as it arrives."""
        ...

    def interrupt(self) -> None:
        """Wake a read blocked in another thread; the stream then ends."""
        ...


class DirectStream:
    """One ``GET`` of an event stream over ``http.client``; a context manager."""

    def __init__(
        self,
        url: httpx.URL,
        headers: Mapping[str, str],
        *,
        connect_timeout: float,
        read_timeout: float,
    ) -> None:
        connection: http.client.HTTPConnection
        if url.scheme == "https":
            connection = http.client.HTTPSConnection(
                url.host, url.port, timeout=connect_timeout, context=shared_ssl_context()
            )
        else:
            connection = http.client.HTTPConnection(url.host, url.port, timeout=connect_timeout)
        self._connection = connection
        try:
            connection.request("GET", url.raw_path.decode("ascii"), headers=dict(headers))
            if connection.sock is not None:  # connected: now a quiet stream waits for heartbeats
                connection.sock.settimeout(read_timeout)
            self._response = connection.getresponse()
            if self._response.status != 200:
                body = self._response.read(_PROBLEM_BYTES).decode("utf-8", "replace")
                raise StreamRefused(self._response.status, body)
        except BaseException:
            connection.close()
            raise

    def __enter__(self) -> DirectStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self._connection.close()

    def chunks(self) -> Iterator[bytes]:
        """The body as it arrives: one SSE event per chunk, as the server writes them."""
        read = self._response.read1
        while True:
            data = read(65536)
            if not data:
                return
            yield data

    def interrupt(self) -> None:
        sock = self._connection.sock
        if sock is not None:
            with suppress(OSError):  # closed or reset already: no read left to wake
                sock.shutdown(socket.SHUT_RDWR)


class HttpxStream:
    """The same over an httpx streaming response, for transports and proxies."""

    def __init__(self, response: httpx.Response) -> None:
        self._response = response

    def chunks(self) -> Iterator[bytes]:
        return self._response.iter_bytes()

    def interrupt(self) -> None:
        self._response.close()


@contextmanager
def open_httpx_stream(
    client: httpx.Client, path: str, headers: Mapping[str, str], timeout: httpx.Timeout
) -> Iterator[HttpxStream]:
    with client.stream("GET", path, headers=headers, timeout=timeout) as response:
        response.raise_for_status()
        yield HttpxStream(response)
