"""The audit log's tables

Revision ID: 0001
Revises:
Create Date: 2026-12-02 13:32:59.369399
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "elasticjobs_actions",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("queue", sa.String(length=80), nullable=True),
        sa.Column("job_id", sa.String(length=128), nullable=True),
        sa.Column("message_id", sa.String(length=128), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_elasticjobs_actions")),
    )
    with op.batch_alter_table("elasticjobs_actions", schema=None) as batch_op:
        batch_op.create_index("ix_elasticjobs_actions_at", ["at"], unique=False)

    op.create_table(
        "elasticjobs_attempts",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("job_id", sa.String(length=128), nullable=False),
        sa.Column("message_id", sa.String(length=128), nullable=True),
        sa.Column("receive_count", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("duration", sa.Float(), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("exception_class", sa.String(length=200), nullable=True),
        sa.Column("exception_message", sa.Text(), nullable=True),
        sa.Column("traceback", sa.Text(), nullable=True),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_elasticjobs_attempts")),
    )
    with op.batch_alter_table("elasticjobs_attempts", schema=None) as batch_op:
        batch_op.create_index("ix_elasticjobs_attempts_finished", ["finished_at"], unique=False)
        batch_op.create_index("ix_elasticjobs_attempts_job", ["job_id", "started_at"], unique=False)

    op.create_table(
        "elasticjobs_dead_letters",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("dead_letter_queue", sa.String(length=80), nullable=False),
        sa.Column("message_id", sa.String(length=128), nullable=False),
        sa.Column("source_queue", sa.String(length=80), nullable=True),
        sa.Column("job_id", sa.String(length=128), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("attributes", sa.JSON(), nullable=True),
        sa.Column("receive_count", sa.Integer(), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=True),
        sa.Column("action_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("action_by", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_elasticjobs_dead_letters")),
        sa.UniqueConstraint(
            "dead_letter_queue",
            "message_id",
            name=op.f("uq_elasticjobs_dead_letters_dead_letter_queue"),
        ),
    )
    with op.batch_alter_table("elasticjobs_dead_letters", schema=None) as batch_op:
        batch_op.create_index("ix_elasticjobs_dead_letters_job", ["job_id"], unique=False)

    op.create_table(
        "elasticjobs_jobs",
        sa.Column("job_id", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("queue", sa.String(length=80), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("arguments", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("enqueued_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("run_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("message_id", sa.String(length=128), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error_class", sa.String(length=200), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("job_id", name=op.f("pk_elasticjobs_jobs")),
    )
    with op.batch_alter_table("elasticjobs_jobs", schema=None) as batch_op:
        batch_op.create_index("ix_elasticjobs_jobs_created", ["created_at", "job_id"], unique=False)
        batch_op.create_index("ix_elasticjobs_jobs_finished", ["finished_at"], unique=False)
        batch_op.create_index("ix_elasticjobs_jobs_message_id", ["message_id"], unique=False)
        batch_op.create_index(
            "ix_elasticjobs_jobs_name_created", ["name", "created_at", "job_id"], unique=False
        )
        batch_op.create_index(
            "ix_elasticjobs_jobs_state_created", ["state", "created_at", "job_id"], unique=False
        )
        batch_op.create_index(
            "ix_elasticjobs_jobs_name_state_created",
            ["name", "state", "created_at", "job_id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_elasticjobs_jobs_error_created",
            ["last_error_class", "created_at", "job_id"],
            unique=False,
        )

    op.create_table(
        "elasticjobs_periodic_runs",
        sa.Column("task", sa.String(length=128), nullable=False),
        sa.Column("scheduled_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("job_id", sa.String(length=128), nullable=False),
        sa.Column("succeeded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("task", "scheduled_at", name=op.f("pk_elasticjobs_periodic_runs")),
    )
    with op.batch_alter_table("elasticjobs_periodic_runs", schema=None) as batch_op:
        batch_op.create_index(
            "ix_elasticjobs_periodic_runs_succeeded", ["succeeded_at"], unique=False
        )

    op.create_table(
        "elasticjobs_rollups",
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("queue", sa.String(length=80), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "hour", "name", "queue", "outcome", name=op.f("pk_elasticjobs_rollups")
        ),
    )


def downgrade() -> None:

    op.drop_table("elasticjobs_rollups")
    with op.batch_alter_table("elasticjobs_periodic_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_elasticjobs_periodic_runs_succeeded")

    op.drop_table("elasticjobs_periodic_runs")
    with op.batch_alter_table("elasticjobs_jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_elasticjobs_jobs_error_created")
        batch_op.drop_index("ix_elasticjobs_jobs_name_state_created")
        batch_op.drop_index("ix_elasticjobs_jobs_state_created")
        batch_op.drop_index("ix_elasticjobs_jobs_name_created")
        batch_op.drop_index("ix_elasticjobs_jobs_message_id")
        batch_op.drop_index("ix_elasticjobs_jobs_finished")
        batch_op.drop_index("ix_elasticjobs_jobs_created")

    op.drop_table("elasticjobs_jobs")
    with op.batch_alter_table("elasticjobs_dead_letters", schema=None) as batch_op:
        batch_op.drop_index("ix_elasticjobs_dead_letters_job")

    op.drop_table("elasticjobs_dead_letters")
    with op.batch_alter_table("elasticjobs_attempts", schema=None) as batch_op:
        batch_op.drop_index("ix_elasticjobs_attempts_job")
        batch_op.drop_index("ix_elasticjobs_attempts_finished")

    op.drop_table("elasticjobs_attempts")
    with op.batch_alter_table("elasticjobs_actions", schema=None) as batch_op:
        batch_op.drop_index("ix_elasticjobs_actions_at")

    op.drop_table("elasticjobs_actions")
