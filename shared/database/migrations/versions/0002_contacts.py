"""Each user's contacts: one per phone per owner, in the order they were first added.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from shared.database.migrate import run_script

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_script(
        """
        CREATE TABLE contacts (
            owner_id    text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            id          text NOT NULL,
            phone       text NOT NULL,
            name        text,
            vars        jsonb NOT NULL DEFAULT '{}',
            -- First-added order: pages list contacts in it.
            position    bigint GENERATED ALWAYS AS IDENTITY,
            created_at  timestamptz NOT NULL DEFAULT now(),
            updated_at  timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (owner_id, id),
            UNIQUE (owner_id, phone)
        );
        CREATE INDEX contacts_in_order ON contacts (owner_id, position);
        """
    )


def downgrade() -> None:
    run_script("DROP TABLE contacts;")
