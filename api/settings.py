"""Settings of one API process, read from the environment by ``Settings.from_env``."""

from __future__ import annotations

import os
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field


class Settings(BaseModel):
    """Everything the app factory needs; defaults suit the embedded SQLite demo.

    Rate limits are per API key (a token bucket): ``rate_limit`` requests per minute on
    average, bursts up to ``rate_burst``. With ``rate_table`` (set by ``policy-match serve``
    for its worker processes) the buckets are shared by every worker of the server;
    without, they are per process.
    """

    model_config = ConfigDict(frozen=True)

    database_url: str | None = Field(None, description="None: POLICY_MATCH_DATABASE_URL or SQLite")
    rate_limit: int = Field(600, ge=1, description="requests per minute per key")
    rate_burst: int = Field(60, ge=1, description="bucket size: requests allowed at once")
    rate_table: str | None = Field(None, description="shared token table file (serve sets it)")
    key_cache_seconds: float = Field(5.0, ge=0, description="how long a checked key is trusted")
    refresh_seconds: float = Field(1.0, ge=0, description="how often the matcher looks for changes")
    overlay_limit: int = Field(5_000, ge=0, description="changed firms before a full rebuild")
    max_upload_bytes: int = Field(200 * 2**20, ge=1)
    timezone: str = Field("Asia/Shanghai", description="whose calendar gives the default as_of")
    title: str = "policy-match"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        names = {
            "database_url": "POLICY_MATCH_DATABASE_URL",
            "rate_limit": "POLICY_MATCH_RATE_LIMIT",
            "rate_burst": "POLICY_MATCH_RATE_BURST",
            "rate_table": "POLICY_MATCH_RATE_TABLE",
            "key_cache_seconds": "POLICY_MATCH_KEY_CACHE_SECONDS",
            "refresh_seconds": "POLICY_MATCH_REFRESH_SECONDS",
            "overlay_limit": "POLICY_MATCH_OVERLAY_LIMIT",
            "max_upload_bytes": "POLICY_MATCH_MAX_UPLOAD_BYTES",
            "timezone": "POLICY_MATCH_TIMEZONE",
        }
        values = {field: env[var] for field, var in names.items() if env.get(var)}
        return cls.model_validate(values)
