"""Campaign definitions, their owner and status, and every change of status.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from shared.database.migrate import run_script

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_script(
        """
        CREATE TABLE campaigns (
            id                     text PRIMARY KEY,
            -- No reference to users: a campaign published to Kafka by another service
            -- names an owner this database may not know.
            owner_id               text,
            name                   text,
            status                 text NOT NULL CHECK (status IN (
                'draft', 'scheduled', 'queued', 'sending', 'throttled', 'paused',
                'stopped', 'completed', 'failed')),
            -- One more at every change of status: the Redis copy of the status that
            -- the sender reads is only ever replaced by a newer one.
            status_version         integer NOT NULL DEFAULT 1,
            priority               text NOT NULL DEFAULT 'normal',
            content                jsonb NOT NULL,
            from_number            text,
            messaging_service_sid  text,
            send_window            jsonb,
            total                  integer NOT NULL DEFAULT 0,
            job_id                 text,
            created_at             timestamptz,
            scheduled_at           timestamptz,
            expires_at             timestamptz,
            started_at             timestamptz,
            finished_at            timestamptz,
            -- While the sender's messaging tier is used up: when it has room (epoch ms).
            throttled_until_ms     bigint,
            failure_reason         text,
            retry_runs             integer NOT NULL DEFAULT 0,
            -- Started or scheduled, and may still have work: readers clear it once
            -- they see the campaign over.
            active                 boolean NOT NULL DEFAULT false,
            -- When the schedule poller is to publish its start; cleared once published,
            -- so a crash between the move to queued and the publish is published again.
            start_due_at           timestamptz
        );
        CREATE INDEX campaigns_by_owner ON campaigns (owner_id, created_at DESC, id);
        CREATE INDEX campaigns_active ON campaigns (id) WHERE active;
        CREATE INDEX campaigns_start_due ON campaigns (start_due_at)
            WHERE start_due_at IS NOT NULL;

        CREATE TABLE campaign_status_history (
            campaign_id  text NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
            version      integer NOT NULL,
            status       text NOT NULL,
            -- The status it left; none for the first.
            previous     text,
            at           timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (campaign_id, version)
        );
        """
    )


def downgrade() -> None:
    run_script("DROP TABLE campaign_status_history; DROP TABLE campaigns;")
