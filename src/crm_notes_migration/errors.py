"""Errors whose message is the one line a user needs (SPEC §8): what is wrong and the
variable or flag that fixes it. Adapters and use cases raise them; the CLI prints the
message alone (commands/errors.py) with exit code 2."""

from __future__ import annotations

import re


class FixableError(Exception):
    """An error a user can fix; its message names what is wrong and what to change."""


_PASSWORD = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^:/@]*):[^@/]*@", re.IGNORECASE)


def masked(url: str) -> str:
    """The URL with its password, if any, replaced by `***` (for messages)."""
    return _PASSWORD.sub(lambda m: f"{m['scheme']}{m['user']}:***@", url)
