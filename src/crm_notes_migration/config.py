"""Settings from the environment (and a `.env` file), exactly as SPEC §8 names them.

Nothing here connects to anything or starts anything: `Settings()` only reads values.
"""

from __future__ import annotations

from functools import cached_property

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_CRM_DATABASE_URL = "postgresql://postgres:postgres@127.0.0.1:5432/crm"
DEFAULT_CDP_MONGODB_URI = "mongodb://127.0.0.1:27017/"
DEFAULT_CDP_MONGODB_DB = "cdp"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_MIGRATION_API_URL = "http://127.0.0.1:8080"
DEFAULT_CRM_TIMEZONE = "UTC"
#: Most notes one batch may carry (SPEC §4); more is a 413.
DEFAULT_MAX_BATCH_NOTES = 1000
#: Largest sanitised note content in bytes (SPEC §3 `content_too_large`).
DEFAULT_MAX_NOTE_HTML_BYTES = 1024 * 1024
#: Largest request body the migrate endpoint reads, in bytes; more is a 413.
DEFAULT_MAX_BATCH_BODY_BYTES = 64 * 1024 * 1024
#: Queued notes above which the migrate endpoint answers 429 with Retry-After.
DEFAULT_QUEUE_HIGH_WATER_NOTES = 200_000
#: Seconds `run` and `reconcile` keep retrying an API that does not answer (restarting,
#: briefly away) before they give up naming MIGRATION_API_URL (SPEC §6a).
DEFAULT_MIGRATION_API_WAIT_S = 300.0
#: Seconds `run` keeps reconnecting to a CRM database whose connection dropped, and
#: resuming where it was, before it gives up naming CRM_DATABASE_URL (SPEC §6a).
DEFAULT_CRM_DATABASE_WAIT_S = 300.0
#: Seconds a worker keeps retrying a batch that fails because the CDP store or Redis is
#: away or restarting, with backoff, before the job fails for good (SPEC §6a).
DEFAULT_JOB_RETRY_WAIT_S = 1200.0


class Settings(BaseSettings):
    """Configuration of every entry point. Field names map to SPEC §8's variables."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    crm_database_url: str = DEFAULT_CRM_DATABASE_URL
    cdp_mongodb_uri: str = DEFAULT_CDP_MONGODB_URI
    cdp_mongodb_db: str = DEFAULT_CDP_MONGODB_DB
    redis_url: str = DEFAULT_REDIS_URL
    migration_api_url: str = DEFAULT_MIGRATION_API_URL
    migration_api_token: str | None = None
    crm_timezone: str = DEFAULT_CRM_TIMEZONE
    max_batch_notes: int = Field(default=DEFAULT_MAX_BATCH_NOTES, gt=0)
    max_note_html_bytes: int = Field(default=DEFAULT_MAX_NOTE_HTML_BYTES, gt=0)
    attachment_url_rewrite: str | None = None
    #: Not in SPEC §8; extra knobs with safe defaults.
    max_batch_body_bytes: int = Field(default=DEFAULT_MAX_BATCH_BODY_BYTES, gt=0)
    queue_high_water_notes: int = Field(default=DEFAULT_QUEUE_HIGH_WATER_NOTES, gt=0)
    #: Namespace of the job queue's Redis keys, so several deployments can share one Redis.
    queue_namespace: str = "crm-notes-migration"
    #: Wait budgets for transient outages (SPEC §6a).
    migration_api_wait_s: float = Field(default=DEFAULT_MIGRATION_API_WAIT_S, gt=0)
    crm_database_wait_s: float = Field(default=DEFAULT_CRM_DATABASE_WAIT_S, gt=0)
    job_retry_wait_s: float = Field(default=DEFAULT_JOB_RETRY_WAIT_S, gt=0)

    @field_validator("crm_timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"CRM_TIMEZONE {value!r} is not an IANA time zone name") from exc
        return value

    @field_validator("attachment_url_rewrite")
    @classmethod
    def _rewrite_form(cls, value: str | None) -> str | None:
        if value and "=>" not in value:
            raise ValueError("ATTACHMENT_URL_REWRITE must look like 'old-prefix=>new-prefix'")
        return value or None

    @cached_property
    def url_rewrite(self) -> tuple[str, str] | None:
        """`ATTACHMENT_URL_REWRITE` split into (old prefix, new prefix), or None."""
        if not self.attachment_url_rewrite:
            return None
        old, new = self.attachment_url_rewrite.split("=>", 1)
        return old.strip(), new.strip()
