"""Opt-outs per Twilio account, and the trail of every change to them.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from shared.database.migrate import run_script

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_script(
        """
        CREATE TABLE suppressions (
            account_sid  text NOT NULL,
            -- E.164, without whatsapp: (an opt-out covers the person on every channel).
            phone        text NOT NULL,
            reason       text NOT NULL,
            added_at     timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (account_sid, phone)
        );
        CREATE INDEX suppressions_newest ON suppressions (account_sid, added_at DESC, phone);

        CREATE TABLE suppression_audit (
            id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            account_sid  text NOT NULL,
            at           timestamptz NOT NULL DEFAULT now(),
            action       text NOT NULL CHECK (action IN ('added', 'removed')),
            phone        text NOT NULL,
            -- The suppression's reason; for a removal, the one it had.
            reason       text NOT NULL,
            -- A user id, "recipient" (STOP and START replies) or "twilio" (its errors).
            actor        text NOT NULL
        );
        CREATE INDEX suppression_audit_newest ON suppression_audit (account_sid, id DESC);
        """
    )


def downgrade() -> None:
    run_script("DROP TABLE suppression_audit; DROP TABLE suppressions;")
