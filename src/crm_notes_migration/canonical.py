"""The canonical JSON of a value: the bytes batch ids (extractor) and batch body hashes
(API) are computed over. One definition, so both sides agree on what "the same body" is."""

from __future__ import annotations

import json
from typing import Any

import orjson


def _may_hold_float(value: Any) -> bool:
    """Whether `value` may hold a float (or anything but dicts, lists, str, int, bool, None)."""
    kind = type(value)
    if kind is dict:
        return any(_may_hold_float(item) for item in value.values())
    if kind is list:
        return any(_may_hold_float(item) for item in value)
    return not (kind is str or kind is int or kind is bool or value is None)


def canonical_json(payload: Any) -> bytes:
    """`json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)` in
    UTF-8. Written by orjson (several times faster) when that gives the same bytes: for
    dicts with str keys, lists, str, int, bool and None. Floats are left to the standard
    encoder (orjson writes `1e-07` as `1e-7` and NaN as null), and so is what orjson
    refuses: an integer over 64 bits, a lone surrogate, nesting over 254 levels."""
    try:
        plain = not _may_hold_float(payload)
    except RecursionError:
        plain = False
    if plain:
        try:
            return orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)
        except TypeError:
            pass
    # surrogatepass: a lone surrogate (which the API rejects, note by note) still hashes
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8", "surrogatepass"
    )
