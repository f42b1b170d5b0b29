"""Sandbox configuration from SANDBOX_* environment variables."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.settings import SANDBOX_ACCOUNT_SID, SANDBOX_AUTH_TOKEN

ENV_PREFIX = "SANDBOX_"


class SandboxSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=8090, ge=0, le=65535)
    account_sid: str = Field(default=SANDBOX_ACCOUNT_SID, pattern=r"^AC[0-9a-f]{32}$")
    auth_token: str = Field(default=SANDBOX_AUTH_TOKEN, min_length=1)
    mps: int = Field(default=10, ge=1)
    latency_ms: int = Field(default=0, ge=0)
    latency_jitter_ms: int = Field(default=0, ge=0)
    error_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    force_429_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    accepted_error_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    callback_delay_ms: int = Field(default=50, ge=0)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
