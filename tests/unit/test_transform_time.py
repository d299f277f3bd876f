"""SPEC §6: legacy wall clock → UTC, DST, millisecond truncation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm_notes_migration.transform import legacy_time_to_utc, to_storage_time

JAKARTA = ZoneInfo("Asia/Jakarta")
NEW_YORK = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")


def test_plain_wall_clock_converts_with_the_zone_offset():
    got, anomaly = legacy_time_to_utc(datetime(2021, 3, 4, 12, 6, 7, 123456), JAKARTA)
    assert got == datetime(2021, 3, 4, 5, 6, 7, 123456, tzinfo=UTC)
    assert got.utcoffset() == timedelta(0)
    assert anomaly is None


def test_utc_zone_is_identity():
    assert legacy_time_to_utc(datetime(2020, 1, 1), ZoneInfo("UTC")) == (datetime(2020, 1, 1, tzinfo=UTC), None)


def test_ambiguous_fall_back_time_resolves_fold_0_and_is_reported():
    # 2021-11-07 01:30 happens twice in New York: first in EDT (-4), then in EST (-5).
    got, anomaly = legacy_time_to_utc(datetime(2021, 11, 7, 1, 30), NEW_YORK)
    assert got == datetime(2021, 11, 7, 5, 30, tzinfo=UTC)
    assert anomaly == "dst_ambiguous"


def test_missing_spring_forward_time_resolves_fold_0_and_is_reported():
    # 2021-03-28 02:30 does not exist in Berlin; fold=0 uses the offset before the gap (+1).
    got, anomaly = legacy_time_to_utc(datetime(2021, 3, 28, 2, 30), BERLIN)
    assert got == datetime(2021, 3, 28, 1, 30, tzinfo=UTC)
    assert anomaly == "dst_nonexistent"


def test_aware_input_is_refused():
    with pytest.raises(ValueError):
        legacy_time_to_utc(datetime(2021, 1, 1, tzinfo=UTC), BERLIN)


def test_storage_time_truncates_microseconds_to_milliseconds():
    value = datetime(2021, 3, 4, 5, 6, 7, 123999, tzinfo=timezone(timedelta(hours=7)))
    assert to_storage_time(value) == datetime(2021, 3, 3, 22, 6, 7, 123000, tzinfo=UTC)
    assert to_storage_time(value).tzinfo == UTC


def test_storage_time_refuses_naive():
    with pytest.raises(ValueError):
        to_storage_time(datetime(2021, 1, 1))


NAIVE = st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2037, 12, 31))
ZONES = st.sampled_from([JAKARTA, NEW_YORK, BERLIN, ZoneInfo("Australia/Lord_Howe"), ZoneInfo("UTC")])


@given(NAIVE, ZONES)
def test_conversion_is_exact(naive, tz):
    got, anomaly = legacy_time_to_utc(naive, tz)
    assert got.tzinfo == UTC and got.microsecond == naive.microsecond
    back = got.astimezone(tz).replace(tzinfo=None)
    if anomaly == "dst_nonexistent":
        assert back != naive
    else:
        assert back == naive
        assert got == naive.replace(tzinfo=tz, fold=0)


@given(st.datetimes(timezones=st.sampled_from([UTC, JAKARTA, NEW_YORK, timezone(timedelta(hours=-3, minutes=-30))])))
def test_storage_time_is_exact_truncation(aware):
    stored = to_storage_time(aware)
    assert stored.tzinfo == UTC
    assert stored.microsecond % 1000 == 0
    assert timedelta(0) <= aware - stored < timedelta(milliseconds=1)
    assert to_storage_time(stored) == stored
