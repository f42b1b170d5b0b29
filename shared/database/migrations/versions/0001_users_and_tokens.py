"""Users and their bearer tokens (only a token's SHA-256 is kept).

Revision ID: 0001
Revises:
Create Date: 2026-11-30
"""

from shared.database.migrate import run_script

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_script(
        """
        CREATE TABLE users (
            id          text PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 200),
            created_at  timestamptz NOT NULL DEFAULT now()
        );

        -- A token is known by its digest; its id (the digest's first 12 hex digits) is
        -- what lists show and what revokes it, useless to authenticate with.
        CREATE TABLE api_tokens (
            digest      text PRIMARY KEY CHECK (digest ~ '^[0-9a-f]{64}$'),
            token_id    text GENERATED ALWAYS AS (left(digest, 12)) STORED UNIQUE,
            user_id     text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            role        text NOT NULL CHECK (role IN ('marketer', 'admin')),
            created_at  timestamptz NOT NULL DEFAULT now(),
            expires_at  timestamptz
        );
        CREATE INDEX api_tokens_by_user ON api_tokens (user_id);
        """
    )


def downgrade() -> None:
    run_script(
        """
        DROP TABLE api_tokens;
        DROP TABLE users;
        """
    )
