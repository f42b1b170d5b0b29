import tempfile
from pathlib import Path

from pydantic import Field, PositiveInt

from shared.settings import Settings


class DispatcherSettings(Settings):
    health_port: int = Field(default=8101, ge=0, le=65535)
    # faust keeps table state here; the changelog topics in Kafka are the truth.
    dispatcher_data_dir: Path = Path(tempfile.gettempdir()) / "campaign-queue-dispatcher"
    # Commands per message.commands record: a batch of BATCH_SIZE is cut into records
    # this small so that every sender replica gets a share of it.
    commands_per_record: PositiveInt = 50
    schedule_poll_interval_s: float = Field(default=0.2, gt=0, le=1)
    # How often credits are counted: the longest a campaign waits for its next batch
    # once results have freed a place.
    expansion_poll_interval_s: float = Field(default=0.1, gt=0, le=1)
    # How long the consumer group waits for a silent dispatcher before giving its
    # partitions to another (the broker accepts 6 s and more by default).
    dispatcher_session_timeout_s: float = Field(default=10, ge=6, le=300)
