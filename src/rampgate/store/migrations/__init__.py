"""Alembic migrations of the store (run them with :func:`rampgate.store.migrate.upgrade`)."""
