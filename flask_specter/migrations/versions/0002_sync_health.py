"""Sync health: hourly callback counts, when a pull was asked for, when an outbox row failed for good.

Revision ID: specter_0002
Revises: specter_0001
Create Date: 2026-12-04

What the status page's chart of the last seven days needs that the tables did not keep: Specter's calls
per hour (``specter_callback_counts``), the start of the lag from callback to applied row
(``specter_batches.requested_at``), the hour of a final outbox failure (``specter_outbox.failed_at``),
and indexes on the two times the chart buckets over the biggest tables.
"""

import sqlalchemy as sa
from alembic import op

revision = "specter_0002"
down_revision = "specter_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "specter_callback_counts",
        sa.Column("hour", sa.DateTime(), nullable=False),
        sa.Column("route", sa.String(length=32), nullable=False),
        sa.Column("accepted", sa.Integer(), nullable=False),
        sa.Column("refused", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("hour", "route"),
    )
    with op.batch_alter_table("specter_batches") as batch:
        batch.add_column(sa.Column("requested_at", sa.DateTime(), nullable=True))
    with op.batch_alter_table("specter_outbox") as batch:
        batch.add_column(sa.Column("failed_at", sa.DateTime(), nullable=True))
    op.create_index("ix_specter_outbox_sent_at", "specter_outbox", ["sent_at"], unique=False)
    op.create_index("ix_specter_stock_rows_applied_at", "specter_stock_rows", ["applied_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_specter_stock_rows_applied_at", table_name="specter_stock_rows")
    op.drop_index("ix_specter_outbox_sent_at", table_name="specter_outbox")
    with op.batch_alter_table("specter_outbox") as batch:
        batch.drop_column("failed_at")
    with op.batch_alter_table("specter_batches") as batch:
        batch.drop_column("requested_at")
    op.drop_table("specter_callback_counts")
