from pydantic import Field, PositiveInt

from shared.settings import Settings


class MetricsSettings(Settings):
    health_port: int = Field(default=8103, ge=0, le=65535)
    # Clean-up after a campaign ends, as the original queue did: its progress is
    # kept a day, its per-contact results (and its recipients in PostgreSQL, which
    # retry-failed reads) a week, and only the newest finished / failed job records.
    progress_ttl_s: PositiveInt = 24 * 3600
    results_ttl_s: PositiveInt = 7 * 24 * 3600
    # How often expired recipients are looked for and deleted, in bounded batches.
    recipients_purge_interval_s: PositiveInt = 60
    completed_jobs_kept: PositiveInt = 100
    failed_jobs_kept: PositiveInt = 50
