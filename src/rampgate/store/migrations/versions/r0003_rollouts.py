"""Rollouts, their operator commands, evidence snapshots, offline-eval results, alerts and
experiments.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21

``snapshots`` is append-only like the audit log: a decision cites its snapshot, and evidence
that could change after the fact would prove nothing.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _ts(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _key(name: str, *args: object, **kwargs: object) -> sa.Column[object]:
    return sa.Column(name, sa.String(128), *args, **kwargs)  # type: ignore[arg-type]


def _json(name: str) -> sa.Column[object]:
    return sa.Column(name, sa.JSON(), nullable=False)


def _env_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["environment"], ["environments.key"], name=f"fk_{table}_environment_environments"
    )


def upgrade() -> None:
    op.create_table(
        "rollouts",
        sa.Column("id", sa.String(144), nullable=False),
        _key("environment", nullable=False),
        _key("name", nullable=False),
        sa.Column("run", sa.Integer(), nullable=False),
        _key("flag", nullable=False),
        _json("plan"),
        _json("state"),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(256), nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
        _env_fk("rollouts"),
        sa.PrimaryKeyConstraint("id", name="pk_rollouts"),
        sa.UniqueConstraint("environment", "name", "run", name="uq_rollouts_environment_name_run"),
    )
    op.create_index("ix_rollouts_active", "rollouts", ["active", "environment"])
    op.create_table(
        "rollout_commands",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("rollout_id", sa.String(144), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(256), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("step", sa.Integer(), nullable=True),
        sa.Column("mode", sa.String(16), nullable=True),
        sa.Column("change_id", sa.String(36), nullable=False),
        _ts("created_at"),
        sa.Column("consumed_revision", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["rollout_id"], ["rollouts.id"], name="fk_rollout_commands_rollout_id_rollouts"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_rollout_commands"),
    )
    op.create_index(
        "ix_rollout_commands_pending", "rollout_commands", ["rollout_id", "consumed_revision"]
    )
    op.create_table(
        "snapshots",
        sa.Column("id", sa.String(512), nullable=False),
        sa.Column("subject", sa.String(144), nullable=False),
        _json("document"),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_snapshots"),
    )
    op.create_index("ix_snapshots_subject", "snapshots", ["subject"])
    op.create_table(
        "eval_results",
        sa.Column("id", sa.String(64), nullable=False),
        _key("environment", nullable=False),
        _key("flag", nullable=False),
        _key("variant", nullable=False),
        sa.Column("suite", sa.String(256), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(256), nullable=False),
        _ts("created_at"),
        _env_fk("eval_results"),
        sa.PrimaryKeyConstraint("id", name="pk_eval_results"),
    )
    op.create_index(
        "ix_eval_results_flag", "eval_results", ["environment", "flag", "variant", "suite"]
    )
    op.create_table(
        "alerts",
        sa.Column("id", sa.String(512), nullable=False),
        sa.Column("subject", sa.String(144), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_alerts"),
    )
    op.create_index("ix_alerts_subject", "alerts", ["subject"])
    op.create_table(
        "experiments",
        _key("environment", nullable=False),
        _key("name", nullable=False),
        _key("flag", nullable=False),
        _json("contract"),
        _json("state"),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(256), nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
        _env_fk("experiments"),
        sa.PrimaryKeyConstraint("environment", "name", name="pk_experiments"),
    )
    _append_only("snapshots")


def _append_only(table: str) -> None:
    # The function rampgate_append_only() was created by migration 0001 on PostgreSQL.
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION rampgate_append_only()"
        )
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
            )


def downgrade() -> None:
    for table in (
        "experiments",
        "alerts",
        "eval_results",
        "snapshots",
        "rollout_commands",
        "rollouts",
    ):
        op.drop_table(table)
