"""What the store refuses, as data the API can turn into a problem response.

::

    RampgateError
    └── StoreError              the store refused a read or a write
        ├── NotFound            no such environment, flag, version, token or receipt  → 404
        ├── AlreadyExists       the key is taken                                      → 409
        ├── VersionConflict     a compare-and-swap saw another version                → 409
        ├── IdempotencyMismatch the idempotency key was used with another request    → 422
        └── IdempotentReplay    another request with this key finished first          → replay

Each error carries the resource path (``environments/prod/flags/x``) and, where it helps the
caller fix the request, the version it should have sent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rampgate.errors import RampgateError

if TYPE_CHECKING:
    from .idempotency import StoredResponse

__all__ = [
    "AlreadyExists",
    "IdempotencyMismatch",
    "IdempotentReplay",
    "NotFound",
    "StoreError",
    "VersionConflict",
]


class StoreError(RampgateError):
    """The store refused a read or a write; nothing was changed."""


class NotFound(StoreError):
    """The resource does not exist (or no longer exists)."""

    def __init__(self, resource: str) -> None:
        self.resource = resource
        super().__init__(f"{resource} does not exist")


class AlreadyExists(StoreError):
    """A create named a key that is already taken."""

    def __init__(self, resource: str) -> None:
        self.resource = resource
        super().__init__(f"{resource} already exists")


class VersionConflict(StoreError):
    """A write expected one version and found another: re-read, re-apply, retry.

    ``current`` is the version now stored, so the caller can send it back as ``If-Match``
    after looking at what changed.
    """

    def __init__(self, resource: str, *, expected: int, current: int) -> None:
        self.resource = resource
        self.expected = expected
        self.current = current
        super().__init__(
            f"{resource} is at version {current}, not {expected}: "
            "read it again and retry with the current version"
        )


class IdempotencyMismatch(StoreError):
    """The idempotency key was already used for a different request body."""

    def __init__(self, key: str, scope: str) -> None:
        self.key = key
        self.scope = scope
        super().__init__(
            f"idempotency key {key!r} was already used for a different request to {scope}: "
            "use a new key for a new request"
        )


class IdempotentReplay(StoreError):
    """Another request with the same key and body completed first; send its response.

    Raised by :func:`rampgate.store.idempotency.remember` when it finds the key already
    completed. The caller must roll back its own transaction (its change must not stand) and
    answer with ``stored``.
    """

    def __init__(self, key: str, scope: str, stored: StoredResponse) -> None:
        self.key = key
        self.scope = scope
        self.stored = stored
        super().__init__(f"idempotency key {key!r} for {scope} was completed by another request")
