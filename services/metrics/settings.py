from pydantic import Field, PositiveInt

from shared.settings import Settings


class MetricsSettings(Settings):
    health_port: int = Field(default=8103, ge=0, le=65535)
    # Clean-up after a campaign ends, as the original queue did: its progress is
    # kept a day, its per-contact results (and the audience retry-failed reads) a week,
    # and only the newest finished / failed job records.
    progress_ttl_s: PositiveInt = 24 * 3600
    results_ttl_s: PositiveInt = 7 * 24 * 3600
    completed_jobs_kept: PositiveInt = 100
    failed_jobs_kept: PositiveInt = 50
