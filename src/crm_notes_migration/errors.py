"""Errors whose message is the one line a user needs (SPEC §8): what is wrong and the
variable or flag that fixes it. Adapters and use cases raise them; the CLI prints the
message alone (commands/errors.py) with exit code 2."""

from __future__ import annotations

import re


class FixableError(Exception):
    """An error a user can fix; its message names what is wrong and what to change."""


class UnknownCids(FixableError):
    """`--cid` names companies the migration knows nothing of."""

    def __init__(self, cids: list[int], where: str = "the CRM has no note of") -> None:
        shown = " ".join(f"--cid {c}" for c in cids[:10]) + (" …" if len(cids) > 10 else "")
        which = "this company" if len(cids) == 1 else "these companies"
        super().__init__(f"{shown}: {where} {which}; fix --cid, or CRM_DATABASE_URL if it is the wrong CRM")


_PASSWORD = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^:/@]*):[^@/]*@", re.IGNORECASE)


def masked(url: str) -> str:
    """The URL with its password, if any, replaced by `***` (for messages)."""
    return _PASSWORD.sub(lambda m: f"{m['scheme']}{m['user']}:***@", url)
