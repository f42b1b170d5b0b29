from pydantic import Field

from shared.settings import Settings


class MetricsSettings(Settings):
    health_port: int = Field(default=8103, ge=0, le=65535)
