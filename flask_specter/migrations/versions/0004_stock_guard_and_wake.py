"""Unexplained stock changes are recorded, not refused; an order changed mid-send is due again at once.

Revision ID: specter_0004_guard
Revises: specter_0003
Create Date: 2026-12-07

The stock guard no longer raises into the host's commit: a stock change on a Specter-managed product
that no order of its transaction explains is kept in ``specter_stock_unexplained`` and shown on the
status page. ``specter_outbox.woken_at`` marks an order's row whose order or lines changed while it was
being sent, so a "not ready" answer read before the change does not hold the order back for a minute.
"""

import sqlalchemy as sa
from alembic import op

revision = "specter_0004_guard"
down_revision = "specter_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "specter_stock_unexplained",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sku", sa.String(length=50), nullable=False),
        sa.Column("old", sa.Integer(), nullable=True),
        sa.Column("new", sa.Integer(), nullable=True),
        sa.Column("unexplained", sa.Integer(), nullable=False),
        sa.Column("detail", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_specter_stock_unexplained_sku", "specter_stock_unexplained", ["sku"], unique=False)
    with op.batch_alter_table("specter_outbox") as batch:
        batch.add_column(sa.Column("woken_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("specter_outbox") as batch:
        batch.drop_column("woken_at")
    op.drop_index("ix_specter_stock_unexplained_sku", table_name="specter_stock_unexplained")
    op.drop_table("specter_stock_unexplained")
