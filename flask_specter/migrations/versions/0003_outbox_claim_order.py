"""The outbox claim walks the waiting rows in order: an index on (state, id).

Revision ID: specter_0003
Revises: specter_0002
Create Date: 2026-11-28

A drain claims the oldest due rows a few at a time. Without this index each claim sorted every waiting
row (milliseconds per claim with a few thousand waiting, and more as a backlog grows); with it the
claim reads the waiting rows in id order and stops at the batch.
"""

from alembic import op

revision = "specter_0003"
down_revision = "specter_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_specter_outbox_state_id", "specter_outbox", ["state", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_specter_outbox_state_id", table_name="specter_outbox")
