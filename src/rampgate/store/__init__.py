"""Durable state: SQLAlchemy Core tables, repositories, migrations, audit chain, idempotency.

Imports ``domain``, ``config`` and ``errors`` only. Repositories are plain functions taking a
``Connection``; the caller owns the transaction, so a change, its receipt, its audit entry and
its idempotency record commit together or not at all::

    from rampgate import store

    engine = store.create_engine(url)          # sqlite:///rampgate.db or postgresql://…
    store.upgrade(engine)                      # alembic upgrade head, from code
    with store.write(engine) as conn:          # BEGIN IMMEDIATE on SQLite
        receipt = store.update_flag(conn, "prod", flag, expected_version=3, actor="alice")
    with store.read(engine) as conn:           # one consistent snapshot, never blocks writers
        snapshot = store.load_ruleset(conn, "prod")

See ``docs/storage.md`` for the tables and the guarantees.
"""

from .audit import AuditEntry, VerifyResult, list_audit, lock_writes, verify
from .db import DEFAULT_URL, create_engine, normalise_url, read, write
from .environments import (
    RULESET_CHANNEL,
    EnvironmentRecord,
    create_environment,
    get_environment,
    list_environments,
    ruleset_version,
)
from .errors import (
    AlreadyExists,
    IdempotencyMismatch,
    IdempotentReplay,
    NotFound,
    StoreError,
    VersionConflict,
)
from .events import IngestResult, count_events, insert_events
from .flag_changes import create_flag, delete_flag, kill_flag, unkill_flag, update_flag
from .flags import (
    FlagRecord,
    FlagVersion,
    RulesetSnapshot,
    flag_history,
    get_flag,
    get_flag_version,
    list_flags,
    load_ruleset,
)
from .idempotency import (
    StoredResponse,
    claim,
    lookup,
    purge_idempotency,
    remember,
    request_fingerprint,
)
from .migrate import upgrade
from .receipts import Receipt, get_receipt, list_receipts, record_change
from .tokens import (
    Token,
    TokenKind,
    authenticate,
    bootstrap_admin,
    create_token,
    get_token,
    has_admin,
    list_tokens,
    revoke_token,
)

__all__ = [
    "DEFAULT_URL",
    "RULESET_CHANNEL",
    "AlreadyExists",
    "AuditEntry",
    "EnvironmentRecord",
    "FlagRecord",
    "FlagVersion",
    "IdempotencyMismatch",
    "IdempotentReplay",
    "IngestResult",
    "NotFound",
    "Receipt",
    "RulesetSnapshot",
    "StoreError",
    "StoredResponse",
    "Token",
    "TokenKind",
    "VerifyResult",
    "VersionConflict",
    "authenticate",
    "bootstrap_admin",
    "claim",
    "count_events",
    "create_engine",
    "create_environment",
    "create_flag",
    "create_token",
    "delete_flag",
    "flag_history",
    "get_environment",
    "get_flag",
    "get_flag_version",
    "get_receipt",
    "get_token",
    "has_admin",
    "insert_events",
    "kill_flag",
    "list_audit",
    "list_environments",
    "list_flags",
    "list_receipts",
    "list_tokens",
    "load_ruleset",
    "lock_writes",
    "lookup",
    "normalise_url",
    "purge_idempotency",
    "read",
    "record_change",
    "remember",
    "request_fingerprint",
    "revoke_token",
    "ruleset_version",
    "unkill_flag",
    "update_flag",
    "upgrade",
    "verify",
    "write",
]
