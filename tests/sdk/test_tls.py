"""One verifying TLS context per process: made once, shared by clients, kept per trust store."""

from __future__ import annotations

import ssl
from pathlib import Path

import certifi
import httpx
import pytest

import rampgate
from rampgate.errors import ConfigError
from rampgate.sdk import tls


@pytest.fixture
def made(monkeypatch: pytest.MonkeyPatch) -> list[ssl.SSLContext]:
    """Every context the SDK asks httpx to make from its defaults, from a clean cache."""
    monkeypatch.setattr(tls, "_contexts", {})
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    contexts: list[ssl.SSLContext] = []
    real = httpx.create_ssl_context

    def counting() -> ssl.SSLContext:
        contexts.append(real())
        return contexts[-1]

    monkeypatch.setattr(tls.httpx, "create_ssl_context", counting)
    return contexts


def test_the_context_is_made_once_and_verifies(made: list[ssl.SSLContext]) -> None:
    first = tls.shared_ssl_context()
    assert tls.shared_ssl_context() is first and made == [first]
    assert first.verify_mode == ssl.CERT_REQUIRED and first.check_hostname


def test_clients_share_it(made: list[ssl.SSLContext]) -> None:
    # Nothing listens on port 9: the clients start, fail to connect in the background, close.
    clients = [
        rampgate.Client(url="http://127.0.0.1:9", sdk_key="rg_sdk_x", remote=None) for _ in range(3)
    ]
    for client in clients:
        client.close(0.5)
    assert len(made) == 1


def test_each_trust_store_setting_gets_its_own(
    made: list[ssl.SSLContext], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    default = tls.shared_ssl_context()
    monkeypatch.setenv("SSL_CERT_FILE", certifi.where())
    named = tls.shared_ssl_context()
    assert named is not default and len(made) == 2
    assert tls.shared_ssl_context() is named
    # The setting is read when the context is made: a file that is not there, or is not
    # certificates, is refused naming the variable and its value.
    missing, junk = tmp_path / "missing.pem", tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    for bad in (missing, junk):
        monkeypatch.setenv("SSL_CERT_FILE", str(bad))
        with pytest.raises(ConfigError, match=f"SSL_CERT_FILE={bad}: cannot load CA"):
            tls.shared_ssl_context()
    with pytest.raises(ConfigError, match="SSL_CERT_FILE"):
        rampgate.Client(url="https://127.0.0.1:9", sdk_key="rg_sdk_x")
