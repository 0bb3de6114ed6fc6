"""Durable state: SQLAlchemy Core tables, repositories, migrations, audit chain, idempotency.

Imports ``domain`` (and ``config``) only.
"""
