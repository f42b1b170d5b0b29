"""Each recipient's delivery receipt beside its send outcome: how far its message got
(queued, sent, delivered, read, or failed or undelivered after Twilio accepted it).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from shared.database.migrate import run_script

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Columns without defaults: added to the catalogue only, no table rewrite. They
    # are not indexed, so a receipt, like an outcome, is written beside its row.
    run_script(
        """
        ALTER TABLE recipients
            ADD COLUMN delivery_state       text,
            ADD COLUMN delivery_error_code  integer,
            ADD COLUMN delivery_at          timestamptz;
        """
    )


def downgrade() -> None:
    run_script(
        """
        ALTER TABLE recipients
            DROP COLUMN delivery_state,
            DROP COLUMN delivery_error_code,
            DROP COLUMN delivery_at;
        """
    )
