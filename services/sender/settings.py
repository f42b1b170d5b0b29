from pydantic import Field

from shared.settings import Settings


class SenderSettings(Settings):
    health_port: int = Field(default=8102, ge=0, le=65535)
