"""The store's front door changes only on purpose: the server and CLI are wired to these names."""

from __future__ import annotations

import rampgate.store
from rampgate.errors import RampgateError

EXPECTED = {
    # engines, transactions, migrations
    "DEFAULT_URL", "create_engine", "normalise_url", "read", "write", "upgrade",
    # errors
    "StoreError", "NotFound", "AlreadyExists", "VersionConflict", "IdempotencyMismatch",
    "IdempotentReplay",
    # environments and the ruleset version
    "RULESET_CHANNEL", "EnvironmentRecord", "create_environment", "get_environment",
    "list_environments", "ruleset_version",
    # flags
    "FlagRecord", "FlagVersion", "RulesetSnapshot", "create_flag", "update_flag", "delete_flag",
    "kill_flag", "unkill_flag", "get_flag", "list_flags", "flag_history", "get_flag_version",
    "load_ruleset",
    # receipts and audit
    "Receipt", "record_change", "get_receipt", "list_receipts", "AuditEntry", "VerifyResult",
    "list_audit", "lock_writes", "verify",
    # idempotency
    "StoredResponse", "claim", "lookup", "remember", "purge_idempotency", "request_fingerprint",
    # tokens
    "Token", "TokenKind", "authenticate", "bootstrap_admin", "create_token", "get_token",
    "has_admin", "list_tokens", "revoke_token",
    # events
    "IngestResult", "insert_events", "count_events",
}  # fmt: skip


def test_all_is_pinned_and_importable() -> None:
    assert set(rampgate.store.__all__) == EXPECTED
    assert len(rampgate.store.__all__) == len(EXPECTED)
    for name in rampgate.store.__all__:
        assert getattr(rampgate.store, name) is not None


def test_store_errors_derive_from_the_root() -> None:
    for name in rampgate.store.__all__:
        obj = getattr(rampgate.store, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, rampgate.store.StoreError), name
            assert issubclass(obj, RampgateError), name
