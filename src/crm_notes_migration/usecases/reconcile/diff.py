"""The id diff: a merge of ascending streams keyed by legacy note id.

Reconcile never holds the ids of a whole migration: each cid is a handful of cursors
(source notes, `contact_notes`, parked records), all ascending by `legacy_crm_note_id`,
walked together one key at a time. Memory is the heads of the streams plus whatever the
caller keeps (capped id lists, the sample), whatever the number of notes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

T = TypeVar("T")

_END = object()


class StreamOrderError(ValueError):
    """A stream that should ascend by key went backwards: the merge would be wrong."""


class _Cursor(Generic[T]):
    """One stream with its head, checking that keys never decrease."""

    def __init__(self, name: str, items: Iterable[T], key: Callable[[T], int]) -> None:
        self.name = name
        self._items = iter(items)
        self._key = key
        self.head: Any = _END
        self.head_key: int | None = None
        self._advance()

    def _advance(self) -> None:
        previous = self.head_key
        self.head = next(self._items, _END)
        if self.head is _END:
            self.head_key = None
            return
        self.head_key = int(self._key(self.head))
        if previous is not None and self.head_key < previous:
            raise StreamOrderError(f"stream {self.name!r} is not ascending: {self.head_key} after {previous}")

    def take(self, key: int) -> list[T]:
        """Every item at the head with this key (normally one; more is a duplicate)."""
        taken: list[T] = []
        while self.head is not _END and self.head_key == key:
            taken.append(self.head)
            self._advance()
        return taken


@dataclass(frozen=True, slots=True)
class Merged:
    """All items of one key, one list per stream (in the order the streams were given)."""

    key: int
    items: tuple[list[Any], ...]


def merge_sorted(streams: dict[str, tuple[Iterable[Any], Callable[[Any], int]]]) -> Iterator[Merged]:
    """Walk ascending streams together; yields each key once with its items per stream.

    `streams` maps a name to (iterable, key function). Raises StreamOrderError when a
    stream goes backwards, so an unsorted input can never pass as "nothing missing".
    """
    cursors = [_Cursor(name, items, key) for name, (items, key) in streams.items()]
    while True:
        keys = [c.head_key for c in cursors if c.head_key is not None]
        if not keys:
            return
        key = min(keys)
        yield Merged(key, tuple(c.take(key) for c in cursors))


@dataclass(slots=True)
class CappedIds:
    """A count and the first `cap` ids of one kind of finding (output stays bounded)."""

    cap: int = 50
    count: int = 0
    ids: list[int] = field(default_factory=list)

    def add(self, note_id: int) -> None:
        self.count += 1
        if len(self.ids) < self.cap:
            self.ids.append(note_id)

    def as_dict(self) -> dict[str, Any]:
        return {"count": self.count, "ids": list(self.ids), "truncated": self.count > len(self.ids)}
