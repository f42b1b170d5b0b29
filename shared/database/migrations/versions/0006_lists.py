"""Lists of contacts: audiences a marketer saves, fills (by hand or by CSV import) and
sends campaigns to.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from shared.database.migrate import run_script

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_script(
        """
        CREATE TABLE lists (
            owner_id    text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            id          text NOT NULL,
            name        text NOT NULL,
            created_at  timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (owner_id, id),
            UNIQUE (owner_id, name)
        );

        CREATE TABLE list_members (
            owner_id    text NOT NULL,
            list_id     text NOT NULL,
            contact_id  text NOT NULL,
            -- Order of joining: a campaign from the list sends in it, pages list in it.
            position    bigint GENERATED ALWAYS AS IDENTITY,
            added_at    timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (owner_id, list_id, contact_id),
            FOREIGN KEY (owner_id, list_id) REFERENCES lists (owner_id, id) ON DELETE CASCADE,
            -- A deleted contact leaves every list it was on.
            FOREIGN KEY (owner_id, contact_id) REFERENCES contacts (owner_id, id)
                ON DELETE CASCADE
        );
        CREATE INDEX list_members_in_order ON list_members (owner_id, list_id, position);
        CREATE INDEX list_members_by_contact ON list_members (owner_id, contact_id);
        """
    )


def downgrade() -> None:
    run_script("DROP TABLE list_members; DROP TABLE lists;")
