"""SPEC §6: legacy wall-clock times to UTC, and the millisecond precision MongoDB keeps."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

#: Anomaly codes of the time rules.
DST_AMBIGUOUS = "dst_ambiguous"
DST_NONEXISTENT = "dst_nonexistent"
UPDATED_BEFORE_CREATED = "updated_before_created"


def legacy_time_to_utc(naive: datetime, tz: ZoneInfo) -> tuple[datetime, str | None]:
    """A naive legacy wall-clock time in `tz` → (aware UTC datetime, anomaly or None).

    A wall time that occurs twice (DST fall-back) or never (spring-forward gap) resolves
    with `fold=0` (the offset in force before the transition) and is reported as
    `dst_ambiguous` or `dst_nonexistent`. Microseconds are kept; see `to_storage_time`.
    """
    if naive.tzinfo is not None:
        raise ValueError("legacy times are naive wall-clock times")
    first = naive.replace(tzinfo=tz, fold=0)
    second = naive.replace(tzinfo=tz, fold=1)
    anomaly = None
    if first.utcoffset() != second.utcoffset():
        as_utc = first.astimezone(UTC)
        round_trip = as_utc.astimezone(tz).replace(tzinfo=None)
        anomaly = DST_AMBIGUOUS if round_trip == naive else DST_NONEXISTENT
    return first.astimezone(UTC), anomaly


def to_utc(aware: datetime) -> datetime:
    """An aware datetime in UTC (`datetime.UTC`); a naive one is refused."""
    if aware.tzinfo is None or aware.utcoffset() is None:
        raise ValueError("a naive datetime cannot be stored; attach its time zone first")
    return aware if aware.tzinfo is UTC else aware.astimezone(UTC)


def to_storage_time(aware: datetime) -> datetime:
    """An aware datetime → aware UTC with microseconds truncated (not rounded) to milliseconds."""
    return truncate_to_ms(to_utc(aware))


def truncate_to_ms(utc: datetime) -> datetime:
    """`to_storage_time(utc)` for a datetime already in UTC (what `to_utc` returns)."""
    return utc.replace(microsecond=utc.microsecond - utc.microsecond % 1000)
