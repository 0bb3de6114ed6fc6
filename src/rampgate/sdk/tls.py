"""One verifying TLS context per process, shared by every client and stream.

Making a context loads the whole CA bundle: 40 ms on this project's development machine, and
about 1 ms to free. httpx makes a fresh one for every ``httpx.Client``, so each server-mode
client paid that at start, each reconnect of its stream paid it again, and a service holding
many clients paid for the frees inside one garbage collection: 100 ms, stalling every thread,
when 100 closed clients were collected. An ``ssl.SSLContext`` is made to be shared by many
connections, threads included, and the SDK never changes one after making it.

The context is httpx's default (``httpx.create_ssl_context``: certifi, or ``SSL_CERT_FILE`` /
``SSL_CERT_DIR`` when set), made on first use and kept per value of those two variables, so a
process that points them elsewhere gets a context that trusts what they name.
"""

from __future__ import annotations

import os
import ssl
import threading

import httpx

from rampgate.errors import ConfigError

__all__ = ["shared_ssl_context"]

_contexts: dict[tuple[str | None, str | None], ssl.SSLContext] = {}
_lock = threading.Lock()


def shared_ssl_context() -> ssl.SSLContext:
    """httpx's default verifying context, made once per process and trust-store setting."""
    key = (os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))
    context = _contexts.get(key)
    if context is None:
        with _lock:  # two clients starting at once make one context, not two
            context = _contexts.get(key)
            if context is None:
                context = _contexts[key] = _make(*key)
    return context


def _make(cert_file: str | None, cert_dir: str | None) -> ssl.SSLContext:
    try:
        return httpx.create_ssl_context()
    except (OSError, ssl.SSLError) as exc:
        # Bare, this is "[Errno 2] No such file or directory", naming neither file nor variable.
        name, value = ("SSL_CERT_FILE", cert_file) if cert_file else ("SSL_CERT_DIR", cert_dir)
        if value is None:  # certifi's own bundle: nothing the user set is wrong
            raise
        raise ConfigError(
            f"{name}={value}: cannot load CA certificates from it ({exc})",
            path=name,
            expected="a PEM file (SSL_CERT_FILE) or a hashed directory (SSL_CERT_DIR) of CA "
            "certificates, or the variable unset to trust certifi's bundle",
        ) from exc
