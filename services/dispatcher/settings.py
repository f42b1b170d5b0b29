import tempfile
from pathlib import Path

from pydantic import Field

from shared.settings import Settings


class DispatcherSettings(Settings):
    health_port: int = Field(default=8101, ge=0, le=65535)
    # faust keeps table state here; the changelog topics in Kafka are the truth.
    dispatcher_data_dir: Path = Path(tempfile.gettempdir()) / "campaign-queue-dispatcher"
